//! Currency conversion for the revenue engine (SPEC 2.1 "FX"): one rate per
//! currency per calendar month; a month without a rate uses the latest earlier
//! month's; the reporting currency's rate is 1.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use tenure_model::{Currency, FxRate, Money};

/// A calendar month as a number: `year * 12 + (month - 1)`, so that months
/// subtract and compare as integers.
pub type MonthIdx = i32;

pub fn month_idx(d: jiff::civil::Date) -> MonthIdx {
    d.year() as i32 * 12 + (d.month() as i32 - 1)
}

pub fn month_first_day(m: MonthIdx) -> jiff::civil::Date {
    jiff::civil::date(m.div_euclid(12) as i16, (m.rem_euclid(12) + 1) as i8, 1)
}

pub fn month_last_day(m: MonthIdx) -> jiff::civil::Date {
    month_first_day(m).last_of_month()
}

/// `YYYY-MM`.
pub fn month_label(m: MonthIdx) -> String {
    format!("{:04}-{:02}", m.div_euclid(12), m.rem_euclid(12) + 1)
}

/// Monthly rates of every currency to the reporting currency.
#[derive(Clone, Debug)]
pub struct FxTable {
    reporting: Currency,
    rates: BTreeMap<Currency, BTreeMap<MonthIdx, Decimal>>,
}

impl FxTable {
    pub fn new(reporting: Currency, rates: &[FxRate]) -> FxTable {
        let mut t: BTreeMap<Currency, BTreeMap<MonthIdx, Decimal>> = BTreeMap::new();
        for r in rates {
            t.entry(r.currency).or_default().insert(month_idx(r.month), r.rate_to_reporting);
        }
        FxTable { reporting, rates: t }
    }

    pub fn reporting(&self) -> Currency {
        self.reporting
    }

    /// The rate of `currency` in month `m`: that month's, else the latest
    /// earlier month's; 1 for the reporting currency. An error names the
    /// currency and month when no rate is on or before it.
    pub fn rate(&self, currency: Currency, m: MonthIdx) -> Result<Decimal, String> {
        if currency == self.reporting {
            return Ok(Decimal::ONE);
        }
        self.rates.get(&currency).and_then(|by_month| by_month.range(..=m).next_back().map(|(_, r)| *r)).ok_or_else(
            || {
                format!(
                    "no FX rate for {currency} to {} in {} or any earlier month: import fx_rates",
                    self.reporting,
                    month_label(m)
                )
            },
        )
    }

    /// An amount in `currency` minor units converted to reporting-currency
    /// minor units at month `m`'s rate (minor units differ for e.g. JPY).
    pub fn convert(&self, amount: Money, currency: Currency, m: MonthIdx) -> Result<Money, String> {
        if currency == self.reporting {
            return Ok(amount);
        }
        let rate = self.rate(currency, m)?;
        let (from_exp, to_exp) = (currency.exponent() as u32, self.reporting.exponent() as u32);
        Ok(amount.mul_decimal(rate).mul_div(10i64.pow(to_exp), 10i64.pow(from_exp)))
    }

    /// Convert a per-currency amount map and sum it.
    pub fn convert_all(&self, amounts: &BTreeMap<Currency, Money>, m: MonthIdx) -> Result<Money, String> {
        let mut total = Money::ZERO;
        for (c, a) in amounts {
            total += self.convert(*a, *c, m)?;
        }
        Ok(total)
    }
}
