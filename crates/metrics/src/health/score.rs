//! Scoring accounts with a [`Scorecard`]: each measure's 0-100 score, group
//! scores with the effective (re-normalised) weights, the overall score and
//! its representations (rounded number, color band, grade, rank), manual
//! overrides, trend against a look-back, the input that moved the score most,
//! and per-segment profiles.

use std::collections::BTreeMap;

use jiff::civil::Date;
use rust_decimal::Decimal;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::scorecard::{Direction, Mapping, Measure, MissingPolicy, Scorecard};
use crate::round::{self, round_dp};

/// One input of an account: a number, or text (a customer attribute such as
/// `plan_tier`, for tiers).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum InputValue {
    Number(f64),
    Text(String),
}

/// An account's inputs by name; a missing input is simply absent.
pub type Inputs = BTreeMap<String, InputValue>;

impl InputValue {
    fn number(&self) -> Option<Decimal> {
        match self {
            InputValue::Number(x) => Decimal::from_f64(*x),
            InputValue::Text(s) => s.trim().parse::<f64>().ok().and_then(Decimal::from_f64),
        }
    }
    fn text(&self) -> String {
        match self {
            InputValue::Number(x) => x.to_string(),
            InputValue::Text(s) => s.clone(),
        }
    }
    pub fn to_json(&self) -> Value {
        match self {
            InputValue::Number(x) => serde_json::Number::from_f64(*x).map_or(Value::Null, Value::Number),
            InputValue::Text(s) => Value::from(s.as_str()),
        }
    }
}

/// A measure's 0-100 score for an input value; `None` when the value cannot
/// be scored (text where a number is needed, a tier not listed without `other`).
pub fn map_value(mapping: &Mapping, v: &InputValue) -> Option<Decimal> {
    match mapping {
        Mapping::Thresholds { direction, cuts, scores } => {
            let x = v.number()?;
            // Bands between cut points, counted from the worst; reaching a cut
            // point earns the better band.
            let band = match direction {
                Direction::HigherIsBetter => cuts.iter().filter(|c| x >= **c).count(),
                Direction::LowerIsBetter => cuts.iter().filter(|c| x <= **c).count(),
            };
            Some(scores[band])
        }
        Mapping::Range { direction, low, high } => {
            let x = v.number()?.clamp(*low, *high);
            let up = (x - low) * Decimal::ONE_HUNDRED / (high - low);
            Some(match direction {
                Direction::HigherIsBetter => up,
                Direction::LowerIsBetter => Decimal::ONE_HUNDRED - up,
            })
        }
        Mapping::Tiers { tiers, other } => tiers.get(&v.text()).copied().or(*other),
        Mapping::Identity => Some(v.number()?.clamp(Decimal::ZERO, Decimal::ONE_HUNDRED)),
    }
}

/// One measure of a scored account.
#[derive(Clone, Debug, PartialEq)]
pub struct MeasureScore {
    pub measure: String,
    pub group: String,
    pub input: String,
    pub value: Option<InputValue>,
    /// `None` when the input is missing (under `missing = "zero"` it then
    /// counts as 0 but stays `None` here, so it still shows as missing).
    pub score: Option<Decimal>,
    /// Its share of the overall score, 0-1 (0 when dropped).
    pub effective_weight: Decimal,
}

/// One group of a scored account.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupScore {
    pub group: String,
    /// `None` when every measure was missing (the group is dropped).
    pub score: Option<Decimal>,
    /// Its share of the overall score, 0-1 (0 when dropped).
    pub effective_weight: Decimal,
}

/// A manual override of an account's score (Gainsight's "override the
/// score"): in force from `set_on` until the day before `expires` (exclusive,
/// like every end date in Tenure).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Override {
    pub account: String,
    pub score: f64,
    pub reason: String,
    pub set_on: Date,
    pub expires: Date,
}

impl Override {
    pub fn in_force(&self, as_of: Date) -> bool {
        self.set_on <= as_of && as_of < self.expires
    }
}

/// An account's health on one day.
#[derive(Clone, Debug, PartialEq)]
pub struct AccountScore {
    pub account: String,
    pub as_of: Date,
    /// The score the scorecard gives (before any override); `None` when no
    /// input of any group is present.
    pub computed: Option<Decimal>,
    /// The override in force, if any: it replaces the overall score.
    pub override_: Option<Override>,
    pub groups: Vec<GroupScore>,
    pub measures: Vec<MeasureScore>,
    pub missing_inputs: Vec<String>,
    /// 1 = healthiest; ties share a rank. Set by [`rank`].
    pub rank: Option<u64>,
}

