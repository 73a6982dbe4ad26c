//! Robot permissions in Harbor's shape, `[{kind, namespace, access: [{resource, action,
//! effect}]}]`, and the grants they stand for in the permission table.

use serde::{Deserialize, Serialize};

use super::permissions::{Operation, Resource, MATRIX};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Access {
    pub resource: String,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RobotPermission {
    pub kind: String,
    /// A project name, or `*` for every project (system robots only).
    pub namespace: String,
    pub access: Vec<Access>,
}

/// One thing a robot may do in one project (or `*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub namespace: String,
    pub resource: Resource,
    pub operation: Operation,
}

/// Checks a permission list and turns it into grants. Only project permissions that exist in
/// the permission table are accepted; `effect` must be `allow` when given.
pub fn grants(permissions: &[RobotPermission]) -> Result<Vec<Grant>, String> {
    let mut out = Vec::new();
    for p in permissions {
        if p.kind != "project" {
            return Err(format!(
                "unsupported permission kind {:?}: only \"project\"",
                p.kind
            ));
        }
        if p.namespace.is_empty() {
            return Err("a permission needs a namespace (project name or *)".into());
        }
        for a in &p.access {
            if a.effect.as_deref().is_some_and(|e| e != "allow") {
                return Err(format!("unsupported effect {:?}: only \"allow\"", a.effect));
            }
            let (Some(resource), Some(operation)) =
                (Resource::parse(&a.resource), Operation::parse(&a.action))
            else {
                return Err(format!("unknown permission {}:{}", a.resource, a.action));
            };
            if !MATRIX
                .iter()
                .any(|(r, o, _)| *r == resource && *o == operation)
            {
                return Err(format!("unknown permission {}:{}", a.resource, a.action));
            }
            out.push(Grant {
                namespace: p.namespace.clone(),
                resource,
                operation,
            });
        }
    }
    Ok(out)
}

/// The grants that apply in one project.
pub fn in_project(grants: &[Grant], project: &str) -> Vec<(Resource, Operation)> {
    grants
        .iter()
        .filter(|g| g.namespace == project || g.namespace == "*")
        .map(|g| (g.resource, g.operation))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perm(ns: &str, pairs: &[(&str, &str)]) -> RobotPermission {
        RobotPermission {
            kind: "project".into(),
            namespace: ns.into(),
            access: pairs
                .iter()
                .map(|(r, a)| Access {
                    resource: r.to_string(),
                    action: a.to_string(),
                    effect: None,
                })
                .collect(),
        }
    }

    #[test]
    fn accepts_known_permissions() {
        let g = grants(&[perm(
            "p",
            &[
                ("repository", "pull"),
                ("repository", "push"),
                ("artifact", "delete"),
            ],
        )])
        .expect("valid");
        assert_eq!(in_project(&g, "p").len(), 3);
        assert!(in_project(&g, "other").is_empty());
        let all = grants(&[perm("*", &[("repository", "pull")])]).expect("valid");
        assert_eq!(
            in_project(&all, "any"),
            vec![(Resource::Repository, Operation::Pull)]
        );
    }

    #[test]
    fn refuses_unknown_ones() {
        assert!(grants(&[perm("p", &[("repository", "fly")])]).is_err());
        assert!(grants(&[perm("p", &[("spaceship", "pull")])]).is_err());
        assert!(grants(&[perm("p", &[("log", "delete")])]).is_err());
        assert!(grants(&[perm("", &[("repository", "pull")])]).is_err());
        let mut system = perm("p", &[]);
        system.kind = "system".into();
        assert!(grants(&[system]).is_err());
    }
}
