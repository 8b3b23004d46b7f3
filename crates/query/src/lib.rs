//! The one query layer (DESIGN: "the server and CLI as thin adapters over one
//! query layer"): each metric group's arguments and its computation from a
//! workspace, returning the JSON document that `tenure metrics <group> --json`
//! prints and `GET /api/v1/metrics/{group}` serves. Rendering as text tables or
//! CSV stays in the CLI; HTTP concerns stay in the server.

use anyhow::Result;
use clap::{FromArgMatches, Parser, Subcommand};
use serde_json::Value;
use tenure_store::Workspace;

pub mod account;
pub mod cache;
pub mod churn;
pub mod engagement;
pub mod filter;
pub mod health;
pub mod journey;
pub mod ledger;
pub mod orders;
pub mod reconcile;
pub mod revenue;
pub mod rollup;
pub mod session_rollup;
pub mod support;
pub mod voice;

/// What the unit tests of several modules share.
#[cfg(test)]
pub(crate) mod testing {
    use serde_json::Value;
    use tenure_model::{Entity, Record};
    use tenure_store::Workspace;

    /// An empty workspace in a temporary directory (removed with the `TempDir`).
    pub fn workspace() -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ws");
        Workspace::init(&root).unwrap();
        let ws = Workspace::open(&root).unwrap();
        (dir, ws)
    }

    /// Entities from JSON rows, as an import parses them (row n on line n).
    pub fn rows<E: Entity>(lines: &[Value]) -> Vec<E> {
        lines
            .iter()
            .enumerate()
            .map(|(i, v)| E::from_record(&Record::new(i as u64 + 1, v.as_object().unwrap().clone())).unwrap())
            .collect()
    }
}

/// One metric group and its arguments: the subcommands of `tenure metrics`,
/// and the `{group}` of `GET /api/v1/metrics/{group}` (whose query parameters
/// are parsed as the same flags, so both interfaces accept and reject the same
/// things with the same messages).
#[derive(Subcommand, Clone, Debug)]
pub enum MetricQuery {
    /// MRR, ARR, movements, churn rates, NRR/GRR, quick ratio, LTV, CAC, cohorts.
    Revenue(revenue::RevenueArgs),
    /// NPS with standard error, confidence interval and monthly change.
    Nps(voice::NpsArgs),
    /// CSAT: top-two-box %, mean, distribution, response rate.
    Csat(voice::SurveyArgs),
    /// CES by variant, with its direction.
    Ces(voice::SurveyArgs),
    /// DAU, WAU, MAU and their ratios, per user or account, for a day or every day of a range.
    #[command(after_help = engagement::SEGMENT_AFTER_HELP)]
    Engagement(engagement::EngagementArgs),
    /// Stickiness: actors active on exactly n days (or weeks, months) of a range, and cumulative.
    #[command(after_help = engagement::SEGMENT_AFTER_HELP)]
    Stickiness(engagement::StickinessArgs),
    /// Sessions: count, average duration, time on platform, single-event sessions.
    #[command(after_help = engagement::SEGMENT_AFTER_HELP)]
    Sessions(engagement::SessionsArgs),
    /// First-time and recurring retention tables by day, week or month.
    #[command(after_help = engagement::SEGMENT_AFTER_HELP)]
    Retention(engagement::RetentionArgs),
    /// Lifecycle: new, returning, resurrecting and dormant actors per interval.
    #[command(after_help = engagement::SEGMENT_AFTER_HELP)]
    Lifecycle(engagement::LifecycleArgs),
    /// Feature adoption: share of active accounts using each feature, breadth and depth per account.
    #[command(after_help = journey::ADOPTION_AFTER_HELP)]
    Adoption(journey::AdoptionArgs),
    /// Funnel / customer journey: ordered steps, conversion window, conversion and time to convert.
    #[command(after_help = journey::FUNNEL_AFTER_HELP)]
    Funnel(journey::FunnelArgs),
    /// Support: first response time, FCR, one-/zero-touch, reopens, SLA targets, business hours.
    #[command(after_help = support::AFTER_HELP)]
    Support(support::SupportArgs),
    /// Orders (transactional revenue): repeat purchase ratio, purchase frequency, average order value.
    Orders(orders::OrdersArgs),
}

