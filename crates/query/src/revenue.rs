//! `revenue`: MRR, movements, churn, NRR/GRR, cohorts (SPEC 2.1)
//! from the stored subscription events, FX rates, invoices (refunds) and costs.

use std::collections::{BTreeSet, HashMap};

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use jiff::civil::Date;
use serde_json::Value;
use tenure_metrics::revenue::{self, MonthIdx, ReportInputs, Rules};
use tenure_model::settings::RevenueSettings;
use tenure_model::{Customer, Invoice};
use tenure_store::Workspace;

use crate::filter::attribute;
use crate::ledger::RevenueData;

#[derive(Args, Clone, Debug, Default)]
pub struct RevenueArgs {
    /// First month (YYYY-MM; default: the first month of the data).
    #[arg(long, value_name = "YYYY-MM")]
    pub from: Option<String>,
    /// Last month, included (YYYY-MM; default: the last month of the data).
    #[arg(long, value_name = "YYYY-MM")]
    pub to: Option<String>,
    /// Evaluation date of trial-to-paid conversion (default: today, UTC).
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<Date>,
    /// Also cut every figure by this customer attribute (segment, plan_tier, country, owner, or any extra attribute).
    #[arg(long, value_name = "ATTR")]
    pub segment: Option<String>,
    /// List the customers and movements behind one month's figures (YYYY-MM).
    #[arg(long, value_name = "YYYY-MM")]
    pub explain: Option<String>,
    /// With --explain: only this movement type (new_business, expansion, contraction, churn, reactivation).
    #[arg(long, value_name = "TYPE", requires = "explain")]
    pub movement: Option<String>,
    /// Reproduce another tool's numbers: chartmogul, stripe, profitwell or baremetrics (docs/presets.md); rules written in tenure.toml and --set win.
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    /// Override a [revenue] setting for this run, e.g. --set churn_recognition=at_request (repeatable);
    /// also reporting_currency and timezone of [workspace].
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

/// Apply one `key=value` override to the revenue settings.
pub fn apply_override(s: &mut RevenueSettings, kv: &str) -> Result<()> {
    let (k, v) = kv.split_once('=').ok_or_else(|| anyhow!("--set {kv:?}: expected KEY=VALUE"))?;
    let (k, v) = (k.trim(), v.trim());
    let opt_u32 = |v: &str| -> Result<Option<u32>> {
        if v.is_empty() || v == "none" {
            Ok(None)
        } else {
            Ok(Some(v.parse().with_context(|| format!("--set {k}={v}: expected a whole number or none"))?))
        }
    };
    match k {
        "churn_recognition" => s.churn_recognition = v.into(),
        "discount_policy" => s.discount_policy = v.into(),
        "free_plan_handling" => s.free_plan_handling = v.into(),
        "same_month_new_churn" => s.same_month_new_churn = v.into(),
        "delinquency_auto_churn_days" => s.delinquency_auto_churn_days = opt_u32(v)?,
        "reactivation_window_days" => s.reactivation_window_days = opt_u32(v)?,
        "cac_spend_lag_months" => s.cac_spend_lag_months = opt_u32(v)?.unwrap_or(0),
        "gross_margin" => {
            s.gross_margin = if v == "none" {
                None
            } else {
                Some(v.parse().with_context(|| format!("--set gross_margin={v}: expected a decimal such as 0.8"))?)
            }
        }
        other => bail!(
            "--set {other}: unknown revenue setting (one of churn_recognition, delinquency_auto_churn_days, \
             discount_policy, free_plan_handling, reactivation_window_days, same_month_new_churn, gross_margin, \
             cac_spend_lag_months, reporting_currency, timezone)"
        ),
    }
    // A rule given on the command line is explicit: a preset never overrides it.
    s.give(k);
    Ok(())
}

fn parse_month(s: &str, flag: &str) -> Result<MonthIdx> {
    let d = tenure_model::time::parse_month(s).map_err(|e| anyhow!("{flag}: {e}"))?;
    Ok(revenue::month_idx(d))
}

/// What every revenue computation starts from, with the query's rules
/// (preset, `--set`) applied: also what the scale-out engine builds its
/// ledger tables from, so both engines read the same inputs.
pub struct Prepared {
    pub settings: tenure_model::settings::Settings,
    pub data: std::sync::Arc<RevenueData>,
    pub fx: revenue::FxTable,
    pub ledger: revenue::Ledger,
    pub from: MonthIdx,
    pub to: MonthIdx,
    /// The evaluation date of trial-to-paid conversion.
    pub as_of: Date,
    pub tz: jiff::tz::TimeZone,
}

impl Prepared {
    /// The inputs of [`revenue::month_report`] for all customers.
    pub fn inputs(&self) -> ReportInputs<'_> {
        ReportInputs {
            ledger: &self.ledger,
            fx: &self.fx,
            invoices: &self.data.invoices,
            costs: &self.data.costs,
            gross_margin: self.settings.revenue.gross_margin,
            cac_spend_lag_months: self.settings.revenue.cac_spend_lag_months,
            as_of: self.as_of,
            tz: self.tz.clone(),
        }
    }
}

