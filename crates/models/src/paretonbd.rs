//! Pareto/NBD (Schmittlein, Morrison & Colombo 1987), with the likelihood of
//! Fader & Hardie's note "A note on deriving the Pareto/NBD model and related
//! expressions" (2005).
//!
//! While active, a customer buys as a Poisson process with rate λ ~ Gamma(r, α);
//! their lifetime is exponential with rate μ ~ Gamma(s, β).

use serde::Serialize;

use crate::bgnbd::check_summaries;
use crate::optimise::{Options, bfgs, minimise};
use crate::special::{digamma, hyp2f1, ln_gamma, ln_hyp2f1_shifted_with_gradient, log_add_exp, log_sub_exp};
use crate::{Error, Fit, Groups, LOG_PARAM_BOUND, PurchaseModel, Rfm, fit_from_minimum};

/// The cap on the dropout rate's shape s (see [`ParetoNbd::fit`]).
pub const S_MAX: f64 = 1e4;

/// Pareto/NBD parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ParetoNbd {
    pub r: f64,
    pub alpha: f64,
    pub s: f64,
    pub beta: f64,
}

impl ParetoNbd {
    /// ln A0 of the note's equation, with both branches: for α >= β
    /// A0 = F(t_x) - F(T), F(y) = 2F1(r+s+x, s+1; r+s+x+1; (α-β)/(α+y)) / (α+y)^(r+s+x);
    /// for α < β the roles swap: F(y) = 2F1(r+s+x, r+x; r+s+x+1; (β-α)/(β+y)) / (β+y)^(r+s+x).
    /// Each argument is in [0, 1), where the 2F1 series converges; the
    /// difference is taken in log space.
    fn ln_a0(&self, x: f64, t_x: f64, t: f64) -> f64 {
        let ParetoNbd { r, alpha, s, beta } = *self;
        let rsx = r + s + x;
        let ln_f = |y: f64| -> f64 {
            if alpha >= beta {
                hyp2f1(rsx, s + 1.0, rsx + 1.0, (alpha - beta) / (alpha + y)).ln() - rsx * (alpha + y).ln()
            } else {
                hyp2f1(rsx, r + x, rsx + 1.0, (beta - alpha) / (beta + y)).ln() - rsx * (beta + y).ln()
            }
        };
        log_sub_exp(ln_f(t_x), ln_f(t))
    }

    /// One customer's log-likelihood:
    /// ln Γ(r+x) - ln Γ(r) + r ln α + s ln β
    ///   + ln[ (α+T)^-(r+x) (β+T)^-s + s/(r+s+x) A0 ].
    pub fn log_likelihood_one(&self, rfm: &Rfm) -> f64 {
        let ParetoNbd { r, alpha, s, beta } = *self;
        let x = rfm.x();
        let head = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln() + s * beta.ln();
        let alive_term = -(r + x) * (alpha + rfm.t).ln() - s * (beta + rfm.t).ln();
        let dead_term = (s / (r + s + x)).ln() + self.ln_a0(x, rfm.recency, rfm.t);
        head + log_add_exp(alive_term, dead_term)
    }

    pub fn log_likelihood(&self, data: &[Rfm]) -> f64 {
        data.iter().map(|c| self.log_likelihood_one(c)).sum()
    }

