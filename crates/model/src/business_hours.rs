//! Business hours: the `[support]` section of `tenure.toml` (a weekly schedule
//! in one time zone, and holidays) and elapsed time counted only inside it.
//!
//! Semantics follow Zendesk's schedules (developer.zendesk.com, "Schedules";
//! support.zendesk.com, "Setting your business hours and holidays"):
//! - a schedule is one IANA time zone and, per weekday, open intervals of
//!   local wall-clock time; an interval cannot span midnight (Zendesk: "If
//!   your business hours span midnight, you must define this as two separate
//!   intervals, divided by calendar day"); a day may have several intervals
//!   (split shifts);
//! - holidays are whole local dates (a start and end date, both included), on
//!   which the clock stops all day;
//! - time outside the open intervals does not count, so a ticket created on
//!   Friday evening starts its clock on Monday at opening.
//!
//! Where Zendesk is silent or coarser:
//! - Zendesk reports business *minutes*; elapsed time here is exact (to the
//!   nanosecond) and rounded down to whole seconds like the calendar figures;
//! - intervals are half-open `[start, end)`; `24:00` ends at the next local
//!   midnight;
//! - DST: an interval is the real time between its local start and end on
//!   that date. On a spring-forward day, `01:00-05:00` in Europe/Paris is 3
//!   hours; on the fall-back day 5 hours. A local time that does not exist
//!   (in the spring gap) is read as the instant after the gap, a repeated one
//!   (in the autumn fold) as its first occurrence (jiff's "compatible"
//!   disambiguation, as RFC 5545 and Temporal do).

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// `[support]` as written in `tenure.toml`; [`BusinessHours::from_settings`]
/// checks it and names the key of any mistake.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SupportSettings {
    /// IANA time zone of the schedule (unset: the workspace's `timezone`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Working days (`mon` .. `sun`, or full names).
    pub days: Vec<String>,
    /// Open hours of each working day: `09:00-17:00`, or several intervals `09:00-12:00,13:00-17:00`.
    pub hours: String,
    /// Hours of particular weekdays instead of `hours` (`sat = "10:00-14:00"`; `""` or `"closed"`: closed).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub day_hours: BTreeMap<String, String>,
    /// Closed dates: `YYYY-MM-DD`, or `YYYY-MM-DD..YYYY-MM-DD` (both ends included).
    pub holidays: Vec<String>,
    /// SLA-style target for the first reply (`24h`, `90m`, `2d`): later replies are slow tickets.
    pub first_response_target: String,
    /// SLA-style target for resolution (unset: no resolution target).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution_target: Option<String>,
}

impl Default for SupportSettings {
    fn default() -> Self {
        SupportSettings {
            timezone: None,
            days: ["mon", "tue", "wed", "thu", "fri"].map(String::from).to_vec(),
            hours: "09:00-17:00".into(),
            day_hours: BTreeMap::new(),
            holidays: Vec::new(),
            first_response_target: "24h".into(),
            resolution_target: None,
        }
    }
}

impl SupportSettings {
    /// The first-response target in seconds.
    pub fn first_response_target_seconds(&self) -> Result<i64, String> {
        parse_duration_seconds(&self.first_response_target)
            .map_err(|e| format!("support.first_response_target = {:?}: {e}", self.first_response_target))
    }

    /// The resolution target in seconds, if set.
    pub fn resolution_target_seconds(&self) -> Result<Option<i64>, String> {
        self.resolution_target
            .as_ref()
            .map(|s| parse_duration_seconds(s).map_err(|e| format!("support.resolution_target = {s:?}: {e}")))
            .transpose()
    }
}

/// `14d`, `36h`, `90m`, `600s`, `2w`, or a bare number of days, as seconds
/// (a day is 24 hours, also when counted in business time).
pub fn parse_duration_seconds(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "d"),
    };
    let n: i64 = num.parse().map_err(|_| "expected a number and a unit, e.g. 14d, 36h, 90m, 600s".to_string())?;
    let unit_seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err("the unit must be s, m, h, d or w".into()),
    };
    n.checked_mul(unit_seconds).ok_or_else(|| "too long".to_string())
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const FULL_DAY_NAMES: [&str; 7] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];

