//! Administration, Configuration: the run-time settings through the same service as
//! `PUT /api/v2.0/configurations`, an LDAP test naming the step that failed, and a
//! confirmation before the login mode changes that says what happens to existing accounts.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::i18n::k;
use super::page::{back_to, render, CsrfForm, Frame, PortalError, SignedIn, Viewer};
use crate::api::extract::ClientIp;
use crate::auth::permissions::{Operation, Resource};
use crate::auth::session::FlashKind;
use crate::config::{AuthMode, Banner, CreationRestriction, LdapConfig, Secret};
use crate::server::AppState;
use crate::service::directory::LdapSettings;

/// The form's values, as the page shows them (from the settings, or as last posted).
#[derive(Default)]
struct Form {
    ldap_mode: bool,
    ldap: LdapView,
    self_registration: bool,
    admin_only: bool,
    token_expiration: String,
    session_timeout: String,
    robot_token_duration: String,
    robot_name_prefix: String,
    audit_log_retention_days: String,
    pull_audit_log_disable: bool,
    quota_per_project_enable: bool,
    storage_per_project: String,
    banner_text: String,
    banner_type: String,
}

#[derive(Default)]
struct LdapView {
    url: String,
    search_dn: String,
    base_dn: String,
    filter: String,
    uid: String,
    scope: String,
    timeout: String,
    verify_cert: bool,
    starttls: bool,
    group_base_dn: String,
    group_filter: String,
    group_attribute: String,
    group_scope: String,
    group_admin_dn: String,
    membership_attribute: String,
}

struct Choice {
    value: &'static str,
    label: String,
}

#[derive(Template)]
#[template(path = "admin_configuration.html")]
struct ConfigurationTemplate {
    frame: Frame,
    form: Form,
    scopes: Vec<Choice>,
    banner_types: Vec<Choice>,
    /// The LDAP test's outcome: (passed, what it said).
    test: Option<(bool, String)>,
    may_update: bool,
}

fn from_settings(state: &AppState) -> Form {
    let s = state.configuration.current();
    let default_ldap = LdapConfig::new("", "");
    let l = s.ldap.as_ref().unwrap_or(&default_ldap);
    let banner = Banner::parse(&s.system.banner_message);
    Form {
        ldap_mode: s.auth_mode == AuthMode::Ldap,
        ldap: LdapView {
            url: l.ldap_url.clone(),
            search_dn: l.ldap_search_dn.clone(),
            base_dn: l.ldap_base_dn.clone(),
            filter: l.ldap_filter.clone(),
            uid: l.ldap_uid.clone(),
            scope: l.ldap_scope.to_string(),
            timeout: l.ldap_timeout.to_string(),
            verify_cert: l.ldap_verify_cert,
            starttls: l.ldap_starttls,
            group_base_dn: l.ldap_group_base_dn.clone(),
            group_filter: l.ldap_group_search_filter.clone(),
            group_attribute: l.ldap_group_attribute_name.clone(),
            group_scope: l.ldap_group_search_scope.to_string(),
            group_admin_dn: l.ldap_group_admin_dn.clone(),
            membership_attribute: l.ldap_group_membership_attribute.clone(),
        },
        self_registration: s.system.self_registration,
        admin_only: s.system.project_creation_restriction == CreationRestriction::AdminOnly,
        token_expiration: s.token_expiration_minutes.to_string(),
        session_timeout: s.system.session_timeout_minutes.to_string(),
        robot_token_duration: s.system.robot_token_duration_days.to_string(),
        robot_name_prefix: s.system.robot_name_prefix.clone(),
        audit_log_retention_days: s.system.audit_log_retention_days.to_string(),
        pull_audit_log_disable: s.system.pull_audit_log_disable,
        quota_per_project_enable: s.system.quota_per_project_enable,
        storage_per_project: s.system.storage_per_project.to_string(),
        banner_text: banner
            .as_ref()
            .map(|b| b.message.clone())
            .unwrap_or_default(),
        banner_type: banner.map(|b| b.kind).unwrap_or_else(|| "info".into()),
    }
}

