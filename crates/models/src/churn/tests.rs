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

// ------------------------------------------------------------ boosted trees

/// `n` accounts in time order: `usage` uniform on [0, 1), `tickets` 0-5, a
/// `noise` column and a `plan`. With `signal`, churn is likely only in a
/// middle band of usage (0.4-0.6: neither idle nor power users) or when
/// many tickets meet low usage (an interaction); a straight line in the
/// log-odds cannot draw either shape.
fn banded(n: usize, seed: u64, signal: bool) -> (Table, Vec<bool>) {
    let mut d = Draws(seed);
    let (mut usage, mut tickets, mut noise, mut plan, mut y) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        let u = d.uniform();
        let k = (d.uniform() * 6.0).floor();
        let in_band = (0.4..0.6).contains(&u);
        let strained = k >= 4.0 && u < 0.25;
        let p = if !signal {
            0.2
        } else if in_band || strained {
            0.6
        } else {
            0.08
        };
        usage.push(Some(u));
        tickets.push(Some(k));
        noise.push(Some(d.normal()));
        plan.push(Some(["starter", "growth"][usize::from(d.uniform() < 0.5)].to_string()));
        y.push(d.uniform() < p);
    }
    let mut table = Table::default();
    table.push("usage", Values::Numeric(usage)).unwrap();
    table.push("tickets", Values::Numeric(tickets)).unwrap();
    table.push("noise", Values::Numeric(noise)).unwrap();
    table.push("plan", Values::Categorical(plan)).unwrap();
    (table, y)
}

/// Rows 0..60 % train, 60..70 % validate (the early-stopping slice, later
/// than the training rows), 70 % on test: cuts by position, which stands
/// for time here.
fn time_cuts(n: usize) -> (Vec<usize>, Vec<usize>, Vec<usize>) {
    let (a, b) = (n * 6 / 10, n * 7 / 10);
    ((0..a).collect(), (a..b).collect(), (b..n).collect())
}

fn test_auc(y: &[bool], test: &[usize], p: impl Fn(usize) -> f64) -> f64 {
    let scores: Vec<f64> = test.iter().map(|&i| p(i)).collect();
    let yt: Vec<bool> = test.iter().map(|&i| y[i]).collect();
    roc_auc(&scores, &yt).unwrap()
}

#[test]
fn boosted_trees_find_a_band_and_an_interaction_the_logistic_model_cannot() {
    let (table, y) = banded(6000, 21, true);
    let (train, valid, test) = time_cuts(table.rows());
    let (gbm, stop) = GbmModel::fit(&table, &y, &train, &valid, &GbmOptions::default()).unwrap();
    let stop = stop.unwrap();
    assert!(stop.rounds > 5 && stop.rounds <= stop.rounds_tried, "{stop:?}");
    assert!(stop.best_log_loss < stop.base_log_loss);
    let fit_rows: Vec<usize> = train.iter().chain(&valid).copied().collect();
    let logistic = ChurnModel::fit(&table, &y, &fit_rows, &LogisticOptions::default()).unwrap();
    let auc_gbm = test_auc(&y, &test, |i| gbm.probability(&table, i));
    let auc_logistic = test_auc(&y, &test, |i| logistic.probability(&table, i));
    // The band and the corner hold ~26 % of accounts at 60 % churn against
    // 8 % elsewhere: a model that sees them reaches an AUC near 0.8.
    assert!(auc_gbm > 0.75, "GBM hold-out AUC {auc_gbm}");
    assert!(auc_gbm > auc_logistic + 0.1, "GBM {auc_gbm} vs logistic {auc_logistic}");
    let importance = gbm.importance();
    assert_eq!(importance[0].feature, "usage", "{importance:?}");
    let noise = importance.iter().find(|f| f.feature == "noise").map_or(0.0, |f| f.gain_share);
    assert!(noise < 0.1, "{importance:?}");
}

#[test]
fn boosted_trees_without_signal_stay_near_one_half_on_the_hold_out() {
    let (table, y) = banded(10_000, 4, false);
    let (train, valid, test) = time_cuts(table.rows());
    let (gbm, stop) = GbmModel::fit(&table, &y, &train, &valid, &GbmOptions::default()).unwrap();
    // 3,000 test rows at 20 % churn: the AUC's standard error is about 0.013.
    let auc = test_auc(&y, &test, |i| gbm.probability(&table, i));
    assert!((auc - 0.5).abs() < 0.04, "AUC {auc} without any signal ({stop:?})");
    // Early stopping sees no gain from trees that only fit noise.
    assert!(stop.unwrap().rounds < 100);
    // Forced to grow 100 trees anyway, the trees fit training noise but the
    // hold-out still sees nothing: no label reaches the features.
    let opts = GbmOptions { max_rounds: 100, ..GbmOptions::default() };
    let (forced, _) = GbmModel::fit(&table, &y, &train, &[], &opts).unwrap();
    assert_eq!(forced.trees.len(), 100);
    let train_auc = test_auc(&y, &train, |i| forced.probability(&table, i));
    let auc = test_auc(&y, &test, |i| forced.probability(&table, i));
    assert!(train_auc > 0.6, "100 trees fit some training noise: {train_auc}");
    assert!((auc - 0.5).abs() < 0.04, "AUC {auc} without any signal after 100 rounds");
}

