//! BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way:
//! an alternative to the Pareto/NBD model", Marketing Science 24(2)).
//!
//! While active, a customer buys as a Poisson process with rate λ ~ Gamma(r, α);
//! after every purchase they drop out with probability p ~ Beta(a, b).

use serde::Serialize;

use crate::optimise::bfgs;
use crate::special::{digamma, hyp2f1, hyp2f1_at, ln_gamma, log_add_exp};
use crate::{Error, Fit, Groups, PurchaseModel, Rfm, bounded_with_gradient, chunked_sum, fit_from_minimum};

/// BG/NBD parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct BgNbd {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

impl BgNbd {
    /// One customer's log-likelihood (FHL 2005, equation 6), in log space:
    /// ln L = A1 + A2 + ln(e^A3 + [x > 0] e^A4) with
    /// A1 = ln Γ(r+x) - ln Γ(r) + r ln α,
    /// A2 = ln Γ(a+b) + ln Γ(b+x) - ln Γ(b) - ln Γ(a+b+x),
    /// A3 = -(r+x) ln(α+T),
    /// A4 = ln a - ln(b+x-1) - (r+x) ln(α+t_x).
    pub fn log_likelihood_one(&self, rfm: &Rfm) -> f64 {
        let BgNbd { r, alpha, a, b } = *self;
        let x = rfm.x();
        let a1 = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln();
        let a2 = ln_gamma(a + b) + ln_gamma(b + x) - ln_gamma(b) - ln_gamma(a + b + x);
        let a3 = -(r + x) * (alpha + rfm.t).ln();
        let tail = if rfm.frequency > 0 {
            let a4 = a.ln() - (b + x - 1.0).ln() - (r + x) * (alpha + rfm.recency).ln();
            log_add_exp(a3, a4)
        } else {
            a3
        };
        a1 + a2 + tail
    }

    /// Total log-likelihood over customers.
    pub fn log_likelihood(&self, data: &[Rfm]) -> f64 {
        data.iter().map(|c| self.log_likelihood_one(c)).sum()
    }

    /// The total log-likelihood and its gradient in (r, α, a, b), from the
    /// derivatives of the terms of [`BgNbd::log_likelihood_one`], with
    /// w4 = e^A4 / (e^A3 + e^A4) (0 for x = 0) and w3 = 1 - w4:
    /// ∂r = ψ(r+x) - ψ(r) + ln α - w3 ln(α+T) - w4 ln(α+t_x),
    /// ∂α = r/α - (r+x) [w3/(α+T) + w4/(α+t_x)],
    /// ∂a = ψ(a+b) - ψ(a+b+x) + w4/a,
    /// ∂b = ψ(a+b) + ψ(b+x) - ψ(b) - ψ(a+b+x) - w4/(b+x-1).
    /// Summed over the distinct customers of [`Times`], each weighted by its
    /// count, with the terms in x alone computed once per distinct x and
    /// ln(α+y), 1/(α+y) once per distinct time.
    pub(crate) fn log_likelihood_and_gradient(&self, times: &Times) -> (f64, [f64; 4]) {
        let BgNbd { r, alpha, a, b } = *self;
        // Per distinct x: [value of A1 + A2 without r ln α, ∂r part, ∂a part, ∂b part, ln(b+x-1), 1/(b+x-1)].
        let (lg_r, lg_ab, lg_b, psi_r, psi_ab, psi_b) =
            (ln_gamma(r), ln_gamma(a + b), ln_gamma(b), digamma(r), digamma(a + b), digamma(b));
        let per_x: Vec<[f64; 6]> = times
            .groups
            .xs
            .iter()
            .map(|&x| {
                let psi_abx = digamma(a + b + x);
                let value = ln_gamma(r + x) - lg_r + lg_ab + ln_gamma(b + x) - lg_b - ln_gamma(a + b + x);
                let (ln_bx1, inv_bx1) = if x > 0.0 { ((b + x - 1.0).ln(), 1.0 / (b + x - 1.0)) } else { (0.0, 0.0) };
                [
                    value,
                    digamma(r + x) - psi_r,
                    psi_ab - psi_abx,
                    psi_ab + digamma(b + x) - psi_b - psi_abx,
                    ln_bx1,
                    inv_bx1,
                ]
            })
            .collect();
        let per_time: Vec<(f64, f64)> = times.times.iter().map(|&y| ((alpha + y).ln(), 1.0 / (alpha + y))).collect();
        let (ln_alpha, ln_a) = (alpha.ln(), a.ln());
        let customers = &times.groups.customers;
        chunked_sum(customers.len(), |range, g| {
            let mut ll = 0.0;
            for i in range {
                let c = &customers[i];
                let k = &per_x[c.x as usize];
                let x = times.groups.xs[c.x as usize];
                let [at_recency, at_t] = times.at[i];
                let (l3, inv3) = per_time[at_t as usize];
                let a3 = -(r + x) * l3;
                let (tail, w4, l4, inv4) = if x > 0.0 {
                    let (l4, inv4) = per_time[at_recency as usize];
                    let a4 = ln_a - k[4] - (r + x) * l4;
                    // ln(e^A3 + e^A4) and w4 with one exponential.
                    let e = (-(a3 - a4).abs()).exp();
                    let w4 = if a4 > a3 { 1.0 / (1.0 + e) } else { e / (1.0 + e) };
                    (a3.max(a4) + e.ln_1p(), w4, l4, inv4)
                } else {
                    (a3, 0.0, 0.0, 0.0)
                };
                let w3 = 1.0 - w4;
                let n = c.count;
                ll += n * (k[0] + r * ln_alpha + tail);
                g[0] += n * (k[1] + ln_alpha - w3 * l3 - w4 * l4);
                g[1] += n * (r / alpha - (r + x) * (w3 * inv3 + w4 * inv4));
                g[2] += n * (k[2] + w4 / a);
                g[3] += n * (k[3] - w4 * k[5]);
            }
            ll
        })
    }

