//! Product engagement (SPEC 2.2, reference PostHog): active users (DAU, WAU,
//! MAU and their ratios), stickiness, sessions, retention tables, lifecycle,
//! feature adoption and funnels, per user
//! and per account, in a configurable time zone.
//!
//! Input: Arrow batches of the `events` table ([`events::EVENT_COLUMNS`]),
//! turned once into an [`EventTable`] (interned actors, local days, instants,
//! the active flag). Every metric is a hand-written kernel over it; per-day
//! sets of active actors ([`active::DailyActors`]) make rolling windows and
//! stickiness cost O(days x actors per day), not O(events).
//!
//! Conventions beyond SPEC (documented where SPEC is silent, following PostHog):
//! - the actor is `userId`, else `anonymousId` (no merging of the two); the
//!   account is `groupId`;
//! - local days are calendar dates in the chosen zone (a DST day is 23 or 25 h);
//! - weeks start on Monday (ISO 8601; PostHog defaults to Sunday, configurable);
//! - sessions use all of a user's events, not only active ones (PostHog).

pub mod active;
pub mod adoption;
pub mod daily;
pub mod events;
pub mod funnel;
pub mod lifecycle;
pub mod period;
pub mod retention;
pub mod sessions;

pub use active::{ActiveDay, DailyActors, DayCounts, Stickiness, active_days, stickiness};
pub use adoption::{AccountAdoption, AccountFeatures, Adoption, Breadth, FeatureAdoption, adoption};
pub use arrow::array::RecordBatch;
pub use daily::{DailyBuilder, DaySets, FileDays, IdMap, ScanIds, Skipped, daily_columns, daily_columns_for};
pub use events::{
    ActiveEvent, ActorKind, EVENT_COLUMNS, EVENT_COLUMNS_WITH_TRAITS, EventTable, EventTableBuilder, EventsError,
    Interner, LocalDays,
};
pub use funnel::{Funnel, FunnelQuery, FunnelStep, Step, funnel};
pub use lifecycle::{LifecycleInterval, lifecycle};
pub use period::{Intervals, Period};
pub use retention::{RetentionQuery, RetentionTable, RetentionType, retention, retention_daily};
pub use sessions::{Session, SessionRules, SessionStream, SessionSummary, sessions};
