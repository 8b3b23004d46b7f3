//! The scorecard: weighted groups of weighted measures, each measure mapping
//! one per-account input to 0-100, plus the color bands, letter grades, trend
//! look-back and alert rules. Parsed from TOML (`[health]` of `tenure.toml`, or
//! a file given with `--scorecard`); every mistake is reported with the path of
//! the offending key (`groups[1].measures[0].thresholds`).

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;
use serde::Deserialize;

use super::ScorecardError;

/// The scorecard used when the workspace configures none. Its inputs are the
/// figures Tenure computes for every account from billing, usage, surveys and
/// support, so it scores the demo data (and most imports) with no setup.
pub const DEFAULT_SCORECARD: &str = r#"# Tenure's default health scorecard (docs/health.md explains every key).
missing = "reweight"
look_back_days = 30

[[groups]]
name = "engagement"
weight = 40

  [[groups.measures]]
  input = "usage_trend_pct"
  weight = 2
  direction = "higher_is_better"
  range = [-50, 10]

  [[groups.measures]]
  input = "dau_mau_ratio"
  direction = "higher_is_better"
  thresholds = [0.05, 0.1, 0.2]

  [[groups.measures]]
  input = "seat_utilization_pct"
  direction = "higher_is_better"
  range = [10, 80]

  [[groups.measures]]
  input = "feature_adoption_pct"
  direction = "higher_is_better"
  range = [10, 60]

[[groups]]
name = "voice"
weight = 20

  [[groups.measures]]
  input = "nps"
  direction = "higher_is_better"
  range = [-50, 50]

  [[groups.measures]]
  input = "csat_pct"
  direction = "higher_is_better"
  range = [50, 90]

[[groups]]
name = "support"
weight = 20

  [[groups.measures]]
  input = "open_tickets"
  direction = "lower_is_better"
  thresholds = [0, 1, 3]

  [[groups.measures]]
  input = "slow_tickets_90d"
  direction = "lower_is_better"
  thresholds = [0, 1, 2]

[[groups]]
name = "billing"
weight = 20

  [[groups.measures]]
  input = "failed_payments_90d"
  direction = "lower_is_better"
  thresholds = [0, 1, 2]

  [[groups.measures]]
  input = "mrr_change_pct_90d"
  direction = "higher_is_better"
  range = [-30, 10]

[[alerts]]
name = "entered red"
when = "enters_band"
band = "red"

[[alerts]]
name = "dropped 20 points in 30 days"
when = "drops"
points = 20
within_days = 30

[[alerts]]
name = "renewal within 60 days while red"
when = "renewal_while_red"
within_days = 60
"#;

/// Which way a measure's input is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    HigherIsBetter,
    LowerIsBetter,
}

/// How a measure turns its input into 0-100.
#[derive(Clone, Debug, PartialEq)]
pub enum Mapping {
    /// Cut points (ascending) and the score of each band between them, worst
    /// band first. Reaching a cut point earns the better band.
    Thresholds { direction: Direction, cuts: Vec<Decimal>, scores: Vec<Decimal> },
    /// Linear from the worst value (0) to the best (100), clamped outside.
    Range { direction: Direction, low: Decimal, high: Decimal },
    /// A score per text value; values not listed score `other` (missing when unset).
    Tiers { tiers: BTreeMap<String, Decimal>, other: Option<Decimal> },
    /// The input already is a 0-100 score (a CSM pulse, another tool's score);
    /// values outside 0-100 are clamped.
    Identity,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Measure {
    /// Unique within the scorecard; defaults to the input's name.
    pub name: String,
    /// A computed input (`dau_mau_ratio`, ...) or a customer attribute.
    pub input: String,
    pub weight: Decimal,
    pub mapping: Mapping,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub name: String,
    pub weight: Decimal,
    pub measures: Vec<Measure>,
}

/// What happens to a measure whose input is missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MissingPolicy {
    /// Drop it and re-weight within its group; drop empty groups and
    /// re-weight across groups (Catalyst).
    Reweight,
    /// It scores 0 with its full weight.
    Zero,
}