    /// Maximum-likelihood fit on customers' summaries: BFGS on the
    /// log-parameters with the analytic gradient, from three starting points.
    pub fn fit(data: &[Rfm]) -> Result<Fit<BgNbd>, Error> {
        check_summaries(data)?;
        let mean_t = data.iter().map(|c| c.t).sum::<f64>() / data.len() as f64;
        let from = |p: &[f64]| BgNbd { r: p[0].exp(), alpha: p[1].exp(), a: p[2].exp(), b: p[3].exp() };
        let fit_on = |data: &[Rfm], starts: &[Vec<f64>]| {
            let times = Times::new(data);
            let objective = |p: &[f64], grad: &mut [f64]| {
                bounded_with_gradient(p, grad, || from(p).log_likelihood_and_gradient(&times))
            };
            bfgs(objective, starts, 1e-10, 1_000)
        };
        let scale = mean_t.max(1e-6).ln();
        let starts = vec![
            vec![0.0, 0.0, 0.0, 0.0],
            vec![(0.5f64).ln(), scale, 0.0, 1f64.ln()],
            vec![(0.1f64).ln(), scale - 2f64.ln(), (0.5f64).ln(), 5f64.ln()],
        ];
        let tried = starts.len();
        let (starts, explored) = crate::starts_from_sample(data, starts, fit_on);
        let mut m = fit_on(data, &starts);
        m.evaluations += explored;
        m.starts = tried;
        fit_from_minimum(from(&m.x), &m, data.len(), "BG/NBD")
    }

    /// E[X(t)]: expected repeat purchases of a new customer in (0, t] (FHL eq. 7).
    pub fn expected_purchases(&self, t: f64) -> f64 {
        let BgNbd { r, alpha, a, b } = *self;
        if t <= 0.0 {
            return 0.0;
        }
        let z = t / (alpha + t);
        (a + b - 1.0) / (a - 1.0) * (1.0 - (alpha / (alpha + t)).powf(r) * hyp2f1(r, b, a + b - 1.0, z))
    }

    /// P(active at T | x, t_x, T) (FHL 2005, note "computing P(alive)").
    pub fn p_alive(&self, rfm: &Rfm) -> f64 {
        if rfm.frequency == 0 {
            return 1.0;
        }
        let BgNbd { r, alpha, a, b } = *self;
        let x = rfm.x();
        let ln_odds = a.ln() - (b + x - 1.0).ln() + (r + x) * ((alpha + rfm.t) / (alpha + rfm.recency)).ln();
        1.0 / (1.0 + ln_odds.exp())
    }

    /// E[Y(t) | x, t_x, T]: expected purchases in (T, T + t] (FHL eq. 10).
    pub fn conditional_expected_purchases(&self, t: f64, rfm: &Rfm) -> f64 {
        let mut out = [0.0];
        self.conditional_expected_purchases_at(&[t], rfm, &mut out);
        out[0]
    }