/// Load the data and build the ledger under the query's rules; resolve the months.
pub fn prepare(ws: &Workspace, args: &RevenueArgs) -> Result<Prepared> {
    let mut settings = ws.settings().clone();
    if let Some(p) = &args.preset {
        settings.revenue.apply_preset(p).map_err(|e| anyhow!("--preset: {e}"))?;
    }
    for kv in &args.set {
        // The reporting currency and time zone live in [workspace] (every metric
        // group reports in them) but are revenue settings too (issue 4).
        match kv.split_once('=').map(|(k, v)| (k.trim(), v.trim())) {
            Some(("reporting_currency", v)) => {
                settings.workspace.reporting_currency =
                    v.parse().map_err(|e| anyhow!("--set reporting_currency={v}: {e}"))?;
            }
            Some(("timezone", v)) => settings.workspace.timezone = v.to_string(),
            _ => apply_override(&mut settings.revenue, kv)?,
        }
    }
    settings.validate().map_err(|e| anyhow!("{e}"))?;
    let rules = Rules::from_settings(&settings.revenue).map_err(|e| anyhow!("{e}"))?;

    let data = RevenueData::shared_for_revenue(ws)?;
    let fx = data.fx(settings.workspace.reporting_currency);
    let ledger = data.ledger(&rules, &fx)?;
    // The months of the data: from the first to the last event date (scheduled
    // ends and discount expiries after it are shown only when asked for with --to).
    let range = data.date_range();
    let from = match &args.from {
        Some(s) => parse_month(s, "--from")?,
        None => revenue::month_idx(range.ok_or_else(no_data)?.0),
    };
    let to = match &args.to {
        Some(s) => parse_month(s, "--to")?,
        None => revenue::month_idx(range.ok_or_else(no_data)?.1),
    };
    let as_of = args.as_of.unwrap_or_else(|| jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date());
    let tz = jiff::tz::TimeZone::get(&settings.workspace.timezone)
        .with_context(|| format!("time zone {}", settings.workspace.timezone))?;
    Ok(Prepared { settings, data, fx, ledger, from, to, as_of, tz })
}

/// The value of a customer attribute for each customer id that has it.
pub fn segment_of(ws: &Workspace, attr: &str) -> Result<HashMap<String, String>> {
    let customers = tenure_store::load::<Customer>(ws)?;
    Ok(customers.iter().filter_map(|c| attribute(c, attr).map(|v| (c.id.clone(), v))).collect())
}

/// The document of `tenure metrics revenue --json`: `{"months", "cohorts", ...}`
/// with `segments` when cut by an attribute, or the movements behind one month
/// with `--explain`.
pub fn compute(ws: &Workspace, args: &RevenueArgs) -> Result<Value> {
    let p = prepare(ws, args)?;
    let (ledger, from, to) = (&p.ledger, p.from, p.to);
    if let Some(month) = &args.explain {
        let m = parse_month(month, "--explain")?;
        let kind = match &args.movement {
            Some(k) => Some(revenue::MovementKind::parse(k).ok_or_else(|| {
                anyhow!("--movement {k}: one of new_business, expansion, contraction, churn, reactivation")
            })?),
            None => None,
        };
        return Ok(revenue::explain(ledger, m, kind));
    }
    let inputs = p.inputs();
    let mut report = revenue::month_report(&inputs, from, to).map_err(|e| anyhow!("{e}"))?;
    report["reporting_currency"] = Value::from(p.settings.workspace.reporting_currency.as_str());
    if let Some(attr) = &args.segment {
        // Segments: the same figures over each attribute value's customers
        // ("(none)" for customers without it). Spend is not split by segment, so
        // CAC, CAC payback and retention cost are null there.
        let value_of = segment_of(ws, attr)?;
        let none = crate::filter::NONE.to_string();
        let seg_of = |id: &str| value_of.get(id).unwrap_or(&none).clone();
        let values: BTreeSet<String> = ledger.customers.iter().map(|c| seg_of(&c.customer_id)).collect();
        let mut segments = serde_json::Map::new();
        for v in values {
            let sub = ledger.subset(|id| seg_of(id) == v);
            let invs: Vec<Invoice> = p.data.invoices.iter().filter(|i| seg_of(&i.customer_id) == v).cloned().collect();
            let inp = ReportInputs { ledger: &sub, invoices: &invs, costs: &[], tz: inputs.tz.clone(), ..inputs };
            let mut r = revenue::month_report(&inp, from, to).map_err(|e| anyhow!("{e}"))?;
            if let Some(months) = r["months"].as_object_mut() {
                for m in months.values_mut() {
                    for k in ["cac_cents", "cac_payback_months", "retention_cost_cents"] {
                        m[k] = Value::Null;
                    }
                }
            }
            segments.insert(v, r);
        }
        report["segment_attribute"] = Value::from(attr.as_str());
        report["segments"] = Value::Object(segments);
    }
    Ok(report)
}

fn no_data() -> anyhow::Error {
    anyhow!(
        "no subscription events or invoices in the workspace: import some with \
         `tenure import subscription_events FILE` (or `tenure import invoices FILE`)"
    )
}
