//! Harbor's pagination: `page` (from 1) and `page_size` (1 to 100, default 10) in, and
//! `X-Total-Count` plus a `Link` header with `prev`/`next` out.

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use super::error::ApiError;

pub const MAX_PAGE_SIZE: u64 = 100;
const DEFAULT_PAGE_SIZE: u64 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub page: u64,
    pub page_size: u64,
}

impl Page {
    /// From the query pairs; out-of-range values are a 400, as Harbor answers.
    pub fn from_query(query: &[(String, String)]) -> Result<Page, ApiError> {
        let get = |k: &str| {
            query
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        let number = |k: &str, default: u64| -> Result<u64, ApiError> {
            match get(k) {
                None => Ok(default),
                Some(v) => v.parse::<u64>().map_err(|_| {
                    ApiError::BadRequest(format!("{k} must be a positive integer, not {v:?}"))
                }),
            }
        };
        let page = number("page", 1)?;
        let page_size = number("page_size", DEFAULT_PAGE_SIZE)?;
        if page == 0 {
            return Err(ApiError::BadRequest("page must be at least 1".into()));
        }
        if page_size == 0 || page_size > MAX_PAGE_SIZE {
            return Err(ApiError::BadRequest(format!(
                "page_size must be between 1 and {MAX_PAGE_SIZE}"
            )));
        }
        Ok(Page { page, page_size })
    }

    /// Saturates rather than overflows: a page past the end is simply empty.
    pub fn offset(&self) -> i64 {
        i64::try_from((self.page - 1).saturating_mul(self.page_size)).unwrap_or(i64::MAX)
    }

    pub fn limit(&self) -> i64 {
        self.page_size as i64
    }

    /// `X-Total-Count` and `Link` for a listing at `path` whose other query pairs are `query`.
    pub fn headers(&self, total: u64, path: &str, query: &[(String, String)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static("x-total-count"),
            HeaderValue::from(total),
        );
        let link = |page: u64, rel: &str| {
            let mut pairs: Vec<(String, String)> = query
                .iter()
                .filter(|(k, _)| k != "page" && k != "page_size")
                .cloned()
                .collect();
            pairs.push(("page".into(), page.to_string()));
            pairs.push(("page_size".into(), self.page_size.to_string()));
            let q = serde_urlencoded::to_string(&pairs).unwrap_or_default();
            format!("<{path}?{q}>; rel=\"{rel}\"")
        };
        let mut links = Vec::new();
        if self.page > 1 {
            links.push(link(self.page - 1, "prev"));
        }
        if self.page.saturating_mul(self.page_size) < total {
            links.push(link(self.page + 1, "next"));
        }
        if let Ok(v) = HeaderValue::from_str(&links.join(" , ")) {
            if !links.is_empty() {
                headers.insert(axum::http::header::LINK, v);
            }
        }
        headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn defaults_and_limits() {
        assert_eq!(
            Page::from_query(&[]).ok(),
            Some(Page {
                page: 1,
                page_size: 10
            })
        );
        assert!(Page::from_query(&q(&[("page_size", "101")])).is_err());
        assert!(Page::from_query(&q(&[("page_size", "0")])).is_err());
        assert!(Page::from_query(&q(&[("page", "0")])).is_err());
        assert!(Page::from_query(&q(&[("page", "-1")])).is_err());
        assert!(Page::from_query(&q(&[("page", "1; DROP TABLE users")])).is_err());
        assert_eq!(
            Page::from_query(&q(&[("page", "3"), ("page_size", "100")]))
                .map(|p| p.offset())
                .ok(),
            Some(200)
        );
    }

    #[test]
    fn link_header() {
        let p = Page {
            page: 2,
            page_size: 10,
        };
        let h = p.headers(
            35,
            "/api/v2.0/projects",
            &q(&[("name", "a b"), ("page", "2")]),
        );
        assert_eq!(h["x-total-count"], "35");
        assert_eq!(
            h["link"],
            "</api/v2.0/projects?name=a+b&page=1&page_size=10>; rel=\"prev\" , </api/v2.0/projects?name=a+b&page=3&page_size=10>; rel=\"next\""
        );
        assert!(Page {
            page: 1,
            page_size: 10
        }
        .headers(5, "/x", &[])
        .get("link")
        .is_none());
    }
}
