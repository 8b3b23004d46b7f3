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

/// The cap on α + β (see [`Sbg::fit_cohorts`]): a Beta(α, β) with α + β = 10^4
/// has a standard deviation of at most 0.5 percentage points, so churn is
/// practically the same for every customer there.
pub const CONCENTRATION_MAX: f64 = 1e4;

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
        let (a, b) = (self.alpha, self.beta);
        let mut ll = 0.0;
        // P(t) and ln S(t) by the recursions P(t) = (β+t-2)/(α+β+t-1) P(t-1) and
        // S(t) = (β+t-1)/(α+β+t-1) S(t-1): products of ratios near 1 keep their
        // digits where differences of ln B(.,.) at large α, β lose them (the
        // optimiser then sees noise instead of a flat ridge).
        let mut p = a / (a + b);
        let mut ln_s = 0.0;
        for (i, &n) in lost.iter().enumerate() {
            let t = i as f64 + 1.0;
            if i > 0 {
                p *= (b + t - 2.0) / (a + b + t - 1.0);
            }
            ln_s += (-a / (a + b + t - 1.0)).ln_1p();
            if n > 0.0 {
                ll += n * p.ln();
            }
        }
        if alive > 0.0 {
            ll += alive * ln_s;
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
        Self::fit_cohorts(&[alive.to_vec()])
    }

    /// Fit on several cohorts at once (e.g. the customers who started in each
    /// month), each observed for its own number of periods: `cohorts[i][t]`
    /// is how many of cohort i were still customers after t periods. The
    /// log-likelihood is the sum of the cohorts' (Fader & Hardie 2007,
    /// section 4, for cohorts of different ages).
    pub fn fit_cohorts(cohorts: &[Vec<f64>]) -> Result<Fit<Sbg>, Error> {
        let mut observed: Vec<(Vec<f64>, f64)> = Vec::with_capacity(cohorts.len());
        let mut size = 0.0;
        for (i, alive) in cohorts.iter().enumerate() {
            if alive.len() < 2 || alive[0] <= 0.0 {
                continue; // no renewal observed yet: no information on churn
            }
            let lost: Vec<f64> = alive.windows(2).map(|w| w[0] - w[1]).collect();
            if lost.iter().any(|l| *l < 0.0) {
                return Err(Error::Input(format!(
                    "cohort {}: a cohort cannot grow, counts must be non-increasing",
                    i + 1
                )));
            }
            size += alive[0];
            observed.push((lost, *alive.last().expect("checked")));
        }
        if observed.is_empty() {
            return Err(Error::Input("a cohort needs a positive size and at least one renewal".into()));
        }
        // The search is over (logit of the mean churn probability α/(α+β),
        // ln(α+β)). When churn is (nearly) the same for every customer the
        // likelihood keeps rising as α and β grow together at a fixed mean
        // (the geometric limit) and has no maximum: α+β is capped at
        // [`CONCENTRATION_MAX`], along one axis, and the fit says so.
        let ln_cap = CONCENTRATION_MAX.ln();
        let from = |v: &[f64]| {
            let (mean, k) = (1.0 / (1.0 + (-v[0]).exp()), v[1].exp());
            Sbg { alpha: mean * k, beta: (1.0 - mean) * k }
        };
        let objective = |v: &[f64]| {
            if v[1] > ln_cap {
                return f64::INFINITY;
            }
            bounded(v, || {
                let m = from(v);
                -observed.iter().map(|(lost, end)| m.log_likelihood(lost, *end)).sum::<f64>()
            })
        };
        // (α, β) = (1, 1), (0.5, 2) and (2, 10).
        let starts = vec![vec![0.0, 2f64.ln()], vec![(0.25f64).ln(), 2.5f64.ln()], vec![(0.2f64).ln(), 12f64.ln()]];
        let m = minimise(objective, &starts, &Options::default());
        if m.x[1] < ln_cap - 1.0 {
            return fit_from_minimum(from(&m.x), &m, size.round() as usize, "sBG");
        }
        // On the cap: fit the mean alone there.
        let capped = minimise(|v: &[f64]| objective(&[v[0], ln_cap]), &[vec![m.x[0]]], &Options::default());
        let (best, x) = if capped.value <= m.value { (&capped, vec![capped.x[0], ln_cap]) } else { (&m, m.x.clone()) };
        let params = from(&x);
        let mut fit = fit_from_minimum(params, best, size.round() as usize, "sBG")?;
        fit.iterations = m.iterations + capped.iterations;
        fit.evaluations = m.evaluations + capped.evaluations;
        fit.starts = m.starts;
        if x[1] < ln_cap - 1e-6 {
            return Ok(fit); // near the cap but inside it
        }
        fit.boundary = Some(format!(
            "alpha + beta is at its cap of {CONCENTRATION_MAX:e}: churn looks the same for every customer, so the \
             likelihood keeps rising towards a constant churn probability of {:.6} per period (geometric lifetimes); \
             the projections are that limit's",
            params.alpha / (params.alpha + params.beta)
        ));
        Ok(fit)
    }

    /// Discounted expected lifetime of a new customer, in periods, counting the
    /// first period undiscounted: DEL = Σ_{t>=0} S(t) / (1 + d)^t
    /// = 2F1(1, β; α + β; 1 / (1 + d)).
    pub fn discounted_expected_lifetime(&self, discount_rate: f64) -> f64 {
        let v = hyp2f1(1.0, self.beta, self.alpha + self.beta, 1.0 / (1.0 + discount_rate));
        if v.is_finite() { v } else { self.discounted_survival_sum(discount_rate, 0) }
    }

    /// Σ_{t>=0} S(n+t)/S(n) / (1 + d)^t summed term by term with the recursion
    /// S(t)/S(t-1) = (β+t-1)/(α+β+t-1): for large α and β, where the
    /// 2F1 connection formula's gamma ratios overflow (the series then
    /// converges fast: the terms fall at least as fast as the discount).
    fn discounted_survival_sum(&self, discount_rate: f64, renewals: u32) -> f64 {
        let (a, b, n) = (self.alpha, self.beta, f64::from(renewals));
        let (mut term, mut sum) = (1.0, 1.0);
        for t in 1..10_000_000u32 {
            let t = f64::from(t) + n;
            term *= (b + t - 1.0) / (a + b + t - 1.0) / (1.0 + discount_rate);
            sum += term;
            if term <= 1e-17 * sum {
                break;
            }
        }
        sum
    }

    /// Discounted expected residual lifetime of a customer who has made
    /// `renewals` renewals and is about to decide on the next one
    /// (Fader & Hardie 2010, "Customer-base valuation in a contractual setting"):
    /// DERL = (β + n) / (α + β + n) · 2F1(1, β + n + 1; α + β + n + 1; 1 / (1 + d)),
    /// n = renewals. Multiply by the margin per period for the residual value.
    pub fn discounted_expected_residual_lifetime(&self, discount_rate: f64, renewals: u32) -> f64 {
        let n = f64::from(renewals);
        let (a, b) = (self.alpha, self.beta);
        let v = (b + n) / (a + b + n) * hyp2f1(1.0, b + n + 1.0, a + b + n + 1.0, 1.0 / (1.0 + discount_rate));
        if v.is_finite() {
            return v;
        }
        // S(n+1)/S(n) (1 + the sum from n+1 on): the same quantity term by term.
        (b + n) / (a + b + n) * self.discounted_survival_sum(discount_rate, renewals + 1)
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

    /// Two cohorts of different ages fitted together: the likelihood is the sum
    /// of each cohort's, so the joint fit equals a direct search over that sum,
    /// and a cohort with no renewal observed adds nothing.
    #[test]
    fn cohorts_of_different_ages_fit_jointly() {
        let old = vec![1000.0, 631.0, 468.0, 382.0, 326.0];
        let young = vec![500.0, 330.0];
        let joint = Sbg::fit_cohorts(&[old.clone(), young.clone(), vec![80.0]]).unwrap();
        assert_eq!(joint.observations, 1500);
        let ll = |m: Sbg| {
            [&old, &young]
                .iter()
                .map(|c| m.log_likelihood(&c.windows(2).map(|w| w[0] - w[1]).collect::<Vec<_>>(), *c.last().unwrap()))
                .sum::<f64>()
        };
        assert!((joint.log_likelihood - ll(joint.params)).abs() < 1e-9);
        let p = joint.params;
        for (da, db) in [(1e-3, 0.0), (-1e-3, 0.0), (0.0, 1e-3), (0.0, -1e-3)] {
            assert!(ll(Sbg { alpha: p.alpha + da, beta: p.beta + db }) < joint.log_likelihood);
        }
        assert!(Sbg::fit_cohorts(&[vec![10.0, 12.0]]).is_err());
        assert!(Sbg::fit_cohorts(&[vec![10.0]]).is_err());
    }

    /// Near the geometric limit (α, β large) the 2F1 route overflows and the
    /// term-by-term sums take over; they agree with the geometric closed forms.
    #[test]
    fn lifetimes_in_the_geometric_limit() {
        let theta: f64 = 0.024;
        let d: f64 = 1.1f64.powf(1.0 / 12.0) - 1.0;
        // Geometric: S(t) = (1-θ)^t, DEL = 1 / (1 - (1-θ)/(1+d)), DERL = (1-θ) DEL.
        let del = 1.0 / (1.0 - (1.0 - theta) / (1.0 + d));
        let k = 1e7;
        let m = Sbg { alpha: theta * k, beta: (1.0 - theta) * k };
        assert!(!hyp2f1(1.0, m.beta, k, 1.0 / (1.0 + d)).is_finite(), "the 2F1 route overflows here");
        let got = m.discounted_expected_lifetime(d);
        assert!((got - del).abs() < 1e-4 * del, "{got} vs {del}");
        let got = m.discounted_expected_residual_lifetime(d, 5);
        assert!((got - (1.0 - theta) * del).abs() < 1e-4 * del, "{got}");
        // Both routes agree where both work.
        for (alpha, beta) in [(3.0, 40.0), (theta * 1e4, (1.0 - theta) * 1e4)] {
            let m = Sbg { alpha, beta };
            let series = m.discounted_survival_sum(d, 0);
            assert!((m.discounted_expected_lifetime(d) - series).abs() < 1e-9 * series, "{m:?}");
        }
    }

    /// Cohorts whose churn is the same for everyone end on the cap with a note.
    #[test]
    fn homogeneous_churn_ends_on_the_cap() {
        let alive: Vec<f64> = (0..24).map(|t| 10_000.0 * 0.97f64.powi(t)).collect();
        let fit = Sbg::fit_counts(&alive).unwrap();
        assert!(fit.boundary.is_some(), "{fit:?}");
        let p = fit.params;
        assert!((p.alpha / (p.alpha + p.beta) - 0.03).abs() < 1e-3, "{p:?}");
        assert!(p.discounted_expected_lifetime(0.01).is_finite());
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
