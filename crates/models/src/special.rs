//! Special functions the likelihoods need: log-gamma, log-beta and the
//! Gaussian hypergeometric function 2F1, all in `f64`.

use std::f64::consts::PI;

/// Lanczos coefficients for g = 7, n = 9: about 15 significant digits of
/// Γ(x) for x > 0.5, which is all the likelihoods below ask for.
const LANCZOS_G: f64 = 7.0;
const LANCZOS: [f64; 9] = [
    0.999_999_999_999_809_9,
    676.520_368_121_885_1,
    -1_259.139_216_722_402_8,
    771.323_428_777_653_1,
    -176.615_029_162_140_6,
    12.507_343_278_686_905,
    -0.138_571_095_265_720_12,
    9.984_369_578_019_572e-6,
    1.505_632_735_149_311_6e-7,
];

/// ln Γ(x) for x > 0 (and ln |Γ(x)| for negative non-integers, by reflection).
pub fn ln_gamma(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 - x) = π / sin(πx).
        let s = (PI * x).sin();
        if s == 0.0 {
            return f64::INFINITY;
        }
        return (PI / s.abs()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = LANCZOS[0];
    for (i, c) in LANCZOS.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    let t = x + LANCZOS_G + 0.5;
    0.5 * (2.0 * PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The digamma function ψ(x) = d/dx ln Γ(x), for x > 0: the recurrence
/// ψ(x) = ψ(x + 1) - 1/x up to x >= 10, then the asymptotic series
/// ln x - 1/(2x) - Σ B_2k / (2k x^2k), whose first six terms leave an error
/// below 1e-15 there.
pub fn digamma(mut x: f64) -> f64 {
    let mut shift = 0.0;
    while x < 10.0 {
        shift -= 1.0 / x;
        x += 1.0;
    }
    let inv2 = 1.0 / (x * x);
    let series = inv2
        * (1.0 / 12.0
            - inv2
                * (1.0 / 120.0
                    - inv2 * (1.0 / 252.0 - inv2 * (1.0 / 240.0 - inv2 * (1.0 / 132.0 - inv2 * 691.0 / 32_760.0)))));
    shift + x.ln() - 0.5 / x - series
}

/// ln B(a, b) = ln Γ(a) + ln Γ(b) - ln Γ(a + b).
pub fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

/// ln(e^x + e^y) without overflow.
pub fn log_add_exp(x: f64, y: f64) -> f64 {
    if x == f64::NEG_INFINITY {
        return y;
    }
    if y == f64::NEG_INFINITY {
        return x;
    }
    let m = x.max(y);
    m + ((x - m).exp() + (y - m).exp()).ln()
}

/// ln(e^x - e^y) for x >= y (NaN when x < y, -inf when equal).
pub fn log_sub_exp(x: f64, y: f64) -> f64 {
    if y == f64::NEG_INFINITY {
        return x;
    }
    if x < y {
        return f64::NAN;
    }
    if x == y {
        return f64::NEG_INFINITY;
    }
    x + (-(y - x).exp()).ln_1p()
}

/// Most terms the 2F1 series may take (z close to 1 converges slowly; the
/// models never get that close, a caller passing z = 0.999999 still gets an
/// answer in a few milliseconds).
const HYP2F1_MAX_TERMS: usize = 2_000_000;

/// The Gaussian hypergeometric function 2F1(a, b; c; z) for real z <= 1.
///
/// * `-0.5 <= z < 1`: the power series Σ (a)_n (b)_n / (c)_n z^n / n!, summed
///   until the remaining tail (bounded by the geometric series of the current
///   term ratio) is below 1e-16 of the sum.
/// * `z < -0.5`: Pfaff's transformation
///   2F1(a, b; c; z) = (1 - z)^(-a) 2F1(a, c - b; c; z / (z - 1)), which maps the
///   argument into (1/3, 1) where the series converges.
/// * `z = 1`: Gauss's theorem Γ(c) Γ(c - a - b) / (Γ(c - a) Γ(c - b)), defined
///   when c - a - b > 0 (infinity otherwise).
///
/// `c` must not be zero or a negative integer.
pub fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> f64 {
    if z.is_nan() || z > 1.0 {
        return f64::NAN;
    }
    if z == 1.0 {
        if c - a - b <= 0.0 {
            return f64::INFINITY;
        }
        // All four gammas are positive for the arguments the models use.
        return (ln_gamma(c) + ln_gamma(c - a - b) - ln_gamma(c - a) - ln_gamma(c - b)).exp();
    }
    if z < -0.5 {
        let w = z / (z - 1.0);
        return (1.0 - z).powf(-a) * hyp2f1(a, c - b, c, w);
    }
    if z > 0.9 {
        return hyp2f1_near_one(a, b, c, z);
    }
    hyp2f1_series(a, b, c, z)
}

/// Γ(x)'s sign and ln |Γ(x)|; `None` at the poles (x = 0, -1, -2, ...), where 1/Γ = 0.
fn signed_ln_gamma(x: f64) -> Option<(f64, f64)> {
    if x <= 0.0 && x == x.floor() {
        return None;
    }
    let sign = if x > 0.0 || (x.floor() as i64).rem_euclid(2) == 0 { 1.0 } else { -1.0 };
    Some((sign, ln_gamma(x)))
}

/// 2F1 for 0.9 < z < 1 by the 1 - z connection formula (Abramowitz & Stegun 15.3.6):
///
/// ```text
/// Γ(c)Γ(c-a-b)/(Γ(c-a)Γ(c-b)) 2F1(a, b; a+b-c+1; 1-z)
///   + (1-z)^(c-a-b) Γ(c)Γ(a+b-c)/(Γ(a)Γ(b)) 2F1(c-a, c-b; c-a-b+1; 1-z)
/// ```
///
/// whose series in 1 - z < 0.1 converge in a few dozen terms where the
/// direct series would need millions. When c - a - b is (within 1e-6 of) an
/// integer the formula is singular; c is then shifted by ±2e-4 and ±4e-4 and
/// the symmetric means are Richardson-extrapolated (the function is smooth
/// in c; the two terms are about 5000 times the result, so ln Γ's 1e-15
/// becomes about 1e-11 relative).
fn hyp2f1_near_one(a: f64, b: f64, c: f64, z: f64) -> f64 {
    let m = c - a - b;
    if (m - m.round()).abs() < 1e-6 {
        let c = c - (m - m.round());
        let mean = |d: f64| 0.5 * (connection(a, b, c + d, z) + connection(a, b, c - d, z));
        // Richardson: the symmetric mean is f(c) + f''(c) d^2 / 2 + O(d^4).
        let d = 2e-4;
        return (4.0 * mean(d) - mean(2.0 * d)) / 3.0;
    }
    connection(a, b, c, z)
}

fn connection(a: f64, b: f64, c: f64, z: f64) -> f64 {
    let w = 1.0 - z;
    let m = c - a - b;
    let Some((sc, lc)) = signed_ln_gamma(c) else { return f64::NAN };
    // Each term is Γ(c)Γ(±m) / (Γ(p)Γ(q)), zero when p or q is a pole.
    let term = |num: f64, p: f64, q: f64| -> f64 {
        let (Some((sn, ln)), Some((sp, lp)), Some((sq, lq))) =
            (signed_ln_gamma(num), signed_ln_gamma(p), signed_ln_gamma(q))
        else {
            return 0.0;
        };
        sc * sn * sp * sq * (lc + ln - lp - lq).exp()
    };
    let first = term(m, c - a, c - b);
    let second = term(-m, a, b);
    let mut sum = 0.0;
    if first != 0.0 {
        sum += first * hyp2f1_series(a, b, 1.0 - m, w);
    }
    if second != 0.0 {
        sum += second * w.powf(m) * hyp2f1_series(c - a, c - b, m + 1.0, w);
    }
    sum
}

fn hyp2f1_series(a: f64, b: f64, c: f64, z: f64) -> f64 {
    let mut term = 1.0f64;
    let mut sum = 1.0f64;
    for n in 0..HYP2F1_MAX_TERMS {
        let n = n as f64;
        let ratio = (a + n) * (b + n) / ((c + n) * (n + 1.0)) * z;
        term *= ratio;
        sum += term;
        if term == 0.0 || !sum.is_finite() {
            break;
        }
        // Once the term ratio is below one it only falls (towards |z|), so the
        // tail is at most term * r / (1 - r).
        let r = ratio.abs();
        if r < 1.0 && (term * r / (1.0 - r)).abs() <= 1e-16 * sum.abs() {
            break;
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(1e-300)
    }

    #[test]
    fn ln_gamma_known_values() {
        assert!(close(ln_gamma(0.5), 0.572_364_942_924_700_1, 1e-14));
        assert!(ln_gamma(1.0).abs() < 1e-14);
        assert!(ln_gamma(2.0).abs() < 1e-14);
        assert!(close(ln_gamma(10.0), 362_880f64.ln(), 1e-14));
        assert!(close(ln_gamma(100.0), 359.134_205_369_575_4, 1e-14));
        // Γ(0.1) = 9.513507698668732
        assert!(close(ln_gamma(0.1), 9.513_507_698_668_732f64.ln(), 1e-13));
        // Γ(-0.5) = -2√π, so ln|Γ| = ln(2√π).
        assert!(close(ln_gamma(-0.5), (2.0 * PI.sqrt()).ln(), 1e-13));
    }

    #[test]
    fn digamma_known_values_and_derivative_of_ln_gamma() {
        let euler = 0.577_215_664_901_532_9;
        assert!(close(digamma(1.0), -euler, 1e-14));
        assert!(close(digamma(0.5), -euler - 2.0 * 2f64.ln(), 1e-14));
        // ψ(n) = H_(n-1) - γ
        assert!(close(digamma(10.0), (1..10).map(|k| 1.0 / f64::from(k)).sum::<f64>() - euler, 1e-14));
        for x in [0.05, 0.7, 3.3, 6.0, 40.0, 1e4] {
            let h = 1e-5 * x;
            let numeric = (ln_gamma(x + h) - ln_gamma(x - h)) / (2.0 * h);
            assert!((digamma(x) - numeric).abs() < 1e-7 * (1.0 + numeric.abs()), "x={x}: {} vs {numeric}", digamma(x));
        }
    }

    #[test]
    fn ln_beta_known_values() {
        // B(2, 3) = 1/12
        assert!(close(ln_beta(2.0, 3.0), (1.0f64 / 12.0).ln(), 1e-13));
        // B(0.5, 0.5) = π
        assert!(close(ln_beta(0.5, 0.5), PI.ln(), 1e-13));
    }

    #[test]
    fn log_exp_helpers() {
        assert!(close(log_add_exp(1000.0, 1000.0), 1000.0 + 2f64.ln(), 1e-15));
        assert!(close(log_sub_exp(3f64.ln(), 1f64.ln()), 2f64.ln(), 1e-14));
        assert_eq!(log_add_exp(f64::NEG_INFINITY, 2.0), 2.0);
    }

    #[test]
    fn hyp2f1_closed_forms() {
        // 2F1(1, 1; 2; z) = -ln(1 - z) / z, on both sides of zero and past -0.5.
        for z in [-5.0, -0.9, -0.5, -0.1, 0.1, 0.5, 0.9, 0.99, 0.9999] {
            let want = -(1.0f64 - z).ln() / z;
            let got = hyp2f1(1.0, 1.0, 2.0, z);
            // z > 0.9 with c - a - b = 0 takes the extrapolated connection formula.
            let tol = if z > 0.9 { 1e-10 } else { 1e-12 };
            assert!(close(got, want, tol), "z={z}: {got} vs {want}");
        }
        // 2F1(a, b; b; z) = (1 - z)^(-a)
        for z in [-3.0, -0.7, 0.3, 0.95] {
            let want = (1.0f64 - z).powf(-0.7);
            assert!(close(hyp2f1(0.7, 2.5, 2.5, z), want, 1e-12));
        }
        // 2F1(1/2, 1/2; 3/2; z^2) = asin(z) / z
        for z in [0.2f64, 0.7, 0.95] {
            assert!(close(hyp2f1(0.5, 0.5, 1.5, z * z), z.asin() / z, 1e-12));
        }
        // Terminating series: 2F1(-2, b; c; z) is a polynomial.
        let (b, c, z) = (3.0, 4.0, -7.0);
        let want = 1.0 + (-2.0 * b / c) * z + ((-2.0) * (-1.0) * b * (b + 1.0)) / (c * (c + 1.0) * 2.0) * z * z;
        assert!(close(hyp2f1(-2.0, b, c, z), want, 1e-12));
        // Gauss at z = 1: 2F1(1, 1; 3; 1) = Γ(3) Γ(1) / (Γ(2) Γ(2)) = 2
        assert!(close(hyp2f1(1.0, 1.0, 3.0, 1.0), 2.0, 1e-13));
        // The connection formula (z > 0.9) against the direct series.
        for (a, b, c) in [(0.8, 1.7, 2.9), (3.2, 0.6, 4.2), (0.55, 1.0, 1.3), (2.5, 1.5, 4.0), (1.0, 0.5, 3.3)] {
            for z in [0.9001, 0.95, 0.99] {
                let direct = hyp2f1_series(a, b, c, z);
                let near = hyp2f1_near_one(a, b, c, z);
                assert!(close(near, direct, 1e-9), "2F1({a}, {b}; {c}; {z}): {near} vs {direct}");
            }
        }
        // Continuity of the series into z = 1.
        assert!(close(hyp2f1(1.0, 1.0, 3.0, 0.999_999), 2.0, 1e-4));
    }
}
