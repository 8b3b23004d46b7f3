//! `nps`, `csat`, `ces`: survey metrics (SPEC 2.3) from the stored survey
//! responses, overall, per survey, per segment and (NPS) per month, with
//! feedback themes on request.
//!
//! A response is in the period when its `submitted_at` (else `sent_at`) falls
//! in `[--from, --to)`, days starting at midnight in the workspace time zone;
//! rows with neither (aggregate imports) count only when no period is given.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::{Value, json};
use tenure_metrics::voice::{self, NpsOptions, NpsTally};
use tenure_model::{SurveyResponse, SurveyType};
use tenure_store::Workspace;

use crate::filter::{Filter, Period, group_by_segment, merge, segments_of};

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
    /// Also tag comments by theme (keyword rules: [feedback.themes] in tenure.toml, else the defaults), per segment too.
    #[arg(long)]
    pub themes: bool,
    /// Drill down: list the answers behind the figures (JSON `answers`: survey, respondent, customer, date, score, group).
    #[arg(long)]
    pub list: bool,
}

#[derive(Args, Clone, Debug)]
pub struct SurveyArgs {
    /// Only this survey.
    #[arg(long, value_name = "ID")]
    pub survey: Option<String>,
    #[command(flatten)]
    pub filter: Filter,
    /// Also tag comments by theme (keyword rules: [feedback.themes] in tenure.toml, else the defaults), per segment too.
    #[arg(long)]
    pub themes: bool,
    /// Drill down: list the answers behind the figures (JSON `answers`: survey, respondent, customer, date, score, group).
    #[arg(long)]
    pub list: bool,
}

/// The responses of one survey type (and survey), and whether the survey is
/// in the table at all. Rows are filtered in Arrow before they become
/// entities, and comments are read only when they are used: a survey table is
/// mostly other types' rows and comment text.
fn load_responses(
    ws: &Workspace,
    kind: SurveyType,
    survey: Option<&str>,
    comments: bool,
) -> Result<(Vec<SurveyResponse>, bool)> {
    use arrow::array::{Array, AsArray, BooleanArray, RecordBatch, new_null_array};
    use arrow::compute::filter_record_batch;
    use arrow::datatypes::{Field, Schema};
    use tenure_store::Loaded;
    let def = tenure_store::schema::table("survey_responses").expect("a stored table");
    let columns: Vec<&str> =
        def.schema.fields().iter().map(|f| f.name().as_str()).filter(|&c| comments || c != "comment").collect();
    let (mut kept, mut known) = (Vec::new(), false);
    for path in ws.table_paths("survey_responses") {
        for b in tenure_store::read_parquet(&path, Some(&columns))? {
            let types = b.column_by_name("survey_type").expect("survey_type").as_string::<i32>();
            let ids = b.column_by_name("survey_id").expect("survey_id").as_string::<i32>();
            let keep: BooleanArray = (0..b.num_rows())
                .map(|i| {
                    let same = survey.is_none_or(|s| ids.is_valid(i) && ids.value(i) == s);
                    known |= same && survey.is_some();
                    Some(same && SurveyType::parse(types.value(i)) == Some(kind))
                })
                .collect();
            let mut b = filter_record_batch(&b, &keep)?;
            if !comments {
                // The entity wants the column: absent comments, without reading them.
                let mut fields: Vec<Field> = b.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
                let mut cols = b.columns().to_vec();
                fields.push(Field::new("comment", arrow::datatypes::DataType::Utf8, true));
                cols.push(new_null_array(&arrow::datatypes::DataType::Utf8, b.num_rows()));
                b = RecordBatch::try_new(std::sync::Arc::new(Schema::new(fields)), cols)?;
            }
            kept.push(b);
        }
    }
    Ok((SurveyResponse::from_tables(&[kept]), known))
}

