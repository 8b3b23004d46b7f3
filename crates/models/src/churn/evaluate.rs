//! How good a set of churn scores is against what happened.

use serde::{Deserialize, Serialize};

/// ROC AUC: the probability that a random churned account scores above a
/// random retained one, ties counting one half. Computed as the Mann-Whitney
/// U statistic from midranks (tied scores share the mean of their ranks), in
/// O(n log n). `None` without both outcomes.
pub fn roc_auc(scores: &[f64], churned: &[bool]) -> Option<f64> {
    let n_pos = churned.iter().filter(|&&c| c).count();
    let n_neg = churned.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    let order = ascending(scores);
    let mut rank_sum_pos = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        // Ranks i+1..=j+1 share their mean.
        let midrank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum_pos += midrank * order[i..=j].iter().filter(|&&k| churned[k]).count() as f64;
        i = j + 1;
    }
    let u = rank_sum_pos - (n_pos * (n_pos + 1)) as f64 / 2.0;
    Some(u / (n_pos as f64 * n_neg as f64))
}

fn ascending(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
    order
}

/// Churn among the highest-scored accounts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrecisionAt {
    pub fraction: f64,
    /// Accounts in the top fraction: ceil(fraction x n).
    pub accounts: usize,
    /// Churned accounts among them (fractional when the cut falls inside a
    /// group of tied scores: each tied account counts by the group's churn rate).
    pub churned: f64,
    /// churned / accounts.
    pub precision: f64,
    /// precision / the base churn rate.
    pub lift: Option<f64>,
}

/// Precision in the top `fraction` of scores. A cut inside a run of equal
/// scores does not depend on row order: the run's places left above the cut
/// are credited with the run's churn rate (the expectation over every order).
pub fn precision_at(scores: &[f64], churned: &[bool], fraction: f64) -> Option<PrecisionAt> {
    let n = scores.len();
    if n == 0 || !(fraction > 0.0 && fraction <= 1.0) {
        return None;
    }
    let k = ((fraction * n as f64).ceil() as usize).clamp(1, n);
    let mut order = ascending(scores);
    order.reverse();
    let mut hits = 0.0;
    let mut taken = 0;
    let mut i = 0;
    while taken < k {
        let mut j = i;
        while j + 1 < n && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let run = j - i + 1;
        let run_hits = order[i..=j].iter().filter(|&&r| churned[r]).count() as f64;
        let take = run.min(k - taken);
        hits += run_hits * take as f64 / run as f64;
        taken += take;
        i = j + 1;
    }
    let base = churned.iter().filter(|&&c| c).count() as f64 / n as f64;
    let precision = hits / k as f64;
    Some(PrecisionAt { fraction, accounts: k, churned: hits, precision, lift: (base > 0.0).then(|| precision / base) })
}

/// One row of a calibration table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBin {
    /// 1 = lowest predicted risk.
    pub bin: usize,
    pub accounts: usize,
    pub min_predicted: f64,
    pub max_predicted: f64,
    pub mean_predicted: f64,
    pub churned: usize,
    pub observed_rate: f64,
}

/// Accounts sorted by predicted probability and cut into `bins` groups of
/// (nearly) equal size (deciles for 10); per group, the mean prediction and
/// the observed churn rate. A calibrated model has the two close in every row.
pub fn calibration_table(predicted: &[f64], churned: &[bool], bins: usize) -> Vec<CalibrationBin> {
    let n = predicted.len();
    if n == 0 || bins == 0 {
        return Vec::new();
    }
    let order = ascending(predicted);
    let bins = bins.min(n);
    (0..bins)
        .map(|b| {
            // Rank r goes to bin floor(r * bins / n): sizes differ by at most one.
            let lo = (b * n).div_ceil(bins);
            let hi = ((b + 1) * n).div_ceil(bins);
            let rows = &order[lo..hi];
            let p: Vec<f64> = rows.iter().map(|&r| predicted[r]).collect();
            let churned_n = rows.iter().filter(|&&r| churned[r]).count();
            CalibrationBin {
                bin: b + 1,
                accounts: rows.len(),
                min_predicted: p.iter().copied().fold(f64::INFINITY, f64::min),
                max_predicted: p.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                mean_predicted: p.iter().sum::<f64>() / rows.len() as f64,
                churned: churned_n,
                observed_rate: churned_n as f64 / rows.len() as f64,
            }
        })
        .collect()
}

/// Every figure `tenure churn train` reports for one set of rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub accounts: usize,
    pub churned: usize,
    pub churn_rate: f64,
    pub auc: Option<f64>,
    pub precision_at_10pct: Option<PrecisionAt>,
    /// Mean squared error of the probabilities.
    pub brier: f64,
    /// Mean negative log-likelihood (probabilities clipped to [1e-15, 1 - 1e-15]).
    pub log_loss: f64,
    pub calibration: Vec<CalibrationBin>,
}

