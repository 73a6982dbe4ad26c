//! Repository names and tags, validated at parse as the OCI distribution spec says, plus
//! Berth's rule that a repository lives inside a project: `project/repo[/more]`.

use std::fmt;

/// A repository name: lower-case path components separated by `/`, at least two of them
/// (the first is the project), at most 255 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RepoName(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NameError {
    #[error("repository name must be project/repository")]
    NoProject,
    #[error("repository name is longer than 255 characters")]
    TooLong,
    #[error("invalid repository name component {0:?}: use lower-case letters, digits and single separators . _ __ -")]
    BadComponent(String),
}

impl RepoName {
    pub fn parse(s: &str) -> Result<RepoName, NameError> {
        if s.len() > 255 {
            return Err(NameError::TooLong);
        }
        let mut count = 0;
        for component in s.split('/') {
            if !valid_component(component) {
                return Err(NameError::BadComponent(component.to_string()));
            }
            count += 1;
        }
        if count < 2 {
            return Err(NameError::NoProject);
        }
        Ok(RepoName(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The project, i.e. the first component.
    pub fn project(&self) -> &str {
        self.0.split('/').next().unwrap_or_default()
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`: the spec's path component.
fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: ".", "_", "__", or one or more "-".
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`: the spec's tag.
pub fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|&x| x.is_ascii_alphanumeric() || x == b'_' || x == b'.' || x == b'-')
}

/// Harbor's project name rule: `^[a-z0-9]+(?:[._-][a-z0-9]+)*$`, 1 to 255 characters.
pub fn valid_project_name(p: &str) -> bool {
    if p.is_empty() || p.len() > 255 {
        return false;
    }
    let b = p.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    b.windows(2).all(|w| alnum(w[0]) || alnum(w[1]))
        && b.iter().all(|&x| alnum(x) || b"._-".contains(&x))
}

/// The one normalisation rule for account names: surrounding whitespace removed and ASCII
/// letters in lower case. Login routing (`admin` always local), the throttle's per-account
/// counters and the match between a directory's uid and a local record all compare names by
/// this key, and no two local accounts may share one.
pub fn account_key(name: &str) -> String {
    name.trim().to_ascii_lowercase()
}

/// How a request names a project. Harbor's `{project_name_or_id}` reads digits as an id unless
/// the caller sends `X-Is-Resource-Name: true`; everywhere else (repository paths, robot
/// namespaces, registry names) a project is named, and an all-digit name is just a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectRef {
    Id(i64),
    Name(String),
}

impl ProjectRef {
    /// Harbor's `{project_name_or_id}` rule.
    pub fn name_or_id(raw: &str, is_resource_name: bool) -> ProjectRef {
        match raw.parse::<i64>() {
            Ok(id) if !is_resource_name && raw.bytes().all(|b| b.is_ascii_digit()) => {
                ProjectRef::Id(id)
            }
            _ => ProjectRef::Name(raw.to_string()),
        }
    }

    pub fn name(raw: &str) -> ProjectRef {
        ProjectRef::Name(raw.to_string())
    }
}

impl std::fmt::Display for ProjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProjectRef::Id(id) => write!(f, "{id}"),
            ProjectRef::Name(n) => f.write_str(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_spec_names() {
        for ok in [
            "library/ubuntu",
            "a/b/c",
            "proj/my-app",
            "p/a__b",
            "p/a.b",
            "p/a---b",
            "p0/9",
        ] {
            assert!(RepoName::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            RepoName::parse("p/a/b").map(|n| n.project().to_string()),
            Ok("p".into())
        );
    }

    #[test]
    fn refuses_bad_names() {
        for bad in [
            "",
            "single",
            "Upper/case",
            "p//a",
            "p/../a",
            "p/..",
            "/p/a",
            "p/a/",
            "p/a___b",
            "p/-a",
            "p/a-",
            "p/a.-b",
            "p/a b",
            "p/ä",
        ] {
            assert!(RepoName::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            RepoName::parse(&format!("p/{}", "a".repeat(300))),
            Err(NameError::TooLong)
        );
    }

    #[test]
    fn tags() {
        assert!(valid_tag("latest") && valid_tag("v1.0-rc_1") && valid_tag("_x"));
        assert!(!valid_tag("") && !valid_tag(".x") && !valid_tag("-x") && !valid_tag("a/b"));
        assert!(!valid_tag(&"a".repeat(129)));
    }

    #[test]
    fn project_names() {
        assert!(valid_project_name("library") && valid_project_name("my-team.x_1"));
        assert!(
            !valid_project_name("My") && !valid_project_name("a--b") && !valid_project_name("-a")
        );
    }
}
