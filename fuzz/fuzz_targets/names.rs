//! `berth::names`: `RepoName::parse`, `valid_tag` and `valid_project_name` agree with
//! independent state machines for the spec's grammars, and never panic.
#![no_main]

use berth::names::{valid_project_name, valid_tag, NameError, RepoName};
use berth_fuzz::reference;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let s = s.as_ref();
    match RepoName::parse(s) {
        Ok(n) => {
            assert!(reference::repo_name(s), "accepted {s:?}");
            assert_eq!(n.as_str(), s);
            assert_eq!(n.to_string(), s);
            assert_eq!(Some(n.project()), s.split('/').next());
            assert!(!n.project().is_empty());
        }
        Err(e) => {
            assert!(!reference::repo_name(s), "refused {s:?}: {e}");
            if e == NameError::TooLong {
                assert!(s.len() > 255);
            }
        }
    }
    assert_eq!(valid_tag(s), reference::tag(s), "tag {s:?}");
    assert_eq!(
        valid_project_name(s),
        reference::project(s),
        "project {s:?}"
    );
});
