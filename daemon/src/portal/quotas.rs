//! The administrators' list of project quotas (Harbor's "Project Quotas"): every project's
//! usage against its limit as a bar, sorted and paged over the whole list, and the limit changed
//! in place. The same `/quotas` service and checks as the REST API: a limit below usage is
//! refused with the usage in the message.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;

use super::admin::require;
use super::page::{back_to, render, CsrfForm, Frame, PortalError, SignedIn};
use super::projects::QuotaBar;
use super::table::{remember_size, Paging, TableQuery};
use crate::api::extract::ClientIp;
use crate::auth::permissions::{Operation, Resource};
use crate::db::quotas::QuotaOrder;
use crate::server::AppState;

struct QuotaItem {
    id: i64,
    project: String,
    bar: QuotaBar,
    /// The limit in the form's unit, and the unit (empty when unlimited).
    amount: String,
    unit: &'static str,
}

#[derive(Template)]
#[template(path = "admin_quotas.html")]
struct QuotasTemplate {
    frame: Frame,
    quotas: Vec<QuotaItem>,
    paging: Paging,
    may_update: bool,
}

const UNITS: [(&str, i64); 4] = [
    ("TiB", 1 << 40),
    ("GiB", 1 << 30),
    ("MiB", 1 << 20),
    ("KiB", 1 << 10),
];

/// A limit in the largest unit that divides it (the form shows what was set).
fn in_units(bytes: i64) -> (String, &'static str) {
    if bytes < 0 {
        return (String::new(), "GiB");
    }
    for (unit, size) in UNITS {
        if bytes >= size && bytes % size == 0 {
            return ((bytes / size).to_string(), unit);
        }
    }
    (bytes.to_string(), "B")
}

pub async fn list(
    State(state): State<AppState>,
    SignedIn(viewer): SignedIn,
    headers: HeaderMap,
    Query(query): Query<TableQuery>,
) -> Result<Response, PortalError> {
    require(&viewer, Resource::Quota, Operation::List)?;
    let t = viewer.tr();
    let order = match query.sort.as_str() {
        "used" => QuotaOrder::UsedDesc,
        "limit" => QuotaOrder::HardDesc,
        _ => QuotaOrder::Id,
    };
    let (rows, _) = state.quotas.list(None, None, order, 0, i64::MAX).await?;
    let needle = query.q.trim().to_lowercase();
    let rows: Vec<_> = rows
        .into_iter()
        .filter(|q| needle.is_empty() || q.project_name.contains(&needle))
        .collect();
    let size = query.size(&headers);
    let (shown, paging) = Paging::cut(rows, &query, size, "/admin/quotas");
    let quotas = shown
        .into_iter()
        .map(|q| {
            let (amount, unit) = in_units(q.hard);
            QuotaItem {
                id: q.id,
                bar: QuotaBar::new(&t, q.used, q.hard),
                project: q.project_name,
                amount,
                unit,
            }
        })
        .collect();
    let mut response = render(&QuotasTemplate {
        frame: viewer.frame(&state, t.s("nav-quotas"), "admin-quotas"),
        quotas,
        paging,
        may_update: viewer.may_system(Resource::Quota, Operation::Update),
    });
    remember_size(&query, &mut response);
    Ok(response)
}

/// `amount` in `unit` (`B`, `KiB` ... `TiB`); `unlimited` for none.
#[derive(Deserialize)]
pub struct LimitForm {
    #[serde(default)]
    amount: String,
    #[serde(default)]
    unit: String,
    #[serde(default)]
    unlimited: Option<String>,
}

pub async fn set_limit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
    CsrfForm(viewer, form): CsrfForm<LimitForm>,
) -> Result<Response, PortalError> {
    require(&viewer, Resource::Quota, Operation::Update)?;
    let t = viewer.tr();
    let hard = if form.unlimited.is_some() {
        Some(-1)
    } else {
        let unit = match form.unit.as_str() {
            "B" => Some(1),
            u => UNITS.iter().find(|(name, _)| *name == u).map(|(_, s)| *s),
        };
        form.amount
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .zip(unit)
            .and_then(|(n, u)| n.checked_mul(u))
    };
    let Some(hard) = hard else {
        viewer.flash(
            &state,
            crate::auth::session::FlashKind::Error,
            t.s("quota-invalid-limit"),
        );
        return Ok(back_to("/admin/quotas"));
    };
    let result = state.quotas.set_limit(id, hard).await;
    crate::api::audit(
        &state,
        &viewer.principal,
        &ip,
        result.as_ref().ok().map(|(b, _)| b.project_id),
        "update",
        "quota",
        &format!("quota {id}: storage {hard}"),
        result.is_ok(),
    );
    viewer.tell(&state, result, |(_, after)| {
        t.t1("quota-saved", "project", &after.project_name)
    });
    Ok(back_to("/admin/quotas"))
}

#[cfg(test)]
mod tests {
    use super::in_units;

    #[test]
    fn limits_show_in_the_largest_whole_unit() {
        assert_eq!(in_units(-1).0, "");
        assert_eq!(in_units(5 << 30), ("5".to_string(), "GiB"));
        assert_eq!(in_units(1536 << 20), ("1536".to_string(), "MiB"));
        assert_eq!(in_units(1000), ("1000".to_string(), "B"));
    }
}