/// Mean negative log-likelihood, probabilities clipped to [1e-15, 1 - 1e-15]
/// (0 for no rows).
pub fn log_loss(predicted: &[f64], churned: &[bool]) -> f64 {
    let total: f64 = predicted
        .iter()
        .zip(churned)
        .map(|(&p, &c)| {
            let p = p.clamp(1e-15, 1.0 - 1e-15);
            -if c { p.ln() } else { (1.0 - p).ln() }
        })
        .sum();
    total / predicted.len().max(1) as f64
}

pub fn evaluate(predicted: &[f64], churned: &[bool]) -> Evaluation {
    let n = predicted.len();
    let pos = churned.iter().filter(|&&c| c).count();
    let nf = n.max(1) as f64;
    let y = |i: usize| f64::from(u8::from(churned[i]));
    let brier = (0..n).map(|i| (predicted[i] - y(i)).powi(2)).sum::<f64>() / nf;
    Evaluation {
        accounts: n,
        churned: pos,
        churn_rate: pos as f64 / nf,
        auc: roc_auc(predicted, churned),
        precision_at_10pct: precision_at(predicted, churned, 0.1),
        brier,
        log_loss: log_loss(predicted, churned),
        calibration: calibration_table(predicted, churned, 10),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand count over all 3 x 3 (churned, retained) pairs:
    /// churned scores 0.9, 0.5, 0.3; retained 0.5, 0.2, 0.1.
    /// 0.9 beats all 3; 0.5 ties 0.5 (1/2) and beats 2; 0.3 beats 2.
    /// AUC = (3 + 2.5 + 2) / 9 = 7.5 / 9.
    #[test]
    fn auc_counts_ties_as_one_half() {
        let s = [0.9, 0.5, 0.3, 0.5, 0.2, 0.1];
        let y = [true, true, true, false, false, false];
        assert!((roc_auc(&s, &y).unwrap() - 7.5 / 9.0).abs() < 1e-15);
        // Row order does not matter.
        let s2 = [0.5, 0.1, 0.9, 0.2, 0.5, 0.3];
        let y2 = [false, false, true, false, true, true];
        assert!((roc_auc(&s2, &y2).unwrap() - 7.5 / 9.0).abs() < 1e-15);
        // All scores equal: every pair ties.
        assert_eq!(roc_auc(&[1.0; 4], &[true, false, true, false]), Some(0.5));
        // Perfect and reversed.
        assert_eq!(roc_auc(&[0.9, 0.8, 0.1], &[true, true, false]), Some(1.0));
        assert_eq!(roc_auc(&[0.1, 0.2, 0.9], &[true, true, false]), Some(0.0));
        assert_eq!(roc_auc(&[0.1, 0.2], &[true, true]), None);
    }

    #[test]
    fn precision_at_top_shares_a_tied_cut() {
        // 10 accounts, top 10 % = 1 account; the top two tie at 0.9, one churned.
        let s = [0.9, 0.9, 0.5, 0.4, 0.3, 0.3, 0.2, 0.1, 0.1, 0.0];
        let y = [true, false, true, false, false, false, false, false, false, false];
        let p = precision_at(&s, &y, 0.1).unwrap();
        assert_eq!(p.accounts, 1);
        assert!((p.precision - 0.5).abs() < 1e-15, "{p:?}");
        assert!((p.lift.unwrap() - 0.5 / 0.2).abs() < 1e-12);
        // Top 30 % = 3 accounts: both tied (1 churned) + 0.5 (churned) = 2 of 3.
        let p = precision_at(&s, &y, 0.3).unwrap();
        assert!((p.churned - 2.0).abs() < 1e-15 && p.accounts == 3);
        // 11 accounts: ceil(1.1) = 2.
        let p = precision_at(&[0.0; 11], &[false; 11], 0.1).unwrap();
        assert_eq!(p.accounts, 2);
        assert_eq!(p.lift, None);
    }

    #[test]
    fn calibration_bins_are_equal_sized_and_ordered() {
        let p: Vec<f64> = (0..25).map(|i| i as f64 / 25.0).collect();
        let y: Vec<bool> = (0..25).map(|i| i % 5 == 0).collect();
        let t = calibration_table(&p, &y, 10);
        assert_eq!(t.len(), 10);
        assert_eq!(t.iter().map(|b| b.accounts).sum::<usize>(), 25);
        assert!(t.iter().all(|b| b.accounts == 2 || b.accounts == 3));
        assert!(t.windows(2).all(|w| w[0].max_predicted <= w[1].min_predicted));
        assert_eq!(t.iter().map(|b| b.churned).sum::<usize>(), 5);
        // The first bin holds ranks 0..3 (0, 0.04, 0.08): mean 0.04, one churned.
        assert_eq!(t[0].accounts, 3);
        assert!((t[0].mean_predicted - 0.04).abs() < 1e-12);
        assert!((t[0].observed_rate - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn evaluation_of_perfect_scores() {
        let e = evaluate(&[1.0, 0.0, 1.0, 0.0], &[true, false, true, false]);
        assert_eq!(e.auc, Some(1.0));
        assert_eq!(e.brier, 0.0);
        assert!(e.log_loss < 1e-12);
        assert_eq!(e.churn_rate, 0.5);
    }
}
