//! Customer lifetime value models (SPEC 2.6) and churn prediction (SPEC 2.5, [`churn`]).
//!
//! * [`rfm`]: repeat-purchase summaries (frequency, recency, T, monetary value)
//!   from orders, with an optional calibration/holdout split.
//! * [`bgnbd`]: the BG/NBD model (Fader, Hardie & Lee 2005, "Counting your
//!   customers the easy way").
//! * [`paretonbd`]: the Pareto/NBD model (Schmittlein, Morrison & Colombo
//!   1987; likelihood as in Fader & Hardie's 2005 note).
//! * [`gamma_gamma`]: the Gamma-Gamma spend model (Fader, Hardie & Lee 2005,
//!   "RFM and CLV"; Fader & Hardie's 2013 note) and discounted CLV.
//! * [`sbg`]: the shifted-beta-geometric model of contractual retention
//!   (Fader & Hardie 2007, "How to project customer retention").
//!
//! Every model is fitted by maximum likelihood with [`optimise::minimise`]
//! over log-parameters, on log-space likelihoods built from [`special`].

pub mod bgnbd;
pub mod churn;
pub mod gamma_gamma;
pub mod optimise;
pub mod paretonbd;
pub mod rfm;
pub mod sbg;
pub mod special;

use serde::Serialize;

pub use bgnbd::BgNbd;
pub use gamma_gamma::{GammaGamma, customer_lifetime_value};
pub use paretonbd::ParetoNbd;
pub use rfm::{CustomerRfm, Holdout, Purchase, Rfm, RfmOptions, TimeUnit};
pub use sbg::Sbg;

/// What can go wrong fitting or predicting.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The input cannot be used (the message says why and what to do).
    Input(String),
    /// The optimiser found no finite likelihood.
    NoFit(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Input(m) => write!(f, "{m}"),
            Error::NoFit(m) => write!(f, "the model could not be fitted: {m}"),
        }
    }
}

impl std::error::Error for Error {}

/// A fitted model: its parameters and how the fit went.
#[derive(Clone, Debug, Serialize)]
pub struct Fit<P> {
    pub params: P,
    /// The maximised log-likelihood (sum over customers or periods).
    pub log_likelihood: f64,
    pub converged: bool,
    pub iterations: usize,
    pub evaluations: usize,
    /// Starting points the optimiser tried.
    pub starts: usize,
    /// Observations the model was fitted on (customers, or cohort members).
    pub observations: usize,
    /// Set when the optimum lies on a bound of the search rather than inside
    /// it: what reached the bound and what that means.
    pub boundary: Option<String>,
}

