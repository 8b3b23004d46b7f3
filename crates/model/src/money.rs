//! Exact money: integer minor units with sub-cent precision, never floats.
//!
//! A [`Money`] is an `i128` count of *ticks*, where one minor unit (a cent for
//! USD/EUR, a yen for JPY) is [`TICKS_PER_MINOR`] ticks. The tick size is chosen
//! so that the divisions the revenue engine performs all the time are exact:
//! normalising any interval of 1..12 (and 24, 36) months or years to a month,
//! weekly prices (x 52 / 12) and daily prices (x 365 / 12). Everything else (a
//! prorated line scaled by days, an FX rate) rounds half away from zero at the
//! tick, 10^-6 of a cent or finer, far below what any output shows.
//!
//! Rounding to whole cents happens only on output ([`Money::round_cents`],
//! [`Money::cents_string`]).

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Neg, Sub, SubAssign};

use rust_decimal::Decimal;

/// lcm(1..=12) = 27,720; x 12 for monthly normalisation of years; x 10^6 for
/// sub-cent decimal precision; x 3 x 5 x 7 for 24 and 36 counts and spare factors.
pub const TICKS_PER_MINOR: i128 = 27_720 * 12 * 1_000_000 * 105;

/// An exact amount of money in minor units (see the module documentation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(i128);

impl Money {
    pub const ZERO: Money = Money(0);

    /// Whole minor units (cents), as imported.
    pub const fn from_cents(cents: i64) -> Money {
        Money(cents as i128 * TICKS_PER_MINOR)
    }

    pub const fn from_ticks(ticks: i128) -> Money {
        Money(ticks)
    }