impl AccountScore {
    /// The overall score: the override's when one is in force.
    pub fn overall(&self) -> Option<Decimal> {
        match &self.override_ {
            Some(o) => Decimal::from_f64(o.score),
            None => self.computed,
        }
    }

    /// Rounded half away from zero to an integer (what bands and grades use).
    pub fn rounded(&self) -> Option<i64> {
        self.overall().and_then(|s| round_dp(s, 0).to_i64())
    }

    pub fn color<'a>(&self, card: &'a Scorecard) -> Option<&'a str> {
        self.rounded().map(|r| card.band_of(r))
    }

    pub fn grade<'a>(&self, card: &'a Scorecard) -> Option<&'a str> {
        self.rounded().map(|r| card.grade_of(r))
    }

    /// The measures whose own rounded score is in the worst band.
    pub fn red_measures(&self, card: &Scorecard) -> Vec<String> {
        self.measures
            .iter()
            .filter(|m| m.score.and_then(|s| round_dp(s, 0).to_i64()).is_some_and(|r| card.band_of(r) == card.red()))
            .map(|m| m.measure.clone())
            .collect()
    }

    /// The JSON of SPEC 2.4b (`overall_score`, `overall_score_rounded`,
    /// `color`, `grade`, `rank`, `group_scores`, `effective_group_weights_pct`,
    /// `missing_inputs`) plus each measure's value, score and effective weight.
    pub fn to_json(&self, card: &Scorecard) -> Value {
        let d2 = |x: Option<Decimal>| round::json(x.map(|x| round_dp(x, 2)));
        let mut group_scores = serde_json::Map::new();
        let mut weights = serde_json::Map::new();
        for g in &self.groups {
            group_scores.insert(g.group.clone(), d2(g.score));
            weights.insert(g.group.clone(), d2(Some(g.effective_weight * Decimal::ONE_HUNDRED)));
        }
        let measures: Vec<Value> = self
            .measures
            .iter()
            .map(|m| {
                json!({
                    "measure": m.measure,
                    "group": m.group,
                    "input": m.input,
                    "value": m.value.as_ref().map_or(Value::Null, InputValue::to_json),
                    "score": d2(m.score),
                    "effective_weight_pct": d2(Some(m.effective_weight * Decimal::ONE_HUNDRED)),
                })
            })
            .collect();
        json!({
            "account": self.account,
            "as_of": self.as_of.to_string(),
            "overall_score": d2(self.overall()),
            "overall_score_rounded": self.rounded(),
            "color": self.color(card),
            "grade": self.grade(card),
            "rank": self.rank,
            "computed_score": d2(self.computed),
            "override": self.override_.as_ref().map(|o| json!({
                "score": o.score, "reason": o.reason, "set_on": o.set_on.to_string(), "expires": o.expires.to_string(),
            })),
            "group_scores": group_scores,
            "effective_group_weights_pct": weights,
            "missing_inputs": self.missing_inputs,
            "measures": measures,
        })
    }
}

/// Weighted mean of `(weight, score)` pairs with the weights normalised to
/// sum to 1; `None` for no pairs.
fn normalised(items: &[(Decimal, Decimal)]) -> Option<(Decimal, Decimal)> {
    let total: Decimal = items.iter().map(|(w, _)| *w).sum();
    (total > Decimal::ZERO).then(|| (total, items.iter().map(|(w, s)| *w * *s).sum::<Decimal>() / total))
}

