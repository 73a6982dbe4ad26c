//! The OpenAPI 3 document of exactly the REST operations Berth implements, in Harbor's paths
//! and shapes, served at `/api/v2.0/openapi.json`. A test checks it against [`super::operations`]
//! both ways, and the contract test runs schemathesis against it.

use axum::Json;
use serde_json::{json, Map, Value};

pub(super) async fn serve() -> Json<Value> {
    Json(document())
}

fn r(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// Harbor's project (and robot) name rule, `^[a-z0-9]+(?:[._-][a-z0-9]+)*$`, with a length
/// bound written into the pattern (a subset; generators handle it far better than `maxLength`).
const NAME: &str = "^[a-z0-9]{1,30}(?:[._-][a-z0-9]{1,30}){0,3}$";
/// A repository name inside its project: up to three path components of the OCI spec's form
/// (a subset: the spec allows more components, and `__` or runs of `-` as separators).
const REPOSITORY: &str = "^[a-z0-9]{1,30}(?:[._-][a-z0-9]{1,30}){0,2}(?:/[a-z0-9]{1,30}(?:[._-][a-z0-9]{1,30}){0,2}){0,2}$";
/// Six-field crons: second, minute, hour (or `*`), then every day (a subset of what is accepted).
const CRON: &str =
    "^(?:[0-9]|[1-5][0-9]) (?:[0-9]|[1-5][0-9]) (?:\\*|[0-9]|1[0-9]|2[0-3]) \\* \\* \\*$";
const TAG: &str = "^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$";
/// Selector patterns: `**`, or a name that may end in `*`, per path component (a subset of
/// the doublestar patterns accepted, which also take `?`, `{a,b}` and `*` anywhere).
const SELECTOR: &str =
    "^(?:\\*\\*|[a-z0-9._-]{1,20}\\*?)(?:/(?:\\*\\*|[a-z0-9._-]{1,20}\\*?)){0,2}$";
const REFERENCE: &str =
    "^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}|[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127})$";
/// Passwords and robot secrets must hold an upper-case letter, a lower-case letter and a digit,
/// in 8 to 128 characters. JSON Schema has no look-ahead that every tool supports, so the
/// document declares a strict subset of what is accepted: those three first, then the rest.
const PASSWORD: &str = "^[A-Z][a-z][0-9][A-Za-z0-9]{5,125}$";
/// Usernames and e-mail addresses: subsets of what is accepted, for the same reason.
const USERNAME: &str = "^[a-z][a-z0-9._-]{0,63}$";
const EMAIL: &str = "^[a-z0-9]{1,32}@[a-z0-9]{1,32}\\.[a-z]{2,8}$";

fn path_param(name: &str) -> Value {
    let schema = match name {
        "project_name" | "project_name_or_id" => json!({"type": "string", "pattern": NAME}),
        "repository_name" => json!({"type": "string", "pattern": REPOSITORY}),
        "reference" => json!({"type": "string", "pattern": REFERENCE}),
        "tag_name" => json!({"type": "string", "pattern": TAG}),
        _ => json!({"type": "integer", "minimum": 1, "maximum": 9_007_199_254_740_991i64}),
    };
    json!({"name": name, "in": "path", "required": true, "schema": schema})
}

/// A `q` whose terms use only these keys, each `k=v` or `k=~v`. (Ranges, `{a b}` sets and the
/// time keys are accepted too, and described, but not generated.)
fn q_param(keys: &[&str]) -> Value {
    let key = format!("(?:{})", keys.join("|"));
    let term = format!("{key}=~?[a-zA-Z0-9._/:-]*");
    query(
        "q",
        json!({"type": "string", "pattern": format!("^{term}(?:,{term})*$")}),
        "Harbor's query: k=v, k=~v (fuzzy), k=[a~b] (range), k={a b} (any of).",
    )
}

fn query(name: &str, schema: Value, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "schema": schema, "description": description})
}

fn paging() -> Vec<Value> {
    vec![
        query(
            "page",
            json!({"type": "integer", "minimum": 1, "maximum": 1_000_000_000i64, "default": 1}),
            "Page number, from 1.",
        ),
        query(
            "page_size",
            json!({"type": "integer", "minimum": 1, "maximum": 100, "default": 10}),
            "Items per page, at most 100.",
        ),
    ]
}

fn paging_q(keys: &[&str]) -> Vec<Value> {
    let mut p = paging();
    p.push(q_param(keys));
    p
}

fn json_body(schema: Value) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": schema}}})
}

fn ok(code: &str, schema: Option<Value>) -> Value {
    let mut responses = Map::new();
    let mut ok = json!({"description": "Success."});
    if let Some(s) = schema {
        ok["content"] = json!({"application/json": {"schema": s}});
    }
    responses.insert(code.into(), ok);
    responses.insert(
        "default".into(),
        json!({"description": "An error, in Harbor's shape.", "content": {"application/json": {"schema": r("Errors")}}}),
    );
    Value::Object(responses)
}

fn listing(item: &str) -> Value {
    let mut responses = ok("200", Some(json!({"type": "array", "items": r(item)})));
    responses["200"]["headers"] = json!({
        "X-Total-Count": {"schema": {"type": "integer"}, "description": "Items in all pages."},
        "Link": {"schema": {"type": "string"}, "description": "Links to the previous and next pages."},
    });
    responses
}

fn created() -> Value {
    let mut responses = ok("201", None);
    responses["201"]["headers"] =
        json!({"Location": {"schema": {"type": "string"}, "description": "The new resource."}});
    responses
}

fn op(summary: &str, parameters: Vec<Value>, body: Option<Value>, responses: Value) -> Value {
    let mut o = json!({"summary": summary, "parameters": parameters, "responses": responses});
    if let Some(b) = body {
        o["requestBody"] = b;
    }
    o
}

const PROJECT: &str = "/api/v2.0/projects/{project_name_or_id}";
const REPO: &str = "/api/v2.0/projects/{project_name}/repositories/{repository_name}";

