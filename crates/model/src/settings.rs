//! `tenure.toml`: the workspace's settings, with the defaults of SPEC 2.1.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::business_hours::{BusinessHours, SupportSettings};
use crate::currency::Currency;

/// The whole settings file. Unknown sections are kept by later versions'
/// readers; unknown keys in known sections are an error so typos show.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub workspace: WorkspaceSettings,
    #[serde(default)]
    pub revenue: RevenueSettings,
    /// The health scorecard (`[health]`): validated by `tenure_metrics::health`
    /// when scores are computed, which reports mistakes with the key's path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<toml::Table>,
    /// Business hours and SLA-style targets of the support metrics (`[support]`).
    #[serde(default)]
    pub support: SupportSettings,
    /// Feedback theme rules (`[feedback]`).
    #[serde(default)]
    pub feedback: FeedbackSettings,
}

/// `[feedback]`: the keyword rules that tag survey comments with themes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeedbackSettings {
    /// Theme name -> keyword stems (`pricing = ["price", "expensive"]`). When given, these
    /// themes replace the default set, unless `keep_default_themes` is true.
    pub themes: std::collections::BTreeMap<String, Vec<String>>,
    /// Keep the default themes beside those of `themes` (a theme of the same name is replaced).
    pub keep_default_themes: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkspaceSettings {
    /// Currency every money figure is reported in.
    pub reporting_currency: Currency,
    /// IANA time zone where reporting days and months start.
    pub timezone: String,
}

impl Default for WorkspaceSettings {
    fn default() -> Self {
        WorkspaceSettings { reporting_currency: Currency::USD, timezone: "UTC".to_string() }
    }
}

/// The contested revenue rules (SPEC 2.1), defaults first (ChartMogul's).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RevenueSettings {
    /// A named bundle of the contested rules ([`PRESETS`]); the rules given
    /// explicitly beside it win.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    pub churn_recognition: String,
    pub delinquency_auto_churn_days: Option<u32>,
    pub discount_policy: String,
    pub free_plan_handling: String,
    pub reactivation_window_days: Option<u32>,
    pub same_month_new_churn: String,
    pub gross_margin: Option<rust_decimal::Decimal>,
    pub cac_spend_lag_months: u32,
    /// The contested keys ([`PRESET_KEYS`]) given explicitly (in tenure.toml,
    /// or marked with [`RevenueSettings::give`]): a preset leaves them alone.
    /// Whether a key was given, not whether it differs from its default,
    /// decides: `churn_recognition = "at_end"` beside `preset = "stripe"` keeps
    /// churn at the end of service.
    #[serde(skip)]
    pub given: BTreeSet<String>,
}

/// The settings a preset sets: the contested rules of SPEC 2.1.
pub const PRESET_KEYS: [&str; 6] = [
    "churn_recognition",
    "delinquency_auto_churn_days",
    "discount_policy",
    "free_plan_handling",
    "reactivation_window_days",
    "same_month_new_churn",
];

/// The presets of SPEC 2.1 "Presets", each reproducing another tool's
/// numbers; docs/presets.md cites the vendor documentation behind each value.
pub const PRESETS: [&str; 4] = ["chartmogul", "stripe", "profitwell", "baremetrics"];

impl Default for RevenueSettings {
    fn default() -> Self {
        RevenueSettings {
            preset: None,
            churn_recognition: "at_end".into(),
            delinquency_auto_churn_days: None,
            discount_policy: "all".into(),
            free_plan_handling: "active".into(),
            reactivation_window_days: None,
            same_month_new_churn: "report_both".into(),
            gross_margin: None,
            cac_spend_lag_months: 0,
            given: BTreeSet::new(),
        }
    }
}

impl RevenueSettings {
    /// The contested rules of a preset, as settings (everything else default).
    pub fn of_preset(name: &str) -> Result<RevenueSettings, String> {
        let mut s = RevenueSettings { preset: Some(name.to_string()), ..RevenueSettings::default() };
        match name {
            // The defaults are ChartMogul's.
            "chartmogul" => {}
            "stripe" => {
                s.churn_recognition = "at_request".into();
                s.discount_policy = "forever_only".into();
            }
            "profitwell" => s.same_month_new_churn = "ignore".into(),
            "baremetrics" => {
                s.delinquency_auto_churn_days = Some(30);
                s.free_plan_handling = "churn".into();
            }
            other => return Err(format!("preset {other:?} is not one of: {}", PRESETS.join(", "))),
        }
        Ok(s)
    }

    /// Switch to preset `name`: every contested rule not [`given`](Self::given)
    /// takes the preset's value (a preset chosen earlier is replaced).
    pub fn apply_preset(&mut self, name: &str) -> Result<(), String> {
        let p = RevenueSettings::of_preset(name)?;
        for key in PRESET_KEYS {
            if !self.given.contains(key) {
                self.copy_rule(&p, key);
            }
        }
        self.preset = p.preset;
        Ok(())
    }

