//! Harbor's `q` language (`berth::api::query`): `Query::parse` never panics and refuses what it
//! should not take (unknown keys, unbalanced brackets); what it accepts is well formed; `matches`
//! and `parse_time` never panic.
//!
//! Input: `q`, then optionally a 0xff byte and a value to match every term against.
#![no_main]

use berth::api::query::{parse_time, Match, Query};
use libfuzzer_sys::fuzz_target;

const ALLOWED: &[&str] = &[
    "name",
    "public",
    "size",
    "tags",
    "creation_time",
    "update_time",
    "operation",
    "resource",
    "username",
    "op_time",
];

fn balanced(s: &str) -> bool {
    let mut depth = 0i64;
    for c in s.chars() {
        match c {
            '[' | '{' | '(' => depth += 1,
            ']' | '}' | ')' => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0
}

fuzz_target!(|data: &[u8]| {
    let (q, value) = match data.iter().position(|&b| b == 0xff) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let (Ok(q), Ok(value)) = (std::str::from_utf8(q), std::str::from_utf8(value)) else {
        return;
    };
    let _ = parse_time(value);
    let _ = parse_time(q);
    let parsed = Query::parse(Some(q), ALLOWED);
    assert_eq!(parsed.is_ok(), Query::parse(Some(q), ALLOWED).is_ok());
    // Nothing is allowed: only a blank q parses.
    let none = Query::parse(Some(q), &[]);
    if let Ok(none) = none {
        assert!(none.terms.is_empty(), "{q:?} -> {none:?}");
    }
    let Ok(query) = parsed else {
        return;
    };
    if !query.terms.is_empty() {
        assert!(balanced(q), "unbalanced {q:?} accepted");
    }
    assert!(query.terms.len() <= q.matches(',').count() + 1);
    for (key, m) in &query.terms {
        assert!(ALLOWED.contains(&key.as_str()), "key {key:?} from {q:?}");
        match m {
            Match::Exact(v) => {
                assert_eq!(v.trim(), v);
                assert!(!v.starts_with(['[', '{', '(', '~']));
            }
            Match::Fuzzy(_) => {}
            Match::Range(a, b) => {
                for side in [a, b].into_iter().flatten() {
                    assert!(!side.is_empty() && side.trim() == side);
                }
            }
            Match::AnyOf(vs) => {
                assert!(vs
                    .iter()
                    .all(|v| !v.is_empty() && !v.contains(char::is_whitespace)));
            }
        }
        let hit = query.matches(key, value);
        // The first term for a key decides.
        let first = query.get(key).expect("present");
        if let Match::Exact(v) = first {
            assert_eq!(hit, v == value);
        }
        if let Match::AnyOf(vs) = first {
            assert_eq!(hit, vs.iter().any(|v| v == value));
        }
        if let Match::Fuzzy(v) = first {
            assert_eq!(hit, value.contains(v.as_str()));
            assert!(query.matches(key, v), "a fuzzy term matches itself");
        }
    }
    assert!(query.matches("absent-key", value));
});