    /// ln F(y) of [`ParetoNbd::ln_a0`] and its gradient in (r, α, s, β), for
    /// the branch the parameters select:
    /// ∂ ln F = ∂ln 2F1/∂a ∂a + ∂ln 2F1/∂b ∂b + ∂ln 2F1/∂z ∂z
    ///          - ∂(r+s+x) ln(m+y) - (r+s+x) ∂m / (m+y),
    /// with a = r+s+x, c = a+1, m = max(α, β), z = |α-β| / (m+y), and b = s+1
    /// (α >= β) or r+x (α < β); the derivatives in a move c with it
    /// ([`ln_hyp2f1_shifted_with_gradient`], analytic below z = 0.99).
    fn ln_f_with_gradient(&self, x: f64, y: f64) -> (f64, [f64; 4]) {
        let ParetoNbd { r, alpha, s, beta } = *self;
        let rsx = r + s + x;
        // d a = d c over (r, α, s, β).
        let da = [1.0, 0.0, 1.0, 0.0];
        let (m, b, db, dz, dm) = if alpha >= beta {
            let z_of = alpha + y;
            (
                alpha,
                s + 1.0,
                [0.0, 0.0, 1.0, 0.0],
                [0.0, (beta + y) / (z_of * z_of), 0.0, -1.0 / z_of],
                [0.0, 1.0, 0.0, 0.0],
            )
        } else {
            let z_of = beta + y;
            (
                beta,
                r + x,
                [1.0, 0.0, 0.0, 0.0],
                [0.0, -1.0 / z_of, 0.0, (alpha + y) / (z_of * z_of)],
                [0.0, 0.0, 0.0, 1.0],
            )
        };
        let z = (alpha - beta).abs() / (m + y);
        let (ln_h, hg) = ln_hyp2f1_shifted_with_gradient(rsx, b, z);
        let ln_my = (m + y).ln();
        let mut g = [0.0; 4];
        for i in 0..4 {
            g[i] = hg[0] * da[i] + hg[1] * db[i] + hg[2] * dz[i] - da[i] * ln_my - rsx * dm[i] / (m + y);
        }
        (ln_h - rsx * ln_my, g)
    }

    /// The total log-likelihood and its gradient in (r, α, s, β). With
    /// L = e^head (e^A + e^B), A = -(r+x) ln(α+T) - s ln(β+T) (alive at T) and
    /// B = ln s - ln(r+s+x) + ln A0 (dropped out in (t_x, T]), each term's
    /// derivative is ∂head + w ∂A + (1-w) ∂B with w = e^A / (e^A + e^B), and
    /// ∂ ln A0 = (∂ ln F(t_x) - q ∂ ln F(T)) / (1 - q), q = F(T)/F(t_x).
    /// ln F is computed once per point of [`Points`], on all cores when there
    /// are thousands, and each distinct customer is weighted by its count.
    pub(crate) fn log_likelihood_and_gradient(&self, points: &Points) -> (f64, [f64; 4]) {
        let ParetoNbd { r, alpha, s, beta } = *self;
        let (lg_r, psi_r, ln_alpha, ln_beta) = (ln_gamma(r), digamma(r), alpha.ln(), beta.ln());
        // Per distinct x: ln Γ(r+x) - ln Γ(r) and ψ(r+x) - ψ(r).
        let per_x: Vec<(f64, f64)> =
            points.groups.xs.iter().map(|&x| (ln_gamma(r + x) - lg_r, digamma(r + x) - psi_r)).collect();
        let ln_f = strided_map(points.points.len(), points.threads, |i| {
            let (xi, y) = points.points[i];
            self.ln_f_with_gradient(points.groups.xs[xi as usize], y)
        });
        let (mut ll, mut g) = (0.0, [0.0; 4]);
        for (c, &[at_recency, at_t]) in points.groups.customers.iter().zip(&points.at) {
            let (lgx, psix) = per_x[c.x as usize];
            let x = points.groups.xs[c.x as usize];
            let rsx = r + s + x;
            let (ln_at, ln_bt) = ((alpha + c.t).ln(), (beta + c.t).ln());
            let head = lgx + r * ln_alpha + s * ln_beta;
            let a_term = -(r + x) * ln_at - s * ln_bt;
            let (lf1, g1) = ln_f[at_recency as usize];
            let (lf2, g2) = ln_f[at_t as usize];
            let q = (lf2 - lf1).exp();
            let dg_head = [psix + ln_alpha, r / alpha, ln_beta, s / beta];
            let dg_a = [-ln_at, -(r + x) / (alpha + c.t), -ln_bt, -s / (beta + c.t)];
            // t_x = T (or F(T) = F(t_x) to the last digit): no dropout term.
            let (total, w) = if q < 1.0 {
                let b_term = (s / rsx).ln() + lf1 + (-q).ln_1p();
                let mx = a_term.max(b_term);
                let (ea, eb) = ((a_term - mx).exp(), (b_term - mx).exp());
                (mx + (ea + eb).ln(), ea / (ea + eb))
            } else {
                (a_term, 1.0)
            };
            ll += c.count * (head + total);
            for k in 0..4 {
                let mut d = dg_head[k] + w * dg_a[k];
                if w < 1.0 {
                    let own = [-1.0 / rsx, 0.0, 1.0 / s - 1.0 / rsx, 0.0];
                    d += (1.0 - w) * (own[k] + (g1[k] - q * g2[k]) / (1.0 - q));
                }
                g[k] += c.count * d;
            }
        }
        (ll, g)
    }