/// Score one account's inputs as of `as_of` (overrides in force applied).
pub fn score_account(
    card: &Scorecard,
    account: &str,
    as_of: Date,
    inputs: &Inputs,
    overrides: &[Override],
) -> AccountScore {
    let zero = card.missing == MissingPolicy::Zero;
    let mut measures = Vec::new();
    let mut groups = Vec::new();
    let mut missing_inputs = Vec::new();
    // (group weight, group score) of the groups kept, and each kept group's
    // measures' (weight within the group) for the effective weights below.
    let mut kept: Vec<(Decimal, Decimal)> = Vec::new();
    for g in &card.groups {
        let first = measures.len();
        let mut present: Vec<(Decimal, Decimal)> = Vec::new();
        for m in &g.measures {
            let value = inputs.get(&m.input).cloned();
            let score = value.as_ref().and_then(|v| map_value(&m.mapping, v));
            if score.is_none() && !missing_inputs.contains(&m.input) {
                missing_inputs.push(m.input.clone());
            }
            match (score, zero) {
                (Some(s), _) => present.push((m.weight, s)),
                (None, true) => present.push((m.weight, Decimal::ZERO)),
                (None, false) => {}
            }
            measures.push(MeasureScore {
                measure: m.name.clone(),
                group: g.name.clone(),
                input: m.input.clone(),
                value,
                score,
                effective_weight: Decimal::ZERO,
            });
        }
        let within = normalised(&present);
        if let Some((total, s)) = within {
            kept.push((g.weight, s));
            // Within-group shares; scaled by the group's share once known.
            for (ms, m) in measures[first..].iter_mut().zip(&g.measures) {
                if ms.score.is_some() || zero {
                    ms.effective_weight = m.weight / total;
                }
            }
        }
        groups.push(GroupScore { group: g.name.clone(), score: within.map(|w| w.1), effective_weight: Decimal::ZERO });
    }
    let overall = normalised(&kept);
    if let Some((total, _)) = overall {
        for (gs, g) in groups.iter_mut().zip(&card.groups) {
            if gs.score.is_some() {
                gs.effective_weight = g.weight / total;
            }
        }
    }
    for ms in &mut measures {
        let gw = groups.iter().find(|g| g.group == ms.group).map_or(Decimal::ZERO, |g| g.effective_weight);
        ms.effective_weight *= gw;
    }
    AccountScore {
        account: account.to_string(),
        as_of,
        computed: overall.map(|o| o.1),
        override_: overrides.iter().rev().find(|o| o.account == account && o.in_force(as_of)).cloned(),
        groups,
        measures,
        missing_inputs,
        rank: None,
    }
}

/// Rank scored accounts by overall score, 1 = healthiest; equal scores share
/// the rank and the next rank skips (1, 2, 2, 4). Unscored accounts get none.
pub fn rank(scores: &mut [AccountScore]) {
    let overall: Vec<Option<Decimal>> = scores.iter().map(AccountScore::overall).collect();
    for (s, r) in scores.iter_mut().zip(ranks(&overall)) {
        s.rank = r;
    }
}

/// The ranks [`rank`] gives to accounts with these overall scores: what a
/// caller that keeps only the overall scores (a million accounts) ranks with.
pub fn ranks(overall: &[Option<Decimal>]) -> Vec<Option<u64>> {
    let mut order: Vec<(Decimal, usize)> = overall.iter().enumerate().filter_map(|(i, s)| s.map(|o| (o, i))).collect();
    order.sort_by_key(|a| std::cmp::Reverse(a.0));
    let mut out = vec![None; overall.len()];
    let mut prev: Option<(Decimal, u64)> = None;
    for (pos, (score, i)) in order.into_iter().enumerate() {
        let r = match prev {
            Some((p, r)) if p == score => r,
            _ => pos as u64 + 1,
        };
        out[i] = Some(r);
        prev = Some((score, r));
    }
    out
}

/// `up`, `down` or `same` against an earlier score (a change smaller than
/// the tolerance is `same`); `None` when either is unscored.
pub fn trend(now: Option<Decimal>, then: Option<Decimal>, tolerance: Decimal) -> Option<(&'static str, Decimal)> {
    let delta = now? - then?;
    Some((
        if delta >= tolerance && delta > Decimal::ZERO {
            "up"
        } else if -delta >= tolerance && delta < Decimal::ZERO {
            "down"
        } else {
            "same"
        },
        delta,
    ))
}

/// The measure whose contribution to the overall score (effective weight x
/// score) changed most between `then` and `now`, with the points it moved.
pub fn top_mover<'a>(now: &'a AccountScore, then: &AccountScore) -> Option<(&'a MeasureScore, Decimal)> {
    let contribution = |m: &MeasureScore| m.effective_weight * m.score.unwrap_or(Decimal::ZERO);
    now.measures
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            // Scores of one scorecard list their measures in the same order
            // (and names are unique): look by name only when they do not.
            let same = then.measures.get(i).filter(|b| b.measure == m.measure);
            let before = same
                .or_else(|| then.measures.iter().find(|b| b.measure == m.measure))
                .map_or(Decimal::ZERO, contribution);
            let d = contribution(m) - before;
            (d != Decimal::ZERO).then_some((m, d))
        })
        .max_by(|a, b| a.1.abs().cmp(&b.1.abs()))
}

