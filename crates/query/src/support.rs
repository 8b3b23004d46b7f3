//! `support`: support metrics (SPEC 2.4) from the stored tickets: first
//! response time, FCR (strict and Freshservice), one-touch, zero-touch, reopen
//! rate, time to resolution, tickets per account.
//!
//! A ticket is in the period when its `created_at` falls in `[--from, --to)`
//! (days starting at midnight in the workspace time zone). Calendar hours
//! only; business hours are not implemented yet.

use std::collections::BTreeMap;

use anyhow::Result;
use clap::Args;
use serde_json::{Value, json};
use tenure_metrics::support;
use tenure_model::{Customer, Ticket};
use tenure_store::Workspace;

use crate::filter::{Filter, Period, group_by_segment, merge, segments_of};

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

/// The document of `tenure metrics support --json`.
pub fn compute(ws: &Workspace, args: &SupportArgs) -> Result<Value> {
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
                    merge(&mut v, support::support(ts.iter().copied(), per_seg.get(s.as_str()).copied()).to_json());
                    v
                })
                .collect(),
        );
    }
    Ok(doc)
}
