//! Retention, immutability and quotas in-process: every retention template and selector over a
//! fixture of 60 tags with set push and pull times (a dry run first, which must delete nothing,
//! then the run), retention with immutable tags, what immutability refuses, and quota usage and
//! refusals. The runs with Docker and the concurrent pushes over HTTP are in `tests/it`.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use berth::db::DbError;
use common::*;

const DAY: i64 = 86_400;
/// Times sit an hour off whole days, so "within N days" never falls on the second a run starts.
const HOUR: i64 = 3_600;

/// One tag of the fixture (or an untagged artifact), with the times set on it.
#[derive(Clone, Debug)]
struct Item {
    repo: &'static str,
    tag: Option<String>,
    /// Which artifact: tags with the same seed share one.
    seed: String,
    pushed: i64,
    pulled: Option<i64>,
}

/// 60 tags: `app` has t00..t28 and `stable` (on t10's artifact, the newest push), `web` has
/// w00..w29; `app` also holds two untagged artifacts. Tag i was pushed 40 - i days (and an
/// hour) ago; every third was pulled 35 - i days (and an hour) ago.
fn items(now: i64) -> Vec<Item> {
    let mut out = vec![];
    for (repo, prefix, n) in [("app", "t", 29), ("web", "w", 30)] {
        for i in 0..n {
            out.push(Item {
                repo,
                tag: Some(format!("{prefix}{i:02}")),
                seed: format!("{repo}-{i}"),
                pushed: now - (40 - i) * DAY - HOUR,
                pulled: (i % 3 == 0).then_some(now - (35 - i) * DAY - HOUR),
            });
        }
    }
    out.push(Item {
        repo: "app",
        tag: Some("stable".into()),
        seed: "app-10".into(),
        pushed: now - DAY,
        pulled: Some(now - 2 * DAY),
    });
    for (k, age) in [(0, 3), (1, 50)] {
        out.push(Item {
            repo: "app",
            tag: None,
            seed: format!("app-untagged-{k}"),
            pushed: now - age * DAY,
            pulled: None,
        });
    }
    out
}

/// Pushes the fixture into `project` and sets its times.
async fn fixture(app: &App, project: &str, now: i64) -> Vec<Item> {
    app.project(ADMIN, project, false).await;
    let items = items(now);
    let mut untagged: Vec<(String, i64)> = vec![];
    for item in &items {
        let repo = format!("{project}/{}", item.repo);
        let token = app.token(ADMIN, &repo).await;
        match &item.tag {
            Some(tag) => {
                app.image(&repo, &token, tag, &item.seed).await;
            }
            None => {
                let (digest, _) = app.image(&repo, &token, "scratch", &item.seed).await;
                let r = app
                    .v2(
                        "DELETE",
                        &format!("{repo}/manifests/scratch"),
                        &token,
                        vec![],
                        None,
                    )
                    .await;
                assert_eq!(r.status, 202, "{}", r.text);
                untagged.push((digest, item.pushed));
            }
        }
    }
    let (p, set) = (project.to_string(), items.clone());
    app.state
        .db
        .write(move |tx| {
            for item in &set {
                let repo = format!("{p}/{}", item.repo);
                match &item.tag {
                    Some(tag) => tx.execute(
                        "UPDATE tags SET push_time = ?3, pull_time = ?4
                         WHERE name = ?2 AND repository_id = (SELECT id FROM repositories WHERE name = ?1)",
                        rusqlite::params![repo, tag, item.pushed, item.pulled],
                    )?,
                    None => 0,
                };
            }
            for (digest, pushed) in &untagged {
                tx.execute(
                    "UPDATE manifests SET push_time = ?2 WHERE digest = ?1
                       AND repository_id = (SELECT id FROM repositories WHERE name = ?3)",
                    rusqlite::params![digest, pushed, format!("{p}/app")],
                )?;
            }
            Ok::<_, DbError>(())
        })
        .await
        .expect("times");
    items
}

