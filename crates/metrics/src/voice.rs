//! Voice of the customer (SPEC 2.3): NPS with its standard error and
//! confidence interval, CSAT, CES, response rate, month-over-month NPS change,
//! and feedback themes by keyword rules.
//!
//! Every function takes survey response rows as imported. Each row is weighted
//! by its `count` (1 for a single answer; more for the aggregate form
//! `survey_id, score, count`). A row is, in this order:
//! - **rejected**: a score with a `rejected_reason` (out of the scale; set at
//!   import): excluded from every metric, counted as `rejected`;
//! - **valid**: any other row with a score;
//! - **skipped**: no score but a `submitted_at`: excluded, counted as `skipped`;
//! - **unanswered**: neither: a send without an answer, used only by the
//!   response rate.
//!
//! NPS standard error: the multinomial (+1/0/-1 scoring) form of SPEC 2.3,
//! `100 x sqrt(((p+d) - (p-d)^2) / n)`, the same as the usual NPS margin of
//! error write-ups (e.g. Genroe's "How to calculate NPS margin of error"; the
//! Cross Validated answer on NPS margin of error) and what Delighted's
//! calculators assume: the variance of a score that is +1 for a promoter, 0 for
//! a passive and -1 for a detractor.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;
use serde_json::{Value, json};
use tenure_model::{SurveyResponse, SurveyType};

use crate::round::{self, pct, round_dp};

/// How one response row counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Rejected,
    Valid(i64),
    Skipped,
    Unanswered,
}

/// Classify a row (see the module documentation).
pub fn classify(r: &SurveyResponse) -> Answer {
    classify_parts(r.score, r.rejected_reason.is_some(), r.submitted_at.is_some())
}

/// [`classify`] from the fields that decide it (for rows read as columns).
pub fn classify_parts(score: Option<f64>, rejected: bool, submitted: bool) -> Answer {
    match (score, rejected, submitted) {
        (Some(_), true, _) => Answer::Rejected,
        // Non-integer scores are only accepted for custom surveys; metrics of
        // fixed scales work on points, so round (half away from zero).
        (Some(s), false, _) => Answer::Valid(s.round() as i64),
        (None, _, true) => Answer::Skipped,
        (None, _, false) => Answer::Unanswered,
    }
}

fn weight(r: &SurveyResponse) -> u64 {
    r.count.max(1) as u64
}

fn dec(x: f64) -> Option<Decimal> {
    if x.is_finite() { Decimal::from_f64(x) } else { None }
}

// ---------------------------------------------------------------- normal quantile

/// The standard normal quantile (inverse CDF) by Peter Acklam's rational
/// approximation (relative error below 1.15e-9 over (0, 1)).
/// `None` outside the open interval (0, 1).
pub fn normal_quantile(p: f64) -> Option<f64> {
    if !(p > 0.0 && p < 1.0) {
        return None;
    }
    const A: [f64; 6] = [
        -3.969683028665376e+01,
        2.209460984245205e+02,
        -2.759285104469687e+02,
        1.383_577_518_672_69e2,
        -3.066479806614716e+01,
        2.506628277459239e+00,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e+01,
        1.615858368580409e+02,
        -1.556989798598866e+02,
        6.680131188771972e+01,
        -1.328068155288572e+01,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-03,
        -3.223964580411365e-01,
        -2.400758277161838e+00,
        -2.549732539343734e+00,
        4.374664141464968e+00,
        2.938163982698783e+00,
    ];
    const D: [f64; 4] = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00];
    const P_LOW: f64 = 0.02425;
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    Some(if p < P_LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p <= 1.0 - P_LOW {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    })
}

/// The two-sided critical value for a confidence level: exactly 1.96 at 95%
/// (SPEC 2.3), the normal quantile at (1 + level) / 2 otherwise.
pub fn z_for_confidence(level: f64) -> Option<f64> {
    if (level - 0.95).abs() < 1e-12 { Some(1.96) } else { normal_quantile((1.0 + level) / 2.0) }
}

// ---------------------------------------------------------------- NPS

/// NPS settings: the highest detractor score (6 by default; some teams use 8,
/// seed 003) and the confidence level of the interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NpsOptions {
    pub detractor_max: i64,
    pub confidence: f64,
}

impl Default for NpsOptions {
    fn default() -> Self {
        NpsOptions { detractor_max: 6, confidence: 0.95 }
    }
}

/// NPS over a set of responses (SPEC 2.3). `None` fields are JSON null: every
/// figure over zero valid answers.
#[derive(Clone, Debug, PartialEq)]
pub struct Nps {
    pub n: u64,
    pub promoters: u64,
    pub passives: u64,
    pub detractors: u64,
    pub promoters_pct: Option<Decimal>,
    pub passives_pct: Option<Decimal>,
    pub detractors_pct: Option<Decimal>,
    pub nps: Option<Decimal>,
    pub standard_error: Option<Decimal>,
    pub margin_of_error: Option<Decimal>,
    pub ci_low: Option<Decimal>,
    pub ci_high: Option<Decimal>,
    pub low_sample: bool,
    pub skipped: u64,
    pub rejected: u64,
    pub detractor_max: i64,
    pub confidence: f64,
    /// Unrounded NPS and SE, for comparing two NPS.
    pub nps_exact: Option<f64>,
    pub se_exact: Option<f64>,
}

