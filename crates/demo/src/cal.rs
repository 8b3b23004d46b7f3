//! Calendar arithmetic on plain day numbers (days since 1970-01-01).
//!
//! The generator does millions of date and timestamp computations; doing them
//! on integers and converting to `jiff` types only when an entity is built
//! keeps it fast and makes "the same seed gives the same data" easy to see.

use jiff::Timestamp;
use jiff::civil::Date;

pub const DAY: i64 = 86_400;

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i32, m: u32, d: u32) -> i32 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe as u32 * 365 + yoe as u32 / 4 - yoe as u32 / 100 + doy;
    era * 146_097 + doe as i32 - 719_468
}

/// The civil date (year, month, day) of a day number.
pub fn civil_from_days(z: i32) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = (z - era * 146_097) as u32;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe as i32 + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

pub fn day_of(d: Date) -> i32 {
    days_from_civil(d.year() as i32, d.month() as u32, d.day() as u32)
}

pub fn date(day: i32) -> Date {
    let (y, m, d) = civil_from_days(day);
    Date::new(y as i16, m as i8, d as i8).expect("generated dates are valid")
}

pub fn ts(secs: i64) -> Timestamp {
    Timestamp::from_second(secs).expect("generated timestamps are in range")
}

/// 0 = Sunday .. 6 = Saturday.
pub fn weekday(day: i32) -> u32 {
    (day + 4).rem_euclid(7) as u32
}

pub fn is_weekend(day: i32) -> bool {
    matches!(weekday(day), 0 | 6)
}

pub fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// `anchor` plus `k` months, the day clamped to the month's length, always
/// counted from the anchor (Jan 31 + 1 = Feb 28, + 2 = Mar 31): the way billing
/// systems step a subscription's periods and the way SPEC 2.1 steps terms.
pub fn add_months(anchor: i32, k: i32) -> i32 {
    let (y, m, d) = civil_from_days(anchor);
    let total = y * 12 + (m as i32 - 1) + k;
    let (ny, nm) = (total.div_euclid(12), total.rem_euclid(12) as u32 + 1);
    days_from_civil(ny, nm, d.min(days_in_month(ny, nm)))
}

/// Calendar month (1-12) of a day number.
pub fn month_of(day: i32) -> u32 {
    civil_from_days(day).1
}

/// Append the decimal digits of `n` to `s` (no `fmt` machinery: this runs once
/// per usage event).
pub fn push_u64(s: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        s.push(b as char);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for day in -800..30_000 {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
        }
        let d: Date = "2024-11-01".parse().unwrap();
        assert_eq!(date(day_of(d)), d);
        assert_eq!(day_of("1970-01-01".parse().unwrap()), 0);
        assert_eq!(weekday(day_of("2024-11-01".parse().unwrap())), 5); // a Friday
        let jan31 = day_of("2025-01-31".parse().unwrap());
        assert_eq!(date(add_months(jan31, 1)).to_string(), "2025-02-28");
        assert_eq!(date(add_months(jan31, 2)).to_string(), "2025-03-31");
        assert_eq!(date(add_months(jan31, -2)).to_string(), "2024-11-30");
        let mut s = String::new();
        push_u64(&mut s, 0);
        push_u64(&mut s, 1_234_567);
        assert_eq!(s, "01234567");
    }
}
