//! One subscription over time: its terms, status and MRR from its events
//! (SPEC 1 "subscription event", SPEC 2.1 "MRR of a subscription",
//! "Discounts").

use std::collections::HashMap;

use jiff::civil::Date;
use rust_decimal::Decimal;
use tenure_model::entity::Entity;
use tenure_model::{Currency, DiscountDuration, Interval, Money, Plan, SubscriptionEvent, SubscriptionEventType};

use super::Rules;

/// A subscription's status on a day, after all events dated that day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SubStatus {
    /// Trialing: a lead, 0 MRR, not a subscriber.
    Trial,
    Active,
    PastDue,
    /// Cancelled (from its churn date on).
    Ended,
    /// Auto-churned after `delinquency_auto_churn_days` past due (a payment
    /// recovery reactivates it).
    Lapsed,
}

impl SubStatus {
    /// Active or past-due: the subscription counts (SPEC 2.1 "Subscribers").
    pub fn is_live(self) -> bool {
        matches!(self, SubStatus::Active | SubStatus::PastDue)
    }
}

/// A subscription's state from a date on, until its next point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubPoint {
    pub date: Date,
    pub status: SubStatus,
    pub currency: Option<Currency>,
    /// Monthly recurring revenue in the subscription's currency (0 unless live).
    pub mrr: Money,
}

/// The timeline of one subscription: a point at every date its status or MRR changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubTimeline {
    pub subscription_id: String,
    pub customer_id: String,
    pub points: Vec<SubPoint>,
    /// Where terms start: each start, and each change of the billing interval
    /// (SPEC 2.1 "Renewals": re-anchored when the interval changes).
    pub anchors: Vec<Anchor>,
}

/// Terms run from `date` in steps of `count` x `interval`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Anchor {
    pub date: Date,
    pub interval: Interval,
    pub count: u32,
}

impl Anchor {
    /// The exclusive end of the k-th term (k = 1: the first), from the anchor
    /// (not step by step, so month ends do not drift).
    pub fn term_end(&self, k: i64) -> Date {
        add_intervals(self.date, self.interval, self.count as i64 * k)
    }
}

/// `d` plus `n` intervals (calendar months and years clamp to the month's last day).
pub fn add_intervals(d: Date, interval: Interval, n: i64) -> Date {
    let span = match interval {
        Interval::Day => jiff::Span::new().days(n),
        Interval::Week => jiff::Span::new().weeks(n),
        Interval::Month => jiff::Span::new().months(n),
        Interval::Year => jiff::Span::new().years(n),
    };
    d.checked_add(span).unwrap_or(Date::MAX)
}

impl SubTimeline {
    /// The point in force at the end of day `d` (None before the first event).
    pub fn at(&self, d: Date) -> Option<&SubPoint> {
        let i = self.points.partition_point(|p| p.date <= d);
        if i == 0 { None } else { Some(&self.points[i - 1]) }
    }
}

/// A discount in force, with its exclusive end (`None`: forever).
#[derive(Clone, Debug, PartialEq)]
struct AppliedDiscount {
    percent_off: Option<Decimal>,
    amount_off_cents: Option<i64>,
    ends: Option<Date>,
}

/// The recurring terms of a subscription.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Terms {
    pub currency: Option<Currency>,
    pub interval: Option<Interval>,
    pub interval_count: u32,
    pub unit_amount_cents: i64,
    pub quantity: i64,
    discount: Option<AppliedDiscount>,
}

/// The MRR of a price per billing interval (SPEC 2.1): divided by the months
/// in the interval (month: count; year: 12 x count); a weekly price x 52 / 12 /
/// count, a daily price x 365 / 12 / count. Exact for the usual counts (see
/// [`tenure_model::money::TICKS_PER_MINOR`]).
pub fn normalise_to_month(per_interval: Money, interval: Interval, count: u32) -> Money {
    let count = count.max(1) as i64;
    match interval {
        Interval::Month => per_interval.div_int(count),
        Interval::Year => per_interval.div_int(12 * count),
        Interval::Week => per_interval.mul_div(52, 12 * count),
        Interval::Day => per_interval.mul_div(365, 12 * count),
    }
}

