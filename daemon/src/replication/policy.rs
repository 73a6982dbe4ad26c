//! Replication's model, pure: what a policy selects (Harbor's filters, doublestar patterns),
//! where each repository lands (`dest_namespace` and its flattening), and the checks a policy
//! must pass before it is stored. No I/O here, so every rule has a unit test.

pub use crate::selectors::Pattern;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Harbor's `ReplicationFilter`: `name`, `tag` and `resource` (labels do not exist in Berth
/// and are refused rather than ignored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Filter {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: Value,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub decoration: String,
}

/// Which artifacts a policy copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    /// Container images (and indexes of them).
    Image,
    /// Anything an OCI registry holds (charts, signatures, SBOMs, ...).
    Artifact,
}

/// The filters of a policy, compiled.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    names: Vec<Pattern>,
    tags: Vec<Pattern>,
    /// `None` copies every kind.
    pub resource: Option<ResourceKind>,
}

impl Selection {
    pub fn compile(filters: &[Filter]) -> Result<Selection, String> {
        let mut selection = Selection::default();
        for f in filters {
            let excludes = match f.decoration.as_str() {
                "" | "matches" => false,
                "excludes" => true,
                other => {
                    return Err(format!(
                        "filter decoration {other:?} is not one of matches, excludes"
                    ))
                }
            };
            let text = || {
                f.value
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("the {} filter's value must be a string", f.kind))
            };
            match f.kind.as_str() {
                "name" => {
                    let v = text()?;
                    if !v.is_empty() {
                        selection.names.push(Pattern::new(&v, excludes)?);
                    }
                }
                "tag" => {
                    let v = text()?;
                    if !v.is_empty() {
                        selection.tags.push(Pattern::new(&v, excludes)?);
                    }
                }
                "resource" => {
                    if excludes {
                        return Err("the resource filter cannot exclude".into());
                    }
                    selection.resource = match text()?.as_str() {
                        "image" => Some(ResourceKind::Image),
                        "artifact" => Some(ResourceKind::Artifact),
                        "" | "all" => None,
                        other => {
                            return Err(format!(
                                "resource filter {other:?} is not one of image, artifact"
                            ))
                        }
                    };
                }
                "label" => return Err(
                    "label filters are not supported: Berth has no labels; filter by name or tag"
                        .into(),
                ),
                other => {
                    return Err(format!(
                        "filter type {other:?} is not one of name, tag, resource"
                    ))
                }
            }
        }
        Ok(selection)
    }

    /// Whether a repository (its full name, `project/...`) is selected.
    pub fn repository(&self, name: &str) -> bool {
        self.names.iter().all(|p| p.admits(name))
    }

    /// The tags of an artifact that are selected; an artifact none of whose tags is selected
    /// is not copied.
    pub fn tags<'a>(&self, tags: impl IntoIterator<Item = &'a String>) -> Vec<String> {
        tags.into_iter()
            .filter(|t| self.tags.iter().all(|p| p.admits(t)))
            .cloned()
            .collect()
    }

    /// Whether an artifact of this manifest and config media type is selected.
    pub fn resource_kind(&self, manifest_media_type: &str, config_media_type: &str) -> bool {
        match self.resource {
            None | Some(ResourceKind::Artifact) => true,
            Some(ResourceKind::Image) => {
                is_index(manifest_media_type)
                    || matches!(
                        config_media_type,
                        "application/vnd.docker.container.image.v1+json"
                            | "application/vnd.oci.image.config.v1+json"
                    )
            }
        }
    }
}

pub fn is_index(media_type: &str) -> bool {
    matches!(
        media_type,
        "application/vnd.oci.image.index.v1+json"
            | "application/vnd.docker.distribution.manifest.list.v2+json"
    )
}

/// Where a repository lands, as Harbor defines `dest_namespace` and
/// `dest_namespace_replace_count`: with no namespace, where it was; otherwise the namespace
/// followed by the name with `count` leading components removed (0 keeps all of them, -1
/// keeps only the last: "flatten all levels"). A name with too few components for `count` is
/// an error, as in Harbor.
pub fn destination(repository: &str, namespace: &str, count: i64) -> Result<String, String> {
    if namespace.is_empty() {
        return Ok(repository.to_string());
    }
    let parts: Vec<&str> = repository.split('/').collect();
    let keep_from = match count {
        -1 => parts.len() - 1,
        c if c < 0 => return Err(format!("dest_namespace_replace_count {c} is below -1")),
        c if c as usize > parts.len() - 1 => {
            return Err(format!(
                "the repository {repository:?} has {} path components before its last, \
                 fewer than dest_namespace_replace_count {c}",
                parts.len() - 1
            ))
        }
        c => c as usize,
    };
    Ok(format!("{namespace}/{}", parts[keep_from..].join("/")))
}

/// Harbor's `ReplicationTrigger`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriggerSpec {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub trigger_settings: TriggerSettings,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriggerSettings {
    #[serde(default)]
    pub cron: String,
}

/// How a policy starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TriggerKind {
    Manual,
    /// A six-field cron, on the job runner.
    Scheduled(String),
    /// On every push (and delete, when the policy replicates deletions) that it selects.
    EventBased,
}

impl TriggerKind {
    pub fn parse(spec: Option<&TriggerSpec>) -> Result<TriggerKind, String> {
        let Some(spec) = spec else {
            return Ok(TriggerKind::Manual);
        };
        match spec.kind.as_str() {
            "" | "manual" => Ok(TriggerKind::Manual),
            "event_based" => Ok(TriggerKind::EventBased),
            "scheduled" => {
                let cron = spec.trigger_settings.cron.trim().to_string();
                crate::jobs::Schedule {
                    kind: crate::jobs::ScheduleType::Custom,
                    cron: cron.clone(),
                }
                .check()
                .map_err(|e| format!("trigger_settings.cron: {e}"))?;
                Ok(TriggerKind::Scheduled(cron))
            }
            other => Err(format!(
                "trigger type {other:?} is not one of manual, scheduled, event_based"
            )),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            TriggerKind::Manual => "manual",
            TriggerKind::Scheduled(_) => "scheduled",
            TriggerKind::EventBased => "event_based",
        }
    }