/// Monday = 0 .. Sunday = 6.
fn weekday_index(name: &str) -> Option<usize> {
    let n = name.trim().to_ascii_lowercase();
    DAY_NAMES.iter().position(|d| *d == n).or_else(|| FULL_DAY_NAMES.iter().position(|d| *d == n))
}

/// `HH:MM` as seconds after midnight (`24:00` allowed as an end).
fn clock_time(s: &str) -> Option<i32> {
    let (h, m) = s.trim().split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    ((0..24).contains(&h) && (0..60).contains(&m) || (h == 24 && m == 0)).then_some(h * 3600 + m * 60)
}

/// Open intervals of one day: `09:00-17:00`, comma-separated for several;
/// `""` or `closed` for none. Sorted; overlapping intervals are an error.
pub fn parse_day_hours(s: &str) -> Result<Vec<(i32, i32)>, String> {
    let s = s.trim();
    if s.is_empty() || s.eq_ignore_ascii_case("closed") {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for part in s.split(',') {
        let (a, b) = part.split_once('-').ok_or_else(|| format!("{part:?} is not an interval like 09:00-17:00"))?;
        let bad = || format!("{part:?}: times are HH:MM, 00:00 to 24:00");
        let (a, b) = (clock_time(a).ok_or_else(bad)?, clock_time(b).ok_or_else(bad)?);
        if a == 24 * 3600 {
            return Err(bad());
        }
        if b <= a {
            return Err(format!(
                "{:?} ends before it starts; an interval cannot span midnight (as in Zendesk): \
                 split it into two, one ending at 24:00 and one starting at 00:00 the next day",
                part.trim()
            ));
        }
        out.push((a, b));
    }
    out.sort_unstable();
    if let Some(w) = out.windows(2).find(|w| w[1].0 < w[0].1) {
        return Err(format!("intervals {} and {} overlap", fmt_interval(w[0]), fmt_interval(w[1])));
    }
    Ok(out)
}

fn fmt_interval((a, b): (i32, i32)) -> String {
    format!("{:02}:{:02}-{:02}:{:02}", a / 3600, a % 3600 / 60, b / 3600, b % 3600 / 60)
}

/// A holiday entry: one date, or an inclusive range `A..B` (at most 366 days).
fn parse_holiday(s: &str) -> Result<Vec<Date>, String> {
    let date = |x: &str| x.trim().parse::<Date>().map_err(|_| format!("{:?} is not a date (YYYY-MM-DD)", x.trim()));
    let (a, b) = match s.split_once("..") {
        Some((a, b)) => (date(a)?, date(b)?),
        None => (date(s)?, date(s)?),
    };
    if b < a {
        return Err(format!("{s:?}: the range ends before it starts"));
    }
    let mut out = vec![a];
    while let Some(&d) = out.last()
        && d < b
    {
        if out.len() > 366 {
            return Err(format!("{s:?}: a holiday range is at most 366 days"));
        }
        out.push(d.tomorrow().map_err(|e| e.to_string())?);
    }
    Ok(out)
}

/// A checked schedule: elapsed business time between two instants.
#[derive(Clone, Debug)]
pub struct BusinessHours {
    tz: TimeZone,
    tz_name: String,
    /// Open intervals per weekday, Monday first: `[start, end)` in seconds after local midnight.
    week: [Vec<(i32, i32)>; 7],
    holidays: BTreeSet<Date>,
}

impl BusinessHours {
    /// Check `[support]`; `workspace_tz` is used when it sets no `timezone`.
    /// Errors name the key (`support.hours = "...": ...`).
    pub fn from_settings(s: &SupportSettings, workspace_tz: &str) -> Result<BusinessHours, String> {
        let tz_name = s.timezone.clone().unwrap_or_else(|| workspace_tz.to_string());
        let tz = TimeZone::get(&tz_name)
            .map_err(|_| format!("support.timezone = {tz_name:?} is not an IANA time zone (e.g. UTC, Europe/Paris)"))?;
        let hours = parse_day_hours(&s.hours).map_err(|e| format!("support.hours = {:?}: {e}", s.hours))?;
        let mut week: [Vec<(i32, i32)>; 7] = Default::default();
        for d in &s.days {
            let i = weekday_index(d)
                .ok_or_else(|| format!("support.days: {d:?} is not a day (mon, tue, wed, thu, fri, sat, sun)"))?;
            week[i] = hours.clone();
        }
        for (d, h) in &s.day_hours {
            let i = weekday_index(d)
                .ok_or_else(|| format!("support.day_hours: {d:?} is not a day (mon, tue, wed, thu, fri, sat, sun)"))?;
            week[i] = parse_day_hours(h).map_err(|e| format!("support.day_hours.{d} = {h:?}: {e}"))?;
        }
        let mut holidays = BTreeSet::new();
        for h in &s.holidays {
            holidays.extend(parse_holiday(h).map_err(|e| format!("support.holidays: {e}"))?);
        }
        Ok(BusinessHours { tz, tz_name, week, holidays })
    }

    pub fn timezone(&self) -> &str {
        &self.tz_name
    }

    /// The open intervals of one local date as instants (none on a holiday).
    pub fn open_intervals(&self, date: Date) -> Vec<(Timestamp, Timestamp)> {
        if self.holidays.contains(&date) {
            return Vec::new();
        }
        let intervals = &self.week[date.weekday().to_monday_zero_offset() as usize];
        intervals.iter().filter_map(|&(a, b)| Some((self.instant(date, a)?, self.instant(date, b)?))).collect()
    }

    /// The instant of `seconds` after local midnight of `date` (86,400: the next day's start).
    fn instant(&self, date: Date, seconds: i32) -> Option<Timestamp> {
        let (date, seconds) = if seconds >= 86_400 { (date.tomorrow().ok()?, 0) } else { (date, seconds) };
        if seconds == 0 {
            // Midnight may not exist (zones that change at 00:00): the day starts when it starts.
            return Some(date.to_zoned(self.tz.clone()).ok()?.start_of_day().ok()?.timestamp());
        }
        let t = Time::new((seconds / 3600) as i8, (seconds % 3600 / 60) as i8, (seconds % 60) as i8, 0).ok()?;
        Some(date.to_datetime(t).to_zoned(self.tz.clone()).ok()?.timestamp())
    }

    /// Business time from `a` to `b` in nanoseconds (0 when `b` is not after `a`).
    pub fn elapsed_nanos(&self, a: Timestamp, b: Timestamp) -> i128 {
        if b <= a {
            return 0;
        }
        let last = b.to_zoned(self.tz.clone()).date();
        let mut date = a.to_zoned(self.tz.clone()).date();
        let mut total: i128 = 0;
        loop {
            for (s, e) in self.open_intervals(date) {
                let (s, e) = (s.max(a), e.min(b));
                if e > s {
                    total += e.as_nanosecond() - s.as_nanosecond();
                }
            }
            match date.tomorrow() {
                Ok(next) if date < last => date = next,
                _ => break,
            }
        }
        total
    }

    /// Business time from `a` to `b` in whole seconds, rounded down.
    pub fn elapsed_seconds(&self, a: Timestamp, b: Timestamp) -> i64 {
        (self.elapsed_nanos(a, b) / 1_000_000_000) as i64
    }

    /// The schedule as JSON (time zone, hours per weekday, holiday dates).
    pub fn to_json(&self) -> Value {
        let week: serde_json::Map<String, Value> = DAY_NAMES
            .iter()
            .zip(&self.week)
            .map(|(d, iv)| (d.to_string(), json!(iv.iter().map(|&i| fmt_interval(i)).collect::<Vec<_>>())))
            .collect();
        json!({
            "timezone": self.tz_name,
            "week": week,
            "holidays": self.holidays.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn hours(toml_text: &str) -> BusinessHours {
        let s: SupportSettings = toml::from_str(toml_text).unwrap();
        BusinessHours::from_settings(&s, "UTC").unwrap()
    }

    #[test]
    fn nights_weekends_and_holidays_do_not_count() {
        // Mon-Fri 09:00-17:00 UTC. 2024-01-05 is a Friday.
        let h = hours("");
        // Inside one day: 10:00 -> 11:30 = 5400 s.
        assert_eq!(h.elapsed_seconds(ts("2024-01-05T10:00:00Z"), ts("2024-01-05T11:30:00Z")), 5400);
        // Friday 16:00 -> Monday 10:00: Friday 1 h + Monday 1 h = 7200 s (the weekend is closed).
        assert_eq!(h.elapsed_seconds(ts("2024-01-05T16:00:00Z"), ts("2024-01-08T10:00:00Z")), 7200);
        // Created Saturday, replied Monday 09:15: the clock starts at Monday's opening: 900 s.
        assert_eq!(h.elapsed_seconds(ts("2024-01-06T12:00:00Z"), ts("2024-01-08T09:15:00Z")), 900);
        // Overnight Tue 17:30 -> Wed 08:59: all outside hours: 0.
        assert_eq!(h.elapsed_seconds(ts("2024-01-09T17:30:00Z"), ts("2024-01-10T08:59:00Z")), 0);
        // A whole week Monday 00:00 -> next Monday 00:00 = 5 x 8 h = 144000 s.
        assert_eq!(h.elapsed_seconds(ts("2024-01-08T00:00:00Z"), ts("2024-01-15T00:00:00Z")), 144_000);
        // Reversed or equal instants: 0.
        assert_eq!(h.elapsed_seconds(ts("2024-01-08T12:00:00Z"), ts("2024-01-08T10:00:00Z")), 0);
        // Fractions of a second are kept until the end, then rounded down: 09:00:00.6 -> 09:00:02.5 = 1.9 s -> 1.
        assert_eq!(h.elapsed_seconds(ts("2024-01-08T09:00:00.6Z"), ts("2024-01-08T09:00:02.5Z")), 1);

        // A holiday range Wed 2024-12-25..Thu 12-26 and a split shift.
        let h = hours(
            "days = [\"Monday\", \"tue\", \"wed\", \"thu\", \"fri\"]\nhours = \"09:00-12:00, 13:00-17:00\"\n\
             holidays = [\"2024-12-25..2024-12-26\"]",
        );
        // Tue 2024-12-24 11:00 -> Fri 12-27 14:00: Tue 11-12 (1 h) + 13-17 (4 h), Wed and Thu
        // closed, Fri 09-12 (3 h) + 13-14 (1 h) = 9 h = 32400 s.
        assert_eq!(h.elapsed_seconds(ts("2024-12-24T11:00:00Z"), ts("2024-12-27T14:00:00Z")), 32_400);
        // The lunch break does not count: 11:30 -> 13:30 = 30 + 30 min = 3600 s.
        assert_eq!(h.elapsed_seconds(ts("2024-12-24T11:30:00Z"), ts("2024-12-24T13:30:00Z")), 3600);
    }

    #[test]
    fn dst_changes_count_real_time_in_the_zone() {
        // Europe/Paris springs forward on Sunday 2024-03-31 (02:00 CET -> 03:00 CEST) and
        // falls back on Sunday 2024-10-27 (03:00 CEST -> 02:00 CET). A Sunday night shift
        // 01:00-05:00 local, plus the usual weekdays 09:00-17:00.
        let h = hours(
            "timezone = \"Europe/Paris\"\nday_hours = { sun = \"01:00-05:00\" }\n\
             days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]",
        );
        // Spring: 01:00 CET = 00:00Z, 05:00 CEST = 03:00Z: 3 real hours = 10800 s.
        assert_eq!(h.elapsed_seconds(ts("2024-03-30T12:00:00Z"), ts("2024-03-31T12:00:00Z")), 10_800);
        // Autumn: 01:00 CEST = 2024-10-26T23:00Z, 05:00 CET = 04:00Z: 5 real hours = 18000 s.
        assert_eq!(h.elapsed_seconds(ts("2024-10-26T12:00:00Z"), ts("2024-10-27T12:00:00Z")), 18_000);
        // Friday 2024-03-29 16:00 CET (15:00Z) -> Monday 04-01 10:00 CEST (08:00Z): Friday 1 h +
        // Sunday 3 h + Monday 1 h = 5 h = 18000 s; on the calendar it is 65 local but 64 real hours.
        assert_eq!(h.elapsed_seconds(ts("2024-03-29T15:00:00Z"), ts("2024-04-01T08:00:00Z")), 18_000);
        // Monday 09:00 CEST is 07:00Z (not 08:00Z as the week before): 07:30Z is 30 min in.
        assert_eq!(h.elapsed_seconds(ts("2024-04-01T06:00:00Z"), ts("2024-04-01T07:30:00Z")), 1800);
        assert_eq!(h.elapsed_seconds(ts("2024-03-25T06:00:00Z"), ts("2024-03-25T08:30:00Z")), 1800);
        // Whole days: 24:00 ends at the next local midnight; the spring Sunday is 23 h long.
        let all_day = hours("timezone = \"Europe/Paris\"\ndays = [\"sun\"]\nhours = \"00:00-24:00\"");
        assert_eq!(all_day.elapsed_seconds(ts("2024-03-30T00:00:00Z"), ts("2024-04-01T00:00:00Z")), 23 * 3600);
        assert_eq!(all_day.elapsed_seconds(ts("2024-10-26T00:00:00Z"), ts("2024-10-28T00:00:00Z")), 25 * 3600);
    }

    #[test]
    fn mistakes_name_the_key() {
        let err = |t: &str| {
            let s: SupportSettings = toml::from_str(t).unwrap();
            BusinessHours::from_settings(&s, "UTC").unwrap_err()
        };
        let e = err("hours = \"22:00-06:00\"");
        assert!(e.starts_with("support.hours = \"22:00-06:00\"") && e.contains("midnight"), "{e}");
        let e = err("hours = \"9-17\"");
        assert!(e.contains("support.hours") && e.contains("HH:MM"), "{e}");
        let e = err("hours = \"09:00-12:00,11:00-13:00\"");
        assert!(e.contains("overlap"), "{e}");
        let e = err("days = [\"mon\", \"funday\"]");
        assert!(e.contains("support.days") && e.contains("funday"), "{e}");
        let e = err("holidays = [\"2024-13-01\"]");
        assert!(e.contains("support.holidays") && e.contains("2024-13-01"), "{e}");
        let e = err("holidays = [\"2024-12-26..2024-12-24\"]");
        assert!(e.contains("ends before"), "{e}");
        let e = err("timezone = \"Mars/Base\"");
        assert!(e.contains("support.timezone"), "{e}");
        let e = err("day_hours = { sat = \"10:00\" }");
        assert!(e.contains("support.day_hours.sat"), "{e}");
        assert!(toml::from_str::<SupportSettings>("hourz = \"09:00-17:00\"").is_err());
        // Targets.
        let s: SupportSettings = toml::from_str("first_response_target = \"8h\"").unwrap();
        assert_eq!(s.first_response_target_seconds(), Ok(8 * 3600));
        let s: SupportSettings = toml::from_str("resolution_target = \"3x\"").unwrap();
        assert!(s.resolution_target_seconds().unwrap_err().contains("support.resolution_target"));
        assert_eq!(parse_duration_seconds("2w"), Ok(14 * 86_400));
        assert_eq!(parse_duration_seconds("14"), Ok(14 * 86_400));
        // A closed day and the JSON description.
        let h = hours("day_hours = { fri = \"closed\", sat = \"10:00-14:00\" }");
        let j = h.to_json();
        assert_eq!(j["week"]["fri"], json!([]));
        assert_eq!(j["week"]["sat"], json!(["10:00-14:00"]));
        assert_eq!(j["week"]["mon"], json!(["09:00-17:00"]));
    }
}
