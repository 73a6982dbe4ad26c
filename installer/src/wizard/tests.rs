//! Every screen drawn at 80x24 (insta snapshots), the keys, and every validation message.

use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;

use super::*;

fn app() -> App {
    App::new(
        None,
        "registry.example.com",
        vec!["192.0.2.10".parse().expect("ip")],
    )
}

fn screen(app: &App) -> String {
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("terminal");
    terminal
        .draw(|frame| frame.render_widget(app, frame.area()))
        .expect("draw");
    terminal.backend().to_string()
}

fn press(app: &mut App, code: KeyCode) -> Option<Action> {
    app.handle_key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        press(app, KeyCode::Char(c));
    }
}

fn clear(app: &mut App) {
    app.handle_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
}

/// The error as the screen shows it (labels, not the answers file's keys).
fn error_of(app: &App) -> String {
    app.error_text().unwrap_or_default()
}

/// Through the welcome, hostname and password screens with good answers.
fn to_login(app: &mut App) {
    press(app, KeyCode::Enter);
    press(app, KeyCode::Enter);
    type_text(app, "Harbor12345");
    press(app, KeyCode::Enter);
    type_text(app, "Harbor12345");
    press(app, KeyCode::Enter);
    assert_eq!(app.step, Step::Login, "{}", error_of(app));
}

#[test]
fn screens_in_database_mode() {
    let mut app = app();
    insta::assert_snapshot!("welcome", screen(&app));
    press(&mut app, KeyCode::Enter);
    insta::assert_snapshot!("hostname", screen(&app));
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, "Harbor12345");
    insta::assert_snapshot!("password", screen(&app));
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, "Harbor12345");
    press(&mut app, KeyCode::Enter);
    insta::assert_snapshot!("login", screen(&app));
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.step, Step::Tls, "database mode skips the directory");
    insta::assert_snapshot!("tls_generate", screen(&app));
    press(&mut app, KeyCode::Right);
    insta::assert_snapshot!("tls_provided", screen(&app));
    press(&mut app, KeyCode::Right);
    insta::assert_snapshot!("tls_none", screen(&app));
    press(&mut app, KeyCode::Left);
    press(&mut app, KeyCode::Left);
    press(&mut app, KeyCode::Enter);
    insta::assert_snapshot!("network", screen(&app));
    for _ in 0..4 {
        press(&mut app, KeyCode::Enter);
    }
    assert_eq!(app.step, Step::Summary, "{}", error_of(&app));
    insta::assert_snapshot!("summary", screen(&app));
    let Some(Action::Apply(answers)) = press(&mut app, KeyCode::Enter) else {
        panic!("the summary applies on Enter");
    };
    assert_eq!(answers.hostname, "registry.example.com");
    assert_eq!(answers.admin_password.as_deref(), Some("Harbor12345"));
    assert_eq!(answers.network.https_port, 443);
    assert_eq!(app.step, Step::Applying);
    app.progressed("Checking the answers");
    app.progressed("Preparing the certificate");
    insta::assert_snapshot!("applying", screen(&app));
    assert!(
        press(&mut app, KeyCode::Esc).is_none() && app.step == Step::Applying,
        "no way out while the files are written"
    );
    assert!(app
        .handle_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL))
        .is_none());
    app.applied(Err("chown /var/lib/berth: Operation not permitted".into()));
    insta::assert_snapshot!("apply_failed", screen(&app));
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.step, Step::Summary);
    press(&mut app, KeyCode::Enter);
    app.applied(Ok(Outcome {
        url: "https://registry.example.com".into(),
        registry: "registry.example.com".into(),
        ca_fingerprint: Some(["AB"; 32].join(":")),
        ca_path: Some("/etc/berth/tls/ca.crt".into()),
        started: true,
        start_hint: None,
    }));
    insta::assert_snapshot!("done", screen(&app));
    assert!(matches!(
        press(&mut app, KeyCode::Enter),
        Some(Action::Exit)
    ));
}

