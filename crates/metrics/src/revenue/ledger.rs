//! The MRR ledger: per customer, its state over time and its dated MRR
//! movements (SPEC 2.1 "Customer status", "MRR movements").

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use jiff::civil::Date;
use tenure_model::{Cancellation, Currency, Invoice, Money, Plan, SubscriptionEvent, SubscriptionEventType};

use super::fx::{FxTable, month_idx};
use super::subscription::{SubPoint, SubStatus, SubTimeline, timeline};
use super::{Rules, invoices};

/// The five MRR movement types, signed amounts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MovementKind {
    NewBusiness,
    Expansion,
    Contraction,
    Churn,
    Reactivation,
}

impl MovementKind {
    pub const ALL: [MovementKind; 5] = [
        MovementKind::NewBusiness,
        MovementKind::Expansion,
        MovementKind::Contraction,
        MovementKind::Churn,
        MovementKind::Reactivation,
    ];

    pub fn parse(s: &str) -> Option<MovementKind> {
        MovementKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MovementKind::NewBusiness => "new_business",
            MovementKind::Expansion => "expansion",
            MovementKind::Contraction => "contraction",
            MovementKind::Churn => "churn",
            MovementKind::Reactivation => "reactivation",
        }
    }
}

/// One customer's netted change on one day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Movement {
    pub date: Date,
    pub kind: MovementKind,
    /// Reporting currency: the change in original-currency MRR x the rate of
    /// the month the movement is dated in.
    pub amount: Money,
}

/// A customer's state from a date on (after all events dated that day).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CustomerState {
    /// Active or past-due (SPEC 2.1 "Subscribers").
    pub subscriber: bool,
    /// A subscriber with a subscription still past-due.
    pub past_due: bool,
    /// Some subscription is trialing.
    pub trialing: bool,
    /// Live (active or past-due) subscriptions of a subscriber.
    pub live_subscriptions: u32,
    /// MRR by original currency (no zero entries).
    pub mrr: BTreeMap<Currency, Money>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerLedger {
    pub customer_id: String,
    /// State changes, ascending by date; before the first, the customer is a
    /// lead with no MRR.
    pub states: Vec<(Date, CustomerState)>,
    pub movements: Vec<Movement>,
    /// Days with a `trial_start` event.
    pub trial_starts: Vec<Date>,
    /// The customer's subscriptions, by id.
    pub subscriptions: Vec<SubTimeline>,
}

impl CustomerLedger {
    /// The state at the end of day `d`.
    pub fn state_on(&self, d: Date) -> Option<&CustomerState> {
        let i = self.states.partition_point(|(sd, _)| *sd <= d);
        if i == 0 { None } else { Some(&self.states[i - 1].1) }
    }

    /// The first New Business movement (the customer's cohort).
    pub fn first_new_business(&self) -> Option<&Movement> {
        self.movements.iter().find(|m| m.kind == MovementKind::NewBusiness)
    }
}

/// Every customer's ledger, by customer id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ledger {
    pub customers: Vec<CustomerLedger>,
}

impl Ledger {
    /// The ledger of the customers `keep` selects (a segment).
    pub fn subset(&self, keep: impl Fn(&str) -> bool) -> Ledger {
        Ledger { customers: self.customers.iter().filter(|c| keep(&c.customer_id)).cloned().collect() }
    }
}

/// Build the ledger from subscription events (any order: the result is the same).
pub fn build(events: &[SubscriptionEvent], plans: &[Plan], rules: &Rules, fx: &FxTable) -> Result<Ledger, String> {
    build_all(events, &[], &[], plans, rules, fx)
}

