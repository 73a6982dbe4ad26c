//! Retention's model, pure: Harbor's rule templates, the policy document, and the evaluation
//! of a repository's tags. Rules are matched per tag and applied per artifact: an artifact is
//! kept when any rule keeps any of its tags (or it, untagged), and everything not kept is
//! deleted. Rules are combined with OR, each ranking only the tags it selects.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::selectors::{Selection, SelectorWire};

/// Harbor's documented maximum.
pub const MAX_RULES: usize = 15;
const DAY: i64 = 86_400;
const MAX_COUNT: i64 = 1_000_000;
const MAX_DAYS: i64 = 36_500;

/// Harbor's rule templates (`rule_template`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    /// The K most recently pushed.
    LatestPushedK(i64),
    /// The N most recently pulled.
    LatestPulledN(i64),
    /// The K most recently pushed or pulled.
    LatestActiveK(i64),
    /// Pushed within the last N days.
    DaysSinceLastPush(i64),
    /// Pulled within the last N days.
    DaysSinceLastPull(i64),
    Always,
}

/// Each template: its id, what the portal says, and its parameter's unit.
pub const TEMPLATES: &[(&str, &str, Option<&str>)] = &[
    (
        "latestPushedK",
        "retain the most recently pushed # artifacts",
        Some("count"),
    ),
    (
        "latestPulledN",
        "retain the most recently pulled # artifacts",
        Some("count"),
    ),
    (
        "latestActiveK",
        "retain the most recently pushed or pulled # artifacts",
        Some("count"),
    ),
    (
        "nDaysSinceLastPush",
        "retain the artifacts pushed within the last # days",
        Some("days"),
    ),
    (
        "nDaysSinceLastPull",
        "retain the artifacts pulled within the last # days",
        Some("days"),
    ),
    ("always", "retain always", None),
];

impl Template {
    pub fn parse(id: &str, params: &Map<String, Value>) -> Result<Template, String> {
        let Some((_, _, unit)) = TEMPLATES.iter().find(|(t, _, _)| *t == id) else {
            let known: Vec<&str> = TEMPLATES.iter().map(|t| t.0).collect();
            return Err(format!(
                "rule template {id:?} is not one of {}",
                known.join(", ")
            ));
        };
        let n = match unit {
            None => 0,
            Some(unit) => {
                let max = if *unit == "days" { MAX_DAYS } else { MAX_COUNT };
                // Harbor sends the parameter under the template's own name, as a number (some
                // clients send it as a string of digits).
                let raw = params.get(id);
                let n = match raw {
                    Some(Value::Number(n)) => n.as_i64(),
                    Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
                    _ => None,
                };
                match n.filter(|n| (0..=max).contains(n)) {
                    Some(n) => n,
                    None => {
                        return Err(format!(
                            "rule {id} needs params.{id}, a whole number of {unit} from 0 to {max}"
                        ))
                    }
                }
            }
        };
        Ok(match id {
            "latestPushedK" => Template::LatestPushedK(n),
            "latestPulledN" => Template::LatestPulledN(n),
            "latestActiveK" => Template::LatestActiveK(n),
            "nDaysSinceLastPush" => Template::DaysSinceLastPush(n),
            "nDaysSinceLastPull" => Template::DaysSinceLastPull(n),
            _ => Template::Always,
        })
    }

    /// What the rule keeps, in a log line.
    pub fn describe(self) -> String {
        match self {
            Template::LatestPushedK(k) => format!("the {k} most recently pushed"),
            Template::LatestPulledN(n) => format!("the {n} most recently pulled"),
            Template::LatestActiveK(k) => format!("the {k} most recently pushed or pulled"),
            Template::DaysSinceLastPush(n) => format!("those pushed within {n} days"),
            Template::DaysSinceLastPull(n) => format!("those pulled within {n} days"),
            Template::Always => "always".into(),
        }
    }
}

/// Harbor's `RetentionRule`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleWire {
    #[serde(default)]
    pub id: i64,
    #[serde(default)]
    pub priority: i64,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default = "retain")]
    pub action: String,
    pub template: String,
    #[serde(default)]
    pub params: Map<String, Value>,
    #[serde(default)]
    pub tag_selectors: Vec<SelectorWire>,
    #[serde(default)]
    pub scope_selectors: BTreeMap<String, Vec<SelectorWire>>,
}

