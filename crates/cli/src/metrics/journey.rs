//! `tenure metrics adoption|funnel`: feature adoption and the customer
//! journey (SPEC 2.2, seed 004) from the stored usage events, on the same
//! compact event table as the other engagement metrics.

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;
use jiff::civil::Date;
use serde_json::Value;
use tenure_metrics::engagement::events::EVENT_COLUMNS_WITH_NAME;
use tenure_metrics::engagement::{ActiveEvent, EVENT_COLUMNS, FunnelQuery, Step, adoption, funnel};
use tenure_store::Workspace;

use super::engagement::{RangeArgs, day_range, dec2, header, load, opt, table, time_zone};
use crate::output;

pub const ADOPTION_AFTER_HELP: &str = "\
Examples:
  tenure metrics adoption                                   every feature over all the data
  tenure metrics adoption --from 2025-01-01 --to 2025-04-01 a quarter (--to is exclusive)
  tenure metrics adoption --list --json                     with each account's breadth and depth

A feature is a track event name; an account is active when it did a qualifying event
(--event; default any track) in the range. adoption_pct = accounts that used the feature /
active accounts x 100 (null when none is active).";

pub const FUNNEL_AFTER_HELP: &str = "\
Examples:
  tenure metrics funnel                                     the default journey (see below)
  tenure metrics funnel --steps 'page:Home,Report Created,Invite Sent' --window 7d
  tenure metrics funnel --by account --json

Steps: a track event name; page:NAME (a page view with that name); $pageview (any page
view); $identify (an identify call: a sign-up). Ordered funnel as in PostHog: an actor
enters at its first step-1 event in the range; each later step counts when done after
the previous one and within --window of the entry (exactly at the window counts).
Default journey: $identify (signed up) -> Dashboard Viewed (first use) -> Report Created
(activated) -> Invite Sent (referred a teammate).";

/// The default customer journey on the demo data (seed 004), with labels.
pub const DEFAULT_JOURNEY: [(&str, &str); 4] = [
    ("$identify", "signed_up"),
    ("Dashboard Viewed", "first_use"),
    ("Report Created", "activated"),
    ("Invite Sent", "referred"),
];

#[derive(Args, Clone, Debug)]
pub struct AdoptionArgs {
    /// First local day included (YYYY-MM-DD); default: the first day with events.
    #[arg(long, value_name = "DATE")]
    pub from: Option<Date>,
    /// First local day excluded (YYYY-MM-DD, exclusive end); default: the day after the last day with events.
    #[arg(long, value_name = "DATE")]
    pub to: Option<Date>,
    /// Where days start: an IANA time zone (default: the workspace's `timezone`).
    #[arg(long, value_name = "TZ")]
    pub timezone: Option<String>,
    /// The event that makes an account active: a track event name, or `*` for any event (default: any track).
    #[arg(long, value_name = "NAME")]
    pub event: Option<String>,
    /// Drill down: each active account's breadth and depth, and each feature's accounts.
    #[arg(long)]
    pub list: bool,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Clone, Debug)]
pub struct FunnelArgs {
    #[command(flatten)]
    pub range: RangeArgs,
    /// Comma-separated steps in order (default: the journey described below).
    #[arg(long, value_name = "A,B,C")]
    pub steps: Option<String>,
    /// Conversion window from the first step: a number with d (days), h, m, s or w (default 14d; a bare number is days).
    #[arg(long, default_value = "14d", value_name = "DURATION")]
    pub window: String,
    /// Drill down: the actors who reached each step.
    #[arg(long)]
    pub list: bool,
}

/// `14d`, `36h`, `90m`, `600s`, `2w`, or a bare number of days, as microseconds.
pub fn parse_window(s: &str) -> Result<i64> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "d"),
    };
    let n: i64 = num.parse().map_err(|_| anyhow::anyhow!("--window {s:?}: expected e.g. 14d, 36h, 90m, 600s"))?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => bail!("--window {s:?}: the unit must be s, m, h, d or w"),
    };
    Ok(n * secs * 1_000_000)
}