/// Per-segment profile: accounts, mean and median overall score, accounts
/// per color and the mean of each group's score.
pub fn profiles(card: &Scorecard, scores: &[AccountScore], segment_of: impl Fn(&str) -> String) -> Vec<Value> {
    let mut by: BTreeMap<String, Vec<&AccountScore>> = BTreeMap::new();
    for s in scores {
        by.entry(segment_of(&s.account)).or_default().push(s);
    }
    by.into_iter()
        .map(|(segment, members)| {
            let mut overall: Vec<Decimal> = members.iter().filter_map(|s| s.overall()).collect();
            overall.sort();
            let mean = |v: &[Decimal]| (!v.is_empty()).then(|| v.iter().sum::<Decimal>() / Decimal::from(v.len()));
            let median = (!overall.is_empty()).then(|| {
                let n = overall.len();
                if n % 2 == 1 { overall[n / 2] } else { (overall[n / 2 - 1] + overall[n / 2]) / Decimal::TWO }
            });
            let mut colors = serde_json::Map::new();
            for b in &card.bands {
                let n = members.iter().filter(|s| s.color(card) == Some(b.name.as_str())).count();
                colors.insert(b.name.clone(), Value::from(n));
            }
            let mut groups = serde_json::Map::new();
            for g in &card.groups {
                let v: Vec<Decimal> = members
                    .iter()
                    .filter_map(|s| s.groups.iter().find(|x| x.group == g.name).and_then(|x| x.score))
                    .collect();
                groups.insert(g.name.clone(), round::json(mean(&v).map(|m| round_dp(m, 2))));
            }
            json!({
                "segment": segment,
                "accounts": members.len(),
                "scored_accounts": overall.len(),
                "mean_score": round::json(mean(&overall).map(|m| round_dp(m, 2))),
                "median_score": round::json(median.map(|m| round_dp(m, 2))),
                "accounts_by_color": colors,
                "mean_group_scores": groups,
            })
        })
        .collect()
}

