#![allow(clippy::print_stdout)] // a benchmark program: its report is its output
//! The Rust half of `bench/clv`: fit and predict times of BG/NBD (+ Pareto/NBD
//! on small sets) and Gamma-Gamma, on a summary file or on customers
//! generated from a BG/NBD + Gamma-Gamma process with known parameters
//! (whose recovery it reports). Prints one JSON document.
//!
//!     cargo run --release -p tenure-models --example clv_bench -- --generate 1000000 --write rfm.csv
//!     cargo run --release -p tenure-models --example clv_bench -- --file crates/models/tests/data/cdnow_summary.csv

use std::time::Instant;

use rand::{Rng, SeedableRng, rngs::StdRng};
use tenure_models::{BgNbd, GammaGamma, Parameters, ParetoNbd, PurchaseModel, Rfm, customer_lifetime_value, par_map};

const TRUE_BG: BgNbd = BgNbd { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 };
const TRUE_GG: GammaGamma = GammaGamma { p: 6.25, q: 3.74, gamma: 15.44 };

/// Gamma(shape, 1) by Marsaglia & Tsang (2000), boosted for shape < 1.
fn gamma(rng: &mut StdRng, shape: f64) -> f64 {
    if shape < 1.0 {
        let u: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
        return gamma(rng, shape + 1.0) * u.powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        // Standard normal by Box-Muller.
        let (u1, u2): (f64, f64) = (rng.random::<f64>().max(f64::MIN_POSITIVE), rng.random());
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        let v = (1.0 + c * z).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
        if u.ln() < 0.5 * z * z + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

/// One customer of the BG/NBD process observed for `t` weeks after their first
/// purchase, with Gamma-Gamma spend (values rounded to cents).
fn customer(rng: &mut StdRng, t: f64) -> Rfm {
    let lambda = gamma(rng, TRUE_BG.r) / TRUE_BG.alpha;
    let ga = gamma(rng, TRUE_BG.a);
    let p = ga / (ga + gamma(rng, TRUE_BG.b));
    let nu = gamma(rng, TRUE_GG.q) / TRUE_GG.gamma;
    let (mut x, mut tx, mut now, mut spent) = (0u32, 0.0, 0.0, 0.0);
    loop {
        let u: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
        now += -u.ln() / lambda.max(1e-300);
        if now > t {
            break;
        }
        x += 1;
        tx = now;
        spent += (gamma(rng, TRUE_GG.p) / nu * 100.0).round() / 100.0;
        if rng.random::<f64>() < p {
            break;
        }
    }
    Rfm::new(x, tx, t, if x > 0 { spent / f64::from(x) } else { 0.0 })
}

fn read(path: &str) -> Vec<Rfm> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    let col = |names: &[&str]| header.iter().position(|h| names.contains(h)).expect("known columns");
    let (f, r, t, m) =
        (col(&["x", "frequency"]), col(&["t_x", "recency"]), col(&["T"]), col(&["zbar", "monetary_value"]));
    lines
        .map(|l| {
            let v: Vec<&str> = l.split(',').collect();
            Rfm::new(v[f].parse().unwrap(), v[r].parse().unwrap(), v[t].parse().unwrap(), v[m].parse().unwrap())
        })
        .collect()
}

fn params(p: &dyn Parameters) -> serde_json::Value {
    p.named().into_iter().map(|(k, v)| (k.to_string(), serde_json::json!(v))).collect::<serde_json::Map<_, _>>().into()
}

/// Predict time: E[Y(39)], P(alive), Gamma-Gamma spend and 12-month CLV
/// (weeks, 1% a month) for every customer, over all cores.
fn predict(model: &(impl PurchaseModel + Sync), spend: &GammaGamma, data: &[Rfm]) -> (f64, f64) {
    let started = Instant::now();
    let rows = par_map(data.len(), |i| {
        let c = &data[i];
        let s = spend.conditional_expected_average_value(c);
        (
            model.conditional_expected_purchases(39.0, c),
            model.p_alive(c),
            customer_lifetime_value(model, c, s, 12, 0.01, 4.345),
        )
    });
    let seconds = started.elapsed().as_secs_f64();
    (seconds, rows.iter().map(|r| r.2).sum())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| args.iter().position(|a| a == name).map(|i| args[i + 1].clone());
    let started = Instant::now();
    let (data, source) = if let Some(n) = arg("--generate") {
        let n: usize = n.parse().expect("--generate N");
        let mut rng = StdRng::seed_from_u64(arg("--seed").map_or(7, |s| s.parse().unwrap()));
        // Cohorts joining over 12 weeks, observed until week 39 (as CDNOW).
        let data: Vec<Rfm> = (0..n)
            .map(|_| {
                let joined = (rng.random::<f64>() * 84.0).floor() / 7.0;
                customer(&mut rng, 39.0 - joined)
            })
            .collect();
        (data, format!("generated {n} (BG/NBD {TRUE_BG:?}, Gamma-Gamma {TRUE_GG:?})"))
    } else {
        let path = arg("--file").expect("--generate N or --file CSV");
        (read(&path), path)
    };
    let generate_seconds = started.elapsed().as_secs_f64();
    if let Some(path) = arg("--write") {
        let mut out = String::from("frequency,recency,T,monetary_value\n");
        for c in &data {
            out.push_str(&format!("{},{},{},{}\n", c.frequency, c.recency, c.t, c.monetary_value));
        }
        std::fs::write(&path, out).unwrap_or_else(|e| panic!("{path}: {e}"));
    }

    let t0 = Instant::now();
    let bg = BgNbd::fit(&data).expect("BG/NBD fits");
    let bg_fit = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let gg = GammaGamma::fit(&data).expect("Gamma-Gamma fits");
    let gg_fit = t0.elapsed().as_secs_f64();
    let (bg_predict, bg_total) = predict(&bg.params, &gg.params, &data);
    let mut doc = serde_json::json!({
        "source": source,
        "customers": data.len(),
        "threads": std::thread::available_parallelism().map_or(1, |t| t.get()),
        "generate_seconds": generate_seconds,
        "bgnbd": {"fit_seconds": bg_fit, "predict_seconds": bg_predict, "params": params(&bg.params),
                  "log_likelihood": bg.log_likelihood, "converged": bg.converged, "evaluations": bg.evaluations,
                  "total_clv": bg_total},
        "gammagamma": {"fit_seconds": gg_fit, "params": params(&gg.params), "log_likelihood": gg.log_likelihood,
                       "converged": gg.converged, "evaluations": gg.evaluations},
        "true": {"bgnbd": params(&TRUE_BG), "gammagamma": params(&TRUE_GG)},
    });
    if args.iter().any(|a| a == "--paretonbd") {
        let t0 = Instant::now();
        let pn = ParetoNbd::fit(&data).expect("Pareto/NBD fits");
        let pn_fit = t0.elapsed().as_secs_f64();
        let (pn_predict, pn_total) = predict(&pn.params, &gg.params, &data);
        doc["paretonbd"] = serde_json::json!({"fit_seconds": pn_fit, "predict_seconds": pn_predict,
            "params": params(&pn.params), "log_likelihood": pn.log_likelihood, "converged": pn.converged,
            "evaluations": pn.evaluations, "total_clv": pn_total});
    }
    println!("{doc:#}");
}
