//! Alert rules over health scores (Gainsight's "rules engine" triggers,
//! ChurnZero's ChurnScore alerts): each rule looks at an account's score now,
//! at what the previous evaluation saw, and at its score some days earlier,
//! and says whether it fires. Storing tasks, de-duplicating them and calling
//! webhooks is the caller's job.
//!
//! - `enters_band`: the color is the band now and was not at the previous
//!   evaluation (an account never evaluated before counts as entering).
//! - `drops`: the score is at least `points` lower than `within_days` days earlier.
//! - `measure_red`: a measure's own rounded score is in the worst band now and
//!   was not at the previous evaluation (one firing per measure).
//! - `renewal_while_red`: the color is the worst band and the next renewal is
//!   within `within_days` days (0 = today).

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::score::AccountScore;
use super::scorecard::{AlertCondition, AlertRule, Scorecard};
use crate::round::round_dp;

/// What an evaluation remembers of an account, to tell "entered" from "still in".
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub color: Option<String>,
    pub red_measures: Vec<String>,
}

impl Snapshot {
    pub fn of(card: &Scorecard, s: &AccountScore) -> Snapshot {
        Snapshot { color: s.color(card).map(str::to_string), red_measures: s.red_measures(card) }
    }
}

/// One rule firing for one account (and measure, for `measure_red`).
#[derive(Clone, Debug, PartialEq)]
pub struct Firing {
    pub rule: String,
    pub account: String,
    /// `measure_red`: the measures that turned red, comma-separated.
    pub measure: Option<String>,
    /// The rule's `cooldown_days`.
    pub cooldown_days: u32,
    pub message: String,
    pub details: Value,
}

impl Firing {
    /// Identifies "the same alert": one rule for one account (an open task
    /// with this key, or one younger than the cooldown, is not repeated).
    pub fn key(&self) -> String {
        format!("{}|{}", self.rule, self.account)
    }
}

/// The rules of `card` that fire for `now`. `previous` is what the last
/// evaluation saw; `score_days_before(n)` the overall score n days before
/// `now.as_of`; `days_to_renewal` the account's next renewal.
pub fn evaluate(
    card: &Scorecard,
    now: &AccountScore,
    previous: Option<&Snapshot>,
    score_days_before: impl Fn(u32) -> Option<Decimal>,
    days_to_renewal: Option<i64>,
) -> Vec<Firing> {
    let mut out = Vec::new();
    let color = now.color(card);
    let score = now.overall().map(|s| round_dp(s, 2));
    let fire = |rule: &AlertRule, measure: Option<String>, message: String, details: Value| Firing {
        rule: rule.name.clone(),
        account: now.account.clone(),
        measure,
        cooldown_days: rule.cooldown_days,
        message,
        details,
    };
    for rule in &card.alerts {
        match &rule.condition {
            AlertCondition::EntersBand { band } => {
                let was = previous.and_then(|p| p.color.as_deref());
                if color == Some(band.as_str()) && was != Some(band.as_str()) {
                    out.push(fire(
                        rule,
                        None,
                        format!("{} entered {band} (score {})", now.account, fmt(score)),
                        json!({"band": band, "previous_color": was, "score": score.and_then(|s| s.to_f64())}),
                    ));
                }
            }
            AlertCondition::Drops { points, within_days } => {
                if let (Some(s), Some(before)) = (now.overall(), score_days_before(*within_days))
                    && before - s >= *points
                {
                    out.push(fire(
                        rule,
                        None,
                        format!(
                            "{} dropped {} points in {within_days} days ({} -> {})",
                            now.account,
                            round_dp(before - s, 2),
                            round_dp(before, 2),
                            round_dp(s, 2)
                        ),
                        json!({"score": s.to_f64(), "score_before": before.to_f64(), "within_days": within_days}),
                    ));
                }
            }
            AlertCondition::MeasureRed { measure } => {
                let was: &[String] = previous.map_or(&[], |p| p.red_measures.as_slice());
                let turned: Vec<String> = now
                    .red_measures(card)
                    .into_iter()
                    .filter(|m| measure.as_ref().is_none_or(|x| x == m) && !was.contains(m))
                    .collect();
                if !turned.is_empty() {
                    let details: Vec<Value> = turned
                        .iter()
                        .map(|m| {
                            let ms = now.measures.iter().find(|x| &x.measure == m).expect("measure");
                            json!({
                                "measure": m,
                                "input": ms.input,
                                "value": ms.value.as_ref().map(|v| v.to_json()),
                                "measure_score": ms.score.and_then(|s| round_dp(s, 2).to_f64()),
                            })
                        })
                        .collect();
                    let names = turned.join(", ");
                    out.push(fire(
                        rule,
                        Some(names.clone()),
                        format!("{}: {names} turned {}", now.account, card.red()),
                        json!({"measures": details}),
                    ));
                }
            }
            AlertCondition::RenewalWhileRed { within_days } => {
                if color == Some(card.red())
                    && let Some(days) = days_to_renewal
                    && (0..=*within_days as i64).contains(&days)
                {
                    out.push(fire(
                        rule,
                        None,
                        format!("{} renews in {days} days and is {} (score {})", now.account, card.red(), fmt(score)),
                        json!({"days_to_renewal": days, "score": score.and_then(|s| s.to_f64())}),
                    ));
                }
            }
        }
    }
    out
}

