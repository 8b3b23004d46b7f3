//! A small derivative-free minimiser for maximum-likelihood fits: Nelder-Mead
//! from several starting points, each run restarted from its best vertex until
//! a restart no longer improves (restarts cure Nelder-Mead's known habit of
//! stalling on a collapsed simplex).
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
    Minimum {
        x: best.x,
        value: best.value,
        iterations,
        evaluations,
        converged: best.converged && best.value.is_finite(),
        starts: starts.len(),
    }
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