/// The weighted counts an [`Nps`] is computed from: rows can be tallied
/// straight from columns, and tallies of parts add up to the whole's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NpsTally {
    pub promoters: u64,
    pub passives: u64,
    pub detractors: u64,
    pub skipped: u64,
    pub rejected: u64,
}

impl NpsTally {
    /// Count one row's answer with its weight (`count`, at least 1).
    pub fn add(&mut self, answer: Answer, weight: u64, detractor_max: i64) {
        match answer {
            Answer::Rejected => self.rejected += weight,
            Answer::Skipped => self.skipped += weight,
            Answer::Unanswered => {}
            Answer::Valid(s) if s >= 9 => self.promoters += weight,
            Answer::Valid(s) if s <= detractor_max => self.detractors += weight,
            Answer::Valid(_) => self.passives += weight,
        }
    }

    pub fn merge(&mut self, o: &NpsTally) {
        self.promoters += o.promoters;
        self.passives += o.passives;
        self.detractors += o.detractors;
        self.skipped += o.skipped;
        self.rejected += o.rejected;
    }
}

/// NPS of the rows given (the caller selects the survey(s) and period).
/// Promoters 9-10, passives from `detractor_max + 1` to 8, detractors 0 to
/// `detractor_max` (a 0-10 scale is assumed, as imported).
pub fn nps<'a>(rows: impl IntoIterator<Item = &'a SurveyResponse>, opts: NpsOptions) -> Nps {
    let mut t = NpsTally::default();
    for r in rows {
        t.add(classify(r), weight(r), opts.detractor_max);
    }
    nps_of(&t, opts)
}

/// NPS of tallied rows.
pub fn nps_of(t: &NpsTally, opts: NpsOptions) -> Nps {
    let NpsTally { promoters: p, passives: pa, detractors: d, skipped, rejected } = *t;
    let n = p + pa + d;
    let z = z_for_confidence(opts.confidence);
    let (mut nps_v, mut se_v, mut moe, mut lo, mut hi, mut nps_exact, mut se_exact) =
        (None, None, None, None, None, None, None);
    if n > 0 {
        let exact = Decimal::from(p as i128 - d as i128) * Decimal::ONE_HUNDRED / Decimal::from(n);
        nps_v = Some(round_dp(exact, 2));
        let (pf, df, nf) = (p as f64 / n as f64, d as f64 / n as f64, n as f64);
        let se = 100.0 * (((pf + df) - (pf - df).powi(2)).max(0.0) / nf).sqrt();
        let npsf = 100.0 * (pf - df);
        nps_exact = Some(npsf);
        se_exact = Some(se);
        se_v = dec(se).map(|x| round_dp(x, 2));
        if let Some(z) = z {
            let m = z * se;
            moe = dec(m).map(|x| round_dp(x, 2));
            lo = dec(npsf - m).map(|x| round_dp(x, 2));
            hi = dec(npsf + m).map(|x| round_dp(x, 2));
        }
    }
    Nps {
        n,
        promoters: p,
        passives: pa,
        detractors: d,
        promoters_pct: pct(p, n),
        passives_pct: pct(pa, n),
        detractors_pct: pct(d, n),
        nps: nps_v,
        standard_error: se_v,
        margin_of_error: moe,
        ci_low: lo,
        ci_high: hi,
        low_sample: n < 30,
        skipped,
        rejected,
        detractor_max: opts.detractor_max,
        confidence: opts.confidence,
        nps_exact,
        se_exact,
    }
}

impl Nps {
    /// The SPEC 2.4b keys (plus `detractor_max` and `confidence_level`).
    pub fn to_json(&self) -> Value {
        json!({
            "n": self.n,
            "promoters": self.promoters,
            "passives": self.passives,
            "detractors": self.detractors,
            "promoters_pct": round::json(self.promoters_pct),
            "passives_pct": round::json(self.passives_pct),
            "detractors_pct": round::json(self.detractors_pct),
            "nps": round::json(self.nps),
            "standard_error": round::json(self.standard_error),
            "margin_of_error": round::json(self.margin_of_error),
            "ci_low": round::json(self.ci_low),
            "ci_high": round::json(self.ci_high),
            "low_sample": self.low_sample,
            "skipped": self.skipped,
            "rejected": self.rejected,
            "detractor_max": self.detractor_max,
            "confidence_level": self.confidence,
        })
    }
}

/// The change between two NPS (later minus earlier) with its standard error
/// sqrt(SE1^2 + SE2^2) (independent samples), the z statistic, and whether
/// it is significant at `confidence` (|z| > critical value).
#[derive(Clone, Debug, PartialEq)]
pub struct NpsChange {
    pub change: Option<Decimal>,
    pub change_standard_error: Option<Decimal>,
    pub change_z: Option<Decimal>,
    pub change_significant: Option<bool>,
}

pub fn nps_change(earlier: &Nps, later: &Nps, confidence: f64) -> NpsChange {
    let none = NpsChange::none();
    let (Some(a), Some(b), Some(sa), Some(sb)) = (earlier.nps_exact, later.nps_exact, earlier.se_exact, later.se_exact)
    else {
        return none;
    };
    let diff = b - a;
    let se = (sa * sa + sb * sb).sqrt();
    let z = if se > 0.0 { Some(diff / se) } else { None };
    let crit = z_for_confidence(confidence);
    NpsChange {
        change: dec(diff).map(|x| round_dp(x, 2)),
        change_standard_error: dec(se).map(|x| round_dp(x, 2)),
        change_z: z.and_then(dec).map(|x| round_dp(x, 2)),
        change_significant: match (z, crit) {
            (Some(z), Some(c)) => Some(z.abs() > c),
            _ => None,
        },
    }
}

