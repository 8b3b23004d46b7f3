//! `tenure feedback`: survey comments with their scores (SPEC 2.3,
//! qualitative feedback), listed, searched and filtered by theme, survey and
//! period, with a count per theme.
//!
//! - A comment is a survey response with a non-blank `comment`.
//! - `--search TEXT` keeps comments containing the text, case-insensitively
//!   (a plain substring: `pric` finds "price", "Pricing" and "priced").
//! - Themes are keyword rules: `[feedback.themes]` of `tenure.toml`, else the
//!   defaults of `tenure_metrics::voice` ([`voice::theme_rules`]); `--theme`
//!   keeps comments tagged with it.
//! - `--segment ATTR` also counts the themes per segment of the respondent's
//!   customer (`(none)` without one).
//! - The period filter is the one of `tenure metrics nps`: `submitted_at`
//!   (else `sent_at`) in `[--from, --to)`, days in the workspace time zone.
//! - Rejected answers (out-of-range scores) are listed, flagged `rejected`,
//!   but, as in every metric, left out of the theme counts.
//! - Newest first (by `submitted_at`, else `sent_at`), then by response id.

use std::collections::HashMap;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;
use jiff::civil::Date;
use serde_json::{Value, json};
use tenure_metrics::voice::{self, Answer};
use tenure_model::{Customer, SurveyResponse};
use tenure_store::Workspace;

use crate::metrics::voice::period_label;
use crate::output;
use tenure_query::filter::{Filter, Period, group_by_segment, segments_of};

pub const AFTER_HELP: &str = "\
Examples:
  tenure feedback                                   every comment, newest first, and the count per theme
  tenure feedback --search onboarding               comments containing \"onboarding\" (case-insensitive)
  tenure feedback --theme pricing --from 2025-01-01 --to 2025-07-01
  tenure feedback --survey nps-2025-q1 --json
  tenure feedback --segment plan_tier               theme counts per plan tier of the customer

