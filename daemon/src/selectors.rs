//! Harbor's repository and tag selectors (doublestar patterns that match or exclude), shared by
//! replication filters, tag immutability rules and tag retention rules. Pure: no I/O.
//!
//! Repository patterns are matched against the name inside the project (`app/web` for
//! `team/app/web`), as Harbor's rules do.

use std::collections::BTreeMap;

use globset::{Glob, GlobBuilder, GlobMatcher};
use serde::{Deserialize, Serialize};

/// Longest pattern accepted: a selector is typed by a person.
const MAX_PATTERN: usize = 512;
/// Selectors per rule, per kind: the portal makes one; scripts rarely need more.
const MAX_SELECTORS: usize = 8;

/// A doublestar pattern: `*` and `?` stay within one path component, `**` crosses them, and
/// `{a,b}` is either.
#[derive(Debug, Clone)]
pub struct Pattern {
    matcher: GlobMatcher,
    excludes: bool,
}

impl Pattern {
    pub fn new(pattern: &str, excludes: bool) -> Result<Pattern, String> {
        let glob: Glob = GlobBuilder::new(pattern)
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .map_err(|e| format!("pattern {pattern:?}: {e}"))?;
        Ok(Pattern {
            matcher: glob.compile_matcher(),
            excludes,
        })
    }

    pub fn admits(&self, name: &str) -> bool {
        self.matcher.is_match(name) != self.excludes
    }
}

/// Harbor's `RetentionSelector` and `ImmutableSelector`: `kind` is always `doublestar`;
/// `decoration` is `matches`/`excludes` for tags and `repoMatches`/`repoExcludes` for
/// repositories; `extras` is a JSON string, where `{"untagged":true}` on a tag selector also
/// selects artifacts without tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelectorWire {
    pub kind: String,
    pub decoration: String,
    pub pattern: String,
    #[serde(default)]
    pub extras: String,
}

impl SelectorWire {
    pub fn tags(pattern: &str, excludes: bool, untagged: bool) -> SelectorWire {
        SelectorWire {
            kind: "doublestar".into(),
            decoration: if excludes { "excludes" } else { "matches" }.into(),
            pattern: pattern.into(),
            extras: if untagged {
                r#"{"untagged":true}"#.into()
            } else {
                String::new()
            },
        }
    }

    pub fn repositories(pattern: &str, excludes: bool) -> SelectorWire {
        SelectorWire {
            kind: "doublestar".into(),
            decoration: if excludes {
                "repoExcludes"
            } else {
                "repoMatches"
            }
            .into(),
            pattern: pattern.into(),
            extras: String::new(),
        }
    }
}

/// A rule's selectors, checked and compiled: which repositories and which tags it is about.
/// Every selector of a kind must admit a name (they narrow one another).
#[derive(Debug, Clone)]
pub struct Selection {
    repositories: Vec<Pattern>,
    tags: Vec<Pattern>,
    untagged: bool,
}

impl Selection {
    /// Harbor's `tag_selectors` and `scope_selectors` (whose only key is `repository`). Every
    /// problem is one sentence naming the selector.
    pub fn parse(
        tag_selectors: &[SelectorWire],
        scope_selectors: &BTreeMap<String, Vec<SelectorWire>>,
    ) -> Result<Selection, String> {
        if let Some(other) = scope_selectors.keys().find(|k| *k != "repository") {
            return Err(format!(
                "scope_selectors has {other:?}: the only scope is \"repository\""
            ));
        }
        let repository = scope_selectors
            .get("repository")
            .map(Vec::as_slice)
            .unwrap_or_default();
        if repository.is_empty() {
            return Err(
                "scope_selectors.repository needs a selector (\"**\" for every repository)".into(),
            );
        }
        if tag_selectors.is_empty() {
            return Err("tag_selectors needs a selector (\"**\" for every tag)".into());
        }
        if repository.len() > MAX_SELECTORS || tag_selectors.len() > MAX_SELECTORS {
            return Err(format!(
                "at most {MAX_SELECTORS} repository and {MAX_SELECTORS} tag selectors"
            ));
        }
        let mut repositories = vec![];
        for s in repository {
            let excludes = match s.decoration.as_str() {
                "repoMatches" => false,
                "repoExcludes" => true,
                d => {
                    return Err(format!(
                        "repository selector decoration {d:?} is not repoMatches or repoExcludes"
                    ))
                }
            };
            repositories.push(compile(s, excludes)?);
        }
        let mut tags = vec![];
        let mut untagged = false;
        for s in tag_selectors {
            let excludes = match s.decoration.as_str() {
                "matches" => false,
                "excludes" => true,
                d => {
                    return Err(format!(
                        "tag selector decoration {d:?} is not matches or excludes"
                    ))
                }
            };
            untagged |= parse_untagged(&s.extras)?;
            tags.push(compile(s, excludes)?);
        }
        Ok(Selection {
            repositories,
            tags,
            untagged,
        })
    }

