//! The demo data must be deterministic, valid by the data contract's own
//! parsers, on budget, and its churn must follow the signals it shows.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};

use serde_json::{Value, json};
use tenure_model::{
    Cancellation, Cost, Customer, Entity, FxRate, Invoice, Order, Record, SubscriptionEvent, SubscriptionEventType,
    SurveyResponse, SurveyType, Ticket, UsageEvent, UsageEventType,
};

use super::*;

fn small(seed: u64) -> DemoConfig {
    DemoConfig { seed, customers: 300, events: 200_000, ..DemoConfig::default() }
}

fn window(cfg: &DemoConfig) -> (jiff::civil::Date, jiff::civil::Date) {
    (cfg.start, cal::date(cal::add_months(cal::day_of(cfg.start), cfg.months as i32)))
}

/// A digest of the whole event stream, and its chunk sizes.
fn event_digest(cfg: &DemoConfig, data: &DemoData, chunk: usize) -> (u64, u64, usize) {
    let mut h = DefaultHasher::new();
    let mut biggest = 0;
    let n = generate_events(cfg, data, chunk, |events| {
        biggest = biggest.max(events.len());
        for e in &events {
            format!("{e:?}").hash(&mut h);
        }
    });
    (h.finish(), n, biggest)
}

#[test]
fn same_seed_same_data_other_seed_other_data() {
    let cfg = DemoConfig { events: 30_000, ..small(7) };
    let (a, b) = (generate(&cfg), generate(&cfg));
    assert!(a == b, "two runs with one seed differ");
    let (da, na, _) = event_digest(&cfg, &a, 1000);
    let (db, nb, _) = event_digest(&cfg, &b, 777);
    assert_eq!((da, na), (db, nb), "event stream differs between runs (or depends on the chunk size)");

    let other = DemoConfig { seed: 8, ..cfg.clone() };
    let c = generate(&other);
    assert!(a.subscription_events != c.subscription_events && a.customers != c.customers);
    assert_ne!(event_digest(&other, &c, 1000).0, da);
}

fn rec(v: Value) -> Record {
    let Value::Object(m) = v else { panic!("not an object") };
    Record::new(1, m.into_iter().filter(|(_, v)| !v.is_null()).collect())
}

fn sub_event_json(e: &SubscriptionEvent) -> Value {
    json!({
        "subscription_id": e.subscription_id, "customer_id": e.customer_id, "type": e.kind.as_str(),
        "date": e.date.to_string(), "currency": e.currency.map(|c| c.to_string()), "plan_id": e.plan_id,
        "interval": e.interval.map(|i| i.as_str()), "interval_count": e.interval_count,
        "unit_amount_cents": e.unit_amount_cents, "quantity": e.quantity,
        "discount": e.discount.as_ref().map(|d| json!({
            "percent_off": d.percent_off.map(|p| p.to_string()), "amount_off_cents": d.amount_off_cents,
            "duration": d.duration.as_str(), "ends_at": d.ends_at.map(|x| x.to_string()),
        })),
        "requested_at": e.requested_at.map(|d| d.to_string()), "ends_at": e.ends_at.map(|d| d.to_string()),
        "external_id": e.external_id,
    })
}

fn invoice_json(i: &Invoice) -> Value {
    let lines: Vec<Value> = i
        .line_items
        .iter()
        .map(|l| {
            json!({
                "type": l.kind.as_str(), "subscription_id": l.subscription_id, "plan_id": l.plan_id,
                "service_period_start": l.service_period_start.map(|d| d.to_string()),
                "service_period_end": l.service_period_end.map(|d| d.to_string()),
                "amount_cents": l.amount_cents, "tax_cents": l.tax_cents, "discount_cents": l.discount_cents,
                "quantity": l.quantity, "prorated": l.prorated,
            })
        })
        .collect();
    let txns: Vec<Value> = i
        .transactions
        .iter()
        .map(|t| json!({"type": t.kind.as_str(), "date": t.date.to_string(), "amount_cents": t.amount_cents, "result": t.result}))
        .collect();
    json!({"external_id": i.external_id, "customer_id": i.customer_id, "date": i.date.to_string(),
           "currency": i.currency.to_string(), "line_items": lines, "transactions": txns})
}