/// A model's parameters by name, in the papers' order (for output).
pub trait Parameters {
    fn named(&self) -> Vec<(&'static str, f64)>;
}

impl Parameters for BgNbd {
    fn named(&self) -> Vec<(&'static str, f64)> {
        vec![("r", self.r), ("alpha", self.alpha), ("a", self.a), ("b", self.b)]
    }
}

impl Parameters for ParetoNbd {
    fn named(&self) -> Vec<(&'static str, f64)> {
        vec![("r", self.r), ("alpha", self.alpha), ("s", self.s), ("beta", self.beta)]
    }
}

impl Parameters for GammaGamma {
    fn named(&self) -> Vec<(&'static str, f64)> {
        vec![("p", self.p), ("q", self.q), ("gamma", self.gamma)]
    }
}

impl Parameters for Sbg {
    fn named(&self) -> Vec<(&'static str, f64)> {
        vec![("alpha", self.alpha), ("beta", self.beta)]
    }
}

/// A model of repeat purchasing in a non-contractual setting: what CLV needs.
pub trait PurchaseModel {
    /// Expected repeat purchases in (T, T + t] of a customer with summary `rfm`.
    fn conditional_expected_purchases(&self, t: f64, rfm: &Rfm) -> f64;
    /// [`PurchaseModel::conditional_expected_purchases`] at each horizon of
    /// `ts`, into `out` (a model may share work between them).
    fn conditional_expected_purchases_at(&self, ts: &[f64], rfm: &Rfm, out: &mut [f64]) {
        for (o, t) in out.iter_mut().zip(ts) {
            *o = self.conditional_expected_purchases(*t, rfm);
        }
    }
    /// Probability that the customer is still active at T.
    fn p_alive(&self, rfm: &Rfm) -> f64;
    /// Expected purchases in (0, t] of a new customer.
    fn expected_purchases(&self, t: f64) -> f64;
}

/// Fits search log-parameters in [-15, 15] (parameters between 3e-7 and
/// 3e6): beyond that a likelihood is flat to the last digit (e.g. Pareto/NBD's
/// s and β growing together when churn is homogeneous) and evaluations of
/// extreme values are slow.
pub(crate) const LOG_PARAM_BOUND: f64 = 15.0;

/// The objective of a fit: minus the log-likelihood, infinite outside the box.
pub(crate) fn bounded(log_params: &[f64], minus_ll: impl FnOnce() -> f64) -> f64 {
    if log_params.iter().any(|v| v.abs() > LOG_PARAM_BOUND) {
        return f64::INFINITY;
    }
    minus_ll()
}

/// [`bounded`] for a fit with an analytic gradient on the log-parameters
/// (θ = e^p): minus the log-likelihood, and in `grad` its gradient by the
/// chain rule d/d ln θ = θ d/dθ, from the likelihood's gradient in θ.
pub(crate) fn bounded_with_gradient<const N: usize>(
    log_params: &[f64],
    grad: &mut [f64],
    ll_and_gradient: impl FnOnce() -> (f64, [f64; N]),
) -> f64 {
    bounded(log_params, || {
        let (ll, g) = ll_and_gradient();
        for ((out, gi), p) in grad.iter_mut().zip(g).zip(log_params) {
            *out = -gi * p.exp();
        }
        -ll
    })
}

/// The distinct keys, ascending, each with how many times it occurs.
pub(crate) fn count_distinct<K: Ord + Copy>(mut keys: Vec<K>) -> Vec<(K, f64)> {
    keys.sort_unstable();
    let mut distinct: Vec<(K, f64)> = Vec::new();
    for k in keys {
        match distinct.last_mut() {
            Some((last, n)) if *last == k => *n += 1.0,
            _ => distinct.push((k, 1.0)),
        }
    }
    distinct
}

/// The index of `value` in `of` (ascending, distinct).
pub(crate) fn position(of: &[u32], value: u32) -> u32 {
    of.binary_search(&value).expect("every value is listed") as u32
}

/// Customers grouped by what a purchase model's likelihood sees of them,
/// (x, t_x, T). Real summaries repeat those (CDNOW's 2,357 customers have
/// 1,016 distinct ones), so a likelihood computes each distinct customer
/// once and weights it by its count, and the terms in x alone (log-gamma,
/// digamma) once per distinct x.
pub(crate) struct Groups {
    /// The distinct frequencies x, ascending.
    pub xs: Vec<f64>,
    /// The distinct customers, sorted by (x, t_x, T).
    pub customers: Vec<Group>,
}

/// One distinct (x, t_x, T) and how many customers have it.
pub(crate) struct Group {
    /// Index into [`Groups::xs`].
    pub x: u32,
    pub recency: f64,
    pub t: f64,
    pub count: f64,
}

impl Groups {
    pub fn new(data: &[Rfm]) -> Groups {
        // Times are non-negative, so their bits sort like the numbers.
        let distinct = count_distinct(data.iter().map(|c| (c.frequency, c.recency.to_bits(), c.t.to_bits())).collect());
        let mut frequencies: Vec<u32> = distinct.iter().map(|((x, _, _), _)| *x).collect();
        frequencies.dedup();
        let customers = distinct
            .iter()
            .map(|&((x, recency, t), count)| Group {
                x: position(&frequencies, x),
                recency: f64::from_bits(recency),
                t: f64::from_bits(t),
                count,
            })
            .collect();
        Groups { xs: frequencies.into_iter().map(f64::from).collect(), customers }
    }

