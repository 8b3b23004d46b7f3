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