    /// Maximum-likelihood fit on customers' summaries: BFGS with the analytic
    /// gradient from three starting points.
    ///
    /// The search is over (ln r, ln α, ln s, ln s/β): the dropout rate's shape
    /// and its mean. When dropout is (nearly) the same for every customer,
    /// the likelihood keeps rising as s and β grow together towards the
    /// exponential-lifetime limit at the mean rate s/β, and has no maximum.
    /// In that coordinate system the drift is along one axis, which is capped
    /// at s = [`S_MAX`]: the fit converges on that bound and says so in
    /// [`Fit::boundary`] (a Gamma(10^4) rate has a 1% coefficient of
    /// variation, so the predictions are the limit's to about four digits).
    pub fn fit(data: &[Rfm]) -> Result<Fit<ParetoNbd>, Error> {
        check_summaries(data)?;
        let points = Points::new(data);
        let mean_t = data.iter().map(|c| c.t).sum::<f64>() / data.len() as f64;
        let ln_s_max = S_MAX.ln();
        let from = |p: &[f64]| ParetoNbd { r: p[0].exp(), alpha: p[1].exp(), s: p[2].exp(), beta: (p[2] - p[3]).exp() };
        // Minus the log-likelihood and its gradient in the search coordinates:
        // d/d ln r = r ∂r, d/d ln α = α ∂α, d/d ln s = s ∂s + β ∂β, d/d ln(s/β) = -β ∂β.
        let objective_on = |points: &Points, p: &[f64], grad: &mut [f64]| {
            if p.iter().any(|v| v.abs() > LOG_PARAM_BOUND) || p[2] > ln_s_max || (p[2] - p[3]).abs() > LOG_PARAM_BOUND {
                return f64::INFINITY;
            }
            let m = from(p);
            let (ll, g) = m.log_likelihood_and_gradient(points);
            grad.copy_from_slice(&[-m.r * g[0], -m.alpha * g[1], -(m.s * g[2] + m.beta * g[3]), m.beta * g[3]]);
            -ll
        };
        let objective = |p: &[f64], grad: &mut [f64]| objective_on(&points, p, grad);
        let scale = mean_t.max(1e-6).ln();
        // (ln r, ln α, ln s, ln s/β): β = e^scale and s = 1 means a mean
        // lifetime of about the mean observed age.
        let starts = vec![
            vec![0.0, 0.0, 0.0, 0.0],
            vec![(0.5f64).ln(), scale - 1.0, (0.5f64).ln(), (0.5f64).ln() - scale + 1.0],
            vec![(0.2f64).ln(), scale, 0.0, -scale - 1.0],
        ];
        let tried = starts.len();
        let (starts, explored) = crate::starts_from_sample(data, starts, |sample, starts| {
            let points = Points::new(sample);
            bfgs(|p: &[f64], g: &mut [f64]| objective_on(&points, p, g), starts, 1e-10, 1_000)
        });
        let mut m = bfgs(objective, &starts, 1e-10, 1_000);
        m.evaluations += explored;
        m.starts = tried;
        if m.converged && m.x[2] < ln_s_max - 1.0 {
            return fit_from_minimum(from(&m.x), &m, data.len(), "Pareto/NBD");
        }
        // The search ran into the cap on s, or crawled along the ridge towards
        // it without converging: fit the other three with s on the cap, and
        // keep that when it is at least as good.
        let on_cap = |p: &[f64], grad: &mut [f64]| {
            let mut full = [0.0; 4];
            let v = objective(&[p[0], p[1], ln_s_max, p[2]], &mut full);
            grad.copy_from_slice(&[full[0], full[1], full[3]]);
            v
        };
        let mut capped = bfgs(on_cap, &[vec![m.x[0], m.x[1], m.x[3]]], 1e-10, 1_000);
        if !capped.converged {
            // On the cap the arguments of the 2F1 can be above 0.99, where its
            // parameter derivatives are finite differences: when BFGS stalls
            // on their noise, Nelder-Mead (values only) finishes from there.
            let value = |p: &[f64]| {
                let full = [p[0], p[1], ln_s_max, p[2]];
                if full.iter().any(|v| v.abs() > LOG_PARAM_BOUND) || (full[2] - full[3]).abs() > LOG_PARAM_BOUND {
                    return f64::INFINITY;
                }
                -from(&full).log_likelihood(data)
            };
            let polished = minimise(value, &[capped.x.clone()], &Options { initial_step: 0.05, ..Options::default() });
            capped = crate::optimise::Minimum {
                iterations: capped.iterations + polished.iterations,
                evaluations: capped.evaluations + polished.evaluations,
                ..polished
            };
        }
        let x = [capped.x[0], capped.x[1], ln_s_max, capped.x[2]];
        let params = from(&x);
        if capped.value > m.value {
            return fit_from_minimum(from(&m.x), &m, data.len(), "Pareto/NBD");
        }
        let mut fit = fit_from_minimum(params, &capped, data.len(), "Pareto/NBD")?;
        fit.iterations = m.iterations + capped.iterations;
        fit.evaluations = m.evaluations + capped.evaluations;
        fit.starts = tried;
        fit.boundary = Some(format!(
            "s is at its cap of {S_MAX:e}: dropout looks the same for every customer, so the likelihood keeps rising \
             towards exponential lifetimes at the mean rate s/beta = {:.6} per period; the predictions are that limit's",
            params.s / params.beta
        ));
        Ok(fit)
    }

