//! The Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV: using
//! iso-value curves for customer base analysis", JMR 42(4); Fader & Hardie,
//! "The Gamma-Gamma model of monetary value", 2013 note), and discounted CLV.
//!
//! A customer's transaction values are Gamma(p, ν) with ν ~ Gamma(q, γ) across
//! customers; the mean value of x transactions, m̄, is then Gamma(px, νx).

use serde::Serialize;

use crate::optimise::{Options, minimise};
use crate::special::ln_gamma;
use crate::{Error, Fit, PurchaseModel, Rfm, bounded, fit_from_minimum};

/// Gamma-Gamma parameters (`gamma` is the paper's γ, lifetimes' `v`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct GammaGamma {
    pub p: f64,
    pub q: f64,
    pub gamma: f64,
}

impl GammaGamma {
    /// ln f(m̄ | p, q, γ; x) for a customer with x > 0 transactions of mean m̄:
    /// ln Γ(px+q) - ln Γ(px) - ln Γ(q) + q ln γ + (px-1) ln m̄ + px ln x - (px+q) ln(γ + m̄x).
    pub fn log_likelihood_one(&self, x: f64, mean_value: f64) -> f64 {
        let GammaGamma { p, q, gamma } = *self;
        let px = p * x;
        ln_gamma(px + q) - ln_gamma(px) - ln_gamma(q) + q * gamma.ln() + (px - 1.0) * mean_value.ln() + px * x.ln()
            - (px + q) * (gamma + mean_value * x).ln()
    }

    /// Total log-likelihood over the customers with repeat purchases.
    pub fn log_likelihood(&self, data: &[Rfm]) -> f64 {
        data.iter().filter(|c| usable(c)).map(|c| self.log_likelihood_one(c.x(), c.monetary_value)).sum()
    }

    /// Maximum-likelihood fit on the customers with at least one repeat
    /// purchase of positive mean value (the others carry no spend information).
    pub fn fit(data: &[Rfm]) -> Result<Fit<GammaGamma>, Error> {
        let repeat: Vec<Rfm> = data.iter().filter(|c| usable(c)).copied().collect();
        if repeat.is_empty() {
            return Err(Error::Input("no customer has a repeat purchase with a positive value to fit spend on".into()));
        }
        let mean_m = repeat.iter().map(|c| c.monetary_value).sum::<f64>() / repeat.len() as f64;
        let objective = |v: &[f64]| {
            let m = GammaGamma { p: v[0].exp(), q: v[1].exp(), gamma: v[2].exp() };
            bounded(v, || -m.log_likelihood(&repeat))
        };
        let starts = vec![
            vec![0.0, 0.0, 0.0],
            vec![5f64.ln(), 3f64.ln(), mean_m.ln()],
            vec![2f64.ln(), 2f64.ln(), (mean_m / 4.0).max(1e-6).ln()],
        ];
        let m = minimise(objective, &starts, &Options::default());
        let params = GammaGamma { p: m.x[0].exp(), q: m.x[1].exp(), gamma: m.x[2].exp() };
        fit_from_minimum(params, &m, repeat.len(), "Gamma-Gamma")
    }

    /// Mean transaction value of a new customer, pγ / (q - 1) (infinite for q <= 1).
    pub fn expected_average_value(&self) -> f64 {
        if self.q <= 1.0 {
            return f64::INFINITY;
        }
        self.p * self.gamma / (self.q - 1.0)
    }

    /// E[M | p, q, γ, m̄, x] = p (γ + m̄x) / (px + q - 1): a weighted mean of the
    /// population mean and the customer's own mean; the population mean for
    /// a customer without repeat purchases.
    pub fn conditional_expected_average_value(&self, rfm: &Rfm) -> f64 {
        if !usable(rfm) {
            return self.expected_average_value();
        }
        let GammaGamma { p, q, gamma } = *self;
        let x = rfm.x();
        p * (gamma + rfm.monetary_value * x) / (p * x + q - 1.0)
    }
}

fn usable(c: &Rfm) -> bool {
    c.frequency > 0 && c.monetary_value > 0.0 && c.monetary_value.is_finite()
}

/// Discounted customer lifetime value, computed month by month like
/// `lifetimes`' `customer_lifetime_value`: for each month i = 1..=months, the
/// expected purchases in that month (the difference of the cumulative
/// conditional expectation at i and i-1 months) times the expected spend,
/// discounted by (1 + monthly_discount_rate)^i.
///
/// `periods_per_month` converts months to the model's time unit (see
/// [`crate::TimeUnit::periods_per_month`]).
pub fn customer_lifetime_value(
    model: &impl PurchaseModel,
    rfm: &Rfm,
    expected_spend: f64,
    months: u32,
    monthly_discount_rate: f64,
    periods_per_month: f64,
) -> f64 {
    let mut clv = 0.0;
    let mut previous = 0.0;
    for i in 1..=months {
        let cumulative = model.conditional_expected_purchases(f64::from(i) * periods_per_month, rfm);
        clv += expected_spend * (cumulative - previous) / (1.0 + monthly_discount_rate).powi(i as i32);
        previous = cumulative;
    }
    clv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn likelihood_is_a_density_in_the_mean() {
        // ∫ f(m̄) dm̄ = 1 (trapezoid on a log grid).
        let m = GammaGamma { p: 6.25, q: 3.74, gamma: 15.44 };
        for x in [1.0, 3.0] {
            let (mut total, mut prev_v, mut prev_f) = (0.0, 0.0, 0.0);
            let mut v: f64 = 1e-4;
            while v < 1e5 {
                let f = m.log_likelihood_one(x, v).exp();
                total += 0.5 * (f + prev_f) * (v - prev_v);
                prev_v = v;
                prev_f = f;
                v *= 1.001;
            }
            assert!((total - 1.0).abs() < 1e-3, "x={x}: {total}");
        }
    }

    #[test]
    fn conditional_value_shrinks_towards_the_population_mean() {
        let m = GammaGamma { p: 6.25, q: 3.74, gamma: 15.44 };
        let pop = m.expected_average_value();
        assert!((pop - 6.25 * 15.44 / 2.74).abs() < 1e-12);
        let few = m.conditional_expected_average_value(&Rfm::new(1, 1.0, 2.0, 100.0));
        let many = m.conditional_expected_average_value(&Rfm::new(50, 1.0, 2.0, 100.0));
        assert!(pop < few && few < many && many < 100.0);
        assert_eq!(m.conditional_expected_average_value(&Rfm::new(0, 0.0, 2.0, 0.0)), pop);
    }
}
