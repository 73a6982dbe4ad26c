//! The `Content-Range` header of upload PATCH/PUT (`registry::range::content_range_start`). Any
//! header: no panic; and the first byte's offset is read correctly from every
//! form clients send (`a-b`, `bytes a-b/n`, `bytes=a-b`, `bytes a-b/*`).
//!
//! Input: two little-endian u64 (a, b), then the raw header bytes.
#![no_main]

use berth_fuzz::uploads::{parse_content_range, Ctx};
use libfuzzer_sys::fuzz_target;

fn number(bytes: &[u8]) -> u64 {
    let v = u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
    v >> (v % 64)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 16 {
        return;
    }
    let (a, b) = (number(&data[..8]), number(&data[8..16]));
    let raw = &data[16..];
    let result = parse_content_range(&Ctx::with_content_range(raw));
    if let Ok(Some(start)) = result {
        // A start was read: the header has its digits.
        let text = std::str::from_utf8(raw).expect("a header that reads as text");
        let digits = start.to_string();
        assert!(text.contains(&digits), "{text:?} -> {start}");
    }
    for form in [
        format!("{a}-{b}"),
        format!("bytes {a}-{b}/{}", a.max(b).saturating_add(1)),
        format!("bytes={a}-{b}"),
        format!("bytes {a}-{b}/*"),
        format!(" {a} - {b} "),
    ] {
        match parse_content_range(&Ctx::with_content_range(form.as_bytes())) {
            Ok(Some(start)) => assert_eq!(start, a, "{form:?}"),
            other => panic!("{form:?} -> {other:?}"),
        }
    }
    assert!(matches!(
        parse_content_range(&Ctx::with_content_range(b"bytes */10")),
        Err(_)
    ));
});
