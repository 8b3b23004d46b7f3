//! The Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV: using
//! iso-value curves for customer base analysis", JMR 42(4); Fader & Hardie,
//! "The Gamma-Gamma model of monetary value", 2013 note), and discounted CLV.
//!
//! A customer's transaction values are Gamma(p, ν) with ν ~ Gamma(q, γ) across
//! customers; the mean value of x transactions, m̄, is then Gamma(px, νx).

use serde::Serialize;

use crate::chunked_sum;
use crate::optimise::bfgs;
use crate::special::{digamma, ln_gamma};
use crate::{Error, Fit, PurchaseModel, Rfm, bounded_with_gradient, count_distinct, fit_from_minimum, position};

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

    /// The total log-likelihood over the customers of `spends` (x > 0 and
    /// m̄ > 0) and its gradient in (p, q, γ):
    /// ∂p = x [ψ(px+q) - ψ(px) + ln m̄ + ln x - ln(γ+m̄x)],
    /// ∂q = ψ(px+q) - ψ(q) + ln γ - ln(γ+m̄x),
    /// ∂γ = q/γ - (px+q)/(γ+m̄x).
    /// Summed over the distinct (x, m̄) of [`Spends`], each weighted by its
    /// count, with the terms in x alone computed once per distinct x.
    pub(crate) fn log_likelihood_and_gradient(&self, spends: &Spends) -> (f64, [f64; 3]) {
        let GammaGamma { p, q, gamma } = *self;
        let (lg_q, psi_q, ln_gamma_) = (ln_gamma(q), digamma(q), gamma.ln());
        // Per distinct x: [the terms in x alone, their ∂p, ∂q].
        let per_x: Vec<[f64; 3]> = spends
            .xs
            .iter()
            .map(|&x| {
                let (px, ln_x) = (p * x, x.ln());
                let psi_pxq = digamma(px + q);
                [
                    ln_gamma(px + q) - ln_gamma(px) - lg_q + px * ln_x,
                    x * (psi_pxq - digamma(px) + ln_x),
                    psi_pxq - psi_q,
                ]
            })
            .collect();
        chunked_sum(spends.customers.len(), |range, g| {
            let mut ll = 0.0;
            for c in &spends.customers[range] {
                let k = &per_x[c.x as usize];
                let x = spends.xs[c.x as usize];
                let total = gamma + c.mean_value * x;
                let ln_total = total.ln();
                let px = p * x;
                let n = c.count;
                ll += n * (k[0] + q * ln_gamma_ + (px - 1.0) * c.ln_mean_value - (px + q) * ln_total);
                g[0] += n * (k[1] + x * (c.ln_mean_value - ln_total));
                g[1] += n * (k[2] + ln_gamma_ - ln_total);
                g[2] += n * (q / gamma - (px + q) / total);
            }
            ll
        })
    }

    /// Maximum-likelihood fit on the customers with at least one repeat
    /// purchase of positive mean value (the others carry no spend
    /// information): BFGS on the log-parameters with the analytic gradient.
    pub fn fit(data: &[Rfm]) -> Result<Fit<GammaGamma>, Error> {
        let repeat: Vec<Rfm> = data.iter().filter(|c| usable(c)).copied().collect();
        if repeat.is_empty() {
            return Err(Error::Input("no customer has a repeat purchase with a positive value to fit spend on".into()));
        }
        let mean_m = repeat.iter().map(|c| c.monetary_value).sum::<f64>() / repeat.len() as f64;
        let from = |v: &[f64]| GammaGamma { p: v[0].exp(), q: v[1].exp(), gamma: v[2].exp() };
        let fit_on = |repeat: &[Rfm], starts: &[Vec<f64>]| {
            let spends = Spends::new(repeat);
            let objective = |v: &[f64], grad: &mut [f64]| {
                bounded_with_gradient(v, grad, || from(v).log_likelihood_and_gradient(&spends))
            };
            bfgs(objective, starts, 1e-10, 1_000)
        };
        let starts = vec![
            vec![0.0, 0.0, 0.0],
            vec![5f64.ln(), 3f64.ln(), mean_m.ln()],
            vec![2f64.ln(), 2f64.ln(), (mean_m / 4.0).max(1e-6).ln()],
        ];
        let tried = starts.len();
        let (starts, explored) = crate::starts_from_sample(&repeat, starts, fit_on);
        let mut m = fit_on(&repeat, &starts);
        m.evaluations += explored;
        m.starts = tried;
        fit_from_minimum(from(&m.x), &m, repeat.len(), "Gamma-Gamma")
    }

    /// Mean transaction value of a new customer, pγ / (q - 1) (infinite for q <= 1).
    pub fn expected_average_value(&self) -> f64 {
        if self.q <= 1.0 {
            return f64::INFINITY;
        }
        self.p * self.gamma / (self.q - 1.0)
    }

    /// E[M | p, q, γ, m̄, x] = p (γ + m̄x) / (px + q - 1): a weighted mean of the
    /// population mean and the customer's own mean, which is the population
    /// mean for a customer without repeat purchases (x = 0). As in `lifetimes`,
    /// a customer whose repeat purchases were worth nothing (m̄ = 0) gets the
    /// formula too, not the population mean: they showed what they spend.
    pub fn conditional_expected_average_value(&self, rfm: &Rfm) -> f64 {
        let GammaGamma { p, q, gamma } = *self;
        let x = rfm.x();
        p * (gamma + rfm.monetary_value * x) / (p * x + q - 1.0)
    }
}