/// NPS per calendar month of `submitted_at` (in `tz`), months in order, each
/// with the change from the previous month present in the data. Rows without
/// `submitted_at` (sends, aggregate rows) are left out.
pub fn nps_by_month<'a>(
    rows: impl IntoIterator<Item = &'a SurveyResponse>,
    opts: NpsOptions,
    tz: &TimeZone,
) -> Vec<(String, Nps, NpsChange)> {
    let mut by: BTreeMap<String, NpsTally> = BTreeMap::new();
    for r in rows {
        if let Some(t) = r.submitted_at {
            by.entry(month_key(t, tz)).or_default().add(classify(r), weight(r), opts.detractor_max);
        }
    }
    nps_by_month_of(&by, opts)
}

/// [`nps_by_month`] of tallies per month (`YYYY-MM`, in order).
pub fn nps_by_month_of(months: &BTreeMap<String, NpsTally>, opts: NpsOptions) -> Vec<(String, Nps, NpsChange)> {
    let mut out: Vec<(String, Nps, NpsChange)> = Vec::new();
    for (m, t) in months {
        let cur = nps_of(t, opts);
        let ch = match out.last() {
            Some((_, prev, _)) => nps_change(prev, &cur, opts.confidence),
            None => NpsChange::none(),
        };
        out.push((m.clone(), cur, ch));
    }
    out
}

impl NpsChange {
    pub fn none() -> NpsChange {
        NpsChange { change: None, change_standard_error: None, change_z: None, change_significant: None }
    }
    pub fn to_json(&self) -> Value {
        json!({
            "change": round::json(self.change),
            "change_standard_error": round::json(self.change_standard_error),
            "change_z": round::json(self.change_z),
            "change_significant": self.change_significant,
        })
    }
}

/// `YYYY-MM` of an instant in a time zone.
pub fn month_key(t: Timestamp, tz: &TimeZone) -> String {
    let d = t.to_zoned(tz.clone()).date();
    format!("{:04}-{:02}", d.year(), d.month())
}

// ---------------------------------------------------------------- response rate

/// Answered / sent x 100 (SPEC 2.3): sends are rows with `sent_at`; a send is
/// answered when it has a `submitted_at` (a skipped answer was still a
/// response). `None` when nothing was sent.
pub fn response_rate_pct<'a>(rows: impl IntoIterator<Item = &'a SurveyResponse>) -> Option<Decimal> {
    let (mut sent, mut answered) = (0u64, 0u64);
    for r in rows {
        if r.sent_at.is_some() {
            sent += weight(r);
            if r.submitted_at.is_some() {
                answered += weight(r);
            }
        }
    }
    pct(answered, sent)
}

// ---------------------------------------------------------------- CSAT

/// CSAT (SPEC 2.3) over rows of one scale.
#[derive(Clone, Debug, PartialEq)]
pub struct Csat {
    pub n: u64,
    pub satisfied: u64,
    pub csat_pct: Option<Decimal>,
    pub average: Option<Decimal>,
    pub scale_min: i64,
    pub scale_max: i64,
    pub top_box_threshold: i64,
    /// Count per scale point, zero-filled, in scale order.
    pub distribution: Vec<(i64, u64)>,
    /// % of valid answers per scale point (null when n = 0).
    pub rating_pct: Vec<(i64, Option<Decimal>)>,
    pub response_rate_pct: Option<Decimal>,
    pub skipped: u64,
    pub rejected: u64,
}

/// The lowest satisfied score: the top two boxes on scales of 4 points or
/// more (4-5 on 1-5, 6-7 on 1-7), the top box only on shorter ones (3 on 1-3).
pub fn top_box_threshold(scale_min: i64, scale_max: i64) -> i64 {
    let points = scale_max - scale_min + 1;
    if points <= 3 { scale_max } else { scale_max - 1 }
}

