//! Calendar dates and instants (jiff), parsed the way the data contract says:
//! timestamps are RFC 3339 and UTC when they carry no offset; dates are
//! `YYYY-MM-DD`; months are `YYYY-MM`.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;

/// Parse an instant: RFC 3339 (`2024-03-01T10:00:00Z`, `...+02:00`), the same
/// without an offset (taken as UTC), a bare date (midnight UTC), or Unix
/// seconds (as Stripe exports them).
pub fn parse_timestamp(s: &str) -> Result<Timestamp, String> {
    let s = s.trim();
    if let Some(ts) = parse_utc_timestamp(s.as_bytes()) {
        return Ok(ts);
    }
    if let Ok(ts) = s.parse::<Timestamp>() {
        return Ok(ts);
    }
    if let Ok(dt) = s.parse::<DateTime>() {
        return dt.to_zoned(TimeZone::UTC).map(|z| z.timestamp()).map_err(|e| e.to_string());
    }
    if let Ok(d) = s.parse::<Date>()
        && s.len() == 10
    {
        return d.to_zoned(TimeZone::UTC).map(|z| z.timestamp()).map_err(|e| e.to_string());
    }
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && s.len() <= 12 {
        let secs: i64 = s.parse().map_err(|_| "not a timestamp".to_string())?;
        return Timestamp::from_second(secs).map_err(|e| e.to_string());
    }
    Err(format!("{s:?} is not an RFC 3339 timestamp (expected e.g. 2024-03-01T10:00:00Z)"))
}