    /// P(active at T | x, t_x, T) = 1 / (1 + s/(r+s+x) (α+T)^(r+x) (β+T)^s A0).
    pub fn p_alive(&self, rfm: &Rfm) -> f64 {
        let ParetoNbd { r, alpha, s, beta } = *self;
        let x = rfm.x();
        let ln_odds = (s / (r + s + x)).ln()
            + (r + x) * (alpha + rfm.t).ln()
            + s * (beta + rfm.t).ln()
            + self.ln_a0(x, rfm.recency, rfm.t);
        1.0 / (1.0 + ln_odds.exp())
    }

    /// E[X(t)] = rβ / (α(s-1)) [1 - (β/(β+t))^(s-1)] (limit rβ/α ln((β+t)/β) at s = 1).
    pub fn expected_purchases(&self, t: f64) -> f64 {
        let ParetoNbd { r, alpha, s, beta } = *self;
        r * beta / alpha * lifetime_integral(s, beta, t)
    }

    /// E[Y(t) | x, t_x, T] = P(alive) (r+x)(β+T) / ((α+T)(s-1)) [1 - ((β+T)/(β+T+t))^(s-1)].
    pub fn conditional_expected_purchases(&self, t: f64, rfm: &Rfm) -> f64 {
        let ParetoNbd { r, alpha, s, beta } = *self;
        let x = rfm.x();
        self.p_alive(rfm) * (r + x) * (beta + rfm.t) / (alpha + rfm.t) * lifetime_integral(s, beta + rfm.t, t)
    }
}

