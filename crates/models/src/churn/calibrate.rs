//! Does a red health score really churn more? Given each account's score and
//! band at a past date and whether it churned afterwards, the churn rate per
//! band and per score decile (Gainsight and Totango validate scorecards this
//! way), and the AUC of the score as a churn predictor (low score = risk).

use serde::{Deserialize, Serialize};

use super::evaluate::roc_auc;

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
    }
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
}
