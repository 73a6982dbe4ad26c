//! Harbor's schedules, `{"type": "None|Hourly|Daily|Weekly|Custom", "cron": "0 0 * * * *"}`,
//! with a six-field cron (seconds first, day of week 0-7 with Sunday as 0 or 7), and when one
//! fires next. Times are Unix seconds in UTC.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScheduleType {
    None,
    Hourly,
    Daily,
    Weekly,
    Custom,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    #[serde(rename = "type")]
    pub kind: ScheduleType,
    #[serde(default)]
    pub cron: String,
}

impl Schedule {
    pub fn none() -> Schedule {
        Schedule {
            kind: ScheduleType::None,
            cron: String::new(),
        }
    }

    pub fn daily() -> Schedule {
        Schedule {
            kind: ScheduleType::Daily,
            cron: String::new(),
        }
    }

    /// The cron expression that drives it: the given one, or Harbor's for the type.
    pub fn expression(&self) -> Option<&str> {
        let given = Some(self.cron.trim()).filter(|c| !c.is_empty());
        match self.kind {
            ScheduleType::None => None,
            ScheduleType::Custom => given,
            ScheduleType::Hourly => given.or(Some("0 0 * * * *")),
            ScheduleType::Daily => given.or(Some("0 0 0 * * *")),
            ScheduleType::Weekly => given.or(Some("0 0 0 * * 0")),
        }
    }

    /// A schedule that cannot fire is refused with the reason.
    pub fn check(&self) -> Result<(), String> {
        match (self.kind, self.expression()) {
            (ScheduleType::None, _) => Ok(()),
            (_, None) => Err("a Custom schedule needs a cron expression".into()),
            (_, Some(expr)) => parse(expr).map(|_| ()),
        }
    }

    /// The first time after `after` (Unix seconds) that it fires; `None` for `None` or a bad
    /// expression.
    pub fn next_after(&self, after: i64) -> Option<i64> {
        let cron = parse(self.expression()?).ok()?;
        let from: DateTime<Utc> = DateTime::from_timestamp(after, 0)?;
        cron.find_next_occurrence(&from, false)
            .ok()
            .map(|t| t.timestamp())
    }
}

fn parse(expr: &str) -> Result<croner::Cron, String> {
    if expr.split_whitespace().count() != 6 {
        return Err(format!(
            "cron {expr:?} must have six fields: second minute hour day-of-month month day-of-week"
        ));
    }
    croner::Cron::new(expr)
        .with_seconds_required()
        .parse()
        .map_err(|e| format!("cron {expr:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-30 01:02:03 UTC, a Monday.
    const T: i64 = 1_796_000_523;

    fn at(kind: ScheduleType, cron: &str) -> Schedule {
        Schedule {
            kind,
            cron: cron.into(),
        }
    }

    #[test]
    fn harbors_types_fire_when_harbor_says() {
        let hourly = at(ScheduleType::Hourly, "").next_after(T).expect("hourly");
        assert_eq!(hourly % 3600, 0);
        assert!(hourly > T && hourly - T <= 3600);
        let daily = at(ScheduleType::Daily, "").next_after(T).expect("daily");
        assert_eq!(daily % 86_400, 0);
        let weekly = at(ScheduleType::Weekly, "").next_after(T).expect("weekly");
        let day = DateTime::from_timestamp(weekly, 0).expect("time");
        assert_eq!(chrono::Datelike::weekday(&day), chrono::Weekday::Sun);
        let every_second = at(ScheduleType::Custom, "* * * * * *");
        assert_eq!(every_second.next_after(T), Some(T + 1));
        assert_eq!(
            at(ScheduleType::Custom, "*/10 * * * * *").next_after(T),
            Some(T + 7)
        );
        assert_eq!(Schedule::none().next_after(T), None);
    }

    #[test]
    fn bad_schedules_are_refused_with_the_reason() {
        assert!(at(ScheduleType::Custom, "").check().is_err());
        let five = at(ScheduleType::Custom, "0 * * * *")
            .check()
            .expect_err("five fields");
        assert!(five.contains("six fields"), "{five}");
        assert!(at(ScheduleType::Custom, "61 * * * * *").check().is_err());
        assert!(at(ScheduleType::Daily, "").check().is_ok());
        assert!(Schedule::none().check().is_ok());
        let json: Result<Schedule, _> = serde_json::from_str(r#"{"type": "Yearly", "cron": ""}"#);
        assert!(json.is_err());
    }
}