fn fmt(x: Option<Decimal>) -> String {
    x.map_or_else(|| "-".into(), |x| x.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::score::{InputValue, Inputs, score_account};

    const DAY: jiff::civil::Date = jiff::civil::date(2025, 6, 1);

    fn card() -> Scorecard {
        Scorecard::parse(
            r#"
[[groups]]
name = "all"
weight = 1
  [[groups.measures]]
  input = "usage"
  identity = true
  [[groups.measures]]
  input = "support"
  identity = true
[[alerts]]
name = "red"
when = "enters_band"
band = "red"
[[alerts]]
name = "drop"
when = "drops"
points = 10
within_days = 30
[[alerts]]
name = "usage red"
when = "measure_red"
measure = "usage"
[[alerts]]
name = "renewal"
when = "renewal_while_red"
within_days = 60
"#,
        )
        .unwrap()
    }

    fn at(usage: f64, support: f64) -> AccountScore {
        let inputs: Inputs = [("usage", usage), ("support", support)]
            .iter()
            .map(|(k, v)| (k.to_string(), InputValue::Number(*v)))
            .collect();
        score_account(&card(), "acme", DAY, &inputs, &[])
    }

    fn rules(f: &[Firing]) -> Vec<&str> {
        f.iter().map(|x| x.rule.as_str()).collect()
    }

    #[test]
    fn entering_a_band_fires_once() {
        let c = card();
        let now = at(40.0, 60.0); // 50: red (and usage 40 is red)
        let yellow = Snapshot { color: Some("yellow".into()), red_measures: vec![] };
        let f = evaluate(&c, &now, Some(&yellow), |_| None, None);
        assert_eq!(rules(&f), vec!["red", "usage red"]);
        // Already red at the previous evaluation: neither fires again.
        let f = evaluate(&c, &now, Some(&Snapshot::of(&c, &now)), |_| None, None);
        assert!(f.is_empty(), "{f:?}");
        // First evaluation ever: entering.
        assert_eq!(rules(&evaluate(&c, &now, None, |_| None, None)), vec!["red", "usage red"]);
        // 51 is yellow: no alert.
        let f = evaluate(&c, &at(51.0, 51.0), Some(&yellow), |_| None, None);
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn a_drop_of_n_points_within_the_window() {
        let c = card();
        let now = at(70.0, 70.0); // 70, yellow
        let prev = Snapshot::of(&c, &now);
        let before = |score: &'static str| move |days: u32| (days == 30).then(|| score.parse::<Decimal>().unwrap());
        assert_eq!(rules(&evaluate(&c, &now, Some(&prev), before("80"), None)), vec!["drop"], "exactly 10");
        assert!(evaluate(&c, &now, Some(&prev), before("79.99"), None).is_empty());
        assert!(evaluate(&c, &now, Some(&prev), |_| None, None).is_empty(), "no earlier score");
    }

    #[test]
    fn a_measure_turning_red() {
        let c = card();
        // usage 50.4 rounds to 50: red; support keeps the account green.
        let now = at(50.4, 100.0);
        let prev = Snapshot { color: Some("yellow".into()), red_measures: vec![] };
        let f = evaluate(&c, &now, Some(&prev), |_| None, None);
        assert_eq!(rules(&f), vec!["usage red"]);
        assert_eq!((f[0].key().as_str(), f[0].measure.as_deref()), ("usage red|acme", Some("usage")));
        assert_eq!(f[0].details["measures"][0]["measure_score"], json!(50.4));
        // 50.5 rounds to 51: not red.
        assert!(evaluate(&c, &at(50.5, 100.0), Some(&prev), |_| None, None).is_empty());
    }

    #[test]
    fn measures_turning_red_together_make_one_firing() {
        let mut c = card();
        c.alerts = vec![AlertRule {
            name: "any red".into(),
            condition: AlertCondition::MeasureRed { measure: None },
            cooldown_days: 30,
        }];
        // usage 20 and support 30 are both red; support was red already at the last evaluation.
        let now = at(20.0, 30.0);
        let f = evaluate(&c, &now, None, |_| None, None);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!((f[0].measure.as_deref(), f[0].key().as_str()), (Some("usage, support"), "any red|acme"));
        let prev = Snapshot { color: Some("red".into()), red_measures: vec!["support".into()] };
        let f = evaluate(&c, &now, Some(&prev), |_| None, None);
        assert_eq!(f[0].measure.as_deref(), Some("usage"));
        assert_eq!(f[0].details["measures"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn a_renewal_within_n_days_while_red() {
        let c = card();
        let red = at(20.0, 20.0);
        let prev = Snapshot::of(&c, &red);
        assert_eq!(rules(&evaluate(&c, &red, Some(&prev), |_| None, Some(60))), vec!["renewal"]);
        assert!(evaluate(&c, &red, Some(&prev), |_| None, Some(61)).is_empty());
        assert!(evaluate(&c, &red, Some(&prev), |_| None, None).is_empty());
        let yellow = at(60.0, 60.0);
        assert!(evaluate(&c, &yellow, Some(&Snapshot::of(&c, &yellow)), |_| None, Some(5)).is_empty());
    }
}