Themes (keyword rules): pricing, onboarding, performance, support, integrations, reporting, bugs,
or your own in tenure.toml (they replace these unless keep_default_themes = true):
  [feedback.themes]
  pricing = [\"price\", \"expensive\", \"invoice\"]
  mobile = [\"ios\", \"android\", \"app\"]
A keyword matches the words starting with it; several words match as a phrase.";

#[derive(Args, Clone, Debug)]
pub struct FeedbackArgs {
    /// Keep comments containing this text (case-insensitive).
    #[arg(long, value_name = "TEXT")]
    pub search: Option<String>,
    /// Keep comments tagged with this theme.
    #[arg(long, value_name = "THEME")]
    pub theme: Option<String>,
    /// Keep one survey's responses.
    #[arg(long, value_name = "ID")]
    pub survey: Option<String>,
    /// First day included (YYYY-MM-DD, workspace time zone).
    #[arg(long, value_name = "DATE")]
    pub from: Option<Date>,
    /// First day excluded (YYYY-MM-DD, exclusive end).
    #[arg(long, value_name = "DATE")]
    pub to: Option<Date>,
    /// Also count the themes per segment of this customer attribute (segment, plan_tier, country, ...).
    #[arg(long, value_name = "ATTR")]
    pub segment: Option<String>,
    /// Print at most this many comments (the theme counts cover all that match).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

fn score_text(r: &SurveyResponse) -> String {
    match r.score {
        None => "skipped".into(),
        Some(s) if s.fract() == 0.0 => format!("{}", s as i64),
        Some(s) => s.to_string(),
    }
}

pub fn run(data: &std::path::Path, a: FeedbackArgs) -> Result<ExitCode> {
    let ws = Workspace::open(data)?;
    let filter = Filter { from: a.from, to: a.to, segment: None };
    let (period, tz) = Period::new(&ws, &filter)?;
    let rules = voice::theme_rules(&ws.settings().feedback);
    if let Some(t) = &a.theme
        && !rules.iter().any(|r| &r.theme == t)
    {
        let names: Vec<&str> = rules.iter().map(|r| r.theme.as_str()).collect();
        bail!("unknown theme {t:?}; the themes are: {}", names.join(", "));
    }
    let all = tenure_store::load::<SurveyResponse>(&ws)?;
    if let Some(s) = &a.survey
        && !all.iter().any(|r| &r.survey_id == s)
    {
        bail!("no survey {s:?} in the workspace");
    }
    let names: HashMap<String, Option<String>> = tenure_store::load::<Customer>(&ws)?
        .into_iter()
        .map(|c| {
            let n = c.name.or(c.company);
            (c.id, n)
        })
        .collect();
    let needle = a.search.as_deref().map(str::to_lowercase);
    let mut rows: Vec<(&SurveyResponse, &str, Vec<&str>)> = all
        .iter()
        .filter_map(|r| {
            let c = r.comment.as_deref().map(str::trim).filter(|c| !c.is_empty())?;
            Some((r, c))
        })
        .filter(|(r, _)| a.survey.as_ref().is_none_or(|s| &r.survey_id == s))
        .filter(|(r, _)| period.contains(r.submitted_at.or(r.sent_at)))
        .filter(|(_, c)| needle.as_ref().is_none_or(|n| c.to_lowercase().contains(n.as_str())))
        .map(|(r, c)| {
            let themes: Vec<&str> =
                rules.iter().filter(|rule| voice::matches(rule, c)).map(|rule| rule.theme.as_str()).collect();
            (r, c, themes)
        })
        .filter(|(_, _, th)| a.theme.as_ref().is_none_or(|t| th.contains(&t.as_str())))
        .collect();
    rows.sort_by(|x, y| {
        let tx = x.0.submitted_at.or(x.0.sent_at);
        let ty = y.0.submitted_at.or(y.0.sent_at);
        ty.cmp(&tx).then_with(|| x.0.id.cmp(&y.0.id))
    });
    let (total, counts) = voice::themes(rows.iter().map(|r| r.0), &rules, 6, 1, &tz);
    let segments: Option<Vec<Value>> = match &a.segment {
        Some(attr) => {
            let seg = segments_of(&ws, attr)?;
            let responses: Vec<&SurveyResponse> = rows.iter().map(|r| r.0).collect();
            let groups = group_by_segment(&responses, |r| r.customer_id.as_deref(), &seg);
            Some(
                groups
                    .iter()
                    .map(|(s, rs)| {
                        let (total, counts) = voice::themes(rs.iter().copied(), &rules, 6, 1, &tz);
                        json!({
                            "segment": s,
                            "theme_comments": total,
                            "themes": counts.iter().map(|t| t.to_json()).collect::<Vec<_>>(),
                        })
                    })
                    .collect(),
            )
        }
        None => None,
    };
    let shown = &rows[..a.limit.unwrap_or(rows.len()).min(rows.len())];
    let items: Vec<Value> = shown
        .iter()
        .map(|(r, c, th)| {
            let at = r.submitted_at.or(r.sent_at);
            json!({
                "id": r.id,
                "survey_id": r.survey_id,
                "survey_type": r.survey_type.as_str(),
                "score": r.score,
                "rejected": voice::classify(r) == Answer::Rejected,
                "submitted_at": r.submitted_at.map(|t| t.to_string()),
                "date": at.map(|t| t.to_zoned(tz.clone()).date().to_string()),
                "customer_id": r.customer_id,
                "customer_name": r.customer_id.as_ref().and_then(|id| names.get(id).cloned().flatten()),
                "themes": th,
                "comment": c,
            })
        })
        .collect();
    let mut doc = json!({
        "command": "feedback",
        "period": period.to_json(),
        "search": a.search,
        "theme": a.theme,
        "survey": a.survey,
        "matched": rows.len(),
        "shown": items.len(),
        "comments": items,
        "theme_comments": total,
        "themes": counts.iter().map(|t| t.to_json()).collect::<Vec<_>>(),
    });
    if let Some(segs) = &segments {
        doc["segment_attribute"] = json!(a.segment);
        doc["segments"] = json!(segs);
    }
    if a.json {
        output::json(&doc);
        return Ok(ExitCode::SUCCESS);
    }
    output::line(format!(
        "Feedback ({}): {} comment(s){}",
        period_label(&doc["period"]),
        rows.len(),
        if items.len() < rows.len() { format!(", the newest {} shown", items.len()) } else { String::new() }
    ));
    let list: Vec<Vec<String>> = doc["comments"]
        .as_array()
        .expect("array")
        .iter()
        .zip(shown)
        .map(|(v, (r, c, th))| {
            let mut score = score_text(r);
            if v["rejected"] == Value::Bool(true) {
                score.push_str(" (rejected)");
            }
            let customer = match (v["customer_id"].as_str(), v["customer_name"].as_str()) {
                (Some(id), Some(n)) => format!("{id} {n}"),
                (Some(id), None) => id.to_string(),
                _ => "-".into(),
            };
            vec![
                v["date"].as_str().unwrap_or("-").to_string(),
                format!("{} {}", r.survey_type.as_str(), score),
                customer,
                if th.is_empty() { "-".into() } else { th.join(",") },
                c.to_string(),
            ]
        })
        .collect();
    crate::metrics::voice::table(&["date", "score", "customer", "themes", "comment"], &list);
    output::line("");
    output::line(format!("Themes over {total} comment(s) (rejected answers left out)"));
    let trows: Vec<Vec<String>> = counts
        .iter()
        .map(|t| {
            let pct = t.comments_pct.map_or_else(|| "-".to_string(), |p| format!("{p:.2}"));
            vec![t.theme.clone(), t.comments.to_string(), pct]
        })
        .collect();
    crate::metrics::voice::table(&["theme", "comments", "%"], &trows);
    if let Some(segs) = &segments {
        // One column of comment counts per segment.
        let mut header = vec!["theme".to_string()];
        header.extend(segs.iter().map(|s| crate::metrics::voice::cell(&s["segment"])));
        let cells: Vec<Vec<String>> = rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                std::iter::once(r.theme.clone())
                    .chain(segs.iter().map(|s| crate::metrics::voice::cell(&s["themes"][i]["comments"])))
                    .collect()
            })
            .collect();
        output::line("");
        output::line(format!("Comments per theme and {}", a.segment.as_deref().unwrap_or("segment")));
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        crate::metrics::voice::table(&header, &cells);
    }
    Ok(ExitCode::SUCCESS)
}