fn ts(t: Option<jiff::Timestamp>) -> Option<String> {
    t.map(|t| t.to_string())
}

/// Every row, written out as an importer would read it, parses back to the
/// same entity: the demo only produces what the data contract accepts.
#[test]
fn every_row_passes_the_importers_validation() {
    let cfg = small(11);
    let data = generate(&cfg);
    let (start, end) = window(&cfg);
    fn check<T: Entity + PartialEq + std::fmt::Debug>(row: &T, v: Value) {
        match T::from_record(&rec(v)) {
            Ok(parsed) => assert_eq!(&parsed, row),
            Err(e) => panic!("{} row {row:?} rejected: {e:?}", T::NAME),
        }
    }
    for c in &data.customers {
        let mut v = json!({"id": c.id, "name": c.name, "email": c.email, "company": c.company, "country": c.country,
            "segment": c.segment, "plan_tier": c.plan_tier, "owner": c.owner, "created_at": ts(c.created_at)});
        for (k, x) in &c.attributes {
            v[k] = x.clone();
        }
        check::<Customer>(c, v);
    }
    for e in &data.subscription_events {
        check(e, sub_event_json(e));
        assert!(e.date >= start && e.date < end, "{e:?} outside the window");
    }
    for i in &data.invoices {
        check(i, invoice_json(i));
        assert!(i.date >= start && i.date < end);
        for t in &i.transactions {
            assert!(t.date < cal::ts(cal::day_of(end) as i64 * cal::DAY));
        }
    }
    for o in &data.orders {
        check::<Order>(
            o,
            json!({"id": o.id, "customer_id": o.customer_id, "date": o.date.to_string(), "amount_cents": o.amount_cents,
                   "currency": o.currency.map(|c| c.to_string()), "cost_cents": o.cost_cents}),
        );
    }
    for r in &data.survey_responses {
        check::<SurveyResponse>(
            r,
            json!({"id": r.id, "survey_id": r.survey_id, "survey_type": r.survey_type.as_str(), "scale_min": r.scale_min,
                   "scale_max": r.scale_max, "ces_variant": r.ces_variant, "respondent_id": r.respondent_id,
                   "customer_id": r.customer_id, "sent_at": ts(r.sent_at), "submitted_at": ts(r.submitted_at),
                   "score": r.score, "comment": r.comment}),
        );
    }
    for t in &data.tickets {
        check::<Ticket>(
            t,
            json!({"id": t.id, "customer_id": t.customer_id, "created_at": t.created_at.to_string(),
                   "first_reply_at": ts(t.first_reply_at), "bot_handoff_at": ts(t.bot_handoff_at),
                   "solved_at": ts(t.solved_at), "status": t.status, "replies": t.replies,
                   "customer_replies": t.customer_replies, "reopens": t.reopens, "channel": t.channel,
                   "satisfaction": t.satisfaction}),
        );
    }
    for c in &data.cancellations {
        check::<Cancellation>(
            c,
            json!({"subscription_id": c.subscription_id, "cancelled_at": c.cancelled_at.to_string(),
                   "requested_at": c.requested_at.map(|d| d.to_string()), "customer_id": c.customer_id}),
        );
    }
    for c in &data.costs {
        check::<Cost>(
            c,
            json!({"month": c.month.to_string(), "category": c.category, "amount_cents": c.amount_cents, "currency": c.currency.to_string()}),
        );
    }
    for f in &data.fx_rates {
        check::<FxRate>(
            f,
            json!({"currency": f.currency.to_string(), "month": f.month.to_string(), "rate_to_reporting": f.rate_to_reporting.to_string()}),
        );
    }
    assert_eq!(data.costs.len(), 3 * cfg.months as usize);
    assert_eq!(data.fx_rates.len(), 3 * cfg.months as usize);
}