/// The shape nearly every export writes, `YYYY-MM-DDTHH:MM:SS[.f]Z` (1 to 9
/// digits of fraction), read by hand: a bulk import parses one per row, and
/// jiff's general parser was a tenth of its time. `None` for anything else,
/// including values out of range, so that jiff decides every other case and
/// every error message (the unit tests hold the two to the same answers).
fn parse_utc_timestamp(b: &[u8]) -> Option<Timestamp> {
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let digits = |d: &[u8]| d.iter().try_fold(0i64, |n, c| c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0')));
    let (year, month, day) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    let (hour, minute, second) = (digits(&b[11..13])?, digits(&b[14..16])?, digits(&b[17..19])?);
    let nanos = match &b[19..] {
        [b'Z'] => 0,
        [b'.', fraction @ .., b'Z'] if (1..=9).contains(&fraction.len()) => {
            digits(fraction)? * 10i64.pow(9 - fraction.len() as u32)
        }
        _ => return None,
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    // A leap second (`:60`) is left to jiff, which has its own rule for it.
    let in_range = (1..=12).contains(&month) && (1..=month_days[month as usize - 1]).contains(&day);
    if !in_range || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second;
    Timestamp::new(seconds, nanos as i32).ok()
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`: whole 400-year eras, then the day of the era counted
/// from March, so that the leap day is the era year's last).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Parse a calendar date: `YYYY-MM-DD`, or a timestamp whose date (as written,
/// in its own offset) is taken.
pub fn parse_date(s: &str) -> Result<Date, String> {
    let s = s.trim();
    if let Ok(pieces) = jiff::fmt::temporal::Pieces::parse(s) {
        return Ok(pieces.date());
    }
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && s.len() >= 9 && s.len() <= 12 {
        let ts = parse_timestamp(s)?;
        return Ok(ts.to_zoned(TimeZone::UTC).date());
    }
    if let Ok(dt) = s.parse::<DateTime>() {
        return Ok(dt.date());
    }
    Err(format!("{s:?} is not a date (expected YYYY-MM-DD)"))
}

/// Parse a month: `YYYY-MM`, or a date whose month is taken (`2024-03-01`).
/// Returns the first day of the month.
pub fn parse_month(s: &str) -> Result<Date, String> {
    let t = s.trim();
    if t.len() == 7
        && let Ok(d) = format!("{t}-01").parse::<Date>()
    {
        return Ok(d);
    }
    parse_date(t).map(|d| d.first_of_month()).map_err(|_| format!("{s:?} is not a month (expected YYYY-MM)"))
}

/// Format a month the way the data contract writes it.
pub fn format_month(d: Date) -> String {
    format!("{:04}-{:02}", d.year(), d.month())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        let t = parse_timestamp("2024-03-01T10:00:00Z").unwrap();
        assert_eq!(parse_timestamp("2024-03-01T10:00:00").unwrap(), t);
        assert_eq!(parse_timestamp("2024-03-01 10:00:00").unwrap(), t);
        assert_eq!(parse_timestamp("2024-03-01T12:00:00+02:00").unwrap(), t);
        assert_eq!(parse_timestamp("1709287200").unwrap(), t);
        assert_eq!(parse_timestamp("2024-03-01").unwrap().to_string(), "2024-03-01T00:00:00Z");
        assert!(parse_timestamp("yesterday").unwrap_err().contains("RFC 3339"));
        assert!(parse_timestamp("2024-02-30T00:00:00Z").is_err());
    }

    /// The hand parser gives jiff's answer for every day of two centuries
    /// (leap years 1900 and 2000 among them), the ends of the day, every length
    /// of fraction, and leaves every other shape (and out-of-range value) to it.
    #[test]
    fn the_common_shape_parses_as_jiff_parses_it() {
        let jiff = |s: &str| s.parse::<Timestamp>().ok();
        let mut day = Date::constant(1899, 12, 25);
        let mut checked = 0;
        while day < Date::constant(2101, 1, 5) {
            for (i, time) in ["00:00:00", "23:59:59", "12:34:56", "09:05:01"].iter().enumerate() {
                let fraction = ["", ".5", ".123456", ".000000001"][(i + day.day() as usize) % 4];
                let s = format!("{day}T{time}{fraction}Z");
                assert_eq!(parse_utc_timestamp(s.as_bytes()), jiff(&s), "{s}");
                checked += 1;
            }
            day = day.tomorrow().unwrap();
        }
        assert!(checked > 290_000);
        for fraction in ["1", "12", "123", "1234", "12345", "123456", "1234567", "12345678", "123456789"] {
            let s = format!("2024-02-29T23:59:59.{fraction}Z");
            assert_eq!(parse_utc_timestamp(s.as_bytes()), jiff(&s), "{s}");
            assert!(jiff(&s).is_some());
        }
        for s in ["0000-01-01T00:00:00Z", "0001-03-01T00:00:00Z", "1970-01-01T00:00:00Z", "9999-12-30T21:59:59Z"] {
            assert_eq!(parse_utc_timestamp(s.as_bytes()), jiff(s), "{s}");
            assert!(jiff(s).is_some());
        }
        let others = [
            "2024-03-01T10:00:00+02:00",
            "2024-03-01T10:00:00-00:00",
            "2024-03-01T10:00:00z",
            "2024-03-01t10:00:00Z",
            "2024-03-01 10:00:00Z",
            "2024-03-01T10:00:00.Z",
            "2024-03-01T10:00:00.1234567890Z",
            "2024-03-01T10:00:00,5Z",
            "2024-03-01T10:00:60Z",
            "2024-03-01T24:00:00Z",
            "2024-02-30T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-00-01T00:00:00Z",
            "2024-03-00T00:00:00Z",
            "2024-3-01T00:00:00Z",
            "+2024-03-01T00:00:00Z",
            "2024-03-01T1a:00:00Z",
            "9999-12-31T23:59:59Z",
            "2024-03-01T10:00:00",
            "2024-03-01",
        ];
        for s in others {
            assert_eq!(parse_utc_timestamp(s.as_bytes()), None, "{s} is left to jiff");
            assert_eq!(parse_timestamp(s).ok(), parse_timestamp_by_jiff(s), "{s}");
        }
        assert_eq!(parse_utc_timestamp(b"2000-02-29T00:00:00Z"), jiff("2000-02-29T00:00:00Z"));
        assert!(parse_utc_timestamp(b"2000-02-29T00:00:00Z").is_some());
    }

    /// What `parse_timestamp` answered before the hand parser: jiff's path only.
    fn parse_timestamp_by_jiff(s: &str) -> Option<Timestamp> {
        if let Ok(ts) = s.parse::<Timestamp>() {
            return Some(ts);
        }
        if let Ok(dt) = s.parse::<DateTime>() {
            return dt.to_zoned(TimeZone::UTC).ok().map(|z| z.timestamp());
        }
        s.parse::<Date>()
            .ok()
            .filter(|_| s.len() == 10)
            .and_then(|d| d.to_zoned(TimeZone::UTC).ok())
            .map(|z| z.timestamp())
    }

    #[test]
    fn dates_and_months() {
        assert_eq!(parse_date("2024-03-01").unwrap().to_string(), "2024-03-01");
        assert_eq!(parse_date("2024-03-01T23:30:00-05:00").unwrap().to_string(), "2024-03-01");
        assert_eq!(parse_date("2024-03-01T23:30:00Z").unwrap().to_string(), "2024-03-01");
        assert!(parse_date("2024-13-01").is_err());
        assert_eq!(parse_month("2024-03").unwrap().to_string(), "2024-03-01");
        assert_eq!(parse_month("2024-03-17").unwrap().to_string(), "2024-03-01");
        assert!(parse_month("March").unwrap_err().contains("YYYY-MM"));
        assert_eq!(format_month(parse_month("2024-03").unwrap()), "2024-03");
    }
}
