//! `tenure metrics nps|csat|ces`: survey metrics (SPEC 2.3) from the stored
//! survey responses, overall, per survey, per segment and (NPS) per month,
//! with feedback themes on request.
//!
//! A response is in the period when its `submitted_at` (else `sent_at`) falls
//! in `[--from, --to)`, days starting at midnight in the workspace time zone;
//! rows with neither (aggregate imports) count only when no period is given.

use std::collections::{BTreeMap, HashMap};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde_json::{Value, json};
use tenure_metrics::voice::{self, NpsOptions};
use tenure_model::{Customer, SurveyResponse, SurveyType};
use tenure_store::Workspace;

use crate::output;

/// Filters shared by the survey and support metrics.
#[derive(Args, Clone, Debug, Default)]
pub struct Filter {
    /// First day included (YYYY-MM-DD, workspace time zone).
    #[arg(long, value_name = "DATE")]
    pub from: Option<Date>,
    /// First day excluded (YYYY-MM-DD, exclusive end).
    #[arg(long, value_name = "DATE")]
    pub to: Option<Date>,
    /// Also cut by this customer attribute (segment, plan_tier, country, owner, or any extra attribute).
    #[arg(long, value_name = "ATTR")]
    pub segment: Option<String>,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// A half-open instant range from the date filters.
pub struct Period {
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

impl Period {
    pub fn new(ws: &Workspace, f: &Filter) -> Result<(Period, TimeZone)> {
        let tzname = &ws.settings().workspace.timezone;
        let tz = TimeZone::get(tzname).with_context(|| format!("time zone {tzname}"))?;
        if let (Some(a), Some(b)) = (f.from, f.to)
            && b <= a
        {
            bail!("--to {b} must be after --from {a} (the end is exclusive)");
        }
        let at = |d: Date| -> Result<Timestamp> { Ok(d.to_zoned(tz.clone())?.timestamp()) };
        Ok((Period { from: f.from.map(at).transpose()?, to: f.to.map(at).transpose()? }, tz))
    }

    pub fn is_all(&self) -> bool {
        self.from.is_none() && self.to.is_none()
    }

    /// Whether an instant is in the period; an absent instant only when the
    /// period is unbounded.
    pub fn contains(&self, t: Option<Timestamp>) -> bool {
        match t {
            None => self.is_all(),
            Some(t) => self.from.is_none_or(|a| t >= a) && self.to.is_none_or(|b| t < b),
        }
    }

    pub fn to_json(&self) -> Value {
        json!({"from": self.from.map(|t| t.to_string()), "to": self.to.map(|t| t.to_string())})
    }
}

/// A period as a title: "all time", "from A", "before B" or "A to B (exclusive)".
pub fn period_label(period: &Value) -> String {
    match (period["from"].as_str(), period["to"].as_str()) {
        (None, None) => "all time".into(),
        (Some(a), None) => format!("from {a}"),
        (None, Some(b)) => format!("before {b}"),
        (Some(a), Some(b)) => format!("{a} to {b}, exclusive"),
    }
}

/// A customer attribute's value as text: the named fields first, then the
/// extra attributes.
pub fn attribute(c: &Customer, attr: &str) -> Option<String> {
    let named = match attr {
        "id" => Some(c.id.clone()),
        "name" => c.name.clone(),
        "email" => c.email.clone(),
        "company" => c.company.clone(),
        "country" => c.country.clone(),
        "segment" => c.segment.clone(),
        "plan_tier" => c.plan_tier.clone(),
        "owner" => c.owner.clone(),
        _ => None,
    };
    named.or_else(|| match c.attributes.get(attr)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        v => Some(v.to_string()),
    })
}

/// The segment value of each customer id (`(none)` when absent).
pub fn segments_of(ws: &Workspace, attr: &str) -> Result<HashMap<String, String>> {
    let customers = tenure_store::load::<Customer>(ws)?;
    Ok(customers.iter().map(|c| (c.id.clone(), attribute(c, attr).unwrap_or_else(|| NONE.into()))).collect())
}

pub const NONE: &str = "(none)";

/// Group items by the segment of their customer id.
pub fn group_by_segment<'a, T>(
    items: &[&'a T],
    customer: impl Fn(&T) -> Option<&str>,
    seg: &HashMap<String, String>,
) -> BTreeMap<String, Vec<&'a T>> {
    let mut out: BTreeMap<String, Vec<&T>> = BTreeMap::new();
    for it in items {
        let s = customer(it).and_then(|c| seg.get(c)).cloned().unwrap_or_else(|| NONE.into());
        out.entry(s).or_default().push(*it);
    }
    out
}

pub use crate::output::table;

/// A JSON value as a table cell ("-" for null).
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        // Every fractional figure here has 2 decimals (SPEC 2 conventions).
        Value::Number(n) if n.is_f64() => format!("{:.2}", n.as_f64().unwrap_or(f64::NAN)),
        v => v.to_string(),
    }
}

