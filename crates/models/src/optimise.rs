//! A small derivative-free minimiser for maximum-likelihood fits: Nelder-Mead
//! from several starting points, each run restarted from its best vertex until
//! a restart no longer improves (restarts cure Nelder-Mead's known habit of
//! stalling on a collapsed simplex).
//!
//! [`bfgs`] is the quasi-Newton alternative for objectives with an analytic
//! gradient (BG/NBD and Gamma-Gamma): a few dozen evaluations instead of
//! thousands, which is what makes a million customers fit in seconds.
//!
//! The models optimise over log-parameters, so every point of R^n is a valid
//! parameter vector and no constraints are needed. An objective value that is
//! NaN is treated as +infinity (the region is simply avoided).

use serde::Serialize;

/// When to stop.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Most simplex iterations per run.
    pub max_iterations: usize,
    /// Converged when the spread of the simplex's values is below
    /// `f_tol * (|f_best| + 1e-12)`...
    pub f_tol: f64,
    /// ...and every vertex is within `x_tol` (max norm) of the best one.
    pub x_tol: f64,
    /// Most restarts from the best point of a run.
    pub max_restarts: usize,
    /// Edge length of the initial simplex around a starting point.
    pub initial_step: f64,
    /// Most objective evaluations over all starts and restarts (a fit that
    /// drifts along a flat ridge stops here, not converged).
    pub max_evaluations: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_iterations: 5_000,
            f_tol: 1e-13,
            x_tol: 1e-9,
            max_restarts: 10,
            initial_step: 0.5,
            max_evaluations: 20_000,
        }
    }
}

/// The best point found and how the search went.
#[derive(Clone, Debug, Serialize)]
pub struct Minimum {
    pub x: Vec<f64>,
    pub value: f64,
    /// Simplex iterations over all starts and restarts.
    pub iterations: usize,
    /// Objective evaluations over all starts and restarts.
    pub evaluations: usize,
    /// The best run met both tolerances, and a final restart from its optimum
    /// did not move it by more than the tolerances.
    pub converged: bool,
    /// Starting points tried.
    pub starts: usize,
}

struct Run {
    x: Vec<f64>,
    value: f64,
    iterations: usize,
    evaluations: usize,
    converged: bool,
}

impl Run {
    /// The best run as the result of a search over `starts` starting points.
    fn into_minimum(self, iterations: usize, evaluations: usize, starts: usize) -> Minimum {
        let converged = self.converged && self.value.is_finite();
        Minimum { x: self.x, value: self.value, iterations, evaluations, converged, starts }
    }
}

fn eval(f: &impl Fn(&[f64]) -> f64, x: &[f64]) -> f64 {
    let v = f(x);
    if v.is_nan() { f64::INFINITY } else { v }
}

/// One Nelder-Mead run (standard coefficients: reflection 1, expansion 2,
/// contraction 1/2, shrink 1/2).
fn nelder_mead_run(f: &impl Fn(&[f64]) -> f64, x0: &[f64], opts: &Options, budget: usize) -> Run {
    let n = x0.len();
    let mut simplex: Vec<Vec<f64>> = Vec::with_capacity(n + 1);
    simplex.push(x0.to_vec());
    for i in 0..n {
        let mut v = x0.to_vec();
        v[i] += opts.initial_step;
        simplex.push(v);
    }
    let mut values: Vec<f64> = simplex.iter().map(|v| eval(f, v)).collect();
    let mut evaluations = n + 1;
    let mut iterations = 0;
    let mut converged = false;

    while iterations < opts.max_iterations && evaluations < budget {
        // Order the vertices best to worst.
        let mut order: Vec<usize> = (0..=n).collect();
        order.sort_by(|&i, &j| values[i].total_cmp(&values[j]));
        simplex = order.iter().map(|&i| simplex[i].clone()).collect();
        values = order.iter().map(|&i| values[i]).collect();

        let best = values[0];
        let worst = values[n];
        let spread = worst - best;
        let size =
            simplex[1..].iter().flat_map(|v| v.iter().zip(&simplex[0]).map(|(a, b)| (a - b).abs())).fold(0.0, f64::max);
        if best.is_finite() && spread.abs() <= opts.f_tol * (best.abs() + 1e-12) && size <= opts.x_tol {
            converged = true;
            break;
        }
        iterations += 1;

        let mut centroid = vec![0.0; n];
        for v in &simplex[..n] {
            for (c, x) in centroid.iter_mut().zip(v) {
                *c += x / n as f64;
            }
        }
        let along = |t: f64| -> Vec<f64> { centroid.iter().zip(&simplex[n]).map(|(c, w)| c + t * (w - c)).collect() };

        let reflected = along(-1.0);
        let fr = eval(f, &reflected);
        evaluations += 1;
        if fr < values[0] {
            let expanded = along(-2.0);
            let fe = eval(f, &expanded);
            evaluations += 1;
            if fe < fr {
                simplex[n] = expanded;
                values[n] = fe;
            } else {
                simplex[n] = reflected;
                values[n] = fr;
            }
            continue;
        }
        if fr < values[n - 1] {
            simplex[n] = reflected;
            values[n] = fr;
            continue;
        }
        // Contract: outside if the reflection beat the worst vertex, else inside.
        let (contracted, fc) = if fr < values[n] {
            let c = along(-0.5);
            let fc = eval(f, &c);
            (c, fc)
        } else {
            let c = along(0.5);
            let fc = eval(f, &c);
            (c, fc)
        };
        evaluations += 1;
        if fc < values[n].min(fr) {
            simplex[n] = contracted;
            values[n] = fc;
            continue;
        }
        // Shrink towards the best vertex.
        for i in 1..=n {
            let v: Vec<f64> = simplex[0].iter().zip(&simplex[i]).map(|(b, x)| b + 0.5 * (x - b)).collect();
            values[i] = eval(f, &v);
            simplex[i] = v;
        }
        evaluations += n;
    }
    let (bi, _) = values.iter().enumerate().min_by(|a, b| a.1.total_cmp(b.1)).expect("a simplex has vertices");
    Run { x: simplex[bi].clone(), value: values[bi], iterations, evaluations, converged }
}