#[test]
fn the_last_screen_says_how_to_start_berthd_when_setup_did_not() {
    for (systemd, name) in [(true, "done_not_started"), (false, "done_without_systemd")] {
        let mut app = app();
        app.applied(Ok(Outcome {
            url: "http://registry.example.com".into(),
            registry: "registry.example.com".into(),
            ca_fingerprint: None,
            ca_path: None,
            started: false,
            start_hint: Some(crate::apply::start_hint(systemd)),
        }));
        let shown = screen(&app);
        assert!(
            shown.contains("systemctl enable --now berthd.service"),
            "{shown}"
        );
        insta::assert_snapshot!(name, shown);
    }
}

#[test]
fn screens_in_ldap_mode() {
    let mut app = app();
    to_login(&mut app);
    press(&mut app, KeyCode::Right);
    insta::assert_snapshot!("login_ldap", screen(&app));
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.step, Step::Directory);
    insta::assert_snapshot!("directory", screen(&app));
    type_text(&mut app, "ldap://ldap.example.com");
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, "cn=berth,dc=example,dc=com");
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, "secret");
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, "dc=example,dc=com");
    // To the button: uid, filter, group base, admin group, CA, StartTLS, verify, button.
    for _ in 0..8 {
        press(&mut app, KeyCode::Tab);
    }
    assert_eq!(app.focused(), Some(FieldId::TestConnection));
    let Some(Action::TestConnection(cfg)) = press(&mut app, KeyCode::Enter) else {
        panic!("Enter on the button tests the connection");
    };
    assert_eq!(cfg.ldap_search_password.0, "secret");
    assert_eq!(cfg.ldap_uid, "cn", "the default UID attribute");
    insta::assert_snapshot!("directory_testing", screen(&app));
    app.connection_tested(Err(wrong(
        "ldap",
        "the search DN could not bind: invalid credentials for cn=berth,dc=example,dc=com",
    )));
    insta::assert_snapshot!("directory_test_failed", screen(&app));
    app.connection_tested(Ok(()));
    insta::assert_snapshot!("directory_test_passed", screen(&app));
    // Enter on the button never leaves the screen; Tab and Down wrap round, BackTab and Up
    // go back.
    assert!(matches!(
        press(&mut app, KeyCode::Enter),
        Some(Action::TestConnection(_))
    ));
    assert_eq!(app.step, Step::Directory);
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.focused(), Some(FieldId::LdapUrl));
    press(&mut app, KeyCode::BackTab);
    press(&mut app, KeyCode::Up);
    assert_eq!(app.focused(), Some(FieldId::LdapVerifyCert));
    press(&mut app, KeyCode::Char(' '));
    assert!(!app.field(FieldId::LdapVerifyCert).is_on());
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Down);
    assert_eq!(app.focused(), Some(FieldId::LdapUrl));
    // Enter on the last field before the button leaves the screen.
    press(&mut app, KeyCode::Up);
    press(&mut app, KeyCode::Up);
    assert!(press(&mut app, KeyCode::Enter).is_none());
    assert_eq!(app.step, Step::Tls, "{}", error_of(&app));
    // Esc comes back to the directory with its values kept.
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.step, Step::Directory);
    assert_eq!(app.field(FieldId::LdapSearchPassword).value(), "secret");
    let answers_ldap = {
        press(&mut app, KeyCode::Esc);
        press(&mut app, KeyCode::Enter);
        app.ldap_config().expect("settings")
    };
    assert!(!answers_ldap.ldap_verify_cert);
    assert_eq!(answers_ldap.ldap_base_dn, "dc=example,dc=com");
}