#[derive(Args, Clone, Debug)]
pub struct NpsArgs {
    /// Only this survey.
    #[arg(long, value_name = "ID")]
    pub survey: Option<String>,
    #[command(flatten)]
    pub filter: Filter,
    /// Highest detractor score (6 by default; some teams use 8).
    #[arg(long, default_value_t = 6, value_name = "SCORE", value_parser = clap::value_parser!(i64).range(0..=8))]
    pub detractor_max: i64,
    /// Confidence level of the interval (0-1).
    #[arg(long, default_value_t = 0.95, value_name = "LEVEL")]
    pub confidence: f64,
    /// Also tag comments by theme (keyword rules) and count them.
    #[arg(long)]
    pub themes: bool,
}

#[derive(Args, Clone, Debug)]
pub struct SurveyArgs {
    /// Only this survey.
    #[arg(long, value_name = "ID")]
    pub survey: Option<String>,
    #[command(flatten)]
    pub filter: Filter,
    /// Also tag comments by theme (keyword rules) and count them.
    #[arg(long)]
    pub themes: bool,
}

/// Which survey metric to run.
pub enum Voice {
    Nps(NpsArgs),
    Csat(SurveyArgs),
    Ces(SurveyArgs),
}

pub fn run(ws: &Workspace, which: Voice) -> Result<ExitCode> {
    let (kind, survey, filter, themes) = match &which {
        Voice::Nps(a) => (SurveyType::Nps, &a.survey, &a.filter, a.themes),
        Voice::Csat(a) => (SurveyType::Csat, &a.survey, &a.filter, a.themes),
        Voice::Ces(a) => (SurveyType::Ces, &a.survey, &a.filter, a.themes),
    };
    let (period, tz) = Period::new(ws, filter)?;
    let all = tenure_store::load::<SurveyResponse>(ws)?;
    let rows: Vec<&SurveyResponse> = all
        .iter()
        .filter(|r| r.survey_type == kind)
        .filter(|r| survey.as_ref().is_none_or(|s| &r.survey_id == s))
        .filter(|r| period.contains(r.submitted_at.or(r.sent_at)))
        .collect();
    if let Some(s) = survey
        && rows.is_empty()
        && !all.iter().any(|r| &r.survey_id == s)
    {
        bail!("no survey {s:?} in the workspace");
    }
    let detractor_max = match &which {
        Voice::Nps(a) => a.detractor_max,
        _ => 6,
    };
    // One computation, as JSON, for any subset of rows.
    let compute = |rs: &[&SurveyResponse]| -> Value {
        match &which {
            Voice::Nps(a) => {
                voice::nps(rs.iter().copied(), NpsOptions { detractor_max: a.detractor_max, confidence: a.confidence })
                    .to_json()
            }
            Voice::Csat(_) => match voice::common_scale(rs.iter().copied()) {
                Ok(scale) => voice::csat(rs, scale.unwrap_or((1, 5))).to_json(),
                Err(e) => json!({ "error": e }),
            },
            Voice::Ces(_) => {
                let mut by: BTreeMap<String, Vec<&SurveyResponse>> = BTreeMap::new();
                for r in rs {
                    by.entry(r.ces_variant.clone().unwrap_or_else(|| "ces2_agreement_1_7".into())).or_default().push(r);
                }
                Value::Array(by.iter().map(|(v, rs)| voice::ces(rs, v).to_json()).collect())
            }
        }
    };
    let metric = match kind {
        SurveyType::Nps => "nps",
        SurveyType::Csat => "csat",
        _ => "ces",
    };
    let mut doc = json!({
        "metric": metric,
        "survey": survey,
        "period": period.to_json(),
        "overall": compute(&rows),
    });
    let mut by_survey: BTreeMap<&str, Vec<&SurveyResponse>> = BTreeMap::new();
    for r in &rows {
        by_survey.entry(r.survey_id.as_str()).or_default().push(r);
    }
    doc["surveys"] = Value::Array(
        by_survey
            .iter()
            .map(|(id, rs)| {
                let mut v = json!({ "survey_id": id });
                merge(&mut v, compute(rs));
                v
            })
            .collect(),
    );
    if let Some(attr) = &filter.segment {
        let seg = segments_of(ws, attr)?;
        let groups = group_by_segment(&rows, |r| r.customer_id.as_deref(), &seg);
        doc["segment_attribute"] = json!(attr);
        doc["segments"] = Value::Array(
            groups
                .iter()
                .map(|(s, rs)| {
                    let mut v = json!({ "segment": s });
                    merge(&mut v, compute(rs));
                    v
                })
                .collect(),
        );
    }
    if let Voice::Nps(a) = &which {
        let opts = NpsOptions { detractor_max: a.detractor_max, confidence: a.confidence };
        doc["months"] = Value::Array(
            voice::nps_by_month(rows.iter().copied(), opts, &tz)
                .into_iter()
                .map(|(m, n, ch)| {
                    let mut v = json!({ "month": m });
                    merge(&mut v, n.to_json());
                    merge(&mut v, ch.to_json());
                    v
                })
                .collect(),
        );
    }
    if themes {
        let (total, t) = voice::themes(rows.iter().copied(), &voice::default_theme_rules(), detractor_max, 3, &tz);
        doc["comments"] = json!(total);
        doc["themes"] = Value::Array(t.iter().map(|x| x.to_json()).collect());
    }
    if filter.json {
        output::json(&doc);
    } else {
        print_tables(metric, &doc);
    }
    Ok(ExitCode::SUCCESS)
}

