//! Certificates: a private CA and a server certificate made here, or the operator's own,
//! checked before anything is written (parses, matches its key, in date, covers the host).

use std::net::IpAddr;
use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use sha2::{Digest, Sha256};

use crate::answers::{wrong, AnswerError};

/// PEM files for the HTTPS listener, and the CA clients should trust (absent for a provided
/// certificate from a public CA).
pub struct TlsFiles {
    pub certificate: String,
    pub private_key: String,
    pub ca_certificate: Option<String>,
    /// The CA's private key: kept (root-only) so a later run can issue a new server
    /// certificate under the same CA, and clients need not trust a new one.
    pub ca_key: Option<String>,
}

/// The non-loopback addresses of this machine, for the certificate's SANs.
pub fn machine_addresses() -> Vec<IpAddr> {
    let mut found: Vec<IpAddr> = if_addrs::get_if_addrs()
        .map(|ifs| {
            ifs.into_iter()
                .map(|i| i.ip())
                .filter(|ip| !ip.is_loopback())
                .filter(|ip| !matches!(ip, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found.dedup();
    found
}

/// The addresses a generated certificate names besides the hostname: this machine's, the one
/// chosen to listen on (when it is not "any"), the appliance's static address, and loopback,
/// so `https://127.0.0.1` and `https://localhost` work on the machine itself.
pub fn certificate_addresses(answers: &crate::answers::Answers, machine: &[IpAddr]) -> Vec<IpAddr> {
    let mut all: Vec<IpAddr> = machine.to_vec();
    all.extend(crate::machine::extra_addresses(answers));
    let listen = answers.network.listen_address;
    if !listen.is_unspecified() {
        all.push(listen);
    }
    all.push(IpAddr::from([127, 0, 0, 1]));
    all.push(IpAddr::from(std::net::Ipv6Addr::LOCALHOST));
    let mut unique = Vec::new();
    for ip in all {
        if !unique.contains(&ip) && hostname_ip(answers) != Some(ip) {
            unique.push(ip);
        }
    }
    unique
}

fn hostname_ip(answers: &crate::answers::Answers) -> Option<IpAddr> {
    answers.hostname.parse().ok()
}

fn san(name: &str) -> Result<SanType, AnswerError> {
    Ok(match name.parse::<IpAddr>() {
        Ok(ip) => SanType::IpAddress(ip),
        Err(_) => SanType::DnsName(
            name.to_string()
                .try_into()
                .map_err(|e| wrong("hostname", format!("cannot go in a certificate: {e}")))?,
        ),
    })
}

/// A new private CA (or the existing one, given its PEM certificate and key) and a server
/// certificate for `hostname` and `addresses`, valid for 825 days (what browsers accept).
pub fn generate(
    hostname: &str,
    addresses: &[IpAddr],
    existing_ca: Option<(&str, &str)>,
) -> Result<TlsFiles, AnswerError> {
    let fail = |what: &str, e: rcgen::Error| wrong("tls", format!("{what}: {e}"));
    let (issuer, ca_key_pem, ca_pem) = match existing_ca {
        Some((cert_pem, key_pem)) => {
            let key = KeyPair::from_pem(key_pem).map_err(|e| fail("the existing CA key", e))?;
            let issuer = Issuer::from_ca_cert_pem(cert_pem, key)
                .map_err(|e| fail("the existing CA certificate", e))?;
            (issuer, key_pem.to_string(), cert_pem.to_string())
        }
        None => {
            let key = KeyPair::generate().map_err(|e| fail("CA key", e))?;
            let mut params = CertificateParams::default();
            params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            let mut dn = DistinguishedName::new();
            dn.push(DnType::CommonName, format!("Berth CA for {hostname}"));
            dn.push(DnType::OrganizationName, "Berth");
            params.distinguished_name = dn;
            let now = time::OffsetDateTime::now_utc();
            params.not_before = now - time::Duration::days(1);
            params.not_after = now + time::Duration::days(3650);
            let cert = params
                .self_signed(&key)
                .map_err(|e| fail("CA certificate", e))?;
            let key_pem = key.serialize_pem();
            (Issuer::new(params, key), key_pem, cert.pem())
        }
    };
    let server_key = KeyPair::generate().map_err(|e| fail("server key", e))?;
    let mut params = CertificateParams::default();
    let mut sans = vec![san(hostname)?];
    if hostname != "localhost" {
        sans.push(san("localhost")?);
    }
    for ip in addresses {
        let s = SanType::IpAddress(*ip);
        if !sans.contains(&s) {
            sans.push(s);
        }
    }
    params.subject_alt_names = sans;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, hostname);
    params.distinguished_name = dn;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(825);
    let cert = params
        .signed_by(&server_key, &issuer)
        .map_err(|e| fail("server certificate", e))?;
    Ok(TlsFiles {
        certificate: cert.pem(),
        private_key: server_key.serialize_pem(),
        ca_certificate: Some(ca_pem),
        ca_key: Some(ca_key_pem),
    })
}

fn read(path: &Path, field: &'static str) -> Result<String, AnswerError> {
    std::fs::read_to_string(path)
        .map_err(|e| wrong(field, format!("cannot read {}: {e}", path.display())))
}

/// Checks the operator's certificate and key: both parse, the key is the certificate's, the
/// certificate is in date now, and it names `hostname` (exactly, or by a `*.` wildcard).
pub fn check_provided(
    cert_path: &Path,
    key_path: &Path,
    hostname: &str,
) -> Result<TlsFiles, AnswerError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let cert_pem = read(cert_path, "tls.certificate")?;
    let key_pem = read(key_path, "tls.private_key")?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| wrong("tls.certificate", format!("is not a PEM certificate: {e}")))?;
    let Some(leaf) = chain.first().cloned() else {
        return Err(wrong("tls.certificate", "holds no certificate"));
    };
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| wrong("tls.private_key", format!("is not a PEM private key: {e}")))?;
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| wrong("tls.private_key", format!("cannot be used: {e}")))?;
    rustls::sign::CertifiedKey::new(chain, signing)
        .keys_match()
        .map_err(|_| {
            wrong(
                "tls.private_key",
                "does not match the certificate (they are not a pair)",
            )
        })?;

    let (_, parsed) = x509_parser::parse_x509_certificate(leaf.as_ref())
        .map_err(|e| wrong("tls.certificate", format!("cannot be parsed: {e}")))?;
    let validity = parsed.validity();
    let now = x509_parser::time::ASN1Time::now();
    if now > validity.not_after {
        return Err(wrong(
            "tls.certificate",
            format!("expired on {}", validity.not_after),
        ));
    }
    if now < validity.not_before {
        return Err(wrong(
            "tls.certificate",
            format!("is not valid before {}", validity.not_before),
        ));
    }
    if !covers(&parsed, hostname) {
        return Err(wrong(
            "tls.certificate",
            format!("does not name {hostname:?} in its subject alternative names"),
        ));
    }
    Ok(TlsFiles {
        certificate: cert_pem,
        private_key: key_pem,
        ca_certificate: None,
        ca_key: None,
    })
}