/// A color band: rounded scores above the previous band's `max` up to its own
/// (the first band starts at 0).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Band {
    pub name: String,
    pub max: i64,
}

/// A letter grade for rounded scores of at least `min`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grade {
    pub grade: String,
    pub min: i64,
}

/// One alert rule (what fires it; see [`super::alerts`]).
#[derive(Clone, Debug, PartialEq)]
pub enum AlertCondition {
    /// The score's color becomes this band.
    EntersBand { band: String },
    /// The score is at least `points` lower than `within_days` days before.
    Drops { points: Decimal, within_days: u32 },
    /// A measure's own score (rounded) becomes red (the first band); `None`: any measure.
    MeasureRed { measure: Option<String> },
    /// The next renewal is within `within_days` days while the score is red.
    RenewalWhileRed { within_days: u32 },
}

#[derive(Clone, Debug, PartialEq)]
pub struct AlertRule {
    pub name: String,
    pub condition: AlertCondition,
    /// After a task of this rule for an account, the rule does not create
    /// another for that account until this many days after the first one's
    /// evaluation day (even when it was closed sooner): an account flapping
    /// around a threshold makes one task, not one per evaluation.
    pub cooldown_days: u32,
}

/// The default `cooldown_days` of an alert rule.
pub const DEFAULT_COOLDOWN_DAYS: u32 = 30;

/// Where alerts are POSTed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Webhook {
    /// `http://` or `https://`.
    pub url: String,
    /// A PEM file of the CA certificates an `https://` receiver's certificate
    /// must chain to (a private CA) instead of the public web roots; relative
    /// paths are relative to the workspace directory.
    pub ca_file: Option<std::path::PathBuf>,
    /// Attempts after the first failed one.
    pub retries: u32,
    /// Wait before the first retry; doubled before each next one.
    pub backoff_ms: u64,
}

/// How alert firings become tasks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskGrouping {
    /// One task per rule and account.
    PerRule,
    /// One open task per account listing every rule that fired for it
    /// (Gainsight's one CTA per account): a rule firing while the account
    /// has a task that is not closed adds its reason to that task.
    PerAccount,
}

/// Which clock decides that a ticket's first reply was slow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlowTicketClock {
    /// Wall-clock time from creation.
    Calendar,
    /// Only the time inside the `[support]` business hours counts.
    Business,
}

/// The default `alerts_every_seconds`.
pub const DEFAULT_ALERTS_EVERY_SECONDS: u64 = 60;

#[derive(Clone, Debug, PartialEq)]
pub struct Scorecard {
    pub groups: Vec<Group>,
    pub missing: MissingPolicy,
    pub bands: Vec<Band>,
    pub grades: Vec<Grade>,
    /// Trend and most-moved input compare with the score this many days earlier.
    pub look_back_days: u32,
    /// A change smaller than this many points is trend `same`.
    pub trend_tolerance: Decimal,
    pub alerts: Vec<AlertRule>,
    pub webhook: Option<Webhook>,
    pub alert_tasks: TaskGrouping,
    /// After API ingest, alerts are evaluated at most once per this many
    /// seconds (a busy stream commits every second).
    pub alerts_every_seconds: u64,
    /// The clock of the `slow_tickets_90d` input.
    pub slow_tickets_clock: SlowTicketClock,
}

