//! Calendar intervals over local day numbers: day, week (starting Monday, as
//! ISO 8601 and DuckDB's `date_trunc('week', ..)`; PostHog defaults to Sunday
//! and makes it a project setting) and calendar month.

use jiff::civil::Date;

use super::events::{date_to_day, day_to_date};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Period {
    Day,
    #[default]
    Week,
    Month,
}

impl Period {
    /// A number that increases by one from each interval to the next.
    pub fn key(self, day: i32) -> i32 {
        match self {
            Period::Day => day,
            // 1970-01-01 (day 0) was a Thursday, so Monday 1969-12-29 is day -3.
            Period::Week => (day + 3).div_euclid(7),
            Period::Month => {
                let d = day_to_date(day);
                d.year() as i32 * 12 + d.month() as i32 - 1
            }
        }
    }

    /// The first day of interval `key`.
    pub fn start_day(self, key: i32) -> i32 {
        match self {
            Period::Day => key,
            Period::Week => key * 7 - 3,
            Period::Month => {
                let (year, month) = (key.div_euclid(12) as i16, key.rem_euclid(12) as i8 + 1);
                date_to_day(Date::new(year, month, 1).expect("month in range"))
            }
        }
    }

    pub fn start_date(self, key: i32) -> Date {
        day_to_date(self.start_day(key))
    }

    pub fn name(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
        }
    }
}

/// A range of local days `[from, to)` cut into intervals; the first and last
/// may be partial (clipped to the range).
#[derive(Clone, Copy, Debug)]
pub struct Intervals {
    pub period: Period,
    pub from: i32,
    pub to: i32,
    pub first_key: i32,
    pub count: usize,
}

impl Intervals {
    pub fn new(period: Period, from: i32, to: i32) -> Intervals {
        if to <= from {
            return Intervals { period, from, to, first_key: period.key(from), count: 0 };
        }
        let first_key = period.key(from);
        let count = (period.key(to - 1) - first_key + 1) as usize;
        Intervals { period, from, to, first_key, count }
    }

    /// The interval index of a day inside the range.
    #[inline]
    pub fn index(&self, day: i32) -> Option<usize> {
        (day >= self.from && day < self.to).then(|| (self.period.key(day) - self.first_key) as usize)
    }

    /// The first day of interval `i` within the range (the range start for the first).
    pub fn start_date(&self, i: usize) -> Date {
        day_to_date(self.period.start_day(self.first_key + i as i32).max(self.from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_start_monday_and_months_are_calendar_months() {
        // 2024-01-01 was a Monday; 2023-12-31 a Sunday.
        let mon = date_to_day(Date::constant(2024, 1, 1));
        assert_eq!(Period::Week.key(mon), Period::Week.key(mon + 6)); // Sunday 7 Jan: same week
        assert_eq!(Period::Week.key(mon) - 1, Period::Week.key(mon - 1)); // Sunday 31 Dec: previous week
        assert_eq!(Period::Week.start_date(Period::Week.key(mon + 3)), Date::constant(2024, 1, 1));
        let feb29 = date_to_day(Date::constant(2024, 2, 29));
        assert_eq!(Period::Month.start_date(Period::Month.key(feb29)), Date::constant(2024, 2, 1));
        assert_eq!(Period::Month.key(feb29 + 1), Period::Month.key(feb29) + 1);
        // 10 Jan .. 5 Feb (exclusive) in months: January (from the 10th) and February.
        let iv = Intervals::new(Period::Month, mon + 9, date_to_day(Date::constant(2024, 2, 5)));
        assert_eq!(iv.count, 2);
        assert_eq!(iv.start_date(0), Date::constant(2024, 1, 10));
        assert_eq!(iv.start_date(1), Date::constant(2024, 2, 1));
        assert_eq!(iv.index(mon), None);
        assert_eq!(iv.index(date_to_day(Date::constant(2024, 2, 4))), Some(1));
    }
}