#[test]
fn leaving_the_directory_screen_checks_the_settings() {
    let mut app = app();
    to_login(&mut app);
    press(&mut app, KeyCode::Right);
    press(&mut app, KeyCode::Enter);
    for _ in 0..10 {
        press(&mut app, KeyCode::Enter);
    }
    assert_eq!(app.focused(), Some(FieldId::LdapVerifyCert));
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.step, Step::Directory);
    assert_eq!(error_of(&app), "URL must start with ldap:// or ldaps://: ");
    assert_eq!(
        app.focused(),
        Some(FieldId::LdapUrl),
        "the cursor goes to the URL"
    );
    insta::assert_snapshot!("directory_error", screen(&app));
    press(&mut app, KeyCode::Tab);
    assert!(
        press(&mut app, KeyCode::Enter).is_none(),
        "the button checks first too"
    );
    assert!(app.connection_test.is_none());
    app.focus = 0;
    type_text(&mut app, "ldaps://ldap.example.com");
    assert!(app.error.is_none(), "typing clears the message");
    app.focus = 9;
    press(&mut app, KeyCode::Char(' '));
    app.focus = 10;
    press(&mut app, KeyCode::Enter);
    assert_eq!(
        error_of(&app),
        "StartTLS applies to ldap:// URLs, not ldaps://"
    );
    assert_eq!(app.focused(), Some(FieldId::LdapStartTls));
    app.focus = 9;
    press(&mut app, KeyCode::Char(' '));
    app.focus = 10;
    press(&mut app, KeyCode::Enter);
    assert_eq!(error_of(&app), "Base DN must not be empty");
    assert_eq!(app.focused(), Some(FieldId::LdapBaseDn));
    app.focus = 3;
    type_text(&mut app, "dc=example,dc=com");
    app.focus = 8;
    type_text(&mut app, "/nonexistent/ldap-ca.pem");
    app.focus = 10;
    press(&mut app, KeyCode::Enter);
    assert_eq!(
        error_of(&app),
        "CA certificate file: no file at /nonexistent/ldap-ca.pem"
    );
    assert_eq!(app.focused(), Some(FieldId::LdapCaCertificate));
    app.focus = 8;
    clear(&mut app);
    app.focus = 10;
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.step, Step::Tls, "{}", error_of(&app));
}

