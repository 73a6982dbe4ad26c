//! Robot permissions in Harbor's shape, `[{kind, namespace, access: [{resource, action,
//! effect}]}]`, and the grants they stand for in the permission table.

use serde::{Deserialize, Serialize};

use super::permissions::{Operation, Resource, MATRIX, SYSTEM};

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

/// A permission as stored: the namespace with the id of the project it named when the robot
/// was created or changed. Grants match by that id, never by name, so a name that looks like
/// an id (or a project created later under a reused name) can never be confused with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPermission {
    pub kind: String,
    pub namespace: String,
    /// `None` only for `*`; a stored name whose project is gone grants nothing.
    #[serde(default)]
    pub project_id: Option<i64>,
    pub access: Vec<Access>,
}

impl StoredPermission {
    pub fn new(p: RobotPermission, project_id: Option<i64>) -> StoredPermission {
        StoredPermission {
            kind: p.kind,
            namespace: p.namespace,
            project_id,
            access: p.access,
        }
    }

    /// Harbor's shape, for the API.
    pub fn public(&self) -> RobotPermission {
        RobotPermission {
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            access: self.access.clone(),
        }
    }
}

/// Where a grant applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantScope {
    /// `*`: every project (system robots only).
    AllProjects,
    Project(i64),
    /// The project the grant named no longer exists: nothing.
    Nowhere,
    /// Outside any project (the system table).
    System,
}

/// One thing a robot may do in one project (or every project).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub scope: GrantScope,
    pub resource: Resource,
    pub operation: Operation,
}

/// Checks a permission list in Harbor's shape and returns, per entry, what it asks for.
/// `project` entries take permissions of the project table, `system` entries (namespace `/`)
/// permissions of the system table; `effect` must be `allow` when given.
pub fn check(permissions: &[RobotPermission]) -> Result<Vec<Vec<(Resource, Operation)>>, String> {
    let mut out = Vec::new();
    for p in permissions {
        let table: Vec<(Resource, Operation)> = match p.kind.as_str() {
            "project" => MATRIX.iter().map(|(r, o, _)| (*r, *o)).collect(),
            "system" => SYSTEM.to_vec(),
            other => {
                return Err(format!(
                    "unsupported permission kind {other:?}: \"project\" or \"system\""
                ))
            }
        };
        if p.kind == "system" && p.namespace != "/" {
            return Err("a system permission's namespace is \"/\"".into());
        }
        if p.namespace.is_empty() {
            return Err("a permission needs a namespace (project name or *)".into());
        }
        let mut entry = Vec::new();
        for a in &p.access {
            if a.effect.as_deref().is_some_and(|e| e != "allow") {
                return Err(format!("unsupported effect {:?}: only \"allow\"", a.effect));
            }
            let wanted = Resource::parse(&a.resource).zip(Operation::parse(&a.action));
            match wanted {
                Some(pair) if table.contains(&pair) => entry.push(pair),
                _ => {
                    return Err(format!(
                        "unknown {} permission {}:{}",
                        p.kind, a.resource, a.action
                    ))
                }
            }
        }
        out.push(entry);
    }
    Ok(out)
}

/// The grants a stored permission list stands for.
pub fn grants(stored: &[StoredPermission]) -> Result<Vec<Grant>, String> {
    let public: Vec<RobotPermission> = stored.iter().map(StoredPermission::public).collect();
    let checked = check(&public)?;
    Ok(stored
        .iter()
        .zip(checked)
        .flat_map(|(p, pairs)| {
            let scope = match (p.namespace.as_str(), p.project_id) {
                _ if p.kind == "system" => GrantScope::System,
                ("*", _) => GrantScope::AllProjects,
                (_, Some(id)) => GrantScope::Project(id),
                (_, None) => GrantScope::Nowhere,
            };
            pairs.into_iter().map(move |(resource, operation)| Grant {
                scope,
                resource,
                operation,
            })
        })
        .collect())
}

/// The grants that apply in the project with this id.
pub fn in_project(grants: &[Grant], project_id: i64) -> Vec<(Resource, Operation)> {
    grants
        .iter()
        .filter(|g| match g.scope {
            GrantScope::AllProjects => true,
            GrantScope::Project(id) => id == project_id,
            GrantScope::Nowhere | GrantScope::System => false,
        })
        .map(|g| (g.resource, g.operation))
        .collect()
}

/// The system-level grants.
pub fn at_system_level(grants: &[Grant]) -> Vec<(Resource, Operation)> {
    grants
        .iter()
        .filter(|g| g.scope == GrantScope::System)
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

    fn stored(ns: &str, id: Option<i64>, pairs: &[(&str, &str)]) -> StoredPermission {
        StoredPermission::new(perm(ns, pairs), id)
    }

    #[test]
    fn grants_match_by_project_id_never_by_name() {
        let g = grants(&[stored(
            "4",
            Some(7),
            &[
                ("repository", "pull"),
                ("repository", "push"),
                ("artifact", "delete"),
            ],
        )])
        .expect("valid");
        assert_eq!(in_project(&g, 7).len(), 3);
        // The project whose id is the namespace's digits gets nothing.
        assert!(in_project(&g, 4).is_empty());
        let all = grants(&[stored("*", None, &[("repository", "pull")])]).expect("valid");
        assert_eq!(
            in_project(&all, 99),
            vec![(Resource::Repository, Operation::Pull)]
        );
        let gone = grants(&[stored("p", None, &[("repository", "pull")])]).expect("valid");
        assert!(in_project(&gone, 1).is_empty());
    }

    #[test]
    fn refuses_unknown_ones() {
        assert!(check(&[perm("p", &[("repository", "fly")])]).is_err());
        assert!(check(&[perm("p", &[("spaceship", "pull")])]).is_err());
        assert!(check(&[perm("p", &[("log", "delete")])]).is_err());
        assert!(check(&[perm("", &[("repository", "pull")])]).is_err());
        let mut system = perm("p", &[]);
        system.kind = "system".into();
        assert!(check(&[system.clone()]).is_err(), "namespace must be /");
        system.namespace = "/".into();
        assert!(check(&[system.clone()]).is_ok());
        system.access = vec![Access {
            resource: "repository".into(),
            action: "push".into(),
            effect: None,
        }];
        assert!(
            check(&[system]).is_err(),
            "a project permission at system level"
        );
        assert!(check(&[perm("p", &[("audit-log", "list")])]).is_err());
        let mut other = perm("p", &[]);
        other.kind = "cluster".into();
        assert!(check(&[other]).is_err());
    }
}