    pub const fn ticks(self) -> i128 {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub fn max(self, other: Money) -> Money {
        if self >= other { self } else { other }
    }

    pub fn min(self, other: Money) -> Money {
        if self <= other { self } else { other }
    }

    /// Multiply by an integer (quantity, 52 weeks, 365 days).
    pub fn times(self, n: i64) -> Money {
        Money(self.0 * n as i128)
    }

    /// Divide by an integer, rounding half away from zero at the tick.
    /// Exact whenever `n` divides the tick count (see [`TICKS_PER_MINOR`]).
    pub fn div_int(self, n: i64) -> Money {
        assert!(n != 0, "money divided by zero");
        Money(div_round_half_away(self.0, n as i128))
    }

    /// `self * num / den` in one step (no intermediate rounding).
    pub fn mul_div(self, num: i64, den: i64) -> Money {
        assert!(den != 0, "money divided by zero");
        Money(div_round_half_away(self.0 * num as i128, den as i128))
    }

    /// Multiply by an exact decimal (an FX rate, a percentage / 100).
    pub fn mul_decimal(self, factor: Decimal) -> Money {
        let mantissa = factor.mantissa();
        let scale = 10i128.pow(factor.scale());
        Money(div_round_half_away(self.0 * mantissa, scale))
    }

    /// The amount as a decimal number of minor units with full precision.
    pub fn to_decimal_cents(self) -> Decimal {
        // i128 / TICKS: keep 10 decimals, enough to show any sub-cent value.
        let scaled = div_round_half_away(self.0 * 10_000_000_000, TICKS_PER_MINOR);
        Decimal::from_i128_with_scale(scaled, 10).normalize()
    }

    /// Round to hundredths of a minor unit, half away from zero: the output
    /// convention "money in cents with up to 2 decimals". Returned as hundredths.
    pub fn round_centi_cents(self) -> i128 {
        div_round_half_away(self.0 * 100, TICKS_PER_MINOR)
    }

    /// Round to whole minor units, half away from zero.
    pub fn round_cents(self) -> i128 {
        div_round_half_away(self.0, TICKS_PER_MINOR)
    }

    /// Output form: cents with two decimals, e.g. `"1234.50"`.
    pub fn cents_string(self) -> String {
        let h = self.round_centi_cents();
        let sign = if h < 0 { "-" } else { "" };
        let a = h.unsigned_abs();
        format!("{sign}{}.{:02}", a / 100, a % 100)
    }

    /// Output form as a JSON number (cents with up to two decimals).
    pub fn cents_f64(self) -> f64 {
        self.round_centi_cents() as f64 / 100.0
    }

    /// Exact ratio of two amounts, as a decimal (for rates computed from money).
    pub fn ratio(self, denominator: Money) -> Option<Decimal> {
        if denominator.0 == 0 {
            return None;
        }
        Decimal::from_i128_with_scale(self.0, 0).checked_div(Decimal::from_i128_with_scale(denominator.0, 0)).or_else(
            || {
                // Mantissas too large for rust_decimal: scale both down first.
                let f = TICKS_PER_MINOR / 1_000_000;
                Decimal::from_i128_with_scale(self.0 / f, 0)
                    .checked_div(Decimal::from_i128_with_scale(denominator.0 / f, 0))
            },
        )
    }
}

/// Integer division rounding half away from zero.
pub fn div_round_half_away(num: i128, den: i128) -> i128 {
    let q = num / den;
    let r = num % den;
    if r == 0 {
        return q;
    }
    let twice = r.abs() * 2;
    if twice >= den.abs() { if (num < 0) != (den < 0) { q - 1 } else { q + 1 } } else { q }
}

impl Add for Money {
    type Output = Money;
    fn add(self, rhs: Money) -> Money {
        Money(self.0 + rhs.0)
    }
}
impl Sub for Money {
    type Output = Money;
    fn sub(self, rhs: Money) -> Money {
        Money(self.0 - rhs.0)
    }
}
impl Neg for Money {
    type Output = Money;
    fn neg(self) -> Money {
        Money(-self.0)
    }
}
impl AddAssign for Money {
    fn add_assign(&mut self, rhs: Money) {
        self.0 += rhs.0;
    }
}
impl SubAssign for Money {
    fn sub_assign(&mut self, rhs: Money) {
        self.0 -= rhs.0;
    }
}
impl Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::ZERO, Add::add)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.cents_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalising_common_intervals_is_exact() {
        // A yearly price of 1 cent, normalised to a month, times 12 months is 1 cent exactly.
        let monthly = Money::from_cents(1).div_int(12);
        assert_eq!(monthly.times(12), Money::from_cents(1));
        for count in [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 24, 36] {
            let m = Money::from_cents(1).div_int(12 * count);
            assert_eq!(m.times(12 * count), Money::from_cents(1), "count {count}");
        }
        // weekly: x 52 / 12
        let w = Money::from_cents(1).mul_div(52, 12);
        assert_eq!(w.times(3), Money::from_cents(13));
        // daily: x 365 / 12
        let d = Money::from_cents(1).mul_div(365, 12);
        assert_eq!(d.times(12), Money::from_cents(365));
    }

    #[test]
    fn rounds_half_away_from_zero_only_on_output() {
        let half = Money::from_cents(1).div_int(200); // 0.005 cents
        assert_eq!(half.cents_string(), "0.01");
        assert_eq!((-half).cents_string(), "-0.01");
        let third = Money::from_cents(100).div_int(3);
        assert_eq!(third.cents_string(), "33.33");
        assert_eq!((third + third + third).cents_string(), "100.00");
        assert_eq!(Money::from_cents(-5).cents_string(), "-5.00");
        assert_eq!(Money::from_cents(2999).div_int(2).round_cents(), 1500);
        assert_eq!(Money::from_cents(-2999).div_int(2).round_cents(), -1500);
    }

    #[test]
    fn decimal_factors() {
        let rate: Decimal = "1.0825".parse().unwrap();
        assert_eq!(Money::from_cents(10_000).mul_decimal(rate), Money::from_cents(10_825));
        assert_eq!(Money::from_cents(1).div_int(3).to_decimal_cents().to_string(), "0.3333333333");
        assert_eq!(Money::from_cents(50).ratio(Money::from_cents(200)).unwrap().to_string(), "0.25");
        assert_eq!(Money::from_cents(1).ratio(Money::ZERO), None);
    }

    #[test]
    fn div_round_half_away_cases() {
        assert_eq!(div_round_half_away(5, 2), 3);
        assert_eq!(div_round_half_away(-5, 2), -3);
        assert_eq!(div_round_half_away(4, 3), 1);
        assert_eq!(div_round_half_away(-4, 3), -1);
        assert_eq!(div_round_half_away(5, -2), -3);
    }
}
