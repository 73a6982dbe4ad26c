//! The OVF environment: the properties an operator filled in when deploying the appliance's
//! OVA (VMware hands them over as `guestinfo.ovfEnv`), turned into [`Answers`]. The property
//! keys are the answers file's keys, so both go through the same deserialisation and checks.

use crate::answers::{wrong, AnswerError, Answers};

/// How a property's text becomes a TOML value.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Flag,
    /// Several values in one property: separated by commas or white space.
    List,
    /// Several lines in one property (SSH keys hold spaces).
    Lines,
}

/// Every property `appliance/berth.ovf.in` declares (a test keeps the two in step).
const PROPERTIES: &[(&str, Kind)] = &[
    ("hostname", Kind::Text),
    ("admin_password", Kind::Text),
    ("tls.mode", Kind::Text),
    ("auth.mode", Kind::Text),
    ("ldap.ldap_url", Kind::Text),
    ("ldap.ldap_search_dn", Kind::Text),
    ("ldap.ldap_search_password", Kind::Text),
    ("ldap.ldap_base_dn", Kind::Text),
    ("ldap.ldap_uid", Kind::Text),
    ("ldap.ldap_filter", Kind::Text),
    ("ldap.ldap_group_admin_dn", Kind::Text),
    ("ldap.ldap_verify_cert", Kind::Flag),
    ("appliance.network", Kind::Text),
    ("appliance.address", Kind::Text),
    ("appliance.gateway", Kind::Text),
    ("appliance.dns", Kind::List),
    ("appliance.ssh_authorized_keys", Kind::Lines),
    ("appliance.root_password", Kind::Text),
];

const ENVIRONMENT_NS: &str = "http://schemas.dmtf.org/ovf/environment/1";

/// The answers in an OVF environment document, or `None` when it gives no administrator
/// password: the operator left the properties empty (or the platform delivers none, as
/// standalone ESXi sends the string "null"), and the wizard should ask instead.
pub fn answers_from_environment(xml: &str) -> Result<Option<Answers>, AnswerError> {
    let document = roxmltree::Document::parse(xml)
        .map_err(|e| wrong("ovf", format!("the OVF environment is not XML: {e}")))?;
    let mut values: Vec<(&'static str, Kind, String)> = Vec::new();
    for property in document
        .descendants()
        .filter(|n| n.has_tag_name((ENVIRONMENT_NS, "Property")))
    {
        let key = property.attribute((ENVIRONMENT_NS, "key")).unwrap_or("");
        let value = property.attribute((ENVIRONMENT_NS, "value")).unwrap_or("");
        let Some((known, kind)) = PROPERTIES.iter().find(|(k, _)| *k == key) else {
            return Err(wrong(
                "ovf",
                format!("the OVF property {key:?} is not one this version of Berth knows"),
            ));
        };
        let value = value.trim();
        if value.is_empty() || value == "null" {
            continue;
        }
        values.push((known, *kind, value.to_string()));
    }
    let given = |key: &str| values.iter().find(|(k, _, _)| *k == key).map(|v| &v.2);
    if given("admin_password").is_none() {
        return Ok(None);
    }
    // The directory's settings count only in LDAP mode: their defaults alone are no directory.
    let ldap = given("auth.mode").is_some_and(|m| m == "ldap");
    let mut table = toml::Table::new();
    for (key, kind, text) in &values {
        if key.starts_with("ldap.") && !ldap {
            continue;
        }
        let value = match kind {
            Kind::Text => toml::Value::String(text.clone()),
            Kind::Flag => match text.to_ascii_lowercase().as_str() {
                "true" => toml::Value::Boolean(true),
                "false" => toml::Value::Boolean(false),
                _ => return Err(wrong(key, format!("{text:?} is not true or false"))),
            },
            Kind::List => toml::Value::Array(
                text.split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|v| !v.is_empty())
                    .map(|v| toml::Value::String(v.to_string()))
                    .collect(),
            ),
            Kind::Lines => toml::Value::Array(
                text.lines()
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(|v| toml::Value::String(v.to_string()))
                    .collect(),
            ),
        };
        insert_dotted(&mut table, key, value);
    }
    Answers::from_table(table).map(Some)
}

