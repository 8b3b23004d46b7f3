//! `tenure clv fit --model sbg`: the shifted-beta-geometric model (Fader &
//! Hardie 2007) fitted on the monthly subscription cohorts.
//!
//! A customer's cohort is the month of their first New Business movement in
//! the revenue ledger (the cohorts of `tenure metrics revenue`); their
//! lifetime ends at their first Churn movement after it (a later
//! reactivation is a new lifetime, which the sBG does not model). A customer
//! is alive after k months when they had not churned by the end of month
//! cohort + k; a cohort is observed up to the ledger's last month.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Result, anyhow};
use serde_json::{Value, json};
use tenure_metrics::revenue::{MonthIdx, MovementKind, month_idx, month_label};
use tenure_models::{Parameters, Sbg};
use tenure_query::revenue::RevenueArgs;
use tenure_store::Workspace;

use super::{ClvModel, ClvOptions};

/// Renewals at which the residual lifetime is shown.
const RENEWALS: [u32; 7] = [0, 1, 2, 3, 6, 12, 24];

/// The alive counts of each cohort, by cohort month: `[size, after 1 month, ...]`.
pub(super) fn cohort_counts(ws: &Workspace, o: &ClvOptions) -> Result<BTreeMap<MonthIdx, Vec<f64>>> {
    if ws.rows("subscription_events") == 0 && ws.rows("invoices") == 0 {
        anyhow::bail!(
            "the sBG model needs subscriptions: import them with `tenure import subscription_events FILE` \
             (or invoices)"
        );
    }
    let args =
        RevenueArgs { to: o.as_of.map(|d| format!("{:04}-{:02}", d.year(), d.month())), ..RevenueArgs::default() };
    let p = tenure_query::revenue::prepare(ws, &args)?;
    let last = p.to;
    // Per cohort: the month each member churned (None: still alive).
    let mut members: BTreeMap<MonthIdx, Vec<Option<MonthIdx>>> = BTreeMap::new();
    for c in &p.ledger.customers {
        let Some(first) = c.first_new_business() else { continue };
        let cohort = month_idx(first.date);
        if cohort > last {
            continue;
        }
        let churned = c
            .movements
            .iter()
            .filter(|m| m.kind == MovementKind::Churn && m.date >= first.date)
            .map(|m| month_idx(m.date))
            .min();
        members.entry(cohort).or_default().push(churned);
    }
    Ok(members
        .into_iter()
        .map(|(cohort, churn)| {
            let alive = (0..=last - cohort)
                .map(|k| {
                    if k == 0 {
                        churn.len() as f64
                    } else {
                        churn.iter().filter(|m| m.is_none_or(|m| m > cohort + k)).count() as f64
                    }
                })
                .collect();
            (cohort, alive)
        })
        .collect())
}

/// The document of `tenure clv fit --model sbg`.
pub(super) fn fit(ws: &Workspace, o: &ClvOptions) -> Result<Value> {
    let cohorts = cohort_counts(ws, o)?;
    let started = Instant::now();
    let counts: Vec<Vec<f64>> = cohorts.values().cloned().collect();
    let f = Sbg::fit_cohorts(&counts).map_err(|e| anyhow!("{e}"))?;
    let seconds = started.elapsed().as_secs_f64();
    let m = f.params;
    let mut doc = o.header(ws, ClvModel::Sbg);
    doc["unit"] = json!("month");
    doc["cohorts"] = json!(cohorts.len());
    doc["first_cohort"] = json!(cohorts.keys().next().map(|c| month_label(*c)));
    doc["last_cohort"] = json!(cohorts.keys().next_back().map(|c| month_label(*c)));
    let params: serde_json::Map<String, Value> =
        m.named().into_iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
    doc["fit"] = json!({
        "params": params,
        "log_likelihood": f.log_likelihood,
        "converged": f.converged,
        "boundary": f.boundary,
        "iterations": f.iterations,
        "evaluations": f.evaluations,
        "starts": f.starts,
        "observations": f.observations,
        "seconds": seconds,
    });
    // Pooled observed survival after k months: over the cohorts old enough.
    let longest = counts.iter().map(|c| c.len()).max().unwrap_or(0);
    let observed: Vec<Option<f64>> = (0..longest)
        .map(|k| {
            let (alive, size) =
                counts.iter().filter(|c| c.len() > k).fold((0.0, 0.0), |(a, s), c| (a + c[k], s + c[0]));
            (size > 0.0).then(|| alive / size)
        })
        .collect();
    let months = o.horizon.max(longest as u32);
    doc["projection"] = (0..=months)
        .map(|t| {
            json!({
                "month": t,
                "survival": m.survival(t),
                "retention_rate": if t == 0 { Value::Null } else { json!(m.retention_rate(t)) },
                "observed_survival": observed.get(t as usize).copied().flatten(),
            })
        })
        .collect();
    let rate = o.monthly_discount_rate();
    doc["discounted_expected_lifetime_months"] = json!(m.discounted_expected_lifetime(rate));
    doc["discounted_expected_residual_lifetime_months"] = RENEWALS
        .iter()
        .map(|n| json!({"renewals": n, "months": m.discounted_expected_residual_lifetime(rate, *n)}))
        .collect();
    Ok(doc)
}