#[test]
fn boosted_tree_drivers_add_up_to_the_logit_and_refits_are_identical() {
    let (table, y) = banded(3000, 9, true);
    let (train, valid, _) = time_cuts(table.rows());
    let (gbm, _) = GbmModel::fit(&table, &y, &train, &valid, &GbmOptions::default()).unwrap();
    let model = Classifier::Gbm(gbm.clone());
    for i in [0, 17, 999, 2999] {
        let drivers = model.drivers(&table, i);
        let sum = model.baseline() + drivers.iter().map(|d| d.contribution).sum::<f64>();
        assert!((sum - model.logit(&table, i)).abs() < 1e-9, "row {i}: {sum} vs {}", model.logit(&table, i));
        assert!(drivers.windows(2).all(|w| w[0].contribution.abs() >= w[1].contribution.abs()));
    }
    // No randomness: a second fit is the same model, byte for byte as JSON.
    let (again, _) = GbmModel::fit(&table, &y, &train, &valid, &GbmOptions::default()).unwrap();
    assert_eq!(serde_json::to_string(&again).unwrap(), serde_json::to_string(&gbm).unwrap());
}

/// One depth-1 tree on a step: rows with x <= 0 never churn, x > 0 always.
/// At the base rate 1/2 every row has p = 1/2, so g = p - y = +-1/2 and
/// h = 1/4. Left (x <= 0, 10 rows): G = 5, H = 2.5, value = -0.1 x 5 / 3.5;
/// right: +0.1 x 5 / 3.5; root: G = 0, value 0. Gain = 25/3.5 + 25/3.5 - 0.
#[test]
fn one_stump_matches_the_newton_step_by_hand() {
    let x: Vec<Option<f64>> = (0..20).map(|i| Some(i as f64 - 9.5)).collect();
    let y: Vec<bool> = (0..20).map(|i| i >= 10).collect();
    let mut table = Table::default();
    table.push("x", Values::Numeric(x)).unwrap();
    let opts = GbmOptions { max_depth: 1, min_leaf: 1, max_rounds: 1, ..GbmOptions::default() };
    let all: Vec<usize> = (0..20).collect();
    let (m, stop) = GbmModel::fit(&table, &y, &all, &[], &opts).unwrap();
    assert!(stop.is_none() && m.trees.len() == 1 && m.base_logit == 0.0);
    let t = &m.trees[0];
    assert_eq!(t.nodes.len(), 3);
    let s = t.nodes[0].split.as_ref().unwrap();
    assert_eq!(t.nodes[0].value, 0.0);
    assert!((t.nodes[s.left].value + 0.5 / 3.5).abs() < 1e-12 && (t.nodes[s.right].value - 0.5 / 3.5).abs() < 1e-12);
    assert!((s.gain - 50.0 / 3.5).abs() < 1e-9);
    // The cut is the largest standardised value of the left half (x = -0.5).
    let z = m.encoder.row(&table, 9)[0];
    assert_eq!(s.threshold, z);
    assert!(m.probability(&table, 9) < 0.5 && m.probability(&table, 10) > 0.5);
}

#[test]
fn saved_models_of_either_kind_read_back_as_the_right_kind() {
    let (table, y) = banded(600, 2, true);
    let all: Vec<usize> = (0..table.rows()).collect();
    let logistic = ChurnModel::fit(&table, &y, &all, &LogisticOptions::default()).unwrap();
    // A file written before the boosted trees: a bare logistic model.
    let old = serde_json::to_string(&logistic).unwrap();
    let back: Classifier = serde_json::from_str(&old).unwrap();
    assert_eq!(back.kind(), ModelKind::Logistic);
    assert_eq!(back.probability(&table, 5), logistic.probability(&table, 5));
    let opts = GbmOptions { max_rounds: 20, ..GbmOptions::default() };
    let (gbm, _) = GbmModel::fit(&table, &y, &all, &[], &opts).unwrap();
    let back: Classifier =
        serde_json::from_str(&serde_json::to_string(&Classifier::Gbm(gbm.clone())).unwrap()).unwrap();
    assert_eq!(back.kind(), ModelKind::Gbm);
    assert_eq!(back.probability(&table, 5), gbm.probability(&table, 5));
    assert_eq!(serde_json::to_string(&ModelKind::Gbm).unwrap(), "\"gbm\"");
}
