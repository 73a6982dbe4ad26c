//! Tag immutability: a project's rules (Harbor's `ImmutableRule`, at most 15, OR semantics)
//! and the one check every path that changes tags goes through. A tag a rule selects cannot be
//! moved to other content by a push or a replication, cannot be deleted, and its artifact
//! cannot be deleted; retention keeps it. The check runs inside the writer's transaction that
//! would make the change, so a rule is in force from the moment it is stored.

use std::collections::BTreeMap;

use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::auth::permissions::{Operation, Resource};
use crate::auth::Principal;
use crate::db::immutable::{self as q, RuleRow};
use crate::db::{Db, DbResult};
use crate::names::ProjectRef;
use crate::selectors::{name_in_project, Selection, SelectorWire};

use super::projects::{ProjectError, ProjectView, Projects};

/// Harbor's documented maximum.
pub const MAX_RULES: i64 = 15;

/// Harbor's `ImmutableRule`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImmutableRuleWire {
    #[serde(default)]
    pub id: i64,
    #[serde(default)]
    pub priority: i64,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default = "immutable")]
    pub action: String,
    #[serde(default = "template")]
    pub template: String,
    #[serde(default)]
    pub params: Map<String, Value>,
    #[serde(default)]
    pub tag_selectors: Vec<SelectorWire>,
    #[serde(default)]
    pub scope_selectors: BTreeMap<String, Vec<SelectorWire>>,
}

fn immutable() -> String {
    "immutable".into()
}

fn template() -> String {
    "immutable_template".into()
}

impl ImmutableRuleWire {
    fn from_row(r: &RuleRow) -> ImmutableRuleWire {
        ImmutableRuleWire {
            id: r.id,
            priority: r.priority,
            disabled: r.disabled,
            action: immutable(),
            template: template(),
            params: Map::new(),
            tag_selectors: serde_json::from_str(&r.tag_selectors).unwrap_or_default(),
            scope_selectors: serde_json::from_str(&r.scope_selectors).unwrap_or_default(),
        }
    }

    /// Checks the rule; returns its selectors as stored.
    fn check(&self) -> Result<(String, String), ProjectError> {
        if self.action != "immutable" || self.template != "immutable_template" {
            return Err(ProjectError::Invalid(
                "an immutability rule's action is \"immutable\" and its template \"immutable_template\"".into(),
            ));
        }
        Selection::parse(&self.tag_selectors, &self.scope_selectors)
            .map_err(ProjectError::Invalid)?;
        let tags = serde_json::to_string(&self.tag_selectors)
            .map_err(|e| ProjectError::Invalid(e.to_string()))?;
        let scope = serde_json::to_string(&self.scope_selectors)
            .map_err(|e| ProjectError::Invalid(e.to_string()))?;
        Ok((tags, scope))
    }
}

/// A project's enabled rules, compiled: what decides whether a tag is immutable.
pub struct Immutable {
    rules: Vec<Selection>,
}

impl Immutable {
    pub fn load(conn: &Connection, project_id: i64) -> DbResult<Immutable> {
        // Stored rules were checked; one that no longer parses protects everything rather
        // than nothing.
        let everything = || {
            Selection::parse(
                &[SelectorWire::tags("**", false, false)],
                &BTreeMap::from([(
                    "repository".to_string(),
                    vec![SelectorWire::repositories("**", false)],
                )]),
            )
        };
        let mut rules = vec![];
        for r in q::rules(conn, project_id)?.iter().filter(|r| !r.disabled) {
            let w = ImmutableRuleWire::from_row(r);
            if let Ok(s) =
                Selection::parse(&w.tag_selectors, &w.scope_selectors).or_else(|_| everything())
            {
                rules.push(s);
            }
        }
        Ok(Immutable { rules })
    }

    /// Whether `tag` of `repository` (the full name) is immutable.
    pub fn protects(&self, repository: &str, tag: &str) -> bool {
        let repo = name_in_project(repository);
        self.rules
            .iter()
            .any(|s| s.repository(repo) && s.tag(Some(tag)))
    }

    /// The first of `tags` that is immutable.
    pub fn first_protected<'a>(&self, repository: &str, tags: &'a [String]) -> Option<&'a str> {
        tags.iter()
            .map(String::as_str)
            .find(|t| self.protects(repository, t))
    }
}

