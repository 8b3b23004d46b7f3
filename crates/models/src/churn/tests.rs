//! The churn model on generated data: a planted signal must be found (and the
//! same seed must give the same answer), and labels that no feature explains
//! must give an AUC near 0.5.

use super::*;

/// Deterministic uniform and normal draws from SplitMix64.
struct Draws(u64);

impl Draws {
    fn uniform(&mut self) -> f64 {
        self.0 = splitmix64(self.0);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        // Box-Muller; 1 - u keeps the log finite.
        let (u, v) = (1.0 - self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// `n` accounts: `usage_trend` and `tickets` drive churn when `signal`, the
/// others never do; `nps` is missing for 40 % of accounts; `plan` is a
/// categorical whose `starter` level adds risk when `signal`.
fn generated(n: usize, seed: u64, signal: bool) -> (Table, Vec<bool>) {
    let mut d = Draws(seed);
    let (mut trend, mut tickets, mut noise, mut nps, mut plan, mut y) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        let t = d.normal();
        let k = (d.uniform() * 6.0).floor();
        let p = ["starter", "growth", "enterprise"][(d.uniform() * 3.0) as usize % 3];
        let z = if signal { -2.0 - 1.2 * t + 0.35 * k + if p == "starter" { 0.8 } else { 0.0 } } else { -1.5 };
        trend.push(Some(t));
        tickets.push(Some(k));
        noise.push(Some(d.normal() * 10.0 + 3.0));
        nps.push((d.uniform() > 0.4).then(|| (d.uniform() * 11.0).floor()));
        plan.push(Some(p.to_string()));
        y.push(d.uniform() < logistic::sigmoid(z));
    }
    let mut table = Table::default();
    table.push("usage_trend", Values::Numeric(trend)).unwrap();
    table.push("tickets", Values::Numeric(tickets)).unwrap();
    table.push("noise", Values::Numeric(noise)).unwrap();
    table.push("nps", Values::Numeric(nps)).unwrap();
    table.push("plan", Values::Categorical(plan)).unwrap();
    (table, y)
}

fn holdout_auc(table: &Table, y: &[bool], seed: u64) -> (ChurnModel, Evaluation) {
    let (train, test) = random_split(table.rows(), 0.3, seed);
    let model = ChurnModel::fit(table, y, &train, &LogisticOptions::default()).unwrap();
    let p: Vec<f64> = test.iter().map(|&i| model.probability(table, i)).collect();
    let yt: Vec<bool> = test.iter().map(|&i| y[i]).collect();
    (model, evaluate(&p, &yt))
}

#[test]
fn planted_signal_is_found_on_held_out_rows() {
    let (table, y) = generated(8000, 7, true);
    let (model, e) = holdout_auc(&table, &y, 11);
    let auc = e.auc.unwrap();
    assert!(auc > 0.75, "hold-out AUC {auc}");
    assert!(e.precision_at_10pct.as_ref().unwrap().lift.unwrap() > 2.0, "{:?}", e.precision_at_10pct);
    // The planted directions, and the noise near zero.
    let coef = |col: &str| model.coefficients().into_iter().find(|c| c.column == col).unwrap().coefficient;
    assert!(coef("usage_trend") < -0.8, "{}", coef("usage_trend"));
    assert!(coef("tickets") > 0.3);
    assert!(coef("plan=starter") > 0.2);
    assert!(coef("noise").abs() < 0.1 && coef("nps").abs() < 0.1);
    // Per-unit coefficients undo the standardisation: the planted -1.2 per
    // unit of trend (shrunk a little by the penalty, estimated with noise).
    let per_unit = model.coefficients().into_iter().find(|c| c.column == "usage_trend").unwrap().per_unit;
    assert!((per_unit + 1.2).abs() < 0.15, "{per_unit}");
    // Calibrated: the top decile's mean prediction is near its observed rate.
    let top = e.calibration.last().unwrap();
    assert!((top.mean_predicted - top.observed_rate).abs() < 0.08, "{top:?}");
    // The same seed gives the same model and the same figure, bit for bit.
    let (again, e2) = holdout_auc(&table, &y, 11);
    assert_eq!(again, model);
    assert_eq!(e2.auc, e.auc);
}

#[test]
fn labels_without_signal_give_an_auc_near_one_half() {
    let (table, y) = generated(10_000, 3, false);
    let (_, e) = holdout_auc(&table, &y, 5);
    let auc = e.auc.unwrap();
    // Test rows: about 3,000 with ~18 % churn, so the AUC's standard error is about 0.013.
    assert!((auc - 0.5).abs() < 0.04, "AUC {auc} without any signal");
}

#[test]
fn drivers_add_up_to_the_logit() {
    let (table, y) = generated(3000, 1, true);
    let all: Vec<usize> = (0..table.rows()).collect();
    let model = ChurnModel::fit(&table, &y, &all, &LogisticOptions::default()).unwrap();
    for i in [0, 17, 999] {
        let drivers = model.drivers(&table, i);
        let sum: f64 = model.intercept + drivers.iter().map(|d| d.contribution).sum::<f64>();
        assert!((sum - model.logit(&table, i)).abs() < 1e-9);
        assert!(drivers.windows(2).all(|w| w[0].contribution.abs() >= w[1].contribution.abs()));
    }
    // A missing NPS is shown as missing, and the driver still has a value.
    let i = (0..table.rows()).find(|&i| table.display(3, i).is_none()).unwrap();
    let nps = model.drivers(&table, i).into_iter().find(|d| d.feature == "nps");
    assert!(nps.is_none_or(|d| d.value.is_none()));
}

#[test]
fn the_model_round_trips_through_json() {
    let (table, y) = generated(500, 2, true);
    let all: Vec<usize> = (0..table.rows()).collect();
    let model = ChurnModel::fit(&table, &y, &all, &LogisticOptions::default()).unwrap();
    let text = serde_json::to_string(&model).unwrap();
    let back: ChurnModel = serde_json::from_str(&text).unwrap();
    assert_eq!(back.probability(&table, 3), model.probability(&table, 3));
}

#[test]
fn encoder_uses_training_statistics_only() {
    let mut t = Table::default();
    t.push("x", Values::Numeric(vec![Some(1.0), Some(3.0), None, Some(100.0)])).unwrap();
    t.push("c", Values::Categorical(vec![Some("a".into()), Some("b".into()), Some("a".into()), Some("z".into())]))
        .unwrap();
    let enc = Encoder::fit(&t, &[0, 1, 2]).unwrap();
    // x: mean 2, sd 1 over rows 0 and 1; missing indicator 1/3 present.
    let x = &enc.columns[0];
    assert_eq!((x.mean, x.sd), (2.0, 1.0));
    assert_eq!(enc.columns[1].label, "x (missing)");
    // Row 2 (missing x) sits at the mean; row 3's 100 is 98 sd away.
    assert_eq!(enc.row(&t, 2)[0], 0.0);
    assert_eq!(enc.row(&t, 3)[0], 98.0);
    // c: levels a, b from training; z (unseen) gets no level: both dummies at 0 raw.
    let labels: Vec<&str> = enc.columns.iter().map(|c| c.label.as_str()).collect();
    assert_eq!(labels, ["x", "x (missing)", "c=a", "c=b"]);
    let z = enc.row(&t, 3);
    assert!((z[2] - (0.0 - 2.0 / 3.0) / enc.columns[2].sd).abs() < 1e-12);
}

#[test]
fn table_rejects_ragged_columns() {
    let mut t = Table::default();
    t.push("a", Values::Numeric(vec![Some(1.0)])).unwrap();
    assert!(t.push("b", Values::Numeric(vec![])).is_err());
    assert!(t.push("a", Values::Numeric(vec![None])).is_err());
}
