//! Does a red health score really churn more? Given each account's score and
//! band at a past date and whether it churned afterwards, the churn rate per
//! band and per score decile (Gainsight and Totango validate scorecards this
//! way), and the AUC of the score as a churn predictor (low score = risk).
//!
//! [`suggest_weights`] then asks which measures of the scorecard carried the
//! signal: a logistic regression of churn on the measures' own 0-100 scores.
//! The health score is linear in those scores (sum of weight x score), so the
//! weights that order accounts like the fitted log-odds are proportional to
//! minus each measure's coefficient per score point; a measure whose higher
//! scores went with more churn (or with nothing) gets no weight.

use serde::{Deserialize, Serialize};

use super::evaluate::{PrecisionAt, precision_at, roc_auc};
use super::{ChurnModel, LogisticOptions, Table, Values};
use crate::Error;

/// One account's health at the calibration date and its later outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoredOutcome {
    pub account_id: String,
    /// 0-100, higher is healthier.
    pub score: f64,
    /// The color band (`red`, `yellow`, `green`).
    pub band: String,
    pub churned: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BandOutcome {
    pub band: String,
    pub accounts: usize,
    pub churned: usize,
    /// Percent, 0-100.
    pub churn_rate_pct: f64,
    /// Ids of the accounts that churned (the drill-down).
    pub churned_accounts: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecileOutcome {
    /// 1 = the lowest scores.
    pub decile: usize,
    pub min_score: f64,
    pub max_score: f64,
    pub accounts: usize,
    pub churned: usize,
    pub churn_rate_pct: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HealthCalibration {
    pub accounts: usize,
    pub churned: usize,
    pub churn_rate_pct: f64,
    /// In the order of `band_order`, then any other band by name.
    pub bands: Vec<BandOutcome>,
    pub deciles: Vec<DecileOutcome>,
    /// AUC of (100 - score) for churn: 0.5 is a score that tells nothing.
    pub auc: Option<f64>,
    /// Churn among the 10 % lowest scores.
    pub precision_at_10pct: Option<PrecisionAt>,
}

/// Churn rate per band (listed in `band_order`, e.g. red, yellow, green) and
/// per score decile. Decile boundaries follow the sorted scores; tied scores
/// are kept in one decile (a decile may then be larger or empty, and empty
/// ones are left out), so the table never depends on row order.
pub fn calibrate_health(outcomes: &[ScoredOutcome], band_order: &[&str]) -> HealthCalibration {
    let n = outcomes.len();
    let pct = |c: usize, a: usize| if a == 0 { 0.0 } else { 100.0 * c as f64 / a as f64 };
    let mut names: Vec<String> = band_order.iter().map(|b| b.to_string()).collect();
    let mut others: Vec<String> = outcomes.iter().map(|o| o.band.clone()).filter(|b| !names.contains(b)).collect();
    others.sort();
    others.dedup();
    names.extend(others);
    let bands = names
        .into_iter()
        .map(|band| {
            let rows: Vec<&ScoredOutcome> = outcomes.iter().filter(|o| o.band == band).collect();
            let mut churned_accounts: Vec<String> =
                rows.iter().filter(|o| o.churned).map(|o| o.account_id.clone()).collect();
            churned_accounts.sort();
            BandOutcome {
                accounts: rows.len(),
                churned: churned_accounts.len(),
                churn_rate_pct: pct(churned_accounts.len(), rows.len()),
                churned_accounts,
                band,
            }
        })
        .collect();

    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| outcomes[a].score.total_cmp(&outcomes[b].score));
    let mut deciles: Vec<DecileOutcome> = Vec::new();
    let mut i = 0;
    while i < n {
        // The decile of the run's first rank; the whole run of equal scores goes there.
        let d = i * 10 / n;
        let mut j = i + 1;
        while j < n && (j * 10 / n == d || outcomes[order[j]].score == outcomes[order[j - 1]].score) {
            j += 1;
        }
        let rows = &order[i..j];
        let churned = rows.iter().filter(|&&r| outcomes[r].churned).count();
        deciles.push(DecileOutcome {
            decile: d + 1,
            min_score: outcomes[rows[0]].score,
            max_score: outcomes[rows[rows.len() - 1]].score,
            accounts: rows.len(),
            churned,
            churn_rate_pct: pct(churned, rows.len()),
        });
        i = j;
    }
    let risk: Vec<f64> = outcomes.iter().map(|o| 100.0 - o.score).collect();
    let churned_flags: Vec<bool> = outcomes.iter().map(|o| o.churned).collect();
    let churned = churned_flags.iter().filter(|&&c| c).count();
    HealthCalibration {
        accounts: n,
        churned,
        churn_rate_pct: pct(churned, n),
        bands,
        deciles,
        auc: roc_auc(&risk, &churned_flags),
        precision_at_10pct: precision_at(&risk, &churned_flags, 0.1),
    }
}

/// One measure's suggested share of the overall score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeightSuggestion {
    pub measure: String,
    /// Change in churn log-odds per point of the measure's score (negative:
    /// a higher score went with less churn). `None` when the measure could not
    /// enter the fit (constant, or never scored).
    pub coefficient_per_point: Option<f64>,
    /// The same per standard deviation of the measure's score.
    pub coefficient_per_sd: Option<f64>,
    /// Suggested effective weight, percent of the overall score (sums to 100
    /// over the measures unless no measure carried any signal).
    pub weight_pct: f64,
}

