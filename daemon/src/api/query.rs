//! Harbor's `q` query: `k=v` (exact), `k=~v` (fuzzy), `k=[a~b]` (range), `k={a b}` (any of),
//! comma-separated. Each listing names the keys it accepts; anything else is a 400.

use super::error::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    Exact(String),
    Fuzzy(String),
    Range(Option<String>, Option<String>),
    AnyOf(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Query {
    pub terms: Vec<(String, Match)>,
}

impl Query {
    /// Parses `q`, refusing keys not in `allowed`.
    pub fn parse(q: Option<&str>, allowed: &[&str]) -> Result<Query, ApiError> {
        let Some(q) = q.map(str::trim).filter(|q| !q.is_empty()) else {
            return Ok(Query::default());
        };
        let bad = |why: &str| ApiError::BadRequest(format!("invalid q {q:?}: {why}"));
        let mut terms = Vec::new();
        for part in split_top_level(q).map_err(&bad)? {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| bad("each term must be key=value"))?;
            let key = key.trim();
            if !allowed.contains(&key) {
                return Err(bad(&format!(
                    "unknown key {key:?}; allowed: {}",
                    allowed.join(", ")
                )));
            }
            let value = value.trim();
            let m = if let Some(v) = value.strip_prefix('~') {
                Match::Fuzzy(v.to_string())
            } else if let Some(inner) = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
                let (a, b) = inner
                    .split_once('~')
                    .ok_or_else(|| bad("a range is [min~max]"))?;
                let side = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
                Match::Range(side(a), side(b))
            } else if let Some(inner) = value.strip_prefix('{').and_then(|v| v.strip_suffix('}')) {
                Match::AnyOf(inner.split_whitespace().map(str::to_string).collect())
            } else if value.starts_with(['[', '{', '(']) {
                return Err(bad("unbalanced brackets"));
            } else {
                Match::Exact(value.to_string())
            };
            terms.push((key.to_string(), m));
        }
        Ok(Query { terms })
    }

    pub fn get(&self, key: &str) -> Option<&Match> {
        self.terms.iter().find(|(k, _)| k == key).map(|(_, m)| m)
    }

    /// Whether `value` satisfies the term for `key` (no term: yes).
    pub fn matches(&self, key: &str, value: &str) -> bool {
        match self.get(key) {
            None => true,
            Some(Match::Exact(v)) => value == v,
            Some(Match::Fuzzy(v)) => value.contains(v.as_str()),
            Some(Match::AnyOf(vs)) => vs.iter().any(|v| v == value),
            Some(Match::Range(a, b)) => {
                a.as_deref()
                    .is_none_or(|a| compare(value, a) != std::cmp::Ordering::Less)
                    && b.as_deref()
                        .is_none_or(|b| compare(value, b) != std::cmp::Ordering::Greater)
            }
        }
    }
}

/// A time in `q`: RFC 3339, `YYYY-MM-DD HH:MM:SS` (UTC, as Harbor's portal sends), or Unix seconds.
pub fn parse_time(s: &str) -> Result<i64, ApiError> {
    use time::format_description::well_known::Rfc3339;
    use time::macros::format_description;
    if let Ok(n) = s.parse::<i64>() {
        return Ok(n);
    }
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t.unix_timestamp());
    }
    time::PrimitiveDateTime::parse(
        s,
        format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"),
    )
    .map(|t| t.assume_utc().unix_timestamp())
    .map_err(|_| {
        ApiError::BadRequest(format!(
            "invalid time {s:?}: use RFC 3339 or YYYY-MM-DD HH:MM:SS"
        ))
    })
}

/// Numbers compare as numbers, everything else as text (RFC 3339 times sort as text).
fn compare(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
        _ => a.cmp(b),
    }
}

/// Splits on commas that are not inside brackets.
fn split_top_level(q: &str) -> Result<Vec<&str>, &'static str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in q.char_indices() {
        match c {
            '[' | '{' | '(' => depth += 1,
            ']' | '}' | ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err("unbalanced brackets");
                }
            }
            ',' if depth == 0 => {
                parts.push(&q[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("unbalanced brackets");
    }
    parts.push(&q[start..]);
    Ok(parts.into_iter().filter(|p| !p.trim().is_empty()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        let q = Query::parse(
            Some("name=~app,public=true,size=[10~],tags={a b}"),
            &["name", "public", "size", "tags"],
        )
        .expect("parses");
        assert_eq!(q.get("name"), Some(&Match::Fuzzy("app".into())));
        assert_eq!(q.get("public"), Some(&Match::Exact("true".into())));
        assert_eq!(q.get("size"), Some(&Match::Range(Some("10".into()), None)));
        assert_eq!(
            q.get("tags"),
            Some(&Match::AnyOf(vec!["a".into(), "b".into()]))
        );
        assert!(q.matches("name", "myapp") && !q.matches("name", "other"));
        assert!(q.matches("size", "11") && !q.matches("size", "9") && q.matches("size", "100"));
        assert!(q.matches("absent", "anything"));
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("0").ok(), Some(0));
        assert_eq!(parse_time("1970-01-01T00:01:00Z").ok(), Some(60));
        assert_eq!(parse_time("1970-01-01 00:02:00").ok(), Some(120));
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn refuses_malformed() {
        for bad in [
            "name",
            "x=1",
            "name=[a",
            "name=a]",
            "name={a",
            "name=[a b]",
            "name=(a",
        ] {
            assert!(Query::parse(Some(bad), &["name"]).is_err(), "{bad}");
        }
        assert_eq!(Query::parse(None, &[]).ok(), Some(Query::default()));
        // SQL metacharacters are just text to match.
        let q = Query::parse(Some("name='; DROP TABLE users; --"), &["name"]).expect("parses");
        assert!(!q.matches("name", "library"));
    }
}