fn merge(into: &mut Value, from: Value) {
    match (into.as_object_mut(), from) {
        (Some(o), Value::Object(m)) => o.extend(m),
        (Some(o), v) => {
            o.insert("variants".into(), v);
        }
        _ => {}
    }
}

fn print_tables(metric: &str, doc: &Value) {
    let (cols, header): (&[&str], &[&str]) = match metric {
        "nps" => (
            &[
                "n",
                "promoters_pct",
                "passives_pct",
                "detractors_pct",
                "nps",
                "margin_of_error",
                "ci_low",
                "ci_high",
                "low_sample",
                "skipped",
                "rejected",
            ],
            &[
                "n",
                "promoters %",
                "passives %",
                "detractors %",
                "NPS",
                "+-",
                "CI low",
                "CI high",
                "low n",
                "skipped",
                "rejected",
            ],
        ),
        "csat" => (
            &[
                "n",
                "satisfied",
                "csat_pct",
                "average",
                "top_box_threshold",
                "response_rate_pct",
                "skipped",
                "rejected",
                "error",
            ],
            &["n", "satisfied", "CSAT %", "average", "top box >=", "response %", "skipped", "rejected", "note"],
        ),
        _ => (
            &[
                "ces_variant",
                "n",
                "average",
                "direction",
                "agree_pct",
                "disagree_pct",
                "neutral_count",
                "response_rate_pct",
                "skipped",
                "rejected",
            ],
            &[
                "variant",
                "n",
                "average",
                "direction",
                "agree %",
                "disagree %",
                "neutral",
                "response %",
                "skipped",
                "rejected",
            ],
        ),
    };
    // Rows of (label, metric object); CES objects are lists of variants.
    let rows_of = |label: String, v: &Value| -> Vec<Vec<String>> {
        let objs: Vec<&Value> = match v.get("variants").or(if v.is_array() { Some(v) } else { None }) {
            Some(Value::Array(a)) => a.iter().collect(),
            _ => vec![v],
        };
        objs.into_iter()
            .map(|o| std::iter::once(label.clone()).chain(cols.iter().map(|c| cell(&o[*c]))).collect())
            .collect()
    };
    fn with_label<'a>(first: &'a str, header: &[&'a str]) -> Vec<&'a str> {
        std::iter::once(first).chain(header.iter().copied()).collect()
    }
    let mut rows = rows_of("all".into(), &doc["overall"]);
    for s in doc["surveys"].as_array().into_iter().flatten() {
        rows.extend(rows_of(cell(&s["survey_id"]), s));
    }
    output::line(format!("{} ({})", metric.to_uppercase(), period_label(&doc["period"])));
    table(&with_label("survey", header), &rows);
    if let Some(segs) = doc["segments"].as_array() {
        output::line("");
        let rows: Vec<Vec<String>> = segs.iter().flat_map(|s| rows_of(cell(&s["segment"]), s)).collect();
        table(&with_label(doc["segment_attribute"].as_str().unwrap_or("segment"), header), &rows);
    }
    if let Some(months) = doc["months"].as_array() {
        output::line("");
        let rows: Vec<Vec<String>> = months
            .iter()
            .map(|m| {
                ["month", "n", "nps", "margin_of_error", "change", "change_standard_error", "change_significant"]
                    .iter()
                    .map(|k| cell(&m[*k]))
                    .collect()
            })
            .collect();
        table(&["month", "n", "NPS", "+-", "change", "change SE", "significant"], &rows);
    }
    if let Some(themes) = doc["themes"].as_array() {
        output::line("");
        output::line(format!("Themes over {} comment(s)", cell(&doc["comments"])));
        let rows: Vec<Vec<String>> = themes
            .iter()
            .map(|t| {
                vec![
                    cell(&t["theme"]),
                    cell(&t["comments"]),
                    cell(&t["comments_pct"]),
                    t["by_group"]
                        .as_object()
                        .map(|m| m.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", "))
                        .unwrap_or_default(),
                    t["examples"].get(0).map(cell).unwrap_or_default(),
                ]
            })
            .collect();
        table(&["theme", "comments", "%", "by group", "example"], &rows);
    }
}
