//! The web portal: pages rendered by berthd from askama templates (`daemon/templates/`),
//! strings from Fluent catalogs (`daemon/locales/`), a style sheet and a small script compiled
//! in (`daemon/assets/`). Every page reads through the same services as the REST API, and
//! shows an action only when the permission table allows it; the service refuses anyway.
//!
//! URLs are built from names (`/projects/{p}/repositories/{repo}/-/{digest}`), so back,
//! bookmarks and new tabs work. A change is a POST carrying the session's CSRF token, answered
//! by a redirect to the page, which shows what happened once (the session's flash).

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::server::AppState;

mod account;
mod admin;
mod assets;
mod charts;
mod configuration;
pub mod i18n;
mod logs;
mod members;
mod page;
mod policy;
mod projects;
mod quotas;
mod replication;
mod repositories;
mod robots;
mod table;
mod users;

use page::{render, ErrorPage, Viewer};

/// Every portal route. The registry, token service and REST API own `/v2`, `/service`, `/api`
/// and `/c`; the portal owns the rest.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(account::home))
        .route("/static/{name}", get(assets::serve))
        .route("/lang/{code}", get(account::set_language))
        .route(
            "/account/sign-in",
            get(account::sign_in_page).post(account::sign_in),
        )
        .route("/account/sign-out", post(account::sign_out))
        .route(
            "/account/sign-up",
            get(account::sign_up_page).post(account::sign_up),
        )
        .route(
            "/account/profile",
            get(account::profile_page).post(account::save_profile),
        )
        .route("/account/password", post(account::change_password))
        .route("/account/secret.json", post(robots::export_secret))
        .route("/projects", get(projects::list).post(projects::create))
        .route("/projects/{project}", get(projects::home))
        .route("/projects/{project}/summary", get(projects::summary))
        .route(
            "/projects/{project}/delete",
            get(projects::confirm_delete).post(projects::delete),
        )
        .route("/projects/{project}/repositories", get(repositories::list))
        .route(
            "/projects/{project}/repositories/{*rest}",
            get(repositories::show).post(repositories::change),
        )
        .route(
            "/projects/{project}/members",
            get(members::list).post(members::add),
        )
        .route(
            "/projects/{project}/members/{member}/role",
            post(members::set_role),
        )
        .route(
            "/projects/{project}/members/{member}/remove",
            get(members::confirm_remove).post(members::remove),
        )
        .route(
            "/projects/{project}/robots",
            get(robots::list).post(robots::create),
        )
        .route(
            "/projects/{project}/robots/{id}/refresh",
            post(robots::refresh),
        )
        .route(
            "/projects/{project}/robots/{id}/toggle",
            post(robots::toggle),
        )
        .route(
            "/projects/{project}/robots/{id}/delete",
            get(robots::confirm_delete).post(robots::delete),
        )
        .route("/projects/{project}/policy", get(policy::page))
        .route(
            "/projects/{project}/policy/retention/rules",
            post(policy::add_retention_rule),
        )
        .route(
            "/projects/{project}/policy/retention/rules/{number}/delete",
            post(policy::delete_retention_rule),
        )
        .route(
            "/projects/{project}/policy/retention/schedule",
            post(policy::set_schedule),
        )
        .route(
            "/projects/{project}/policy/retention/run",
            post(policy::run),
        )
        .route(
            "/projects/{project}/policy/retention/{eid}",
            get(policy::execution),
        )
        .route(
            "/projects/{project}/policy/retention/{eid}/tasks/{tid}",
            get(policy::task),
        )
        .route(
            "/projects/{project}/policy/immutable",
            post(policy::add_immutable_rule),
        )
        .route(
            "/projects/{project}/policy/immutable/{id}/toggle",
            post(policy::toggle_immutable_rule),
        )
        .route(
            "/projects/{project}/policy/immutable/{id}/delete",
            post(policy::delete_immutable_rule),
        )
        .route("/admin/quotas", get(quotas::list))
        .route("/admin/quotas/{id}", post(quotas::set_limit))
        .route("/projects/{project}/logs", get(logs::project))
        .route("/admin/logs", get(logs::system))
        .route("/admin/users", get(users::list).post(users::create))
        .route("/admin/users/{id}/admin", post(users::set_admin))
        .route(
            "/admin/users/{id}/delete",
            get(users::confirm_delete).post(users::delete),
        )
        .route(
            "/admin/groups",
            get(users::groups).post(users::create_group),
        )
        .route(
            "/admin/groups/{id}/delete",
            get(users::confirm_delete_group).post(users::delete_group),
        )
        .route("/admin/system", get(admin::system))
        .route(
            "/admin/configuration",
            get(configuration::show).post(configuration::save),
        )
        .route(
            "/admin/configuration/ldap-test",
            post(configuration::test_ldap),
        )
        .route(
            "/admin/registries",
            get(replication::registries).post(replication::create_registry),
        )
        .route(
            "/admin/registries/{id}/test",
            post(replication::test_registry),
        )
        .route(
            "/admin/registries/{id}/delete",
            get(replication::confirm_delete_registry).post(replication::delete_registry),
        )
        .route(
            "/admin/replications",
            get(replication::replications).post(replication::create_policy),
        )
        .route(
            "/admin/replications/{id}/run",
            post(replication::run_policy),
        )
        .route(
            "/admin/replications/{id}/delete",
            get(replication::confirm_delete_policy).post(replication::delete_policy),
        )
        .route(
            "/admin/replications/executions/{id}",
            get(replication::execution),
        )
        .route(
            "/admin/replications/executions/{id}/progress",
            get(replication::progress),
        )
        .route(
            "/admin/replications/executions/{id}/stop",
            post(replication::stop),
        )
        .route(
            "/admin/replications/executions/{id}/retry",
            post(replication::retry),
        )
        .route(
            "/admin/replications/executions/{id}/tasks/{task}",
            get(replication::task_log),
        )
        .route("/admin/gc", get(admin::gc_page).post(admin::gc_run))
        .route("/admin/gc/schedule", post(admin::gc_schedule))
        .route("/admin/gc/{id}", get(admin::gc_execution))
        .route("/admin/gc/{id}/progress", get(admin::gc_progress))
        .route("/admin/gc/{id}/stop", post(admin::gc_stop))
        .layer(axum::middleware::from_fn_with_state(state, frame_errors))
}