fn insert_dotted(table: &mut toml::Table, key: &str, value: toml::Value) {
    match key.split_once('.') {
        None => {
            table.insert(key.to_string(), value);
        }
        Some((section, rest)) => {
            let entry = table
                .entry(section.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let toml::Value::Table(inner) = entry {
                insert_dotted(inner, rest, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn environment(properties: &[(&str, &str)]) -> String {
        let mut xml = String::from(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<Environment xmlns="http://schemas.dmtf.org/ovf/environment/1"
     xmlns:oe="http://schemas.dmtf.org/ovf/environment/1"
     xmlns:ve="http://www.vmware.com/schema/ovfenv" oe:id="" ve:vCenterId="vm-42">
  <PlatformSection><Kind>VMware ESXi</Kind><Version>8.0.0</Version></PlatformSection>
  <PropertySection>
"#,
        );
        for (k, v) in properties {
            xml.push_str(&format!(
                "    <Property oe:key=\"{k}\" oe:value=\"{v}\"/>\n"
            ));
        }
        xml.push_str("  </PropertySection>\n  <ve:EthernetAdapterSection/>\n</Environment>\n");
        xml
    }

    #[test]
    fn every_declared_property_is_known_and_every_known_one_declared() {
        let descriptor = include_str!("../../appliance/berth.ovf.in");
        let declared: Vec<&str> = descriptor
            .split("ovf:key=\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .collect();
        let known: Vec<&str> = PROPERTIES.iter().map(|(k, _)| *k).collect();
        assert_eq!(declared, known);
    }

    #[test]
    fn properties_become_answers() {
        let xml = environment(&[
            ("hostname", "registry.example.com"),
            ("admin_password", "Harbor12345"),
            ("tls.mode", "generate"),
            ("auth.mode", "ldap"),
            ("ldap.ldap_url", "ldaps://dir.example.com"),
            ("ldap.ldap_base_dn", "ou=people,dc=example,dc=com"),
            ("ldap.ldap_uid", "uid"),
            ("ldap.ldap_verify_cert", "False"),
            ("appliance.network", "static"),
            ("appliance.address", "192.0.2.10/24"),
            ("appliance.gateway", "192.0.2.1"),
            ("appliance.dns", "192.0.2.53, 192.0.2.54"),
            ("appliance.ssh_authorized_keys", ""),
            ("appliance.root_password", "null"),
        ]);
        let answers = answers_from_environment(&xml)
            .expect("valid")
            .expect("answers");
        assert_eq!(answers.hostname, "registry.example.com");
        let ldap = answers.ldap.as_ref().expect("ldap");
        assert!(!ldap.ldap_verify_cert);
        let appliance = answers.appliance.as_ref().expect("appliance");
        assert_eq!(appliance.dns.len(), 2);
        assert!(appliance.root_password.is_none(), "\"null\" is no value");
        assert!(appliance.ssh_authorized_keys.is_empty());
    }

    #[test]
    fn directory_defaults_alone_are_no_directory() {
        let xml = environment(&[
            ("hostname", "registry.example.com"),
            ("admin_password", "Harbor12345"),
            ("auth.mode", "db"),
            ("ldap.ldap_uid", "uid"),
            ("ldap.ldap_verify_cert", "true"),
        ]);
        let answers = answers_from_environment(&xml)
            .expect("valid")
            .expect("answers");
        assert!(answers.ldap.is_none());
    }

    #[test]
    fn no_password_means_the_wizard_asks() {
        let xml = environment(&[("hostname", "registry.example.com"), ("admin_password", "")]);
        assert!(answers_from_environment(&xml).expect("valid").is_none());
    }

    #[test]
    fn bad_environments_are_refused_with_the_key() {
        let unknown = environment(&[("admin_password", "Harbor12345"), ("colour", "blue")]);
        assert_eq!(
            answers_from_environment(&unknown)
                .expect_err("unknown")
                .field,
            "ovf"
        );
        let flag = environment(&[
            ("hostname", "r.example.com"),
            ("admin_password", "Harbor12345"),
            ("auth.mode", "ldap"),
            ("ldap.ldap_url", "ldap://d"),
            ("ldap.ldap_base_dn", "dc=x"),
            ("ldap.ldap_verify_cert", "maybe"),
        ]);
        assert_eq!(
            answers_from_environment(&flag).expect_err("flag").field,
            "ldap.ldap_verify_cert"
        );
        assert!(answers_from_environment("<not xml").is_err());
        let weak = environment(&[("hostname", "r.example.com"), ("admin_password", "short")]);
        let answers = answers_from_environment(&weak)
            .expect("parses")
            .expect("answers");
        assert_eq!(answers.check().expect_err("weak").field, "admin_password");
    }
}
