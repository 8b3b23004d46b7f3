//! `tenure metrics revenue`: MRR, movements, churn, NRR/GRR, cohorts (SPEC 2.1)
//! from the stored subscription events, FX rates, invoices (refunds) and costs.

use std::collections::{BTreeSet, HashMap};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use jiff::civil::Date;
use serde_json::Value;
use tenure_metrics::revenue::{self, FxTable, MonthIdx, ReportInputs, Rules};
use tenure_model::settings::RevenueSettings;
use tenure_model::{Cancellation, Cost, Customer, FxRate, Invoice, Plan, SubscriptionEvent};
use tenure_store::Workspace;

use crate::output;

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
    /// Override a [revenue] setting for this run, e.g. --set churn_recognition=at_request (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Print the JSON document {"months": {...}, "cohorts": {...}}.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Print one CSV row per month.
    #[arg(long)]
    pub csv: bool,
}

/// Apply one `key=value` override to the revenue settings.
fn apply_override(s: &mut RevenueSettings, kv: &str) -> Result<()> {
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
             cac_spend_lag_months)"
        ),
    }
    Ok(())
}

fn parse_month(s: &str, flag: &str) -> Result<MonthIdx> {
    let d = tenure_model::time::parse_month(s).map_err(|e| anyhow!("{flag}: {e}"))?;
    Ok(revenue::month_idx(d))
}

