//! `tenure churn calibrate`: does the health score predict churn? Each
//! subscriber at past month starts T gets the scorecard's score as of the end
//! of T - 1 (what a CSM saw that morning; no overrides: the scorecard is being
//! judged) and the label of [`History::snapshot`] (a churn movement in
//! `[T, T + horizon)`). Pooled over a few periods whose label windows do not
//! overlap (each churn counted once), the churn rate per band and decile, the
//! AUC and precision at the 10 % lowest scores, and a suggested re-weighting
//! of the measures from a logistic fit of churn on the measures' own scores
//! (`tenure_models::churn::suggest_weights`), checked out of time.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Result, anyhow, bail};
use jiff::civil::Date;
use rust_decimal::Decimal;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use serde_json::{Value, json};
use tenure_metrics::health::{Inputs, Scorecard, score_account};
use tenure_models::churn::{ScoredOutcome, WeightSuggestion, calibrate_health, suggest_weights};
use tenure_store::Workspace;

use super::History;
use crate::health::{HealthData, load_scorecard};

/// Fewer churned (or retained) account-periods than this and no weights are suggested.
const MIN_CLASS_ROWS: usize = 10;

/// `tenure churn calibrate` options.
#[derive(Clone, Debug)]
pub struct CalibrateOptions {
    pub horizon_days: i64,
    /// How many periods (going back from the last one whose label window is
    /// inside the data) when `dates` is empty.
    pub periods: usize,
    /// Explicit period starts.
    pub dates: Vec<Date>,
    pub scorecard: Option<PathBuf>,
    pub l2: f64,
}

/// One account at one period start: its health then and what happened after.
struct Row {
    date: Date,
    account: String,
    score: f64,
    band: String,
    churned: bool,
    /// Each measure's 0-100 score, in `card.measures()` order.
    measures: Vec<Option<f64>>,
    inputs: Inputs,
}

pub fn calibrate(ws: &Workspace, opts: &CalibrateOptions) -> Result<Value> {
    let (card, source) = load_scorecard(ws, opts.scorecard.as_deref())?;
    let history = History::load(ws)?;
    let data = HealthData::load(ws)?;
    calibrate_on(&history, &data, &card, &source, opts)
}

/// The period starts: the given ones, or the last `periods` month starts with
/// a full label window, spaced so that no two label windows overlap.
fn period_dates(history: &History, opts: &CalibrateOptions) -> Result<Vec<Date>> {
    let h = opts.horizon_days;
    if !(7..=730).contains(&h) {
        bail!("--horizon-days {h}: choose between 7 and 730 days");
    }
    let plus = |d: Date, days: i64| d.checked_add(jiff::Span::new().days(days)).unwrap_or(Date::MAX);
    if !opts.dates.is_empty() {
        let mut dates = opts.dates.clone();
        dates.sort();
        dates.dedup();
        for &d in &dates {
            if d <= history.first_day || plus(d, h - 1) > history.last_day {
                bail!(
                    "--date {d}: its {h}-day label window (to {}) must lie inside the data ({} to {})",
                    plus(d, h - 1),
                    history.first_day,
                    history.last_day
                );
            }
        }
        return Ok(dates);
    }
    if opts.periods == 0 {
        bail!("--periods 0: choose at least one period");
    }
    let mut out: Vec<Date> = Vec::new();
    for d in history.labelled_dates(h).into_iter().rev() {
        if out.last().is_none_or(|&later| plus(d, h) <= later) {
            out.push(d);
            if out.len() == opts.periods {
                break;
            }
        }
    }
    if out.is_empty() {
        bail!(
            "the data runs from {} to {}: too short for a {h}-day horizon after 90 days of history \
             (import more history or use a shorter --horizon-days)",
            history.first_day,
            history.last_day
        );
    }
    out.reverse();
    Ok(out)
}

fn f64_of(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(f64::NAN)
}

/// Each measure's nominal share of the overall score, percent (group share x
/// share within the group), in `card.measures()` order.
fn nominal_weights_pct(card: &Scorecard) -> Vec<f64> {
    let total: f64 = card.groups.iter().map(|g| f64_of(g.weight)).sum();
    card.measures()
        .map(|(g, m)| {
            let in_group: f64 = g.measures.iter().map(|x| f64_of(x.weight)).sum();
            100.0 * f64_of(g.weight) / total * f64_of(m.weight) / in_group
        })
        .collect()
}

