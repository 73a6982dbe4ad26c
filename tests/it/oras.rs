//! The ORAS Python SDK (`oras` on PyPI), run through `tests/oras/push_pull.py`: two files
//! pushed as an artifact and pulled back byte for byte, once per auth backend of the SDK.
//!
//! The backends take different paths through `/v2/`: `basic` sends the credentials with every
//! request (Berth accepts Basic there, as Harbor does); `token` fetches a Bearer token at the
//! first challenge and keeps it. That first token comes from a `HEAD` on a blob, so it covers
//! pull only. The SDK asks for a new one only when a request with it is refused with 403: at a
//! 401 it resends the same token once and gives up, whatever the challenge says. So the token
//! test checks how Berth refuses a token that lacks the action, not just the happy path.

use std::path::Path;
use std::process::Command;

use crate::harness::{must, Berthd, ADMIN_PASSWORD};

/// The python of a venv where `oras` is installed; tests/run.sh makes one.
fn python() -> String {
    std::env::var("BERTH_TEST_ORAS_PYTHON").unwrap_or_else(|_| {
        panic!(
            "BERTH_TEST_ORAS_PYTHON is not set: run the tests with tests/run.sh, or set it to the \
             python of a venv with `pip install oras`"
        )
    })
}

/// Runs the script as admin against a fresh berthd; it fails with the SDK's error and the last
/// HTTP exchanges, which `must` shows.
fn push_and_pull(backend: &str) {
    let berthd = Berthd::start();
    let work = tempfile::tempdir().expect("tempdir");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("oras/push_pull.py");
    let out = must(
        Command::new(python())
            .arg(script)
            .args([&berthd.host(), "admin", ADMIN_PASSWORD, backend])
            .arg(work.path())
            // The SDK also reads ~/.docker/config.json: only the credentials given here count.
            .env("HOME", work.path()),
    );
    assert!(out.contains("pushed and pulled"), "{out}");
}

#[test]
fn oras_sdk_pushes_and_pulls_with_basic_auth() {
    push_and_pull("basic");
}

#[test]
fn oras_sdk_pushes_and_pulls_with_token_auth() {
    push_and_pull("token");
}
