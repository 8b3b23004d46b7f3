//! Reconciliation (SPEC 2.1 "Presets"): why two rule sets, or Tenure and a
//! billing system's per-customer MRR export, differ for one month, customer
//! by customer. One document for `tenure reconcile --json` and the
//! dashboard's revenue page, so the two cannot disagree.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Result, anyhow, bail};
use serde_json::Value;
use tenure_metrics::revenue::reconcile::{self, Side};
use tenure_metrics::revenue::{self, MonthIdx, Rules, preset};
use tenure_model::SubscriptionEvent;
use tenure_store::Workspace;

use crate::ledger::RevenueData;

fn month_of(month: &str) -> Result<MonthIdx> {
    Ok(revenue::month_idx(tenure_model::time::parse_month(month).map_err(|e| anyhow!("--month: {e}"))?))
}

fn load(ws: &Workspace) -> Result<Arc<RevenueData>> {
    let data = RevenueData::shared(ws)?;
    if data.date_range().is_none() {
        bail!(
            "no subscription events or invoices in the workspace: import some with `tenure import subscription_events FILE`"
        );
    }
    Ok(data)
}

/// Rule set `a` against rule set `b` (each a preset or [`preset::WORKSPACE`])
/// in `month` (YYYY-MM): the document of `tenure reconcile --a A --b B --json`.
pub fn rules_doc(ws: &Workspace, month: &str, a: &str, b: &str) -> Result<Value> {
    let m = month_of(month)?;
    let data = load(ws)?;
    let base = &ws.settings().revenue;
    let sa = preset::settings_for(base, a).map_err(|e| anyhow!("--a: {e}"))?;
    let sb = preset::settings_for(base, b).map_err(|e| anyhow!("--b: {e}"))?;
    let fx = data.fx(ws.settings().workspace.reporting_currency);
    let r = reconcile::reconcile_rules(
        Side { name: a, settings: &sa },
        Side { name: b, settings: &sb },
        m,
        &fx,
        &data.events,
        |rules: &Rules| data.ledger(rules, &fx).map_err(|e| e.to_string()),
    )
    .map_err(|e| anyhow!("{e}"))?;
    Ok(r.to_json())
}

/// The workspace under rule set `a` against a billing system's export
/// (`header` and `records` of the CSV file `name`): the document of
/// `tenure reconcile --against FILE --json`.
pub fn export_doc(
    ws: &Workspace,
    month: &str,
    a: &str,
    name: &str,
    header: &[String],
    records: &[tenure_model::Record],
) -> Result<Value> {
    let m = month_of(month)?;
    let data = load(ws)?;
    let sa = preset::settings_for(&ws.settings().revenue, a).map_err(|e| anyhow!("--a: {e}"))?;
    let reporting = ws.settings().workspace.reporting_currency;
    let fx = data.fx(reporting);
    let (layout, rows) = reconcile::read_export(name, header, records, m, reporting).map_err(|e| anyhow!("{e}"))?;
    let rules = Rules::from_settings(&sa).map_err(|e| anyhow!("{e}"))?;
    let ledger = data.ledger(&rules, &fx)?;
    let ours = reconcile::month_figures(&ledger, &fx, m).map_err(|e| anyhow!("{e}"))?;
    // The same data without any discount tells "the export ignores this discount" apart.
    let events = data.events.iter().cloned().map(|e| SubscriptionEvent { discount: None, ..e }).collect();
    let without = RevenueData { events, ..(*data).clone() };
    let alternatives = reconcile::alternatives(&sa, m, &fx, |rules, without_discounts| {
        let d = if without_discounts { &without } else { &data };
        d.ledger(rules, &fx).map_err(|e| e.to_string())
    })
    .map_err(|e| anyhow!("{e}"))?;
    let r = reconcile::reconcile_export(&ours, &ledger, (layout, &rows), &alternatives, &data.events, &fx, m)
        .map_err(|e| anyhow!("{e}"))?;
    let mut doc = r.to_json();
    doc["tenure"] = Value::from(a);
    doc["file"] = Value::from(name);
    Ok(doc)
}

/// The header and rows of a CSV export, read like an import (errors name the line).
pub fn read_export_file(path: &Path) -> Result<(Vec<String>, Vec<tenure_model::Record>)> {
    let is_csv = tenure_import::Format::detect(path).is_ok_and(|f| f == tenure_import::Format::Csv);
    if !is_csv {
        bail!("--against {}: expected a CSV file (.csv)", path.display());
    }
    let file = tenure_import::read::open(path, tenure_import::Format::Csv, None)?;
    let mut records = Vec::new();
    for row in file.rows {
        records.push(row.map_err(|e| anyhow!("{e}"))?);
    }
    Ok((file.header, records))
}