    /// Whether the rule is about this repository (its name inside the project).
    pub fn repository(&self, name_in_project: &str) -> bool {
        self.repositories.iter().all(|p| p.admits(name_in_project))
    }

    /// Whether the rule is about this tag; `None` is an artifact without tags.
    pub fn tag(&self, tag: Option<&str>) -> bool {
        match tag {
            Some(t) => self.tags.iter().all(|p| p.admits(t)),
            None => self.untagged,
        }
    }

    pub fn untagged(&self) -> bool {
        self.untagged
    }
}

fn compile(s: &SelectorWire, excludes: bool) -> Result<Pattern, String> {
    if s.kind != "doublestar" {
        return Err(format!(
            "selector kind {:?} is not supported: use \"doublestar\"",
            s.kind
        ));
    }
    if s.pattern.is_empty() || s.pattern.len() > MAX_PATTERN {
        return Err(format!(
            "a selector's pattern must be 1 to {MAX_PATTERN} characters (\"**\" for all)"
        ));
    }
    if s.pattern.chars().any(char::is_control) {
        return Err("a selector's pattern must not hold control characters".into());
    }
    Pattern::new(&s.pattern, excludes)
}

fn parse_untagged(extras: &str) -> Result<bool, String> {
    if extras.trim().is_empty() {
        return Ok(false);
    }
    let v: serde_json::Value = serde_json::from_str(extras).map_err(|_| {
        format!("selector extras {extras:?} is not JSON such as {{\"untagged\":true}}")
    })?;
    match v.get("untagged") {
        None => Ok(false),
        Some(serde_json::Value::Bool(b)) => Ok(*b),
        Some(_) => Err("selector extras \"untagged\" must be true or false".into()),
    }
}

/// The repository's name inside its project: what repository selectors see.
pub fn name_in_project(repository: &str) -> &str {
    repository
        .split_once('/')
        .map(|(_, rest)| rest)
        .unwrap_or(repository)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selection(repo: SelectorWire, tag: SelectorWire) -> Result<Selection, String> {
        Selection::parse(
            &[tag],
            &BTreeMap::from([("repository".to_string(), vec![repo])]),
        )
    }

    #[test]
    fn doublestar_repositories_and_tags() {
        let s = selection(
            SelectorWire::repositories("app/**", false),
            SelectorWire::tags("v1.*", false, false),
        )
        .expect("valid");
        assert!(s.repository("app/web"));
        assert!(s.repository("app/web/api"));
        assert!(!s.repository("tools/app"));
        assert!(s.tag(Some("v1.2")));
        assert!(!s.tag(Some("v2.0")));
        assert!(!s.tag(None), "untagged only when asked for");

        let s = selection(
            SelectorWire::repositories("{web,api}", true),
            SelectorWire::tags("latest", true, true),
        )
        .expect("valid");
        assert!(!s.repository("web"));
        assert!(s.repository("db"));
        assert!(s.tag(Some("v1")));
        assert!(!s.tag(Some("latest")));
        assert!(s.tag(None));
        assert!(
            s.repository("a/web"),
            "braces stay within a component, so a/web is not excluded"
        );
    }

    #[test]
    fn bad_selectors_are_refused_with_a_reason() {
        let ok_repo = SelectorWire::repositories("**", false);
        let ok_tag = SelectorWire::tags("**", false, false);
        let mut bad = ok_tag.clone();
        bad.kind = "regexp".into();
        assert!(selection(ok_repo.clone(), bad)
            .unwrap_err()
            .contains("doublestar"));
        let mut bad = ok_tag.clone();
        bad.decoration = "repoMatches".into();
        assert!(selection(ok_repo.clone(), bad)
            .unwrap_err()
            .contains("decoration"));
        let mut bad = ok_repo.clone();
        bad.decoration = "matches".into();
        assert!(selection(bad, ok_tag.clone())
            .unwrap_err()
            .contains("decoration"));
        let mut bad = ok_tag.clone();
        bad.pattern = String::new();
        assert!(selection(ok_repo.clone(), bad).is_err());
        let mut bad = ok_tag.clone();
        bad.pattern = "[".into();
        assert!(selection(ok_repo.clone(), bad).is_err());
        let mut bad = ok_tag.clone();
        bad.extras = "{\"untagged\":\"yes\"}".into();
        assert!(selection(ok_repo.clone(), bad).is_err());
        assert!(Selection::parse(std::slice::from_ref(&ok_tag), &BTreeMap::new()).is_err());
        assert!(Selection::parse(
            &[ok_tag],
            &BTreeMap::from([("label".to_string(), vec![ok_repo])])
        )
        .is_err());
    }

    #[test]
    fn names_inside_the_project() {
        assert_eq!(name_in_project("team/app/web"), "app/web");
        assert_eq!(name_in_project("team/app"), "app");
    }
}