/// Build the ledger from subscription events and, for subscriptions without
/// events, from invoices and cancellations ([`super::invoices`]).
pub fn build_all(
    events: &[SubscriptionEvent],
    invoices: &[Invoice],
    cancellations: &[Cancellation],
    plans: &[Plan],
    rules: &Rules,
    fx: &FxTable,
) -> Result<Ledger, String> {
    let plans: HashMap<&str, &Plan> = plans.iter().map(|p| (p.id.as_str(), p)).collect();
    let mut by_sub: HashMap<&str, Vec<&SubscriptionEvent>> = HashMap::new();
    let mut trial_days: HashMap<String, Vec<Date>> = HashMap::new();
    for ev in events {
        by_sub.entry(ev.subscription_id.as_str()).or_default().push(ev);
        if ev.kind == SubscriptionEventType::TrialStart {
            trial_days.entry(ev.customer_id.clone()).or_default().push(ev.date);
        }
    }
    let with_events: HashSet<&str> = by_sub.keys().copied().collect();
    let (from_invoices, invoice_trials) = invoices::timelines(invoices, cancellations, &plans, &with_events, rules);
    for (c, v) in invoice_trials {
        trial_days.entry(c).or_default().extend(v);
    }
    let subs: Vec<&Vec<&SubscriptionEvent>> = by_sub.values().collect();
    // (from invoices, timeline): per customer, the subscriptions with events
    // by id, then those from invoices by id.
    let mut all: Vec<(bool, SubTimeline)> = Vec::with_capacity(subs.len() + from_invoices.len());
    for t in par_map(&subs, |evs| timeline(evs, &plans, rules)) {
        all.push((false, t?));
    }
    all.extend(from_invoices.into_iter().map(|t| (true, t)));
    all.sort_unstable_by(|(ia, a), (ib, b)| {
        (a.customer_id.as_str(), ia, a.subscription_id.as_str()).cmp(&(
            b.customer_id.as_str(),
            ib,
            b.subscription_id.as_str(),
        ))
    });
    let mut customers: Vec<(String, Vec<SubTimeline>)> = Vec::new();
    for (_, t) in all {
        match customers.last_mut() {
            Some((c, v)) if *c == t.customer_id => v.push(t),
            _ => customers.push((t.customer_id.clone(), vec![t])),
        }
    }
    // Customers who only trialled.
    let known: HashSet<&str> = customers.iter().map(|(c, _)| c.as_str()).collect();
    let leads: Vec<String> = trial_days.keys().filter(|c| !known.contains(c.as_str())).cloned().collect();
    if !leads.is_empty() {
        customers.extend(leads.into_iter().map(|c| (c, Vec::new())));
        customers.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    }
    let ledgers = par_map(&customers, |(id, subs)| customer_ledger(id.clone(), subs, rules, fx));
    let mut out = Vec::with_capacity(customers.len());
    for (l, (id, subs)) in ledgers.into_iter().zip(customers) {
        let mut c = l?;
        let mut trial_starts = trial_days.remove(&id).unwrap_or_default();
        trial_starts.sort();
        trial_starts.dedup();
        c.trial_starts = trial_starts;
        c.subscriptions = subs;
        out.push(c);
    }
    Ok(Ledger { customers: out })
}

/// The ledger is built per subscription and per customer, independently: on every core.
pub use tenure_model::par_map;

