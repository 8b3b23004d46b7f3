//! Subscriptions derived from invoices, for subscriptions that have no
//! subscription events (SPEC 2.1 "From invoices only"): each subscription line
//! item gives the terms for its service period; a prorated line is scaled to a
//! full interval (MRR = amount x days in one full plan interval starting at
//! service_period_start / days in the service period); a subscription stays
//! active until a cancellation ends it (a missing invoice is not churn). Tax,
//! one-time and usage lines and refunds never change MRR. A `trial` line makes
//! the subscription trialing (0 MRR) from its service period start.

use std::collections::{BTreeMap, HashMap, HashSet};

use jiff::civil::Date;
use tenure_model::{Cancellation, Currency, Interval, Invoice, LineItemType, Money, Plan};

use super::Rules;
use super::ledger::days_between;
use super::subscription::{Anchor, SubPoint, SubStatus, SubTimeline, add_intervals, normalise_to_month};

/// What a day's lines say about a subscription: trialing, or paid at an MRR.
#[derive(Clone, Copy, Debug)]
struct Period {
    trial: bool,
    mrr: Money,
    interval: Interval,
    count: u32,
}

/// The interval of a service period when no plan gives it: the nearest usual
/// length (1 day, 1-2 weeks, 1-3, 6 months, 1-2 years), else whole months.
pub fn infer_interval(days: i64) -> (Interval, u32) {
    match days {
        1 => (Interval::Day, 1),
        7 => (Interval::Week, 1),
        14 => (Interval::Week, 2),
        28..=31 => (Interval::Month, 1),
        59..=62 => (Interval::Month, 2),
        89..=92 => (Interval::Month, 3),
        181..=184 => (Interval::Month, 6),
        365 | 366 => (Interval::Year, 1),
        730..=731 => (Interval::Year, 2),
        _ => (Interval::Month, ((days as f64 / 30.4375).round() as u32).max(1)),
    }
}

/// Timelines of the subscriptions in `invoices` whose ids are not in `skip`
/// (those have subscription events), and the trial start days per customer.
pub fn timelines(
    invoices: &[Invoice],
    cancellations: &[Cancellation],
    plans: &HashMap<&str, &Plan>,
    skip: &HashSet<&str>,
    rules: &Rules,
) -> (Vec<SubTimeline>, BTreeMap<String, Vec<Date>>) {
    // subscription -> (customer, currency, start day -> periods of that day)
    type Lines = (String, Currency, BTreeMap<Date, Vec<Period>>);
    let mut subs: BTreeMap<&str, Lines> = BTreeMap::new();
    let mut trials: BTreeMap<String, Vec<Date>> = BTreeMap::new();
    for inv in invoices {
        for line in &inv.line_items {
            let (Some(sub), Some(sps)) = (line.subscription_id.as_deref(), line.service_period_start) else {
                continue;
            };
            if skip.contains(sub) || !matches!(line.kind, LineItemType::Subscription | LineItemType::Trial) {
                continue;
            }
            let trial = line.kind == LineItemType::Trial;
            let plan = line.plan_id.as_deref().and_then(|p| plans.get(p)).filter(|p| p.interval.is_some());
            let period_days = line.service_period_end.map(|e| days_between(sps, e)).filter(|d| *d > 0);
            let (interval, count) = match (plan, period_days) {
                (Some(p), _) => (p.interval.expect("filtered"), p.interval_count.unwrap_or(1)),
                (None, Some(days)) if !line.prorated => infer_interval(days),
                _ => (Interval::Month, 1),
            };
            let amount = Money::from_cents(line.amount_cents);
            let price = match period_days {
                Some(days) if line.prorated => {
                    let full = days_between(sps, add_intervals(sps, interval, count as i64));
                    amount.mul_div(full, days)
                }
                _ => amount,
            };
            let mrr = if trial { Money::ZERO } else { normalise_to_month(price, interval, count) };
            if trial {
                trials.entry(inv.customer_id.clone()).or_default().push(sps);
            }
            let e = subs.entry(sub).or_insert_with(|| (inv.customer_id.clone(), inv.currency, BTreeMap::new()));
            e.2.entry(sps).or_default().push(Period { trial, mrr, interval, count });
        }
    }
    let cancels: HashMap<&str, &Cancellation> = cancellations.iter().map(|c| (c.subscription_id.as_str(), c)).collect();
    let mut out = Vec::new();
    for (sub, (customer_id, currency, days)) in subs {
        // The churn day: cancelled_at (first day without service), or the request under at_request.
        let end = cancels
            .get(sub)
            .map(|c| if rules.at_request { c.requested_at.unwrap_or(c.cancelled_at) } else { c.cancelled_at });
        let mut points: Vec<SubPoint> = Vec::new();
        let mut anchors: Vec<Anchor> = Vec::new();
        for (day, periods) in days {
            if end.is_some_and(|e| day >= e) {
                break;
            }
            let mut paid: Vec<&Period> = periods.iter().filter(|p| !p.trial).collect();
            paid.sort_by_key(|p| (p.interval.as_str(), p.count, p.mrr));
            let point = if paid.is_empty() {
                SubPoint { date: day, status: SubStatus::Trial, currency: Some(currency), mrr: Money::ZERO }
            } else {
                // Lines of one subscription for the same period add up (e.g. a plan and its seats).
                let (interval, count) = (paid[0].interval, paid[0].count);
                if anchors.last().is_none_or(|a| (a.interval, a.count) != (interval, count)) {
                    anchors.push(Anchor { date: day, interval, count });
                }
                SubPoint {
                    date: day,
                    status: SubStatus::Active,
                    currency: Some(currency),
                    mrr: paid.iter().map(|p| p.mrr).sum(),
                }
            };
            if points.last().is_none_or(|q| (q.status, q.mrr) != (point.status, point.mrr)) {
                points.push(point);
            }
        }
        if let Some(e) = end
            && !points.is_empty()
        {
            points.push(SubPoint { date: e, status: SubStatus::Ended, currency: Some(currency), mrr: Money::ZERO });
        }
        if !points.is_empty() {
            out.push(SubTimeline { subscription_id: sub.to_string(), customer_id, points, anchors });
        }
    }
    for v in trials.values_mut() {
        v.sort();
        v.dedup();
    }
    (out, trials)
}
