//! The `Range` (blob GET) and `Content-Range` (upload PATCH/PUT) parsers are private functions
//! of the daemon (`registry::blobs::byte_range`, `registry::uploads::range_start`), so the fuzz
//! targets cannot call them through the library. Until they are made public, this script copies
//! each function's source text, verbatim, out of the daemon's current source into `OUT_DIR`,
//! where the `range` and `content_range` targets `include!` it. Nothing is re-typed by hand, so
//! the targets always fuzz the code as it is in `daemon/src`; if a function is renamed or moved,
//! the build fails here with a message saying so.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

/// `(source file relative to this crate, function name, output file)`.
const EXTRACT: &[(&str, &str, &str)] = &[
    (
        "../daemon/src/registry/blobs.rs",
        "byte_range",
        "byte_range.rs",
    ),
    (
        "../daemon/src/registry/uploads.rs",
        "range_start",
        "range_start.rs",
    ),
];

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    for (src, name, file) in EXTRACT {
        println!("cargo:rerun-if-changed={src}");
        let text = fs::read_to_string(src).unwrap_or_else(|e| panic!("reading {src}: {e}"));
        let f = extract_fn(&text, name).unwrap_or_else(|| {
            panic!(
                "berth-fuzz: cannot find `fn {name}` in {src}; if it was made public or moved, \
                 point the fuzz target at the library function instead (see fuzz/README.md)"
            )
        });
        fs::write(Path::new(&out).join(file), f).expect("writing extracted function");
    }
    println!("cargo:rerun-if-changed=build.rs");
}

/// The text of `fn <name>(...) ... { ... }` (with any `pub`/`pub(..)` prefix dropped, so the
/// copy is private to the target's module), found by matching braces outside string and
/// character literals and comments.
fn extract_fn(text: &str, name: &str) -> Option<String> {
    let needle = format!("fn {name}(");
    let at = text.find(&needle)?;
    let b = text.as_bytes();
    let open = at + text[at..].find('{')?;
    let (mut i, mut depth) = (open, 0usize);
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            // A char literal ('x', '\n', '{'); a lifetime ('a) has no closing quote nearby.
            b'\'' => {
                if b.get(i + 1) == Some(&b'\\') {
                    if let Some(end) = text[i + 2..].find('\'') {
                        i += 2 + end;
                    }
                } else if let Some(c) = text[i + 1..].chars().next() {
                    if text[i + 1 + c.len_utf8()..].starts_with('\'') {
                        i += 1 + c.len_utf8();
                    }
                }
            }
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(format!("{}\n", &text[at..=i]));
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}
