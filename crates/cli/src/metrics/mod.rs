//! `tenure metrics <group>`: each group's arguments and runner live in a
//! module of its own; this file only lists them.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use tenure_store::Workspace;

pub mod engagement;
pub mod journey;
pub mod orders;
pub mod revenue;
pub mod support;
pub mod voice;

#[derive(Subcommand)]
pub enum MetricsCommand {
    /// MRR, ARR, movements, churn rates, NRR/GRR, quick ratio, LTV, CAC, cohorts.
    Revenue(revenue::RevenueArgs),
    /// NPS with standard error, confidence interval and monthly change.
    Nps(voice::NpsArgs),
    /// CSAT: top-two-box %, mean, distribution, response rate.
    Csat(voice::SurveyArgs),
    /// CES by variant, with its direction.
    Ces(voice::SurveyArgs),
    /// DAU, WAU, MAU and their ratios, per user or account, for a day or every day of a range.
    Engagement(engagement::EngagementArgs),
    /// Stickiness: actors active on exactly n days (or weeks, months) of a range, and cumulative.
    Stickiness(engagement::StickinessArgs),
    /// Sessions: count, average duration, time on platform, single-event sessions.
    Sessions(engagement::SessionsArgs),
    /// First-time and recurring retention tables by day, week or month.
    Retention(engagement::RetentionArgs),
    /// Lifecycle: new, returning, resurrecting and dormant actors per interval.
    Lifecycle(engagement::LifecycleArgs),
    /// Feature adoption: share of active accounts using each feature, breadth and depth per account.
    #[command(after_help = journey::ADOPTION_AFTER_HELP)]
    Adoption(journey::AdoptionArgs),
    /// Funnel / customer journey: ordered steps, conversion window, conversion and time to convert.
    #[command(after_help = journey::FUNNEL_AFTER_HELP)]
    Funnel(journey::FunnelArgs),
    /// Support: first response time, FCR, one-/zero-touch, reopens.
    Support(support::SupportArgs),
    /// Orders (transactional revenue): repeat purchase ratio, purchase frequency, average order value.
    Orders(orders::OrdersArgs),
}

/// Print a document with `overall` and `segments[]` (each with `segment`) as
/// one row per metric and one column per group: all, then each segment.
pub(crate) fn metric_by_segment_table<'a>(
    doc: &serde_json::Value,
    rows: impl Iterator<Item = (&'a str, &'a str)>,
    fmt: impl Fn(&str, &serde_json::Value) -> String,
) {
    let mut groups: Vec<(String, &serde_json::Value)> = vec![("all".into(), &doc["overall"])];
    for s in doc["segments"].as_array().into_iter().flatten() {
        groups.push((voice::cell(&s["segment"]), s));
    }
    let mut header: Vec<&str> = vec!["metric"];
    header.extend(groups.iter().map(|(g, _)| g.as_str()));
    let cells: Vec<Vec<String>> = rows
        .map(|(label, key)| {
            std::iter::once(label.to_string()).chain(groups.iter().map(|(_, v)| fmt(key, &v[key]))).collect()
        })
        .collect();
    crate::output::table(&header, &cells);
}

pub fn run(data: &Path, command: MetricsCommand) -> Result<ExitCode> {
    let ws = Workspace::open(data)?;
    match command {
        MetricsCommand::Revenue(args) => revenue::run(&ws, args),
        MetricsCommand::Nps(args) => voice::run(&ws, voice::Voice::Nps(args)),
        MetricsCommand::Csat(args) => voice::run(&ws, voice::Voice::Csat(args)),
        MetricsCommand::Ces(args) => voice::run(&ws, voice::Voice::Ces(args)),
        MetricsCommand::Engagement(args) => engagement::run(&ws, engagement::Engagement::Active(args)),
        MetricsCommand::Stickiness(args) => engagement::run(&ws, engagement::Engagement::Stickiness(args)),
        MetricsCommand::Sessions(args) => engagement::run(&ws, engagement::Engagement::Sessions(args)),
        MetricsCommand::Retention(args) => engagement::run(&ws, engagement::Engagement::Retention(args)),
        MetricsCommand::Lifecycle(args) => engagement::run(&ws, engagement::Engagement::Lifecycle(args)),
        MetricsCommand::Adoption(args) => journey::run_adoption(&ws, args),
        MetricsCommand::Funnel(args) => journey::run_funnel(&ws, args),
        MetricsCommand::Support(args) => support::run(&ws, args),
        MetricsCommand::Orders(args) => orders::run(&ws, args),
    }
}