    /// E[Y(t) | x, t_x, T] at each horizon of `ts`: the 2F1 has the same
    /// parameters at every horizon, so its coefficients are computed once.
    pub fn conditional_expected_purchases_at(&self, ts: &[f64], rfm: &Rfm, out: &mut [f64]) {
        let BgNbd { r, alpha, a, b } = *self;
        let x = rfm.x();
        let big_t = rfm.t;
        let head = (a + b + x - 1.0) / (a - 1.0);
        let denom = if rfm.frequency > 0 {
            1.0 + a / (b + x - 1.0) * ((alpha + big_t) / (alpha + rfm.recency)).powf(r + x)
        } else {
            1.0
        };
        // (1-z)^(r+x) 2F1(r+x, b+x; a+b+x-1; z), or the same by Euler's
        // transformation 2F1(p, q; c; z) = (1-z)^(c-p-q) 2F1(c-p, c-q; c; z),
        // whichever series starts with the smaller term ratio: for frequent
        // buyers the transformed terms fall like n^(a-r-x-2) z^n instead of
        // first rising like n^(r+x-a) z^n (a few terms, not hundreds), but
        // when a is large (drop-out nearly the same for everyone) it is the
        // transformed series that would rise.
        let c = a + b + x - 1.0;
        let euler = ((a + b - 1.0 - r) * (a - 1.0)).abs() < ((r + x) * (b + x)).abs();
        let (p, q, power) = if euler { (a + b - 1.0 - r, a - 1.0, a - 1.0) } else { (r + x, b + x, r + x) };
        let mut zs = [0.0f64; 16];
        let mut fs = [0.0f64; 16];
        for (chunk, outs) in ts.chunks(16).zip(out.chunks_mut(16)) {
            let n = chunk.len();
            for (z, t) in zs.iter_mut().zip(chunk) {
                *z = t.max(0.0) / (alpha + big_t + t.max(0.0));
            }
            hyp2f1_at(p, q, c, &zs[..n], &mut fs[..n]);
            for ((o, t), f) in outs.iter_mut().zip(chunk).zip(&fs[..n]) {
                let one_minus_z = (alpha + big_t) / (alpha + big_t + t);
                *o = if *t <= 0.0 { 0.0 } else { head * (1.0 - one_minus_z.powf(power) * f) / denom };
            }
        }
    }
}

impl PurchaseModel for BgNbd {
    fn conditional_expected_purchases(&self, t: f64, rfm: &Rfm) -> f64 {
        BgNbd::conditional_expected_purchases(self, t, rfm)
    }
    fn conditional_expected_purchases_at(&self, ts: &[f64], rfm: &Rfm, out: &mut [f64]) {
        BgNbd::conditional_expected_purchases_at(self, ts, rfm, out)
    }
    fn p_alive(&self, rfm: &Rfm) -> f64 {
        BgNbd::p_alive(self, rfm)
    }
    fn expected_purchases(&self, t: f64) -> f64 {
        BgNbd::expected_purchases(self, t)
    }
}

/// Customers grouped for the fit ([`Groups`]) and the distinct times t_x
/// and T among them (CDNOW: 1,016 groups, 341 times), where ln(α+y) and
/// 1/(α+y) are needed.
pub(crate) struct Times {
    groups: Groups,
    times: Vec<f64>,
    /// Per group: indices into `times` of t_x and T.
    at: Vec<[u32; 2]>,
}

impl Times {
    pub(crate) fn new(data: &[Rfm]) -> Times {
        let groups = Groups::new(data);
        let (keys, at) = groups.points(|_, y| y.to_bits());
        Times { groups, times: keys.into_iter().map(f64::from_bits).collect(), at }
    }
}