#[test]
fn ids_unique_and_histories_consistent() {
    let cfg = small(12);
    let data = generate(&cfg);
    fn unique<'a>(what: &str, ids: impl Iterator<Item = &'a str>) {
        let mut seen = HashSet::new();
        for id in ids {
            assert!(seen.insert(id), "duplicate {what} id {id}");
        }
    }
    unique("customer", data.customers.iter().map(|c| c.id.as_str()));
    unique("plan", data.plans.iter().map(|p| p.id.as_str()));
    unique("subscription event", data.subscription_events.iter().filter_map(|e| e.external_id.as_deref()));
    unique("invoice", data.invoices.iter().map(|i| i.external_id.as_str()));
    unique("order", data.orders.iter().map(|o| o.id.as_str()));
    unique("response", data.survey_responses.iter().map(|r| r.id.as_str()));
    unique("ticket", data.tickets.iter().map(|t| t.id.as_str()));
    unique("cancellation", data.cancellations.iter().map(|c| c.subscription_id.as_str()));
    let customers: HashSet<&str> = data.customers.iter().map(|c| c.id.as_str()).collect();
    let plans: HashSet<&str> = data.plans.iter().map(|p| p.id.as_str()).collect();

    // Each subscription's events are in date order, start once (after an
    // optional trial), and nothing follows a cancel.
    let mut subs: BTreeMap<&str, Vec<&SubscriptionEvent>> = BTreeMap::new();
    for e in &data.subscription_events {
        assert!(customers.contains(e.customer_id.as_str()));
        if let Some(p) = &e.plan_id {
            assert!(plans.contains(p.as_str()), "unknown plan {p}");
        }
        subs.entry(&e.subscription_id).or_default().push(e);
    }
    let cancelled: HashSet<&str> = data.cancellations.iter().map(|c| c.subscription_id.as_str()).collect();
    for (id, evs) in &subs {
        assert!(evs.windows(2).all(|w| w[0].date <= w[1].date), "{id} out of order: {evs:?}");
        let starts = evs.iter().filter(|e| e.kind == SubscriptionEventType::Start).count();
        assert!(starts <= 1, "{id} starts twice");
        if let Some(pos) = evs.iter().position(|e| e.kind == SubscriptionEventType::Cancel) {
            assert_eq!(pos, evs.len() - 1, "{id}: events after the cancel");
            let c = evs[pos];
            assert!(c.ends_at.unwrap() >= c.requested_at.unwrap());
            assert!(cancelled.contains(id));
        }
    }
    // Invoices: subscription lines have a service period, tax on top, and
    // payments add up.
    for i in &data.invoices {
        assert!(customers.contains(i.customer_id.as_str()));
        for l in &i.line_items {
            if let (Some(s), Some(e)) = (l.service_period_start, l.service_period_end) {
                assert!(e > s);
            }
            assert!(l.amount_cents >= 0 && l.tax_cents.unwrap_or(0) >= 0);
        }
        let total: i64 = i.line_items.iter().map(|l| l.amount_cents + l.tax_cents.unwrap_or(0)).sum();
        for t in &i.transactions {
            assert!(t.amount_cents <= total && t.amount_cents > 0);
        }
    }
    // Scores: in range except the deliberately broken few, which carry the
    // rejection reason.
    let answered: Vec<&SurveyResponse> = data.survey_responses.iter().filter(|r| r.score.is_some()).collect();
    let rejected = answered.iter().filter(|r| r.rejected_reason.is_some()).count();
    assert!(rejected * 100 <= answered.len(), "{rejected} of {} out of range", answered.len());
    for r in &answered {
        let s = r.score.unwrap();
        assert_eq!(r.rejected_reason.is_some(), s < r.scale_min as f64 || s > r.scale_max as f64);
        assert!(r.submitted_at.unwrap() >= r.sent_at.unwrap());
    }
    let nps: Vec<_> = data.survey_responses.iter().filter(|r| r.survey_type == SurveyType::Nps).collect();
    let rate = nps.iter().filter(|r| r.submitted_at.is_some()).count() as f64 / nps.len() as f64;
    assert!((0.2..0.42).contains(&rate), "NPS response rate {rate}");
    assert!(nps.iter().any(|r| r.submitted_at.is_some() && r.score.is_none()), "no skipped answers");
    // Tickets: mostly resolved.
    let resolved = data.tickets.iter().filter(|t| matches!(t.status.as_str(), "solved" | "closed")).count();
    assert!(resolved as f64 > 0.85 * data.tickets.len() as f64);
    // The causes name real churned customers.
    for (cause, ids) in &data.churn_causes {
        assert!(CAUSES.contains(&cause.as_str()));
        for id in ids {
            assert!(customers.contains(id.as_str()));
        }
    }
}

