//! `support`: support metrics (SPEC 2.4) from the stored tickets: first
//! response time, FCR (strict and Freshservice), one-touch, zero-touch, reopen
//! rate, time to resolution, tickets per account, and SLA-style targets
//! (slow tickets), in calendar time and, with `--business-hours`, also in
//! the business hours of `[support]` in `tenure.toml`.
//!
//! A ticket is in the period when its `created_at` falls in `[--from, --to)`
//! (days starting at midnight in the workspace time zone). Targets are
//! evaluated at the start of `--to` when given, else now.

use std::collections::BTreeMap;

use anyhow::{Result, anyhow};
use clap::Args;
use jiff::Timestamp;
use serde_json::{Value, json};
use tenure_metrics::support::{self, SlaQuery, SupportOptions};
use tenure_model::Ticket;
use tenure_model::business_hours::{BusinessHours, parse_duration_seconds};
use tenure_store::Workspace;

use crate::filter::{Filter, Period, group_by_segment, merge, segments_of};

pub const AFTER_HELP: &str = "\
Examples:
  tenure metrics support                                    calendar time, every ticket
  tenure metrics support --business-hours                   also in business hours ([support] in tenure.toml)
  tenure metrics support --from 2025-01-01 --to 2025-04-01 --business-hours --first-response-target 4h
  tenure metrics support --segment plan_tier --json         one set of figures per plan tier

Business hours (Zendesk's schedule semantics): only time inside the open intervals of
working days counts; nights, weekends and holidays do not; a DST day counts its real
hours. Configure them in tenure.toml:
  [support]
  timezone = \"Europe/Paris\"
  days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]
  hours = \"09:00-17:00\"            # or \"09:00-12:00,13:00-17:00\"
  holidays = [\"2025-12-25\", \"2025-12-31..2026-01-01\"]
  first_response_target = \"24h\"    # replies later than this are slow tickets
  resolution_target = \"72h\"

Targets are counted on the report's clock (business time with --business-hours) and
evaluated at the start of --to (else now): a ticket still waiting is breached once
its target has passed. sla.*_breach_rate_pct = breached / (achieved + breached).";

#[derive(Args, Clone, Debug)]
pub struct SupportArgs {
    #[command(flatten)]
    pub filter: Filter,
    /// Only tickets of this channel (email, chat, ...).
    #[arg(long)]
    pub channel: Option<String>,
    /// Also count durations in business hours ([support] in tenure.toml); targets then count business time.
    #[arg(long)]
    pub business_hours: bool,
    /// SLA-style first-reply target (e.g. 4h, 90m, 1d; default: [support] first_response_target, 24h).
    #[arg(long, value_name = "DURATION")]
    pub first_response_target: Option<String>,
    /// SLA-style resolution target (e.g. 72h; default: [support] resolution_target, none).
    #[arg(long, value_name = "DURATION")]
    pub resolution_target: Option<String>,
    /// In tables, also list the ticket ids behind each ratio.
    #[arg(long)]
    pub list: bool,
}

/// The workspace's business hours (`[support]`), checked.
pub fn business_hours(ws: &Workspace) -> Result<BusinessHours> {
    let s = ws.settings();
    BusinessHours::from_settings(&s.support, &s.workspace.timezone).map_err(|e| anyhow!("tenure.toml: {e}"))
}

fn target(flag: &str, given: &Option<String>, configured: Result<Option<i64>, String>) -> Result<Option<i64>> {
    match given {
        Some(v) => Ok(Some(parse_duration_seconds(v).map_err(|e| anyhow!("{flag} {v:?}: {e}"))?)),
        None => configured.map_err(|e| anyhow!("tenure.toml: {e}")),
    }
}

/// The document of `tenure metrics support --json`.
pub fn compute(ws: &Workspace, args: &SupportArgs) -> Result<Value> {
    let (period, _tz) = Period::new(ws, &args.filter)?;
    let settings = &ws.settings().support;
    let hours = if args.business_hours { Some(business_hours(ws)?) } else { None };
    let sla = SlaQuery {
        first_response_seconds: target(
            "--first-response-target",
            &args.first_response_target,
            settings.first_response_target_seconds().map(Some),
        )?,
        resolution_seconds: target(
            "--resolution-target",
            &args.resolution_target,
            settings.resolution_target_seconds(),
        )?,
        as_of: period.to.unwrap_or_else(Timestamp::now),
    };
    let all = tenure_store::load::<Ticket>(ws)?;
    let tickets: Vec<&Ticket> = all
        .iter()
        .filter(|t| period.contains(Some(t.created_at)))
        .filter(|t| args.channel.as_ref().is_none_or(|c| t.channel.as_ref() == Some(c)))
        .collect();
    // The manifest's row count: one row per customer in the keyed table (loading
    // 1 M whole customer rows only to count them cost ~1 GB).
    let accounts = ws.rows("customers");
    let opts = |accounts: Option<u64>| SupportOptions { accounts, business_hours: hours.as_ref(), sla: Some(sla) };
    let overall = support::report(tickets.iter().copied(), opts((accounts > 0).then_some(accounts)));
    let segments = match &args.filter.segment {
        Some(attr) => {
            let seg = segments_of(ws, attr)?;
            // Accounts per segment, for tickets per account.
            let mut per_seg: BTreeMap<&str, u64> = BTreeMap::new();
            for s in seg.values() {
                *per_seg.entry(s.as_str()).or_default() += 1;
            }
            let groups = group_by_segment(&tickets, |t| t.customer_id.as_deref(), &seg);
            let reports: Vec<(String, support::Support)> = groups
                .iter()
                .map(|(s, ts)| (s.clone(), support::report(ts.iter().copied(), opts(per_seg.get(s.as_str()).copied()))))
                .collect();
            Some((attr, reports))
        }
        None => None,
    };
    // The reports hold their own ticket ids: free the tickets before the
    // document is built, so that rows, reports and document never coexist.
    drop(tickets);
    drop(all);
    let mut doc = json!({
        "metric": "support",
        "period": period.to_json(),
        "channel": args.channel,
        "hours": if hours.is_some() { "calendar and business" } else { "calendar" },
        "schedule": hours.as_ref().map(BusinessHours::to_json),
    });
    // Assigned, not written inside `json!`, which would copy the whole report.
    doc["overall"] = overall.into_json();
    if let Some((attr, reports)) = segments {
        doc["segment_attribute"] = json!(attr);
        doc["segments"] = Value::Array(
            reports
                .into_iter()
                .map(|(s, report)| {
                    let mut v = json!({ "segment": s });
                    merge(&mut v, report.into_json());
                    v
                })
                .collect(),
        );
    }
    Ok(doc)
}
