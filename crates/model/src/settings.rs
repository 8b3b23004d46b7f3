//! `tenure.toml`: the workspace's settings, with the defaults of SPEC 2.1.

use serde::{Deserialize, Serialize};

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
    pub churn_recognition: String,
    pub delinquency_auto_churn_days: Option<u32>,
    pub discount_policy: String,
    pub free_plan_handling: String,
    pub reactivation_window_days: Option<u32>,
    pub same_month_new_churn: String,
    pub gross_margin: Option<rust_decimal::Decimal>,
    pub cac_spend_lag_months: u32,
}

impl Default for RevenueSettings {
    fn default() -> Self {
        RevenueSettings {
            churn_recognition: "at_end".into(),
            delinquency_auto_churn_days: None,
            discount_policy: "all".into(),
            free_plan_handling: "active".into(),
            reactivation_window_days: None,
            same_month_new_churn: "report_both".into(),
            gross_margin: None,
            cac_spend_lag_months: 0,
        }
    }
}

impl Settings {
    pub fn parse(text: &str) -> Result<Settings, String> {
        let s: Settings = toml::from_str(text).map_err(|e| e.to_string())?;
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
        if jiff::tz::TimeZone::get(&self.workspace.timezone).is_err() {
            return Err(format!(
                "workspace.timezone = {:?} is not an IANA time zone (e.g. UTC, Europe/Paris)",
                self.workspace.timezone
            ));
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
# Contested revenue rules (SPEC 2.1). Defaults reproduce ChartMogul.
# at_end: a cancellation churns when service ends; at_request: when it is requested.
churn_recognition = "at_end"
# Past-due subscriptions churn automatically after N days (unset: never).
# delinquency_auto_churn_days = 30
# all: every discount reduces MRR and its expiry is expansion; forever_only: only forever discounts.
discount_policy = "all"
# active: a free plan keeps the customer a subscriber at 0 MRR; churn: it is churn.
free_plan_handling = "active"
# A return more than N days after churn is New Business instead of Reactivation (unset: always reactivation).
# reactivation_window_days = 90
# report_both: a customer who starts and churns in one month is New Business and Churn; ignore: neither.
same_month_new_churn = "report_both"
# Gross margin 0-1 for LTV and CAC payback (unset: 1).
# gross_margin = 0.8
cac_spend_lag_months = 0
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
}
