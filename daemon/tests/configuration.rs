//! Harbor's `/configurations` and the portal's Configuration page, in process: one store for
//! the run-time settings, changes that take effect without a restart, bad input that changes
//! nothing, and the directory's password never shown or stored in clear.

mod common;

use axum::body::Body;
use axum::http::Request;
use serde_json::{json, Value};

use common::{granted_actions, App, ADMIN};

async fn put(app: &App, body: Value) -> common::Reply {
    app.api("PUT", "/configurations", Some(ADMIN), Some(body))
        .await
}

async fn view(app: &App) -> Value {
    let r = app.api("GET", "/configurations", Some(ADMIN), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_take_effect_at_once_and_are_stored() {
    let app = App::new().await;
    let before = view(&app).await;
    assert_eq!(
        before["auth_mode"],
        json!({"value": "db_auth", "editable": true})
    );
    assert_eq!(before["token_expiration"]["value"], 30);
    assert_eq!(before["read_only"]["editable"], false);

    // Self-registration off: an anonymous sign-up is refused.
    let signup = json!({"username": "newbie", "email": "n@example.com", "password": "Passw0rdX"});
    let r = app.api("POST", "/users", None, Some(signup.clone())).await;
    assert_eq!(r.status, 401, "{}", r.text);

    let banner = json!({"message": "Maintenance at 18:00", "type": "warning", "closable": false, "fromDate": "", "toDate": ""}).to_string();
    let r = put(
        &app,
        json!({"self_registration": true, "token_expiration": 7, "session_timeout": 15,
               "project_creation_restriction": "adminonly", "banner_message": banner}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // At once, no restart: sign-up works, tokens last 7 minutes, the banner is shown.
    let r = app.api("POST", "/users", None, Some(signup)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let token = app.token(ADMIN, "library/x").await;
    assert!(!granted_actions(&token).is_empty());
    let claims: Value = {
        use base64::Engine;
        let payload = token.split('.').nth(1).expect("payload");
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .expect("base64"),
        )
        .expect("claims")
    };
    let lifetime = claims["exp"].as_i64().unwrap_or(0) - claims["iat"].as_i64().unwrap_or(0);
    assert_eq!(lifetime, 7 * 60, "{claims}");
    let info = app.api("GET", "/systeminfo", None, None).await;
    assert_eq!(info.body["banner_message"], json!(banner));
    assert_eq!(info.body["project_creation_restriction"], "adminonly");
    let page = app
        .send(
            Request::builder()
                .uri("/account/sign-in")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert!(
        page.text.contains("Maintenance at 18:00"),
        "the banner is on every page"
    );
    assert!(
        page.text.contains("/account/sign-up"),
        "and the sign-up link"
    );

    // Stored: what a restart (or berth-setup) reads is what is in force.
    let stored = berth::settings::load(&app.state.db, &app.data())
        .await
        .expect("load")
        .expect("stored");
    assert_eq!(stored, *app.state.settings.current());
    assert_eq!(stored.token_expiration_minutes, 7);
    // Audited by key, never by value.
    let log = app
        .api(
            "GET",
            "/audit-logs?q=resource_type=configuration",
            Some(ADMIN),
            None,
        )
        .await;
    let resource = log.body[0]["resource"].as_str().unwrap_or("").to_string();
    assert!(
        resource.contains("token_expiration") && resource.contains("banner_message"),
        "{resource}"
    );
    assert!(!resource.contains("Maintenance"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_changes_are_refused_whole() {
    let app = App::new().await;
    let before = view(&app).await;
    for (body, says) in [
        (json!({"token_expiration": 0}), "token_expiration"),
        (json!({"token_expiration": "ten"}), "token_expiration"),
        (json!({"self_registration": "yes"}), "self_registration"),
        (json!({"auth_mode": "oidc_auth"}), "auth_mode"),
        (json!({"auth_mode": "ldap_auth"}), "LDAP"),
        (
            json!({"ldap_url": "http://x", "ldap_base_dn": "dc=x"}),
            "ldap_url",
        ),
        (json!({"read_only": true}), "read_only"),
        (json!({"no_such_key": 1}), "no_such_key"),
        (json!({"robot_name_prefix": "a/b"}), "robot_name_prefix"),
        // Without a `$` a prefix could take people's names (`a` would take `admin`).
        (json!({"robot_name_prefix": "a"}), "robot_name_prefix"),
        (json!({"banner_message": "not json"}), "banner_message"),
        // One bad key spoils the good ones beside it.
        (
            json!({"self_registration": true, "session_timeout": -5}),
            "session_timeout",
        ),
    ] {
        let r = put(&app, body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert!(r.text.contains(says), "{body}: {}", r.text);
        assert_eq!(view(&app).await, before, "{body} changed something");
    }
    let r = app.api("PUT", "/configurations", Some(ADMIN), None).await;
    assert_eq!(r.status, 400, "an empty body is refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_directory_password_is_sealed_and_never_shown() {
    let app = App::new().await;
    let r = put(
        &app,
        json!({"ldap_url": "ldap://127.0.0.1:1", "ldap_base_dn": "dc=example,dc=com",
               "ldap_search_dn": "cn=reader,dc=example,dc=com",
               "ldap_search_password": "s3cret-Pa55"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let shown = view(&app).await;
    assert!(!shown.to_string().contains("s3cret-Pa55"));
    assert!(shown.get("ldap_search_password").is_none());
    assert_eq!(shown["ldap_url"]["value"], "ldap://127.0.0.1:1");
    let holds = |file: &str| {
        let bytes = std::fs::read(app.data().join(file)).unwrap_or_default();
        bytes.windows(11).any(|w| w == b"s3cret-Pa55")
    };
    assert!(std::fs::metadata(app.data().join("berth.db")).is_ok());
    assert!(
        !holds("berth.db"),
        "the database holds the password in clear"
    );
    assert!(
        !holds("berth.db-wal"),
        "the journal holds the password in clear"
    );
    let document = app
        .state
        .db
        .read(berth::db::settings::load)
        .await
        .expect("read")
        .expect("stored");
    assert!(document.contains("ldap_search_password") && !document.contains("s3cret-Pa55"));
    // An empty password keeps the saved one.
    let r = put(&app, json!({"ldap_search_password": ""})).await;
    assert_eq!(r.status, 200);
    // The saved password never goes to another directory, nor unverified.
    for moved in [
        json!({"ldap_url": "ldap://127.0.0.2:1"}),
        json!({"ldap_search_dn": "cn=other,dc=example,dc=com"}),
        json!({"ldap_verify_cert": false}),
    ] {
        let r = put(&app, moved.clone()).await;
        assert_eq!(r.status, 400, "{moved}: {}", r.text);
        assert!(r.text.contains("ldap_search_password again"), "{}", r.text);
    }
    let r = put(
        &app,
        json!({"ldap_url": "ldap://127.0.0.2:1", "ldap_search_password": "an0ther-Pa55"}),
    )
    .await;
    assert_eq!(r.status, 200, "with the password typed again: {}", r.text);
    // While logins go to the directory, nobody signs up for a local account.
    let r = put(
        &app,
        json!({"self_registration": true, "auth_mode": "ldap_auth"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .api(
            "POST",
            "/users",
            None,
            Some(
                json!({"username": "squatter", "email": "s@example.com", "password": "Passw0rdX"}),
            ),
        )
        .await;
    assert!(matches!(r.status.as_u16(), 401 | 403), "{}", r.text);
    let kept = app.state.settings.current();
    assert_eq!(
        kept.ldap
            .as_ref()
            .map(|l| l.ldap_search_password.0.as_str()),
        Some("an0ther-Pa55"),
        "the password typed last is the one kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_page_writes_the_same_settings_and_asks_before_the_mode_changes() {
    let app = App::new().await;
    app.user("alice").await;
    let (sid, csrf) = app.state.sessions.create(1);
    let post = |fields: Vec<(&'static str, String)>| {
        let mut pairs = fields;
        pairs.push(("csrf", csrf.clone()));
        Request::builder()
            .method("POST")
            .uri("/admin/configuration")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", format!("sid={sid}"))
            .body(Body::from(
                serde_urlencoded::to_string(&pairs).expect("form"),
            ))
            .expect("request")
    };
    let base = |mode: &str| {
        vec![
            ("auth_mode", mode.to_string()),
            ("project_creation_restriction", "everyone".into()),
            ("token_expiration", "45".into()),
            ("session_timeout", "60".into()),
            ("robot_token_duration", "30".into()),
            ("robot_name_prefix", "robot$".into()),
            ("audit_log_retention_days", "90".into()),
            ("banner_text", "".into()),
            ("banner_type", "info".into()),
        ]
    };
    let r = app.send(post(base("db_auth"))).await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(
        view(&app).await["token_expiration"]["value"],
        45,
        "one store"
    );

    // Switching to LDAP first says what happens to alice, and changes nothing yet.
    let mut ldap = base("ldap_auth");
    ldap.push(("ldap_url", "ldap://127.0.0.1:1".into()));
    ldap.push(("ldap_base_dn", "dc=example,dc=com".into()));
    ldap.push(("ldap_uid", "uid".into()));
    ldap.push(("ldap_scope", "2".into()));
    ldap.push(("ldap_timeout", "5".into()));
    ldap.push(("ldap_group_search_scope", "2".into()));
    let r = app.send(post(ldap.clone())).await;
    assert_eq!(r.status, 200);
    assert!(
        r.text.contains("One local account other than admin"),
        "{}",
        r.text
    );
    assert_eq!(view(&app).await["auth_mode"]["value"], "db_auth");
    ldap.push(("confirmed", "true".into()));
    let r = app.send(post(ldap)).await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(view(&app).await["auth_mode"]["value"], "ldap_auth");
    // The admin still signs in locally; alice's local password no longer works.
    let r = app.api("GET", "/users/current", Some(ADMIN), None).await;
    assert_eq!(r.status, 200);
    let r = app
        .api(
            "GET",
            "/users/current",
            Some(("alice", common::PASSWORD)),
            None,
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
}
