//! `berth::config::Config::from_toml`: any text, no panic; a configuration that loads can be
//! validated (every problem reported, no panic) and printed without its LDAP password.
#![no_main]

use berth::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let config = match Config::from_toml(text) {
        Ok(c) => c,
        Err(e) => {
            assert!(!e.0.is_empty() && !e.to_string().is_empty());
            return;
        }
    };
    if let Err(e) = config.validate() {
        assert!(!e.0.is_empty());
        assert!(e.0.iter().all(|p| !p.is_empty()));
    }
    if let Some(base) = config.external_base() {
        assert!(!base.ends_with('/'));
    }
    let _ = config.auth.mode.harbor_name();
    let _ = config.system.project_creation_restriction.as_str();
    if let Some(ldap) = &config.ldap {
        let _ = ldap.problems();
        let password = &ldap.ldap_search_password.0;
        assert_eq!(format!("{:?}", ldap.ldap_search_password), "***");
        // The password is never printed (unless it is text that is printed anyway).
        if !password.is_empty() {
            let printed = format!("{config:?}");
            let mut without = config.clone();
            if let Some(l) = &mut without.ldap {
                l.ldap_search_password.0.clear();
            }
            assert_eq!(printed, format!("{without:?}"), "the password shows");
        }
    }
});
