//! Presets (SPEC 2.1 "Presets") rule by rule, as reconciliation needs them:
//! switching the contested rules from one rule set to another one at a time,
//! so that each difference can be attributed to the rule that causes it.
//!
//! The bundles themselves are settings ([`RevenueSettings::of_preset`],
//! [`RevenueSettings::apply_preset`]) so that `preset = "stripe"` in
//! tenure.toml takes effect wherever settings are read, with the rules the
//! file gives explicitly winning. docs/presets.md cites each vendor's
//! documentation for every value.

use tenure_model::settings::{PRESET_KEYS, PRESETS, RevenueSettings};

use super::Rules;

/// The name of the workspace's own settings (tenure.toml as configured) where
/// a preset name is expected.
pub const WORKSPACE: &str = "workspace";

/// The settings a name stands for: [`WORKSPACE`] is `base` as configured; a
/// preset is exactly the vendor's bundle (the contested rules `base` gives are
/// not kept: a preset here answers "what would that tool show"), with `base`'s
/// other settings.
pub fn settings_for(base: &RevenueSettings, name: &str) -> Result<RevenueSettings, String> {
    if name == WORKSPACE {
        return Ok(base.clone());
    }
    let mut s = base.clone();
    s.given.clear();
    s.apply_preset(name).map_err(|_| format!("{name:?} is not {WORKSPACE} or a preset ({})", PRESETS.join(", ")))?;
    Ok(s)
}

/// A contested rule's value as written in tenure.toml (`none` when unset).
pub fn value(s: &RevenueSettings, key: &str) -> String {
    let days = |d: Option<u32>| d.map_or("none".to_string(), |n| n.to_string());
    match key {
        "churn_recognition" => s.churn_recognition.clone(),
        "delinquency_auto_churn_days" => days(s.delinquency_auto_churn_days),
        "discount_policy" => s.discount_policy.clone(),
        "free_plan_handling" => s.free_plan_handling.clone(),
        "reactivation_window_days" => days(s.reactivation_window_days),
        "same_month_new_churn" => s.same_month_new_churn.clone(),
        _ => String::new(),
    }
}

/// What a rule's value means, in a phrase.
pub fn meaning(key: &str, value: &str) -> String {
    match (key, value) {
        ("churn_recognition", "at_end") => "a cancellation churns when service ends".into(),
        ("churn_recognition", _) => "a cancellation churns when it is requested".into(),
        ("delinquency_auto_churn_days", "none") => "past-due subscriptions count until cancelled".into(),
        ("delinquency_auto_churn_days", n) => format!("past-due subscriptions churn after {n} days"),
        ("discount_policy", "all") => "every discount reduces MRR".into(),
        ("discount_policy", _) => "only forever discounts reduce MRR".into(),
        ("free_plan_handling", "active") => "a paying customer moved to 0 MRR stays a subscriber".into(),
        ("free_plan_handling", _) => "a paying customer moved to 0 MRR churns".into(),
        ("reactivation_window_days", "none") => "any return after churn is reactivation".into(),
        ("reactivation_window_days", n) => format!("a return more than {n} days after churn is new business"),
        ("same_month_new_churn", "report_both") => "a start and churn in one month count as both".into(),
        ("same_month_new_churn", _) => "a start and churn in one month are left out".into(),
        _ => String::new(),
    }
}

/// One rule switched on the way from one rule set to another.
#[derive(Clone, Debug)]
pub struct Step {
    /// The rule's settings key.
    pub key: &'static str,
    pub from: String,
    pub to: String,
    /// The rules after this switch (and every earlier one).
    pub rules: Rules,
}

/// Switch the contested rules that differ from `a` to `b` one at a time, in
/// the order of [`PRESET_KEYS`]: the rules after each switch. The last step's
/// rules are `b`'s; none means `a` and `b` agree on every contested rule.
pub fn steps(a: &RevenueSettings, b: &RevenueSettings) -> Result<Vec<Step>, String> {
    let mut current = a.clone();
    let mut out = Vec::new();
    for key in PRESET_KEYS {
        let (from, to) = (value(a, key), value(b, key));
        if from != to {
            current.copy_rule(b, key);
            out.push(Step { key, from, to, rules: Rules::from_settings(&current)? });
        }
    }
    Ok(out)
}

/// `base` with one contested rule taken from `other`.
pub fn with_rule(base: &RevenueSettings, other: &RevenueSettings, key: &str) -> RevenueSettings {
    let mut s = base.clone();
    s.copy_rule(other, key);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_switch_only_the_rules_that_differ_and_end_at_b() {
        let base = RevenueSettings::default();
        let cm = settings_for(&base, "chartmogul").unwrap();
        let bm = settings_for(&base, "baremetrics").unwrap();
        let s = steps(&cm, &bm).unwrap();
        let keys: Vec<&str> = s.iter().map(|x| x.key).collect();
        assert_eq!(keys, ["delinquency_auto_churn_days", "free_plan_handling"]);
        assert_eq!((s[0].from.as_str(), s[0].to.as_str()), ("none", "30"));
        assert_eq!(s[0].rules.delinquency_auto_churn_days, Some(30));
        assert!(!s[0].rules.free_is_churn, "one rule at a time");
        assert_eq!(s.last().unwrap().rules, Rules::from_settings(&bm).unwrap());
        assert!(steps(&cm, &cm).unwrap().is_empty());
        // Every pair of presets differs in at least one rule.
        for a in PRESETS {
            for b in PRESETS.iter().filter(|b| **b != a) {
                let (sa, sb) = (settings_for(&base, a).unwrap(), settings_for(&base, b).unwrap());
                assert!(!steps(&sa, &sb).unwrap().is_empty(), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn a_preset_here_ignores_the_workspace_rules_but_workspace_keeps_them() {
        let mut base = RevenueSettings { churn_recognition: "at_end".into(), ..RevenueSettings::default() };
        base.give("churn_recognition");
        base.same_month_new_churn = "ignore".into();
        base.give("same_month_new_churn");
        let stripe = settings_for(&base, "stripe").unwrap();
        assert_eq!(stripe.churn_recognition, "at_request");
        assert_eq!(stripe.same_month_new_churn, "report_both");
        assert_eq!(settings_for(&base, WORKSPACE).unwrap(), base);
        let e = settings_for(&base, "chargebee").unwrap_err();
        assert!(e.contains("workspace") && e.contains("profitwell"), "{e}");
    }

    #[test]
    fn values_and_meanings_read_like_the_settings_file() {
        let bm = RevenueSettings::of_preset("baremetrics").unwrap();
        assert_eq!(value(&bm, "delinquency_auto_churn_days"), "30");
        assert_eq!(value(&bm, "reactivation_window_days"), "none");
        assert_eq!(meaning("delinquency_auto_churn_days", "30"), "past-due subscriptions churn after 30 days");
        for key in PRESET_KEYS {
            assert!(!meaning(key, &value(&bm, key)).is_empty(), "{key}");
        }
    }
}
