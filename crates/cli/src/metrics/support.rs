//! `tenure metrics support`: support metrics (SPEC 2.4) from the stored
//! tickets: first response time, FCR (strict and Freshservice), one-touch,
//! zero-touch, reopen rate, time to resolution, tickets per account.
//!
//! A ticket is in the period when its `created_at` falls in `[--from, --to)`
//! (days starting at midnight in the workspace time zone). Calendar hours
//! only; business hours are not implemented yet.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use serde_json::{Value, json};
use tenure_metrics::support;
use tenure_model::{Customer, Ticket};
use tenure_store::Workspace;

use super::voice::{Filter, Period, cell, group_by_segment, period_label, segments_of};
use crate::output;

#[derive(Args, Clone, Debug)]
pub struct SupportArgs {
    #[command(flatten)]
    pub filter: Filter,
    /// Only tickets of this channel (email, chat, ...).
    #[arg(long)]
    pub channel: Option<String>,
    /// In tables, also list the ticket ids behind each ratio.
    #[arg(long)]
    pub list: bool,
}

pub fn run(ws: &Workspace, args: SupportArgs) -> Result<ExitCode> {
    let (period, _tz) = Period::new(ws, &args.filter)?;
    let all = tenure_store::load::<Ticket>(ws)?;
    let tickets: Vec<&Ticket> = all
        .iter()
        .filter(|t| period.contains(Some(t.created_at)))
        .filter(|t| args.channel.as_ref().is_none_or(|c| t.channel.as_ref() == Some(c)))
        .collect();
    let accounts = tenure_store::load::<Customer>(ws)?.len() as u64;
    let accounts = (accounts > 0).then_some(accounts);
    let mut doc = json!({
        "metric": "support",
        "period": period.to_json(),
        "channel": args.channel,
        "hours": "calendar",
        "overall": support::support(tickets.iter().copied(), accounts).to_json(),
    });
    if let Some(attr) = &args.filter.segment {
        let seg = segments_of(ws, attr)?;
        // Accounts per segment, for tickets per account.
        let mut per_seg: BTreeMap<&str, u64> = BTreeMap::new();
        for s in seg.values() {
            *per_seg.entry(s.as_str()).or_default() += 1;
        }
        let groups = group_by_segment(&tickets, |t| t.customer_id.as_deref(), &seg);
        doc["segment_attribute"] = json!(attr);
        doc["segments"] = Value::Array(
            groups
                .iter()
                .map(|(s, ts)| {
                    let mut v = json!({ "segment": s });
                    if let (Some(o), Value::Object(m)) = (
                        v.as_object_mut(),
                        support::support(ts.iter().copied(), per_seg.get(s.as_str()).copied()).to_json(),
                    ) {
                        o.extend(m);
                    }
                    v
                })
                .collect(),
        );
    }
    if args.filter.json {
        output::json(&doc);
    } else {
        print_tables(&doc, args.list);
    }
    Ok(ExitCode::SUCCESS)
}

const ROWS: &[(&str, &str, Option<&str>)] = &[
    ("tickets", "tickets", None),
    ("resolved tickets", "resolved_tickets", None),
    ("FCR strict %", "fcr_strict_rate_pct", Some("fcr_strict_tickets")),
    ("FCR Freshservice %", "fcr_freshservice_rate_pct", Some("fcr_freshservice_tickets")),
    ("one-touch %", "one_touch_rate_pct", Some("one_touch_tickets")),
    ("zero-touch %", "zero_touch_rate_pct", Some("zero_touch_tickets")),
    ("reopen rate %", "reopen_rate_pct", Some("reopened_tickets")),
    ("replied", "replied_count", None),
    ("unreplied", "unreplied_count", Some("unreplied_tickets")),
    ("FRT from creation mean s", "frt_from_creation_mean_seconds", None),
    ("FRT from creation median s", "frt_from_creation_median_seconds", None),
    ("FRT from creation p90 s", "frt_from_creation_p90_seconds", None),
    ("FRT from hand-off mean s", "frt_from_handoff_mean_seconds", None),
    ("FRT from hand-off median s", "frt_from_handoff_median_seconds", None),
    ("FRT from hand-off p90 s", "frt_from_handoff_p90_seconds", None),
    ("resolution mean s", "time_to_resolution_mean_seconds", None),
    ("resolution median s", "time_to_resolution_median_seconds", None),
    ("resolution p90 s", "time_to_resolution_p90_seconds", None),
    ("tickets per account", "tickets_per_account", None),
    ("rated tickets", "satisfaction_rated", None),
    ("satisfaction mean", "satisfaction_average", None),
];

fn print_tables(doc: &Value, list: bool) {
    output::line(format!("Support ({}, calendar hours)", period_label(&doc["period"])));
    super::metric_by_segment_table(doc, ROWS.iter().map(|(label, key, _)| (*label, *key)), |_, v| cell(v));
    if list {
        for (label, _, ids) in ROWS {
            if let Some(ids) = ids {
                let v: Vec<String> = doc["overall"][*ids].as_array().into_iter().flatten().map(cell).collect();
                output::line(format!("{label} ({}): {}", v.len(), v.join(" ")));
            }
        }
    }
}