#[test]
fn events_on_budget_and_well_formed() {
    let cfg = small(13);
    let data = generate(&cfg);
    let (start, end) = window(&cfg);
    let (lo, hi) = (cal::ts(cal::day_of(start) as i64 * cal::DAY), cal::ts(cal::day_of(end) as i64 * cal::DAY));
    let mut ids = HashSet::new();
    let mut created: HashMap<String, jiff::Timestamp> = HashMap::new();
    let mut first_seen: HashMap<String, jiff::Timestamp> = HashMap::new();
    let mut kinds = [0u64; 4];
    let mut biggest = 0;
    let mut weekend = 0u64;
    let n = generate_events(&cfg, &data, 5000, |chunk| {
        biggest = biggest.max(chunk.len());
        for e in chunk {
            assert!(ids.insert(e.message_id.clone()), "duplicate messageId {}", e.message_id);
            assert!(e.timestamp >= lo && e.timestamp < hi, "{e:?} outside the window");
            assert!(e.group_id.is_some() && e.user_id.is_some());
            kinds[e.kind as usize] += 1;
            weekend += u64::from(cal::is_weekend(e.timestamp.as_second().div_euclid(cal::DAY) as i32));
            let user = e.user_id.clone().unwrap();
            match e.kind {
                UsageEventType::Identify => {
                    let t = e.traits.as_ref().unwrap()["created_at"].as_str().unwrap().parse().unwrap();
                    created.insert(user.clone(), t);
                }
                UsageEventType::Track => assert!(e.event.is_some()),
                UsageEventType::Page => assert!(e.name.is_some()),
                UsageEventType::Group => assert!(e.traits.is_some()),
            }
            if e.kind != UsageEventType::Group {
                let f = first_seen.entry(user).or_insert(e.timestamp);
                *f = (*f).min(e.timestamp);
            }
        }
    });
    assert!(biggest <= 5000);
    assert_eq!(n as usize, ids.len());
    let off = (n as f64 - cfg.events as f64).abs() / cfg.events as f64;
    assert!(off < 0.1, "{n} events for a target of {}", cfg.events);
    assert!(kinds[UsageEventType::Page as usize] > 0 && kinds[UsageEventType::Group as usize] > 0);
    // Nobody acts before their identify's created_at.
    for (user, first) in &first_seen {
        assert!(created[user] <= *first, "{user} acts at {first} before its creation {}", created[user]);
    }
    // Weekends are much quieter than weekdays.
    let weekend = weekend as f64 / n as f64;
    assert!(weekend < 0.12, "{weekend} of events on weekends");
}