/// Which survey metric to compute.
pub enum Voice<'a> {
    Nps(&'a NpsArgs),
    Csat(&'a SurveyArgs),
    Ces(&'a SurveyArgs),
}

/// The document of `tenure metrics nps|csat|ces --json`.
pub fn compute(ws: &Workspace, which: Voice) -> Result<Value> {
    let (kind, survey, filter, themes, list) = match &which {
        Voice::Nps(a) => (SurveyType::Nps, &a.survey, &a.filter, a.themes, a.list),
        Voice::Csat(a) => (SurveyType::Csat, &a.survey, &a.filter, a.themes, a.list),
        Voice::Ces(a) => (SurveyType::Ces, &a.survey, &a.filter, a.themes, a.list),
    };
    let (period, tz) = Period::new(ws, filter)?;
    if let Voice::Nps(a) = &which
        && !a.list
        && !a.themes
        && filter.segment.is_none()
    {
        return nps_from_columns(ws, a, &period, &tz);
    }
    let (all, survey_known) = load_responses(ws, kind, survey.as_deref(), themes)?;
    let rows: Vec<&SurveyResponse> = all.iter().filter(|r| period.contains(r.submitted_at.or(r.sent_at))).collect();
    if let Some(s) = survey
        && rows.is_empty()
        && !survey_known
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
    let rules = voice::theme_rules(&ws.settings().feedback);
    // Comments per theme (`[feedback.themes]` in tenure.toml, else the defaults) of any subset of rows.
    let theme_doc = |rs: &[&SurveyResponse]| -> Value {
        let (total, t) = voice::themes(rs.iter().copied(), &rules, detractor_max, 3, &tz);
        json!({ "comments": total, "themes": t.iter().map(|x| x.to_json()).collect::<Vec<_>>() })
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
                    if themes {
                        merge(&mut v, theme_doc(rs));
                    }
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
    if list {
        doc["answers"] = Value::Array(rows.iter().map(|r| answer_json(r, kind, detractor_max, &tz)).collect());
    }
    if themes {
        merge(&mut doc, theme_doc(&rows));
    }
    Ok(doc)
}

/// NPS tallies of the rows in the period, overall, per survey and per month.
#[derive(Default)]
struct NpsTallies {
    rows: u64,
    survey_known: bool,
    overall: NpsTally,
    surveys: BTreeMap<String, NpsTally>,
    /// Month number (year x 12 + month - 1) of `submitted_at` -> tally.
    months: BTreeMap<i32, NpsTally>,
}

/// `tenure metrics nps` without `--list`, `--themes` or `--segment`: the
/// same document as [`compute`]'s, with the rows tallied straight from the
/// Arrow columns (survey ids and types interned once per dictionary value),
/// so no row becomes a `SurveyResponse` with owned strings.
fn nps_from_columns(ws: &Workspace, a: &NpsArgs, period: &Period, tz: &jiff::tz::TimeZone) -> Result<Value> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Float64Type, Int64Type, TimestampMicrosecondType};
    const COLUMNS: &[&str] =
        &["survey_type", "survey_id", "score", "rejected_reason", "submitted_at", "sent_at", "count"];
    let opts = NpsOptions { detractor_max: a.detractor_max, confidence: a.confidence };
    let mut t = NpsTallies::default();
    for path in ws.table_paths("survey_responses") {
        let context = || format!("reading {}", path.display());
        for b in tenure_store::read_parquet_dictionary(&path, COLUMNS, &["survey_type", "survey_id"])? {
            let col = |name: &str| {
                b.column_by_name(name).with_context(|| format!("no `{name}` column")).with_context(context)
            };
            let is_nps = per_value(col("survey_type")?, |v| SurveyType::parse(v) == Some(SurveyType::Nps))?;
            let mut ids: Vec<String> = Vec::new();
            let survey_ix = per_value(col("survey_id")?, |v| {
                ids.push(v.to_string());
                ids.len() - 1
            })?;
            let score = col("score")?
                .as_primitive_opt::<Float64Type>()
                .context("`score` is not Float64")
                .with_context(context)?;
            let count =
                col("count")?.as_primitive_opt::<Int64Type>().context("`count` is not Int64").with_context(context)?;
            let rejected = col("rejected_reason")?;
            let when = |name| -> Result<&arrow::array::TimestampMicrosecondArray> {
                col(name)?.as_primitive_opt::<TimestampMicrosecondType>().with_context(|| format!("`{name}` is not µs"))
            };
            let (submitted, sent) = (when("submitted_at")?, when("sent_at")?);
            let at = |c: &arrow::array::TimestampMicrosecondArray, i: usize| {
                c.is_valid(i).then(|| jiff::Timestamp::from_microsecond(c.value(i))).transpose()
            };
            // Per survey of this batch's dictionary (`None`: no row in the period).
            let mut by_survey: Vec<Option<NpsTally>> = vec![None; ids.len()];
            for i in 0..b.num_rows() {
                let Some(survey) = survey_ix[i] else { continue };
                let same = a.survey.as_deref().is_none_or(|s| ids[survey] == s);
                t.survey_known |= same && a.survey.is_some();
                if !same || is_nps[i] != Some(true) {
                    continue;
                }
                let submitted_at = at(submitted, i)?;
                if !period.contains(submitted_at.or(at(sent, i)?)) {
                    continue;
                }
                let score = score.is_valid(i).then(|| score.value(i));
                let answer = voice::classify_parts(score, rejected.is_valid(i), submitted_at.is_some());
                let weight = if count.is_valid(i) { count.value(i).max(1) as u64 } else { 1 };
                t.rows += 1;
                t.overall.add(answer, weight, opts.detractor_max);
                by_survey[survey].get_or_insert_default().add(answer, weight, opts.detractor_max);
                if let Some(s) = submitted_at {
                    let d = tz.to_datetime(s);
                    let month = d.year() as i32 * 12 + d.month() as i32 - 1;
                    t.months.entry(month).or_default().add(answer, weight, opts.detractor_max);
                }
            }
            for (id, tally) in ids.into_iter().zip(by_survey) {
                if let Some(tally) = tally {
                    t.surveys.entry(id).or_default().merge(&tally);
                }
            }
        }
    }
    if let Some(s) = &a.survey
        && t.rows == 0
        && !t.survey_known
    {
        bail!("no survey {s:?} in the workspace");
    }
    let months: BTreeMap<String, voice::NpsTally> = t
        .months
        .into_iter()
        .map(|(m, v)| (format!("{:04}-{:02}", m.div_euclid(12), m.rem_euclid(12) + 1), v))
        .collect();
    let doc = json!({
        "metric": "nps",
        "survey": a.survey,
        "period": period.to_json(),
        "overall": voice::nps_of(&t.overall, opts).to_json(),
        "surveys": t.surveys.iter().map(|(id, v)| {
            let mut o = json!({ "survey_id": id });
            merge(&mut o, voice::nps_of(v, opts).to_json());
            o
        }).collect::<Vec<_>>(),
        "months": voice::nps_by_month_of(&months, opts).into_iter().map(|(m, n, ch)| {
            let mut o = json!({ "month": m });
            merge(&mut o, n.to_json());
            merge(&mut o, ch.to_json());
            o
        }).collect::<Vec<_>>(),
    });
    Ok(doc)
}

/// Each row's value of a string column (`Utf8` or `Dictionary(Int32, Utf8)`)
/// through `f`, `None` for a null; `f` runs once per dictionary value.
fn per_value<T: Copy>(col: &arrow::array::ArrayRef, mut f: impl FnMut(&str) -> T) -> Result<Vec<Option<T>>> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{DataType, Int32Type};
    Ok(match col.data_type() {
        DataType::Utf8 => {
            let s = col.as_string::<i32>();
            (0..s.len()).map(|i| s.is_valid(i).then(|| f(s.value(i)))).collect()
        }
        DataType::Dictionary(k, v) if **k == DataType::Int32 && **v == DataType::Utf8 => {
            let d = col.as_dictionary::<Int32Type>();
            let values = d.values().as_string::<i32>();
            let mapped: Vec<Option<T>> =
                (0..values.len()).map(|k| values.is_valid(k).then(|| f(values.value(k)))).collect();
            d.keys().iter().map(|k| k.and_then(|k| mapped[k as usize])).collect()
        }
        other => bail!("a survey_responses column is {other}, expected text"),
    })
}

/// One answer of `--list`: who gave it, when, and how it counted (NPS:
/// promoter, passive or detractor; every survey: skipped, rejected or
/// unanswered when it did not count).
fn answer_json(r: &SurveyResponse, kind: SurveyType, detractor_max: i64, tz: &jiff::tz::TimeZone) -> Value {
    let group = match (voice::classify(r), kind) {
        (voice::Answer::Valid(s), SurveyType::Nps) if s >= 9 => "promoter",
        (voice::Answer::Valid(s), SurveyType::Nps) if s <= detractor_max => "detractor",
        (voice::Answer::Valid(_), SurveyType::Nps) => "passive",
        (voice::Answer::Valid(_), _) => "answered",
        (voice::Answer::Skipped, _) => "skipped",
        (voice::Answer::Rejected, _) => "rejected",
        (voice::Answer::Unanswered, _) => "unanswered",
    };
    json!({
        "survey_id": r.survey_id,
        "respondent_id": r.respondent_id,
        "customer_id": r.customer_id,
        "date": r.submitted_at.or(r.sent_at).map(|t| t.to_zoned(tz.clone()).date().to_string()),
        "score": r.score,
        "count": r.count.max(1),
        "group": group,
        "comment": r.comment,
    })
}