pub fn run_adoption(ws: &Workspace, a: AdoptionArgs) -> Result<ExitCode> {
    let r = RangeArgs { from: a.from, to: a.to, timezone: a.timezone.clone(), json: a.json, ..RangeArgs::default() };
    let (tzname, tz) = time_zone(ws, &r)?;
    let active = ActiveEvent::from_option(a.event.as_deref());
    let t = load(ws, tz, active.clone(), EVENT_COLUMNS)?;
    let range = day_range(&t, &r)?;
    let res = adoption(&t, range.0, range.1);
    let body = res.to_json(a.list);
    if a.json {
        let mut o = header("adoption", range, &tzname, &r);
        o["by"] = Value::from("account");
        o["active_event"] = Value::from(active.to_string());
        for (k, v) in body.as_object().expect("object") {
            o[k] = v.clone();
        }
        output::json(&o);
        return Ok(ExitCode::SUCCESS);
    }
    output::line(format!(
        "Feature adoption: {} active account(s) ({active}; days in {tzname}); {} feature(s) used; breadth mean {}, median {}",
        res.active_accounts,
        res.features_used,
        dec2(&body["average_breadth"]),
        dec2(&body["median_breadth"]),
    ));
    let rows: Vec<Vec<String>> = body["features"]
        .as_array()
        .expect("array")
        .iter()
        .map(|f| {
            vec![opt(&f["feature"]), opt(&f["accounts"]), dec2(&f["adoption_pct"]), opt(&f["uses"]), opt(&f["users"])]
        })
        .collect();
    table(&["feature", "accounts", "adoption_pct", "uses", "users"], &rows);
    if a.list {
        output::line("");
        let rows: Vec<Vec<String>> = res
            .accounts
            .iter()
            .map(|acc| {
                let depth = acc.depth.iter().map(|(f, n)| format!("{f}: {n}")).collect::<Vec<_>>().join(", ");
                let upf = acc.uses_per_feature.map_or_else(|| "-".to_string(), |d| format!("{d:.2}"));
                vec![acc.account.clone(), acc.breadth.to_string(), acc.total_uses.to_string(), upf, depth]
            })
            .collect();
        table(&["account", "breadth", "total_uses", "uses_per_feature", "depth"], &rows);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run_funnel(ws: &Workspace, a: FunnelArgs) -> Result<ExitCode> {
    let (names, labels): (Vec<String>, Vec<Option<&str>>) = match &a.steps {
        Some(s) => (s.split(',').map(|x| x.trim().to_string()).collect(), Vec::new()),
        None => DEFAULT_JOURNEY.iter().map(|(s, l)| (s.to_string(), Some(*l))).unzip(),
    };
    if names.len() < 2 || names.len() > 32 {
        bail!("--steps needs 2 to 32 comma-separated steps, got {}", names.len());
    }
    let steps: Vec<Step> = names.iter().map(|s| Step::parse(s).map_err(anyhow::Error::msg)).collect::<Result<_>>()?;
    let window_us = parse_window(&a.window)?;
    if window_us <= 0 {
        bail!("--window must be positive");
    }
    let (tzname, tz) = time_zone(ws, &a.range)?;
    let t = load(ws, tz, ActiveEvent::AnyTrack, EVENT_COLUMNS_WITH_NAME)?;
    let range = day_range(&t, &a.range)?;
    let kind = match a.range.by {
        super::engagement::By::User => tenure_metrics::engagement::ActorKind::User,
        super::engagement::By::Account => tenure_metrics::engagement::ActorKind::Account,
    };
    let q = FunnelQuery { steps, window_us, kind, from: range.0, to: range.1 };
    let f = funnel(&t, &q);
    let mut body = f.to_json(a.list);
    for (i, l) in labels.iter().enumerate() {
        if let Some(l) = l {
            body["steps"][i]["label"] = Value::from(*l);
        }
    }
    let window_seconds = window_us / 1_000_000;
    if a.range.json {
        let mut o = header("funnel", range, &tzname, &a.range);
        o["window_seconds"] = Value::from(window_seconds);
        o["order"] = Value::from("ordered");
        for (k, v) in body.as_object().expect("object") {
            o[k] = v.clone();
        }
        output::json(&o);
        return Ok(ExitCode::SUCCESS);
    }
    let by = if kind == tenure_metrics::engagement::ActorKind::User { "user" } else { "account" };
    output::line(format!(
        "Funnel by {by} (ordered; window {window_seconds} s from the first step; days in {tzname}): {} entered, {}% converted",
        opt(&body["entered"]),
        dec2(&body["overall_conversion_pct"])
    ));
    let rows: Vec<Vec<String>> = body["steps"]
        .as_array()
        .expect("array")
        .iter()
        .map(|s| {
            let name = match s["label"].as_str() {
                Some(l) => format!("{} ({l})", opt(&s["name"])),
                None => opt(&s["name"]),
            };
            vec![
                opt(&s["step"]),
                name,
                opt(&s["count"]),
                dec2(&s["conversion_from_previous_pct"]),
                dec2(&s["conversion_from_first_pct"]),
                opt(&s["dropped"]),
                dec2(&s["median_time_to_convert_seconds"]),
            ]
        })
        .collect();
    table(&["#", "step", "count", "from_previous_%", "from_first_%", "dropped", "median_time_s"], &rows);
    if a.list {
        for s in body["steps"].as_array().expect("array") {
            let ids: Vec<String> = s["actors"].as_array().map(|v| v.iter().map(opt).collect()).unwrap_or_default();
            output::line(format!("step {} {}: {}", opt(&s["step"]), opt(&s["name"]), ids.join(", ")));
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse_with_units() {
        assert_eq!(parse_window("14d").unwrap(), 14 * 86_400 * 1_000_000);
        assert_eq!(parse_window("14").unwrap(), 14 * 86_400 * 1_000_000);
        assert_eq!(parse_window("36h").unwrap(), 36 * 3600 * 1_000_000);
        assert_eq!(parse_window("2w").unwrap(), 14 * 86_400 * 1_000_000);
        assert_eq!(parse_window("600s").unwrap(), 600 * 1_000_000);
        assert!(parse_window("3y").is_err());
        assert!(parse_window("d").is_err());
    }
}