/// The checks every purchase model makes on its input.
pub(crate) fn check_summaries(data: &[Rfm]) -> Result<(), Error> {
    if data.is_empty() {
        return Err(Error::Input("no customers to fit on (import orders first)".into()));
    }
    if data.iter().all(|c| c.frequency == 0) {
        return Err(Error::Input(
            "no customer has a repeat purchase, so the purchase rate cannot be estimated (a longer observation period may help)"
                .into(),
        ));
    }
    for (i, c) in data.iter().enumerate() {
        if !(c.recency >= 0.0 && c.t >= c.recency && c.t.is_finite()) {
            return Err(Error::Input(format!(
                "customer {} has recency {} and T {}: need 0 <= recency <= T",
                i + 1,
                c.recency,
                c.t
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The likelihood against the textbook formula evaluated directly.
    #[test]
    fn log_likelihood_matches_direct_formula() {
        let m = BgNbd { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 };
        let gamma = |x: f64| ln_gamma(x).exp();
        let beta = |p: f64, q: f64| gamma(p) * gamma(q) / gamma(p + q);
        for (x, tx, t) in [(0u32, 0.0, 38.86), (2, 30.43, 38.86), (7, 29.43, 38.86), (1, 1.71, 30.0)] {
            let xf = f64::from(x);
            let common = gamma(m.r + xf) * m.alpha.powf(m.r) / gamma(m.r);
            let mut l = beta(m.a, m.b + xf) / beta(m.a, m.b) * common / (m.alpha + t).powf(m.r + xf);
            if x > 0 {
                l += beta(m.a + 1.0, m.b + xf - 1.0) / beta(m.a, m.b) * common / (m.alpha + tx).powf(m.r + xf);
            }
            let got = m.log_likelihood_one(&Rfm::new(x, tx, t, 0.0));
            assert!((got - l.ln()).abs() < 1e-10, "x={x}: {got} vs {}", l.ln());
        }
    }

    #[test]
    fn gradient_matches_finite_differences() {
        // A third of the customers twice: groups of one, two and more (the
        // summaries without repeat purchases differ by T alone: 283 distinct of 300).
        let data = [crate::test_summaries(), crate::test_summaries()[..100].to_vec()].concat();
        let times = Times::new(&data);
        assert_eq!(times.groups.customers.len(), 283);
        let m = BgNbd { r: 0.7, alpha: 3.1, a: 1.3, b: 2.2 };
        let (ll, g) = m.log_likelihood_and_gradient(&times);
        assert!((ll - m.log_likelihood(&data)).abs() < 1e-9 * ll.abs());
        for i in 0..4 {
            let bump = |d: f64| {
                let mut p = [m.r, m.alpha, m.a, m.b];
                p[i] += d;
                BgNbd { r: p[0], alpha: p[1], a: p[2], b: p[3] }.log_likelihood(&data)
            };
            let h = 1e-6;
            let numeric = (bump(h) - bump(-h)) / (2.0 * h);
            assert!((g[i] - numeric).abs() < 1e-5 * (1.0 + numeric.abs()), "param {i}: {} vs {numeric}", g[i]);
        }
    }

    #[test]
    fn conditional_expectation_of_a_new_customer_is_the_unconditional_one() {
        // x = 0, t_x = 0, T = 0: nothing observed yet.
        let m = BgNbd { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 };
        let fresh = Rfm::new(0, 0.0, 0.0, 0.0);
        for t in [1.0, 10.0, 39.0, 78.0] {
            let a = m.conditional_expected_purchases(t, &fresh);
            let b = m.expected_purchases(t);
            assert!((a - b).abs() < 1e-10 * b, "{a} vs {b}");
        }
        assert_eq!(m.p_alive(&fresh), 1.0);
    }

    /// The conditional expectation takes Euler's transformation of its 2F1
    /// or not, by parameters: both routes agree with the series summed directly.
    #[test]
    fn conditional_expectation_with_and_without_euler() {
        for m in
            [BgNbd { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 }, BgNbd { r: 6.8, alpha: 35.0, a: 7.7e5, b: 3.3e6 }]
        {
            for (x, tx, t) in [(0u32, 0.0, 30.0), (3, 20.0, 38.0), (40, 37.0, 38.0)] {
                let c = Rfm::new(x, tx, t, 0.0);
                let got = m.conditional_expected_purchases(52.0, &c);
                let BgNbd { r, alpha, a, b } = m;
                let xf = f64::from(x);
                let z = 52.0 / (alpha + t + 52.0);
                let f = hyp2f1(r + xf, b + xf, a + b + xf - 1.0, z);
                let inner = 1.0 - ((alpha + t) / (alpha + t + 52.0)).powf(r + xf) * f;
                let denom =
                    if x > 0 { 1.0 + a / (b + xf - 1.0) * ((alpha + t) / (alpha + tx)).powf(r + xf) } else { 1.0 };
                let want = (a + b + xf - 1.0) / (a - 1.0) * inner / denom;
                assert!(
                    got.is_finite() && (got - want).abs() < 1e-9 * want.abs().max(1e-12),
                    "{m:?} x={x}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn expected_purchases_is_increasing_and_matches_its_derivative() {
        // dE[X(t)]/dt at t = 0 is the mean purchase rate r / α.
        let m = BgNbd { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 };
        let h = 1e-6;
        let slope = m.expected_purchases(h) / h;
        assert!((slope - m.r / m.alpha).abs() < 1e-5, "{slope}");
        let mut prev = 0.0;
        for t in 1..100 {
            let e = m.expected_purchases(f64::from(t));
            assert!(e > prev);
            prev = e;
        }
    }
}