/// Customers grouped for the fit ([`Groups`]) and where each needs the
/// costly part, ln F(y) of [`ParetoNbd::ln_a0`] with its gradient. That
/// depends only on (x, y), so it is computed once per distinct (x, t_x) and
/// (x, T) (1,050 points on CDNOW instead of about 3,300 evaluations customer
/// by customer).
pub(crate) struct Points {
    groups: Groups,
    /// (index into [`Groups::xs`], y): where ln F is needed.
    points: Vec<(u32, f64)>,
    /// Per group: indices into `points` of (x, t_x) and (x, T).
    at: Vec<[u32; 2]>,
    threads: usize,
}

impl Points {
    pub(crate) fn new(data: &[Rfm]) -> Points {
        let groups = Groups::new(data);
        let (keys, at) = groups.points(|x, y| (x, y.to_bits()));
        let points = keys.into_iter().map(|(x, y)| (x, f64::from_bits(y))).collect();
        Points { groups, points, at, threads: crate::cores() }
    }
}

/// Fewer points than this per thread are computed on one: threads are started
/// per evaluation, and on a busy machine waiting for the second core cost
/// more than the half millisecond it saves on CDNOW's 1,050 points (fit
/// 0.17 s on two threads against 0.06 s on one, load average 4 on 2 cores).
const MIN_POINTS_PER_THREAD: usize = 2_048;

/// `f(i)` for i in 0..n, in order, on up to `threads` threads, thread k
/// taking i = k, k + threads, ...: the points' costs vary (2F1 arguments
/// near 1 take longer) and striding spreads them evenly. Unlike
/// [`crate::par_map`], whose chunks are sized for cheap per-customer work,
/// this splits a few thousand items of microseconds each.
fn strided_map<T: Send + Copy + Default>(n: usize, threads: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = threads.min(n / MIN_POINTS_PER_THREAD).max(1);
    if threads == 1 {
        return (0..n).map(f).collect();
    }
    let mut out = vec![T::default(); n];
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|k| {
                let f = &f;
                scope.spawn(move || (k..n).step_by(threads).map(f).collect::<Vec<T>>())
            })
            .collect();
        for (k, h) in handles.into_iter().enumerate() {
            for (j, v) in h.join().expect("a likelihood thread panicked").into_iter().enumerate() {
                out[k + j * threads] = v;
            }
        }
    });
    out
}

/// [1 - (b/(b+t))^(s-1)] / (s-1), with its limit ln((b+t)/b) at s = 1.
fn lifetime_integral(s: f64, b: f64, t: f64) -> f64 {
    if t <= 0.0 {
        return 0.0;
    }
    let l = ((b + t) / b).ln();
    if (s - 1.0).abs() < 1e-9 {
        return l;
    }
    -(-(s - 1.0) * l).exp_m1() / (s - 1.0)
}