impl Terms {
    /// MRR on day `d`: unit x quantity, minus the discount in force on `d`
    /// (an amount off applies per billing interval before normalising, floored
    /// at 0), normalised to a month.
    pub fn mrr_on(&self, d: Date) -> Money {
        let Some(interval) = self.interval else { return Money::ZERO };
        let gross = Money::from_cents(self.unit_amount_cents).times(self.quantity);
        let net = match &self.discount {
            Some(disc) if disc.ends.is_none_or(|e| d < e) => {
                if let Some(p) = disc.percent_off {
                    gross.mul_decimal((Decimal::ONE_HUNDRED - p) / Decimal::ONE_HUNDRED)
                } else if let Some(a) = disc.amount_off_cents {
                    (gross - Money::from_cents(a)).max(Money::ZERO)
                } else {
                    gross
                }
            }
            _ => gross,
        };
        normalise_to_month(net, interval, self.interval_count)
    }

    fn discount_end(&self) -> Option<Date> {
        self.discount.as_ref().and_then(|d| d.ends)
    }

    /// The first day after one billing interval starting on `d`.
    fn one_interval_after(&self, d: Date) -> Date {
        add_intervals(d, self.interval.unwrap_or(Interval::Month), self.interval_count.max(1) as i64)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Act {
    Trial,
    Start,
    Change,
    PastDue,
    Recovered,
    End,
}

struct Action<'a> {
    /// The day the action takes effect.
    date: Date,
    ev: &'a SubscriptionEvent,
    act: Act,
}

/// Build one subscription's timeline. `events` are all of its events in any
/// order: they are sorted by (effective date, event date, type, key) so that
/// any input order gives the same timeline.
pub fn timeline(
    events: &[&SubscriptionEvent],
    plans: &HashMap<&str, &Plan>,
    rules: &Rules,
) -> Result<SubTimeline, String> {
    let mut acts: Vec<Action<'_>> = events
        .iter()
        .map(|ev| {
            let (act, date) = match ev.kind {
                SubscriptionEventType::TrialStart => (Act::Trial, ev.date),
                SubscriptionEventType::Start => (Act::Start, ev.date),
                SubscriptionEventType::Change => (Act::Change, ev.date),
                SubscriptionEventType::PastDue => (Act::PastDue, ev.date),
                SubscriptionEventType::PaymentRecovered => (Act::Recovered, ev.date),
                // SPEC 2.1: a cancel is dated by its requested_at; under at_end its
                // churn takes effect on ends_at (exclusive: the first day without
                // service). Without ends_at the service ends on the cancel's date.
                SubscriptionEventType::Cancel => {
                    let requested = ev.requested_at.unwrap_or(ev.date);
                    let date = if rules.at_request { requested } else { ev.ends_at.unwrap_or(requested) };
                    (Act::End, date)
                }
            };
            Action { date, ev, act }
        })
        .collect();
    // The event's key breaks ties only (it allocates), so that any input order
    // gives the same timeline.
    acts.sort_by(|a, b| {
        (a.date, a.ev.date, a.act).cmp(&(b.date, b.ev.date, b.act)).then_with(|| a.ev.key().cmp(&b.ev.key()))
    });

    let first = acts.first().ok_or("a subscription without events")?;
    let subscription_id = first.ev.subscription_id.clone();
    let customer_id = first.ev.customer_id.clone();

    let mut status: Option<SubStatus> = None;
    let mut terms = Terms { interval_count: 1, quantity: 1, ..Terms::default() };
    let mut autochurn_at: Option<Date> = None;
    let mut anchors: Vec<Anchor> = Vec::new();
    let mut last: Option<Date> = None;
    let mut points: Vec<SubPoint> = Vec::new();
    let mut i = 0;
    loop {
        // The next day anything can change: an event, a discount's expiry, an auto-churn.
        let mut next = acts.get(i).map(|a| a.date);
        for d in [terms.discount_end(), autochurn_at].into_iter().flatten() {
            if last.is_none_or(|l| d > l) {
                next = Some(next.map_or(d, |n| n.min(d)));
            }
        }
        let Some(d) = next else { break };
        if autochurn_at == Some(d) {
            status = Some(SubStatus::Lapsed);
            autochurn_at = None;
        }
        while let Some(a) = acts.get(i).filter(|a| a.date == d) {
            let ev = a.ev;
            match a.act {
                Act::Trial => {
                    if !status.is_some_and(SubStatus::is_live) {
                        status = Some(SubStatus::Trial);
                    }
                    if ev.currency.is_some() {
                        terms.currency = ev.currency;
                    }
                }
                Act::Start => {
                    let (interval, count) = interval_of(ev, plans);
                    let interval = interval.ok_or_else(|| {
                        format!(
                            "subscription {subscription_id}: the start on {} has no interval and no plan that gives one",
                            ev.date
                        )
                    })?;
                    terms = Terms {
                        currency: ev.currency.or(terms.currency),
                        interval: Some(interval),
                        interval_count: count.unwrap_or(1),
                        unit_amount_cents: ev.unit_amount_cents.unwrap_or(0),
                        quantity: ev.quantity.unwrap_or(1),
                        discount: None,
                    };
                    terms.discount = applied_discount(ev, &terms, d, rules);
                    status = Some(SubStatus::Active);
                    autochurn_at = None;
                    anchors.push(Anchor { date: d, interval, count: terms.interval_count });
                }
                Act::Change => {
                    let before = (terms.interval, terms.interval_count);
                    // A partial override: only the fields given change.
                    if ev.currency.is_some() {
                        terms.currency = ev.currency;
                    }
                    let (interval, count) = interval_of(ev, plans);
                    if let Some(iv) = interval {
                        terms.interval = Some(iv);
                    }
                    if let Some(c) = count {
                        terms.interval_count = c;
                    }
                    if let Some(u) = ev.unit_amount_cents {
                        terms.unit_amount_cents = u;
                    }
                    if let Some(q) = ev.quantity {
                        terms.quantity = q;
                    }
                    if ev.discount.is_some() {
                        terms.discount = applied_discount(ev, &terms, d, rules);
                    }
                    if let Some(iv) = terms.interval
                        && before != (terms.interval, terms.interval_count)
                        && !anchors.is_empty()
                    {
                        anchors.push(Anchor { date: d, interval: iv, count: terms.interval_count });
                    }
                }
                Act::PastDue => {
                    if status == Some(SubStatus::Active) {
                        status = Some(SubStatus::PastDue);
                        if let Some(n) = rules.delinquency_auto_churn_days {
                            autochurn_at = d.checked_add(jiff::Span::new().days(n as i64)).ok();
                        }
                    }
                }
                Act::Recovered => {
                    // Recovery after an auto-churn reactivates (SPEC 2.1).
                    if matches!(status, Some(SubStatus::PastDue | SubStatus::Lapsed)) {
                        status = Some(SubStatus::Active);
                    }
                    autochurn_at = None;
                }
                Act::End => {
                    status = Some(SubStatus::Ended);
                    autochurn_at = None;
                }
            }
            i += 1;
        }
        last = Some(d);
        if let Some(s) = status {
            let mrr = if s.is_live() { terms.mrr_on(d) } else { Money::ZERO };
            let p = SubPoint { date: d, status: s, currency: terms.currency, mrr };
            let same = points.last().is_some_and(|q| (q.status, q.currency, q.mrr) == (p.status, p.currency, p.mrr));
            if !same {
                points.push(p);
            }
        }
    }
    // Two anchors on one day (a start and an interval change): the later wins.
    anchors.dedup_by(|later, earlier| {
        let same = later.date == earlier.date;
        if same {
            *earlier = *later;
        }
        same
    });
    Ok(SubTimeline { subscription_id, customer_id, points, anchors })
}

/// The interval (and count) an event gives, directly or through its plan.
fn interval_of(ev: &SubscriptionEvent, plans: &HashMap<&str, &Plan>) -> (Option<Interval>, Option<u32>) {
    if ev.interval.is_some() {
        return (ev.interval, ev.interval_count);
    }
    let plan = ev.plan_id.as_deref().and_then(|p| plans.get(p));
    match plan {
        Some(p) if p.interval.is_some() => (p.interval, ev.interval_count.or(p.interval_count).or(Some(1))),
        _ => (None, ev.interval_count),
    }
}

/// The discount an event sets, from day `d` (SPEC 2.1 "Discounts"): forever
/// while the subscription lives; repeating until its exclusive ends_at; once
/// for the first billing interval (from the day it is applied). Under
/// `discount_policy = forever_only` (Stripe's MRR) other discounts are ignored.
fn applied_discount(ev: &SubscriptionEvent, terms: &Terms, d: Date, rules: &Rules) -> Option<AppliedDiscount> {
    let disc = ev.discount.as_ref()?;
    if rules.forever_only && disc.duration != DiscountDuration::Forever {
        return None;
    }
    let ends = match disc.duration {
        DiscountDuration::Forever => None,
        DiscountDuration::Repeating => disc.ends_at,
        DiscountDuration::Once => Some(terms.one_interval_after(d)),
    };
    Some(AppliedDiscount { percent_off: disc.percent_off, amount_off_cents: disc.amount_off_cents, ends })
}
