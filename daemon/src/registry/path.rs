//! Parses the part of a `/v2/` path after the prefix into a route. Repository names contain
//! `/`, so one small parser beats one axum route per depth; the last marker segment wins, which
//! keeps names like `proj/blobs/app` unambiguous.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Catalog,
    Tags { name: String },
    Manifest { name: String, reference: String },
    Blob { name: String, digest: String },
    Uploads { name: String },
    Upload { name: String, id: String },
    Referrers { name: String, digest: String },
}

pub fn parse(rest: &str) -> Option<Route> {
    if rest == "_catalog" {
        return Some(Route::Catalog);
    }
    let parts: Vec<&str> = rest.split('/').collect();
    let n = parts.len();
    let name = |upto: usize| parts[..upto].join("/");
    if n >= 3 && parts[n - 2] == "tags" && parts[n - 1] == "list" {
        return Some(Route::Tags { name: name(n - 2) });
    }
    if n >= 4 && parts[n - 3] == "blobs" && parts[n - 2] == "uploads" {
        let id = parts[n - 1];
        return Some(if id.is_empty() {
            Route::Uploads { name: name(n - 3) }
        } else {
            Route::Upload {
                name: name(n - 3),
                id: id.to_string(),
            }
        });
    }
    if n >= 3 {
        let (marker, last) = (parts[n - 2], parts[n - 1].to_string());
        match marker {
            "manifests" if !last.is_empty() => {
                return Some(Route::Manifest {
                    name: name(n - 2),
                    reference: last,
                })
            }
            "blobs" if last == "uploads" => return Some(Route::Uploads { name: name(n - 2) }),
            "blobs" if !last.is_empty() => {
                return Some(Route::Blob {
                    name: name(n - 2),
                    digest: last,
                })
            }
            "referrers" if !last.is_empty() => {
                return Some(Route::Referrers {
                    name: name(n - 2),
                    digest: last,
                })
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let s = |x: &str| x.to_string();
        assert_eq!(parse("_catalog"), Some(Route::Catalog));
        assert_eq!(parse("p/a/tags/list"), Some(Route::Tags { name: s("p/a") }));
        assert_eq!(
            parse("p/a/b/manifests/latest"),
            Some(Route::Manifest {
                name: s("p/a/b"),
                reference: s("latest")
            })
        );
        assert_eq!(
            parse("p/a/blobs/sha256:00"),
            Some(Route::Blob {
                name: s("p/a"),
                digest: s("sha256:00")
            })
        );
        assert_eq!(
            parse("p/a/blobs/uploads/"),
            Some(Route::Uploads { name: s("p/a") })
        );
        assert_eq!(
            parse("p/a/blobs/uploads"),
            Some(Route::Uploads { name: s("p/a") })
        );
        assert_eq!(
            parse("p/a/blobs/uploads/abc"),
            Some(Route::Upload {
                name: s("p/a"),
                id: s("abc")
            })
        );
        assert_eq!(
            parse("p/blobs/manifests/x"),
            Some(Route::Manifest {
                name: s("p/blobs"),
                reference: s("x")
            })
        );
        assert_eq!(
            parse("p/a/referrers/sha256:1"),
            Some(Route::Referrers {
                name: s("p/a"),
                digest: s("sha256:1")
            })
        );
        assert_eq!(parse("p/a/manifests/"), None);
        assert_eq!(parse("p/a/unknown/x"), None);
        assert_eq!(parse(""), None);
    }

    #[test]
    fn never_panics_on_odd_input() {
        for p in [
            "/",
            "//",
            "///",
            "blobs/uploads/",
            "tags/list",
            "a/manifests",
            "/manifests/x",
            "a//blobs//",
        ] {
            let _ = parse(p);
        }
    }
}