fn retain() -> String {
    "retain".into()
}

/// A rule, checked and compiled.
#[derive(Debug, Clone)]
pub struct Rule {
    /// 1-based position in the policy, as logs and the portal name it.
    pub number: usize,
    pub template: Template,
    pub selection: Selection,
}

/// The enabled rules of a policy, checked: at most [`MAX_RULES`], each with a known template,
/// the `retain` action and valid selectors. Rules keep their order and get ids 1, 2, ...
pub fn check(rules: &mut [RuleWire]) -> Result<Vec<Rule>, String> {
    if rules.len() > MAX_RULES {
        return Err(format!(
            "a retention policy has at most {MAX_RULES} rules, not {}",
            rules.len()
        ));
    }
    let mut compiled = vec![];
    for (i, r) in rules.iter_mut().enumerate() {
        let number = i + 1;
        r.id = number as i64;
        if r.action != "retain" {
            return Err(format!(
                "rule {number}: the action is \"retain\" (everything not retained is deleted), not {:?}",
                r.action
            ));
        }
        let template =
            Template::parse(&r.template, &r.params).map_err(|e| format!("rule {number}: {e}"))?;
        let selection = Selection::parse(&r.tag_selectors, &r.scope_selectors)
            .map_err(|e| format!("rule {number}: {e}"))?;
        if !r.disabled {
            compiled.push(Rule {
                number,
                template,
                selection,
            });
        }
    }
    Ok(compiled)
}

/// One tag of an artifact, or an artifact without tags (`tag: None`), with its times.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub artifact: i64,
    pub tag: Option<String>,
    pub pushed: i64,
    pub pulled: Option<i64>,
}

/// Why a rule did not keep a candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Miss {
    /// The rule is not about this tag (or untagged artifacts).
    NotSelected,
    /// Ranked below the rule's count.
    Ranked(usize),
    TooOld,
    NeverPulled,
}

/// A candidate's outcome: the first rule that kept it, or why each rule about this repository
/// did not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    KeptBy(usize),
    Dropped(Vec<(usize, Miss)>),
}

/// Evaluates the rules that select this repository over its candidates; `verdicts[i]` is
/// candidate `i`'s.
pub fn evaluate(rules: &[&Rule], candidates: &[Candidate], now: i64) -> Vec<Verdict> {
    let mut kept: Vec<Option<usize>> = vec![None; candidates.len()];
    let mut misses: Vec<Vec<(usize, Miss)>> = vec![vec![]; candidates.len()];
    for rule in rules {
        let selected: Vec<usize> = (0..candidates.len())
            .filter(|&i| rule.selection.tag(candidates[i].tag.as_deref()))
            .collect();
        for i in 0..candidates.len() {
            if !rule.selection.tag(candidates[i].tag.as_deref()) {
                misses[i].push((rule.number, Miss::NotSelected));
            }
        }
        let ranked =
            |key: &dyn Fn(&Candidate) -> (i64, i64), k: i64| -> Vec<(usize, bool, usize)> {
                let mut order = selected.clone();
                // Newest first; ties go to the later push, then the tag name, so runs repeat.
                order.sort_by(|&a, &b| {
                    let (ca, cb) = (&candidates[a], &candidates[b]);
                    key(cb)
                        .cmp(&key(ca))
                        .then(ca.tag.cmp(&cb.tag))
                        .then(cb.artifact.cmp(&ca.artifact))
                });
                order
                    .into_iter()
                    .enumerate()
                    .map(|(rank, i)| (i, (rank as i64) < k, rank + 1))
                    .collect()
            };
        let outcome: Vec<(usize, Result<(), Miss>)> = match rule.template {
            Template::Always => selected.iter().map(|&i| (i, Ok(()))).collect(),
            Template::LatestPushedK(k) => ranked(&|c| (c.pushed, 0), k)
                .into_iter()
                .map(|(i, keep, rank)| {
                    (
                        i,
                        if keep {
                            Ok(())
                        } else {
                            Err(Miss::Ranked(rank))
                        },
                    )
                })
                .collect(),
            Template::LatestPulledN(n) => ranked(&|c| (c.pulled.unwrap_or(0), c.pushed), n)
                .into_iter()
                .map(|(i, keep, rank)| {
                    (
                        i,
                        if keep {
                            Ok(())
                        } else {
                            Err(Miss::Ranked(rank))
                        },
                    )
                })
                .collect(),
            Template::LatestActiveK(k) => {
                ranked(&|c| (c.pushed.max(c.pulled.unwrap_or(0)), c.pushed), k)
                    .into_iter()
                    .map(|(i, keep, rank)| {
                        (
                            i,
                            if keep {
                                Ok(())
                            } else {
                                Err(Miss::Ranked(rank))
                            },
                        )
                    })
                    .collect()
            }
            Template::DaysSinceLastPush(n) => selected
                .iter()
                .map(|&i| {
                    let fresh = candidates[i].pushed >= now - n * DAY;
                    (i, if fresh { Ok(()) } else { Err(Miss::TooOld) })
                })
                .collect(),
            Template::DaysSinceLastPull(n) => selected
                .iter()
                .map(|&i| {
                    let r = match candidates[i].pulled {
                        None => Err(Miss::NeverPulled),
                        Some(p) if p >= now - n * DAY => Ok(()),
                        Some(_) => Err(Miss::TooOld),
                    };
                    (i, r)
                })
                .collect(),
        };
        for (i, r) in outcome {
            match r {
                Ok(()) => {
                    kept[i].get_or_insert(rule.number);
                }
                Err(m) => misses[i].push((rule.number, m)),
            }
        }
    }
    kept.into_iter()
        .zip(misses)
        .map(|(k, m)| match k {
            Some(n) => Verdict::KeptBy(n),
            None => Verdict::Dropped(m),
        })
        .collect()
}

