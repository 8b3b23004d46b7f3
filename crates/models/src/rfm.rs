//! RFM summaries from orders (SPEC 2.6): the inputs of every CLV model.
//!
//! * All orders of a customer on one calendar day are one purchase; their
//!   values are summed.
//! * `frequency` = purchase days - 1 (repeat purchases).
//! * `recency` = last purchase day - first purchase day.
//! * `t` (the customer's age) = observation end - first purchase day.
//! * `monetary_value` = mean value of the repeat purchases (the first purchase
//!   is excluded), 0 for a customer without any.
//!
//! Times are in the chosen [`TimeUnit`]. Orders after the observation end are
//! ignored, and so are customers whose first purchase is after it. With a
//! calibration end, the summary is computed up to that day and the holdout
//! period (calibration end, observation end] is summarised per customer.

use std::collections::BTreeMap;

use jiff::civil::Date;
use serde::Serialize;

use crate::Error;

/// The unit the summary's times are expressed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeUnit {
    Day,
    Week,
    Month,
}

impl TimeUnit {
    pub const NAMES: &'static [&'static str] = &["day", "week", "month"];

    pub fn parse(s: &str) -> Option<TimeUnit> {
        match s {
            "day" | "days" | "D" => Some(TimeUnit::Day),
            "week" | "weeks" | "W" => Some(TimeUnit::Week),
            "month" | "months" | "M" => Some(TimeUnit::Month),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TimeUnit::Day => "day",
            TimeUnit::Week => "week",
            TimeUnit::Month => "month",
        }
    }

    /// Length in days. A month is the mean Gregorian month, 365.25 / 12 days,
    /// so that durations do not depend on which months they span.
    pub fn days(self) -> f64 {
        match self {
            TimeUnit::Day => 1.0,
            TimeUnit::Week => 7.0,
            TimeUnit::Month => 365.25 / 12.0,
        }
    }

    /// Periods per month for monthly CLV discounting. These are the factors of
    /// `lifetimes`' `customer_lifetime_value` (30 days, 4.345 weeks, 1 month),
    /// so that per-customer CLV agrees with it.
    pub fn periods_per_month(self) -> f64 {
        match self {
            TimeUnit::Day => 30.0,
            TimeUnit::Week => 4.345,
            TimeUnit::Month => 1.0,
        }
    }
}

/// One customer's repeat-purchase summary, the input of the models.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Rfm {
    /// Repeat purchases (purchase days - 1).
    pub frequency: u32,
    /// Time from the first to the last purchase.
    pub recency: f64,
    /// Time from the first purchase to the end of observation.
    #[serde(rename = "T")]
    pub t: f64,
    /// Mean value of the repeat purchases, 0 without any.
    pub monetary_value: f64,
}

impl Rfm {
    pub fn new(frequency: u32, recency: f64, t: f64, monetary_value: f64) -> Rfm {
        Rfm { frequency, recency, t, monetary_value }
    }

    /// Frequency as a float, for the model formulas.
    pub fn x(&self) -> f64 {
        f64::from(self.frequency)
    }
}

/// What happened in the holdout period after the calibration end.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Holdout {
    /// Purchase days in (calibration end, observation end].
    pub frequency: u32,
    /// Mean value of those purchases, 0 without any.
    pub monetary_value: f64,
    /// Length of the holdout period.
    pub duration: f64,
}

/// A customer's summary.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CustomerRfm {
    pub customer_id: String,
    #[serde(flatten)]
    pub rfm: Rfm,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holdout: Option<Holdout>,
}

/// How to summarise.
#[derive(Clone, Copy, Debug)]
pub struct RfmOptions {
    pub unit: TimeUnit,
    /// Last day observed (inclusive).
    pub observation_end: Date,
    /// End of the calibration period (inclusive); the rest up to the
    /// observation end is the holdout period.
    pub calibration_end: Option<Date>,
}

/// One purchase record: a customer, a day and a value (in major currency units).
#[derive(Clone, Debug, PartialEq)]
pub struct Purchase<'a> {
    pub customer_id: &'a str,
    pub date: Date,
    pub value: f64,
}

/// Whole days from `from` to `to` (civil dates: no time zone or DST involved).
fn days_between(from: Date, to: Date) -> f64 {
    // A span between two civil dates in days cannot overflow.
    to.since(from).map_or(f64::NAN, |span| f64::from(span.get_days()))
}

/// Summarise purchases per customer (sorted by customer id).
pub fn summarise<'a>(
    purchases: impl IntoIterator<Item = Purchase<'a>>,
    opts: &RfmOptions,
) -> Result<Vec<CustomerRfm>, Error> {
    if let Some(cal) = opts.calibration_end
        && cal >= opts.observation_end
    {
        return Err(Error::Input(format!(
            "the calibration end ({cal}) must be before the observation end ({})",
            opts.observation_end
        )));
    }
    // Customer -> day -> summed value.
    let mut days: BTreeMap<&str, BTreeMap<Date, f64>> = BTreeMap::new();
    for p in purchases {
        if !p.value.is_finite() {
            return Err(Error::Input(format!(
                "customer {}: the purchase on {} has no finite value",
                p.customer_id, p.date
            )));
        }
        if p.date > opts.observation_end {
            continue;
        }
        *days.entry(p.customer_id).or_default().entry(p.date).or_insert(0.0) += p.value;
    }
    let calibration_end = opts.calibration_end.unwrap_or(opts.observation_end);
    let unit = opts.unit.days();
    let mut out = Vec::with_capacity(days.len());
    for (customer_id, by_day) in days {
        let mut calibration = by_day.range(..=calibration_end);
        let Some((&first, _)) = calibration.next() else {
            continue; // first purchase in the holdout period: not a calibration customer
        };
        let repeats: Vec<(Date, f64)> = calibration.map(|(d, v)| (*d, *v)).collect();
        let last = repeats.last().map_or(first, |(d, _)| *d);
        let monetary_value =
            if repeats.is_empty() { 0.0 } else { repeats.iter().map(|(_, v)| v).sum::<f64>() / repeats.len() as f64 };
        let rfm = Rfm {
            frequency: repeats.len() as u32,
            recency: days_between(first, last) / unit,
            t: days_between(first, calibration_end) / unit,
            monetary_value,
        };
        let holdout = opts.calibration_end.map(|cal| {
            let later: Vec<f64> = by_day
                .range((std::ops::Bound::Excluded(cal), std::ops::Bound::Included(opts.observation_end)))
                .map(|(_, v)| *v)
                .collect();
            Holdout {
                frequency: later.len() as u32,
                monetary_value: if later.is_empty() { 0.0 } else { later.iter().sum::<f64>() / later.len() as f64 },
                duration: days_between(cal, opts.observation_end) / unit,
            }
        });
        out.push(CustomerRfm { customer_id: customer_id.to_string(), rfm, holdout });
    }
    Ok(out)
}

