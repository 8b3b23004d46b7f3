//! Tenure's domain model: the entities of the data contract (SPEC section 1),
//! exact money, calendar time, settings, and the parsing and validation that
//! turn any input row into an entity or a precise list of what is wrong with it.
//! No I/O happens here.

pub mod business_hours;
pub mod currency;
pub mod entity;
pub mod money;
pub mod parallel;
pub mod record;
pub mod settings;
pub mod time;

pub use currency::Currency;
pub use entity::*;
pub use money::Money;
pub use parallel::{cores, par_map};
pub use record::{FieldError, Fields, Record};
pub use settings::Settings;

/// The entity names `tenure import` accepts, in the order a workspace lists them.
pub const ENTITY_NAMES: &[&str] = &[
    "customers",
    "plans",
    "subscription_events",
    "invoices",
    "orders",
    "events",
    "survey_responses",
    "tickets",
    "cancellations",
    "costs",
    "fx_rates",
];
