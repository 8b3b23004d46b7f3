//! L2-penalised logistic regression by Newton's method (iteratively
//! reweighted least squares).
//!
//! Minimises  -sum_i [y_i log p_i + (1 - y_i) log(1 - p_i)] + (l2 / 2) sum_j b_j^2
//! with p_i = sigmoid(b0 + x_i . b); the intercept b0 is not penalised (as in
//! scikit-learn and glmnet). Each step solves (X'WX + l2 I) d = gradient by
//! Cholesky; a step that does not lower the objective is halved. With
//! l2 > 0 the objective is strictly convex, so the minimum is unique and the
//! answer does not depend on a starting point or a learning rate.

use serde::Serialize;

use crate::Error;

#[derive(Clone, Copy, Debug)]
pub struct LogisticOptions {
    /// The ridge penalty on the (standardised) coefficients.
    pub l2: f64,
    pub max_iterations: usize,
    /// Converged when no coefficient moves by more than this.
    pub tolerance: f64,
}

impl Default for LogisticOptions {
    fn default() -> Self {
        LogisticOptions { l2: 1.0, max_iterations: 100, tolerance: 1e-9 }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LogisticFit {
    pub intercept: f64,
    pub coefficients: Vec<f64>,
    /// The maximised (unpenalised) log-likelihood.
    pub log_likelihood: f64,
    pub iterations: usize,
    pub converged: bool,
}

pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// log(1 + e^z) without overflow.
fn softplus(z: f64) -> f64 {
    if z > 0.0 { z + (-z).exp().ln_1p() } else { z.exp().ln_1p() }
}

/// Fit on the row-major matrix `x` (`y.len()` rows of `width` columns).
pub fn fit(x: &[f64], width: usize, y: &[bool], opts: &LogisticOptions) -> Result<LogisticFit, Error> {
    let n = y.len();
    if x.len() != n * width {
        return Err(Error::Input(format!("the design has {} values, expected {n} x {width}", x.len())));
    }
    if !(opts.l2 >= 0.0 && opts.l2.is_finite()) {
        return Err(Error::Input(format!("the L2 penalty must be a number >= 0, not {}", opts.l2)));
    }
    let positives = y.iter().filter(|&&v| v).count();
    if positives == 0 || positives == n {
        return Err(Error::Input(format!(
            "the training rows need both outcomes: {positives} of {n} churned (choose other dates or a longer horizon)"
        )));
    }
    // Parameters: [intercept, b_1..b_width].
    let k = width + 1;
    let mut beta = vec![0.0; k];
    // Start at the base rate: the first step is then already small.
    let rate = positives as f64 / n as f64;
    beta[0] = (rate / (1.0 - rate)).ln();
    let objective = |beta: &[f64]| -> (f64, f64) {
        let mut nll = 0.0;
        for (i, &yi) in y.iter().enumerate() {
            let z = eta(beta, &x[i * width..(i + 1) * width]);
            // -log p = softplus(-z); -log(1 - p) = softplus(z).
            nll += if yi { softplus(-z) } else { softplus(z) };
        }
        let penalty = 0.5 * opts.l2 * beta[1..].iter().map(|b| b * b).sum::<f64>();
        (nll + penalty, -nll)
    };
    let (mut current, mut ll) = objective(&beta);
    let mut converged = false;
    let mut iterations = 0;
    let mut grad = vec![0.0; k];
    let mut hess = vec![0.0; k * k];
    let mut xi = vec![0.0; k];
    while iterations < opts.max_iterations {
        iterations += 1;
        grad.fill(0.0);
        hess.fill(0.0);
        xi[0] = 1.0;
        for (i, &yi) in y.iter().enumerate() {
            let row = &x[i * width..(i + 1) * width];
            xi[1..].copy_from_slice(row);
            let p = sigmoid(eta(&beta, row));
            let r = f64::from(u8::from(yi)) - p;
            let w = p * (1.0 - p);
            for a in 0..k {
                grad[a] += r * xi[a];
                let wa = w * xi[a];
                // Lower triangle only; mirrored below.
                for b in 0..=a {
                    hess[a * k + b] += wa * xi[b];
                }
            }
        }
        for a in 1..k {
            grad[a] -= opts.l2 * beta[a];
            hess[a * k + a] += opts.l2;
        }
        for a in 0..k {
            for b in 0..a {
                hess[b * k + a] = hess[a * k + b];
            }
        }
        let step = cholesky_solve(&mut hess, k, &grad).ok_or_else(|| {
            Error::NoFit("the design is singular (two columns carry the same information; try --l2 above 0)".into())
        })?;
        let mut scale = 1.0;
        let (next, next_ll) = loop {
            let candidate: Vec<f64> = beta.iter().zip(&step).map(|(b, s)| b + scale * s).collect();
            let (value, cll) = objective(&candidate);
            if value <= current + 1e-12 * current.abs() || scale < 1e-10 {
                break (candidate, (value, cll));
            }
            scale *= 0.5;
        };
        let moved = next.iter().zip(&beta).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        beta = next;
        (current, ll) = next_ll;
        if moved < opts.tolerance {
            converged = true;
            break;
        }
    }
    if !current.is_finite() {
        return Err(Error::NoFit("the likelihood is not finite".into()));
    }
    Ok(LogisticFit { intercept: beta[0], coefficients: beta[1..].to_vec(), log_likelihood: ll, iterations, converged })
}

fn eta(beta: &[f64], row: &[f64]) -> f64 {
    beta[0] + row.iter().zip(&beta[1..]).map(|(a, b)| a * b).sum::<f64>()
}

/// Solve A x = b for a symmetric positive-definite A (row-major k x k,
/// overwritten by its Cholesky factor). `None` if A is not positive definite.
fn cholesky_solve(a: &mut [f64], k: usize, b: &[f64]) -> Option<Vec<f64>> {
    for j in 0..k {
        let mut d = a[j * k + j];
        for m in 0..j {
            d -= a[j * k + m] * a[j * k + m];
        }
        if d <= 0.0 || !d.is_finite() {
            return None;
        }
        let d = d.sqrt();
        a[j * k + j] = d;
        for i in j + 1..k {
            let mut s = a[i * k + j];
            for m in 0..j {
                s -= a[i * k + m] * a[j * k + m];
            }
            a[i * k + j] = s / d;
        }
    }
    // L y = b, then L' x = y.
    let mut y = b.to_vec();
    for i in 0..k {
        for m in 0..i {
            y[i] -= a[i * k + m] * y[m];
        }
        y[i] /= a[i * k + i];
    }
    for i in (0..k).rev() {
        for m in i + 1..k {
            y[i] -= a[m * k + i] * y[m];
        }
        y[i] /= a[i * k + i];
    }
    Some(y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_solves_a_small_system() {
        // A = [[4, 2], [2, 3]], b = [2, 1] -> x = [0.5, 0].
        let mut a = vec![4.0, 2.0, 2.0, 3.0];
        let x = cholesky_solve(&mut a, 2, &[2.0, 1.0]).unwrap();
        assert!((x[0] - 0.5).abs() < 1e-12 && x[1].abs() < 1e-12, "{x:?}");
        assert!(cholesky_solve(&mut [1.0, 2.0, 2.0, 1.0], 2, &[1.0, 1.0]).is_none(), "indefinite");
    }

    /// Without a penalty, one binary column is a saturated model: the fitted
    /// probabilities are the two groups' observed rates, so b0 = logit(rate
    /// when x = 0) and b1 = the log odds ratio (hand-derived MLE).
    #[test]
    fn unpenalised_binary_column_recovers_the_log_odds_ratio() {
        // x = 0: 2 churned of 8; x = 1: 6 churned of 10.
        let mut x = Vec::new();
        let mut y = Vec::new();
        for (xv, churned, n) in [(0.0, 2, 8), (1.0, 6, 10)] {
            for i in 0..n {
                x.push(xv);
                y.push(i < churned);
            }
        }
        let f = fit(&x, 1, &y, &LogisticOptions { l2: 0.0, ..Default::default() }).unwrap();
        let logit = |p: f64| (p / (1.0 - p)).ln();
        assert!(f.converged);
        assert!((f.intercept - logit(0.25)).abs() < 1e-8, "{f:?}");
        assert!((f.coefficients[0] - (logit(0.6) - logit(0.25))).abs() < 1e-8, "{f:?}");
        // The maximised log-likelihood: sum of n log p over the four cells.
        let ll = 2.0 * 0.25f64.ln() + 6.0 * 0.75f64.ln() + 6.0 * 0.6f64.ln() + 4.0 * 0.4f64.ln();
        assert!((f.log_likelihood - ll).abs() < 1e-9);
    }

    /// With a penalty the optimum satisfies X'(y - p) = l2 b for the slopes
    /// and sum(y - p) = 0 for the intercept (the first-order conditions).
    #[test]
    fn penalised_fit_meets_the_first_order_conditions() {
        let x = [0.5, -1.0, 1.5, 0.3, -0.2, 2.0, 1.0, -1.5, -0.7, 0.8, 2.2, -0.4];
        let y = [true, false, true, true, false, true];
        let f = fit(&x, 2, &y, &LogisticOptions { l2: 2.5, ..Default::default() }).unwrap();
        let mut g = [0.0; 3];
        for i in 0..6 {
            let p = sigmoid(f.intercept + x[2 * i] * f.coefficients[0] + x[2 * i + 1] * f.coefficients[1]);
            let r = f64::from(u8::from(y[i])) - p;
            g[0] += r;
            g[1] += r * x[2 * i];
            g[2] += r * x[2 * i + 1];
        }
        assert!(g[0].abs() < 1e-9);
        assert!((g[1] - 2.5 * f.coefficients[0]).abs() < 1e-9);
        assert!((g[2] - 2.5 * f.coefficients[1]).abs() < 1e-9);
    }

    #[test]
    fn one_outcome_only_is_a_clear_error() {
        let e = fit(&[1.0, 2.0], 1, &[false, false], &LogisticOptions::default()).unwrap_err();
        assert!(e.to_string().contains("both outcomes"), "{e}");
    }

    #[test]
    fn sigmoid_is_stable_at_the_extremes() {
        assert_eq!(sigmoid(1000.0), 1.0);
        assert_eq!(sigmoid(-1000.0), 0.0);
        assert!((softplus(800.0) - 800.0).abs() < 1e-9);
    }
}