pub fn run(ws: &Workspace, args: RevenueArgs) -> Result<ExitCode> {
    let mut settings = ws.settings().clone();
    for kv in &args.set {
        apply_override(&mut settings.revenue, kv)?;
    }
    settings.validate().map_err(|e| anyhow!("{e}"))?;
    let rules = Rules::from_settings(&settings.revenue).map_err(|e| anyhow!("{e}"))?;

    let events = tenure_store::load::<SubscriptionEvent>(ws)?;
    let plans = tenure_store::load::<Plan>(ws)?;
    let rates = tenure_store::load::<FxRate>(ws)?;
    let invoices = tenure_store::load::<Invoice>(ws)?;
    let costs = tenure_store::load::<Cost>(ws)?;
    let cancellations = tenure_store::load::<Cancellation>(ws)?;

    let fx = FxTable::new(settings.workspace.reporting_currency, &rates);
    let ledger =
        revenue::build_all(&events, &invoices, &cancellations, &plans, &rules, &fx).map_err(|e| anyhow!("{e}"))?;
    // The months of the data: from the first to the last event date (scheduled
    // ends and discount expiries after it are shown only when asked for with --to).
    let dates = || events.iter().map(|e| e.date).chain(invoices.iter().map(|i| i.date));
    let range = dates().min().zip(dates().max());
    let from = match &args.from {
        Some(s) => parse_month(s, "--from")?,
        None => revenue::month_idx(range.ok_or_else(no_data)?.0),
    };
    let to = match &args.to {
        Some(s) => parse_month(s, "--to")?,
        None => revenue::month_idx(range.ok_or_else(no_data)?.1),
    };
    if let Some(month) = &args.explain {
        let m = parse_month(month, "--explain")?;
        let kind = match &args.movement {
            Some(k) => Some(revenue::MovementKind::parse(k).ok_or_else(|| {
                anyhow!("--movement {k}: one of new_business, expansion, contraction, churn, reactivation")
            })?),
            None => None,
        };
        let v = revenue::explain(&ledger, m, kind);
        if args.json {
            output::json(&v);
        } else {
            print_explain(&v);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let as_of = args.as_of.unwrap_or_else(|| jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date());
    let inputs = ReportInputs {
        ledger: &ledger,
        fx: &fx,
        invoices: &invoices,
        costs: &costs,
        gross_margin: settings.revenue.gross_margin,
        cac_spend_lag_months: settings.revenue.cac_spend_lag_months,
        as_of,
        tz: jiff::tz::TimeZone::get(&settings.workspace.timezone)
            .with_context(|| format!("time zone {}", settings.workspace.timezone))?,
    };
    let mut report = revenue::month_report(&inputs, from, to).map_err(|e| anyhow!("{e}"))?;
    let mut parts: Vec<(String, Value)> = Vec::new();
    if let Some(attr) = &args.segment {
        // Segments: the same figures over each attribute value's customers
        // ("(none)" for customers without it). Spend is not split by segment, so
        // CAC, CAC payback and retention cost are null there.
        let customers = tenure_store::load::<Customer>(ws)?;
        let value_of: HashMap<&str, String> =
            customers.iter().filter_map(|c| attribute(c, attr).map(|v| (c.id.as_str(), v))).collect();
        let none = "(none)".to_string();
        let seg_of = |id: &str| value_of.get(id).unwrap_or(&none).clone();
        let values: BTreeSet<String> = ledger.customers.iter().map(|c| seg_of(&c.customer_id)).collect();
        let mut segments = serde_json::Map::new();
        for v in values {
            let sub = ledger.subset(|id| seg_of(id) == v);
            let invs: Vec<Invoice> = invoices.iter().filter(|i| seg_of(&i.customer_id) == v).cloned().collect();
            let inp = ReportInputs { ledger: &sub, invoices: &invs, costs: &[], tz: inputs.tz.clone(), ..inputs };
            let mut r = revenue::month_report(&inp, from, to).map_err(|e| anyhow!("{e}"))?;
            if let Some(months) = r["months"].as_object_mut() {
                for m in months.values_mut() {
                    for k in ["cac_cents", "cac_payback_months", "retention_cost_cents"] {
                        m[k] = Value::Null;
                    }
                }
            }
            parts.push((format!("{attr} = {v}"), r.clone()));
            segments.insert(v, r);
        }
        report["segments"] = Value::Object(segments);
    }
    let currency = settings.workspace.reporting_currency.as_str();
    if args.json {
        output::json(&report);
    } else if args.csv {
        print_csv(&report, &parts);
    } else {
        print_table(&report, currency, "all customers");
        for (title, r) in &parts {
            output::line("");
            print_table(r, currency, title);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn no_data() -> anyhow::Error {
    anyhow!(
        "no subscription events or invoices in the workspace: import some with \
         `tenure import subscription_events FILE` (or `tenure import invoices FILE`)"
    )
}

/// The month keys in output order, movements flattened as `movements.<type>`.
fn flat_keys(month: &Value) -> Vec<String> {
    let mut keys = Vec::new();
    if let Some(o) = month.as_object() {
        for (k, v) in o {
            match v {
                Value::Object(inner) => keys.extend(inner.keys().map(|ik| format!("{k}.{ik}"))),
                _ => keys.push(k.clone()),
            }
        }
    }
    keys
}

fn get<'a>(month: &'a Value, key: &str) -> &'a Value {
    match key.split_once('.') {
        Some((a, b)) => &month[a][b],
        None => &month[key],
    }
}

/// One CSV row per month (and per segment, after the overall rows, with a
/// leading `segment` column when --segment is given).
fn print_csv(report: &Value, segments: &[(String, Value)]) {
    let Some(months) = report["months"].as_object() else { return };
    let Some(first) = months.values().next() else { return };
    let keys = flat_keys(first);
    let seg_col = if segments.is_empty() { "" } else { "segment," };
    output::line(format!("{seg_col}month,{}", keys.join(",")));
    let rows = |seg: Option<&str>, months: &serde_json::Map<String, Value>| {
        for (label, m) in months {
            let cells: Vec<String> = keys
                .iter()
                .map(|k| match get(m, k) {
                    Value::Null => String::new(),
                    v => v.to_string(),
                })
                .collect();
            let prefix = seg.map(|s| format!("{},", csv_field(s))).unwrap_or_default();
            output::line(format!("{prefix}{label},{}", cells.join(",")));
        }
    };
    rows(if segments.is_empty() { None } else { Some("") }, months);
    for (title, r) in segments {
        if let Some(ms) = r["months"].as_object() {
            rows(Some(title), ms);
        }
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

/// A customer attribute as text: a named field or an extra attribute.
fn attribute(c: &Customer, name: &str) -> Option<String> {
    let field = match name {
        "segment" => c.segment.clone(),
        "plan_tier" => c.plan_tier.clone(),
        "country" => c.country.clone(),
        "owner" => c.owner.clone(),
        "company" => c.company.clone(),
        _ => None,
    };
    field.or_else(|| match c.attributes.get(name)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        v => Some(v.to_string()),
    })
}

fn print_explain(v: &Value) {
    output::line(format!("Movements in {}:", v["month"].as_str().unwrap_or("")));
    let rows = v["movements"].as_array().cloned().unwrap_or_default();
    if rows.is_empty() {
        output::line("  (none)");
    }
    for r in &rows {
        output::line(format!(
            "  {:<12} {:<20} {:<13} {:>12.2}",
            r["date"].as_str().unwrap_or(""),
            r["customer_id"].as_str().unwrap_or(""),
            r["type"].as_str().unwrap_or(""),
            r["amount_cents"].as_f64().unwrap_or(0.0) / 100.0
        ));
    }
    for (key, title) in [
        ("subscribers_start", "Subscribers at the start"),
        ("subscribers", "Subscribers at the end"),
        ("past_due_subscribers", "Past-due subscribers at the end"),
    ] {
        let ids: Vec<&str> =
            v[key].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        output::line(format!("{title} ({}): {}", ids.len(), ids.join(", ")));
    }
}

fn print_table(report: &Value, currency: &str, title: &str) {
    let Some(months) = report["months"].as_object() else { return };
    let money = |v: &Value| v.as_f64().map_or("-".to_string(), |c| format!("{:.2}", c / 100.0));
    let rate = |v: &Value| v.as_f64().map_or("-".to_string(), |r| format!("{:.2}%", r * 100.0));
    let count = |v: &Value| v.as_u64().map_or("-".to_string(), |n| n.to_string());
    let header = [
        "month",
        "MRR",
        "net new",
        "new",
        "expansion",
        "contraction",
        "churn",
        "reactiv.",
        "FX",
        "subs",
        "cust churn",
        "MRR churn",
        "NRR",
        "ARPA",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    for (label, m) in months {
        let mv = &m["movements"];
        rows.push(vec![
            label.clone(),
            money(&m["mrr_cents"]),
            money(&m["net_new_mrr_cents"]),
            money(&mv["new_business"]),
            money(&mv["expansion"]),
            money(&mv["contraction"]),
            money(&mv["churn"]),
            money(&mv["reactivation"]),
            money(&m["fx_impact_cents"]),
            count(&m["subscribers"]),
            rate(&m["customer_churn_rate"]),
            rate(&m["gross_mrr_churn_rate"]),
            rate(&m["nrr"]),
            money(&m["arpa_cents"]),
        ]);
    }
    let widths: Vec<usize> = (0..header.len()).map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0)).collect();
    output::line(format!("Revenue, {title} (money in {currency}, rates in %; - = no denominator)"));
    for (n, r) in rows.iter().enumerate() {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| if i == 0 { format!("{c:<w$}", w = widths[i]) } else { format!("{c:>w$}", w = widths[i]) })
            .collect();
        output::line(cells.join("  "));
        if n == 0 {
            output::line(widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  "));
        }
    }
}
