//! The running daemon against its own OpenAPI document, with schemathesis: every documented
//! operation is called with generated requests (signed in as admin), and every answer must be
//! a documented status with a body and headers that match the document, no 5xx, and no
//! rejection of a request the document says is valid.
//!
//! `negative_data_rejection` is left out on purpose: Berth accepts more than the document can
//! express exactly (Harbor's full `q` grammar, and passwords, usernames and e-mail addresses the
//! document describes by a strict subset), so "the API accepted something the schema forbids"
//! is expected there. Every such input is validated by the handlers, and the bad-input tests in
//! `api.rs` check the refusals.

use std::process::Command;

use crate::harness::{must, ADMIN_PASSWORD};
use crate::ldap::{berthd_with_directory, Slapd};

#[test]
fn the_daemon_honours_its_openapi_document() {
    let schemathesis = std::env::var("BERTH_TEST_SCHEMATHESIS").unwrap_or_else(|_| {
        panic!("BERTH_TEST_SCHEMATHESIS is not set: run the tests with tests/run.sh, which installs schemathesis")
    });
    // In LDAP mode against a real directory, so the user-group and LDAP helper operations do
    // their real work. The settings test (`/ldap/ping`) is left out: it connects to whatever
    // URL it is given, and generated URLs must not reach beyond this machine. The LDAP tests
    // cover it. So are the configurations: a generated `ldap_url` would send every later login
    // there. `daemon/tests/configuration.rs` covers them. Endpoints and policies too: saving
    // one reaches the URL it names (`daemon/tests/replication.rs` and `it::replication`).
    let slapd = Slapd::start();
    let berthd = berthd_with_directory(&slapd);
    // Some content, so that operations on repositories and artifacts find something.
    berthd.create_project("contract", false);
    let reg = berthd.registry(&["contract/app", "library/app"]);
    reg.push_image("contract/app", "v1", b"one");
    reg.push_image("library/app", "latest", b"two");

    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("admin:{ADMIN_PASSWORD}"));
    let work = tempfile::tempdir().expect("tempdir");
    // A valid request may still be refused for the state it meets: 412 is Harbor's answer to
    // deleting a project that holds repositories (and to touching an immutable tag), on top
    // of what schemathesis expects by default.
    std::fs::write(
        work.path().join("schemathesis.toml"),
        "[checks.positive_data_acceptance]\nexpected-statuses = [\"2xx\", \"3xx\", \"401\", \"403\", \"404\", \"409\", \"412\", \"429\", \"5xx\"]\n",
    )
    .expect("schemathesis.toml");
    let out = must(
        Command::new(schemathesis)
            .current_dir(work.path())
            .args(["run", &format!("{}/api/v2.0/openapi.json", berthd.url()), "--url", &berthd.url()])
            .args(["--header", &format!("Authorization: Basic {auth}")])
            .args(["--exclude-path", "/api/v2.0/ldap/ping"])
            .args(["--exclude-path", "/api/v2.0/configurations"])
            .args(["--exclude-path-regex", "^/api/v2.0/(registries|replication)"])
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,positive_data_acceptance",
            ])
            .args(["--max-examples", "15", "--generation-deterministic", "--request-timeout", "20"])
            .args(["--suppress-health-check", "filter_too_much"])
            .env("NO_COLOR", "1"),
    );
    assert!(out.contains("passed"), "{out}");
    assert!(
        !berthd.log().contains("panicked"),
        "berthd panicked:\n{}",
        berthd.log()
    );
}
