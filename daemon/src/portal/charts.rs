//! Pictures drawn on the server as SVG, so they read without JavaScript: bars for storage,
//! lines for pushes and pulls per day. The SVG comes from askama templates, so every label is
//! escaped like any other text; colours come from the style sheet, for both themes.

use askama::Template;

use super::i18n::Tr;
use crate::service::projects::DayActivity;

/// One bar: a label, its value, and the value as shown.
pub struct Bar {
    pub label: String,
    pub value: i64,
    pub shown: String,
}

struct BarRow {
    y: i64,
    text_y: i64,
    width: i64,
    label: String,
    shown: String,
    value_x: i64,
}

#[derive(Template)]
#[template(path = "chart_bars.svg", escape = "html")]
struct BarsSvg {
    title: String,
    height: i64,
    rows: Vec<BarRow>,
}

const BAR_LEFT: i64 = 200;
const BAR_SPAN: i64 = 300;
const ROW: i64 = 26;

/// Horizontal bars, longest = the largest value; nothing at all when there are no bars.
pub fn bars(bars: &[Bar], title: &str) -> String {
    if bars.is_empty() {
        return String::new();
    }
    let max = bars.iter().map(|b| b.value).max().unwrap_or(1).max(1);
    let rows = bars
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let width = (b.value.max(0) * BAR_SPAN / max).max(1);
            BarRow {
                y: i as i64 * ROW + 4,
                text_y: i as i64 * ROW + 19,
                width,
                label: shorten(&b.label, 28),
                shown: b.shown.clone(),
                value_x: BAR_LEFT + width + 8,
            }
        })
        .collect::<Vec<_>>();
    BarsSvg {
        title: title.to_string(),
        height: rows.len() as i64 * ROW + 8,
        rows,
    }
    .render()
    .unwrap_or_default()
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

#[derive(Template)]
#[template(path = "chart_activity.svg", escape = "html")]
struct ActivitySvg {
    title: String,
    pushes_label: String,
    pulls_label: String,
    pushes: String,
    pulls: String,
    max: i64,
    ticks: Vec<(i64, String)>,
    total_pushes: i64,
    total_pulls: i64,
}

const PLOT_LEFT: i64 = 40;
const PLOT_WIDTH: i64 = 560;
const PLOT_TOP: i64 = 10;
const PLOT_HEIGHT: i64 = 150;

/// Pushes and pulls per day as two lines, with the day's date under every seventh point.
pub fn activity(days: &[DayActivity], t: &Tr) -> String {
    let max = days
        .iter()
        .map(|d| d.pushes.max(d.pulls))
        .max()
        .unwrap_or(0)
        .max(1);
    let n = days.len().max(2) as i64;
    let x = |i: usize| PLOT_LEFT + i as i64 * PLOT_WIDTH / (n - 1);
    let y = |v: i64| PLOT_TOP + PLOT_HEIGHT - v * PLOT_HEIGHT / max;
    let line = |f: &dyn Fn(&DayActivity) -> i64| {
        days.iter()
            .enumerate()
            .map(|(i, d)| format!("{},{}", x(i), y(f(d))))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let ticks = days
        .iter()
        .enumerate()
        .filter(|(i, _)| (days.len() - 1 - i).is_multiple_of(7))
        .map(|(i, d)| {
            let date = t.time(d.day * 86400);
            (x(i), date.split(' ').next().unwrap_or("").to_string())
        })
        .collect();
    ActivitySvg {
        title: t.s("chart-activity"),
        pushes_label: t.s("chart-pushes"),
        pulls_label: t.s("chart-pulls"),
        pushes: line(&|d| d.pushes),
        pulls: line(&|d| d.pulls),
        max,
        ticks,
        total_pushes: days.iter().map(|d| d.pushes).sum(),
        total_pulls: days.iter().map(|d| d.pulls).sum(),
    }
    .render()
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::portal::i18n::Lang;

    #[test]
    fn labels_are_escaped_in_pictures() {
        let svg = bars(
            &[Bar {
                label: "<script>alert(1)</script>".into(),
                value: 10,
                shown: "10 B".into(),
            }],
            "t\"itle",
        );
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&#60;script&#62;"));
        assert!(!svg.contains("t\"itle"));
    }

    #[test]
    fn activity_has_a_point_per_day() {
        let days: Vec<DayActivity> = (0..30)
            .map(|d| DayActivity {
                day: 20000 + d,
                pushes: d,
                pulls: 2 * d,
            })
            .collect();
        let svg = activity(&days, &Tr::new(Lang::En));
        assert!(svg.contains("<svg"));
        let points = svg
            .split("points=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or("");
        assert_eq!(points.split(' ').count(), 30);
    }
}