/// The scorecard with the suggested weights: a measure's weight is its
/// suggested percent (one decimal), a group's the sum of its measures';
/// measures suggested at 0 and groups left empty are dropped. `None` when
/// nothing is left.
fn reweighted(card: &Scorecard, weights: &[WeightSuggestion]) -> Option<Scorecard> {
    let mut out = card.clone();
    out.groups = card
        .groups
        .iter()
        .filter_map(|g| {
            let mut g = g.clone();
            g.measures = g
                .measures
                .into_iter()
                .filter_map(|mut m| {
                    let pct = weights.iter().find(|w| w.measure == m.name)?.weight_pct;
                    m.weight = Decimal::from_f64((pct * 10.0).round() / 10.0)?;
                    (m.weight > Decimal::ZERO).then_some(m)
                })
                .collect();
            g.weight = g.measures.iter().map(|m| m.weight).sum();
            (!g.measures.is_empty()).then_some(g)
        })
        .collect();
    (!out.groups.is_empty()).then_some(out)
}

fn outcomes<'a>(rows: impl Iterator<Item = &'a Row>, score: impl Fn(&Row) -> Option<f64>) -> Vec<ScoredOutcome> {
    rows.filter_map(|r| {
        Some(ScoredOutcome {
            account_id: r.account.clone(),
            score: score(r)?,
            band: r.band.clone(),
            churned: r.churned,
        })
    })
    .collect()
}

/// The AUC of a scorecard's overall score on `rows` (rescored from their inputs).
fn auc_of(card: &Scorecard, rows: &[&Row]) -> Option<f64> {
    let o = outcomes(rows.iter().copied(), |r| {
        score_account(card, &r.account, r.date.yesterday().ok()?, &r.inputs, &[]).overall().map(f64_of)
    });
    calibrate_health(&o, &[]).auc
}

/// Suggested weights fitted on `rows`, when there are enough of each outcome.
fn fit(card: &Scorecard, rows: &[&Row], l2: f64) -> Result<Option<Vec<WeightSuggestion>>> {
    let churned = rows.iter().filter(|r| r.churned).count();
    if churned < MIN_CLASS_ROWS || rows.len() - churned < MIN_CLASS_ROWS {
        return Ok(None);
    }
    let names: Vec<String> = card.measures().map(|(_, m)| m.name.clone()).collect();
    let scores: Vec<Vec<Option<f64>>> = rows.iter().map(|r| r.measures.clone()).collect();
    let y: Vec<bool> = rows.iter().map(|r| r.churned).collect();
    let w =
        suggest_weights(&names, &scores, &y, l2).map_err(|e| anyhow!("fitting churn on the measure scores: {e}"))?;
    Ok(w.iter().any(|w| w.weight_pct > 0.0).then_some(w))
}

/// The re-weighted groups as TOML, each weight noted with the measure's
/// current share, and the measures left out listed first.
fn snippet(card: &Scorecard, new_card: &Scorecard, nominal: &[f64]) -> String {
    let mut head = String::from(
        "# Suggested by `tenure churn calibrate`: a measure's weight is its suggested share of the score (%).\n",
    );
    let mut notes = BTreeMap::new();
    for ((_, m), current) in card.measures().zip(nominal) {
        if new_card.measures().any(|(_, n)| n.name == m.name) {
            notes.insert(m.name.clone(), format!("now {current:.1}%"));
        } else {
            head.push_str(&format!(
                "# left out: {} (now {current:.1}%): its higher scores did not go with less churn\n",
                m.name
            ));
        }
    }
    head + "\n" + &new_card.groups_toml(&notes)
}