/// Subscribers at the end of each month and customers churned in it,
/// rebuilt from the subscription events alone.
fn monthly_churn(cfg: &DemoConfig, data: &DemoData) -> Vec<(usize, usize)> {
    let start = cal::day_of(cfg.start);
    let mut spans: BTreeMap<&str, Vec<(i32, i32)>> = BTreeMap::new();
    let mut open: HashMap<&str, i32> = HashMap::new();
    for e in &data.subscription_events {
        match e.kind {
            SubscriptionEventType::Start => {
                open.insert(&e.subscription_id, cal::day_of(e.date));
            }
            SubscriptionEventType::Cancel => {
                if let Some(s) = open.remove(e.subscription_id.as_str()) {
                    spans.entry(&e.customer_id).or_default().push((s, cal::day_of(e.ends_at.unwrap())));
                }
            }
            _ => {}
        }
    }
    for e in &data.subscription_events {
        if let Some(s) = open.remove(e.subscription_id.as_str()) {
            spans.entry(&e.customer_id).or_default().push((s, i32::MAX));
        }
    }
    let active = |sp: &[(i32, i32)], day: i32| sp.iter().any(|&(a, b)| a <= day && day < b);
    (1..cfg.months as i32)
        .map(|m| {
            let (ms, me) = (cal::add_months(start, m), cal::add_months(start, m + 1));
            let subs: Vec<_> = spans.values().filter(|sp| active(sp, ms - 1)).collect();
            let churned = subs.iter().filter(|sp| !active(sp, me - 1)).count();
            (subs.len(), churned)
        })
        .collect()
}

fn churn_rate(cfg: &DemoConfig, data: &DemoData) -> f64 {
    let rows = monthly_churn(cfg, data);
    let skip = rows.len() / 3; // the young book's first months are noisy
    let (s, c) = rows[skip..].iter().fold((0, 0), |(s, c), r| (s + r.0, c + r.1));
    c as f64 / s as f64
}

/// Per customer and month: (track events, distinct active users).
fn usage_by_month(cfg: &DemoConfig, data: &DemoData) -> HashMap<String, BTreeMap<i32, (u64, HashSet<String>)>> {
    let mut out: HashMap<String, BTreeMap<i32, (u64, HashSet<String>)>> = HashMap::new();
    generate_events(cfg, data, 10_000, |chunk: Vec<UsageEvent>| {
        for e in chunk {
            if e.kind != UsageEventType::Track {
                continue;
            }
            let d = e.timestamp.to_zoned(jiff::tz::TimeZone::UTC).date();
            let m = d.year() as i32 * 12 + d.month() as i32;
            let cell = out.entry(e.group_id.unwrap()).or_default().entry(m).or_default();
            cell.0 += 1;
            cell.1.insert(e.user_id.unwrap());
        }
    });
    out
}