/// The scale of a set of rows, or an error naming the scales when they differ.
pub fn common_scale<'a>(rows: impl IntoIterator<Item = &'a SurveyResponse>) -> Result<Option<(i64, i64)>, String> {
    let mut scales: Vec<(i64, i64)> = rows.into_iter().map(|r| (r.scale_min, r.scale_max)).collect();
    scales.sort();
    scales.dedup();
    match scales.len() {
        0 => Ok(None),
        1 => Ok(Some(scales[0])),
        _ => Err(format!(
            "the responses use different scales ({}); choose one survey",
            scales.iter().map(|(a, b)| format!("{a}-{b}")).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// Distribution, mean and counts of valid answers on one scale.
struct Tally {
    n: u64,
    sum: i128,
    dist: Vec<(i64, u64)>,
    skipped: u64,
    rejected: u64,
}

fn tally<'a>(rows: impl IntoIterator<Item = &'a SurveyResponse>, scale: (i64, i64)) -> Tally {
    let mut t = Tally { n: 0, sum: 0, dist: (scale.0..=scale.1).map(|p| (p, 0)).collect(), skipped: 0, rejected: 0 };
    for r in rows {
        let w = weight(r);
        match classify(r) {
            Answer::Rejected => t.rejected += w,
            Answer::Skipped => t.skipped += w,
            Answer::Unanswered => {}
            Answer::Valid(s) => {
                t.n += w;
                t.sum += s as i128 * w as i128;
                if let Some(slot) = t.dist.iter_mut().find(|(p, _)| *p == s) {
                    slot.1 += w;
                }
            }
        }
    }
    t
}

fn mean(sum: i128, n: u64) -> Option<Decimal> {
    (n > 0).then(|| round_dp(Decimal::from(sum) / Decimal::from(n), 2))
}

/// CSAT of rows on the scale `scale` (see [`common_scale`]).
pub fn csat(rows: &[&SurveyResponse], scale: (i64, i64)) -> Csat {
    let t = tally(rows.iter().copied(), scale);
    let thr = top_box_threshold(scale.0, scale.1);
    let satisfied: u64 = t.dist.iter().filter(|(p, _)| *p >= thr).map(|(_, c)| c).sum();
    Csat {
        n: t.n,
        satisfied,
        csat_pct: pct(satisfied, t.n),
        average: mean(t.sum, t.n),
        scale_min: scale.0,
        scale_max: scale.1,
        top_box_threshold: thr,
        rating_pct: t.dist.iter().map(|(p, c)| (*p, pct(*c, t.n))).collect(),
        distribution: t.dist,
        response_rate_pct: response_rate_pct(rows.iter().copied()),
        skipped: t.skipped,
        rejected: t.rejected,
    }
}

impl Csat {
    pub fn to_json(&self) -> Value {
        json!({
            "n": self.n,
            "satisfied": self.satisfied,
            "csat_pct": round::json(self.csat_pct),
            "average": round::json(self.average),
            "scale_min": self.scale_min,
            "scale_max": self.scale_max,
            "top_box_threshold": self.top_box_threshold,
            "distribution": self.distribution.iter().map(|(p, c)| (p.to_string(), json!(c))).collect::<serde_json::Map<_, _>>(),
            "rating_pct": self.rating_pct.iter().map(|(p, c)| (p.to_string(), round::json(*c))).collect::<serde_json::Map<_, _>>(),
            "response_rate_pct": round::json(self.response_rate_pct),
            "skipped": self.skipped,
            "rejected": self.rejected,
        })
    }
}

// ---------------------------------------------------------------- CES

/// CES (SPEC 2.3) for one `ces_variant`.
#[derive(Clone, Debug, PartialEq)]
pub struct Ces {
    pub variant: String,
    pub n: u64,
    pub average: Option<Decimal>,
    /// `higher_is_better` (CES 2.0 agreement) or `lower_is_better` (effort).
    pub direction: &'static str,
    /// CES 2.0 only: % of answers 5-7, % 1-3, and the count of 4s.
    pub agree_pct: Option<Decimal>,
    pub disagree_pct: Option<Decimal>,
    pub neutral_count: Option<u64>,
    pub distribution: Vec<(i64, u64)>,
    pub response_rate_pct: Option<Decimal>,
    pub skipped: u64,
    pub rejected: u64,
}

/// CES of rows of one variant (`ces2_agreement_1_7`, the default, or
/// `ces1_effort_1_5`).
pub fn ces(rows: &[&SurveyResponse], variant: &str) -> Ces {
    let agreement = variant != "ces1_effort_1_5";
    let scale = if agreement { (1, 7) } else { (1, 5) };
    let t = tally(rows.iter().copied(), scale);
    let count = |lo: i64, hi: i64| t.dist.iter().filter(|(p, _)| (lo..=hi).contains(p)).map(|(_, c)| c).sum::<u64>();
    Ces {
        variant: variant.to_string(),
        n: t.n,
        average: mean(t.sum, t.n),
        direction: if agreement { "higher_is_better" } else { "lower_is_better" },
        agree_pct: if agreement { pct(count(5, 7), t.n) } else { None },
        disagree_pct: if agreement { pct(count(1, 3), t.n) } else { None },
        neutral_count: agreement.then(|| count(4, 4)),
        distribution: t.dist.clone(),
        response_rate_pct: response_rate_pct(rows.iter().copied()),
        skipped: t.skipped,
        rejected: t.rejected,
    }
}

impl Ces {
    pub fn to_json(&self) -> Value {
        json!({
            "ces_variant": self.variant,
            "n": self.n,
            "average": round::json(self.average),
            "direction": self.direction,
            "agree_pct": round::json(self.agree_pct),
            "disagree_pct": round::json(self.disagree_pct),
            "neutral_count": self.neutral_count,
            "distribution": self.distribution.iter().map(|(p, c)| (p.to_string(), json!(c))).collect::<serde_json::Map<_, _>>(),
            "response_rate_pct": round::json(self.response_rate_pct),
            "skipped": self.skipped,
            "rejected": self.rejected,
        })
    }
}

/// Rows of one survey type.
pub fn of_type(rows: &[SurveyResponse], t: SurveyType) -> Vec<&SurveyResponse> {
    rows.iter().filter(|r| r.survey_type == t).collect()
}

// ---------------------------------------------------------------- feedback themes

/// A theme and the word stems that tag a comment with it: a comment matches
/// when one of its words (lowercased, split at anything not a letter or digit)
/// starts with one of the stems.
#[derive(Clone, Debug, PartialEq)]
pub struct ThemeRule {
    pub theme: String,
    pub stems: Vec<String>,
}

/// The default rules: pricing, onboarding, performance, support, integrations,
/// reporting, bugs.
pub fn default_theme_rules() -> Vec<ThemeRule> {
    let r = |t: &str, s: &[&str]| ThemeRule { theme: t.into(), stems: s.iter().map(|x| x.to_string()).collect() };
    vec![
        r("pricing", &["pric", "expensive", "cheap", "cost", "billing", "invoice", "discount", "renewal", "tier"]),
        r("onboarding", &["onboard", "setup", "set-up", "getting started", "tutorial", "training", "guide", "docs"]),
        r("performance", &["perform", "slow", "fast", "speed", "latency", "timeout", "lag", "load"]),
        r("support", &["support", "ticket", "answer", "repl", "respon", "helpdesk", "agent"]),
        r("integrations", &["integrat", "salesforce", "hubspot", "slack", "api", "zapier", "sync", "webhook"]),
        r("reporting", &["report", "dashboard", "export", "chart", "analytic", "metric"]),
        r("bugs", &["bug", "crash", "broke", "error", "glitch", "fail"]),
    ]
}

/// The rules of `[feedback]`: its `themes` (theme -> keyword stems, lowercased)
/// replace the default set when given, or are added to it with
/// `keep_default_themes` (a configured theme replaces the default of that
/// name, keeping its place). No themes configured: the defaults.
pub fn theme_rules(settings: &tenure_model::settings::FeedbackSettings) -> Vec<ThemeRule> {
    if settings.themes.is_empty() {
        return default_theme_rules();
    }
    let configured = |theme: &str, stems: &[String]| ThemeRule {
        theme: theme.to_string(),
        stems: stems.iter().map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty()).collect(),
    };
    let mut rules: Vec<ThemeRule> = if settings.keep_default_themes { default_theme_rules() } else { Vec::new() };
    for (theme, stems) in &settings.themes {
        match rules.iter_mut().find(|r| &r.theme == theme) {
            Some(r) => *r = configured(theme, stems),
            None => rules.push(configured(theme, stems)),
        }
    }
    rules
}

fn words(text: &str) -> Vec<String> {
    text.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(String::from).collect()
}

/// Whether `text` matches a rule: a word starts with a one-word stem, or a
/// multi-word stem ("getting started") appears as consecutive words.
pub fn matches(rule: &ThemeRule, text: &str) -> bool {
    let ws = words(text);
    rule.stems.iter().any(|stem| {
        let parts = words(stem);
        match parts.len() {
            0 => false,
            1 => ws.iter().any(|w| w.starts_with(&parts[0])),
            k => ws.windows(k).any(|win| win.iter().zip(&parts).all(|(w, p)| w == p)),
        }
    })
}

/// One theme's count.
#[derive(Clone, Debug, PartialEq)]
pub struct ThemeCount {
    pub theme: String,
    /// Comments tagged (weighted by `count`).
    pub comments: u64,
    /// % of all non-empty comments.
    pub comments_pct: Option<Decimal>,
    /// Comments per score group (`promoter`/`passive`/`detractor` on NPS
    /// surveys, `satisfied`/`not_satisfied` on CSAT, `agree`/`neutral`/
    /// `disagree` on CES 2.0, `score_N` otherwise; `no_score` for skipped).
    pub by_group: BTreeMap<String, u64>,
    /// Comments per month of `submitted_at` (`YYYY-MM` in the time zone
    /// given; rows without `submitted_at` are not in any month).
    pub by_month: BTreeMap<String, u64>,
    /// Up to `max_examples` quotes, in input order.
    pub examples: Vec<String>,
}

fn score_group(r: &SurveyResponse, detractor_max: i64) -> String {
    match classify(r) {
        Answer::Valid(s) => match r.survey_type {
            SurveyType::Nps if s >= 9 => "promoter".into(),
            SurveyType::Nps if s <= detractor_max => "detractor".into(),
            SurveyType::Nps => "passive".into(),
            SurveyType::Csat if s >= top_box_threshold(r.scale_min, r.scale_max) => "satisfied".into(),
            SurveyType::Csat => "not_satisfied".into(),
            SurveyType::Ces if r.ces_variant.as_deref() != Some("ces1_effort_1_5") => match s {
                5.. => "agree".into(),
                4 => "neutral".into(),
                _ => "disagree".into(),
            },
            _ => format!("score_{s}"),
        },
        Answer::Rejected => "rejected".into(),
        _ => "no_score".into(),
    }
}

/// Count comments per theme. Rejected rows are left out (excluded from every
/// metric). Themes are returned in rule order, including those with no comment.
/// Also returns the number of comments considered.
pub fn themes<'a>(
    rows: impl IntoIterator<Item = &'a SurveyResponse>,
    rules: &[ThemeRule],
    detractor_max: i64,
    max_examples: usize,
    tz: &TimeZone,
) -> (u64, Vec<ThemeCount>) {
    let mut out: Vec<ThemeCount> = rules
        .iter()
        .map(|r| ThemeCount {
            theme: r.theme.clone(),
            comments: 0,
            comments_pct: None,
            by_group: BTreeMap::new(),
            by_month: BTreeMap::new(),
            examples: Vec::new(),
        })
        .collect();
    let mut total = 0u64;
    for r in rows {
        if classify(r) == Answer::Rejected {
            continue;
        }
        let Some(c) = r.comment.as_deref().map(str::trim).filter(|c| !c.is_empty()) else { continue };
        let w = weight(r);
        total += w;
        for (rule, tc) in rules.iter().zip(out.iter_mut()) {
            if matches(rule, c) {
                tc.comments += w;
                *tc.by_group.entry(score_group(r, detractor_max)).or_default() += w;
                if let Some(t) = r.submitted_at {
                    *tc.by_month.entry(month_key(t, tz)).or_default() += w;
                }
                if tc.examples.len() < max_examples && !tc.examples.iter().any(|e| e == c) {
                    tc.examples.push(c.to_string());
                }
            }
        }
    }
    for tc in &mut out {
        tc.comments_pct = pct(tc.comments, total);
    }
    (total, out)
}

impl ThemeCount {
    pub fn to_json(&self) -> Value {
        json!({
            "theme": self.theme,
            "comments": self.comments,
            "comments_pct": round::json(self.comments_pct),
            "by_group": self.by_group,
            "by_month": self.by_month,
            "examples": self.examples,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(kind: SurveyType, scale: (i64, i64), score: Option<f64>) -> SurveyResponse {
        let rejected_reason = score.filter(|s| *s < scale.0 as f64 || *s > scale.1 as f64).map(|_| "out".to_string());
        SurveyResponse {
            id: String::new(),
            survey_id: "s".into(),
            survey_type: kind,
            scale_min: scale.0,
            scale_max: scale.1,
            ces_variant: None,
            respondent_id: None,
            customer_id: None,
            sent_at: Some("2024-01-01T00:00:00Z".parse().unwrap()),
            submitted_at: Some("2024-01-02T00:00:00Z".parse().unwrap()),
            score,
            comment: None,
            count: 1,
            rejected_reason,
        }
    }
    fn nps_rows(scores: &[Option<f64>]) -> Vec<SurveyResponse> {
        scores.iter().map(|s| resp(SurveyType::Nps, (0, 10), *s)).collect()
    }
    fn d(s: &str) -> Option<Decimal> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn nps_boundaries_6_7_8_9() {
        // 6 detractor, 7 and 8 passive, 9 promoter: n = 4, P = 1, D = 1, NPS = 0.
        let rows = nps_rows(&[Some(6.0), Some(7.0), Some(8.0), Some(9.0)]);
        let r = nps(&rows, NpsOptions::default());
        assert_eq!((r.n, r.promoters, r.passives, r.detractors), (4, 1, 2, 1));
        assert_eq!(r.nps, d("0"));
        assert_eq!(r.promoters_pct, d("25.00"));
        assert_eq!(r.passives_pct, d("50.00"));
        // Cut-off 8 (seed 003): 6, 7, 8 are detractors: NPS = (1 - 3)/4 = -50.
        let r = nps(&rows, NpsOptions { detractor_max: 8, ..Default::default() });
        assert_eq!((r.promoters, r.passives, r.detractors), (1, 0, 3));
        assert_eq!(r.nps, d("-50"));
        // 0 and 10 are in range.
        let r = nps(&nps_rows(&[Some(0.0), Some(10.0), Some(10.0)]), NpsOptions::default());
        // (2 - 1)/3 x 100 = 33.333.. -> 33.33
        assert_eq!(r.nps, d("33.33"));
    }

    #[test]
    fn nps_excludes_skipped_and_rejected() {
        // 10, 10, 3 valid; one skipped (null score, submitted); one 11 (rejected);
        // one send never answered. n = 3, NPS = (2 - 1)/3 = 33.33.
        let mut rows = nps_rows(&[Some(10.0), Some(10.0), Some(3.0), None, Some(11.0), None]);
        rows[5].submitted_at = None;
        let r = nps(&rows, NpsOptions::default());
        assert_eq!((r.n, r.skipped, r.rejected), (3, 1, 1));
        assert_eq!(r.nps, d("33.33"));
        // Response rate: 5 of 6 sends submitted (skipped and rejected answered).
        assert_eq!(response_rate_pct(&rows), d("83.33"));
    }

    #[test]
    fn empty_is_null_not_zero() {
        let rows = nps_rows(&[None, Some(12.0)]);
        let r = nps(&rows, NpsOptions::default());
        assert_eq!(r.n, 0);
        assert_eq!((r.nps, r.promoters_pct, r.standard_error, r.ci_low), (None, None, None, None));
        assert!(r.low_sample);
        assert_eq!(r.to_json()["nps"], Value::Null);
        let c = csat(&[], (1, 5));
        assert_eq!((c.csat_pct, c.average, c.response_rate_pct), (None, None, None));
        assert_eq!(c.distribution, vec![(1, 0), (2, 0), (3, 0), (4, 0), (5, 0)]);
    }

    #[test]
    fn nps_standard_error_and_ci_worked_example() {
        // 50 promoters, 30 passives, 20 detractors: n = 100, p = .5, d = .2.
        // NPS = 30. SE = 100 x sqrt((0.7 - 0.09)/100) = 100 x sqrt(0.0061)
        // = 7.8102...; margin = 1.96 x 7.8102 = 15.3080 -> 15.31;
        // CI = 30 -+ 15.308 = 14.69 .. 45.31.
        let mut rows = nps_rows(&[Some(10.0), Some(7.0), Some(2.0)]);
        rows[0].count = 50;
        rows[1].count = 30;
        rows[2].count = 20;
        let r = nps(&rows, NpsOptions::default());
        assert_eq!(r.n, 100);
        assert_eq!(r.nps, d("30"));
        assert_eq!(r.standard_error, d("7.81"));
        assert_eq!(r.margin_of_error, d("15.31"));
        assert_eq!(r.ci_low, d("14.69"));
        assert_eq!(r.ci_high, d("45.31"));
        assert!(!r.low_sample);
        // 90%: z = 1.644854; margin = 1.644854 x 7.81025 = 12.8467 -> 12.85.
        let r90 = nps(&rows, NpsOptions { confidence: 0.90, ..Default::default() });
        assert_eq!(r90.margin_of_error, d("12.85"));
    }

    #[test]
    fn low_sample_flag_under_30() {
        let r = nps(&nps_rows(&[Some(9.0); 29]), NpsOptions::default());
        assert!(r.low_sample);
        // All promoters: p = 1, d = 0: SE = 100 x sqrt((1 - 1)/n) = 0.
        assert_eq!(r.standard_error, d("0"));
        let r = nps(&nps_rows(&[Some(9.0); 30]), NpsOptions::default());
        assert!(!r.low_sample);
    }

    #[test]
    fn normal_quantiles() {
        assert!((normal_quantile(0.975).unwrap() - 1.959963985).abs() < 1e-8);
        assert!((normal_quantile(0.95).unwrap() - 1.644853627).abs() < 1e-8);
        assert!((normal_quantile(0.995).unwrap() - 2.575829304).abs() < 1e-8);
        assert!((normal_quantile(0.01).unwrap() + 2.326347874).abs() < 1e-8);
        assert_eq!(normal_quantile(0.5), Some(0.0));
        assert_eq!(normal_quantile(1.0), None);
        assert_eq!(z_for_confidence(0.95), Some(1.96));
    }

    #[test]
    fn nps_change_between_months() {
        // Month 1: 50 P / 30 Pa / 20 D (NPS 30, SE 7.8102);
        // month 2: 20 P / 30 Pa / 50 D (NPS -30, SE 7.8102).
        // change = -60, SE = sqrt(2) x 7.8102 = 11.0454 -> 11.05, z = -5.43: significant.
        let mut a = nps_rows(&[Some(10.0), Some(7.0), Some(2.0)]);
        (a[0].count, a[1].count, a[2].count) = (50, 30, 20);
        let mut b = a.clone();
        (b[0].count, b[2].count) = (20, 50);
        let (na, nb) = (nps(&a, NpsOptions::default()), nps(&b, NpsOptions::default()));
        let c = nps_change(&na, &nb, 0.95);
        assert_eq!(c.change, d("-60"));
        assert_eq!(c.change_standard_error, d("11.05"));
        assert_eq!(c.change_z, d("-5.43"));
        assert_eq!(c.change_significant, Some(true));
        // By month: the first month has no change.
        for r in &mut b {
            r.submitted_at = Some("2024-02-03T00:00:00Z".parse().unwrap());
        }
        let all: Vec<SurveyResponse> = a.into_iter().chain(b).collect();
        let months = nps_by_month(&all, NpsOptions::default(), &TimeZone::UTC);
        assert_eq!(months.iter().map(|m| m.0.as_str()).collect::<Vec<_>>(), ["2024-01", "2024-02"]);
        assert_eq!(months[0].2.change, None);
        assert_eq!(months[1].2.change, d("-60"));
    }

    #[test]
    fn csat_boxes_by_scale() {
        // 1-5: 4 and 5 satisfied. Answers 1,3,4,5,5: 3/5 = 60%, mean 18/5 = 3.6.
        let rows: Vec<SurveyResponse> =
            [1.0, 3.0, 4.0, 5.0, 5.0].iter().map(|s| resp(SurveyType::Csat, (1, 5), Some(*s))).collect();
        let refs: Vec<&SurveyResponse> = rows.iter().collect();
        let c = csat(&refs, (1, 5));
        assert_eq!((c.n, c.satisfied, c.top_box_threshold), (5, 3, 4));
        assert_eq!(c.csat_pct, d("60.00"));
        assert_eq!(c.average, d("3.60"));
        assert_eq!(c.distribution, vec![(1, 1), (2, 0), (3, 1), (4, 1), (5, 2)]);
        assert_eq!(c.rating_pct[1], (2, d("0.00")));
        assert_eq!(c.rating_pct[4], (5, d("40.00")));
        // 1-7: 6 and 7 satisfied; 5 is not. Answers 5,6,7: 2/3 = 66.67%.
        let rows: Vec<SurveyResponse> =
            [5.0, 6.0, 7.0].iter().map(|s| resp(SurveyType::Csat, (1, 7), Some(*s))).collect();
        let c = csat(&rows.iter().collect::<Vec<_>>(), (1, 7));
        assert_eq!((c.satisfied, c.top_box_threshold), (2, 6));
        assert_eq!(c.csat_pct, d("66.67"));
        // 1-3: top box only. Answers 2,3,3: 2/3.
        let rows: Vec<SurveyResponse> =
            [2.0, 3.0, 3.0].iter().map(|s| resp(SurveyType::Csat, (1, 3), Some(*s))).collect();
        let c = csat(&rows.iter().collect::<Vec<_>>(), (1, 3));
        assert_eq!((c.satisfied, c.top_box_threshold), (2, 3));
        assert_eq!(c.csat_pct, d("66.67"));
        // Mixed scales are refused.
        let mixed = [resp(SurveyType::Csat, (1, 3), Some(2.0)), resp(SurveyType::Csat, (1, 5), Some(2.0))];
        assert!(common_scale(&mixed).is_err());
    }

    #[test]
    fn csat_aggregate_rows_and_rejected() {
        // Aggregate: score 5 x 30, score 2 x 10, score 6 on 1-5 x 4 (rejected).
        // n = 40, satisfied 30 -> 75%; mean (150 + 20)/40 = 4.25.
        let mut rows = [
            resp(SurveyType::Csat, (1, 5), Some(5.0)),
            resp(SurveyType::Csat, (1, 5), Some(2.0)),
            resp(SurveyType::Csat, (1, 5), Some(6.0)),
        ];
        (rows[0].count, rows[1].count, rows[2].count) = (30, 10, 4);
        let c = csat(&rows.iter().collect::<Vec<_>>(), (1, 5));
        assert_eq!((c.n, c.satisfied, c.rejected), (40, 30, 4));
        assert_eq!(c.csat_pct, d("75.00"));
        assert_eq!(c.average, d("4.25"));
    }

    #[test]
    fn ces_directions() {
        // CES 2.0 (1-7, agreement): 1, 3, 4, 5, 7 -> agree 2/5 = 40%,
        // disagree 2/5 = 40%, neutral 1, mean 20/5 = 4.
        let rows: Vec<SurveyResponse> =
            [1.0, 3.0, 4.0, 5.0, 7.0].iter().map(|s| resp(SurveyType::Ces, (1, 7), Some(*s))).collect();
        let c = ces(&rows.iter().collect::<Vec<_>>(), "ces2_agreement_1_7");
        assert_eq!(c.direction, "higher_is_better");
        assert_eq!((c.agree_pct, c.disagree_pct, c.neutral_count), (d("40.00"), d("40.00"), Some(1)));
        assert_eq!(c.average, d("4.00"));
        // Legacy effort 1-5: lower is better, no agreement split. 1, 2: mean 1.5.
        let rows: Vec<SurveyResponse> = [1.0, 2.0].iter().map(|s| resp(SurveyType::Ces, (1, 5), Some(*s))).collect();
        let c = ces(&rows.iter().collect::<Vec<_>>(), "ces1_effort_1_5");
        assert_eq!(c.direction, "lower_is_better");
        assert_eq!((c.agree_pct, c.neutral_count), (None, None));
        assert_eq!(c.average, d("1.50"));
        assert_eq!(c.to_json()["agree_pct"], Value::Null);
    }

    #[test]
    fn feedback_themes() {
        let mut rows = nps_rows(&[Some(2.0), Some(10.0), Some(8.0), Some(3.0), Some(15.0)]);
        rows[0].comment = Some("The PRICING is too expensive".into());
        rows[1].comment = Some("Great value; onboarding was smooth".into());
        rows[2].comment = Some("Dashboards are slow to load".into());
        rows[3].comment = Some("Price went up and the Salesforce integration broke".into());
        rows[4].comment = Some("pricing".into()); // rejected: not counted
        rows[1].submitted_at = Some("2024-02-29T23:30:00Z".parse().unwrap());
        let (total, t) = themes(&rows, &default_theme_rules(), 6, 2, &TimeZone::UTC);
        assert_eq!(total, 4);
        let get = |name: &str| t.iter().find(|x| x.theme == name).unwrap();
        assert_eq!(get("pricing").comments, 2);
        assert_eq!(get("pricing").by_group.get("detractor"), Some(&2));
        assert_eq!(get("pricing").comments_pct, d("50.00"));
        assert_eq!(get("onboarding").by_group.get("promoter"), Some(&1));
        assert_eq!(get("performance").by_group.get("passive"), Some(&1));
        assert_eq!(get("reporting").comments, 1); // "dashboards"
        assert_eq!(get("integrations").comments, 1);
        assert_eq!(get("bugs").comments, 1); // "broke"
        assert_eq!(get("support").comments, 0);
        assert_eq!(get("pricing").by_month.get("2024-01"), Some(&2));
        assert_eq!(get("onboarding").by_month.get("2024-02"), Some(&1));
        // In Paris 2024-02-29T23:30Z is already March.
        let paris = TimeZone::get("Europe/Paris").unwrap();
        let (_, t) = themes(&rows, &default_theme_rules(), 6, 2, &paris);
        assert_eq!(t[1].by_month.get("2024-03"), Some(&1));
        assert_eq!(
            get("pricing").examples,
            vec!["The PRICING is too expensive".to_string(), rows[3].comment.clone().unwrap()]
        );
        let rule = ThemeRule { theme: "x".into(), stems: vec!["getting started".into()] };
        assert!(matches(&rule, "Getting  started was hard"));
        assert!(!matches(&rule, "getting there, started"));
    }

    #[test]
    fn configured_themes_replace_or_extend_the_defaults() {
        use tenure_model::settings::FeedbackSettings;
        assert_eq!(theme_rules(&FeedbackSettings::default()), default_theme_rules());
        let mut f = FeedbackSettings::default();
        f.themes.insert("pricing".into(), vec!["Price".into(), " ".into()]);
        f.themes.insert("mobile".into(), vec!["ios".into(), "android".into()]);
        // Replace: only the two configured themes, in name order; stems lowercased, blanks dropped.
        let r = theme_rules(&f);
        assert_eq!(r.iter().map(|x| x.theme.as_str()).collect::<Vec<_>>(), ["mobile", "pricing"]);
        assert_eq!(r[1].stems, ["price"]);
        // "Pricey renewal" matches the configured pricing (price-) but "renewal" alone no longer does.
        assert!(matches(&r[1], "Pricey renewal") && !matches(&r[1], "renewal time"));
        // Keep the defaults: 7 defaults with pricing replaced in place, then mobile = 8.
        f.keep_default_themes = true;
        let r = theme_rules(&f);
        assert_eq!(r.len(), 8);
        assert_eq!((r[0].theme.as_str(), r[0].stems.clone()), ("pricing", vec!["price".to_string()]));
        assert_eq!(r[7].theme, "mobile");
    }
}
