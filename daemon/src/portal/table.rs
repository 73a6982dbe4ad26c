//! Paging and sorting for the portal's tables: over the whole list, never the visible page
//! only; state in the query string, so a page can be bookmarked; the page size remembered in
//! a cookie across pages (Harbor's users asked for both).

use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use serde::Deserialize;

use super::page::urlencode;
use crate::auth::session;

pub const PAGE_SIZES: [usize; 4] = [15, 25, 50, 100];
const PAGE_SIZE_COOKIE: &str = "page_size";

/// A table's query string: `q` (filter), `sort`, `page`, `page_size`.
#[derive(Deserialize, Default, Clone)]
pub struct TableQuery {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub sort: String,
    #[serde(default)]
    pub page: Option<usize>,
    #[serde(default)]
    pub page_size: Option<usize>,
}

impl TableQuery {
    /// The page size asked for, else the remembered one, else the smallest.
    pub fn size(&self, headers: &HeaderMap) -> usize {
        let remembered = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|h| session::cookie(h, PAGE_SIZE_COOKIE))
            .and_then(|v| v.parse().ok());
        self.page_size
            .or(remembered)
            .filter(|s| PAGE_SIZES.contains(s))
            .unwrap_or(PAGE_SIZES[0])
    }
}

/// Remembers a page size the viewer chose.
pub fn remember_size(query: &TableQuery, response: &mut Response) {
    if let Some(size) = query.page_size.filter(|s| PAGE_SIZES.contains(s)) {
        let cookie = format!("{PAGE_SIZE_COOKIE}={size}; Path=/; Max-Age=31536000; SameSite=Lax");
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
}

/// One page of a list, with links to its neighbours.
pub struct Paging {
    pub total: usize,
    pub first: usize,
    pub last: usize,
    pub prev: Option<String>,
    pub next: Option<String>,
    pub sizes: Vec<SizeChoice>,
    pub q: String,
    pub sort: String,
    /// Other filters the page-size form must carry along.
    pub keep: Vec<(String, String)>,
}

pub struct SizeChoice {
    pub size: usize,
    pub current: bool,
}

impl Paging {
    /// Cuts `items` to the asked page. `base` is the page's path.
    pub fn cut<T>(items: Vec<T>, query: &TableQuery, size: usize, base: &str) -> (Vec<T>, Paging) {
        let paging = Paging::new(items.len(), query.page, size, query, |p| {
            let mut url = format!("{base}?page={p}");
            if !query.q.is_empty() {
                url.push_str(&format!("&q={}", urlencode(&query.q)));
            }
            if !query.sort.is_empty() {
                url.push_str(&format!("&sort={}", urlencode(&query.sort)));
            }
            url
        });
        let shown = items
            .into_iter()
            .skip(paging.first.saturating_sub(1))
            .take(size)
            .collect();
        (shown, paging)
    }

    /// A page of `total` items (cut by the caller, e.g. in SQL); `link(p)` is page p's URL.
    pub fn new(
        total: usize,
        page: Option<usize>,
        size: usize,
        query: &TableQuery,
        link: impl Fn(usize) -> String,
    ) -> Paging {
        let pages = total.div_ceil(size).max(1);
        let page = page.unwrap_or(1).clamp(1, pages);
        let start = (page - 1) * size;
        Paging {
            total,
            first: if total == 0 { 0 } else { start + 1 },
            last: (start + size).min(total),
            prev: (page > 1).then(|| link(page - 1)),
            next: (page < pages).then(|| link(page + 1)),
            sizes: PAGE_SIZES
                .iter()
                .map(|&s| SizeChoice {
                    size: s,
                    current: s == size,
                })
                .collect(),
            q: query.q.clone(),
            sort: query.sort.clone(),
            keep: vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_cut_from_the_whole_list() {
        let q = TableQuery {
            page: Some(2),
            q: "a b".into(),
            ..Default::default()
        };
        let (shown, p) = Paging::cut((1..=40).collect(), &q, 15, "/projects");
        assert_eq!(shown, (16..=30).collect::<Vec<_>>());
        assert_eq!((p.first, p.last, p.total), (16, 30, 40));
        assert_eq!(p.prev.as_deref(), Some("/projects?page=1&q=a+b"));
        assert_eq!(p.next.as_deref(), Some("/projects?page=3&q=a+b"));
        let far = TableQuery {
            page: Some(99),
            ..Default::default()
        };
        let (shown, p) = Paging::cut((1..=40).collect(), &far, 15, "/x");
        assert_eq!((shown.len(), p.first, p.next), (10, 31, None));
        let (shown, p) = Paging::cut(Vec::<u8>::new(), &far, 15, "/x");
        assert_eq!((shown.len(), p.first, p.last), (0, 0, 0));
    }

    #[test]
    fn only_offered_sizes_count() {
        let h = HeaderMap::new();
        let q = |s| TableQuery {
            page_size: Some(s),
            ..Default::default()
        };
        assert_eq!(q(50).size(&h), 50);
        assert_eq!(q(1_000_000).size(&h), 15);
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("page_size=100"));
        assert_eq!(TableQuery::default().size(&h), 100);
    }
}