impl MetricQuery {
    /// The group's name, as typed after `tenure metrics`.
    pub fn name(&self) -> &'static str {
        match self {
            MetricQuery::Revenue(_) => "revenue",
            MetricQuery::Nps(_) => "nps",
            MetricQuery::Csat(_) => "csat",
            MetricQuery::Ces(_) => "ces",
            MetricQuery::Engagement(_) => "engagement",
            MetricQuery::Stickiness(_) => "stickiness",
            MetricQuery::Sessions(_) => "sessions",
            MetricQuery::Retention(_) => "retention",
            MetricQuery::Lifecycle(_) => "lifecycle",
            MetricQuery::Adoption(_) => "adoption",
            MetricQuery::Funnel(_) => "funnel",
            MetricQuery::Support(_) => "support",
            MetricQuery::Orders(_) => "orders",
        }
    }

    /// The group and its flags from name/value pairs (a URL's query string):
    /// `from=2024-01` is `--from 2024-01`; a flag without a value, or with
    /// `true`, is a switch (`list`, `list=true`); `false` leaves a switch off;
    /// a repeated name repeats the flag (`set=a=b&set=c=d`).
    pub fn from_params(group: &str, params: &[(String, String)]) -> Result<MetricQuery, String> {
        let mut argv: Vec<String> = vec![group.to_string()];
        for (k, v) in params {
            let flag = format!("--{}", k.replace('_', "-"));
            match v.as_str() {
                "" | "true" => argv.push(flag),
                "false" => {}
                _ => argv.extend([flag, v.clone()]),
            }
        }
        MetricQuery::from_args(argv)
    }

    /// The group and its flags from the words typed after `tenure metrics`
    /// (`["retention", "--period", "month"]`), with the CLI's messages.
    pub fn from_args<I: IntoIterator<Item = String>>(argv: I) -> Result<MetricQuery, String> {
        #[derive(Parser)]
        #[command(name = "metrics", no_binary_name = true, disable_help_subcommand = true)]
        struct Wrapper {
            #[command(subcommand)]
            query: MetricQuery,
        }
        let cmd = <Wrapper as clap::CommandFactory>::command();
        let matches = cmd.try_get_matches_from(argv).map_err(|e| e.render().to_string())?;
        Wrapper::from_arg_matches(&matches).map(|w| w.query).map_err(|e| e.render().to_string())
    }
}

/// The JSON document of one metric group: what `tenure metrics <group> --json`
/// prints and `GET /api/v1/metrics/{group}` returns.
pub fn compute(ws: &Workspace, query: &MetricQuery) -> Result<Value> {
    use engagement::Engagement;
    match query {
        MetricQuery::Revenue(a) => revenue::compute(ws, a),
        MetricQuery::Nps(a) => voice::compute(ws, voice::Voice::Nps(a)),
        MetricQuery::Csat(a) => voice::compute(ws, voice::Voice::Csat(a)),
        MetricQuery::Ces(a) => voice::compute(ws, voice::Voice::Ces(a)),
        MetricQuery::Engagement(a) => engagement::compute(ws, Engagement::Active(a)),
        MetricQuery::Stickiness(a) => engagement::compute(ws, Engagement::Stickiness(a)),
        MetricQuery::Sessions(a) => engagement::compute(ws, Engagement::Sessions(a)),
        MetricQuery::Retention(a) => engagement::compute(ws, Engagement::Retention(a)),
        MetricQuery::Lifecycle(a) => engagement::compute(ws, Engagement::Lifecycle(a)),
        MetricQuery::Adoption(a) => journey::adoption_doc(ws, a),
        MetricQuery::Funnel(a) => journey::funnel_doc(ws, a),
        MetricQuery::Support(a) => support::compute(ws, a),
        MetricQuery::Orders(a) => orders::compute(ws, a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn query_parameters_parse_as_the_cli_flags() {
        let q =
            MetricQuery::from_params("revenue", &params(&[("from", "2024-01"), ("set", "gross_margin=0.8")])).unwrap();
        let MetricQuery::Revenue(a) = q else { panic!("revenue expected") };
        assert_eq!(a.from.as_deref(), Some("2024-01"));
        assert_eq!(a.set, vec!["gross_margin=0.8".to_string()]);

        let q =
            MetricQuery::from_params("sessions", &params(&[("list", ""), ("breakdown", "false"), ("by", "account")]))
                .unwrap();
        let MetricQuery::Sessions(a) = q else { panic!("sessions expected") };
        assert!(a.list && !a.breakdown);
        assert_eq!(a.timeout, 1800, "the CLI default applies");
        assert_eq!(a.range.by, engagement::By::Account);
    }

    #[test]
    fn bad_parameters_are_the_cli_errors() {
        let e = MetricQuery::from_params("nope", &[]).unwrap_err();
        assert!(e.contains("nope"), "{e}");
        let e = MetricQuery::from_params("engagement", &params(&[("from", "yesterday")])).unwrap_err();
        assert!(e.contains("--from"), "{e}");
        let e = MetricQuery::from_params("nps", &params(&[("detractor_max", "9")])).unwrap_err();
        assert!(e.contains("9"), "{e}");
    }
}
