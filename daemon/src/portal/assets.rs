//! The portal's style sheet and script, compiled into the binary and served under a name that
//! carries their digest, so browsers may keep them for a year and never see a stale one.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

struct Asset {
    stem: &'static str,
    extension: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: [Asset; 3] = [
    Asset {
        stem: "portal",
        extension: "css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../assets/portal.css"),
    },
    Asset {
        stem: "portal",
        extension: "js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/portal.js"),
    },
    Asset {
        stem: "favicon",
        extension: "svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../../assets/favicon.svg"),
    },
];

/// Each asset's served name, `stem.<12 hex of sha256>.ext`, in the order of `ASSETS`.
fn names() -> &'static [String] {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let digest = hex::encode(Sha256::digest(a.body));
                format!("{}.{}.{}", a.stem, &digest[..12], a.extension)
            })
            .collect()
    })
}

fn url(index: usize) -> String {
    format!("/static/{}", names()[index])
}

pub fn css_url() -> String {
    url(0)
}

pub fn js_url() -> String {
    url(1)
}

pub fn icon_url() -> String {
    url(2)
}

/// `GET /static/{name}`: only the current names exist; an old digest is a 404.
pub async fn serve(Path(name): Path<String>) -> Response {
    match names().iter().position(|n| *n == name) {
        Some(i) => (
            [
                (header::CONTENT_TYPE, ASSETS[i].content_type),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            ASSETS[i].body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}