/// Minimise `f` from each starting point, restarting each run from its best
/// point until a restart changes neither the value nor the point by more than
/// the tolerances; the best run wins.
pub fn minimise(f: impl Fn(&[f64]) -> f64, starts: &[Vec<f64>], opts: &Options) -> Minimum {
    assert!(!starts.is_empty(), "minimise needs a starting point");
    let mut best: Option<Run> = None;
    let mut iterations = 0;
    let mut evaluations = 0;
    for x0 in starts {
        if evaluations >= opts.max_evaluations {
            break;
        }
        let mut run = nelder_mead_run(&f, x0, opts, opts.max_evaluations - evaluations);
        iterations += run.iterations;
        evaluations += run.evaluations;
        let mut settled = false;
        for _ in 0..opts.max_restarts {
            if evaluations >= opts.max_evaluations {
                break;
            }
            let next = nelder_mead_run(&f, &run.x, opts, opts.max_evaluations - evaluations);
            iterations += next.iterations;
            evaluations += next.evaluations;
            let moved = next.x.iter().zip(&run.x).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            let improved = run.value - next.value;
            let done = next.converged
                && improved <= opts.f_tol * (run.value.abs() + 1e-12) * 10.0
                && moved <= opts.x_tol * 10.0;
            if next.value <= run.value {
                run = next;
            }
            if done {
                settled = true;
                break;
            }
        }
        run.converged = run.converged && settled;
        if best.as_ref().is_none_or(|b| run.value < b.value) {
            best = Some(run);
        }
    }
    let best = best.expect("the budget allows the first start");
    best.into_minimum(iterations, evaluations, starts.len())
}