pub fn calibrate_on(
    history: &History,
    data: &HealthData,
    card: &Scorecard,
    source: &str,
    opts: &CalibrateOptions,
) -> Result<Value> {
    let h = opts.horizon_days;
    let dates = period_dates(history, opts)?;
    let band_order: Vec<&str> = card.bands.iter().map(|b| b.name.as_str()).collect();
    let mut rows: Vec<Row> = Vec::new();
    let (mut pending, mut unscored) = (0, 0);
    let mut periods = Vec::new();
    for &date in &dates {
        let snap = history.snapshot(date, Some(h));
        let mut accounts = Vec::new();
        let mut churned = std::collections::HashMap::new();
        for i in 0..snap.len() {
            // Left out as in the churn model: their outcome was already known.
            if snap.cancellation_pending[i] {
                pending += 1;
                continue;
            }
            accounts.push(snap.accounts[i].clone());
            churned.insert(snap.accounts[i].clone(), snap.labels[i].expect("labelled"));
        }
        let eve = date.yesterday()?;
        let first = rows.len();
        for (s, inputs) in data.scores(card, &accounts, eve, &[])? {
            let (Some(score), Some(band)) = (s.overall(), s.color(card)) else {
                unscored += 1;
                continue;
            };
            let measures = card
                .measures()
                .map(|(_, m)| s.measures.iter().find(|x| x.measure == m.name).and_then(|x| x.score).map(f64_of))
                .collect();
            rows.push(Row {
                date,
                churned: churned[&s.account],
                account: s.account,
                score: f64_of(score),
                band: band.to_string(),
                measures,
                inputs,
            });
        }
        let c = calibrate_health(&outcomes(rows[first..].iter(), |r| Some(r.score)), &band_order);
        periods.push(json!({
            "date": date.to_string(),
            "scored_as_of": eve.to_string(),
            "accounts": c.accounts,
            "churned": c.churned,
            "churn_rate_pct": c.churn_rate_pct,
            "auc": c.auc,
            "precision_at_10pct": c.precision_at_10pct,
        }));
    }
    let pooled = calibrate_health(&outcomes(rows.iter(), |r| Some(r.score)), &band_order);

    // The suggestion: fitted on every period; checked by fitting on all but
    // the last period and scoring the last one with both scorecards.
    let all: Vec<&Row> = rows.iter().collect();
    let nominal = nominal_weights_pct(card);
    let suggestion = match fit(card, &all, opts.l2)? {
        None => json!({
            "reason": format!(
                "too few outcomes to fit: {} churned and {} retained account-periods (at least {MIN_CLASS_ROWS} of \
                 each, and at least one measure whose higher scores went with less churn)",
                pooled.churned,
                pooled.accounts - pooled.churned
            )
        }),
        Some(weights) => {
            let new_card = reweighted(card, &weights).expect("some weight is positive");
            let last = *dates.last().expect("a period");
            let (older, newest): (Vec<&Row>, Vec<&Row>) = all.iter().partition(|r| r.date < last);
            let out_of_time = match fit(card, &older, opts.l2)? {
                Some(w) if dates.len() > 1 => {
                    let older_card = reweighted(card, &w).expect("some weight is positive");
                    json!({
                        "fitted_on": dates[..dates.len() - 1].iter().map(|d| d.to_string()).collect::<Vec<_>>(),
                        "tested_on": last.to_string(),
                        "accounts": newest.len(),
                        "auc_current": auc_of(card, &newest),
                        "auc_suggested": auc_of(&older_card, &newest),
                    })
                }
                _ => Value::Null,
            };
            let measures: Vec<Value> = card
                .measures()
                .zip(&nominal)
                .zip(&weights)
                .map(|(((g, m), current), w)| {
                    json!({
                        "measure": m.name,
                        "group": g.name,
                        "current_weight_pct": current,
                        "suggested_weight_pct": w.weight_pct,
                        "coefficient_per_point": w.coefficient_per_point,
                        "coefficient_per_sd": w.coefficient_per_sd,
                    })
                })
                .collect();
            json!({
                "method": "logistic regression of churn on the measures' 0-100 scores (L2 on standardised \
                           scores); weight = max(0, -coefficient per point), normalised to 100%",
                "l2": opts.l2,
                "rows": rows.len(),
                "churned": pooled.churned,
                "measures": measures,
                "auc_in_sample": {"current": pooled.auc, "suggested": auc_of(&new_card, &all)},
                "out_of_time": out_of_time,
                "toml": snippet(card, &new_card, &nominal),
            })
        }
    };
    Ok(json!({
        "metric": "health_calibration",
        "scorecard": source,
        "horizon_days": h,
        "periods": periods,
        "left_out": {"cancellation_pending": pending, "unscored": unscored},
        "calibration": serde_json::to_value(&pooled)?,
        "suggestion": suggestion,
    }))
}
