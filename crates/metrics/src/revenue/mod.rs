//! Revenue and subscription metrics (SPEC 2.1; ChartMogul is the reference
//! where SPEC is silent): the MRR ledger built from subscription events,
//! FX conversion, and month metrics with cohorts.
//!
//! - [`subscription`]: one subscription's terms, status and MRR over time.
//! - [`ledger`]: per customer, its state over time and its netted daily movements.
//! - [`fx`]: monthly rates.
//! - [`report`]: month metrics as the JSON of `tenure metrics revenue --json`.
//! - [`transactional`]: orders (non-subscription revenue): repeat purchase
//!   ratio, purchase frequency, average order value.
//!
//! Rules taken from ChartMogul's help centre where SPEC 2.1 is silent (each is
//! also noted where it is implemented):
//! - A customer becomes a subscriber (New Business, or Reactivation) only once
//!   it pays: a trial, a free plan or a 100% discount from the start is not
//!   New Business ("Chart: Subscribers": customers on free trials, free plans or
//!   who begin with a 100% discount are not active). A paying customer who
//!   moves to 0 MRR stays active ("Free Customer Handling", default Active).
//! - A second subscription of an active customer is Expansion; cancelling one
//!   of several is Contraction; cancelling the last is Churn; a former
//!   subscriber's return is Reactivation (help article 201244842, "MRR
//!   movements", the Syncalytics example).
//!
//! Resolved where SPEC 2.1 leaves room (documented choices):
//! - A cancel without `ends_at` ends service on its request day; under
//!   `at_request` the churn is dated by `requested_at` (else the event's date).
//! - A `once` discount covers one billing interval from the day it is applied
//!   (the start, or the change that sets it); a change with a discount replaces
//!   the discount in force.
//! - Churned customers are counted in the month of the churn movement (a
//!   customer who churns and returns within a month counts as churned and as
//!   reactivated). Customers whose New Business is in the same month are left
//!   out of the churn-rate numerator only (SPEC).
//! - `reactivation_window_days`: a return more than N days after the churn day
//!   is New Business; the cohort stays the first New Business month.
//! - `same_month_new_churn = ignore`: a New Business and a later churn in the same
//!   month are dropped with the movements between them (they net to 0).
//! - Customer retention rate (seed formula) counts New Business and
//!   Reactivation customers of M as "new".
//! - Renewals: a term is due in the month of its exclusive end if the
//!   subscription was live at the term's start; it is renewed if live on the
//!   end day, lapsed if auto-churned for non-payment, else cancelled.
//! - Subscriptions with subscription events ignore their invoices; invoices
//!   give the MRR of the others ([`invoices`]).
//! - `--as-of` is the evaluation date of trial-to-paid conversion only.

pub mod fx;
pub mod invoices;
pub mod ledger;
pub mod preset;
pub mod reconcile;
pub mod report;
pub mod subscription;
pub mod transactional;

#[cfg(test)]
mod tests;

use tenure_model::settings::RevenueSettings;

pub use fx::{FxTable, MonthIdx, month_idx, month_label};
pub use ledger::{CustomerLedger, CustomerState, Ledger, Movement, MovementKind, build, build_all};
pub use report::{ReportInputs, explain, month_report};

/// The contested rules of SPEC 2.1, parsed from `[revenue]` settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rules {
    /// `churn_recognition = at_request` (default `at_end`).
    pub at_request: bool,
    /// Past-due subscriptions end after N days unless recovered.
    pub delinquency_auto_churn_days: Option<u32>,
    /// `discount_policy = forever_only` (default `all`).
    pub forever_only: bool,
    /// `free_plan_handling = churn` (default `active`).
    pub free_is_churn: bool,
    /// A return more than N days after churn is New Business.
    pub reactivation_window_days: Option<u32>,
    /// `same_month_new_churn = ignore` (default `report_both`).
    pub ignore_same_month_new_churn: bool,
}

impl Rules {
    pub fn from_settings(s: &RevenueSettings) -> Result<Rules, String> {
        let pick = |name: &str, v: &str, a: &str, b: &str| -> Result<bool, String> {
            if v == a {
                Ok(false)
            } else if v == b {
                Ok(true)
            } else {
                Err(format!("revenue.{name} = {v:?} is not one of: {a}, {b}"))
            }
        };
        Ok(Rules {
            at_request: pick("churn_recognition", &s.churn_recognition, "at_end", "at_request")?,
            delinquency_auto_churn_days: s.delinquency_auto_churn_days,
            forever_only: pick("discount_policy", &s.discount_policy, "all", "forever_only")?,
            free_is_churn: pick("free_plan_handling", &s.free_plan_handling, "active", "churn")?,
            reactivation_window_days: s.reactivation_window_days,
            ignore_same_month_new_churn: pick(
                "same_month_new_churn",
                &s.same_month_new_churn,
                "report_both",
                "ignore",
            )?,
        })
    }
}