/// Gives every portal response its security headers, and draws a failure (a handler's
/// [`page::PortalError`]) as a page in the viewer's language, inside the usual frame.
async fn frame_errors(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (headers, uri) = (req.headers().clone(), req.uri().clone());
    let mut response = next.run(req).await;
    if let Some(error) = response.extensions_mut().remove::<ErrorPage>() {
        let viewer = Viewer::read(&headers, &uri, &state, false).await;
        let t = viewer.tr();
        let title = t.s("error-title");
        let page = account::ErrorTemplate {
            frame: viewer.frame(&state, title, ""),
            status: error.status.as_u16(),
            message: error.message,
        };
        let mut drawn = render(&page);
        *drawn.status_mut() = error.status;
        response = drawn;
    }
    page::secure_headers(response.headers_mut());
    // Pages show what one signed-in person may see (once, a robot's secret): never stored.
    let html = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|c| c.as_bytes().starts_with(b"text/html"));
    if html {
        response.headers_mut().insert(
            axum::http::header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("no-store"),
        );
    }
    response.into_response()
}

#[cfg(test)]
mod tests {
    use super::i18n::{catalog_keys, CATALOGS};

    /// Every message key the templates and the portal's code use, found by the call shapes
    /// that take one (`s`, `t1`, `n1`, `with`, and `k` for keys kept in tables).
    fn used_keys() -> Vec<(String, String)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = vec![];
        for dir in ["templates", "src/portal"] {
            for entry in std::fs::read_dir(root.join(dir)).expect("portal sources") {
                files.push(entry.expect("entry").path());
            }
        }
        let mut used = vec![];
        for file in files {
            let text = std::fs::read_to_string(&file).expect("read");
            for call in [
                ".s(\"",
                ".t1(\"",
                ".n1(\"",
                ".with(\n            \"",
                ".with(\"",
                "k(\"",
            ] {
                for (i, _) in text.match_indices(call) {
                    let rest = &text[i + call.len()..];
                    if let Some(end) = rest.find('"') {
                        let key = &rest[..end];
                        if key
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                        {
                            used.push((key.to_string(), file.display().to_string()));
                        }
                    }
                }
            }
        }
        used
    }

    #[test]
    fn every_key_used_is_in_both_catalogs() {
        let used = used_keys();
        assert!(used.len() > 100, "the scan finds the keys: {}", used.len());
        for (code, source) in CATALOGS {
            let keys = catalog_keys(source);
            let missing: Vec<_> = used.iter().filter(|(k, _)| !keys.contains(k)).collect();
            assert!(missing.is_empty(), "missing from {code}: {missing:?}");
        }
    }

    #[test]
    fn every_catalog_key_is_used() {
        let used: Vec<String> = used_keys().into_iter().map(|(k, _)| k).collect();
        let unused: Vec<String> = catalog_keys(CATALOGS[0].1)
            .into_iter()
            .filter(|k| !used.contains(k) && k != "paging-range")
            .collect();
        assert!(unused.is_empty(), "keys no page uses: {unused:?}");
    }
}