    /// Copy one contested rule (a [`PRESET_KEYS`] name) from `from`.
    pub fn copy_rule(&mut self, from: &RevenueSettings, key: &str) {
        match key {
            "churn_recognition" => self.churn_recognition = from.churn_recognition.clone(),
            "delinquency_auto_churn_days" => self.delinquency_auto_churn_days = from.delinquency_auto_churn_days,
            "discount_policy" => self.discount_policy = from.discount_policy.clone(),
            "free_plan_handling" => self.free_plan_handling = from.free_plan_handling.clone(),
            "reactivation_window_days" => self.reactivation_window_days = from.reactivation_window_days,
            "same_month_new_churn" => self.same_month_new_churn = from.same_month_new_churn.clone(),
            _ => {}
        }
    }

    /// Mark a key as given explicitly (a command-line override), so that a
    /// preset applied later leaves it alone.
    pub fn give(&mut self, key: &str) {
        if PRESET_KEYS.contains(&key) {
            self.given.insert(key.to_string());
        }
    }
}

impl Settings {
    /// Parse a settings file; a `preset` in `[revenue]` is applied to the
    /// contested rules the file does not give.
    pub fn parse(text: &str) -> Result<Settings, String> {
        let mut s: Settings = toml::from_str(text).map_err(|e| e.to_string())?;
        // serde fills absent keys with defaults; the raw table says which were written.
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
        if let Some(revenue) = table.get("revenue").and_then(toml::Value::as_table) {
            for key in revenue.keys() {
                s.revenue.give(key);
            }
        }
        if let Some(name) = s.revenue.preset.clone() {
            s.revenue.apply_preset(&name).map_err(|e| format!("revenue.preset: {e}"))?;
        }
        s.validate()?;
        Ok(s)
    }

    pub fn validate(&self) -> Result<(), String> {
        let r = &self.revenue;
        let check = |name: &str, v: &str, allowed: &[&str]| {
            if allowed.contains(&v) {
                Ok(())
            } else {
                Err(format!("revenue.{name} = {v:?} is not one of: {}", allowed.join(", ")))
            }
        };
        check("churn_recognition", &r.churn_recognition, &["at_end", "at_request"])?;
        check("discount_policy", &r.discount_policy, &["all", "forever_only"])?;
        check("free_plan_handling", &r.free_plan_handling, &["active", "churn"])?;
        check("same_month_new_churn", &r.same_month_new_churn, &["report_both", "ignore"])?;
        if let Some(p) = &r.preset {
            check("preset", p, &PRESETS)?;
        }
        if jiff::tz::TimeZone::get(&self.workspace.timezone).is_err() {
            return Err(format!(
                "workspace.timezone = {:?} is not an IANA time zone (e.g. UTC, Europe/Paris)",
                self.workspace.timezone
            ));
        }
        BusinessHours::from_settings(&self.support, &self.workspace.timezone)?;
        self.support.first_response_target_seconds()?;
        self.support.resolution_target_seconds()?;
        for (theme, words) in &self.feedback.themes {
            if theme.trim().is_empty() || words.iter().all(|w| w.trim().is_empty()) {
                return Err(format!("feedback.themes.{theme:?} needs a name and at least one keyword"));
            }
        }
        if let Some(m) = r.gross_margin
            && (m <= rust_decimal::Decimal::ZERO || m > rust_decimal::Decimal::ONE)
        {
            return Err(format!("revenue.gross_margin = {m} must be more than 0 and at most 1"));
        }
        Ok(())
    }

