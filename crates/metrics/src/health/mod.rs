//! Health scores (SPEC 2.5; references Gainsight scorecards, Catalyst health
//! profiles, ChurnZero ChurnScore, Totango): a TOML [`Scorecard`] of weighted
//! groups and measures turns each account's inputs into a 0-100 score, shown
//! as a number, a color band, a letter grade and a rank, with the inputs that
//! were missing and the effective weights; plus overrides, trend, the input
//! that moved most, per-segment profiles and alert rules.
//!
//! Pure functions: the inputs (usage, surveys, support, billing, customer
//! attributes as of a date) are computed by the query layer from the other
//! metric families; [`usage`] holds the per-account usage figures that no
//! other family computes.
//!
//! Documented choices where SPEC is silent:
//! - scores are computed exactly (decimals), shown with 2 decimals, and
//!   rounded half away from zero to an integer for bands and grades;
//! - a measure whose input cannot be scored (text for a number, a tier not
//!   listed) counts as missing, like an absent input;
//! - an account with no scorable input at all has no score (null), not 0,
//!   and no rank, color or grade;
//! - ranks: 1 is the healthiest; equal scores share a rank (1, 2, 2, 4).

pub mod alerts;
pub mod score;
pub mod scorecard;
pub mod usage;

pub use alerts::{Firing, Snapshot, evaluate};
pub use score::{AccountScore, InputValue, Inputs, Override, profiles, rank, ranks, score_account, top_mover, trend};
pub use scorecard::{
    AlertCondition, AlertRule, Direction, Mapping, MissingPolicy, Scorecard, SlowTicketClock, TaskGrouping, Webhook,
};
pub use usage::{AccountActivity, AccountUsage};

/// A scorecard mistake, with the path of the key (`groups[0].weight`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScorecardError {
    pub key: String,
    pub reason: String,
}

impl ScorecardError {
    pub fn new(key: &str, reason: impl Into<String>) -> ScorecardError {
        ScorecardError { key: key.to_string(), reason: reason.into() }
    }
}

impl std::fmt::Display for ScorecardError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.key.is_empty() { write!(f, "{}", self.reason) } else { write!(f, "{}: {}", self.key, self.reason) }
    }
}

impl std::error::Error for ScorecardError {}
