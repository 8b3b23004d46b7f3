//! The output conventions of SPEC 2, in one place: percentages 0-100 with 2
//! decimals, ratios 0-1 with 4 decimals, means of ratings 2 decimals, all
//! rounded half away from zero on output only; a metric over an empty set is
//! `None` (JSON null), never 0.

use rust_decimal::{Decimal, RoundingStrategy};

/// Round half away from zero to `dp` decimals.
pub fn round_dp(x: Decimal, dp: u32) -> Decimal {
    x.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero)
}

/// `part / whole` as a percentage 0-100 with 2 decimals; `None` when `whole` is 0.
pub fn pct(part: u64, whole: u64) -> Option<Decimal> {
    if whole == 0 {
        return None;
    }
    Some(round_dp(Decimal::from(part) * Decimal::ONE_HUNDRED / Decimal::from(whole), 2))
}

/// `part / whole` as a ratio 0-1 with 4 decimals; `None` when `whole` is 0.
pub fn ratio(part: u64, whole: u64) -> Option<Decimal> {
    if whole == 0 {
        return None;
    }
    Some(round_dp(Decimal::from(part) / Decimal::from(whole), 4))
}

/// A decimal computed exactly elsewhere, rounded for output: a percentage
/// (2 decimals) or a ratio (4 decimals).
pub fn pct_of(x: Decimal) -> Decimal {
    round_dp(x, 2)
}
pub fn ratio_of(x: Decimal) -> Decimal {
    round_dp(x, 4)
}

/// Median of sorted values; the mean of the two middle ones for an even count.
pub fn median_sorted(sorted: &[i64]) -> Option<Decimal> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    Some(if n % 2 == 1 {
        Decimal::from(sorted[n / 2])
    } else {
        ((Decimal::from(sorted[n / 2 - 1]) + Decimal::from(sorted[n / 2])) / Decimal::TWO).normalize()
    })
}

/// A decimal as a JSON number (they are all small enough for f64 to print exactly
/// at 2 or 4 decimals).
pub fn json(x: Option<Decimal>) -> serde_json::Value {
    match x {
        None => serde_json::Value::Null,
        Some(d) => {
            use rust_decimal::prelude::ToPrimitive;
            serde_json::Number::from_f64(d.to_f64().unwrap_or(f64::NAN))
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conventions() {
        assert_eq!(pct(1, 3).unwrap().to_string(), "33.33");
        assert_eq!(pct(2, 3).unwrap().to_string(), "66.67");
        assert_eq!(pct(1, 8).unwrap().to_string(), "12.50");
        assert_eq!(pct(0, 0), None);
        assert_eq!(ratio(1, 3).unwrap().to_string(), "0.3333");
        assert_eq!(ratio(1, 16).unwrap().to_string(), "0.0625");
        assert_eq!(round_dp("0.125".parse().unwrap(), 2).to_string(), "0.13");
        assert_eq!(round_dp("-0.125".parse().unwrap(), 2).to_string(), "-0.13");
        assert_eq!(median_sorted(&[1, 2, 3, 10]).unwrap().to_string(), "2.5");
        assert_eq!(median_sorted(&[]), None);
        assert_eq!(json(Some("12.50".parse().unwrap())), serde_json::json!(12.5));
        assert_eq!(json(None), serde_json::Value::Null);
    }
}