/// Summarise the data contract's orders. Values are converted from minor
/// units with the order's currency exponent (2 when the currency is unknown);
/// mixing currencies in one summary is the caller's responsibility.
pub fn from_orders(orders: &[tenure_model::Order], opts: &RfmOptions) -> Result<Vec<CustomerRfm>, Error> {
    summarise(
        orders.iter().map(|o| {
            let exponent = o.currency.map_or(2, |c| c.exponent());
            Purchase {
                customer_id: &o.customer_id,
                date: o.date,
                value: o.amount_cents as f64 / 10f64.powi(i32::from(exponent)),
            }
        }),
        opts,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn p(c: &str, d: Date, v: f64) -> Purchase<'_> {
        Purchase { customer_id: c, date: d, value: v }
    }

    #[test]
    fn hand_computed_summary_in_days() {
        let opts = RfmOptions { unit: TimeUnit::Day, observation_end: date(2024, 1, 31), calibration_end: None };
        let rows = summarise(
            [
                // a: first purchase 1 Jan (two orders, one purchase), repeats on 11 and 21 Jan.
                p("a", date(2024, 1, 1), 10.0),
                p("a", date(2024, 1, 1), 5.0),
                p("a", date(2024, 1, 11), 20.0),
                p("a", date(2024, 1, 21), 30.0),
                p("a", date(2024, 1, 21), 10.0),
                // b: one purchase only.
                p("b", date(2024, 1, 16), 99.0),
                // c: an order after the observation end is ignored.
                p("c", date(2024, 1, 30), 7.0),
                p("c", date(2024, 2, 2), 8.0),
                // d: first purchase after the observation end: not a customer yet.
                p("d", date(2024, 2, 5), 1.0),
            ],
            &opts,
        )
        .unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].customer_id, "a");
        // Repeats: 20 and 40 (30 + 10 on the same day) -> mean 30.
        assert_eq!(rows[0].rfm, Rfm::new(2, 20.0, 30.0, 30.0));
        assert_eq!(rows[1].rfm, Rfm::new(0, 0.0, 15.0, 0.0));
        assert_eq!(rows[2].rfm, Rfm::new(0, 0.0, 1.0, 0.0));
        assert!(rows.iter().all(|r| r.holdout.is_none()));
    }

    #[test]
    fn weeks_and_months() {
        let purchases = [p("a", date(2024, 1, 1), 10.0), p("a", date(2024, 1, 15), 20.0)];
        let week = RfmOptions { unit: TimeUnit::Week, observation_end: date(2024, 1, 29), calibration_end: None };
        let rows = summarise(purchases.clone(), &week).unwrap();
        assert_eq!(rows[0].rfm, Rfm::new(1, 2.0, 4.0, 20.0));
        let month = RfmOptions { unit: TimeUnit::Month, observation_end: date(2025, 1, 1), calibration_end: None };
        let rows = summarise(purchases, &month).unwrap();
        // 366 days (2024 is a leap year) in mean months of 30.4375 days.
        assert!((rows[0].rfm.t - 366.0 / 30.4375).abs() < 1e-12);
        assert!((rows[0].rfm.recency - 14.0 / 30.4375).abs() < 1e-12);
    }

    #[test]
    fn calibration_and_holdout() {
        let opts = RfmOptions {
            unit: TimeUnit::Day,
            observation_end: date(2024, 3, 1),
            calibration_end: Some(date(2024, 1, 31)),
        };
        let rows = summarise(
            [
                p("a", date(2024, 1, 1), 10.0),
                p("a", date(2024, 1, 31), 20.0),
                p("a", date(2024, 2, 10), 30.0),
                p("a", date(2024, 2, 10), 6.0),
                p("a", date(2024, 3, 1), 4.0),
                p("a", date(2024, 3, 2), 1000.0),
                // Only in the holdout period: not a calibration customer.
                p("b", date(2024, 2, 3), 5.0),
            ],
            &opts,
        )
        .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].rfm, Rfm::new(1, 30.0, 30.0, 20.0));
        assert_eq!(rows[0].holdout, Some(Holdout { frequency: 2, monetary_value: 20.0, duration: 30.0 }));
    }

    #[test]
    fn calibration_end_must_precede_observation_end() {
        let d = date(2024, 1, 1);
        let opts = RfmOptions { unit: TimeUnit::Day, observation_end: d, calibration_end: Some(d) };
        assert!(summarise([], &opts).is_err());
    }
}