#[test]
fn every_validation_message() {
    let mut app = app();
    press(&mut app, KeyCode::Enter);
    clear(&mut app);
    type_text(&mut app, "registry_1.example.com");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.step, Step::Hostname);
    assert_eq!(
        error_of(&app),
        "Hostname: \"registry_1.example.com\" is not a host name or IP address (label \"registry_1\")"
    );
    insta::assert_snapshot!("hostname_error", screen(&app));
    clear(&mut app);
    press(&mut app, KeyCode::Enter);
    assert!(
        error_of(&app).starts_with("Hostname: is empty"),
        "{}",
        error_of(&app)
    );
    type_text(&mut app, "10.0.0.300");
    press(&mut app, KeyCode::Enter);
    assert_eq!(
        error_of(&app),
        "Hostname: \"10.0.0.300\" is not a valid IP address"
    );
    clear(&mut app);
    type_text(&mut app, "10.0.0.30");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.step, Step::Password);

    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Enter);
    assert!(
        error_of(&app).starts_with("Password: "),
        "an empty password on a new system: {}",
        error_of(&app)
    );
    app.focus = 0;
    type_text(&mut app, "harbor12345");
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, "harbor12345");
    press(&mut app, KeyCode::Enter);
    let weak = error_of(&app);
    assert!(
        weak.starts_with("Password: ") && weak.contains("upper"),
        "{weak}"
    );
    app.focus = 0;
    clear(&mut app);
    type_text(&mut app, "Harbor12345");
    app.focus = 1;
    clear(&mut app);
    type_text(&mut app, "Harbor12346");
    press(&mut app, KeyCode::Enter);
    assert_eq!(
        error_of(&app),
        "Password: the two entries differ: type the same password twice"
    );
    insta::assert_snapshot!("password_mismatch", screen(&app));
    press(&mut app, KeyCode::Backspace);
    type_text(&mut app, "5");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.step, Step::Login);
    press(&mut app, KeyCode::Enter);

    // A provided certificate: both paths, then the files themselves are checked.
    press(&mut app, KeyCode::Right);
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Enter);
    assert_eq!(
        error_of(&app),
        "Certificate file: give the path of the PEM certificate chain"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let one = crate::certs::generate("10.0.0.30", &[], None).expect("generate");
    let other = crate::certs::generate("10.0.0.30", &[], None).expect("generate");
    let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    std::fs::write(&cert, &one.certificate).expect("write");
    std::fs::write(&key, &other.private_key).expect("write");
    app.focus = 1;
    type_text(&mut app, &cert.display().to_string());
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Enter);
    assert_eq!(
        error_of(&app),
        "Private key file: give the path of the PEM private key"
    );
    type_text(
        &mut app,
        &dir.path().join("missing.pem").display().to_string(),
    );
    press(&mut app, KeyCode::Enter);
    assert!(
        error_of(&app).starts_with("Private key file: cannot read "),
        "{}",
        error_of(&app)
    );
    clear(&mut app);
    type_text(&mut app, &key.display().to_string());
    press(&mut app, KeyCode::Enter);
    assert!(
        error_of(&app).starts_with("Private key file: "),
        "a key that is not the certificate's: {}",
        error_of(&app)
    );
    std::fs::write(&key, &one.private_key).expect("write");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.step, Step::Network, "{}", error_of(&app));

    // Ports, address and data directory, and the checks across them.
    let cases: [(usize, &str, &str); 6] = [
        (0, "eighty", "HTTP port: must be a number from 0 to 65535"),
        (1, "70000", "HTTPS port: must be a number from 0 to 65535"),
        (
            2,
            "everywhere",
            "Listen address: is not an IP address (0.0.0.0 listens on all of them)",
        ),
        (
            3,
            "var/lib/berth",
            "Data directory: must be an absolute path",
        ),
        (1, "0", "HTTPS port: must not be 0 when TLS is on"),
        (0, "443", "HTTP port: must differ from HTTPS port"),
    ];
    for (field, value, message) in cases {
        let before = app.fields[FieldId::HttpPort as usize + field].clone();
        app.focus = field;
        clear(&mut app);
        type_text(&mut app, value);
        app.focus = 3;
        press(&mut app, KeyCode::Enter);
        assert_eq!(app.step, Step::Network);
        assert_eq!(error_of(&app), message);
        // The cursor goes to the field in error, not to the next one.
        assert_eq!(
            app.focused(),
            Some(app.fields[FieldId::HttpPort as usize + field].id),
            "{message}"
        );
        app.fields[FieldId::HttpPort as usize + field] = before;
    }
    insta::assert_snapshot!("network_error", screen(&app));
    // Plain HTTP on port 0 leaves nothing listening.
    press(&mut app, KeyCode::Esc);
    app.focus = 0;
    press(&mut app, KeyCode::Right);
    press(&mut app, KeyCode::Enter);
    app.focus = 0;
    clear(&mut app);
    type_text(&mut app, "0");
    app.focus = 3;
    press(&mut app, KeyCode::Enter);
    assert_eq!(
        error_of(&app),
        "HTTP port: must not be 0 when TLS is off: nothing would listen"
    );
}