/// What is in the project now: repository → tags, and the number of untagged artifacts.
async fn contents(app: &App, project: &str) -> BTreeMap<String, (BTreeSet<String>, usize)> {
    let mut out = BTreeMap::new();
    for repo in ["app", "web"] {
        let r = app
            .api(
                "GET",
                &format!("/projects/{project}/repositories/{repo}/artifacts?page_size=100"),
                Some(ADMIN),
                None,
            )
            .await;
        let mut tags = BTreeSet::new();
        let mut untagged = 0;
        for a in r.body.as_array().cloned().unwrap_or_default() {
            let names: Vec<String> = a["tags"]
                .as_array()
                .map(|t| {
                    t.iter()
                        .filter_map(|t| t["name"].as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            if names.is_empty() {
                untagged += 1;
            }
            tags.extend(names);
        }
        out.insert(repo.to_string(), (tags, untagged));
    }
    out
}

/// A rule as Harbor's portal sends it.
fn rule(template: &str, n: i64, repos: (&str, bool), tags: (&str, bool), untagged: bool) -> Value {
    json!({
        "action": "retain",
        "template": template,
        "params": {template: n},
        "tag_selectors": [{"kind": "doublestar", "decoration": if tags.1 { "excludes" } else { "matches" },
                           "pattern": tags.0, "extras": if untagged { "{\"untagged\":true}" } else { "" }}],
        "scope_selectors": {"repository": [{"kind": "doublestar",
            "decoration": if repos.1 { "repoExcludes" } else { "repoMatches" }, "pattern": repos.0}]},
    })
}

/// The test's own reading of a rule: which candidates it keeps, by (repo, tag or seed).
struct Oracle {
    template: &'static str,
    n: i64,
    repo: fn(&str) -> bool,
    tag: fn(&str) -> bool,
    untagged: bool,
}

impl Oracle {
    fn kept(&self, items: &[Item], now: i64) -> BTreeSet<(String, String)> {
        let mut kept = BTreeSet::new();
        for repo in ["app", "web"] {
            if !(self.repo)(repo) {
                continue;
            }
            let mut selected: Vec<&Item> = items
                .iter()
                .filter(|i| i.repo == repo)
                .filter(|i| match &i.tag {
                    Some(t) => (self.tag)(t),
                    None => self.untagged,
                })
                .collect();
            let key = |i: &Item| match self.template {
                "latestPulledN" => (i.pulled.unwrap_or(0), i.pushed),
                "latestActiveK" => (i.pushed.max(i.pulled.unwrap_or(0)), i.pushed),
                _ => (i.pushed, 0),
            };
            selected.sort_by_key(|i| std::cmp::Reverse(key(i)));
            for (rank, i) in selected.iter().enumerate() {
                let keep = match self.template {
                    "latestPushedK" | "latestPulledN" | "latestActiveK" => (rank as i64) < self.n,
                    "nDaysSinceLastPush" => i.pushed >= now - self.n * DAY,
                    "nDaysSinceLastPull" => i.pulled.is_some_and(|p| p >= now - self.n * DAY),
                    _ => true,
                };
                if keep {
                    kept.insert((repo.to_string(), i.seed.clone()));
                }
            }
        }
        kept
    }
}

/// What should remain after a run keeping these artifacts (by seed), in repositories the
/// policy selects; others stay whole.
fn expected(
    items: &[Item],
    kept: &BTreeSet<(String, String)>,
    selected_repos: &[&str],
) -> BTreeMap<String, (BTreeSet<String>, usize)> {
    let mut out = BTreeMap::new();
    for repo in ["app", "web"] {
        let stays = |i: &&Item| {
            !selected_repos.contains(&repo) || kept.contains(&(repo.to_string(), i.seed.clone()))
        };
        let here: Vec<&Item> = items
            .iter()
            .filter(|i| i.repo == repo)
            .filter(stays)
            .collect();
        let tags = here.iter().filter_map(|i| i.tag.clone()).collect();
        let untagged = here.iter().filter(|i| i.tag.is_none()).count();
        out.insert(repo.to_string(), (tags, untagged));
    }
    out
}

async fn create_policy(app: &App, project: &str, rules: Vec<Value>) -> i64 {
    let pid = app
        .api("GET", &format!("/projects/{project}"), Some(ADMIN), None)
        .await
        .body["project_id"]
        .as_i64()
        .expect("project id");
    let r = app
        .api(
            "POST",
            "/retentions",
            Some(ADMIN),
            Some(json!({"algorithm": "or", "rules": rules,
                        "trigger": {"kind": "Schedule", "settings": {"cron": ""}},
                        "scope": {"level": "project", "ref": pid}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = location_id(&r);
    let meta = app
        .api("GET", &format!("/projects/{project}"), Some(ADMIN), None)
        .await;
    assert_eq!(meta.body["metadata"]["retention_id"], id.to_string());
    id
}

fn location_id(r: &Reply) -> i64 {
    r.headers["location"]
        .to_str()
        .ok()
        .and_then(|l| l.rsplit('/').next())
        .and_then(|id| id.parse().ok())
        .expect("id in Location")
}

/// Runs the policy (or a dry run) to the end; returns the execution as the API shows it.
async fn run(app: &App, policy: i64, dry_run: bool) -> Value {
    let r = app
        .api(
            "POST",
            &format!("/retentions/{policy}/executions"),
            Some(ADMIN),
            Some(json!({"dry_run": dry_run})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let eid = location_id(&r);
    let e = app.state.jobs.wait(eid).await.expect("run");
    assert_eq!(e.status, "Success", "{e:?}");
    let list = app
        .api(
            "GET",
            &format!("/retentions/{policy}/executions"),
            Some(ADMIN),
            None,
        )
        .await;
    let found = list
        .body
        .as_array()
        .and_then(|a| a.iter().find(|x| x["id"] == eid).cloned())
        .expect("execution listed");
    assert_eq!(found["dry_run"], dry_run);
    found
}

/// The tasks of an execution, with each one's log.
async fn tasks(app: &App, policy: i64, eid: i64) -> Vec<(Value, String)> {
    let r = app
        .api(
            "GET",
            &format!("/retentions/{policy}/executions/{eid}/tasks"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut out = vec![];
    for t in r.body.as_array().cloned().unwrap_or_default() {
        let log = app
            .api(
                "GET",
                &format!("/retentions/{policy}/executions/{eid}/tasks/{}", t["id"]),
                Some(ADMIN),
                None,
            )
            .await;
        assert_eq!(log.status, 200);
        out.push((t, log.text));
    }
    out
}

/// A project's name, its policy's rules, the test's reading of them, and the repositories
/// they select.
type Case = (&'static str, Vec<Value>, Vec<Oracle>, Vec<&'static str>);

#[tokio::test]
async fn every_template_and_selector_keeps_exactly_the_expected_tags_and_a_dry_run_nothing() {
    let app = App::new().await;
    let now = berth::db::now();
    let cases: Vec<Case> = vec![
        (
            "pushed",
            vec![rule(
                "latestPushedK",
                5,
                ("**", false),
                ("**", false),
                false,
            )],
            vec![Oracle {
                template: "latestPushedK",
                n: 5,
                repo: |_| true,
                tag: |_| true,
                untagged: false,
            }],
            vec!["app", "web"],
        ),
        (
            "pulled",
            vec![rule(
                "latestPulledN",
                3,
                ("app", false),
                ("**", false),
                false,
            )],
            vec![Oracle {
                template: "latestPulledN",
                n: 3,
                repo: |r| r == "app",
                tag: |_| true,
                untagged: false,
            }],
            vec!["app"],
        ),
        (
            "active",
            vec![rule(
                "latestActiveK",
                4,
                ("**", false),
                ("t1*", true),
                false,
            )],
            vec![Oracle {
                template: "latestActiveK",
                n: 4,
                repo: |_| true,
                tag: |t| !t.starts_with("t1"),
                untagged: false,
            }],
            vec!["app", "web"],
        ),
        (
            "recentpush",
            vec![rule(
                "nDaysSinceLastPush",
                15,
                ("web", true),
                ("**", false),
                true,
            )],
            vec![Oracle {
                template: "nDaysSinceLastPush",
                n: 15,
                repo: |r| r != "web",
                tag: |_| true,
                untagged: true,
            }],
            vec!["app"],
        ),
        (
            "recentpull",
            vec![rule(
                "nDaysSinceLastPull",
                20,
                ("**", false),
                ("**", false),
                false,
            )],
            vec![Oracle {
                template: "nDaysSinceLastPull",
                n: 20,
                repo: |_| true,
                tag: |_| true,
                untagged: false,
            }],
            vec!["app", "web"],
        ),
        (
            "always",
            vec![
                rule("always", 0, ("web", false), ("w0*", false), false),
                rule(
                    "latestPushedK",
                    2,
                    ("{app,web}", false),
                    ("{t2*,w2*}", false),
                    false,
                ),
            ],
            vec![
                Oracle {
                    template: "always",
                    n: 0,
                    repo: |r| r == "web",
                    tag: |t| t.starts_with("w0"),
                    untagged: false,
                },
                Oracle {
                    template: "latestPushedK",
                    n: 2,
                    repo: |_| true,
                    tag: |t| t.starts_with("t2") || t.starts_with("w2"),
                    untagged: false,
                },
            ],
            vec!["app", "web"],
        ),
    ];
    for (name, rules, oracles, selected) in cases {
        let project = format!("ret-{name}");
        let items = fixture(&app, &project, now).await;
        let before = contents(&app, &project).await;
        assert_eq!(
            before.values().map(|(t, _)| t.len()).sum::<usize>(),
            60,
            "the fixture has 60 tags"
        );
        let policy = create_policy(&app, &project, rules).await;
        let kept: BTreeSet<(String, String)> =
            oracles.iter().flat_map(|o| o.kept(&items, now)).collect();
        let want = expected(&items, &kept, &selected);
        let artifacts_judged: usize = selected
            .iter()
            .map(|r| {
                items
                    .iter()
                    .filter(|i| i.repo == *r)
                    .map(|i| &i.seed)
                    .collect::<BTreeSet<_>>()
                    .len()
            })
            .sum();
        let artifacts_kept = kept
            .iter()
            .filter(|(r, _)| selected.contains(&r.as_str()))
            .count();

        // The dry run: the same judgement, nothing deleted.
        let dry = run(&app, policy, true).await;
        assert_eq!(
            contents(&app, &project).await,
            before,
            "{name}: a dry run deletes nothing"
        );
        assert_eq!(
            dry["result"]["total"], artifacts_judged as i64,
            "{name}: {dry}"
        );
        let dry_tasks = tasks(&app, policy, dry["id"].as_i64().expect("id")).await;
        assert_eq!(
            dry["result"]["retained"],
            artifacts_kept as i64,
            "{name}: {dry}\n{}",
            dry_tasks
                .iter()
                .map(|(_, l)| l.as_str())
                .collect::<String>()
        );
        assert_eq!(
            dry_tasks.len(),
            selected.len(),
            "{name}: one task per selected repository"
        );
        let would: usize = dry_tasks
            .iter()
            .map(|(_, log)| {
                log.lines()
                    .filter(|l| l.starts_with("would delete "))
                    .count()
            })
            .sum();
        let doomed_candidates = items
            .iter()
            .filter(|i| selected.contains(&i.repo))
            .filter(|i| !kept.contains(&(i.repo.to_string(), i.seed.clone())))
            .count();
        assert_eq!(
            would, doomed_candidates,
            "{name}: a log line per tag that would go"
        );
        assert!(dry_tasks
            .iter()
            .all(|(_, log)| !log.lines().any(|l| l.starts_with("delete "))));

        // The run.
        let done = run(&app, policy, false).await;
        assert_eq!(
            done["result"]["deleted"],
            (artifacts_judged - artifacts_kept) as i64,
            "{name}: {done}"
        );
        assert_eq!(contents(&app, &project).await, want, "{name}");
        let logs = tasks(&app, policy, done["id"].as_i64().expect("id")).await;
        for (t, log) in &logs {
            assert!(t["total"].as_i64() >= t["retained"].as_i64(), "{t}");
            for line in log.lines().filter(|l| l.starts_with("delete ")) {
                let why = [
                    "ranked it",
                    "does not select it",
                    "too long ago",
                    "never pulled",
                ];
                assert!(
                    line.contains(" (") && why.iter().any(|w| line.contains(w)),
                    "{name}: each deletion names its rules and why: {line}"
                );
            }
        }
    }
}

#[tokio::test]
async fn retention_keeps_immutable_tags_and_what_changed_during_the_run() {
    let app = App::new().await;
    let now = berth::db::now();
    let items = fixture(&app, "both", now).await;
    let r = app
        .api(
            "POST",
            "/projects/both/immutabletagrules",
            Some(ADMIN),
            Some(json!({"tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "w0{0,1}"}],
                        "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "web"}]}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let policy = create_policy(
        &app,
        "both",
        vec![rule(
            "latestPushedK",
            1,
            ("**", false),
            ("**", false),
            false,
        )],
    )
    .await;
    let done = run(&app, policy, false).await;
    let after = contents(&app, "both").await;
    assert_eq!(
        after["web"].0,
        ["w00", "w01", "w29"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        "the newest, and the two immutable tags"
    );
    assert_eq!(
        after["app"].0,
        ["stable", "t10"].iter().map(|s| s.to_string()).collect()
    );
    assert_eq!(
        after["app"].1, 0,
        "untagged artifacts go unless a rule selects them"
    );
    let logs = tasks(&app, policy, done["id"].as_i64().expect("id")).await;
    let web = logs
        .iter()
        .find(|(t, _)| t["repository"] == "both/web")
        .expect("web task");
    assert!(web.1.contains("retain both/web:w00"), "{}", web.1);
    assert!(web.1.contains(": immutable"), "{}", web.1);
    assert_eq!(web.0["retained"], 3);
    assert_eq!(web.0["total"], 30);
    assert!(items.len() > 60);

    // Judged, then changed before the deletion: a new tag on a doomed artifact saves it.
    let app2 = App::new().await;
    fixture(&app2, "race", now).await;
    let (repo_id, rows, immutable) = app2
        .state
        .db
        .read(|c| {
            let id = berth::db::registry::repository_id(c, "race/web")?.expect("repo");
            Ok::<_, DbError>((
                id,
                berth::db::retention::candidates(c, id)?,
                berth::service::immutability::Immutable::load(c, 0)?,
            ))
        })
        .await
        .expect("read");
    let mut wire: Vec<berth::retention::rules::RuleWire> = serde_json::from_value(json!([rule(
        "latestPushedK",
        1,
        ("**", false),
        ("**", false),
        false
    )]))
    .expect("rules");
    let compiled = berth::retention::rules::check(&mut wire).expect("valid");
    let refs: Vec<&berth::retention::rules::Rule> = compiled.iter().collect();
    let plan = berth::retention::plan(
        repo_id,
        "race/web",
        &refs,
        &rows,
        &immutable,
        now,
        now - 3600,
        false,
    );
    assert_eq!(plan.doomed.len(), 29);
    // Untagged artifacts pushed within the time window stay: a push may still need them.
    let (app_id, app_rows) = app2
        .state
        .db
        .read(|c| {
            let id = berth::db::registry::repository_id(c, "race/app")?.expect("repo");
            Ok::<_, DbError>((id, berth::db::retention::candidates(c, id)?))
        })
        .await
        .expect("read");
    let four_days_ago = now - 4 * DAY;
    let app_plan = berth::retention::plan(
        app_id,
        "race/app",
        &refs,
        &app_rows,
        &immutable,
        now,
        four_days_ago,
        true,
    );
    let untagged_doomed: Vec<_> = app_plan.doomed.iter().filter(|d| d.2.is_empty()).collect();
    assert_eq!(
        untagged_doomed.len(),
        1,
        "only the 50-day-old one: {untagged_doomed:?}"
    );
    assert!(app_plan
        .log
        .iter()
        .any(|l| l.contains("(untagged)") && l.contains("pushed within the time window")));
    let token = app2.token(ADMIN, "race/web").await;
    app2.image("race/web", &token, "late", "web-3").await;
    let pid = app2
        .api("GET", "/projects/race", Some(ADMIN), None)
        .await
        .body["project_id"]
        .as_i64()
        .expect("id");
    let (deleted, skipped) =
        berth::retention::apply(&app2.state.db, app2.state.registry.leases(), pid, &plan)
            .await
            .expect("apply");
    assert_eq!(deleted.len(), 28);
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(
        skipped[0].contains("tagged since it was judged"),
        "{skipped:?}"
    );
    let left = contents(&app2, "race").await;
    assert_eq!(
        left["web"].0,
        ["late", "w03", "w29"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
}

/// Immutability through `/v2/` and the REST API: a matching tag cannot move or go, nor can its
/// artifact; the same content may be pushed again, other tags of the artifact may go, and a
/// disabled rule protects nothing.
#[tokio::test]
async fn immutable_tags_refuse_overwrites_and_deletions() {
    let app = App::new().await;
    app.project(ADMIN, "imm", false).await;
    let token = app.token(ADMIN, "imm/app").await;
    let (first, _) = app.image("imm/app", &token, "v1", "one").await;
    app.image("imm/app", &token, "latest", "one").await;
    let r = app
        .api(
            "POST",
            "/projects/imm/immutabletagrules",
            Some(ADMIN),
            Some(json!({"tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "v*"}],
                        "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let rule_id = location_id(&r);

    // Another image to v1: DENIED with Harbor's message.
    let config = app.blob("imm/app", &token, b"{\"seed\":\"two\"}").await;
    let manifest = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 14},
        "layers": []})
    .to_string();
    let r = app
        .v2(
            "PUT",
            "imm/app/manifests/v1",
            &token,
            manifest.clone().into_bytes(),
            Some("application/vnd.oci.image.manifest.v1+json"),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.body["errors"][0]["code"], "DENIED");
    assert_eq!(
        r.body["errors"][0]["message"],
        "Failed to process request due to 'imm/app:v1' configured as immutable."
    );
    // A new tag that matches is fine, and so is pushing v1's own content again.
    let r = app
        .v2(
            "PUT",
            "imm/app/manifests/v2",
            &token,
            manifest.clone().into_bytes(),
            Some("application/vnd.oci.image.manifest.v1+json"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let (again, _) = app.image("imm/app", &token, "v1", "one").await;
    assert_eq!(again, first);

    // Deleting the tag or the artifact: refused on both APIs; other tags may go.
    let r = app
        .v2("DELETE", "imm/app/manifests/v1", &token, vec![], None)
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = app
        .v2(
            "DELETE",
            &format!("imm/app/manifests/{first}"),
            &token,
            vec![],
            None,
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = app
        .api(
            "DELETE",
            &format!("/projects/imm/repositories/app/artifacts/{first}/tags/v1"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(r.status, 412, "{}", r.text);
    assert!(r.text.contains("configured as immutable"), "{}", r.text);
    let r = app
        .api(
            "DELETE",
            &format!("/projects/imm/repositories/app/artifacts/{first}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(r.status, 412, "{}", r.text);
    let r = app
        .api(
            "DELETE",
            "/projects/imm/repositories/app",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(r.status, 412, "{}", r.text);
    let r = app
        .api(
            "DELETE",
            &format!("/projects/imm/repositories/app/artifacts/{first}/tags/latest"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // Limits and checks.
    let bad = app
        .api(
            "POST",
            "/projects/imm/immutabletagrules",
            Some(ADMIN),
            Some(json!({"tag_selectors": [{"kind": "regex", "decoration": "matches", "pattern": ".*"}],
                        "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}})),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    for i in 1..15 {
        let r = app
            .api(
                "POST",
                "/projects/imm/immutabletagrules",
                Some(ADMIN),
                Some(json!({"tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": format!("x{i}")}],
                            "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}})),
            )
            .await;
        assert_eq!(r.status, 201, "rule {i}: {}", r.text);
    }
    let r = app
        .api(
            "POST",
            "/projects/imm/immutabletagrules",
            Some(ADMIN),
            Some(json!({"tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "x16"}],
                        "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}})),
        )
        .await;
    assert_eq!(r.status, 400, "a 16th rule: {}", r.text);
    let list = app
        .api("GET", "/projects/imm/immutabletagrules", Some(ADMIN), None)
        .await;
    assert_eq!(list.headers["x-total-count"], "15");

    // An untagged index whose child has an immutable tag cannot be deleted either: the child
    // would go with it.
    let (child, _) = app.image("imm/app", &token, "v9-amd64", "child").await;
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": child,
                       "size": 400, "platform": {"architecture": "amd64", "os": "linux"}}]})
    .to_string();
    let index_digest = sha256(index.as_bytes());
    let r = app
        .v2(
            "PUT",
            &format!("imm/app/manifests/{index_digest}"),
            &token,
            index.into_bytes(),
            Some("application/vnd.oci.image.index.v1+json"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = app
        .v2(
            "DELETE",
            &format!("imm/app/manifests/{index_digest}"),
            &token,
            vec![],
            None,
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.text.contains("imm/app:v9-amd64"), "{}", r.text);
    let r = app
        .api(
            "DELETE",
            &format!("/projects/imm/repositories/app/artifacts/{index_digest}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(r.status, 412, "{}", r.text);

    // Disabled, the rule protects nothing.
    let r = app
        .api(
            "PUT",
            &format!("/projects/imm/immutabletagrules/{rule_id}"),
            Some(ADMIN),
            Some(json!({"id": rule_id, "disabled": true})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .v2(
            "PUT",
            "imm/app/manifests/v1",
            &token,
            manifest.into_bytes(),
            Some("application/vnd.oci.image.manifest.v1+json"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // A rule id of another project is not found here.
    app.project(ADMIN, "other", false).await;
    let r = app
        .api(
            "DELETE",
            &format!("/projects/other/immutabletagrules/{rule_id}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
}

async fn quota_of(app: &App, project: &str) -> (i64, i64, i64) {
    let r = app
        .api(
            "GET",
            &format!("/projects/{project}/summary"),
            Some(ADMIN),
            None,
        )
        .await;
    let hard = r.body["quota"]["hard"]["storage"].as_i64().expect("hard");
    let used = r.body["quota"]["used"]["storage"].as_i64().expect("used");
    let pid = app
        .api("GET", &format!("/projects/{project}"), Some(ADMIN), None)
        .await
        .body["project_id"]
        .as_i64()
        .expect("id");
    let q = app
        .api(
            "GET",
            &format!("/quotas?reference=project&reference_id={pid}"),
            Some(ADMIN),
            None,
        )
        .await;
    let q = &q.body[0];
    assert_eq!(q["used"]["storage"], used);
    assert_eq!(q["hard"]["storage"], hard);
    assert_eq!(q["ref"]["name"], project);
    let recount = app.state.quotas.recount(pid).await.expect("recount");
    assert_eq!(used, recount, "the running figure is the recount");
    (q["id"].as_i64().expect("quota id"), hard, used)
}

/// Usage, limits and the three places a push is refused.
#[tokio::test]
async fn quotas_count_each_blob_once_and_refuse_what_does_not_fit() {
    let app = App::with(|c| c.gc.time_window_minutes = 0).await;
    // Only a system administrator sets a limit at creation; anyone else's is ignored, as in
    // Harbor, and the project gets the default.
    app.user("alice").await;
    let r = app
        .api(
            "POST",
            "/projects",
            Some(("alice", PASSWORD)),
            Some(json!({"project_name": "mine", "storage_limit": 1000})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(quota_of(&app, "mine").await.1, -1);
    let r = app
        .api(
            "POST",
            "/projects",
            Some(ADMIN),
            Some(json!({"project_name": "q", "storage_limit": 2000})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let (qid, hard, used) = quota_of(&app, "q").await;
    assert_eq!((hard, used), (2000, 0));

    let token = app.token(ADMIN, "q/a").await;
    let big = vec![7u8; 1500];
    let d = app.blob("q/a", &token, &big).await;
    assert_eq!(quota_of(&app, "q").await.2, 1500);
    // The same blob in another repository of the project costs nothing more.
    let token_b = app
        .token_for(ADMIN, &["repository:q/b:pull,push", "repository:q/a:pull"])
        .await;
    let r = app
        .v2(
            "POST",
            &format!("q/b/blobs/uploads/?mount={d}&from=q/a"),
            &token_b,
            vec![],
            None,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(quota_of(&app, "q").await.2, 1500);
    // An upload that does not fit: DENIED naming the project, its limit and usage.
    let r = app
        .v2(
            "POST",
            &format!("q/a/blobs/uploads/?digest={}", sha256(&[1u8; 600])),
            &token,
            vec![1u8; 600],
            None,
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.body["errors"][0]["code"], "DENIED");
    let message = r.body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("project q"), "{message}");
    assert!(
        message.contains("2000 bytes") || message.contains("(2000 bytes)"),
        "{message}"
    );
    assert!(message.contains("1500"), "{message}");
    assert_eq!(quota_of(&app, "q").await.2, 1500, "nothing stored");
    // A mount from another project that does not fit.
    app.project(ADMIN, "src", false).await;
    let src = app.token(ADMIN, "src/x").await;
    let other = app.blob("src/x", &src, &[2u8; 700]).await;
    let token_m = app
        .token_for(
            ADMIN,
            &["repository:q/a:pull,push", "repository:src/x:pull"],
        )
        .await;
    let r = app
        .v2(
            "POST",
            &format!("q/a/blobs/uploads/?mount={other}&from=src/x"),
            &token_m,
            vec![],
            None,
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.body["errors"][0]["code"], "DENIED");
    // A manifest that does not fit.
    let config = app.blob("q/a", &token, b"{}").await;
    assert_eq!(quota_of(&app, "q").await.2, 1502);
    let manifest = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": 1500}],
        "annotations": {"pad": "x".repeat(600)}})
    .to_string();
    let r = app
        .v2(
            "PUT",
            "q/a/manifests/v1",
            &token,
            manifest.clone().into_bytes(),
            Some("application/vnd.oci.image.manifest.v1+json"),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);

    // A limit below usage is refused, with the usage; a limit that fits is taken.
    let r = app
        .api(
            "PUT",
            &format!("/quotas/{qid}"),
            Some(ADMIN),
            Some(json!({"hard": {"storage": 1000}})),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.text.contains("1502"), "{}", r.text);
    let r = app
        .api(
            "PUT",
            &format!("/quotas/{qid}"),
            Some(ADMIN),
            Some(json!({"hard": {"storage": 4000}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["hard"]["storage"], 4000);
    let r = app
        .api(
            "PUT",
            &format!("/quotas/{qid}"),
            Some(ADMIN),
            Some(json!({"hard": {"count": 1}})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = app
        .v2(
            "PUT",
            "q/a/manifests/v1",
            &token,
            manifest.clone().into_bytes(),
            Some("application/vnd.oci.image.manifest.v1+json"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let with_manifest = 1502 + manifest.len() as i64;
    assert_eq!(quota_of(&app, "q").await.2, with_manifest);

    // Off: nothing is refused, usage still counted.
    let r = app
        .api(
            "PUT",
            "/configurations",
            Some(ADMIN),
            Some(json!({"quota_per_project_enable": false})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let huge = vec![3u8; 5000];
    let huge_digest = app.blob("q/a", &token, &huge).await;
    assert_eq!(quota_of(&app, "q").await.2, with_manifest + 5000);

    // Deleting the artifact keeps its blobs counted until garbage collection frees them.
    let digest = sha256(manifest.as_bytes());
    let r = app
        .api(
            "DELETE",
            &format!("/projects/q/repositories/a/artifacts/{digest}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(quota_of(&app, "q").await.2, 1502 + 5000);
    app.state
        .db
        .write(|tx| {
            tx.execute_batch(
                "UPDATE blobs SET last_seen = last_seen - 3600, created_at = created_at - 3600;
                 UPDATE repository_blobs SET linked_at = linked_at - 3600;",
            )?;
            Ok::<_, DbError>(())
        })
        .await
        .expect("age");
    // The pushers' claims end (their tokens' lifetime, in real time).
    let leases = app.state.registry.leases();
    leases.release("q/a", [&huge_digest, &d, &config]);
    leases.release("q/b", [&d]);
    let r = app
        .api(
            "POST",
            "/system/gc/schedule",
            Some(ADMIN),
            Some(json!({"schedule": {"type": "Manual"}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let e = app.state.jobs.wait(location_id(&r)).await.expect("gc");
    assert_eq!(e.status, "Success", "{e:?}");
    assert_eq!(quota_of(&app, "q").await.2, 0, "GC freed everything");
}

/// A scheduled policy runs by itself; deleting it waits for no run in progress, and its
/// schedule goes with it (also when its project's deletion takes it).
#[tokio::test]
async fn a_schedule_runs_the_policy_and_goes_with_it() {
    let app = App::new().await;
    let now = berth::db::now();
    fixture(&app, "sched", now).await;
    let pid = app
        .api("GET", "/projects/sched", Some(ADMIN), None)
        .await
        .body["project_id"]
        .as_i64()
        .expect("id");
    let r = app
        .api(
            "POST",
            "/retentions",
            Some(ADMIN),
            Some(
                json!({"rules": [rule("latestPushedK", 3, ("**", false), ("**", false), false)],
                        "trigger": {"kind": "Schedule", "settings": {"cron": "0 0 3 * * *"}},
                        "scope": {"level": "project", "ref": pid}}),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let policy = location_id(&r);
    let key = format!("retention:{policy}");
    let schedules = |app: &App| {
        let key = key.clone();
        let db = app.state.db.clone();
        async move {
            db.read(move |c| {
                Ok::<_, DbError>(c.query_row(
                    "SELECT COUNT(*) FROM job_schedules WHERE kind = ?1",
                    [&key],
                    |r| r.get::<_, i64>(0),
                )?)
            })
            .await
            .expect("read")
        }
    };
    assert_eq!(schedules(&app).await, 1);
    // Due now: the runner's next round queues a run triggered by the schedule.
    let k = key.clone();
    app.state
        .db
        .write(move |tx| {
            tx.execute(
                "UPDATE job_schedules SET next_run = 0 WHERE kind = ?1",
                [&k],
            )?;
            Ok::<_, DbError>(())
        })
        .await
        .expect("due");
    app.state.jobs.run_once().await.expect("round");
    let list = app
        .api(
            "GET",
            &format!("/retentions/{policy}/executions"),
            Some(ADMIN),
            None,
        )
        .await;
    let e = &list.body[0];
    assert_eq!(e["trigger"], "SCHEDULE", "{}", list.text);
    assert_eq!(e["dry_run"], false);
    let eid = e["id"].as_i64().expect("id");
    // While it waits or runs, the policy cannot be deleted.
    let status = app
        .state
        .jobs
        .execution(eid)
        .await
        .expect("execution")
        .status;
    if matches!(status.as_str(), "Pending" | "Running") {
        let r = app
            .api(
                "DELETE",
                &format!("/retentions/{policy}"),
                Some(ADMIN),
                None,
            )
            .await;
        assert_eq!(r.status, 409, "{}", r.text);
    }
    let done = app.state.jobs.wait(eid).await.expect("run");
    assert_eq!(done.status, "Success");
    assert_eq!(contents(&app, "sched").await["web"].0.len(), 3);
    // Deleted with its project (repositories first), the schedule goes too.
    for repo in ["app", "web"] {
        let r = app
            .api(
                "DELETE",
                &format!("/projects/sched/repositories/{repo}"),
                Some(ADMIN),
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let r = app
        .api("DELETE", "/projects/sched", Some(ADMIN), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        schedules(&app).await,
        0,
        "the schedule went with the policy"
    );
    let r = app
        .api("GET", &format!("/retentions/{policy}"), Some(ADMIN), None)
        .await;
    assert_eq!(r.status, 404);
}