    /// The distinct `key(x, y)` over every group's (x, t_x) and (x, T), in
    /// order of first use, and each group's indices [at t_x, at T] into them:
    /// for the terms a likelihood needs at both times, computed once per key.
    pub fn points<K: std::hash::Hash + Eq + Copy>(&self, key: impl Fn(u32, f64) -> K) -> (Vec<K>, Vec<[u32; 2]>) {
        let mut keys = Vec::new();
        let mut index: std::collections::HashMap<K, u32> = std::collections::HashMap::new();
        let mut id = |k: K| {
            *index.entry(k).or_insert_with(|| {
                keys.push(k);
                (keys.len() - 1) as u32
            })
        };
        let at = self.customers.iter().map(|g| [id(key(g.x, g.recency)), id(key(g.x, g.t))]).collect();
        (keys, at)
    }
}

/// Above this many customers a fit explores its starting points on a
/// deterministic sample (every k-th customer) of about this size, then
/// polishes the best point once on all customers: a few full passes instead
/// of a hundred or more.
pub(crate) const SAMPLE: usize = 50_000;

/// The starting points of a fit on `data`: `starts` itself for a small data
/// set, else the optimum `explore` finds from them on a sample (with the
/// evaluations it took).
pub(crate) fn starts_from_sample(
    data: &[Rfm],
    starts: Vec<Vec<f64>>,
    explore: impl FnOnce(&[Rfm], &[Vec<f64>]) -> optimise::Minimum,
) -> (Vec<Vec<f64>>, usize) {
    if data.len() <= 2 * SAMPLE {
        return (starts, 0);
    }
    let sample: Vec<Rfm> = data.iter().step_by(data.len() / SAMPLE).copied().collect();
    let m = explore(&sample, &starts);
    if !m.value.is_finite() {
        return (starts, m.evaluations);
    }
    (vec![m.x], m.evaluations)
}

/// The machine's cores, looked up once (asking on every likelihood
/// evaluation cost, under load, a third to half of the BG/NBD fit's time).
pub(crate) use tenure_model::cores;

/// Customers per chunk of a parallel sum. Chunk sums are added in chunk
/// order, so a likelihood does not depend on how many threads computed it.
const CHUNK: usize = 16_384;

/// Σ over customers 0..n of `f(range, grad)` (each call returns its range's
/// value and adds its gradient into `grad`), chunked over the machine's
/// cores with scoped threads when there is more than one chunk.
pub(crate) fn chunked_sum<const N: usize>(
    n: usize,
    f: impl Fn(std::ops::Range<usize>, &mut [f64; N]) -> f64 + Sync,
) -> (f64, [f64; N]) {
    let chunks = n.div_ceil(CHUNK);
    let threads = cores().min(chunks);
    let run = |c: usize| {
        let mut g = [0.0; N];
        let v = f(c * CHUNK..((c + 1) * CHUNK).min(n), &mut g);
        (v, g)
    };
    let parts: Vec<(f64, [f64; N])> = if threads <= 1 {
        (0..chunks).map(run).collect()
    } else {
        let mut parts = vec![(0.0, [0.0; N]); chunks];
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let run = &run;
                    scope.spawn(move || (t..chunks).step_by(threads).map(|c| (c, run(c))).collect::<Vec<_>>())
                })
                .collect();
            for h in handles {
                for (c, part) in h.join().expect("a likelihood thread panicked") {
                    parts[c] = part;
                }
            }
        });
        parts
    };
    let mut total = (0.0, [0.0; N]);
    for (v, g) in parts {
        total.0 += v;
        for (t, x) in total.1.iter_mut().zip(g) {
            *t += x;
        }
    }
    total
}

/// `f(i)` for every customer `0..n`, in order, over the machine's cores
/// (on one thread up to [`CHUNK`] customers: a prediction is cheap).
pub fn par_map<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    if n <= CHUNK {
        return (0..n).map(f).collect();
    }
    let customers: Vec<usize> = (0..n).collect();
    tenure_model::par_map(&customers, |&i| f(i))
}

pub(crate) fn fit_from_minimum<P>(
    params: P,
    m: &optimise::Minimum,
    observations: usize,
    what: &str,
) -> Result<Fit<P>, Error> {
    if !m.value.is_finite() {
        return Err(Error::NoFit(format!("no parameters give a finite {what} likelihood")));
    }
    Ok(Fit {
        params,
        log_likelihood: -m.value,
        converged: m.converged,
        iterations: m.iterations,
        evaluations: m.evaluations,
        starts: m.starts,
        observations,
        boundary: None,
    })
}

/// Summaries for the gradient tests: frequencies 0-8, ages 20-36, recency
/// from a sixth of T up to T itself.
#[cfg(test)]
pub(crate) fn test_summaries() -> Vec<Rfm> {
    (0..300)
        .map(|i| {
            let x = (i * 7) % 9;
            let t = 20.0 + f64::from(i % 17);
            Rfm::new(x, if x > 0 { t * f64::from(i % 6 + 1) / 6.0 } else { 0.0 }, t, 0.0)
        })
        .collect()
}