    /// The file `tenure init` writes: every setting with its default and what it means.
    pub fn default_file() -> String {
        r#"# Tenure workspace settings. Every key is optional; the values shown are the defaults.

[workspace]
# Currency every money figure is reported in (ISO 4217).
reporting_currency = "USD"
# Where reporting days and months start (IANA name).
timezone = "UTC"

[revenue]
# Contested revenue rules (SPEC 2.1). Defaults reproduce ChartMogul. They are
# commented out so that a preset can set them: a rule written here wins over the preset.
# Reproduce another tool's numbers: chartmogul, stripe, profitwell, baremetrics (docs/presets.md).
# preset = "chartmogul"
# at_end: a cancellation churns when service ends; at_request: when it is requested.
# churn_recognition = "at_end"
# Past-due subscriptions churn automatically after N days (unset: never).
# delinquency_auto_churn_days = 30
# all: every discount reduces MRR and its expiry is expansion; forever_only: only forever discounts.
# discount_policy = "all"
# active: a free plan keeps the customer a subscriber at 0 MRR; churn: it is churn.
# free_plan_handling = "active"
# A return more than N days after churn is New Business instead of Reactivation (unset: always reactivation).
# reactivation_window_days = 90
# report_both: a customer who starts and churns in one month is New Business and Churn; ignore: neither.
# same_month_new_churn = "report_both"
# Gross margin 0-1 for LTV and CAC payback (unset: 1).
# gross_margin = 0.8
cac_spend_lag_months = 0

[support]
# Business hours for `tenure metrics support --business-hours` (Zendesk's schedule semantics).
# Time zone of the schedule (unset: the workspace's).
# timezone = "Europe/Paris"
days = ["mon", "tue", "wed", "thu", "fri"]
# One interval, or several for split shifts: "09:00-12:00,13:00-17:00". No interval spans midnight.
hours = "09:00-17:00"
# Other hours on some weekdays: day_hours = { sat = "10:00-14:00", fri = "closed" }
# Closed dates, or inclusive ranges: holidays = ["2025-12-25", "2025-12-31..2026-01-01"]
holidays = []
# SLA-style targets: replies (resolutions) later than this are slow tickets.
first_response_target = "24h"
# resolution_target = "72h"

# [feedback.themes]
# Keyword rules tagging survey comments; when given they replace the default themes
# (pricing, onboarding, performance, support, integrations, reporting, bugs)
# unless [feedback] keep_default_themes = true. A keyword matches words starting with it.
# pricing = ["price", "pricing", "expensive", "cost"]
"#
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_file_parses_to_defaults() {
        assert_eq!(Settings::parse(&Settings::default_file()).unwrap(), Settings::default());
    }

    #[test]
    fn typos_and_bad_values_are_errors() {
        assert!(Settings::parse("[revenue]\nchurn_recognitio = \"at_end\"").unwrap_err().contains("unknown field"));
        assert!(Settings::parse("[revenue]\nchurn_recognition = \"later\"").unwrap_err().contains("at_request"));
        assert!(Settings::parse("[workspace]\ntimezone = \"Mars/Olympus\"").unwrap_err().contains("IANA"));
        assert!(Settings::parse("[workspace]\nreporting_currency = \"ABC\"").is_err());
        assert_eq!(
            Settings::parse("[workspace]\ntimezone = \"Europe/Paris\"").unwrap().workspace.timezone,
            "Europe/Paris"
        );
    }

    #[test]
    fn a_preset_sets_the_rules_not_given() {
        let s = Settings::parse("[revenue]\npreset = \"stripe\"").unwrap();
        assert_eq!(s.revenue.churn_recognition, "at_request");
        assert_eq!(s.revenue.discount_policy, "forever_only");
        assert_eq!(s.revenue.preset.as_deref(), Some("stripe"));
        let b = Settings::parse("[revenue]\npreset = \"baremetrics\"").unwrap().revenue;
        assert_eq!((b.delinquency_auto_churn_days, b.free_plan_handling.as_str()), (Some(30), "churn"));
        let p = Settings::parse("[revenue]\npreset = \"profitwell\"").unwrap().revenue;
        assert_eq!(p.same_month_new_churn, "ignore");
        // Given explicitly, even with the default value, a key wins over the preset.
        let s = Settings::parse("[revenue]\npreset = \"stripe\"\nchurn_recognition = \"at_end\"").unwrap();
        assert_eq!(s.revenue.churn_recognition, "at_end");
        assert_eq!(s.revenue.discount_policy, "forever_only");
        assert!(s.revenue.given.contains("churn_recognition"));
        // The key order in the file does not matter.
        let t = Settings::parse("[revenue]\nchurn_recognition = \"at_end\"\npreset = \"stripe\"").unwrap();
        assert_eq!(t, s);
    }

    #[test]
    fn applying_another_preset_replaces_the_first_but_keeps_given_keys() {
        let mut r =
            Settings::parse("[revenue]\npreset = \"baremetrics\"\nfree_plan_handling = \"churn\"").unwrap().revenue;
        r.apply_preset("stripe").unwrap();
        assert_eq!(r.delinquency_auto_churn_days, None, "baremetrics's 30 days were the preset's, not given");
        assert_eq!(r.free_plan_handling, "churn", "given in the file");
        assert_eq!((r.churn_recognition.as_str(), r.discount_policy.as_str()), ("at_request", "forever_only"));
        // A command-line override marked as given survives a preset applied after it.
        r.same_month_new_churn = "ignore".into();
        r.give("same_month_new_churn");
        r.apply_preset("chartmogul").unwrap();
        assert_eq!(r.same_month_new_churn, "ignore");
        assert_eq!(r.churn_recognition, "at_end");
        let err = r.apply_preset("strip").unwrap_err();
        assert!(err.contains("chartmogul, stripe, profitwell, baremetrics"), "{err}");
        let err = Settings::parse("[revenue]\npreset = \"chargebee\"").unwrap_err();
        assert!(err.starts_with("revenue.preset:") && err.contains("baremetrics"), "{err}");
    }

    #[test]
    fn the_default_file_lets_a_preset_work() {
        let text = Settings::default_file().replace("# preset = \"chartmogul\"", "preset = \"stripe\"");
        let s = Settings::parse(&text).unwrap();
        assert_eq!(s.revenue.churn_recognition, "at_request");
        assert!(s.revenue.given.is_empty());
    }
}
