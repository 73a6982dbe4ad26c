//! The `Range` header of blob GETs (`registry::range::byte_range`).
//! Any header against any size: no panic or overflow, and a satisfiable answer always lies
//! inside the blob (`start <= end < size`). Well-formed `bytes=a-b`, `bytes=a-` and `bytes=-n`
//! built from the input must give exactly RFC 9110's answer.
//!
//! Input: three little-endian u64 (size, a, b; each shifted right by its own low 6 bits so all
//! magnitudes are common), then the raw header bytes.
#![no_main]

use berth_fuzz::blobs::parse_range;
use libfuzzer_sys::fuzz_target;

fn number(bytes: &[u8]) -> u64 {
    let v = u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
    v >> (v % 64)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 24 {
        return;
    }
    let (size, a, b) = (
        number(&data[..8]),
        number(&data[8..16]),
        number(&data[16..24]),
    );
    // The raw header, as the handler sees it (`Ctx::header`: visible ASCII only).
    if let Some(h) = http::HeaderValue::from_bytes(&data[24..])
        .ok()
        .and_then(|v| v.to_str().ok().map(str::to_string))
    {
        if let Ok(Some((start, end))) = parse_range(Some(&h), size) {
            assert!(
                start <= end && end < size,
                "{h:?} size {size} -> {start}-{end}"
            );
        }
    }
    // Well-formed ranges.
    assert_eq!(parse_range(None, size), Ok(None));
    assert_eq!(parse_range(Some("bytes=0-1,3-4"), size), Ok(None));
    let last = size.checked_sub(1);
    let want = if a <= b && a < size {
        Ok(Some((a, b.min(size - 1))))
    } else {
        Err(())
    };
    assert_eq!(
        parse_range(Some(&format!("bytes={a}-{b}")), size),
        want,
        "{a}-{b}/{size}"
    );
    let want = match last {
        Some(l) if a < size => Ok(Some((a, l))),
        _ => Err(()),
    };
    assert_eq!(
        parse_range(Some(&format!("bytes={a}-")), size),
        want,
        "{a}-/{size}"
    );
    let want = match last {
        Some(l) if b > 0 => Ok(Some((size - b.min(size), l))),
        _ => Err(()),
    };
    assert_eq!(
        parse_range(Some(&format!(" bytes=-{b} ")), size),
        want,
        "-{b}/{size}"
    );
});