/// Whether the certificate's SANs include the host (a `*.` wildcard covers one label).
fn covers(cert: &x509_parser::certificate::X509Certificate<'_>, host: &str) -> bool {
    use x509_parser::extensions::GeneralName;
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let ip: Option<IpAddr> = host.parse().ok();
    let Ok(Some(sans)) = cert.subject_alternative_name() else {
        return false;
    };
    sans.value.general_names.iter().any(|name| match name {
        GeneralName::DNSName(dns) => {
            let dns = dns.to_ascii_lowercase();
            match dns.strip_prefix("*.") {
                Some(parent) => host.split_once('.').is_some_and(|(_, rest)| rest == parent),
                None => dns == host,
            }
        }
        GeneralName::IPAddress(bytes) => match (ip, bytes.len()) {
            (Some(IpAddr::V4(v4)), 4) => v4.octets()[..] == bytes[..],
            (Some(IpAddr::V6(v6)), 16) => v6.octets()[..] == bytes[..],
            _ => false,
        },
        _ => false,
    })
}

/// The SHA-256 fingerprint of a PEM certificate, as `AB:CD:...`, for the last screen.
pub fn fingerprint(pem: &str) -> Option<String> {
    use rustls::pki_types::pem::PemObject;
    let der = rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).ok()?;
    let digest = Sha256::digest(der.as_ref());
    Some(
        digest
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_certificates_pass_the_provided_checks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = generate("reg.example.com", &["10.1.2.3".parse().expect("ip")], None)
            .expect("generate");
        let cert = dir.path().join("c.pem");
        let key = dir.path().join("k.pem");
        std::fs::write(&cert, &files.certificate).expect("write");
        std::fs::write(&key, &files.private_key).expect("write");
        assert!(check_provided(&cert, &key, "reg.example.com").is_ok());
        assert!(check_provided(&cert, &key, "10.1.2.3").is_ok());
        let e = check_provided(&cert, &key, "other.example.com")
            .err()
            .expect("not covered");
        assert_eq!(e.field, "tls.certificate");
        // Another key is not this certificate's.
        let other = generate("reg.example.com", &[], None).expect("generate");
        std::fs::write(&key, &other.private_key).expect("write");
        let e = check_provided(&cert, &key, "reg.example.com")
            .err()
            .expect("mismatch");
        assert_eq!(e.field, "tls.private_key");
        assert_eq!(
            fingerprint(files.ca_certificate.as_deref().expect("ca")).map(|f| f.len()),
            Some(95)
        );
    }

    #[test]
    fn the_same_ca_issues_again() {
        let first = generate("reg.example.com", &[], None).expect("generate");
        let ca = first.ca_certificate.clone().expect("ca");
        let key = first.ca_key.clone().expect("key");
        let second = generate("reg.example.com", &[], Some((&ca, &key))).expect("again");
        assert_eq!(second.ca_certificate.as_deref(), Some(ca.as_str()));
        assert_ne!(second.certificate, first.certificate);
    }

    #[test]
    fn the_generated_certificate_covers_the_listen_address_loopback_and_localhost() {
        let answers = crate::answers::Answers::from_toml(
            "hostname = \"reg.example.com\"\nadmin_password = \"Harbor12345\"\n\
             [network]\nlisten_address = \"192.0.2.7\"\n",
        )
        .expect("answers");
        let machine: Vec<IpAddr> = vec!["10.1.2.3".parse().expect("ip")];
        let addresses = certificate_addresses(&answers, &machine);
        let files = generate(&answers.hostname, &addresses, None).expect("generate");
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        std::fs::write(&cert, &files.certificate).expect("write");
        std::fs::write(&key, &files.private_key).expect("write");
        for host in [
            "reg.example.com",
            "localhost",
            "127.0.0.1",
            "::1",
            "10.1.2.3",
            "192.0.2.7",
        ] {
            assert!(check_provided(&cert, &key, host).is_ok(), "{host}");
        }
        // "Any address" is no address to name.
        let any = crate::answers::Answers::from_toml(
            "hostname = \"10.1.2.3\"\nadmin_password = \"Harbor12345\"\n",
        )
        .expect("answers");
        let addresses = certificate_addresses(&any, &machine);
        assert!(addresses.iter().all(|a| !a.is_unspecified()));
        assert!(
            !addresses.contains(&"10.1.2.3".parse().expect("ip")),
            "the hostname is named once"
        );
    }
}