/// The heart of the demo: customers who churn used the product less (per
/// active user) in the months before they left than customers who stayed,
/// answered NPS lower and had worse support.
#[test]
fn churn_follows_visible_signals() {
    let cfg = DemoConfig { customers: 600, events: 400_000, ..small(21) };
    let data = generate(&cfg);
    let usage = usage_by_month(&cfg, &data);
    let month_key = |d: jiff::civil::Date| d.year() as i32 * 12 + d.month() as i32;
    let end_key = month_key(window(&cfg).1);

    // First voluntary churn per customer: the month its service ended. (A
    // cancel that ends the day it is requested is a plan switch or the end
    // of dunning, not a decision to leave.)
    let mut churn_month: BTreeMap<&str, i32> = BTreeMap::new();
    for c in &data.cancellations {
        if c.requested_at != Some(c.cancelled_at) {
            churn_month.entry(c.customer_id.as_deref().unwrap()).or_insert(month_key(c.cancelled_at));
        }
    }
    let has_cancel: HashSet<&str> = data.cancellations.iter().filter_map(|c| c.customer_id.as_deref()).collect();
    let epau = |id: &str, months: std::ops::Range<i32>| -> Option<f64> {
        let u = usage.get(id)?;
        let (mut ev, mut users) = (0, 0);
        for m in months {
            if let Some((e, us)) = u.get(&m) {
                ev += e;
                users += us.len();
            }
        }
        (users > 0).then(|| ev as f64 / users as f64)
    };
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;

    // Compare like with like: accounts past onboarding (first seen at least
    // nine months before), events per active user in the three months before
    // the end month, and the trend against the three months before those
    // (median of log ratios: robust to the small numbers of one account).
    let created: HashMap<&str, i32> = data
        .customers
        .iter()
        .map(|c| (c.id.as_str(), month_key(c.created_at.unwrap().to_zoned(jiff::tz::TimeZone::UTC).date())))
        .collect();
    let median = |mut v: Vec<f64>| -> f64 {
        v.sort_by(|a, b| a.total_cmp(b));
        if v.is_empty() { f64::NAN } else { v[v.len() / 2] }
    };
    let (mut churned_last, mut churned_ratio) = (Vec::new(), Vec::new());
    for (id, &e) in &churn_month {
        if e - created[id] < 9 {
            continue;
        }
        if let (Some(last), Some(before)) = (epau(id, e - 3..e), epau(id, e - 6..e - 3)) {
            churned_last.push(last);
            churned_ratio.push((last / before).ln());
        }
    }
    // Retained: never cancelled, the same comparison at the window's end.
    let (mut kept_last, mut kept_ratio) = (Vec::new(), Vec::new());
    for c in &data.customers {
        if has_cancel.contains(c.id.as_str()) || end_key - created[c.id.as_str()] < 9 {
            continue;
        }
        if let (Some(last), Some(before)) = (epau(&c.id, end_key - 3..end_key), epau(&c.id, end_key - 6..end_key - 3)) {
            kept_last.push(last);
            kept_ratio.push((last / before).ln());
        }
    }
    let (churned_trend, kept_trend) = (median(churned_ratio).exp(), median(kept_ratio).exp());
    eprintln!(
        "events per active user, last 3 months: churned {:.1} (n={}), retained {:.1} (n={}); median trend (last/previous 3): churned {:.2}, retained {:.2}",
        mean(&churned_last),
        churned_last.len(),
        mean(&kept_last),
        kept_last.len(),
        churned_trend,
        kept_trend
    );
    assert!(churned_last.len() >= 20 && kept_last.len() >= 50);
    assert!(mean(&churned_last) < 0.8 * mean(&kept_last), "churned customers did not use the product less");
    assert!(churned_trend < 0.85 * kept_trend, "churned customers' usage did not fall");

    // NPS of churned vs retained accounts.
    let churned: HashSet<&str> = churn_month.keys().copied().collect();
    let (mut nps_churned, mut nps_kept) = (Vec::new(), Vec::new());
    for r in &data.survey_responses {
        if let (SurveyType::Nps, Some(s), None) = (r.survey_type, r.score, &r.rejected_reason) {
            let id = r.customer_id.as_deref().unwrap();
            if churned.contains(id) {
                nps_churned.push(s);
            } else if !has_cancel.contains(id) {
                nps_kept.push(s);
            }
        }
    }
    eprintln!("mean NPS answer: churned {:.2}, retained {:.2}", mean(&nps_churned), mean(&nps_kept));
    assert!(mean(&nps_churned) < mean(&nps_kept) - 0.5);

    // Monthly logo churn in the SMB-heavy range.
    let rate = churn_rate(&cfg, &data);
    let causes: BTreeMap<_, _> = data.churn_causes.iter().map(|(k, v)| (k.as_str(), v.len())).collect();
    eprintln!("monthly logo churn {:.2} %, causes {causes:?}", rate * 100.0);
    assert!((0.012..0.045).contains(&rate), "monthly churn {rate}");
    assert!(causes.len() >= 4, "causes {causes:?}");
}