#[test]
fn esc_goes_back_and_ctrl_c_leaves_from_every_screen() {
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    let mut app = app();
    to_login(&mut app);
    press(&mut app, KeyCode::Right);
    let mut seen = vec![app.step];
    while app.step != Step::Summary {
        assert!(matches!(app.handle_key(ctrl_c), Some(Action::Quit)));
        press(&mut app, KeyCode::Enter);
        // The directory's fields, filled so it can be left.
        if app.step == Step::Directory && app.field(FieldId::LdapUrl).value().is_empty() {
            type_text(&mut app, "ldap://127.0.0.1");
            app.focus = 3;
            type_text(&mut app, "dc=example,dc=com");
            app.focus = 10;
        }
        for _ in 0..4 {
            if app.step != Step::Summary && app.step != *seen.last().expect("step") {
                break;
            }
            if app.step == Step::Summary {
                break;
            }
            press(&mut app, KeyCode::Enter);
        }
        if seen.last() != Some(&app.step) {
            seen.push(app.step);
        }
    }
    assert!(matches!(app.handle_key(ctrl_c), Some(Action::Quit)));
    assert_eq!(
        seen,
        vec![
            Step::Login,
            Step::Directory,
            Step::Tls,
            Step::Network,
            Step::Summary
        ]
    );
    for expected in [
        Step::Network,
        Step::Tls,
        Step::Directory,
        Step::Login,
        Step::Password,
        Step::Hostname,
        Step::Welcome,
        Step::Welcome,
    ] {
        press(&mut app, KeyCode::Esc);
        assert_eq!(app.step, expected);
    }
    assert!(matches!(app.handle_key(ctrl_c), Some(Action::Quit)));
    assert_eq!(
        app.field(FieldId::LdapUrl).value(),
        "ldap://127.0.0.1",
        "going back keeps what was typed"
    );
}

#[test]
fn a_configured_system_starts_from_its_values_and_may_keep_the_password() {
    let current = Answers::from_toml(
        "hostname = \"reg.example.com\"\n\
         [auth]\nmode = \"ldap\"\n\
         [ldap]\nldap_url = \"ldaps://dc1.example.com\"\nldap_base_dn = \"dc=example,dc=com\"\n\
         ldap_uid = \"sAMAccountName\"\nldap_timeout = 9\n\
         [tls]\nmode = \"none\"\n\
         [network]\nhttp_port = 8080\n\
         [storage]\ndata_dir = \"/srv/berth\"\n",
    )
    .expect("answers");
    let mut app = App::new(Some(current), "ignored", Vec::new());
    insta::assert_snapshot!("welcome_reconfigure", screen(&app));
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.field(FieldId::Hostname).value(), "reg.example.com");
    press(&mut app, KeyCode::Enter);
    insta::assert_snapshot!("password_reconfigure", screen(&app));
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.step, Step::Login, "{}", error_of(&app));
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.step, Step::Directory);
    assert_eq!(app.field(FieldId::LdapUid).value(), "sAMAccountName");
    app.focus = 10;
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Enter);
    for _ in 0..4 {
        press(&mut app, KeyCode::Enter);
    }
    assert_eq!(app.step, Step::Summary, "{}", error_of(&app));
    let Some(Action::Apply(answers)) = press(&mut app, KeyCode::Enter) else {
        panic!("apply");
    };
    assert_eq!(answers.admin_password, None, "kept");
    assert_eq!(answers.tls.mode, TlsMode::None);
    assert_eq!(answers.network.http_port, 8080);
    assert_eq!(answers.storage.data_dir, PathBuf::from("/srv/berth"));
    let ldap = answers.ldap.expect("ldap");
    assert_eq!(
        ldap.ldap_timeout, 9,
        "settings the wizard does not ask about are kept"
    );
    assert_eq!(ldap.ldap_url, "ldaps://dc1.example.com");
}

/// A console smaller than 80x24 (or a window being resized) must not bring the wizard down.
#[test]
fn tiny_terminals_do_not_panic() {
    let mut app = app();
    to_login(&mut app);
    press(&mut app, KeyCode::Right);
    press(&mut app, KeyCode::Enter);
    app.connection_tested(Err(wrong("ldap", "a long reason ".repeat(10))));
    app.error = Some(wrong("ldap", "another long reason ".repeat(10)));
    for (w, h) in [(1, 1), (3, 5), (10, 4), (40, 12)] {
        let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("terminal");
        terminal
            .draw(|frame| {
                frame.render_widget(&app, frame.area());
                let _ = app.cursor_position(frame.area());
            })
            .expect("draw");
    }
}
