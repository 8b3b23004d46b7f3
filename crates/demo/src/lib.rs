//! Deterministic demo data for `tenure demo`: a B2B SaaS company (three plan
//! tiers, monthly and annual, USD/EUR/GBP) whose customers trial, subscribe,
//! use the product, file tickets, answer surveys, expand and churn, and whose
//! churn is *caused* by signals the data shows (falling usage, poor support,
//! detractor NPS, failed payments), so that health scores and churn models
//! have something real to find. See `sim` for the causal model.
//!
//! [`generate`] builds every entity except usage events; [`generate_events`]
//! streams those in chunks (benchmarks ask for 10-100 million). The same
//! config always gives the same data, byte for byte.

mod cal;
mod events;
mod rnd;
mod sim;
mod world;

use std::collections::BTreeMap;

use tenure_model::{
    Cancellation, Cost, Customer, FxRate, Invoice, Order, Plan, SubscriptionEvent, SurveyResponse, Ticket, UsageEvent,
};

pub use sim::CAUSES;
pub use world::THEME_STEMS as COMMENT_THEME_STEMS;
/// The themes of survey comments; each comment contains its theme's stem
/// ([`COMMENT_THEME_STEMS`], same order) and no other theme's.
pub use world::THEMES as COMMENT_THEMES;

/// What to generate. `customers` and `events` scale linearly and
/// independently.
#[derive(Clone, Debug, PartialEq)]
pub struct DemoConfig {
    pub seed: u64,
    /// Customers (accounts) signing up over the window, leads included.
    pub customers: usize,
    /// Usage events [`generate_events`] aims for (within a few percent).
    pub events: usize,
    /// First day of the window (sign-ups start here).
    pub start: jiff::civil::Date,
    /// Length of the window; nothing is dated on or after `start + months`.
    pub months: u32,
}

impl Default for DemoConfig {
    /// 2,000 customers and 3 million events over the 24 months from
    /// 2024-11-01 (data through 2026-10-31).
    fn default() -> Self {
        DemoConfig { seed: 42, customers: 2000, events: 3_000_000, start: jiff::civil::date(2024, 11, 1), months: 24 }
    }
}

/// Every entity of the demo company except usage events.
///
/// Rows come grouped by customer (in id order), each customer's rows in date
/// order. Survey responses include the ~0.2 % deliberately out-of-range
/// scores, with `rejected_reason` already set as the importer would.
#[derive(Clone, Debug, PartialEq)]
pub struct DemoData {
    pub customers: Vec<Customer>,
    pub plans: Vec<Plan>,
    pub subscription_events: Vec<SubscriptionEvent>,
    pub invoices: Vec<Invoice>,
    pub orders: Vec<Order>,
    pub survey_responses: Vec<SurveyResponse>,
    pub tickets: Vec<Ticket>,
    pub cancellations: Vec<Cancellation>,
    pub costs: Vec<Cost>,
    pub fx_rates: Vec<FxRate>,
    /// ids of customers whose churn was driven by each cause, for tests and
    /// the report. Keys are [`CAUSES`] (`usage_decline`, `poor_support`,
    /// `detractor_nps`, `failed_payment`, `other`); a customer is listed once
    /// per cause for each churn that took effect (service ended) inside the
    /// window. Cancels requested but ending after the window are not listed.
    pub churn_causes: BTreeMap<String, Vec<String>>,
    /// The compact per-customer usage plan the event stream is drawn from.
    usage: events::UsagePlan,
}

/// Generate the company: customers, plans, subscription events, invoices,
/// orders, surveys, tickets, cancellations, costs and FX rates.
///
/// Memory grows with `customers`: about 8 GB for a million (mostly invoices,
/// survey responses and tickets). For very large configs use
/// [`generate_batches`], which holds one batch of customers at a time.
pub fn generate(cfg: &DemoConfig) -> DemoData {
    let out = sim::run(cfg, usize::MAX, &mut |_| {});
    finish(cfg, out)
}

/// The same data as [`generate`] (same seed, same rows, same order), handed
/// over in batches of `batch_customers` customers: `sink` receives a
/// [`DemoData`] holding one batch's customers, subscription events, invoices,
/// orders, survey responses, tickets and cancellations (its other fields are
/// empty). Returns the company-wide rest: plans, costs, FX rates, churn
/// causes, and what [`generate_events`] needs (its per-customer row vectors
/// are empty). Memory stays at one batch plus ~120 bytes per customer.
pub fn generate_batches(cfg: &DemoConfig, batch_customers: usize, mut sink: impl FnMut(DemoData)) -> DemoData {
    let mut out = sim::run(cfg, batch_customers.max(1), &mut |out| sink(take_rows(out)));
    let last = take_rows(&mut out);
    if !last.customers.is_empty() {
        sink(last);
    }
    finish(cfg, out)
}

/// Move the per-customer rows out of the simulation's output.
fn take_rows(out: &mut sim::Out) -> DemoData {
    use std::mem::take;
    DemoData {
        customers: take(&mut out.customers),
        plans: Vec::new(),
        subscription_events: take(&mut out.subscription_events),
        invoices: take(&mut out.invoices),
        orders: take(&mut out.orders),
        survey_responses: take(&mut out.survey_responses),
        tickets: take(&mut out.tickets),
        cancellations: take(&mut out.cancellations),
        costs: Vec::new(),
        fx_rates: Vec::new(),
        churn_causes: BTreeMap::new(),
        usage: events::UsagePlan::default(),
    }
}

fn finish(cfg: &DemoConfig, out: sim::Out) -> DemoData {
    let start = cal::day_of(cfg.start);
    let month_start: Vec<i32> = (0..=cfg.months as i32).map(|k| cal::add_months(start, k)).collect();
    let end_s = *month_start.last().expect("months + 1 entries") as i64 * cal::DAY;
    DemoData {
        customers: out.customers,
        plans: out.plans,
        subscription_events: out.subscription_events,
        invoices: out.invoices,
        orders: out.orders,
        survey_responses: out.survey_responses,
        tickets: out.tickets,
        cancellations: out.cancellations,
        costs: out.costs,
        fx_rates: out.fx_rates,
        churn_causes: out.churn_causes,
        usage: events::UsagePlan {
            month_start,
            end_s,
            width: sim::id_width(cfg.customers),
            accounts: out.accounts,
            monthly: out.monthly,
        },
    }
}

/// Usage events are streamed (benchmarks ask for 10-100 million): calls `sink`
/// with chunks of about `chunk` events, in time order within each customer is
/// NOT required, but the whole stream must be deterministic for a seed.
/// Returns the number of events produced (close to cfg.events; exactness not
/// required, within ~10%).
///
/// `data` must come from [`generate`] (or [`generate_batches`]) with the same
/// `cfg`; only its compact usage plan is read. Events are grouped by
/// customer; each customer's stream starts with its `group` call and its
/// users' `identify` calls, then their `track`/`page` calls. Every event has
/// `group_id`; about 5 % also carry `context.groupId`. Chunks of about 10,000
/// events are fastest (a huge chunk is a huge fresh allocation each time).
pub fn generate_events(cfg: &DemoConfig, data: &DemoData, chunk: usize, sink: impl FnMut(Vec<UsageEvent>)) -> u64 {
    events::stream(cfg, &data.usage, chunk, sink)
}

#[cfg(test)]
mod tests;
