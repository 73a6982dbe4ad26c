//! English and Simplified Chinese for the portal: every visible string comes from the Fluent
//! catalogs in `daemon/locales/`, compiled into the binary. Sizes and times are formatted here
//! too, so a page says the same thing the same way everywhere.

use std::sync::OnceLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use unic_langid::LanguageIdentifier;

/// A language the portal speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    ZhCn,
}

/// The catalogs, in the order of [`Lang::ALL`].
pub const CATALOGS: [(&str, &str); 2] = [
    ("en", include_str!("../../locales/en.ftl")),
    ("zh-CN", include_str!("../../locales/zh-CN.ftl")),
];

/// The cookie that remembers a chosen language.
pub const LANG_COOKIE: &str = "lang";

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::ZhCn];

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::ZhCn => "zh-CN",
        }
    }

    /// The language's own name, as its speakers look for it in a menu.
    pub fn label(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::ZhCn => "简体中文",
        }
    }

    pub fn from_code(code: &str) -> Option<Lang> {
        Lang::ALL
            .into_iter()
            .find(|l| l.code().eq_ignore_ascii_case(code))
    }

    /// The remembered choice if there is one, else the best match for `Accept-Language`, else
    /// English.
    pub fn negotiate(cookie: Option<&str>, accept_language: Option<&str>) -> Lang {
        if let Some(lang) = cookie.and_then(Lang::from_code) {
            return lang;
        }
        let Some(header) = accept_language else {
            return Lang::En;
        };
        let requested = fluent_langneg::accepted_languages::parse(header);
        let available: Vec<LanguageIdentifier> = Lang::ALL
            .iter()
            .filter_map(|l| l.code().parse().ok())
            .collect();
        let default: LanguageIdentifier = "en".parse().unwrap_or_default();
        let chosen = fluent_langneg::negotiate_languages(
            &requested,
            &available,
            Some(&default),
            fluent_langneg::NegotiationStrategy::Lookup,
        );
        chosen
            .first()
            .and_then(|id| {
                if id.language.as_str() == "zh" {
                    Some(Lang::ZhCn)
                } else {
                    Lang::from_code(&id.to_string())
                }
            })
            .unwrap_or(Lang::En)
    }

    fn index(self) -> usize {
        match self {
            Lang::En => 0,
            Lang::ZhCn => 1,
        }
    }
}

fn bundles() -> &'static [FluentBundle<FluentResource>] {
    static BUNDLES: OnceLock<Vec<FluentBundle<FluentResource>>> = OnceLock::new();
    BUNDLES.get_or_init(|| {
        CATALOGS
            .iter()
            .map(|(code, source)| {
                let id: LanguageIdentifier = code.parse().unwrap_or_default();
                let mut bundle = FluentBundle::new_concurrent(vec![id]);
                // Bidirectional isolation marks help right-to-left scripts; ours are not, and
                // the marks would end up in copied text.
                bundle.set_use_isolating(false);
                let resource = match FluentResource::try_new(source.to_string()) {
                    Ok(r) => r,
                    Err((r, errors)) => {
                        tracing::error!(catalog = code, ?errors, "message catalog has errors");
                        r
                    }
                };
                if let Err(errors) = bundle.add_resource(resource) {
                    tracing::error!(catalog = code, ?errors, "message catalog has duplicates");
                }
                bundle
            })
            .collect()
    })
}

/// A number a message counts with; templates hand over values or references alike.
pub trait Count {
    fn count(&self) -> i64;
}

impl Count for i64 {
    fn count(&self) -> i64 {
        *self
    }
}

impl Count for i32 {
    fn count(&self) -> i64 {
        i64::from(*self)
    }
}

impl Count for usize {
    fn count(&self) -> i64 {
        i64::try_from(*self).unwrap_or(i64::MAX)
    }
}

impl<T: Count> Count for &T {
    fn count(&self) -> i64 {
        (*self).count()
    }
}