impl PurchaseModel for ParetoNbd {
    fn conditional_expected_purchases(&self, t: f64, rfm: &Rfm) -> f64 {
        ParetoNbd::conditional_expected_purchases(self, t, rfm)
    }
    fn p_alive(&self, rfm: &Rfm) -> f64 {
        ParetoNbd::p_alive(self, rfm)
    }
    fn expected_purchases(&self, t: f64) -> f64 {
        ParetoNbd::expected_purchases(self, t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The likelihood by numerical integration over the lifetime τ:
    /// L = P(τ > T) NBD(x; T) + ∫_{t_x}^{T} f(τ) NBD-part(x; τ) dτ, checking
    /// both 2F1 branches (α > β and α < β).
    #[test]
    fn likelihood_matches_numerical_integration() {
        for m in [
            ParetoNbd { r: 0.553, alpha: 10.578, s: 0.606, beta: 11.669 },
            ParetoNbd { r: 0.8, alpha: 15.0, s: 1.3, beta: 6.0 },
        ] {
            for (x, tx, t) in [(0u32, 0.0, 30.0), (2, 20.0, 38.0), (5, 3.0, 27.0)] {
                let xf = f64::from(x);
                let ParetoNbd { r, alpha, s, beta } = m;
                // Given τ, purchases are NBD: Γ(r+x)/(Γ(r) x!) (α/(α+τ))^r (1/(α+τ))^x τ^x,
                // and the likelihood of the exact times (not just the count) drops x!/τ^x:
                // Γ(r+x)/Γ(r) α^r / (α+τ)^(r+x). τ ~ Pareto II: f(τ) = s/β (β/(β+τ))^(s+1).
                let nbd =
                    |tau: f64| (ln_gamma(r + xf) - ln_gamma(r) + r * alpha.ln() - (r + xf) * (alpha + tau).ln()).exp();
                let survive = (beta / (beta + t)).powf(s);
                let density = |tau: f64| s / beta * (beta / (beta + tau)).powf(s + 1.0);
                let n = 200_000;
                let h = (t - tx) / f64::from(n);
                let mut integral = 0.0;
                for i in 0..n {
                    let tau = tx + (f64::from(i) + 0.5) * h;
                    integral += density(tau) * nbd(tau) * h;
                }
                let want = (survive * nbd(t) + integral).ln();
                let got = m.log_likelihood_one(&Rfm::new(x, tx, t, 0.0));
                assert!((got - want).abs() < 1e-8, "{m:?} x={x}: {got} vs {want}");
            }
        }
    }

    /// The analytic gradient against central differences of the likelihood,
    /// in both 2F1 branches (α > β and α < β), with customers whose argument
    /// is near 1 (up to 0.99 Euler's series, above it the differenced
    /// fallback: the last set has z = 0.9967 at y = 0) and with t_x = T.
    #[test]
    fn gradient_matches_finite_differences() {
        let data = crate::test_summaries();
        let points = Points::new(&data);
        for m in [
            ParetoNbd { r: 0.553, alpha: 10.578, s: 0.606, beta: 11.669 },
            ParetoNbd { r: 0.8, alpha: 15.0, s: 1.3, beta: 6.0 },
            ParetoNbd { r: 1.3, alpha: 0.5, s: 2.0, beta: 40.0 },
            ParetoNbd { r: 0.4, alpha: 90.0, s: 0.7, beta: 2.0 },
            ParetoNbd { r: 0.5, alpha: 0.2, s: 1.5, beta: 60.0 },
        ] {
            let (ll, g) = m.log_likelihood_and_gradient(&points);
            let direct = m.log_likelihood(&data);
            assert!((ll - direct).abs() < 1e-9 * direct.abs(), "{m:?}: {ll} vs {direct}");
            for i in 0..4 {
                let at = |d: f64| {
                    let mut p = [m.r, m.alpha, m.s, m.beta];
                    p[i] += d * p[i];
                    ParetoNbd { r: p[0], alpha: p[1], s: p[2], beta: p[3] }.log_likelihood(&data)
                };
                let h = 1e-5;
                let numeric = (at(h) - at(-h)) / (2.0 * h * [m.r, m.alpha, m.s, m.beta][i]);
                assert!(
                    (g[i] - numeric).abs() < 1e-5 * (1.0 + numeric.abs()),
                    "{m:?} param {i}: {} vs {numeric}",
                    g[i]
                );
            }
        }
    }

    #[test]
    fn new_customer_conditional_is_unconditional() {
        let m = ParetoNbd { r: 0.553, alpha: 10.578, s: 0.606, beta: 11.669 };
        let fresh = Rfm::new(0, 0.0, 0.0, 0.0);
        for t in [1.0, 39.0, 78.0] {
            let a = m.conditional_expected_purchases(t, &fresh);
            let b = m.expected_purchases(t);
            assert!((a - b).abs() < 1e-12 * b.max(1.0), "{a} vs {b}");
        }
    }
}
