//! Small random distributions on top of `rand` (the workspace has no
//! `rand_distr`), and the seeding scheme.
//!
//! Every customer draws from its own ChaCha stream, keyed by the seed and the
//! customer's index, so one customer's history does not depend on how many
//! random numbers the customers before it used: changing one part of the
//! generator does not reshuffle the whole data set, and the usage-event pass
//! can regenerate a customer's users without replaying the simulation.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub type R = ChaCha8Rng;

/// Stream numbers: four per customer, plus one for company-wide draws.
pub const STREAM_SIM: u64 = 0;
pub const STREAM_USERS: u64 = 1;
pub const STREAM_EVENTS: u64 = 2;
pub const STREAM_GLOBAL: u64 = u64::MAX;

pub fn rng_for(seed: u64, customer: usize, purpose: u64) -> R {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(if purpose == STREAM_GLOBAL { STREAM_GLOBAL } else { customer as u64 * 4 + purpose });
    r
}

#[inline]
pub fn unit(r: &mut R) -> f64 {
    r.random::<f64>()
}

#[inline]
pub fn chance(r: &mut R, p: f64) -> bool {
    r.random::<f64>() < p
}

/// Uniform integer in `lo..hi` (`lo` if the range is empty).
#[inline]
pub fn int(r: &mut R, lo: i64, hi: i64) -> i64 {
    if hi <= lo { lo } else { r.random_range(lo..hi) }
}

pub fn uniform(r: &mut R, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * unit(r)
}

/// Standard normal (Box-Muller; one of the pair is discarded, which is fine at
/// the volumes drawn outside the event loop).
pub fn normal(r: &mut R) -> f64 {
    let u1 = 1.0 - unit(r); // (0, 1]
    let u2 = unit(r);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

pub fn exp(r: &mut R, mean: f64) -> f64 {
    -mean * (1.0 - unit(r)).ln()
}

pub fn lognormal(r: &mut R, median: f64, sigma: f64) -> f64 {
    median * (sigma * normal(r)).exp()
}

pub fn poisson(r: &mut R, lambda: f64) -> u32 {
    if lambda <= 0.0 {
        return 0;
    }
    if lambda > 30.0 {
        return (lambda + lambda.sqrt() * normal(r)).round().max(0.0) as u32;
    }
    // Knuth: multiply uniforms until the product drops below e^-lambda.
    let limit = (-lambda).exp();
    let mut k = 0;
    let mut p = unit(r);
    while p > limit {
        k += 1;
        p *= unit(r);
    }
    k
}

/// Gamma(shape, scale), Marsaglia-Tsang.
pub fn gamma(r: &mut R, shape: f64, scale: f64) -> f64 {
    if shape < 1.0 {
        let u = unit(r).max(1e-300);
        return gamma(r, shape + 1.0, scale) * u.powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = normal(r);
        let v = (1.0 + c * x).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u = unit(r);
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v * scale;
        }
    }
}

pub fn beta(r: &mut R, a: f64, b: f64) -> f64 {
    let x = gamma(r, a, 1.0);
    let y = gamma(r, b, 1.0);
    x / (x + y)
}

/// Index drawn with probability proportional to `weights`.
pub fn weighted(r: &mut R, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut x = unit(r) * total;
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len() - 1
}

pub fn pick<'a, T>(r: &mut R, items: &'a [T]) -> &'a T {
    &items[r.random_range(0..items.len())]
}

pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Round `x` up or down at random so that the expectation is `x`: keeps the
/// total number of generated events on target however small each share is.
pub fn stochastic_round(r: &mut R, x: f64) -> u64 {
    let f = x.floor();
    f as u64 + u64::from(unit(r) < x - f)
}