/// The default config, timed (release builds only: `cargo test --release -p
/// tenure-demo -- --nocapture`).
#[test]
#[cfg_attr(debug_assertions, ignore = "slow in debug builds; run with --release")]
fn default_config_timing() {
    let cfg = DemoConfig::default();
    let t = std::time::Instant::now();
    let data = generate(&cfg);
    let gen_s = t.elapsed().as_secs_f64();
    let t = std::time::Instant::now();
    let mut biggest = 0;
    let n = generate_events(&cfg, &data, 10_000, |c| biggest = biggest.max(c.len()));
    let ev_s = t.elapsed().as_secs_f64();
    let rows = monthly_churn(&cfg, &data);
    let rate = churn_rate(&cfg, &data);
    let causes: BTreeMap<_, _> = data.churn_causes.iter().map(|(k, v)| (k.as_str(), v.len())).collect();
    eprintln!(
        "default config: generate {gen_s:.2}s ({} customers, {} subscription events, {} invoices, {} orders, {} survey responses, {} tickets, {} cancellations); \
         {n} events in {ev_s:.2}s ({:.2} M/s); monthly logo churn {:.2} % (months 9-24); subscribers at the end {}; causes {causes:?}",
        data.customers.len(),
        data.subscription_events.len(),
        data.invoices.len(),
        data.orders.len(),
        data.survey_responses.len(),
        data.tickets.len(),
        data.cancellations.len(),
        n as f64 / ev_s / 1e6,
        rate * 100.0,
        rows.last().map_or(0, |r| r.0 - r.1),
    );
    assert!((n as f64 - cfg.events as f64).abs() < 0.1 * cfg.events as f64);
    assert!(biggest <= 10_000);
    let rejected = data.survey_responses.iter().filter(|r| r.rejected_reason.is_some()).count();
    assert!(rejected > 0, "no out-of-range scores to exercise rejection");
}

/// Batches are the same data, in the same order, as one `generate`.
#[test]
fn batches_are_the_same_data() {
    let cfg = DemoConfig { events: 20_000, ..small(5) };
    let whole = generate(&cfg);
    let mut joined = DemoData { usage: Default::default(), ..whole.clone() };
    joined.customers.clear();
    joined.subscription_events.clear();
    joined.invoices.clear();
    joined.orders.clear();
    joined.survey_responses.clear();
    joined.tickets.clear();
    joined.cancellations.clear();
    let mut batches = 0;
    let rest = generate_batches(&cfg, 64, |b| {
        batches += 1;
        assert!(b.customers.len() <= 64 && b.plans.is_empty());
        joined.customers.extend(b.customers);
        joined.subscription_events.extend(b.subscription_events);
        joined.invoices.extend(b.invoices);
        joined.orders.extend(b.orders);
        joined.survey_responses.extend(b.survey_responses);
        joined.tickets.extend(b.tickets);
        joined.cancellations.extend(b.cancellations);
    });
    assert_eq!(batches, cfg.customers.div_ceil(64));
    assert!(rest.customers.is_empty() && rest.invoices.is_empty());
    assert!(rest.plans == whole.plans && rest.costs == whole.costs && rest.churn_causes == whole.churn_causes);
    joined.usage = rest.usage.clone();
    assert!(joined == whole);
    assert_eq!(event_digest(&cfg, &rest, 1000), event_digest(&cfg, &whole, 1000));
}

#[test]
fn comments_carry_their_theme_keyword() {
    for (t, tones) in world::COMMENTS.iter().enumerate() {
        for text in tones.iter().flat_map(|c| c.iter()) {
            let lower = text.to_lowercase();
            for (u, stem) in COMMENT_THEME_STEMS.iter().enumerate() {
                assert_eq!(lower.contains(stem), t == u, "{text:?} and theme {}", COMMENT_THEMES[u]);
            }
        }
    }
}

/// Regression: a customer signing up on the window's last day in a zone west
/// of UTC was created (and its group call sent) after the window, so the
/// last day of usage metrics was a day with no activity.
#[test]
fn sign_ups_and_usage_events_stay_inside_the_window() {
    let cfg = DemoConfig { customers: 2000, events: 100_000, ..DemoConfig::default() };
    let data = generate(&cfg);
    let (_, end) = window(&cfg);
    let end_ts = end.to_zoned(jiff::tz::TimeZone::UTC).unwrap().timestamp();
    for c in &data.customers {
        assert!(c.created_at.is_none_or(|t| t < end_ts), "{} created at {:?}", c.id, c.created_at);
    }
    let mut late = 0;
    generate_events(&cfg, &data, 10_000, |events| late += events.iter().filter(|e| e.timestamp >= end_ts).count());
    assert_eq!(late, 0, "events after the window");
}
