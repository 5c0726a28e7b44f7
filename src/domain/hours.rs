//! Business hours as a request gives them: a time zone, the hours of each
//! weekday and holidays. Parsed here (a malformed schedule is a 400 before
//! any SQL); whether a zone exists is PostgreSQL's to say
//! (`invalid_time_zone`), and whether the desk is open SQL computes
//! (sql/64_business_hours.sql), from the canonical JSON [`WeeklyHours::stored`]
//! writes.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{json, Value};

/// Days of the week, as the schedule's keys name them.
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
/// Intervals a day may have.
const MAX_INTERVALS: usize = 8;

/// A local time of day in minutes, "HH:MM" from 00:00 to 24:00 (the end of a day).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ClockTime(u16);

impl ClockTime {
    fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("{text:?} is not a time of day as HH:MM (00:00 to 24:00)");
        let (h, m) = text.split_once(':').ok_or_else(bad)?;
        if h.len() != 2 || m.len() != 2 {
            return Err(bad());
        }
        let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if h > 24 || m > 59 || (h == 24 && m > 0) {
            return Err(bad());
        }
        Ok(Self(h * 60 + m))
    }

    fn text(self) -> String {
        format!("{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInterval {
    open: String,
    close: String,
}

/// The hours of each weekday: for each day named, its intervals, ordered and
/// not overlapping; a day left out is closed.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "BTreeMap<String, Vec<RawInterval>>")]
pub struct WeeklyHours(BTreeMap<usize, Vec<(ClockTime, ClockTime)>>);

impl TryFrom<BTreeMap<String, Vec<RawInterval>>> for WeeklyHours {
    type Error = String;
    fn try_from(raw: BTreeMap<String, Vec<RawInterval>>) -> Result<Self, Self::Error> {
        let mut days = BTreeMap::new();
        for (day, raw_intervals) in raw {
            let index = DAYS
                .iter()
                .position(|d| *d == day)
                .ok_or_else(|| format!("weekly names days as {}; not {day:?}", DAYS.join(", ")))?;
            if raw_intervals.len() > MAX_INTERVALS {
                return Err(format!("{day} has more than {MAX_INTERVALS} intervals"));
            }
            let mut intervals = raw_intervals
                .iter()
                .map(|i| Ok((ClockTime::parse(&i.open)?, ClockTime::parse(&i.close)?)))
                .collect::<Result<Vec<_>, String>>()?;
            intervals.sort();
            for (open, close) in &intervals {
                if open >= close {
                    return Err(format!(
                        "{day}: {} to {} is not an interval (open before close)",
                        open.text(),
                        close.text()
                    ));
                }
            }
            if intervals.windows(2).any(|w| w[1].0 < w[0].1) {
                return Err(format!("{day} has overlapping intervals"));
            }
            days.insert(index, intervals);
        }
        Ok(Self(days))
    }
}

impl WeeklyHours {
    /// The JSON SQL reads: `{"mon": [{"open": "09:00", "close": "17:00"}], …}`.
    pub fn stored(&self) -> Value {
        let days: serde_json::Map<String, Value> = self
            .0
            .iter()
            .map(|(day, intervals)| {
                let intervals: Vec<Value> = intervals
                    .iter()
                    .map(|(open, close)| json!({ "open": open.text(), "close": close.text() }))
                    .collect();
                (DAYS[*day].to_owned(), Value::Array(intervals))
            })
            .collect();
        Value::Object(days)
    }
}

/// A time zone name as given (`Europe/Paris`): 1 to 64 characters of a name;
/// PostgreSQL decides whether it knows it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct TimeZoneName(String);

impl TimeZoneName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TimeZoneName {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        let ok = (1..=64).contains(&value.len())
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c));
        if !ok {
            return Err("time_zone is a zone name such as Europe/Paris or UTC".into());
        }
        Ok(Self(value))
    }
}

/// One schedule: the desk's or a team's.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    pub time_zone: TimeZoneName,
    pub weekly: WeeklyHours,
    #[serde(default)]
    pub holidays: Holidays,
}

/// Local dates on which the desk is closed: at most 366, each once.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Vec<NaiveDate>")]
pub struct Holidays(Vec<NaiveDate>);

impl Holidays {
    pub fn dates(&self) -> &[NaiveDate] {
        &self.0
    }
}

impl TryFrom<Vec<NaiveDate>> for Holidays {
    type Error = String;
    fn try_from(mut dates: Vec<NaiveDate>) -> Result<Self, Self::Error> {
        dates.sort();
        dates.dedup();
        if dates.len() > 366 {
            return Err("holidays lists at most 366 dates".into());
        }
        Ok(Self(dates))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weekly(value: Value) -> Result<WeeklyHours, String> {
        serde_json::from_value(value).map_err(|e| e.to_string())
    }

    #[test]
    fn weekly_hours_are_ordered_and_written_canonically() {
        let hours = weekly(json!({
            "tue": [{ "open": "14:00", "close": "24:00" }, { "open": "09:00", "close": "12:30" }],
            "mon": [],
        }))
        .unwrap();
        assert_eq!(
            hours.stored(),
            json!({
                "mon": [],
                "tue": [{ "open": "09:00", "close": "12:30" }, { "open": "14:00", "close": "24:00" }],
            })
        );
    }

    #[test]
    fn bad_schedules_are_refused() {
        for bad in [
            json!({ "monday": [] }),
            json!({ "mon": [{ "open": "9:00", "close": "17:00" }] }),
            json!({ "mon": [{ "open": "17:00", "close": "09:00" }] }),
            json!({ "mon": [{ "open": "09:00", "close": "09:00" }] }),
            json!({ "mon": [{ "open": "09:00", "close": "24:01" }] }),
            json!({ "mon": [{ "open": "09:00", "close": "12:00" }, { "open": "11:00", "close": "13:00" }] }),
            json!({ "mon": [{ "open": "09:00" }] }),
            json!({ "mon": "09:00-17:00" }),
        ] {
            assert!(weekly(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn time_zone_names_are_names() {
        assert!(TimeZoneName::try_from("America/Argentina/Buenos_Aires".to_owned()).is_ok());
        assert!(TimeZoneName::try_from("Etc/GMT+3".to_owned()).is_ok());
        for bad in ["", "Europe/Paris; DROP", "a b", &"x".repeat(65)] {
            assert!(TimeZoneName::try_from(bad.to_owned()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn holidays_are_deduplicated() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let holidays =
            Holidays::try_from(vec![d("2026-12-25"), d("2026-01-01"), d("2026-12-25")]).unwrap();
        assert_eq!(holidays.dates(), &[d("2026-01-01"), d("2026-12-25")]);
    }
}