/// Artifacts to keep: those with any candidate kept. Applied per artifact, as Harbor does.
pub fn kept_artifacts(candidates: &[Candidate], verdicts: &[Verdict]) -> HashMap<i64, bool> {
    let mut out: HashMap<i64, bool> = HashMap::new();
    for (c, v) in candidates.iter().zip(verdicts) {
        let keep = out.entry(c.artifact).or_insert(false);
        *keep |= matches!(v, Verdict::KeptBy(_));
    }
    out
}

/// A dropped candidate's reasons, for the log: "rule 1 (the 5 most recently pushed) ranked it
/// 7th; rule 2 does not select it".
pub fn explain(rules: &[&Rule], misses: &[(usize, Miss)]) -> String {
    if misses.is_empty() {
        return "no rule selects this repository's tags".into();
    }
    misses
        .iter()
        .map(|(n, m)| {
            let what = rules
                .iter()
                .find(|r| r.number == *n)
                .map(|r| r.template.describe())
                .unwrap_or_default();
            match m {
                Miss::NotSelected => format!("rule {n} ({what}) does not select it"),
                Miss::Ranked(rank) => format!("rule {n} ({what}) ranked it {}", ordinal(*rank)),
                Miss::TooOld => format!("rule {n} ({what}): too long ago"),
                Miss::NeverPulled => format!("rule {n} ({what}): never pulled"),
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(template: &str, n: i64, tags: &str, untagged: bool) -> RuleWire {
        serde_json::from_value(json!({
            "template": template,
            "params": {template: n},
            "tag_selectors": [SelectorWire::tags(tags, false, untagged)],
            "scope_selectors": {"repository": [SelectorWire::repositories("**", false)]},
        }))
        .expect("rule")
    }

    fn candidates() -> Vec<Candidate> {
        // Artifact i has tag "v{i}", pushed at day i; even ones were pulled at day 100 + i.
        (1..=10)
            .map(|i| Candidate {
                artifact: i,
                tag: Some(format!("v{i}")),
                pushed: i * DAY,
                pulled: (i % 2 == 0).then_some((100 + i) * DAY),
            })
            .collect()
    }

    fn kept(rules: Vec<RuleWire>, cs: &[Candidate], now: i64) -> Vec<i64> {
        let mut rules = rules;
        let compiled = check(&mut rules).expect("valid");
        let refs: Vec<&Rule> = compiled.iter().collect();
        let verdicts = evaluate(&refs, cs, now);
        let mut out: Vec<i64> = kept_artifacts(cs, &verdicts)
            .into_iter()
            .filter(|(_, k)| *k)
            .map(|(a, _)| a)
            .collect();
        out.sort();
        out
    }

    #[test]
    fn each_template() {
        let cs = candidates();
        let now = 120 * DAY;
        assert_eq!(
            kept(vec![rule("latestPushedK", 3, "**", false)], &cs, now),
            [8, 9, 10]
        );
        assert_eq!(
            kept(vec![rule("latestPulledN", 2, "**", false)], &cs, now),
            [8, 10]
        );
        // Pulled ones are more recent than any push: the 3 most active are 6, 8, 10.
        assert_eq!(
            kept(vec![rule("latestActiveK", 3, "**", false)], &cs, now),
            [6, 8, 10]
        );
        assert_eq!(
            kept(vec![rule("nDaysSinceLastPush", 112, "**", false)], &cs, now),
            [8, 9, 10]
        );
        assert_eq!(
            kept(vec![rule("nDaysSinceLastPull", 15, "**", false)], &cs, now),
            [6, 8, 10]
        );
        assert_eq!(
            kept(vec![rule("always", 0, "v1*", false)], &cs, now),
            [1, 10]
        );
        assert!(kept(vec![rule("latestPushedK", 0, "**", false)], &cs, now).is_empty());
    }

    #[test]
    fn rules_combine_with_or_and_rank_only_what_they_select() {
        let cs = candidates();
        let kept = kept(
            vec![
                rule("latestPushedK", 1, "**", false),
                rule("latestPushedK", 2, "{v1,v2,v3}", false),
            ],
            &cs,
            0,
        );
        assert_eq!(kept, [2, 3, 10]);
    }

    #[test]
    fn an_artifact_with_any_kept_tag_keeps_all_and_untagged_only_when_selected() {
        let mut cs = candidates();
        cs.push(Candidate {
            artifact: 1,
            tag: Some("stable".into()),
            pushed: 50 * DAY,
            pulled: None,
        });
        cs.push(Candidate {
            artifact: 11,
            tag: None,
            pushed: 60 * DAY,
            pulled: None,
        });
        assert_eq!(
            kept(vec![rule("latestPushedK", 2, "**", false)], &cs, 0),
            [1, 10]
        );
        assert_eq!(
            kept(vec![rule("latestPushedK", 2, "**", true)], &cs, 0),
            [1, 11]
        );
    }

    #[test]
    fn bad_policies_are_refused() {
        let mut too_many: Vec<RuleWire> = (0..16).map(|_| rule("always", 0, "**", false)).collect();
        assert!(check(&mut too_many).unwrap_err().contains("at most 15"));
        let mut bad = vec![rule("latestPushedK", -1, "**", false)];
        assert!(check(&mut bad).unwrap_err().contains("rule 1"));
        let mut bad = vec![rule("nothing", 1, "**", false)];
        assert!(check(&mut bad).is_err());
        let mut bad = vec![rule("always", 0, "**", false)];
        bad[0].action = "delete".into();
        assert!(check(&mut bad).is_err());
        let mut disabled = vec![rule("always", 0, "**", false)];
        disabled[0].disabled = true;
        assert!(check(&mut disabled).expect("valid").is_empty());
    }

    #[test]
    fn explanations_name_each_rule() {
        let mut rules = vec![
            rule("latestPushedK", 1, "**", false),
            rule("always", 0, "release-*", false),
        ];
        let compiled = check(&mut rules).expect("valid");
        let refs: Vec<&Rule> = compiled.iter().collect();
        let cs = candidates();
        let verdicts = evaluate(&refs, &cs, 0);
        let Verdict::Dropped(m) = &verdicts[0] else {
            panic!("v1 is dropped")
        };
        let text = explain(&refs, m);
        assert!(
            text.contains("rule 1 (the 1 most recently pushed) ranked it 10th"),
            "{text}"
        );
        assert!(
            text.contains("rule 2 (always) does not select it"),
            "{text}"
        );
        assert_eq!(ordinal(11), "11th");
        assert_eq!(ordinal(22), "22nd");
    }
}