/// Fit churn on the measures' scores (`scores[row][measure]`, 0-100, `None`
/// where missing: the fit imputes the mean and adds a missing indicator) by
/// L2-penalised logistic regression, and turn the coefficients into weights:
/// `max(0, -coefficient per point)`, normalised to 100 %.
pub fn suggest_weights(
    measures: &[String],
    scores: &[Vec<Option<f64>>],
    churned: &[bool],
    l2: f64,
) -> Result<Vec<WeightSuggestion>, Error> {
    let mut table = Table::default();
    for (j, m) in measures.iter().enumerate() {
        table.push(m.clone(), Values::Numeric(scores.iter().map(|r| r[j]).collect()))?;
    }
    let rows: Vec<usize> = (0..scores.len()).collect();
    let model = ChurnModel::fit(&table, churned, &rows, &LogisticOptions { l2, ..LogisticOptions::default() })?;
    let coefficients = model.coefficients();
    let mut out: Vec<WeightSuggestion> = measures
        .iter()
        .map(|m| {
            let c = coefficients.iter().find(|c| &c.column == m);
            WeightSuggestion {
                measure: m.clone(),
                coefficient_per_point: c.map(|c| c.per_unit),
                coefficient_per_sd: c.map(|c| c.coefficient),
                weight_pct: c.map_or(0.0, |c| (-c.per_unit).max(0.0)),
            }
        })
        .collect();
    let total: f64 = out.iter().map(|w| w.weight_pct).sum();
    for w in &mut out {
        w.weight_pct = if total > 0.0 { 100.0 * w.weight_pct / total } else { 0.0 };
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(id: &str, score: f64, band: &str, churned: bool) -> ScoredOutcome {
        ScoredOutcome { account_id: id.into(), score, band: band.into(), churned }
    }

    #[test]
    fn churn_rate_per_band_and_decile() {
        let mut v = Vec::new();
        // 20 accounts, scores 5, 10, ..., 100; red <= 50 churns 1 in 2, the rest 1 in 5.
        for k in 1..=20 {
            let score = 5.0 * k as f64;
            let band = if score <= 50.0 {
                "red"
            } else if score <= 75.0 {
                "yellow"
            } else {
                "green"
            };
            let churned = if score <= 50.0 { k % 2 == 0 } else { k % 5 == 0 };
            v.push(o(&format!("a{k}"), score, band, churned));
        }
        let c = calibrate_health(&v, &["red", "yellow", "green"]);
        assert_eq!(c.accounts, 20);
        let red = &c.bands[0];
        assert_eq!((red.band.as_str(), red.accounts, red.churned), ("red", 10, 5));
        assert_eq!(red.churn_rate_pct, 50.0);
        assert_eq!(red.churned_accounts, ["a10", "a2", "a4", "a6", "a8"]);
        // yellow: 55..75 (k = 11..15): k = 15 churns.
        assert_eq!((c.bands[1].accounts, c.bands[1].churned), (5, 1));
        // green: 80..100 (k = 16..20): k = 20 churns.
        assert_eq!((c.bands[2].accounts, c.bands[2].churned), (5, 1));
        // Deciles of two accounts each, lowest scores first.
        assert_eq!(c.deciles.len(), 10);
        assert_eq!((c.deciles[0].min_score, c.deciles[0].max_score, c.deciles[0].churned), (5.0, 10.0, 1));
        assert!(c.auc.unwrap() > 0.5);
    }

    #[test]
    fn tied_scores_stay_in_one_decile() {
        // Ten accounts, six of them tied at 50: the tie is not split.
        let scores = [10.0, 20.0, 50.0, 50.0, 50.0, 50.0, 50.0, 50.0, 90.0, 95.0];
        let v: Vec<ScoredOutcome> =
            scores.iter().enumerate().map(|(i, &s)| o(&format!("a{i}"), s, "x", i < 3)).collect();
        let c = calibrate_health(&v, &[]);
        assert_eq!(c.deciles.iter().map(|d| d.accounts).sum::<usize>(), 10);
        let tie = c.deciles.iter().find(|d| d.min_score == 50.0).unwrap();
        assert_eq!((tie.accounts, tie.max_score), (6, 50.0));
        assert_eq!(c.bands.len(), 1);
    }

    #[test]
    fn the_measure_that_drives_churn_gets_the_weight() {
        // 3000 accounts; `usage` (0-100) drives churn: log-odds -1 - 0.04 x
        // (usage - 50); `support` carries nothing; `pulse` is reversed (a high
        // pulse goes with more churn, 0.01 per point) and missing on a third.
        let mut state = 7u64;
        let mut uniform = || {
            state = super::super::splitmix64(state);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let (mut scores, mut churned) = (Vec::new(), Vec::new());
        for i in 0..3000 {
            let (usage, support, pulse) = (100.0 * uniform(), 100.0 * uniform(), 100.0 * uniform());
            let z: f64 = -1.0 - 0.04 * (usage - 50.0) + 0.01 * (pulse - 50.0);
            churned.push(uniform() < 1.0 / (1.0 + (-z).exp()));
            scores.push(vec![Some(usage), Some(support), (i % 3 != 0).then_some(pulse)]);
        }
        let names: Vec<String> = ["usage", "support", "pulse"].iter().map(|s| s.to_string()).collect();
        let w = suggest_weights(&names, &scores, &churned, 1.0).unwrap();
        let (usage, support, pulse) = (&w[0], &w[1], &w[2]);
        // The planted -0.04 per point comes back (shrunk a little by the penalty).
        let b = usage.coefficient_per_point.unwrap();
        assert!((b + 0.04).abs() < 0.006, "{b}");
        assert!(pulse.coefficient_per_point.unwrap() > 0.0, "{pulse:?}");
        assert_eq!(pulse.weight_pct, 0.0, "a reversed measure gets no weight");
        assert!(usage.weight_pct > 85.0 && support.weight_pct < 15.0, "{w:?}");
        assert!((usage.weight_pct + support.weight_pct - 100.0).abs() < 1e-9);
    }

    #[test]
    fn no_signal_anywhere_suggests_no_weights() {
        // Every measure's higher score goes with more churn: nothing to suggest.
        let scores: Vec<Vec<Option<f64>>> = (0..200).map(|i| vec![Some(f64::from(i % 100))]).collect();
        let churned: Vec<bool> = (0..200).map(|i| i % 100 >= 80).collect();
        let w = suggest_weights(&["a".to_string()], &scores, &churned, 1.0).unwrap();
        assert!(w[0].coefficient_per_point.unwrap() > 0.0);
        assert_eq!(w[0].weight_pct, 0.0);
    }
}
