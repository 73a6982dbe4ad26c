//! `berth::digest::Digest`: parsing never panics; whatever parses is a known algorithm and
//! lower-case hex of the right length (so safe as a file name) and displays as the very input;
//! and every well-formed digest built from the input's bytes is accepted.
//!
//! (Hashing itself, `Hasher`/`Digest::of`, is left to the property tests: under ASan a hash
//! costs more than the parser, and it parses nothing.)
#![no_main]

use berth::digest::{Algorithm, Digest};
use libfuzzer_sys::fuzz_target;

fn lower_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 15)]));
    }
    s
}

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(d) = s.parse::<Digest>() {
            assert_eq!(d.to_string(), s);
            let want = match d.algorithm() {
                Algorithm::Sha256 => 64,
                Algorithm::Sha512 => 128,
            };
            assert_eq!(d.hex().len(), want);
            assert!(d
                .hex()
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
            assert_eq!(s, format!("{}:{}", d.algorithm().name(), d.hex()));
            assert!(!s.contains(['/', '\\', '.', '\0']));
        }
    }
    // Well-formed digests from the input's bytes: accepted, and equal to themselves re-parsed.
    for (algorithm, len) in [("sha256", 32), ("sha512", 64)] {
        if data.len() >= len {
            let hex = lower_hex(&data[..len]);
            let s = format!("{algorithm}:{hex}");
            let d: Digest = s.parse().unwrap_or_else(|e| panic!("{s:?} refused: {e}"));
            assert_eq!(d.algorithm().name(), algorithm);
            assert_eq!(d.to_string().parse::<Digest>().as_ref(), Ok(&d));
            // Upper-case hex is refused (a digest is a file name: one spelling only).
            let upper = format!("{algorithm}:{}", hex.to_uppercase());
            assert_eq!(upper.parse::<Digest>().is_ok(), upper == s, "{upper:?}");
            // So is a digest one character short or long.
            assert!(s[..s.len() - 1].parse::<Digest>().is_err());
            assert!(format!("{s}0").parse::<Digest>().is_err());
        }
    }
});