/// The posted fields as a form to show again (the password is never shown again).
fn from_posted(f: &[(String, String)]) -> Form {
    let get = |k: &str| {
        f.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let on = |k: &str| f.iter().any(|(key, v)| key == k && v == "true");
    Form {
        ldap_mode: get("auth_mode") == "ldap_auth",
        ldap: LdapView {
            url: get("ldap_url"),
            search_dn: get("ldap_search_dn"),
            base_dn: get("ldap_base_dn"),
            filter: get("ldap_filter"),
            uid: get("ldap_uid"),
            scope: get("ldap_scope"),
            timeout: get("ldap_timeout"),
            verify_cert: on("ldap_verify_cert"),
            starttls: on("ldap_starttls"),
            group_base_dn: get("ldap_group_base_dn"),
            group_filter: get("ldap_group_search_filter"),
            group_attribute: get("ldap_group_attribute_name"),
            group_scope: get("ldap_group_search_scope"),
            group_admin_dn: get("ldap_group_admin_dn"),
            membership_attribute: get("ldap_group_membership_attribute"),
        },
        self_registration: on("self_registration"),
        admin_only: get("project_creation_restriction") == "adminonly",
        token_expiration: get("token_expiration"),
        session_timeout: get("session_timeout"),
        robot_token_duration: get("robot_token_duration"),
        robot_name_prefix: get("robot_name_prefix"),
        audit_log_retention_days: get("audit_log_retention_days"),
        pull_audit_log_disable: on("pull_audit_log_disable"),
        quota_per_project_enable: on("quota_per_project_enable"),
        storage_per_project: get("storage_per_project"),
        banner_text: get("banner_text"),
        banner_type: get("banner_type"),
    }
}

fn page(state: &AppState, viewer: &Viewer, form: Form, test: Option<(bool, String)>) -> Response {
    let t = viewer.tr();
    render(&ConfigurationTemplate {
        form,
        scopes: [
            ("0", k("ldap-scope-base")),
            ("1", k("ldap-scope-one")),
            ("2", k("ldap-scope-subtree")),
        ]
        .into_iter()
        .map(|(value, key)| Choice {
            value,
            label: t.s(key),
        })
        .collect(),
        banner_types: [
            ("info", k("banner-info")),
            ("warning", k("banner-warning")),
            ("danger", k("banner-danger")),
            ("success", k("banner-success")),
        ]
        .into_iter()
        .map(|(value, key)| Choice {
            value,
            label: t.s(key),
        })
        .collect(),
        test,
        may_update: viewer.may_system(Resource::Configuration, Operation::Update),
        frame: viewer.frame(state, t.s("config-title"), "admin-config"),
    })
}

fn require(viewer: &Viewer, operation: Operation) -> Result<(), PortalError> {
    if viewer.may_system(Resource::Configuration, operation) {
        Ok(())
    } else {
        Err(PortalError::Forbidden(
            "only a system administrator may see or change the configuration".into(),
        ))
    }
}

pub async fn show(
    State(state): State<AppState>,
    SignedIn(viewer): SignedIn,
) -> Result<Response, PortalError> {
    require(&viewer, Operation::Read)?;
    Ok(page(&state, &viewer, from_settings(&state), None))
}

/// The posted form as Harbor's `Configurations` keys.
fn changes(f: &[(String, String)]) -> Map<String, Value> {
    let get = |k: &str| {
        f.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.trim().to_string())
    };
    let on = |k: &str| f.iter().any(|(key, v)| key == k && v == "true");
    let number = |k: &str| -> Value {
        match get(k).and_then(|v| v.parse::<u64>().ok()) {
            Some(n) => json!(n),
            None => json!(get(k).unwrap_or_default()),
        }
    };
    let mut out = Map::new();
    out.insert(
        "auth_mode".into(),
        json!(get("auth_mode").unwrap_or_default()),
    );
    let ldap_wanted = get("auth_mode").as_deref() == Some("ldap_auth")
        || get("ldap_url").is_some_and(|u| !u.is_empty());
    if ldap_wanted {
        for key in [
            "ldap_url",
            "ldap_search_dn",
            "ldap_search_password",
            "ldap_base_dn",
            "ldap_filter",
            "ldap_uid",
            "ldap_group_base_dn",
            "ldap_group_search_filter",
            "ldap_group_attribute_name",
            "ldap_group_admin_dn",
            "ldap_group_membership_attribute",
        ] {
            out.insert(key.into(), json!(get(key).unwrap_or_default()));
        }
        for key in ["ldap_scope", "ldap_timeout", "ldap_group_search_scope"] {
            out.insert(key.into(), number(key));
        }
        out.insert("ldap_verify_cert".into(), json!(on("ldap_verify_cert")));
        out.insert("ldap_starttls".into(), json!(on("ldap_starttls")));
    }
    out.insert("self_registration".into(), json!(on("self_registration")));
    out.insert(
        "project_creation_restriction".into(),
        json!(get("project_creation_restriction").unwrap_or_default()),
    );
    for key in [
        "token_expiration",
        "session_timeout",
        "robot_token_duration",
        "audit_log_retention_days",
    ] {
        out.insert(key.into(), number(key));
    }
    out.insert(
        "robot_name_prefix".into(),
        json!(get("robot_name_prefix").unwrap_or_default()),
    );
    out.insert(
        "pull_audit_log_disable".into(),
        json!(on("pull_audit_log_disable")),
    );
    out.insert(
        "quota_per_project_enable".into(),
        json!(on("quota_per_project_enable")),
    );
    if let Some(v) = get("storage_per_project").filter(|v| !v.trim().is_empty()) {
        out.insert(
            "storage_per_project".into(),
            match v.trim().parse::<i64>() {
                Ok(n) => json!(n),
                Err(_) => json!(v),
            },
        );
    }
    let banner = get("banner_text").unwrap_or_default();
    out.insert(
        "banner_message".into(),
        json!(if banner.is_empty() {
            String::new()
        } else {
            json!({"message": banner, "type": get("banner_type").unwrap_or_else(|| "info".into()), "closable": false, "fromDate": "", "toDate": ""})
                .to_string()
        }),
    );
    out
}