/// Harbor's refusal, which Docker shows its user as it is.
pub fn refusal(repository: &str, tag: &str) -> String {
    format!("Failed to process request due to '{repository}:{tag}' configured as immutable.")
}

#[derive(Clone)]
pub struct ImmutabilityService {
    db: Db,
    projects: Projects,
}

impl ImmutabilityService {
    pub fn new(db: Db, projects: Projects) -> ImmutabilityService {
        ImmutabilityService { db, projects }
    }

    async fn require(
        &self,
        by: &Principal,
        project: &ProjectRef,
        operation: Operation,
    ) -> Result<ProjectView, ProjectError> {
        self.projects
            .require(by, project, Resource::ImmutableTag, operation)
            .await
    }

    pub async fn list(
        &self,
        by: &Principal,
        project: &ProjectRef,
    ) -> Result<(ProjectView, Vec<ImmutableRuleWire>), ProjectError> {
        let view = self.require(by, project, Operation::List).await?;
        let id = view.project.id;
        let rows = self.db.read(move |c| q::rules(c, id)).await?;
        Ok((view, rows.iter().map(ImmutableRuleWire::from_row).collect()))
    }

    pub async fn create(
        &self,
        by: &Principal,
        project: &ProjectRef,
        rule: &ImmutableRuleWire,
    ) -> Result<(ProjectView, i64), ProjectError> {
        let view = self.require(by, project, Operation::Create).await?;
        let (tags, scope) = rule.check()?;
        let (pid, priority, disabled) = (view.project.id, rule.priority, rule.disabled);
        let id = self
            .db
            .write(move |tx| {
                if q::count(tx, pid)? >= MAX_RULES {
                    return Err(ProjectError::Invalid(format!(
                        "a project has at most {MAX_RULES} immutability rules"
                    )));
                }
                Ok(q::insert(tx, pid, priority, disabled, &tags, &scope)?)
            })
            .await?;
        Ok((view, id))
    }

    /// Replaces a rule, or only enables or disables it when the body has no selectors
    /// (Harbor's portal sends `{"id", "disabled"}` for its switch).
    pub async fn update(
        &self,
        by: &Principal,
        project: &ProjectRef,
        id: i64,
        rule: &ImmutableRuleWire,
    ) -> Result<ProjectView, ProjectError> {
        let view = self.require(by, project, Operation::Update).await?;
        let pid = view.project.id;
        let toggle_only = rule.tag_selectors.is_empty() && rule.scope_selectors.is_empty();
        let checked = if toggle_only {
            None
        } else {
            Some(rule.check()?)
        };
        let (priority, disabled) = (rule.priority, rule.disabled);
        let updated = self
            .db
            .write(move |tx| {
                let (tags, scope, priority) = match checked {
                    Some((t, s)) => (t, s, priority),
                    None => match q::rules(tx, pid)?.into_iter().find(|r| r.id == id) {
                        Some(r) => (r.tag_selectors, r.scope_selectors, r.priority),
                        None => return Ok(false),
                    },
                };
                Ok::<_, ProjectError>(q::update(tx, pid, id, priority, disabled, &tags, &scope)?)
            })
            .await?;
        if updated {
            Ok(view)
        } else {
            Err(ProjectError::NotFound(format!("immutability rule {id}")))
        }
    }

    pub async fn delete(
        &self,
        by: &Principal,
        project: &ProjectRef,
        id: i64,
    ) -> Result<ProjectView, ProjectError> {
        let view = self.require(by, project, Operation::Delete).await?;
        let pid = view.project.id;
        if self.db.write(move |tx| q::delete(tx, pid, id)).await? {
            Ok(view)
        } else {
            Err(ProjectError::NotFound(format!("immutability rule {id}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_checked() {
        let mut rule = ImmutableRuleWire {
            id: 0,
            priority: 0,
            disabled: false,
            action: immutable(),
            template: template(),
            params: Map::new(),
            tag_selectors: vec![SelectorWire::tags("v*", false, false)],
            scope_selectors: BTreeMap::from([(
                "repository".to_string(),
                vec![SelectorWire::repositories("**", false)],
            )]),
        };
        assert!(rule.check().is_ok());
        rule.action = "retain".into();
        assert!(rule.check().is_err());
    }
}