fn customer_ledger(id: String, subs: &[SubTimeline], rules: &Rules, fx: &FxTable) -> Result<CustomerLedger, String> {
    let mut dates: Vec<Date> = subs.iter().flat_map(|s| s.points.iter().map(|p| p.date)).collect();
    dates.sort();
    dates.dedup();
    let mut cursor = vec![0usize; subs.len()];
    let mut current: Vec<Option<SubPoint>> = vec![None; subs.len()];
    let mut prev = CustomerState::default();
    let mut states = Vec::new();
    let mut movements = Vec::new();
    let mut ever_subscribed = false;
    let mut last_churn: Option<Date> = None;
    for d in dates {
        for (k, s) in subs.iter().enumerate() {
            while let Some(p) = s.points.get(cursor[k]).filter(|p| p.date <= d) {
                current[k] = Some(*p);
                cursor[k] += 1;
            }
        }
        let live: Vec<&SubPoint> = current.iter().flatten().filter(|p| p.status.is_live()).collect();
        let mut mrr: BTreeMap<Currency, Money> = BTreeMap::new();
        for p in &live {
            if let Some(c) = p.currency
                && !p.mrr.is_zero()
            {
                *mrr.entry(c).or_default() += p.mrr;
            }
        }
        mrr.retain(|_, m| !m.is_zero());
        let has_mrr = !mrr.is_empty();
        // ChartMogul (help centre, "Subscribers" and "Free Customer Handling"):
        // a customer becomes a subscriber only once it pays (a free plan, a
        // trial or a 100% discount from the start is not New Business); a paying
        // customer who moves to 0 MRR without cancelling stays active
        // (free_plan_handling = active) or churns (= churn).
        let subscriber = !live.is_empty() && (has_mrr || (prev.subscriber && !rules.free_is_churn));
        let next = CustomerState {
            subscriber,
            past_due: subscriber && live.iter().any(|p| p.status == SubStatus::PastDue),
            trialing: current.iter().flatten().any(|p| p.status == SubStatus::Trial),
            live_subscriptions: if subscriber { live.len() as u32 } else { 0 },
            mrr: if subscriber { mrr } else { BTreeMap::new() },
        };
        if next == prev {
            continue;
        }
        // All of the day's changes netted into one movement.
        let m = month_idx(d);
        let mut delta = Money::ZERO;
        let currencies: BTreeSet<Currency> = prev.mrr.keys().chain(next.mrr.keys()).copied().collect();
        for c in &currencies {
            let change = next.mrr.get(c).copied().unwrap_or_default() - prev.mrr.get(c).copied().unwrap_or_default();
            delta += fx.convert(change, *c, m)?;
        }
        let kind = match (prev.subscriber, next.subscriber) {
            (false, true) => {
                let returning = ever_subscribed
                    && match (rules.reactivation_window_days, last_churn) {
                        (Some(n), Some(churned)) => days_between(churned, d) <= n as i64,
                        _ => true,
                    };
                ever_subscribed = true;
                Some(if returning { MovementKind::Reactivation } else { MovementKind::NewBusiness })
            }
            (true, false) => {
                last_churn = Some(d);
                Some(MovementKind::Churn)
            }
            (true, true) if delta > Money::ZERO => Some(MovementKind::Expansion),
            (true, true) if delta < Money::ZERO => Some(MovementKind::Contraction),
            _ => None,
        };
        if let Some(kind) = kind {
            movements.push(Movement { date: d, kind, amount: delta });
        }
        states.push((d, next.clone()));
        prev = next;
    }
    if rules.ignore_same_month_new_churn {
        drop_same_month_new_churn(&mut movements);
    }
    Ok(CustomerLedger { customer_id: id, states, movements, trial_starts: Vec::new(), subscriptions: Vec::new() })
}

/// `same_month_new_churn = ignore` (ProfitWell): a New Business followed by a
/// churn in the same calendar month is dropped with every movement between
/// them (they net to zero, so MRR still reconciles).
fn drop_same_month_new_churn(movements: &mut Vec<Movement>) {
    let mut i = 0;
    while i < movements.len() {
        if movements[i].kind == MovementKind::NewBusiness {
            let m = month_idx(movements[i].date);
            let churn = movements[i + 1..]
                .iter()
                .take_while(|x| month_idx(x.date) == m)
                .position(|x| x.kind == MovementKind::Churn)
                .map(|p| i + 1 + p);
            if let Some(j) = churn {
                movements.drain(i..=j);
                continue;
            }
        }
        i += 1;
    }
    // A later return of a customer whose only New Business was dropped is its New Business.
    let mut seen_new = false;
    for m in movements.iter_mut() {
        if m.kind == MovementKind::Reactivation && !seen_new {
            m.kind = MovementKind::NewBusiness;
        }
        seen_new |= m.kind == MovementKind::NewBusiness;
    }
}

pub fn days_between(a: Date, b: Date) -> i64 {
    a.until(b).map(|s| s.get_days() as i64).unwrap_or(0)
}