    pub fn cron(&self) -> &str {
        match self {
            TriggerKind::Scheduled(c) => c,
            _ => "",
        }
    }
}

/// Harbor's `speed` is in KB/s per task; -1 or 0 is unlimited.
pub fn bytes_per_second(speed_kb: i64) -> Option<u64> {
    (speed_kb > 0).then(|| speed_kb as u64 * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn filters(v: Value) -> Selection {
        let f: Vec<Filter> = serde_json::from_value(v).expect("filters");
        Selection::compile(&f).expect("compile")
    }

    #[test]
    fn doublestar_names() {
        let s = filters(json!([{"type": "name", "value": "library/**"}]));
        assert!(s.repository("library/a"));
        assert!(s.repository("library/a/b"));
        assert!(!s.repository("other/a"));
        let s = filters(json!([{"type": "name", "value": "library/*"}]));
        assert!(s.repository("library/a"));
        assert!(!s.repository("library/a/b"), "* stays in one component");
        let s = filters(json!([{"type": "name", "value": "{a,b}/app?"}]));
        assert!(s.repository("a/app1") && s.repository("b/app2"));
        assert!(!s.repository("c/app1") && !s.repository("a/app12"));
        let s = filters(
            json!([{"type": "name", "value": "p/**"}, {"type": "name", "value": "p/tmp-*", "decoration": "excludes"}]),
        );
        assert!(s.repository("p/app") && !s.repository("p/tmp-1"));
        assert!(filters(json!([])).repository("anything/at/all"));
    }

    #[test]
    fn tags_matching_and_excluding() {
        let tags: Vec<String> = ["v1", "v2", "latest", "v1-rc"].map(String::from).into();
        let s = filters(json!([{"type": "tag", "value": "v*"}]));
        assert_eq!(s.tags(&tags), ["v1", "v2", "v1-rc"]);
        let s = filters(json!([{"type": "tag", "value": "*-rc", "decoration": "excludes"}]));
        assert_eq!(s.tags(&tags), ["v1", "v2", "latest"]);
        let s = filters(json!([{"type": "tag", "value": "{latest,v2}"}]));
        assert_eq!(s.tags(&tags), ["v2", "latest"]);
    }

    #[test]
    fn resource_kinds() {
        let image = filters(json!([{"type": "resource", "value": "image"}]));
        assert!(image.resource_kind(
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.oci.image.config.v1+json"
        ));
        assert!(image.resource_kind("application/vnd.oci.image.index.v1+json", ""));
        assert!(!image.resource_kind(
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.cncf.helm.config.v1+json"
        ));
        assert!(filters(json!([{"type": "resource", "value": "artifact"}]))
            .resource_kind("x", "application/vnd.cncf.helm.config.v1+json"));
    }

    #[test]
    fn bad_filters_are_refused_with_a_reason() {
        for (bad, says) in [
            (json!([{"type": "label", "value": ["a"]}]), "label"),
            (json!([{"type": "size", "value": "1"}]), "size"),
            (
                json!([{"type": "name", "value": "a", "decoration": "maybe"}]),
                "maybe",
            ),
            (json!([{"type": "name", "value": 3}]), "string"),
            (json!([{"type": "name", "value": "a/{b"}]), "pattern"),
            (json!([{"type": "resource", "value": "chart"}]), "chart"),
        ] {
            let f: Vec<Filter> = serde_json::from_value(bad).expect("shape");
            let e = Selection::compile(&f).expect_err("refused");
            assert!(e.contains(says), "{e}");
        }
    }

    #[test]
    fn flattening_as_harbor_defines_it() {
        let repo = "a/b/c/d/img";
        assert_eq!(destination(repo, "", 1).expect("same"), repo);
        assert_eq!(destination(repo, "ns", 0).expect("0"), "ns/a/b/c/d/img");
        assert_eq!(destination(repo, "ns", 1).expect("1"), "ns/b/c/d/img");
        assert_eq!(destination(repo, "ns", 2).expect("2"), "ns/c/d/img");
        assert_eq!(destination(repo, "ns", 3).expect("3"), "ns/d/img");
        assert_eq!(destination(repo, "ns", -1).expect("all"), "ns/img");
        assert_eq!(destination("p/app", "ns", 1).expect("1"), "ns/app");
        assert!(destination("p/app", "ns", 2).is_err());
        assert!(destination("p/app", "ns", -2).is_err());
    }

    #[test]
    fn triggers() {
        assert_eq!(TriggerKind::parse(None), Ok(TriggerKind::Manual));
        let spec = |v: Value| serde_json::from_value::<TriggerSpec>(v).expect("spec");
        assert_eq!(
            TriggerKind::parse(Some(&spec(json!({"type": "event_based"})))),
            Ok(TriggerKind::EventBased)
        );
        assert_eq!(
            TriggerKind::parse(Some(&spec(
                json!({"type": "scheduled", "trigger_settings": {"cron": "0 0 * * * *"}})
            ))),
            Ok(TriggerKind::Scheduled("0 0 * * * *".into()))
        );
        assert!(TriggerKind::parse(Some(&spec(json!({"type": "scheduled"})))).is_err());
        assert!(TriggerKind::parse(Some(&spec(json!({"type": "hourly"})))).is_err());
    }
}
