//! The shifted-beta-geometric model of contractual retention (Fader & Hardie
//! 2007, "How to project customer retention", Journal of Interactive
//! Marketing 21(1)).
//!
//! Each customer renews each period with a fixed probability 1 - θ, and θ is
//! Beta(α, β) across the cohort, so that
//! P(T = t) = B(α + 1, β + t - 1) / B(α, β) and S(t) = B(α, β + t) / B(α, β),
//! computed by the paper's recursions
//! P(1) = α / (α + β), P(t) = (β + t - 2) / (α + β + t - 1) P(t - 1).

use serde::Serialize;

use crate::optimise::{Options, minimise};
use crate::special::{hyp2f1, ln_beta};
use crate::{Error, Fit, bounded, fit_from_minimum};

/// sBG parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Sbg {
    pub alpha: f64,
    pub beta: f64,
}

impl Sbg {
    /// P(T = t): the probability of churning at renewal t (t >= 1).
    pub fn churn_probability(&self, t: u32) -> f64 {
        if t == 0 {
            return 0.0;
        }
        (ln_beta(self.alpha + 1.0, self.beta + f64::from(t) - 1.0) - ln_beta(self.alpha, self.beta)).exp()
    }

    /// S(t): the share of the cohort still a customer after t periods.
    pub fn survival(&self, t: u32) -> f64 {
        (ln_beta(self.alpha, self.beta + f64::from(t)) - ln_beta(self.alpha, self.beta)).exp()
    }

    /// r(t) = S(t) / S(t - 1) = (β + t - 1) / (α + β + t - 1): the retention
    /// rate at renewal t, rising with t as the cohort sorts itself.
    pub fn retention_rate(&self, t: u32) -> f64 {
        let t = f64::from(t);
        (self.beta + t - 1.0) / (self.alpha + self.beta + t - 1.0)
    }

    /// The survival curve S(0..=periods).
    pub fn project(&self, periods: u32) -> Vec<f64> {
        (0..=periods).map(|t| self.survival(t)).collect()
    }

    /// Log-likelihood of a cohort observed for `lost.len()` periods: `lost[t-1]`
    /// customers churned at renewal t, and `alive` were still customers at the
    /// end (counts may be fractional, e.g. shares times a cohort size).
    pub fn log_likelihood(&self, lost: &[f64], alive: f64) -> f64 {
        let mut ll = 0.0;
        let mut p = self.alpha / (self.alpha + self.beta);
        for (i, &n) in lost.iter().enumerate() {
            let t = i as f64 + 1.0;
            if i > 0 {
                p *= (self.beta + t - 2.0) / (self.alpha + self.beta + t - 1.0);
            }
            if n > 0.0 {
                ll += n * p.ln();
            }
        }
        if alive > 0.0 {
            // S(T) directly rather than by subtraction, which loses digits.
            ll += alive * self.survival(lost.len() as u32).ln();
        }
        ll
    }

    /// Fit on a survival curve: `survival[0]` must be 1 (the whole cohort),
    /// then the share still a customer after each period, non-increasing.
    /// `cohort_size` scales the shares to counts (it changes the
    /// log-likelihood, not the estimates).
    pub fn fit_survival(survival: &[f64], cohort_size: f64) -> Result<Fit<Sbg>, Error> {
        if survival.len() < 2 {
            return Err(Error::Input("a survival curve needs at least two points (period 0 and period 1)".into()));
        }
        if (survival[0] - 1.0).abs() > 1e-9 {
            return Err(Error::Input(format!("a survival curve starts at 1 (got {})", survival[0])));
        }
        if survival.windows(2).any(|w| w[1] > w[0] || w[1] < 0.0) {
            return Err(Error::Input("a survival curve must be non-increasing and non-negative".into()));
        }
        let counts: Vec<f64> = survival.iter().map(|s| s * cohort_size).collect();
        Self::fit_counts(&counts)
    }

    /// Fit on the number of customers at the start of each period, from the
    /// cohort size at period 0.
    pub fn fit_counts(alive: &[f64]) -> Result<Fit<Sbg>, Error> {
        if alive.len() < 2 || alive[0] <= 0.0 {
            return Err(Error::Input("a cohort needs a positive size and at least one renewal".into()));
        }
        let lost: Vec<f64> = alive.windows(2).map(|w| w[0] - w[1]).collect();
        if lost.iter().any(|l| *l < 0.0) {
            return Err(Error::Input("a cohort cannot grow: counts must be non-increasing".into()));
        }
        let end = *alive.last().expect("checked");
        let objective =
            |v: &[f64]| bounded(v, || -Sbg { alpha: v[0].exp(), beta: v[1].exp() }.log_likelihood(&lost, end));
        let starts = vec![vec![0.0, 0.0], vec![(0.5f64).ln(), 2f64.ln()], vec![2f64.ln(), 10f64.ln()]];
        let m = minimise(objective, &starts, &Options::default());
        let params = Sbg { alpha: m.x[0].exp(), beta: m.x[1].exp() };
        fit_from_minimum(params, &m, alive[0].round() as usize, "sBG")
    }

    /// Discounted expected lifetime of a new customer, in periods, counting the
    /// first period undiscounted: DEL = Σ_{t>=0} S(t) / (1 + d)^t
    /// = 2F1(1, β; α + β; 1 / (1 + d)).
    pub fn discounted_expected_lifetime(&self, discount_rate: f64) -> f64 {
        hyp2f1(1.0, self.beta, self.alpha + self.beta, 1.0 / (1.0 + discount_rate))
    }

    /// Discounted expected residual lifetime of a customer who has made
    /// `renewals` renewals and is about to decide on the next one
    /// (Fader & Hardie 2010, "Customer-base valuation in a contractual setting"):
    /// DERL = (β + n) / (α + β + n) · 2F1(1, β + n + 1; α + β + n + 1; 1 / (1 + d)),
    /// n = renewals. Multiply by the margin per period for the residual value.
    pub fn discounted_expected_residual_lifetime(&self, discount_rate: f64, renewals: u32) -> f64 {
        let n = f64::from(renewals);
        let (a, b) = (self.alpha, self.beta);
        (b + n) / (a + b + n) * hyp2f1(1.0, b + n + 1.0, a + b + n + 1.0, 1.0 / (1.0 + discount_rate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recursions_and_closed_forms_agree() {
        let m = Sbg { alpha: 0.704, beta: 1.182 };
        let mut s = 1.0;
        for t in 1..30 {
            s -= m.churn_probability(t);
            assert!((s - m.survival(t)).abs() < 1e-12);
            assert!((m.survival(t) / m.survival(t - 1) - m.retention_rate(t)).abs() < 1e-12);
        }
    }

    #[test]
    fn lifetimes_match_their_series() {
        let m = Sbg { alpha: 0.668, beta: 3.806 };
        let d: f64 = 0.1;
        let series: f64 = (0..20_000).map(|t| m.survival(t) / (1.0 + d).powi(t as i32)).sum();
        assert!((m.discounted_expected_lifetime(d) - series).abs() < 1e-9 * series);
        // A customer with n renewals behind them: Σ_{t>=1} S(n+t)/S(n) / (1+d)^(t-1).
        for n in [0u32, 1, 4] {
            let s_n = m.survival(n);
            let series: f64 = (1..20_000).map(|t| m.survival(n + t) / s_n / (1.0 + d).powi(t as i32 - 1)).sum();
            let got = m.discounted_expected_residual_lifetime(d, n);
            assert!((got - series).abs() < 1e-9 * series, "n={n}: {got} vs {series}");
        }
    }
}