// ---------------------------------------------------------------- raw TOML

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScorecard {
    missing: Option<String>,
    look_back_days: Option<u32>,
    trend_tolerance: Option<f64>,
    bands: Option<Vec<RawBand>>,
    grades: Option<Vec<RawGrade>>,
    #[serde(default)]
    groups: Vec<RawGroup>,
    #[serde(default)]
    alerts: Vec<RawAlert>,
    webhook: Option<RawWebhook>,
    alert_tasks: Option<String>,
    alerts_every_seconds: Option<u64>,
    slow_tickets_clock: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBand {
    name: String,
    max: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrade {
    grade: String,
    min: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    name: String,
    weight: f64,
    #[serde(default)]
    measures: Vec<RawMeasure>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMeasure {
    name: Option<String>,
    input: String,
    weight: Option<f64>,
    direction: Option<String>,
    thresholds: Option<Vec<f64>>,
    scores: Option<Vec<f64>>,
    range: Option<Vec<f64>>,
    tiers: Option<BTreeMap<String, f64>>,
    other: Option<f64>,
    identity: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlert {
    name: Option<String>,
    when: String,
    band: Option<String>,
    points: Option<f64>,
    within_days: Option<u32>,
    measure: Option<String>,
    cooldown_days: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    url: String,
    ca_file: Option<std::path::PathBuf>,
    retries: Option<u32>,
    backoff_ms: Option<u64>,
}

fn dec(x: f64, at: &str) -> Result<Decimal, ScorecardError> {
    Decimal::from_f64(x).ok_or_else(|| ScorecardError::new(at, format!("{x} is not a finite number")))
}

fn score_0_100(x: f64, at: &str) -> Result<Decimal, ScorecardError> {
    if !(0.0..=100.0).contains(&x) {
        return Err(ScorecardError::new(at, format!("{x} is not a score from 0 to 100")));
    }
    dec(x, at)
}

impl Scorecard {
    /// The scorecard used when none is configured.
    pub fn default_scorecard() -> Scorecard {
        Scorecard::parse(DEFAULT_SCORECARD).expect("the default scorecard is valid")
    }

    /// Parse scorecard TOML (the keys of `[health]`, at the top level).
    pub fn parse(text: &str) -> Result<Scorecard, ScorecardError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| ScorecardError::new("", e.to_string()))?;
        Scorecard::from_table(table)
    }

    /// From an already parsed TOML table (the `[health]` section of `tenure.toml`).
    pub fn from_table(table: toml::Table) -> Result<Scorecard, ScorecardError> {
        let raw: RawScorecard =
            toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| ScorecardError::new("", e.message()))?;
        raw.validate()
    }

    /// The band of a rounded score (the last band for anything above it).
    pub fn band_of(&self, rounded: i64) -> &str {
        self.bands.iter().find(|b| rounded <= b.max).unwrap_or_else(|| self.bands.last().expect("bands")).name.as_str()
    }

    /// The grade of a rounded score (the last grade below every `min`).
    pub fn grade_of(&self, rounded: i64) -> &str {
        self.grades
            .iter()
            .find(|g| rounded >= g.min)
            .unwrap_or_else(|| self.grades.last().expect("grades"))
            .grade
            .as_str()
    }

    /// The worst band (the one alerts call red).
    pub fn red(&self) -> &str {
        &self.bands[0].name
    }

    pub fn measures(&self) -> impl Iterator<Item = (&Group, &Measure)> {
        self.groups.iter().flat_map(|g| g.measures.iter().map(move |m| (g, m)))
    }
}

impl Scorecard {
    /// The groups as TOML under `[health]` (`[[health.groups]]` with their
    /// `[[health.groups.measures]]`), keys as the user writes them, numbers
    /// shortest-first (`scores` only when not the default even spacing);
    /// `notes` adds a comment after a measure's weight (by measure name).
    /// What `tenure churn calibrate` prints for a re-weighted scorecard.
    pub fn groups_toml(&self, notes: &BTreeMap<String, String>) -> String {
        let num = |d: &Decimal| {
            // Four decimals are plenty for a weight, cut point or score (100/3).
            let d = d.round_dp(4).normalize();
            if d.is_zero() { "0".to_string() } else { d.to_string() }
        };
        let list = |v: &[Decimal]| format!("[{}]", v.iter().map(num).collect::<Vec<_>>().join(", "));
        let text = |s: &str| toml::Value::String(s.to_string()).to_string();
        let direction = |d: &Direction| match d {
            Direction::HigherIsBetter => "\"higher_is_better\"",
            Direction::LowerIsBetter => "\"lower_is_better\"",
        };
        let mut out = String::new();
        for g in &self.groups {
            out.push_str(&format!("[[health.groups]]\nname = {}\nweight = {}\n", text(&g.name), num(&g.weight)));
            for m in &g.measures {
                out.push_str("\n  [[health.groups.measures]]\n");
                if m.name != m.input {
                    out.push_str(&format!("  name = {}\n", text(&m.name)));
                }
                out.push_str(&format!("  input = {}\n", text(&m.input)));
                let note = notes.get(&m.name).map_or(String::new(), |n| format!("  # {n}"));
                out.push_str(&format!("  weight = {}{note}\n", num(&m.weight)));
                match &m.mapping {
                    Mapping::Thresholds { direction: d, cuts, scores } => {
                        out.push_str(&format!("  direction = {}\n  thresholds = {}\n", direction(d), list(cuts)));
                        let n = Decimal::from(cuts.len() as i64);
                        let even = scores.iter().enumerate().all(|(i, s)| *s == Decimal::from(100 * i as i64) / n);
                        if !even {
                            out.push_str(&format!("  scores = {}\n", list(scores)));
                        }
                    }
                    Mapping::Range { direction: d, low, high } => {
                        out.push_str(&format!("  direction = {}\n  range = {}\n", direction(d), list(&[*low, *high])));
                    }
                    Mapping::Tiers { tiers, other } => {
                        let t: Vec<String> = tiers.iter().map(|(k, v)| format!("{} = {}", text(k), num(v))).collect();
                        out.push_str(&format!("  tiers = {{ {} }}\n", t.join(", ")));
                        if let Some(o) = other {
                            out.push_str(&format!("  other = {}\n", num(o)));
                        }
                    }
                    Mapping::Identity => out.push_str("  identity = true\n"),
                }
            }
            out.push('\n');
        }
        out
    }
}

impl RawScorecard {
    fn validate(self) -> Result<Scorecard, ScorecardError> {
        let missing =
            choice("missing", &self.missing, &[("reweight", MissingPolicy::Reweight), ("zero", MissingPolicy::Zero)])?;
        let bands = match self.bands {
            None => vec![
                Band { name: "red".into(), max: 50 },
                Band { name: "yellow".into(), max: 75 },
                Band { name: "green".into(), max: 100 },
            ],
            Some(raw) => {
                let bands: Vec<Band> = raw.into_iter().map(|b| Band { name: b.name, max: b.max }).collect();
                if bands.is_empty() || bands.last().map(|b| b.max) != Some(100) {
                    return Err(ScorecardError::new("bands", "the last band must end at max = 100"));
                }
                for (i, w) in bands.windows(2).enumerate() {
                    if w[1].max <= w[0].max {
                        return Err(ScorecardError::new(
                            &format!("bands[{}].max", i + 1),
                            "bands must be listed worst first with increasing max",
                        ));
                    }
                }
                if bands[0].max < 0 {
                    return Err(ScorecardError::new("bands[0].max", "must be 0 or more"));
                }
                bands
            }
        };
        let grades = match self.grades {
            None => [("A", 90), ("B", 80), ("C", 70), ("D", 60), ("F", 0)]
                .into_iter()
                .map(|(g, min)| Grade { grade: g.into(), min })
                .collect(),
            Some(raw) => {
                let grades: Vec<Grade> = raw.into_iter().map(|g| Grade { grade: g.grade, min: g.min }).collect();
                if grades.last().map(|g| g.min) != Some(0) {
                    return Err(ScorecardError::new("grades", "the last grade must have min = 0"));
                }
                for (i, w) in grades.windows(2).enumerate() {
                    if w[1].min >= w[0].min {
                        return Err(ScorecardError::new(
                            &format!("grades[{}].min", i + 1),
                            "grades must be listed best first with decreasing min",
                        ));
                    }
                }
                grades
            }
        };
        if self.groups.is_empty() {
            return Err(ScorecardError::new("groups", "a scorecard needs at least one group with measures"));
        }
        let mut groups = Vec::new();
        let mut names = std::collections::BTreeSet::new();
        for (gi, g) in self.groups.into_iter().enumerate() {
            let at = format!("groups[{gi}]");
            let weight = positive(g.weight, &format!("{at}.weight"))?;
            if g.measures.is_empty() {
                return Err(ScorecardError::new(&format!("{at}.measures"), "a group needs at least one measure"));
            }
            let mut measures = Vec::new();
            for (mi, m) in g.measures.into_iter().enumerate() {
                let m = m.validate(&format!("{at}.measures[{mi}]"))?;
                if !names.insert(m.name.clone()) {
                    return Err(ScorecardError::new(
                        &format!("{at}.measures[{mi}].name"),
                        format!("{:?} is used twice; give one of them a name", m.name),
                    ));
                }
                measures.push(m);
            }
            groups.push(Group { name: g.name, weight, measures });
        }
        let band_names: Vec<&str> = bands.iter().map(|b| b.name.as_str()).collect();
        let mut alerts = Vec::new();
        for (i, a) in self.alerts.into_iter().enumerate() {
            let at = format!("alerts[{i}]");
            let need_days = |d: Option<u32>| {
                d.ok_or_else(|| ScorecardError::new(&format!("{at}.within_days"), "required for this rule"))
            };
            let condition = match a.when.as_str() {
                "enters_band" => {
                    let band = a.band.ok_or_else(|| ScorecardError::new(&format!("{at}.band"), "required"))?;
                    if !band_names.contains(&band.as_str()) {
                        return Err(ScorecardError::new(
                            &format!("{at}.band"),
                            format!("{band:?} is not one of the bands: {}", band_names.join(", ")),
                        ));
                    }
                    AlertCondition::EntersBand { band }
                }
                "drops" => AlertCondition::Drops {
                    points: positive(
                        a.points.ok_or_else(|| ScorecardError::new(&format!("{at}.points"), "required"))?,
                        &format!("{at}.points"),
                    )?,
                    within_days: need_days(a.within_days)?,
                },
                "measure_red" => {
                    if let Some(m) = &a.measure
                        && !names.contains(m)
                    {
                        return Err(ScorecardError::new(
                            &format!("{at}.measure"),
                            format!("{m:?} is not a measure of this scorecard"),
                        ));
                    }
                    AlertCondition::MeasureRed { measure: a.measure }
                }
                "renewal_while_red" => AlertCondition::RenewalWhileRed { within_days: need_days(a.within_days)? },
                other => {
                    return Err(ScorecardError::new(
                        &format!("{at}.when"),
                        format!("{other:?} is not one of: enters_band, drops, measure_red, renewal_while_red"),
                    ));
                }
            };
            alerts.push(AlertRule {
                name: a.name.unwrap_or_else(|| format!("{} {}", a.when, i + 1)),
                condition,
                cooldown_days: a.cooldown_days.unwrap_or(DEFAULT_COOLDOWN_DAYS),
            });
        }
        let webhook = match self.webhook {
            None => None,
            Some(w) => {
                let https = w.url.starts_with("https://");
                if !https && !w.url.starts_with("http://") {
                    return Err(ScorecardError::new(
                        "webhook.url",
                        format!("{:?}: give an http:// or https:// URL", w.url),
                    ));
                }
                if w.ca_file.is_some() && !https {
                    return Err(ScorecardError::new("webhook.ca_file", "only goes with an https:// url"));
                }
                Some(Webhook {
                    url: w.url,
                    ca_file: w.ca_file,
                    retries: w.retries.unwrap_or(3),
                    backoff_ms: w.backoff_ms.unwrap_or(500),
                })
            }
        };
        let alert_tasks = choice(
            "alert_tasks",
            &self.alert_tasks,
            &[("per_rule", TaskGrouping::PerRule), ("per_account", TaskGrouping::PerAccount)],
        )?;
        let slow_tickets_clock = choice(
            "slow_tickets_clock",
            &self.slow_tickets_clock,
            &[("calendar", SlowTicketClock::Calendar), ("business", SlowTicketClock::Business)],
        )?;
        let trend_tolerance = match self.trend_tolerance {
            None => Decimal::ONE,
            Some(t) if t >= 0.0 => dec(t, "trend_tolerance")?,
            Some(t) => return Err(ScorecardError::new("trend_tolerance", format!("{t} must be 0 or more"))),
        };
        Ok(Scorecard {
            groups,
            missing,
            bands,
            grades,
            look_back_days: self.look_back_days.unwrap_or(30),
            trend_tolerance,
            alerts,
            webhook,
            alert_tasks,
            alerts_every_seconds: self.alerts_every_seconds.unwrap_or(DEFAULT_ALERTS_EVERY_SECONDS),
            slow_tickets_clock,
        })
    }
}

/// The option named by a key's text; the first option when the key is absent.
fn choice<T: Copy>(key: &str, given: &Option<String>, options: &[(&str, T)]) -> Result<T, ScorecardError> {
    let Some(given) = given else { return Ok(options[0].1) };
    options.iter().find(|(name, _)| name == given).map(|(_, v)| *v).ok_or_else(|| {
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        ScorecardError::new(key, format!("{given:?} is not one of: {}", names.join(", ")))
    })
}

fn positive(x: f64, at: &str) -> Result<Decimal, ScorecardError> {
    if x.is_nan() || x <= 0.0 {
        return Err(ScorecardError::new(at, format!("{x} must be more than 0")));
    }
    dec(x, at)
}

impl RawMeasure {
    fn validate(self, at: &str) -> Result<Measure, ScorecardError> {
        let key = |k: &str| format!("{at}.{k}");
        let direction = || match self.direction.as_deref() {
            Some("higher_is_better") => Ok(Direction::HigherIsBetter),
            Some("lower_is_better") => Ok(Direction::LowerIsBetter),
            Some(other) => Err(ScorecardError::new(
                &key("direction"),
                format!("{other:?} is not one of: higher_is_better, lower_is_better"),
            )),
            None => Err(ScorecardError::new(
                &key("direction"),
                "required with thresholds or range: higher_is_better or lower_is_better",
            )),
        };
        let given =
            [self.thresholds.is_some(), self.range.is_some(), self.tiers.is_some(), self.identity == Some(true)];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(ScorecardError::new(
                at,
                format!("measure {:?} needs exactly one of: thresholds, range, tiers, identity = true", self.input),
            ));
        }
        if self.scores.is_some() && self.thresholds.is_none() {
            return Err(ScorecardError::new(&key("scores"), "only goes with thresholds"));
        }
        if self.other.is_some() && self.tiers.is_none() {
            return Err(ScorecardError::new(&key("other"), "only goes with tiers"));
        }
        let mapping = if let Some(t) = &self.thresholds {
            if t.is_empty() {
                return Err(ScorecardError::new(&key("thresholds"), "needs at least one cut point"));
            }
            let cuts = t.iter().map(|x| dec(*x, &key("thresholds"))).collect::<Result<Vec<_>, _>>()?;
            if cuts.windows(2).any(|w| w[1] <= w[0]) {
                return Err(ScorecardError::new(&key("thresholds"), "cut points must increase"));
            }
            let scores = match &self.scores {
                Some(s) => {
                    if s.len() != cuts.len() + 1 {
                        return Err(ScorecardError::new(
                            &key("scores"),
                            format!(
                                "{} cut points make {} bands: give {} scores, worst band first",
                                cuts.len(),
                                cuts.len() + 1,
                                cuts.len() + 1
                            ),
                        ));
                    }
                    s.iter().map(|x| score_0_100(*x, &key("scores"))).collect::<Result<Vec<_>, _>>()?
                }
                // Evenly spaced from 0 (worst band) to 100 (best).
                None => {
                    (0..=cuts.len()).map(|i| Decimal::from(100 * i as i64) / Decimal::from(cuts.len() as i64)).collect()
                }
            };
            Mapping::Thresholds { direction: direction()?, cuts, scores }
        } else if let Some(r) = &self.range {
            if r.len() != 2 || r[1] <= r[0] {
                return Err(ScorecardError::new(&key("range"), "must be [low, high] with low < high"));
            }
            Mapping::Range { direction: direction()?, low: dec(r[0], &key("range"))?, high: dec(r[1], &key("range"))? }
        } else if let Some(t) = &self.tiers {
            let tiers = t
                .iter()
                .map(|(k, v)| Ok((k.clone(), score_0_100(*v, &format!("{at}.tiers.{k}"))?)))
                .collect::<Result<BTreeMap<_, _>, ScorecardError>>()?;
            let other = self.other.map(|o| score_0_100(o, &key("other"))).transpose()?;
            Mapping::Tiers { tiers, other }
        } else {
            Mapping::Identity
        };
        if self.direction.is_some() && matches!(mapping, Mapping::Tiers { .. } | Mapping::Identity) {
            return Err(ScorecardError::new(&key("direction"), "only goes with thresholds or range"));
        }
        Ok(Measure {
            name: self.name.unwrap_or_else(|| self.input.clone()),
            input: self.input,
            weight: positive(self.weight.unwrap_or(1.0), &key("weight"))?,
            mapping,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_written_as_toml_parse_back_to_the_same_groups() {
        let card = Scorecard::parse(
            r#"
[[groups]]
name = "usage"
weight = 2.5
  [[groups.measures]]
  input = "dau_mau_ratio"
  direction = "higher_is_better"
  thresholds = [0.05, 0.1]
  [[groups.measures]]
  input = "open_tickets"
  direction = "lower_is_better"
  thresholds = [0, 2]
  scores = [0, 40, 100]
  [[groups.measures]]
  name = "trend"
  input = "usage_trend_pct"
  weight = 3
  direction = "lower_is_better"
  range = [-50, 10]
[[groups]]
name = "relationship"
weight = 1
  [[groups.measures]]
  input = "plan_tier"
  tiers = { enterprise = 100, "mid market" = 60 }
  other = 40
  [[groups.measures]]
  input = "csm_pulse"
  identity = true
"#,
        )
        .unwrap();
        let notes = BTreeMap::from([("trend".to_string(), "was 75%".to_string())]);
        let text = card.groups_toml(&notes);
        assert!(
            text.contains("  name = \"trend\"\n  input = \"usage_trend_pct\"\n  weight = 3  # was 75%\n"),
            "{text}"
        );
        assert_eq!(text.matches("scores = ").count(), 1, "even default scores are not written: {text}");
        let mut table: toml::Table = toml::from_str(&text).unwrap();
        let Some(toml::Value::Table(health)) = table.remove("health") else { panic!("{text}") };
        let again = Scorecard::from_table(health).unwrap();
        assert_eq!(again.groups, card.groups, "{text}");
    }

    #[test]
    fn the_default_scorecard_parses_with_the_default_bands_and_grades() {
        let s = Scorecard::default_scorecard();
        assert_eq!(s.groups.len(), 4);
        assert_eq!(s.missing, MissingPolicy::Reweight);
        assert_eq!(
            (s.band_of(0), s.band_of(50), s.band_of(51), s.band_of(75), s.band_of(76)),
            ("red", "red", "yellow", "yellow", "green")
        );
        assert_eq!(s.band_of(100), "green");
        assert_eq!((s.grade_of(90), s.grade_of(89), s.grade_of(60), s.grade_of(59)), ("A", "B", "D", "F"));
        assert_eq!(s.alerts.len(), 3);
    }

    #[test]
    fn mistakes_name_the_key() {
        let one = |body: &str| {
            Scorecard::parse(&format!("[[groups]]\nname = \"g\"\nweight = 1\n[[groups.measures]]\n{body}"))
                .unwrap_err()
                .to_string()
        };
        let e = one("input = \"x\"\nthresholds = [1, 2]");
        assert!(e.contains("groups[0].measures[0].direction") && e.contains("higher_is_better"), "{e}");
        let e = one("input = \"x\"\ndirection = \"higher_is_better\"\nthresholds = [2, 1]");
        assert!(e.contains("thresholds") && e.contains("increase"), "{e}");
        let e = one("input = \"x\"\ndirection = \"up\"\nrange = [0, 1]");
        assert!(e.contains("\"up\" is not one of"), "{e}");
        let e = one("input = \"x\"\ndirection = \"higher_is_better\"\nthresholds = [1]\nscores = [0, 50, 100]");
        assert!(e.contains("give 2 scores"), "{e}");
        let e = one("input = \"x\"\nrange = [0, 1]\ntiers = { a = 1 }");
        assert!(e.contains("exactly one of"), "{e}");
        let e = one("input = \"x\"\nidentity = true\nwieght = 2");
        assert!(e.contains("wieght"), "{e}");
        let e = one("input = \"x\"\ntiers = { a = 120 }");
        assert!(e.contains("groups[0].measures[0].tiers.a") && e.contains("0 to 100"), "{e}");
        let e = Scorecard::parse("missing = \"skip\"\n[[groups]]\nname = \"g\"\nweight = 1").unwrap_err().to_string();
        assert!(e.contains("missing") && e.contains("reweight, zero"), "{e}");
        let e = Scorecard::parse("bands = [{ name = \"red\", max = 50 }]\n").unwrap_err().to_string();
        assert!(e.contains("max = 100"), "{e}");
        // Top-level keys, then the tables after one valid group.
        let card = |top: &str, tables: &str| {
            let group = "[[groups]]\nname = \"g\"\nweight = 1\n[[groups.measures]]\ninput = \"x\"\nidentity = true";
            Scorecard::parse(&format!("{top}\n{group}\n{tables}"))
        };
        let e = card("alert_tasks = \"per_team\"", "").unwrap_err().to_string();
        assert!(e.contains("alert_tasks") && e.contains("per_rule, per_account"), "{e}");
        let e = card("slow_tickets_clock = \"wall\"", "").unwrap_err().to_string();
        assert!(e.contains("slow_tickets_clock") && e.contains("calendar, business"), "{e}");
        let e = card("", "[webhook]\nurl = \"ftp://x\"").unwrap_err().to_string();
        assert!(e.contains("webhook.url") && e.contains("https://"), "{e}");
        let e = card("", "[webhook]\nurl = \"http://x\"\nca_file = \"ca.pem\"").unwrap_err().to_string();
        assert!(e.contains("webhook.ca_file"), "{e}");
        let s = card("alert_tasks = \"per_account\"", "[webhook]\nurl = \"https://x\"\nca_file = \"ca.pem\"").unwrap();
        assert_eq!((s.alert_tasks, s.slow_tickets_clock), (TaskGrouping::PerAccount, SlowTicketClock::Calendar));
        assert_eq!(s.webhook.unwrap().ca_file, Some("ca.pem".into()));
    }

    #[test]
    fn evenly_spaced_threshold_scores_by_default() {
        let s = Scorecard::parse(
            "[[groups]]\nname = \"g\"\nweight = 1\n[[groups.measures]]\ninput = \"x\"\ndirection = \"lower_is_better\"\nthresholds = [0, 1, 3]",
        )
        .unwrap();
        let Mapping::Thresholds { scores, .. } = &s.groups[0].measures[0].mapping else { panic!() };
        let want: Vec<Decimal> = [0, 100, 200, 300].iter().map(|x| Decimal::from(*x) / Decimal::from(3)).collect();
        assert_eq!(scores, &want);
    }
}