#[derive(Template)]
#[template(path = "admin_configuration_confirm.html")]
struct ConfirmModeTemplate {
    frame: Frame,
    to_ldap: bool,
    local_users: i64,
    directory_users: i64,
    fields: Vec<(String, String)>,
    /// A search password was typed: asked for again rather than put back into the page.
    needs_password: bool,
}

pub async fn save(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    CsrfForm(viewer, form): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PortalError> {
    require(&viewer, Operation::Update)?;
    let t = viewer.tr();
    let changes = changes(&form);
    let current = state.configuration.current();
    let to_ldap = changes.get("auth_mode") == Some(&json!("ldap_auth"));
    let mode_changes = to_ldap != (current.auth_mode == AuthMode::Ldap);
    let confirmed = form.iter().any(|(k, v)| k == "confirmed" && v == "true");
    if mode_changes && !confirmed {
        // Say what happens to the accounts that exist before anything changes.
        let users = state.users.list(&viewer.principal).await?;
        let local_users = users
            .iter()
            .filter(|u| u.password_hash.is_some() && u.username != "admin")
            .count() as i64;
        let directory_users = users.iter().filter(|u| u.password_hash.is_none()).count() as i64;
        let needs_password = form
            .iter()
            .any(|(k, v)| k == "ldap_search_password" && !v.is_empty());
        return Ok(render(&ConfirmModeTemplate {
            needs_password,
            frame: viewer.frame(&state, t.s("config-mode-confirm-title"), "admin-config"),
            to_ldap,
            local_users,
            directory_users,
            // Never the password: confirming keeps the saved one, or asks for it again.
            fields: form
                .into_iter()
                .filter(|(k, _)| k != "csrf" && k != "ldap_search_password")
                .collect(),
        }));
    }
    let result = state.configuration.update(&changes).await;
    crate::api::audit(
        &state,
        &viewer.principal,
        &ip,
        None,
        "update",
        "configuration",
        &result.as_ref().map(|c| c.join(",")).unwrap_or_default(),
        result.is_ok(),
    );
    match result {
        Ok(changed) if changed.is_empty() => {
            viewer.flash(&state, FlashKind::Success, t.s("config-unchanged"))
        }
        Ok(changed) => viewer.flash(
            &state,
            FlashKind::Success,
            t.t1("config-saved", "keys", &changed.join(", ")),
        ),
        Err(e) => {
            // Show the form as posted, with what is wrong, so nothing typed is lost.
            viewer.flash(&state, FlashKind::Error, e.to_string());
            let flash_page = page(&state, &viewer, from_posted(&form), None);
            return Ok(flash_page);
        }
    }
    Ok(back_to("/admin/configuration"))
}

/// "Test LDAP Server": the form's directory settings (over the saved ones), step by step.
pub async fn test_ldap(
    State(state): State<AppState>,
    CsrfForm(viewer, form): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PortalError> {
    require(&viewer, Operation::Update)?;
    let t = viewer.tr();
    let get = |k: &str| {
        form.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let settings = LdapSettings {
        ldap_url: get("ldap_url"),
        ldap_search_dn: get("ldap_search_dn"),
        ldap_search_password: get("ldap_search_password").map(Secret),
        ldap_base_dn: get("ldap_base_dn"),
        ldap_filter: get("ldap_filter"),
        ldap_uid: get("ldap_uid"),
        ldap_scope: get("ldap_scope").and_then(|s| s.parse().ok()),
        ldap_connection_timeout: get("ldap_timeout").and_then(|s| s.parse().ok()),
        ldap_verify_cert: Some(
            form.iter()
                .any(|(k, v)| k == "ldap_verify_cert" && v == "true"),
        ),
    };
    let outcome = match state.directory.ping(&viewer.principal, settings).await {
        Ok(Ok(())) => (true, t.s("ldap-test-passed")),
        Ok(Err(step)) => (false, t.t1("ldap-test-failed", "step", &step)),
        Err(e) => (false, e.to_string()),
    };
    Ok(page(&state, &viewer, from_posted(&form), Some(outcome)))
}