/// BFGS on an objective that also writes its gradient: `f(x, grad)`
/// returns the value and fills `grad`. Each start is run to convergence (the
/// gradient's largest component below `g_tol * (1 + |f|)`, or a step that
/// changes f by less than 1e-15 relatively twice in a row); the best wins.
/// A backtracking line search keeps the Armijo condition, and the inverse
/// Hessian estimate is only updated when the step has positive curvature.
pub fn bfgs(f: impl Fn(&[f64], &mut [f64]) -> f64, starts: &[Vec<f64>], g_tol: f64, max_iterations: usize) -> Minimum {
    assert!(!starts.is_empty(), "bfgs needs a starting point");
    let mut best: Option<Run> = None;
    let (mut iterations, mut evaluations) = (0, 0);
    let safe = |x: &[f64], g: &mut [f64]| -> f64 {
        let v = f(x, g);
        if v.is_finite() && g.iter().all(|d| d.is_finite()) { v } else { f64::INFINITY }
    };
    for x0 in starts {
        let n = x0.len();
        let mut x = x0.clone();
        let mut g = vec![0.0; n];
        let mut fx = safe(&x, &mut g);
        evaluations += 1;
        if !fx.is_finite() {
            continue;
        }
        // Inverse Hessian estimate, row-major; starts as the identity.
        let mut h: Vec<f64> = (0..n * n).map(|i| if i % (n + 1) == 0 { 1.0 } else { 0.0 }).collect();
        let mut converged = false;
        let mut flat_steps = 0;
        let (mut xn, mut gn) = (vec![0.0; n], vec![0.0; n]);
        for _ in 0..max_iterations {
            if g.iter().fold(0.0f64, |m, d| m.max(d.abs())) <= g_tol * (1.0 + fx.abs()) {
                converged = true;
                break;
            }
            iterations += 1;
            let mut d: Vec<f64> = (0..n).map(|i| -(0..n).map(|j| h[i * n + j] * g[j]).sum::<f64>()).collect();
            let mut slope: f64 = d.iter().zip(&g).map(|(a, b)| a * b).sum();
            if slope >= 0.0 {
                // Not a descent direction (the estimate went bad): steepest descent.
                h.iter_mut().enumerate().for_each(|(i, v)| *v = if i % (n + 1) == 0 { 1.0 } else { 0.0 });
                d = g.iter().map(|v| -v).collect();
                slope = -g.iter().map(|v| v * v).sum::<f64>();
            }
            // Steps in log-parameters longer than 5 are never useful.
            let longest = d.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let mut step = if longest > 5.0 { 5.0 / longest } else { 1.0 };
            let mut fnew = f64::INFINITY;
            for _ in 0..60 {
                for i in 0..n {
                    xn[i] = x[i] + step * d[i];
                }
                fnew = safe(&xn, &mut gn);
                evaluations += 1;
                if fnew <= fx + 1e-4 * step * slope {
                    break;
                }
                step *= 0.5;
            }
            if fnew.is_nan() || fnew > fx {
                // No decrease along the direction at any step: as far as f64 goes.
                converged = g.iter().fold(0.0f64, |m, v| m.max(v.abs())) <= g_tol.sqrt() * (1.0 + fx.abs());
                break;
            }
            let s: Vec<f64> = (0..n).map(|i| xn[i] - x[i]).collect();
            let y: Vec<f64> = (0..n).map(|i| gn[i] - g[i]).collect();
            let sy: f64 = s.iter().zip(&y).map(|(a, b)| a * b).sum();
            if sy > 1e-12 * s.iter().map(|v| v * v).sum::<f64>().sqrt() * y.iter().map(|v| v * v).sum::<f64>().sqrt() {
                // H <- (I - ρ s yᵀ) H (I - ρ y sᵀ) + ρ s sᵀ
                let rho = 1.0 / sy;
                let hy: Vec<f64> = (0..n).map(|i| (0..n).map(|j| h[i * n + j] * y[j]).sum()).collect();
                let yhy: f64 = y.iter().zip(&hy).map(|(a, b)| a * b).sum();
                for i in 0..n {
                    for j in 0..n {
                        h[i * n + j] += -rho * (hy[i] * s[j] + s[i] * hy[j]) + (rho * rho * yhy + rho) * s[i] * s[j];
                    }
                }
            }
            let change = (fx - fnew).abs() / (1.0 + fx.abs());
            x.copy_from_slice(&xn);
            g.copy_from_slice(&gn);
            fx = fnew;
            flat_steps = if change < 1e-15 { flat_steps + 1 } else { 0 };
            if flat_steps >= 2 {
                converged = g.iter().fold(0.0f64, |m, v| m.max(v.abs())) <= g_tol.sqrt() * (1.0 + fx.abs());
                break;
            }
        }
        if best.as_ref().is_none_or(|b| fx < b.value) {
            best = Some(Run { x, value: fx, iterations: 0, evaluations: 0, converged });
        }
    }
    let best = best.unwrap_or_else(|| Run {
        x: starts[0].clone(),
        value: f64::INFINITY,
        iterations: 0,
        evaluations: 0,
        converged: false,
    });
    best.into_minimum(iterations, evaluations, starts.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rosenbrock() {
        let f = |x: &[f64]| (1.0 - x[0]).powi(2) + 100.0 * (x[1] - x[0] * x[0]).powi(2);
        let m = minimise(f, &[vec![-1.2, 1.0], vec![3.0, -2.0]], &Options::default());
        assert!(m.converged, "{m:?}");
        assert!((m.x[0] - 1.0).abs() < 1e-6 && (m.x[1] - 1.0).abs() < 1e-6, "{m:?}");
    }

    #[test]
    fn bfgs_on_rosenbrock() {
        let f = |x: &[f64], g: &mut [f64]| {
            g[0] = -2.0 * (1.0 - x[0]) - 400.0 * x[0] * (x[1] - x[0] * x[0]);
            g[1] = 200.0 * (x[1] - x[0] * x[0]);
            (1.0 - x[0]).powi(2) + 100.0 * (x[1] - x[0] * x[0]).powi(2)
        };
        let m = bfgs(f, &[vec![-1.2, 1.0]], 1e-10, 500);
        assert!(m.converged, "{m:?}");
        assert!((m.x[0] - 1.0).abs() < 1e-7 && (m.x[1] - 1.0).abs() < 1e-7, "{m:?}");
        assert!(m.evaluations < 200, "{m:?}");
    }

    #[test]
    fn quadratic_in_four_dimensions() {
        let centre = [0.3, -2.0, 5.0, 1e-3];
        let f =
            |x: &[f64]| x.iter().zip(&centre).enumerate().map(|(i, (a, c))| (i as f64 + 1.0) * (a - c).powi(2)).sum();
        let m = minimise(f, &[vec![0.0; 4]], &Options::default());
        assert!(m.converged);
        for (a, c) in m.x.iter().zip(&centre) {
            assert!((a - c).abs() < 1e-7, "{m:?}");
        }
    }

    #[test]
    fn nan_regions_are_avoided() {
        // Undefined for x < 0; the minimum (x = 2) is on the defined side.
        let f = |x: &[f64]| if x[0] < 0.0 { f64::NAN } else { (x[0] - 2.0).powi(2) - x[0].sqrt() * 0.0 };
        let m = minimise(f, &[vec![0.1]], &Options::default());
        assert!((m.x[0] - 2.0).abs() < 1e-7, "{m:?}");
    }
}