/// The measure named `name` of a scorecard.
pub fn measure<'a>(card: &'a Scorecard, name: &str) -> Option<&'a Measure> {
    card.measures().map(|(_, m)| m).find(|m| m.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn num(pairs: &[(&str, f64)]) -> Inputs {
        pairs.iter().map(|(k, v)| (k.to_string(), InputValue::Number(*v))).collect()
    }

    const DAY: Date = jiff::civil::date(2025, 3, 1);

    /// Two groups: usage (weight 60: a x2, b x1) and support (weight 40: c).
    fn card(extra: &str) -> Scorecard {
        Scorecard::parse(&format!(
            r#"{extra}
[[groups]]
name = "usage"
weight = 60
  [[groups.measures]]
  input = "a"
  weight = 2
  identity = true
  [[groups.measures]]
  input = "b"
  identity = true
[[groups]]
name = "support"
weight = 40
  [[groups.measures]]
  input = "c"
  identity = true
"#
        ))
        .unwrap()
    }

    #[test]
    fn all_inputs_present_is_the_weighted_mean() {
        let c = card("");
        let s = score_account(&c, "x", DAY, &num(&[("a", 90.0), ("b", 60.0), ("c", 30.0)]), &[]);
        // usage = (2*90 + 60)/3 = 80; overall = 0.6*80 + 0.4*30 = 60.
        assert_eq!(s.groups[0].score, Some(d("80")));
        assert_eq!(s.computed, Some(d("60")));
        assert_eq!(s.color(&c), Some("yellow"));
        assert_eq!(s.grade(&c), Some("D"));
        assert!(s.missing_inputs.is_empty());
        let j = s.to_json(&c);
        assert_eq!(j["effective_group_weights_pct"]["usage"], json!(60.0));
        assert_eq!(j["measures"][0]["effective_weight_pct"], json!(40.0));
    }

    #[test]
    fn a_missing_measure_is_dropped_and_its_group_reweighted() {
        let c = card("");
        // b missing: usage = a alone = 90; overall = 0.6*90 + 0.4*30 = 66.
        let s = score_account(&c, "x", DAY, &num(&[("a", 90.0), ("c", 30.0)]), &[]);
        assert_eq!(s.groups[0].score, Some(d("90")));
        assert_eq!(s.computed, Some(d("66")));
        assert_eq!(s.missing_inputs, vec!["b"]);
        assert_eq!(s.measures[0].effective_weight, d("0.6"));
        assert_eq!(s.measures[1].effective_weight, Decimal::ZERO);
    }

    #[test]
    fn an_empty_group_is_dropped_and_the_groups_reweighted() {
        let c = card("");
        // c missing: support dropped; usage = (2*90+60)/3 = 80 carries 100%.
        let s = score_account(&c, "x", DAY, &num(&[("a", 90.0), ("b", 60.0)]), &[]);
        assert_eq!(s.computed, Some(d("80")));
        assert_eq!(s.groups[1].score, None);
        assert_eq!(s.groups[0].effective_weight, Decimal::ONE);
        let j = s.to_json(&c);
        assert_eq!(j["effective_group_weights_pct"]["support"], json!(0.0));
        assert_eq!(j["group_scores"]["support"], Value::Null);
        // Nothing at all: unscored, not 0.
        let s = score_account(&c, "x", DAY, &Inputs::new(), &[]);
        assert_eq!((s.computed, s.color(&c), s.missing_inputs.len()), (None, None, 3));
    }

    #[test]
    fn missing_as_zero_keeps_every_weight() {
        let c = card("missing = \"zero\"");
        // usage = (2*90 + 0)/3 = 60; support = 0; overall = 36.
        let s = score_account(&c, "x", DAY, &num(&[("a", 90.0)]), &[]);
        assert_eq!(s.groups[0].score, Some(d("60")));
        assert_eq!(s.computed, Some(d("36")));
        assert_eq!(s.missing_inputs, vec!["b", "c"]);
        assert_eq!(s.measures[2].effective_weight, d("0.4"));
    }

    #[test]
    fn band_edges_use_the_rounded_score() {
        let c = card("");
        let color = |x: f64| {
            let s = score_account(&c, "x", DAY, &num(&[("a", x), ("b", x), ("c", x)]), &[]);
            (s.rounded().unwrap(), s.color(&c).unwrap().to_string())
        };
        assert_eq!(color(50.0), (50, "red".into()));
        assert_eq!(color(50.4), (50, "red".into()));
        assert_eq!(color(50.5), (51, "yellow".into()), "half rounds away from zero, then bands");
        assert_eq!(color(51.0), (51, "yellow".into()));
        assert_eq!(color(75.0), (75, "yellow".into()));
        assert_eq!(color(75.49), (75, "yellow".into()));
        assert_eq!(color(75.5), (76, "green".into()));
        assert_eq!(color(76.0), (76, "green".into()));
        assert_eq!(color(0.0), (0, "red".into()), "the first band includes its lower edge");
        assert_eq!(color(100.0), (100, "green".into()));
    }

    #[test]
    fn thresholds_range_and_tiers_follow_the_direction() {
        let up = Mapping::Thresholds {
            direction: Direction::HigherIsBetter,
            cuts: vec![d("10"), d("20")],
            scores: vec![d("0"), d("50"), d("100")],
        };
        let n = |x: f64| InputValue::Number(x);
        assert_eq!(map_value(&up, &n(9.99)), Some(d("0")));
        assert_eq!(map_value(&up, &n(10.0)), Some(d("50")), "reaching a cut earns the better band");
        assert_eq!(map_value(&up, &n(25.0)), Some(d("100")));
        let down = Mapping::Thresholds {
            direction: Direction::LowerIsBetter,
            cuts: vec![d("0"), d("2")],
            scores: vec![d("0"), d("40"), d("100")],
        };
        assert_eq!(map_value(&down, &n(0.0)), Some(d("100")));
        assert_eq!(map_value(&down, &n(1.0)), Some(d("40")));
        assert_eq!(map_value(&down, &n(2.0)), Some(d("40")));
        assert_eq!(map_value(&down, &n(3.0)), Some(d("0")));
        let range = Mapping::Range { direction: Direction::LowerIsBetter, low: d("0"), high: d("200") };
        assert_eq!(map_value(&range, &n(50.0)), Some(d("75")));
        assert_eq!(map_value(&range, &n(-5.0)), Some(d("100")), "clamped");
        let tiers = Mapping::Tiers { tiers: [("enterprise".to_string(), d("90"))].into(), other: None };
        assert_eq!(map_value(&tiers, &InputValue::Text("enterprise".into())), Some(d("90")));
        assert_eq!(map_value(&tiers, &InputValue::Text("starter".into())), None, "unlisted without other");
        assert_eq!(map_value(&Mapping::Identity, &InputValue::Text("abc".into())), None);
        assert_eq!(map_value(&Mapping::Identity, &n(130.0)), Some(d("100")));
    }

    #[test]
    fn an_override_replaces_the_score_until_it_expires() {
        let c = card("");
        let o = Override {
            account: "x".into(),
            score: 90.0,
            reason: "exec sponsor engaged".into(),
            set_on: jiff::civil::date(2025, 2, 20),
            expires: jiff::civil::date(2025, 3, 2),
        };
        let inputs = num(&[("a", 10.0), ("b", 10.0), ("c", 10.0)]);
        let s = score_account(&c, "x", DAY, &inputs, std::slice::from_ref(&o));
        assert_eq!((s.overall(), s.computed, s.color(&c)), (Some(d("90")), Some(d("10")), Some("green")));
        // On the expiry day it no longer applies; before it was set, neither.
        let s = score_account(&c, "x", jiff::civil::date(2025, 3, 2), &inputs, std::slice::from_ref(&o));
        assert_eq!((s.overall(), s.override_.is_none()), (Some(d("10")), true));
        let s = score_account(&c, "x", jiff::civil::date(2025, 2, 19), &inputs, std::slice::from_ref(&o));
        assert!(s.override_.is_none());
        // Another account's override does not apply.
        let s = score_account(&c, "y", DAY, &inputs, std::slice::from_ref(&o));
        assert!(s.override_.is_none());
    }

    #[test]
    fn ranks_share_ties_and_skip() {
        let c = card("");
        let mut v: Vec<AccountScore> = [("p", 70.0), ("q", 90.0), ("r", 70.0), ("s", 10.0)]
            .iter()
            .map(|(a, x)| score_account(&c, a, DAY, &num(&[("a", *x), ("b", *x), ("c", *x)]), &[]))
            .collect();
        v.push(score_account(&c, "t", DAY, &Inputs::new(), &[]));
        rank(&mut v);
        let ranks: Vec<Option<u64>> = v.iter().map(|s| s.rank).collect();
        assert_eq!(ranks, vec![Some(2), Some(1), Some(2), Some(4), None]);
    }

    #[test]
    fn ranks_from_overall_scores_alone() {
        // Two tied for second, an unscored account, the worst fourth.
        let overall = [Some(d("70")), Some(d("90")), None, Some(d("70.0")), Some(d("10"))];
        assert_eq!(ranks(&overall), vec![Some(2), Some(1), None, Some(2), Some(4)]);
        assert!(ranks(&[]).is_empty());
    }

    #[test]
    fn trend_and_the_input_that_moved_most() {
        let c = card("");
        let then = score_account(&c, "x", DAY, &num(&[("a", 80.0), ("b", 80.0), ("c", 80.0)]), &[]);
        // a drops 30 (effective weight 0.4: -12 points), c rises 10 (0.4: +4).
        let now = score_account(&c, "x", DAY, &num(&[("a", 50.0), ("b", 80.0), ("c", 90.0)]), &[]);
        assert_eq!(trend(now.overall(), then.overall(), Decimal::ONE), Some(("down", d("-8"))));
        let (m, pts) = top_mover(&now, &then).unwrap();
        assert_eq!((m.measure.as_str(), pts), ("a", d("-12")));
        assert_eq!(trend(Some(d("60.5")), Some(d("60")), Decimal::ONE).unwrap().0, "same");
        assert_eq!(trend(Some(d("61")), Some(d("60")), Decimal::ONE).unwrap().0, "up");
        assert_eq!(trend(None, Some(d("60")), Decimal::ONE), None);
    }

    #[test]
    fn segment_profiles_count_colors_and_average() {
        let c = card("");
        let v: Vec<AccountScore> = [("p", 40.0), ("q", 80.0), ("r", 60.0)]
            .iter()
            .map(|(a, x)| score_account(&c, a, DAY, &num(&[("a", *x), ("b", *x), ("c", *x)]), &[]))
            .collect();
        let p = profiles(&c, &v, |a| if a == "r" { "smb".into() } else { "enterprise".into() });
        assert_eq!(p[0]["segment"], "enterprise");
        assert_eq!(p[0]["mean_score"], json!(60.0));
        assert_eq!(p[0]["accounts_by_color"], json!({"red": 1, "yellow": 0, "green": 1}));
        assert_eq!(p[1]["median_score"], json!(60.0));
    }
}