fn paths() -> Value {
    let p = path_param;
    let project = || p("project_name_or_id");
    let repo = || vec![p("project_name"), p("repository_name")];
    let artifact = || vec![p("project_name"), p("repository_name"), p("reference")];
    let mut paths = Map::new();
    let mut add = |path: String, method: &str, o: Value| {
        let entry = paths.entry(path).or_insert_with(|| json!({}));
        entry[method] = o;
    };
    let text = json!({"200": {"description": "Pong", "content": {"text/plain": {"schema": {"type": "string"}}}}});
    add(
        "/api/v2.0/ping".into(),
        "get",
        op("Check that the API serves.", vec![], None, text),
    );
    let mut health = ok("200", Some(r("Health")));
    health["503"] = json!({"description": "A component is unhealthy.", "content": {"application/json": {"schema": r("Health")}}});
    add(
        "/api/v2.0/health".into(),
        "get",
        op("The health of each component.", vec![], None, health),
    );
    add(
        "/api/v2.0/systeminfo".into(),
        "get",
        op(
            "General information about this registry.",
            vec![],
            None,
            ok("200", Some(r("GeneralInfo"))),
        ),
    );
    add(
        "/api/v2.0/statistics".into(),
        "get",
        op(
            "Counts of projects, repositories and storage.",
            vec![],
            None,
            ok("200", Some(r("Statistic"))),
        ),
    );
    add(
        "/api/v2.0/search".into(),
        "get",
        op(
            "Projects and repositories whose names contain q.",
            vec![
                json!({"name": "q", "in": "query", "required": true, "schema": {"type": "string"}}),
            ],
            None,
            ok("200", Some(r("Search"))),
        ),
    );

    let mut list_params = paging();
    list_params.push(query(
        "name",
        json!({"type": "string"}),
        "Part of the project name.",
    ));
    list_params.push(query(
        "public",
        json!({"type": "boolean"}),
        "Only public, or only private, projects.",
    ));
    list_params.push(query(
        "owner",
        json!({"type": "string"}),
        "The owner's username.",
    ));
    add(
        "/api/v2.0/projects".into(),
        "get",
        op(
            "List the projects the caller may see.",
            list_params,
            None,
            listing("Project"),
        ),
    );
    add(
        "/api/v2.0/projects".into(),
        "head",
        op(
            "Check whether a project name is taken.",
            vec![
                json!({"name": "project_name", "in": "query", "required": true, "schema": {"type": "string"}}),
            ],
            None,
            json!({"200": {"description": "Taken."}, "404": {"description": "Free."}, "default": {"description": "An error."}}),
        ),
    );
    add(
        "/api/v2.0/projects".into(),
        "post",
        op(
            "Create a project.",
            vec![],
            Some(json_body(r("ProjectReq"))),
            created(),
        ),
    );
    add(
        PROJECT.into(),
        "get",
        op(
            "Get a project.",
            vec![project()],
            None,
            ok("200", Some(r("Project"))),
        ),
    );
    add(
        PROJECT.into(),
        "put",
        op(
            "Update a project's settings.",
            vec![project()],
            Some(json_body(r("ProjectReq"))),
            ok("200", None),
        ),
    );
    add(
        PROJECT.into(),
        "delete",
        op(
            "Delete an empty project (412 while it holds repositories).",
            vec![project()],
            None,
            {
                let mut responses = ok("200", None);
                responses["412"] = json!({"description": "The project still holds repositories.", "content": {"application/json": {"schema": r("Errors")}}});
                responses
            },
        ),
    );
    add(
        format!("{PROJECT}/summary"),
        "get",
        op(
            "A project's figures.",
            vec![project()],
            None,
            ok("200", Some(r("ProjectSummary"))),
        ),
    );
    let mut member_params = vec![project()];
    member_params.extend(paging());
    member_params.push(query(
        "entityname",
        json!({"type": "string"}),
        "Part of the member's name.",
    ));
    add(
        format!("{PROJECT}/members"),
        "get",
        op(
            "List a project's members.",
            member_params,
            None,
            listing("ProjectMemberEntity"),
        ),
    );
    add(
        format!("{PROJECT}/members"),
        "post",
        op(
            "Add a member.",
            vec![project()],
            Some(json_body(r("ProjectMember"))),
            created(),
        ),
    );
    let member = || vec![project(), p("mid")];
    add(
        format!("{PROJECT}/members/{{mid}}"),
        "get",
        op(
            "Get a member.",
            member(),
            None,
            ok("200", Some(r("ProjectMemberEntity"))),
        ),
    );
    add(
        format!("{PROJECT}/members/{{mid}}"),
        "put",
        op(
            "Change a member's role.",
            member(),
            Some(json_body(r("RoleRequest"))),
            ok("200", None),
        ),
    );
    add(
        format!("{PROJECT}/members/{{mid}}"),
        "delete",
        op("Remove a member.", member(), None, ok("200", None)),
    );
    let mut logs = vec![project()];
    logs.extend(paging());
    add(
        format!("{PROJECT}/logs"),
        "get",
        op("A project's audit log.", logs, None, listing("AuditLog")),
    );
    add(
        "/api/v2.0/audit-logs".into(),
        "get",
        op(
            "The whole audit log (system admins).",
            paging(),
            None,
            listing("AuditLog"),
        ),
    );

    let mut repo_list = paging_q(&["name", "project_id"]);
    repo_list.push(query("sort", json!({"type": "string", "enum": ["name", "-name", "creation_time", "-creation_time", "update_time", "-update_time", "pull_count", "-pull_count"]}), "Sort order."));
    add(
        "/api/v2.0/repositories".into(),
        "get",
        op(
            "List repositories the caller may see.",
            repo_list.clone(),
            None,
            listing("Repository"),
        ),
    );
    let mut in_project = vec![p("project_name")];
    in_project.extend(repo_list);
    add(
        "/api/v2.0/projects/{project_name}/repositories".into(),
        "get",
        op(
            "List a project's repositories.",
            in_project,
            None,
            listing("Repository"),
        ),
    );
    add(
        REPO.into(),
        "get",
        op(
            "Get a repository.",
            repo(),
            None,
            ok("200", Some(r("Repository"))),
        ),
    );
    add(
        REPO.into(),
        "delete",
        op(
            "Delete a repository with its artifacts.",
            repo(),
            None,
            ok("200", None),
        ),
    );
    let mut artifacts = repo();
    artifacts.extend(paging_q(&["digest", "tags", "media_type", "type"]));
    artifacts.push(query(
        "with_tag",
        json!({"type": "boolean", "default": true}),
        "Include tags.",
    ));
    artifacts.push(query(
        "sort",
        json!({"type": "string", "enum": ["push_time", "-push_time", "pull_time", "-pull_time"]}),
        "Sort order.",
    ));
    add(
        format!("{REPO}/artifacts"),
        "get",
        op(
            "List a repository's artifacts.",
            artifacts,
            None,
            listing("Artifact"),
        ),
    );
    add(
        format!("{REPO}/artifacts/{{reference}}"),
        "get",
        op(
            "Get an artifact by digest or tag.",
            artifact(),
            None,
            ok("200", Some(r("Artifact"))),
        ),
    );
    add(
        format!("{REPO}/artifacts/{{reference}}"),
        "delete",
        op(
            "Delete an artifact and its tags.",
            artifact(),
            None,
            ok("200", None),
        ),
    );
    let mut tags = artifact();
    tags.extend(paging_q(&["name"]));
    add(
        format!("{REPO}/artifacts/{{reference}}/tags"),
        "get",
        op("List an artifact's tags.", tags, None, listing("Tag")),
    );
    add(
        format!("{REPO}/artifacts/{{reference}}/tags"),
        "post",
        op(
            "Tag an artifact.",
            artifact(),
            Some(json_body(r("TagReq"))),
            created(),
        ),
    );
    let mut tag = artifact();
    tag.push(p("tag_name"));
    add(
        format!("{REPO}/artifacts/{{reference}}/tags/{{tag_name}}"),
        "delete",
        op("Remove a tag.", tag, None, ok("200", None)),
    );

    add(
        "/api/v2.0/robots".into(),
        "get",
        op("List robot accounts.", paging(), None, listing("Robot")),
    );
    let mut robot_created = created();
    robot_created["201"]["content"] = json!({"application/json": {"schema": r("RobotCreated")}});
    add(
        "/api/v2.0/robots".into(),
        "post",
        op(
            "Create a robot account.",
            vec![],
            Some(json_body(r("RobotCreate"))),
            robot_created,
        ),
    );
    let robot = || vec![p("robot_id")];
    add(
        "/api/v2.0/robots/{robot_id}".into(),
        "get",
        op(
            "Get a robot account.",
            robot(),
            None,
            ok("200", Some(r("Robot"))),
        ),
    );
    add(
        "/api/v2.0/robots/{robot_id}".into(),
        "put",
        op(
            "Update a robot account (its name is ignored: robots cannot be renamed).",
            robot(),
            Some(json_body(r("RobotCreate"))),
            ok("200", None),
        ),
    );
    add(
        "/api/v2.0/robots/{robot_id}".into(),
        "patch",
        op(
            "Refresh a robot's secret.",
            robot(),
            Some(json_body(r("RobotSec"))),
            ok("200", Some(r("RobotSecret"))),
        ),
    );
    add(
        "/api/v2.0/robots/{robot_id}".into(),
        "delete",
        op("Delete a robot account.", robot(), None, ok("200", None)),
    );

    add(
        "/api/v2.0/users".into(),
        "get",
        op(
            "List users (system admins).",
            paging(),
            None,
            listing("UserResp"),
        ),
    );
    add(
        "/api/v2.0/users".into(),
        "post",
        op(
            "Create a user.",
            vec![],
            Some(json_body(r("UserCreationReq"))),
            created(),
        ),
    );
    add(
        "/api/v2.0/users/current".into(),
        "get",
        op(
            "The signed-in user.",
            vec![],
            None,
            ok("200", Some(r("UserResp"))),
        ),
    );
    let mut search = vec![
        json!({"name": "username", "in": "query", "required": true, "schema": {"type": "string"}}),
    ];
    search.extend(paging());
    add(
        "/api/v2.0/users/search".into(),
        "get",
        op(
            "Find users by part of their name.",
            search,
            None,
            listing("UserSearchRespItem"),
        ),
    );
    let user = || vec![p("user_id")];
    add(
        "/api/v2.0/users/{user_id}".into(),
        "get",
        op("Get a user.", user(), None, ok("200", Some(r("UserResp")))),
    );
    add(
        "/api/v2.0/users/{user_id}".into(),
        "put",
        op(
            "Update a user's profile.",
            user(),
            Some(json_body(r("UserProfile"))),
            ok("200", None),
        ),
    );
    add(
        "/api/v2.0/users/{user_id}".into(),
        "delete",
        op("Delete a user.", user(), None, ok("200", None)),
    );
    add(
        "/api/v2.0/users/{user_id}/password".into(),
        "put",
        op(
            "Change a password.",
            user(),
            Some(json_body(r("PasswordReq"))),
            ok("200", None),
        ),
    );
    add(
        "/api/v2.0/users/{user_id}/sysadmin".into(),
        "put",
        op(
            "Grant or revoke system admin.",
            user(),
            Some(json_body(r("UserSysAdminFlag"))),
            ok("200", None),
        ),
    );
    let mut cert = ok("200", None);
    cert["200"]["content"] =
        json!({"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}});
    cert["200"]["headers"] = json!({"Content-Disposition": {"schema": {"type": "string"}, "description": "attachment; filename=\"ca.crt\""}});
    add(
        "/api/v2.0/systeminfo/getcert".into(),
        "get",
        op(
            "Download the CA certificate clients should trust (404 when none is configured).",
            vec![],
            None,
            cert,
        ),
    );
    add(
        "/api/v2.0/systeminfo/volumes".into(),
        "get",
        op(
            "Total and free bytes of the blob store's volume (system admins).",
            vec![],
            None,
            ok("200", Some(r("SystemInfo"))),
        ),
    );
    add(
        "/api/v2.0/configurations".into(),
        "get",
        op(
            "The run-time settings, each as {value, editable} (system admins). The LDAP search password is never shown.",
            vec![],
            None,
            ok("200", Some(r("ConfigurationsResponse"))),
        ),
    );
    add(
        "/api/v2.0/configurations".into(),
        "put",
        op(
            "Change run-time settings by key; they take effect at once. Unknown or read-only keys are refused, and nothing changes unless everything is valid.",
            vec![],
            Some(json_body(r("Configurations"))),
            ok("200", None),
        ),
    );
    add(
        "/api/v2.0/system/gc".into(),
        "get",
        op(
            "Garbage collection runs, newest first.",
            paging(),
            None,
            listing("GCHistory"),
        ),
    );
    let gc = || vec![p("gc_id")];
    add(
        "/api/v2.0/system/gc/{gc_id}".into(),
        "get",
        op(
            "One garbage collection run, with its progress and result.",
            gc(),
            None,
            ok("200", Some(r("GCHistory"))),
        ),
    );
    add(
        "/api/v2.0/system/gc/{gc_id}".into(),
        "put",
        op(
            "Stop a run; what it deleted stays deleted.",
            gc(),
            None,
            ok("200", None),
        ),
    );
    let mut gc_log = ok("200", None);
    gc_log["200"]["content"] = json!({"text/plain": {"schema": {"type": "string"}}});
    add(
        "/api/v2.0/system/gc/{gc_id}/log".into(),
        "get",
        op("A run's log, readable while it runs.", gc(), None, gc_log),
    );
    add(
        "/api/v2.0/system/gc/schedule".into(),
        "get",
        op(
            "The schedule and the parameters its runs get.",
            vec![],
            None,
            ok("200", Some(r("GCSchedule"))),
        ),
    );
    add(
        "/api/v2.0/system/gc/schedule".into(),
        "post",
        op(
            "Run now (type Manual; Location names the run) or create the schedule.",
            vec![],
            Some(json_body(r("ScheduleReq"))),
            created(),
        ),
    );
    add(
        "/api/v2.0/system/gc/schedule".into(),
        "put",
        op(
            "Change the schedule (type None removes it).",
            vec![],
            Some(json_body(r("ScheduleUpdate"))),
            ok("200", None),
        ),
    );
    let group = || vec![p("group_id")];
    let mut group_list = paging();
    group_list.push(query(
        "group_name",
        json!({"type": "string"}),
        "Only groups whose name contains this.",
    ));
    group_list.push(query(
        "ldap_group_dn",
        json!({"type": "string"}),
        "Only the group with this DN.",
    ));
    add(
        "/api/v2.0/usergroups".into(),
        "get",
        op(
            "List user groups (system admins).",
            group_list,
            None,
            listing("UserGroup"),
        ),
    );
    add(
        "/api/v2.0/usergroups".into(),
        "post",
        op(
            "Create a user group for an LDAP group the directory has.",
            vec![],
            Some(json_body(r("UserGroupReq"))),
            created(),
        ),
    );
    let mut group_search = vec![
        json!({"name": "groupname", "in": "query", "required": true, "schema": {"type": "string"}}),
    ];
    group_search.extend(paging());
    add(
        "/api/v2.0/usergroups/search".into(),
        "get",
        op(
            "Find user groups by part of their name.",
            group_search,
            None,
            listing("UserGroupSearchItem"),
        ),
    );
    add(
        "/api/v2.0/usergroups/{group_id}".into(),
        "get",
        op(
            "Get a user group.",
            group(),
            None,
            ok("200", Some(r("UserGroup"))),
        ),
    );
    add(
        "/api/v2.0/usergroups/{group_id}".into(),
        "put",
        op(
            "Rename a user group.",
            group(),
            Some(json_body(r("UserGroupRename"))),
            ok("200", None),
        ),
    );
    add(
        "/api/v2.0/usergroups/{group_id}".into(),
        "delete",
        op(
            "Delete a user group and its memberships.",
            group(),
            None,
            ok("200", None),
        ),
    );
    let mut ping_body = json_body(r("LdapConf"));
    ping_body["required"] = json!(false);
    add(
        "/api/v2.0/ldap/ping".into(),
        "post",
        op(
            "Test LDAP settings (the saved ones, or the given ones over them); the message names the step that failed.",
            vec![],
            Some(ping_body),
            ok("200", Some(r("LdapPingResult"))),
        ),
    );
    add(
        "/api/v2.0/ldap/users/search".into(),
        "get",
        op(
            "Find directory users by part of their login name.",
            vec![query(
                "username",
                json!({"type": "string"}),
                "Part of a login name.",
            )],
            None,
            ok(
                "200",
                Some(json!({"type": "array", "items": r("LdapUser")})),
            ),
        ),
    );
    let mut import = ok("200", None);
    import["404"] = json!({"description": "Some users could not be imported.", "content": {"application/json": {"schema": {"type": "array", "items": r("LdapFailedImportUser")}}}});
    add(
        "/api/v2.0/ldap/users/import".into(),
        "post",
        op(
            "Import directory users (create their local records).",
            vec![],
            Some(json_body(r("LdapImportUsers"))),
            import,
        ),
    );
    add(
        "/api/v2.0/ldap/groups/search".into(),
        "get",
        op(
            "Find directory groups by part of their name, or by DN.",
            vec![
                query(
                    "groupname",
                    json!({"type": "string"}),
                    "Part of a group name.",
                ),
                query("groupdn", json!({"type": "string"}), "A group's DN."),
            ],
            None,
            ok(
                "200",
                Some(json!({"type": "array", "items": r("LdapGroup")})),
            ),
        ),
    );
    replication_paths(&mut add);
    policy_paths(&mut add);
    Value::Object(paths)
}

/// Retention, immutability and quotas (Harbor's).
fn policy_paths(add: &mut impl FnMut(String, &str, Value)) {
    let p = path_param;
    let one = || vec![p("id")];
    let execution = || vec![p("id"), p("eid")];
    let mut text = ok("200", None);
    text["200"]["content"] = json!({"text/plain": {"schema": {"type": "string"}}});
    let mut quotas = paging();
    quotas.push(query(
        "reference",
        json!({"type": "string", "enum": ["project"]}),
        "The kind of owner: project.",
    ));
    quotas.push(query(
        "reference_id",
        json!({"type": "integer", "minimum": 1}),
        "Only this project's quota.",
    ));
    quotas.push(query("sort", json!({"type": "string", "enum": ["hard.storage", "-hard.storage", "used.storage", "-used.storage", "creation_time", "-creation_time"]}), "Order."));
    add("/api/v2.0/quotas".into(), "get", op("Projects' storage quotas (sysadmin). Usage counts each blob and manifest once per project.", quotas, None, listing("Quota")));
    add(
        "/api/v2.0/quotas/{id}".into(),
        "get",
        op(
            "One quota (sysadmin).",
            one(),
            None,
            ok("200", Some(r("Quota"))),
        ),
    );
    add("/api/v2.0/quotas/{id}".into(), "put", op("Change a project's limit (sysadmin): -1 for none; a limit below what the project stores is refused (409).", one(), Some(json_body(r("QuotaUpdateReq"))), ok("200", Some(r("Quota")))));
    add(
        "/api/v2.0/retentions/metadatas".into(),
        "get",
        op(
            "Rule templates and selectors.",
            vec![],
            None,
            ok("200", Some(r("RetentionMetadata"))),
        ),
    );
    add("/api/v2.0/retentions".into(), "post", op("Create a project's retention policy (one per project; 409 if it has one). Rules are combined with OR; what no rule retains is deleted.", vec![], Some(json_body(r("RetentionPolicy"))), created()));
    add(
        "/api/v2.0/retentions/{id}".into(),
        "get",
        op(
            "A retention policy.",
            one(),
            None,
            ok("200", Some(r("RetentionPolicy"))),
        ),
    );
    add(
        "/api/v2.0/retentions/{id}".into(),
        "put",
        op(
            "Replace a policy's rules and trigger.",
            one(),
            Some(json_body(r("RetentionPolicy"))),
            ok("200", None),
        ),
    );
    add(
        "/api/v2.0/retentions/{id}".into(),
        "delete",
        op(
            "Delete a policy and its schedule.",
            one(),
            None,
            ok("200", None),
        ),
    );
    let mut executions = one();
    executions.extend(paging());
    add(
        "/api/v2.0/retentions/{id}/executions".into(),
        "get",
        op(
            "A policy's runs, newest first.",
            executions,
            None,
            listing("RetentionExecution"),
        ),
    );
    let run_body = json!({"required": false, "content": {"application/json": {"schema": {"type": "object", "properties": {"dry_run": {"type": "boolean"}}, "additionalProperties": false}}}});
    add(
        "/api/v2.0/retentions/{id}/executions".into(),
        "post",
        op(
            "Run now, or a dry run that deletes nothing (Location names the execution).",
            one(),
            Some(run_body),
            created(),
        ),
    );
    add(
        "/api/v2.0/retentions/{id}/executions/{eid}".into(),
        "patch",
        op(
            "Stop a run (action stop); what it deleted stays deleted.",
            execution(),
            Some(json_body(
                json!({"type": "object", "properties": {"action": {"type": "string", "enum": ["stop"]}}, "required": ["action"], "additionalProperties": false}),
            )),
            ok("200", None),
        ),
    );
    let mut tasks = execution();
    tasks.extend(paging());
    add(
        "/api/v2.0/retentions/{id}/executions/{eid}/tasks".into(),
        "get",
        op(
            "A run's tasks, one per repository, with artifacts judged and retained.",
            tasks,
            None,
            listing("RetentionExecutionTask"),
        ),
    );
    add(
        "/api/v2.0/retentions/{id}/executions/{eid}/tasks/{tid}".into(),
        "get",
        op(
            "A task's log: each tag, retained by which rule, or deleted and why.",
            vec![p("id"), p("eid"), p("tid")],
            None,
            text,
        ),
    );
    let project = || vec![p("project_name_or_id")];
    let mut list = project();
    list.extend(paging());
    add(
        "/api/v2.0/projects/{project_name_or_id}/immutabletagrules".into(),
        "get",
        op(
            "A project's immutability rules.",
            list,
            None,
            listing("ImmutableRule"),
        ),
    );
    add(
        "/api/v2.0/projects/{project_name_or_id}/immutabletagrules".into(),
        "post",
        op(
            "Add a rule (at most 15): matching tags can no longer be overwritten or deleted.",
            project(),
            Some(json_body(r("ImmutableRule"))),
            created(),
        ),
    );
    add(
        "/api/v2.0/projects/{project_name_or_id}/immutabletagrules/{immutable_rule_id}".into(),
        "put",
        op(
            "Replace a rule, or only enable or disable it.",
            vec![p("project_name_or_id"), p("immutable_rule_id")],
            Some(json_body(r("ImmutableRule"))),
            ok("200", None),
        ),
    );
    add(
        "/api/v2.0/projects/{project_name_or_id}/immutabletagrules/{immutable_rule_id}".into(),
        "delete",
        op(
            "Delete a rule.",
            vec![p("project_name_or_id"), p("immutable_rule_id")],
            None,
            ok("200", None),
        ),
    );
}

fn policy_schemas() -> Value {
    let s = |t: &str| json!({"type": t});
    // Ids and priorities: integers JSON carries exactly.
    let int = json!({"type": "integer", "minimum": -9_007_199_254_740_991i64, "maximum": 9_007_199_254_740_991i64});
    let time = json!({"type": "string", "format": "date-time"});
    let open = |props: Value, required: &[&str]| json!({"type": "object", "properties": props, "required": required});
    let strict = |props: Value, required: &[&str]| json!({"type": "object", "properties": props, "required": required, "additionalProperties": false});
    let selector = |decorations: &[&str]| {
        strict(
            json!({"kind": {"type": "string", "enum": ["doublestar"]}, "decoration": {"type": "string", "enum": decorations}, "pattern": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": SELECTOR}, "extras": {"type": "string", "enum": ["", "{\"untagged\":true}", "{\"untagged\":false}"]}}),
            &["kind", "decoration", "pattern"],
        )
    };
    let tags = json!({"type": "array", "minItems": 1, "maxItems": 2, "items": selector(&["matches", "excludes"])});
    let scope = strict(
        json!({"repository": {"type": "array", "minItems": 1, "maxItems": 2, "items": selector(&["repoMatches", "repoExcludes"])}}),
        &["repository"],
    );
    let templates = [
        "latestPushedK",
        "latestPulledN",
        "latestActiveK",
        "nDaysSinceLastPush",
        "nDaysSinceLastPull",
        "always",
    ];
    let limit = json!({"oneOf": [{"type": "integer", "enum": [-1]}, {"type": "integer", "minimum": 1, "maximum": 1_125_899_906_842_624i64}]});
    // One shape per template: its number under its own name ("always" has none).
    let rule = |template: &str| {
        let params = if template == "always" {
            json!({"type": "object", "maxProperties": 0})
        } else {
            json!({"type": "object", "properties": {template: {"type": "integer", "minimum": 0, "maximum": 1000}}, "required": [template], "additionalProperties": false})
        };
        strict(
            json!({"id": int.clone(), "priority": int.clone(), "disabled": s("boolean"), "action": {"type": "string", "enum": ["retain"]}, "template": {"type": "string", "enum": [template]}, "params": params, "tag_selectors": tags.clone(), "scope_selectors": scope.clone()}),
            &["template", "params", "tag_selectors", "scope_selectors"],
        )
    };
    let rules: Vec<Value> = templates.iter().map(|t| rule(t)).collect();
    json!({
        "Quota": open(json!({"id": s("integer"), "ref": s("object"), "hard": open(json!({"storage": s("integer")}), &["storage"]), "used": open(json!({"storage": s("integer")}), &["storage"]), "creation_time": time, "update_time": time}), &["id", "ref", "hard", "used"]),
        "QuotaUpdateReq": strict(json!({"hard": strict(json!({"storage": limit}), &["storage"])}), &["hard"]),
        "ImmutableRule": strict(json!({"id": int.clone(), "priority": int.clone(), "disabled": s("boolean"), "action": {"type": "string", "enum": ["immutable"]}, "template": {"type": "string", "enum": ["immutable_template"]}, "params": {"type": "object", "maxProperties": 0}, "tag_selectors": tags, "scope_selectors": scope}), &["tag_selectors", "scope_selectors"]),
        "RetentionRule": {"oneOf": rules},
        "RetentionPolicy": open(json!({"id": int.clone(), "algorithm": {"type": "string", "enum": ["or"]}, "rules": {"type": "array", "maxItems": 15, "items": r("RetentionRule")}, "trigger": open(json!({"kind": {"type": "string", "enum": ["Schedule"]}, "settings": open(json!({"cron": {"type": "string", "pattern": format!("(?:{CRON})|^$")}}), &[]), "references": s("object")}), &[]), "scope": strict(json!({"level": {"type": "string", "enum": ["project"]}, "ref": {"type": "integer", "minimum": 1}}), &["level", "ref"])}), &["scope"]),
        "RetentionExecution": open(json!({"id": s("integer"), "policy_id": s("integer"), "start_time": s("string"), "end_time": s("string"), "status": s("string"), "trigger": s("string"), "dry_run": s("boolean")}), &["id", "policy_id", "status", "dry_run"]),
        "RetentionExecutionTask": open(json!({"id": s("integer"), "execution_id": s("integer"), "repository": s("string"), "job_id": s("string"), "status": s("string"), "status_code": s("integer"), "status_revision": s("integer"), "start_time": s("string"), "end_time": s("string"), "total": s("integer"), "retained": s("integer")}), &["id", "execution_id", "repository", "status", "total", "retained"]),
        "RetentionMetadata": open(json!({"templates": s("array"), "scope_selectors": s("array"), "tag_selectors": s("array")}), &["templates", "scope_selectors", "tag_selectors"]),
    })
}

/// Endpoints, policies and executions (Harbor's), and Berth's retry extension.
fn replication_paths(add: &mut impl FnMut(String, &str, Value)) {
    let p = path_param;
    let one = || vec![p("id")];
    let mut text = ok("200", None);
    text["200"]["content"] = json!({"text/plain": {"schema": {"type": "string"}}});
    let named = |what: &str| {
        let mut v = paging();
        v.push(query(
            "name",
            json!({"type": "string"}),
            &format!("Only {what} whose name contains this."),
        ));
        v
    };
    add(
        "/api/v2.0/registries".into(),
        "get",
        op(
            "Replication endpoints (sysadmin). Credentials' secrets are never returned.",
            named("endpoints"),
            None,
            listing("Registry"),
        ),
    );
    add("/api/v2.0/registries".into(), "post", op("Add an endpoint; it is reached at once to learn its status and whether it is this very instance (self_target).", vec![], Some(json_body(r("RegistryReq"))), created()));
    add("/api/v2.0/registries/ping".into(), "post", op("Reach an endpoint (a stored one by id, changed by the other fields, or a new one) without saving: 200 when it answers and accepts the credentials, 400 otherwise.", vec![], Some(json_body(r("RegistryReq"))), ok("200", Some(r("RegistryPingResult")))));
    add(
        "/api/v2.0/registries/{id}".into(),
        "get",
        op("One endpoint.", one(), None, ok("200", Some(r("Registry")))),
    );
    add("/api/v2.0/registries/{id}".into(), "put", op("Change an endpoint. A new url needs access_secret again: the saved one is never sent to another address.", one(), Some(json_body(r("RegistryReq"))), ok("200", None)));
    add(
        "/api/v2.0/registries/{id}".into(),
        "delete",
        op(
            "Delete an endpoint no policy uses (412 otherwise).",
            one(),
            None,
            ok("200", None),
        ),
    );
    add(
        "/api/v2.0/registries/{id}/info".into(),
        "get",
        op(
            "What the endpoint's type supports: filters and triggers.",
            one(),
            None,
            ok("200", Some(r("RegistryInfo"))),
        ),
    );
    add(
        "/api/v2.0/replication/adapters".into(),
        "get",
        op(
            "The endpoint types: harbor (Berth is one) and docker-registry.",
            vec![],
            None,
            ok(
                "200",
                Some(json!({"type": "array", "items": {"type": "string"}})),
            ),
        ),
    );
    add(
        "/api/v2.0/replication/policies".into(),
        "get",
        op(
            "Replication policies.",
            named("policies"),
            None,
            listing("ReplicationPolicy"),
        ),
    );
    add("/api/v2.0/replication/policies".into(), "post", op("Create a policy: src_registry (pull-based) or dest_registry (push-based), never one that is this very instance.", vec![], Some(json_body(r("ReplicationPolicyReq"))), created()));
    add(
        "/api/v2.0/replication/policies/{id}".into(),
        "get",
        op(
            "One policy.",
            one(),
            None,
            ok("200", Some(r("ReplicationPolicy"))),
        ),
    );
    add(
        "/api/v2.0/replication/policies/{id}".into(),
        "put",
        op(
            "Replace a policy.",
            one(),
            Some(json_body(r("ReplicationPolicyReq"))),
            ok("200", None),
        ),
    );
    add(
        "/api/v2.0/replication/policies/{id}".into(),
        "delete",
        op(
            "Delete a policy and its finished executions (412 while one is in progress).",
            one(),
            None,
            ok("200", None),
        ),
    );
    let mut executions = paging();
    executions.push(query(
        "policy_id",
        json!({"type": "integer", "minimum": 1}),
        "Only this policy's executions.",
    ));
    executions.push(query(
        "status",
        json!({"type": "string", "enum": ["InProgress", "Succeed", "Failed", "Stopped"]}),
        "Only executions in this status.",
    ));
    executions.push(query(
        "trigger",
        json!({"type": "string", "enum": ["manual", "scheduled", "event_based"]}),
        "Only executions started this way.",
    ));
    add(
        "/api/v2.0/replication/executions".into(),
        "get",
        op(
            "Executions, newest first, with their tasks' counts and bytes.",
            executions,
            None,
            listing("ReplicationExecution"),
        ),
    );
    add(
        "/api/v2.0/replication/executions".into(),
        "post",
        op(
            "Start an execution of an enabled policy now.",
            vec![],
            Some(json_body(r("StartReplicationExecution"))),
            created(),
        ),
    );
    add(
        "/api/v2.0/replication/executions/{id}".into(),
        "get",
        op(
            "One execution. Its status is Succeed only when every task succeeded.",
            one(),
            None,
            ok("200", Some(r("ReplicationExecution"))),
        ),
    );
    add(
        "/api/v2.0/replication/executions/{id}".into(),
        "put",
        op(
            "Stop an execution; what it copied stays.",
            one(),
            None,
            ok("200", None),
        ),
    );
    let mut retry = op(
        "Berth's extension (Harbor has none, goharbor/harbor#18021): run an ended execution's failed and stopped tasks again, in the same execution, once the cause is fixed. Its status and counts then tell the truth about the whole execution.",
        one(),
        None,
        ok("200", Some(json!({"type": "object", "properties": {"retried_tasks": {"type": "integer"}}, "required": ["retried_tasks"]}))),
    );
    retry["x-berth-extension"] = json!(true);
    add(
        "/api/v2.0/replication/executions/{id}/retry".into(),
        "post",
        retry,
    );
    let mut tasks = vec![p("id")];
    tasks.extend(paging());
    tasks.push(query("status", json!({"type": "string", "enum": ["Pending", "InProgress", "Succeed", "Failed", "Stopped"]}), "Only tasks in this status."));
    add(
        "/api/v2.0/replication/executions/{id}/tasks".into(),
        "get",
        op(
            "An execution's tasks (one per artifact), with bytes and attempts.",
            tasks,
            None,
            listing("ReplicationTask"),
        ),
    );
    add(
        "/api/v2.0/replication/executions/{id}/tasks/{task_id}/log".into(),
        "get",
        op(
            "A task's log, readable while it runs.",
            vec![p("id"), p("task_id")],
            None,
            text,
        ),
    );
}

fn replication_schemas() -> Value {
    let s = |t: &str| json!({"type": t});
    let time = json!({"type": ["string", "null"], "format": "date-time"});
    let open = |props: Value, required: &[&str]| json!({"type": "object", "properties": props, "required": required});
    let strict = |props: Value, required: &[&str]| json!({"type": "object", "properties": props, "required": required, "additionalProperties": false});
    let credential = json!({"type": "object", "properties": {"type": {"type": "string", "enum": ["basic"]}, "access_key": s("string"), "access_secret": s("string")}});
    let filter = strict(
        json!({"type": {"type": "string", "enum": ["name", "tag", "resource"]}, "value": s("string"), "decoration": {"type": "string", "enum": ["matches", "excludes"]}}),
        &["type", "value"],
    );
    let trigger = strict(
        json!({"type": {"type": "string", "enum": ["manual", "scheduled", "event_based"]}, "trigger_settings": open(json!({"cron": s("string")}), &[])}),
        &["type"],
    );
    let reference = open(json!({"id": {"type": "integer", "minimum": 0}}), &[]);
    json!({
        "Registry": open(json!({"id": s("integer"), "name": s("string"), "description": s("string"), "type": s("string"), "url": s("string"), "credential": open(json!({"type": s("string"), "access_key": s("string")}), &[]), "insecure": s("boolean"), "ca_certificate": {"type": ["string", "null"]}, "status": s("string"), "self_target": s("boolean"), "creation_time": time, "update_time": time}), &["id", "name", "type", "url", "status"]),
        "RegistryReq": strict(json!({"id": s("integer"), "name": {"type": "string", "minLength": 1, "maxLength": 255}, "description": s("string"), "type": {"type": "string", "enum": ["harbor", "docker-registry"]}, "url": {"type": "string", "pattern": "^https?://[a-z0-9.-]+(:[0-9]{1,5})?$"}, "credential": credential, "credential_type": {"type": "string", "enum": ["basic"]}, "access_key": s("string"), "access_secret": s("string"), "insecure": s("boolean"), "ca_certificate": s("string")}), &[]),
        "RegistryPingResult": open(json!({"instance_id": {"type": ["string", "null"]}, "self_target": s("boolean")}), &["self_target"]),
        "RegistryInfo": open(json!({"type": s("string"), "description": s("string"), "supported_resource_filters": s("array"), "supported_triggers": {"type": "array", "items": s("string")}, "supported_copy_by_chunk": s("boolean")}), &["type"]),
        "ReplicationPolicy": open(json!({"id": s("integer"), "name": s("string"), "description": s("string"), "src_registry": s("object"), "dest_registry": s("object"), "dest_namespace": s("string"), "dest_namespace_replace_count": s("integer"), "trigger": s("object"), "filters": s("array"), "replicate_deletion": s("boolean"), "deletion": s("boolean"), "override": s("boolean"), "enabled": s("boolean"), "speed": s("integer"), "copy_by_chunk": s("boolean"), "single_active_replication": s("boolean"), "creation_time": time, "update_time": time}), &["id", "name", "trigger", "enabled"]),
        "ReplicationPolicyReq": strict(json!({"name": {"type": "string", "minLength": 1, "maxLength": 255}, "description": s("string"), "src_registry": reference, "dest_registry": reference, "dest_namespace": s("string"), "dest_namespace_replace_count": {"type": "integer", "minimum": -1, "maximum": 16}, "trigger": trigger, "filters": {"type": "array", "items": filter}, "replicate_deletion": s("boolean"), "deletion": s("boolean"), "override": s("boolean"), "enabled": s("boolean"), "speed": {"type": "integer", "minimum": -1}, "copy_by_chunk": s("boolean"), "single_active_replication": s("boolean")}), &["name"]),
        "StartReplicationExecution": strict(json!({"policy_id": {"type": "integer", "minimum": 1}}), &["policy_id"]),
        "ReplicationExecution": open(json!({"id": s("integer"), "policy_id": s("integer"), "status": {"type": "string", "enum": ["InProgress", "Succeed", "Failed", "Stopped"]}, "status_text": s("string"), "trigger": s("string"), "start_time": time, "end_time": time, "total": s("integer"), "failed": s("integer"), "succeed": s("integer"), "in_progress": s("integer"), "stopped": s("integer"), "bytes_total": s("integer"), "bytes_done": s("integer")}), &["id", "policy_id", "status", "total", "failed", "succeed", "in_progress", "stopped"]),
        "ReplicationTask": open(json!({"id": s("integer"), "execution_id": s("integer"), "status": {"type": "string", "enum": ["Pending", "InProgress", "Succeed", "Failed", "Stopped"]}, "job_id": s("string"), "operation": s("string"), "resource_type": s("string"), "src_resource": s("string"), "dst_resource": s("string"), "start_time": time, "end_time": time, "attempts": s("integer"), "bytes_total": s("integer"), "bytes_done": s("integer"), "error": s("string")}), &["id", "execution_id", "status"]),
    })
}

fn schemas() -> Value {
    let s = |t: &str| json!({"type": t});
    let time = json!({"type": "string", "format": "date-time"});
    let strict = |props: Value, required: &[&str]| json!({"type": "object", "properties": props, "required": required, "additionalProperties": false});
    let open = |props: Value, required: &[&str]| json!({"type": "object", "properties": props, "required": required});
    let public = json!({"type": "object", "properties": {"public": {"type": "string", "enum": ["true", "false"]}, "retention_id": {"type": "string", "pattern": "^[0-9]{1,15}$"}}, "additionalProperties": false});
    let name_pattern = NAME;
    let mut all = json!({
        "Errors": open(json!({"errors": {"type": "array", "items": open(json!({"code": s("string"), "message": s("string")}), &["code", "message"])}}), &["errors"]),
        "Health": open(json!({"status": s("string"), "components": {"type": "array", "items": open(json!({"name": s("string"), "status": s("string"), "error": s("string")}), &["name", "status"])}}), &["status", "components"]),
        "GeneralInfo": open(json!({"auth_mode": s("string"), "registry_url": s("string"), "external_url": s("string"), "project_creation_restriction": s("string"), "self_registration": s("boolean"), "harbor_version": s("string"), "read_only": s("boolean"), "current_time": time}), &["auth_mode", "registry_url", "project_creation_restriction", "self_registration"]),
        "Statistic": open(json!({"public_project_count": s("integer"), "private_project_count": s("integer"), "total_project_count": s("integer"), "public_repo_count": s("integer"), "private_repo_count": s("integer"), "total_repo_count": s("integer"), "total_storage_consumption": s("integer")}), &["total_project_count", "total_repo_count"]),
        "Search": open(json!({"project": {"type": "array", "items": s("object")}, "repository": {"type": "array", "items": s("object")}}), &["project", "repository"]),
        "Project": open(json!({"project_id": s("integer"), "owner_id": s("integer"), "name": s("string"), "owner_name": s("string"), "creation_time": time, "update_time": time, "deleted": s("boolean"), "togglable": s("boolean"), "current_user_role_id": s("integer"), "current_user_role_ids": {"type": "array", "items": s("integer")}, "repo_count": s("integer"), "metadata": public}), &["project_id", "name", "metadata"]),
        "ProjectReq": strict(json!({"project_name": {"type": "string", "pattern": name_pattern}, "metadata": public, "public": s("boolean"), "storage_limit": {"type": "integer", "minimum": -1, "maximum": 1_125_899_906_842_624i64}}), &["project_name"]),
        "ProjectSummary": open(json!({"repo_count": s("integer"), "project_admin_count": s("integer"), "maintainer_count": s("integer"), "developer_count": s("integer"), "guest_count": s("integer"), "limited_guest_count": s("integer"), "quota": s("object")}), &["repo_count"]),
        "ProjectMemberEntity": open(json!({"id": s("integer"), "project_id": s("integer"), "entity_name": s("string"), "role_name": s("string"), "role_id": s("integer"), "entity_id": s("integer"), "entity_type": {"type": "string", "enum": ["u", "g"]}}), &["id", "role_id", "entity_type"]),
        "ProjectMember": {"oneOf": [
            strict(json!({"role_id": {"type": "integer", "minimum": 1, "maximum": 5}, "member_user": {"oneOf": [
                strict(json!({"user_id": {"type": "integer", "minimum": 1}}), &["user_id"]),
                strict(json!({"username": {"type": "string", "minLength": 1}}), &["username"]),
            ]}}), &["role_id", "member_user"]),
            strict(json!({"role_id": {"type": "integer", "minimum": 1, "maximum": 5}, "member_group": {"oneOf": [
                strict(json!({"id": {"type": "integer", "minimum": 1}}), &["id"]),
                strict(json!({"ldap_group_dn": {"type": "string", "minLength": 1}, "group_type": {"type": "integer", "enum": [1]}, "group_name": s("string")}), &["ldap_group_dn"]),
            ]}}), &["role_id", "member_group"]),
        ]},
        "RoleRequest": strict(json!({"role_id": {"type": "integer", "minimum": 1, "maximum": 5}}), &["role_id"]),
        "AuditLog": open(json!({"id": s("integer"), "username": s("string"), "resource": s("string"), "resource_type": s("string"), "operation": s("string"), "op_time": time, "operation_result": s("boolean"), "client_ip": s("string")}), &["id", "username", "resource", "resource_type", "operation", "op_time"]),
        "Repository": open(json!({"id": s("integer"), "project_id": s("integer"), "name": s("string"), "description": s("string"), "artifact_count": s("integer"), "pull_count": s("integer"), "creation_time": time, "update_time": time}), &["id", "project_id", "name", "artifact_count", "pull_count"]),
        "Tag": open(json!({"id": s("integer"), "repository_id": s("integer"), "artifact_id": s("integer"), "name": s("string"), "push_time": time, "pull_time": time, "immutable": s("boolean")}), &["name"]),
        "TagReq": strict(json!({"name": {"type": "string", "pattern": TAG}}), &["name"]),
        "Artifact": open(json!({"id": s("integer"), "type": s("string"), "media_type": s("string"), "manifest_media_type": s("string"), "project_id": s("integer"), "repository_id": s("integer"), "digest": s("string"), "size": s("integer"), "push_time": time, "pull_time": time, "tags": {"type": ["array", "null"], "items": r("Tag")}}), &["id", "digest", "size", "push_time"]),
        "Access": access_schema(),
        "RobotPermission": strict(json!({"kind": {"type": "string", "enum": ["project"]}, "namespace": {"type": "string", "minLength": 1}, "access": {"type": "array", "items": r("Access")}}), &["kind", "namespace", "access"]),
        "RobotCreate": robot_create_schema(),
        "RobotCreated": open(json!({"id": s("integer"), "name": s("string"), "secret": s("string"), "creation_time": time, "expires_at": s("integer")}), &["id", "name", "secret"]),
        "Robot": open(json!({"id": s("integer"), "name": s("string"), "description": s("string"), "secret": s("string"), "level": s("string"), "duration": s("integer"), "editable": s("boolean"), "disable": s("boolean"), "expires_at": s("integer"), "permissions": {"type": "array", "items": r("RobotPermission")}, "creation_time": time, "update_time": time}), &["id", "name", "level", "permissions"]),
        "RobotSec": strict(json!({"secret": {"type": "string", "pattern": PASSWORD}}), &[]),
        "RobotSecret": open(json!({"secret": s("string")}), &["secret"]),
        "UserResp": open(json!({"user_id": s("integer"), "username": s("string"), "email": s("string"), "realname": s("string"), "comment": s("string"), "sysadmin_flag": s("boolean"), "admin_role_in_auth": s("boolean"), "creation_time": time, "update_time": time}), &["user_id", "username", "sysadmin_flag"]),
        "UserCreationReq": strict(json!({"username": {"type": "string", "pattern": USERNAME}, "email": {"type": "string", "pattern": EMAIL}, "password": {"type": "string", "pattern": PASSWORD}, "realname": {"type": "string", "maxLength": 255}, "comment": {"type": "string", "maxLength": 255}}), &["username", "email", "password"]),
        "UserProfile": strict(json!({"email": {"type": "string", "pattern": EMAIL}, "realname": {"type": "string", "maxLength": 255}, "comment": {"type": "string", "maxLength": 255}}), &[]),
        "PasswordReq": strict(json!({"old_password": s("string"), "new_password": {"type": "string", "pattern": PASSWORD}}), &["new_password"]),
        "UserSysAdminFlag": strict(json!({"sysadmin_flag": s("boolean")}), &["sysadmin_flag"]),
        "UserSearchRespItem": open(json!({"user_id": s("integer"), "username": s("string")}), &["user_id", "username"]),
    });
    for more in [
        directory_schemas(),
        gc_schemas(),
        configuration_schemas(),
        replication_schemas(),
        policy_schemas(),
    ] {
        if let (Some(all), Value::Object(more)) = (all.as_object_mut(), more) {
            all.extend(more);
        }
    }
    all
}

/// Garbage collection and the volume it frees.
/// Harbor's `ConfigurationsResponse` (every key as `{value, editable}`) and `Configurations`
/// (plain values, only the keys to change).
fn configuration_schemas() -> Value {
    let item = |t: Value| json!({"type": "object", "properties": {"value": t, "editable": {"type": "boolean"}}, "required": ["value", "editable"]});
    let text = json!({"type": "string"});
    let int = json!({"type": "integer"});
    let flag = json!({"type": "boolean"});
    let keys: [(&str, &Value); 27] = [
        ("auth_mode", &text),
        ("primary_auth_mode", &flag),
        ("read_only", &flag),
        ("ldap_url", &text),
        ("ldap_base_dn", &text),
        ("ldap_search_dn", &text),
        ("ldap_filter", &text),
        ("ldap_uid", &text),
        ("ldap_scope", &int),
        ("ldap_timeout", &int),
        ("ldap_verify_cert", &flag),
        ("ldap_starttls", &flag),
        ("ldap_ca_certificate", &text),
        ("ldap_group_base_dn", &text),
        ("ldap_group_search_filter", &text),
        ("ldap_group_attribute_name", &text),
        ("ldap_group_search_scope", &int),
        ("ldap_group_admin_dn", &text),
        ("ldap_group_membership_attribute", &text),
        ("self_registration", &flag),
        ("project_creation_restriction", &text),
        ("token_expiration", &int),
        ("robot_token_duration", &int),
        ("robot_name_prefix", &text),
        ("session_timeout", &int),
        ("banner_message", &text),
        ("audit_log_retention_days", &int),
    ];
    let mut response = Map::new();
    let mut request = Map::new();
    for (k, t) in keys {
        response.insert(k.into(), item(t.clone()));
        request.insert(k.into(), t.clone());
    }
    response.insert("pull_audit_log_disable".into(), item(flag.clone()));
    response.insert("login_max_failures".into(), item(int.clone()));
    request.insert("pull_audit_log_disable".into(), flag.clone());
    let limit = json!({"type": "integer", "minimum": -1, "maximum": 1_125_899_906_842_624i64});
    for (k, t) in [
        ("quota_per_project_enable", &flag),
        ("storage_per_project", &limit),
    ] {
        response.insert(k.into(), item(t.clone()));
        request.insert(k.into(), t.clone());
    }
    request.insert("ldap_search_password".into(), text.clone());
    for read_only in ["primary_auth_mode", "read_only", "ldap_ca_certificate"] {
        request.remove(read_only);
    }
    json!({
        "ConfigurationsResponse": {"type": "object", "properties": response},
        "Configurations": {"type": "object", "properties": request, "additionalProperties": false},
    })
}

fn gc_schemas() -> Value {
    let s = |t: &str| json!({"type": t});
    let time = json!({"type": "string", "format": "date-time"});
    let strict = |props: Value, required: &[&str]| json!({"type": "object", "properties": props, "required": required, "additionalProperties": false});
    let open = |props: Value, required: &[&str]| json!({"type": "object", "properties": props, "required": required});
    let status =
        json!({"type": "string", "enum": ["Pending", "Running", "Stopped", "Error", "Success"]});
    let history = json!({"id": s("integer"), "job_name": s("string"), "job_kind": s("string"), "job_parameters": s("string"), "schedule": s("object"), "job_status": status, "deleted": s("boolean"), "creation_time": time, "update_time": time, "progress": s("object"), "result": s("object")});
    // Custom needs a six-field cron (a generable subset of them here); the other types take
    // none (Hourly, Daily and Weekly with a cron of their own are accepted too, not declared).
    // PUT changes the schedule only; Manual (run now) is POST's.
    let schedule_obj = |types: &[&str]| {
        json!({"oneOf": [
            strict(json!({"type": {"type": "string", "enum": types}, "cron": {"type": "string", "maxLength": 0}}), &["type"]),
            strict(json!({"type": {"type": "string", "enum": ["Custom"]}, "cron": {"type": "string", "pattern": CRON}}), &["type", "cron"]),
        ]})
    };
    let parameters = strict(
        json!({"delete_untagged": s("boolean"), "dry_run": s("boolean"), "workers": {"type": "integer", "minimum": 1, "maximum": 5}}),
        &[],
    );
    json!({
        "SystemInfo": open(json!({"storage": {"type": "array", "items": open(json!({"total": s("integer"), "free": s("integer")}), &["total", "free"])}}), &["storage"]),
        "GCHistory": open(history, &["id", "job_name", "job_kind", "job_parameters", "job_status"]),
        "GCSchedule": open(json!({"schedule": open(json!({"type": s("string"), "cron": s("string")}), &["type"]), "job_parameters": s("string"), "parameters": s("object")}), &["schedule"]),
        "ScheduleReq": strict(json!({"schedule": schedule_obj(&["Manual", "None", "Hourly", "Daily", "Weekly"]), "parameters": parameters}), &["schedule"]),
        "ScheduleUpdate": strict(json!({"schedule": schedule_obj(&["None", "Hourly", "Daily", "Weekly"]), "parameters": parameters}), &["schedule"]),
    })
}

/// User groups and the LDAP helpers.
fn directory_schemas() -> Value {
    let s = |t: &str| json!({"type": t});
    let strict = |props: Value, required: &[&str]| json!({"type": "object", "properties": props, "required": required, "additionalProperties": false});
    let open = |props: Value, required: &[&str]| json!({"type": "object", "properties": props, "required": required});
    json!({
        "UserGroup": open(json!({"id": s("integer"), "group_name": s("string"), "group_type": s("integer"), "ldap_group_dn": s("string")}), &["id", "group_name", "group_type"]),
        "LdapGroup": open(json!({"group_name": s("string"), "group_type": s("integer"), "ldap_group_dn": s("string")}), &["group_name", "group_type", "ldap_group_dn"]),
        "UserGroupReq": strict(json!({"group_name": {"type": "string", "minLength": 1, "maxLength": 255}, "group_type": {"type": "integer", "enum": [1]}, "ldap_group_dn": {"type": "string", "minLength": 1}}), &["ldap_group_dn"]),
        "UserGroupRename": strict(json!({"group_name": {"type": "string", "pattern": "^[A-Za-z0-9 ._-]{1,255}$"}}), &["group_name"]),
        "UserGroupSearchItem": open(json!({"id": s("integer"), "group_name": s("string"), "group_type": s("integer")}), &["id", "group_name", "group_type"]),
        "LdapConf": strict(json!({"ldap_url": s("string"), "ldap_search_dn": s("string"), "ldap_search_password": s("string"), "ldap_base_dn": s("string"), "ldap_filter": s("string"), "ldap_uid": s("string"), "ldap_scope": {"type": "integer", "minimum": 0, "maximum": 2}, "ldap_connection_timeout": {"type": "integer", "minimum": 1, "maximum": 60}, "ldap_verify_cert": s("boolean")}), &[]),
        "LdapPingResult": open(json!({"success": s("boolean"), "message": s("string")}), &["success", "message"]),
        "LdapUser": open(json!({"username": s("string"), "realname": s("string"), "email": s("string")}), &["username"]),
        "LdapImportUsers": strict(json!({"ldap_uid_list": {"type": "array", "minItems": 1, "maxItems": 1000, "items": {"type": "string", "minLength": 1}}}), &["ldap_uid_list"]),
        "LdapFailedImportUser": open(json!({"uid": s("string"), "error": s("string")}), &["uid", "error"]),
    })
}

/// One `{resource, action}` per permission in the table: exactly what robots may be granted.
fn access_schema() -> Value {
    use crate::auth::permissions::MATRIX;
    let mut by_resource: Vec<(&str, Vec<&str>)> = Vec::new();
    for (r, o, _) in MATRIX {
        match by_resource.iter_mut().find(|(name, _)| *name == r.as_str()) {
            Some((_, ops)) => ops.push(o.as_str()),
            None => by_resource.push((r.as_str(), vec![o.as_str()])),
        }
    }
    let choices: Vec<Value> = by_resource
        .into_iter()
        .map(|(resource, actions)| {
            json!({"type": "object", "additionalProperties": false, "required": ["resource", "action"], "properties": {
                "resource": {"type": "string", "enum": [resource]},
                "action": {"type": "string", "enum": actions},
                "effect": {"type": "string", "enum": ["allow"]},
            }})
        })
        .collect();
    json!({"oneOf": choices})
}

/// A project robot has one permission entry, for its project; a system robot any number.
fn robot_create_schema() -> Value {
    let common = json!({
        "name": {"type": "string", "pattern": NAME},
        "description": {"type": "string"},
        "duration": {"oneOf": [{"type": "integer", "enum": [-1]}, {"type": "integer", "minimum": 1, "maximum": 36500}]},
        "disable": {"type": "boolean"},
        "secret": {"type": "string", "pattern": PASSWORD},
    });
    let with = |level: &str, permissions: Value| {
        let mut props = common.clone();
        props["level"] = json!({"type": "string", "enum": [level]});
        props["permissions"] = permissions;
        json!({"type": "object", "additionalProperties": false, "required": ["name", "level", "permissions"], "properties": props})
    };
    let project_entry = json!({"type": "object", "additionalProperties": false, "required": ["kind", "namespace", "access"], "properties": {
        "kind": {"type": "string", "enum": ["project"]},
        "namespace": {"type": "string", "pattern": NAME},
        "access": {"type": "array", "items": r("Access")},
    }});
    json!({"oneOf": [
        with("project", json!({"type": "array", "minItems": 1, "maxItems": 1, "items": project_entry})),
        with("system", json!({"type": "array", "items": r("RobotPermission")})),
    ]})
}

/// The whole document.
pub fn document() -> Value {
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Berth REST API",
            "version": crate::VERSION,
            "description": "The part of Harbor's API v2.0 that Berth implements, with Harbor's paths, fields and conventions.",
        },
        "servers": [{"url": "/"}],
        "security": [{"basicAuth": []}, {}],
        "paths": paths(),
        "components": {
            "securitySchemes": {"basicAuth": {"type": "http", "scheme": "basic"}},
            "schemas": schemas(),
        },
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::document;

    /// Every routed operation is documented, and every documented operation is routed.
    #[test]
    fn document_and_router_agree() {
        let routed: BTreeSet<(String, String)> = crate::api::operations()
            .into_iter()
            .map(|(m, path, _)| (m.as_str().to_lowercase(), path.to_string()))
            .collect();
        let doc = document();
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("path item").keys() {
                documented.insert((method.clone(), path.clone()));
            }
        }
        let missing: Vec<_> = routed.difference(&documented).collect();
        let extra: Vec<_> = documented.difference(&routed).collect();
        assert!(missing.is_empty(), "routed but not documented: {missing:?}");
        assert!(extra.is_empty(), "documented but not routed: {extra:?}");
    }

    /// `docs/api.md` lists every operation, so the coverage written for people stays true.
    #[test]
    fn api_docs_list_every_operation() {
        let doc = include_str!("../../../docs/api.md");
        for (method, path, _) in crate::api::operations() {
            let row = format!("| `{}` | `{path}` |", method.as_str());
            assert!(doc.contains(&row), "docs/api.md lacks {row}");
        }
    }

    /// Every `$ref` points at a schema that exists, and every path parameter is declared.
    #[test]
    fn document_is_self_consistent() {
        let doc = document();
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        for part in text.split("#/components/schemas/").skip(1) {
            let name = part.split('"').next().unwrap_or_default();
            assert!(schemas.contains_key(name), "dangling $ref to {name}");
        }
        for (path, item) in doc["paths"].as_object().expect("paths") {
            let wanted: Vec<&str> = path
                .split('{')
                .skip(1)
                .filter_map(|p| p.split('}').next())
                .collect();
            for (method, o) in item.as_object().expect("item") {
                let declared: Vec<&str> = o["parameters"]
                    .as_array()
                    .map(|ps| {
                        ps.iter()
                            .filter(|p| p["in"] == "path")
                            .filter_map(|p| p["name"].as_str())
                            .collect()
                    })
                    .unwrap_or_default();
                assert_eq!(wanted, declared, "{method} {path}");
            }
        }
    }
}