/// The customers of a spend fit grouped by (x, m̄): CDNOW's 946 have 753
/// distinct ones.
pub(crate) struct Spends {
    /// The distinct frequencies x, ascending.
    xs: Vec<f64>,
    customers: Vec<Spend>,
}

/// One distinct (x, m̄) and how many customers have it.
struct Spend {
    /// Index into [`Spends::xs`].
    x: u32,
    mean_value: f64,
    ln_mean_value: f64,
    count: f64,
}

impl Spends {
    fn new(repeat: &[Rfm]) -> Spends {
        // Mean values are positive, so their bits sort like the numbers.
        let distinct = count_distinct(repeat.iter().map(|c| (c.frequency, c.monetary_value.to_bits())).collect());
        let mut frequencies: Vec<u32> = distinct.iter().map(|((x, _), _)| *x).collect();
        frequencies.dedup();
        let customers = distinct
            .iter()
            .map(|&((x, m), count)| {
                let mean_value = f64::from_bits(m);
                Spend { x: position(&frequencies, x), mean_value, ln_mean_value: mean_value.ln(), count }
            })
            .collect();
        Spends { xs: frequencies.into_iter().map(f64::from).collect(), customers }
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
    model: &(impl PurchaseModel + ?Sized),
    rfm: &Rfm,
    expected_spend: f64,
    months: u32,
    monthly_discount_rate: f64,
    periods_per_month: f64,
) -> f64 {
    let ts: Vec<f64> = (1..=months).map(|i| f64::from(i) * periods_per_month).collect();
    let mut cumulative = vec![0.0; ts.len()];
    model.conditional_expected_purchases_at(&ts, rfm, &mut cumulative);
    let mut clv = 0.0;
    let mut previous = 0.0;
    let mut discount = 1.0;
    for c in cumulative {
        discount /= 1.0 + monthly_discount_rate;
        clv += expected_spend * (c - previous) * discount;
        previous = c;
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
    fn gradient_matches_finite_differences() {
        // Frequencies and values cycle with coprime periods: 91 distinct (x, m̄), most of them twice or thrice.
        let data: Vec<Rfm> = (1..200).map(|i| Rfm::new(i % 7 + 1, 1.0, 2.0, 5.0 + f64::from(i % 13) * 3.7)).collect();
        let spends = Spends::new(&data);
        assert_eq!(spends.customers.len(), 91);
        let m = GammaGamma { p: 4.0, q: 2.5, gamma: 12.0 };
        let (ll, g) = m.log_likelihood_and_gradient(&spends);
        assert!((ll - m.log_likelihood(&data)).abs() < 1e-9 * ll.abs());
        for i in 0..3 {
            let bump = |d: f64| {
                let mut v = [m.p, m.q, m.gamma];
                v[i] += d;
                GammaGamma { p: v[0], q: v[1], gamma: v[2] }.log_likelihood(&data)
            };
            let numeric = (bump(1e-6) - bump(-1e-6)) / 2e-6;
            assert!((g[i] - numeric).abs() < 1e-5 * (1.0 + numeric.abs()), "param {i}: {} vs {numeric}", g[i]);
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
        assert!((m.conditional_expected_average_value(&Rfm::new(0, 0.0, 2.0, 0.0)) - pop).abs() < 1e-12 * pop);
    }
}