/// Marks a message key written outside a `Tr` call, so the catalog test finds it.
pub const fn k(key: &'static str) -> &'static str {
    key
}

/// A value for a message's placeable.
pub enum Arg<'a> {
    Text(&'a str),
    Number(i64),
}

/// The translator a page renders with.
#[derive(Clone, Copy, Debug)]
pub struct Tr {
    pub lang: Lang,
}

impl Tr {
    pub fn new(lang: Lang) -> Tr {
        Tr { lang }
    }

    /// The message for `key`; the key itself when a catalog lacks it (a test keeps that from
    /// shipping).
    pub fn s(&self, key: &str) -> String {
        self.format(key, None)
    }

    /// The message for `key` with one text argument `$name`.
    pub fn t1(&self, key: &str, name: &str, value: &str) -> String {
        let mut args = FluentArgs::new();
        args.set(name.to_string(), FluentValue::from(value.to_string()));
        self.format(key, Some(&args))
    }

    /// The message for `key` with one number argument `$name` (plurals follow it).
    pub fn n1(&self, key: &str, name: &str, value: impl Count) -> String {
        let mut args = FluentArgs::new();
        args.set(name.to_string(), FluentValue::from(value.count()));
        self.format(key, Some(&args))
    }

    pub fn with(&self, key: &str, values: &[(&str, Arg<'_>)]) -> String {
        let mut args = FluentArgs::new();
        for (name, value) in values {
            let v = match value {
                Arg::Text(t) => FluentValue::from(t.to_string()),
                Arg::Number(n) => FluentValue::from(*n),
            };
            args.set(name.to_string(), v);
        }
        self.format(key, Some(&args))
    }

    fn format(&self, key: &str, args: Option<&FluentArgs<'_>>) -> String {
        let bundle = &bundles()[self.lang.index()];
        let Some(pattern) = bundle.get_message(key).and_then(|m| m.value()) else {
            tracing::warn!(key, lang = self.lang.code(), "missing message");
            return key.to_string();
        };
        let mut errors = vec![];
        let text = bundle.format_pattern(pattern, args, &mut errors);
        if !errors.is_empty() {
            tracing::warn!(key, ?errors, "message formatting");
        }
        text.into_owned()
    }

    /// "first - last of total", for a table's footer.
    pub fn range(&self, first: impl Count, last: impl Count, total: impl Count) -> String {
        self.with(
            "paging-range",
            &[
                ("first", Arg::Number(first.count())),
                ("last", Arg::Number(last.count())),
                ("total", Arg::Number(total.count())),
            ],
        )
    }

    /// Bytes in binary units with two decimals, as Harbor shows them in every language.
    pub fn size(&self, bytes: i64) -> String {
        const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
        if bytes < 1024 {
            return format!("{bytes} B");
        }
        let mut value = bytes as f64;
        let mut unit = 0;
        while value >= 1024.0 && unit < UNITS.len() - 1 {
            value /= 1024.0;
            unit += 1;
        }
        format!("{value:.2} {}", UNITS[unit])
    }

    /// A point in time for a reader, always naming its zone (UTC, as cron schedules are).
    pub fn time(&self, unix: i64) -> String {
        let Ok(t) = time::OffsetDateTime::from_unix_timestamp(unix) else {
            return String::new();
        };
        let (y, mo, d, h, mi) = (t.year(), t.month() as u8, t.day(), t.hour(), t.minute());
        match self.lang {
            Lang::En => format!("{y}-{mo:02}-{d:02} {h:02}:{mi:02} UTC"),
            Lang::ZhCn => format!("{y}年{mo}月{d}日 {h:02}:{mi:02} UTC"),
        }
    }

    /// A number with the language's digit grouping.
    pub fn count(&self, n: i64) -> String {
        let digits = n.unsigned_abs().to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        if n < 0 {
            out.insert(0, '-');
        }
        out
    }
}

/// The exact instant for `<time datetime>`.
pub fn machine_time(unix: i64) -> String {
    crate::api::rfc3339(unix)
}

/// Message keys of a catalog, for the completeness test.
pub fn catalog_keys(source: &str) -> Vec<String> {
    source
        .lines()
        .filter(|l| l.chars().next().is_some_and(|c| c.is_ascii_alphabetic()))
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim().to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_follows_the_cookie_then_the_browser() {
        assert_eq!(Lang::negotiate(Some("zh-CN"), Some("en")), Lang::ZhCn);
        assert_eq!(
            Lang::negotiate(Some("xx"), Some("zh-TW,zh;q=0.9")),
            Lang::ZhCn
        );
        assert_eq!(Lang::negotiate(None, Some("de-DE,en;q=0.5")), Lang::En);
        assert_eq!(Lang::negotiate(None, Some("zh")), Lang::ZhCn);
        assert_eq!(Lang::negotiate(None, None), Lang::En);
    }

    #[test]
    fn catalogs_parse_and_hold_the_same_keys() {
        let mut sets = vec![];
        for (code, source) in CATALOGS {
            if let Err((_, errors)) = FluentResource::try_new(source.to_string()) {
                panic!("catalog {code} does not parse: {errors:?}");
            }
            let mut keys = catalog_keys(source);
            let n = keys.len();
            keys.sort();
            keys.dedup();
            assert_eq!(n, keys.len(), "catalog {code} defines a key twice");
            sets.push((code, keys));
        }
        let (en, zh) = (&sets[0].1, &sets[1].1);
        let only_en: Vec<_> = en.iter().filter(|k| !zh.contains(k)).collect();
        let only_zh: Vec<_> = zh.iter().filter(|k| !en.contains(k)).collect();
        assert!(only_en.is_empty(), "missing from zh-CN: {only_en:?}");
        assert!(only_zh.is_empty(), "missing from en: {only_zh:?}");
    }

    #[test]
    fn sizes_and_times_read_well() {
        let t = Tr::new(Lang::En);
        assert_eq!(t.size(512), "512 B");
        assert_eq!(t.size(1536), "1.50 KiB");
        assert_eq!(t.size(5 * 1024 * 1024 * 1024), "5.00 GiB");
        assert_eq!(t.time(0), "1970-01-01 00:00 UTC");
        assert_eq!(Tr::new(Lang::ZhCn).time(0), "1970年1月1日 00:00 UTC");
        assert_eq!(t.count(1234567), "1,234,567");
        assert_eq!(t.count(-1000), "-1,000");
    }
}
