//! No feature may look past its snapshot date: features computed from the
//! full history must equal those computed from the history cut at the date.
//! The generated company below plants a strong signal only *after* each
//! churn (a burst of usage, tickets, detractor answers and failed payments),
//! so a feature that peeked at the future would differ between the two.

use jiff::civil::{Date, date};
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};
use serde_json::Map;
use tenure_metrics::engagement::{ActiveEvent, EventTableBuilder};
use tenure_metrics::revenue::Rules;
use tenure_model::{
    Currency, Customer, Interval, Invoice, SubscriptionEvent, SubscriptionEventType, SurveyResponse, SurveyType,
    Ticket, Transaction, TransactionType,
};
use tenure_models::churn::splitmix64;

use super::*;
use crate::ledger::RevenueData;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = splitmix64(self.0);
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

/// Raw inputs of a small company from 2024-01-01 to 2025-12-31.
struct Company {
    events: Vec<SubscriptionEvent>,
    invoices: Vec<Invoice>,
    customers: Vec<Customer>,
    tickets: Vec<Ticket>,
    surveys: Vec<SurveyResponse>,
    /// (user, account, instant) of track calls.
    usage: Vec<(String, String, Timestamp)>,
}

fn day(d: Date, plus: i64) -> Date {
    d.checked_add(Span::new().days(plus)).unwrap()
}

fn ts(d: Date, seconds: i64) -> Timestamp {
    d.to_zoned(TimeZone::UTC).unwrap().timestamp().checked_add(Span::new().seconds(seconds)).unwrap()
}

fn sub_event(sub: &str, cust: &str, kind: SubscriptionEventType, on: Date) -> SubscriptionEvent {
    SubscriptionEvent {
        subscription_id: sub.into(),
        customer_id: cust.into(),
        kind,
        date: on,
        currency: None,
        plan_id: None,
        interval: None,
        interval_count: None,
        unit_amount_cents: None,
        quantity: None,
        discount: None,
        requested_at: None,
        ends_at: None,
        external_id: None,
    }
}

fn ticket(id: String, cust: &str, created: Timestamp, reply_after: i64, solve_after: i64, reopens: i64) -> Ticket {
    let at = |s: i64| created.checked_add(Span::new().seconds(s)).unwrap();
    Ticket {
        id,
        customer_id: Some(cust.into()),
        created_at: created,
        first_reply_at: Some(at(reply_after)),
        bot_handoff_at: None,
        solved_at: Some(at(solve_after)),
        status: "closed".into(),
        replies: Some(1),
        customer_replies: Some(0),
        reopens: Some(reopens),
        channel: Some("email".into()),
        satisfaction: None,
    }
}

fn nps(id: String, cust: &str, at: Timestamp, score: f64) -> SurveyResponse {
    SurveyResponse {
        id,
        survey_id: "nps".into(),
        survey_type: SurveyType::Nps,
        scale_min: 0,
        scale_max: 10,
        ces_variant: None,
        respondent_id: None,
        customer_id: Some(cust.into()),
        sent_at: Some(at),
        submitted_at: Some(at),
        score: Some(score),
        comment: None,
        count: 1,
        rejected_reason: None,
    }
}

fn company(seed: u64) -> Company {
    let mut r = Rng(seed);
    let start = date(2024, 1, 1);
    let end = date(2025, 12, 31);
    let mut c = Company {
        events: Vec::new(),
        invoices: Vec::new(),
        customers: Vec::new(),
        tickets: Vec::new(),
        surveys: Vec::new(),
        usage: Vec::new(),
    };
    for k in 0..80 {
        let id = format!("c{k:03}");
        let sub = format!("s{k:03}");
        let begins = day(start, r.below(60) as i64);
        let mut ev = sub_event(&sub, &id, SubscriptionEventType::Start, begins);
        ev.currency = Some(Currency::USD);
        ev.interval = Some(if k % 4 == 0 { Interval::Year } else { Interval::Month });
        ev.unit_amount_cents = Some(1000 + 500 * r.below(8) as i64);
        ev.quantity = Some(1 + r.below(5) as i64);
        c.events.push(ev);
        // Half churn: a cancel requested 0-20 days before service ends.
        let churn_on = r.chance(0.5).then(|| day(begins, 120 + r.below(500) as i64)).filter(|&d| d < end);
        if let Some(ends) = churn_on {
            let requested = day(ends, -(r.below(21) as i64));
            let mut ev = sub_event(&sub, &id, SubscriptionEventType::Cancel, requested);
            ev.requested_at = Some(requested);
            ev.ends_at = Some(ends);
            c.events.push(ev);
        }
        if r.chance(0.2) {
            let mut ev = sub_event(&sub, &id, SubscriptionEventType::Change, day(begins, 30 + r.below(60) as i64));
            ev.quantity = Some(1 + r.below(6) as i64);
            c.events.push(ev);
        }
        c.customers.push(Customer {
            id: id.clone(),
            name: None,
            email: None,
            company: None,
            country: None,
            segment: Some(["smb", "mid", "ent"][k % 3].into()),
            plan_tier: Some(["basic", "pro"][k % 2].into()),
            owner: None,
            created_at: None,
            attributes: Map::new(),
        });
        // Ordinary life: weekly usage, a ticket, an NPS answer, a payment now and then.
        let mut d = begins;
        let mut n = 0;
        while d < end {
            for _ in 0..r.below(6) {
                let user = format!("{id}-u{}", r.below(4));
                c.usage.push((user, id.clone(), ts(d, r.below(7 * 86_400) as i64)));
            }
            if r.chance(0.1) {
                n += 1;
                let created = ts(d, r.below(7 * 86_400) as i64);
                let t = ticket(
                    format!("{id}-t{n}"),
                    &id,
                    created,
                    r.below(60 * 3600) as i64,
                    3 * 86_400,
                    (r.below(4) == 0) as i64,
                );
                c.tickets.push(t);
            }
            if r.chance(0.05) {
                n += 1;
                c.surveys.push(nps(format!("{id}-n{n}"), &id, ts(d, 3600), r.below(11) as f64));
            }
            if r.chance(0.08) {
                n += 1;
                c.invoices.push(Invoice {
                    external_id: format!("{id}-i{n}"),
                    customer_id: id.clone(),
                    date: d,
                    currency: Currency::USD,
                    line_items: Vec::new(),
                    transactions: vec![Transaction {
                        kind: TransactionType::Payment,
                        date: ts(d, 7200),
                        amount_cents: 1000,
                        result: if r.chance(0.3) { "failed" } else { "successful" }.into(),
                    }],
                });
            }
            d = day(d, 7);
        }
        // The future-only signal: right after churning, a burst of everything.
        if let Some(ends) = churn_on {
            for j in 0..30 {
                c.usage.push((format!("{id}-u9"), id.clone(), ts(day(ends, j / 3), 600)));
            }
            for j in 0..4 {
                // Created after the churn, replied to slowly, reopened.
                c.tickets.push(ticket(format!("{id}-late{j}"), &id, ts(ends, 60 * j), 3 * 86_400, 5 * 86_400, 2));
            }
            c.surveys.push(nps(format!("{id}-late"), &id, ts(ends, 60), 0.0));
        }
    }
    c
}

/// The inputs as they were known at the start of `cut` (`None`: everything).
fn inputs(c: &Company, cut: Option<Date>) -> HistoryInputs {
    let cut_ts = cut.map(|d| ts(d, 0));
    let known = |t: Timestamp| cut_ts.is_none_or(|c| t < c);
    let known_date = |d: Date| cut.is_none_or(|c| d < c);
    let when_known = |t: Option<Timestamp>| t.filter(|&t| known(t));
    let mut b = EventTableBuilder::new(TimeZone::UTC, ActiveEvent::AnyTrack);
    for (user, account, at) in c.usage.iter().filter(|u| known(u.2)) {
        b.push("track", Some("used"), user, Some(account), *at);
    }
    let tickets = c
        .tickets
        .iter()
        .filter(|t| known(t.created_at))
        .map(|t| Ticket {
            first_reply_at: when_known(t.first_reply_at),
            solved_at: when_known(t.solved_at),
            ..t.clone()
        })
        .collect();
    let surveys =
        c.surveys.iter().map(|s| SurveyResponse { submitted_at: when_known(s.submitted_at), ..s.clone() }).collect();
    let invoices = c
        .invoices
        .iter()
        .filter(|i| known_date(i.date))
        .map(|i| Invoice {
            transactions: i.transactions.iter().filter(|t| known(t.date)).cloned().collect(),
            ..i.clone()
        })
        .collect();
    HistoryInputs {
        revenue: Arc::new(RevenueData {
            events: c.events.iter().filter(|e| known_date(e.date)).cloned().collect(),
            invoices,
            ..RevenueData::default()
        }),
        rules: Rules::default(),
        reporting: Currency::USD,
        tz: TimeZone::UTC,
        customers: c.customers.clone(),
        tickets,
        surveys,
        usage: std::sync::Arc::new(b.finish()),
    }
}

fn rows(s: &Snapshot) -> Vec<String> {
    (0..s.len())
        .map(|i| {
            format!(
                "{} {:?} {:?} pending={} mrr={}",
                s.accounts[i], s.numeric[i], s.categorical[i], s.cancellation_pending[i], s.mrr[i]
            )
        })
        .collect()
}

#[test]
fn features_are_the_same_from_the_history_cut_at_the_date() {
    let c = company(42);
    let full = History::new(inputs(&c, None)).unwrap();
    let dates = full.labelled_dates(90);
    assert!(dates.len() >= 10, "{dates:?}");
    let mut compared = 0;
    for &d in dates.iter().step_by(2) {
        let cut = History::new(inputs(&c, Some(d))).unwrap();
        let (a, b) = (full.snapshot(d, Some(90)), cut.snapshot(d, None));
        assert_eq!(rows(&a), rows(&b), "features at {d} differ when the future is removed");
        compared += a.len();
    }
    assert!(compared > 200, "{compared} rows compared");
}

#[test]
fn labels_follow_the_ledger_churn_dates() {
    let c = company(42);
    let h = History::new(inputs(&c, None)).unwrap();
    // Each churner's service end, from the generated cancels.
    let ends: HashMap<&str, (Date, Date)> = c
        .events
        .iter()
        .filter(|e| e.kind == SubscriptionEventType::Cancel)
        .map(|e| (e.customer_id.as_str(), (e.requested_at.unwrap(), e.ends_at.unwrap())))
        .collect();
    let mut churned = 0;
    for d in h.labelled_dates(60) {
        let s = h.snapshot(d, Some(60));
        for i in 0..s.len() {
            let expected = ends.get(s.accounts[i].as_str()).is_some_and(|&(_, e)| e >= d && e < day(d, 60));
            assert_eq!(s.labels[i], Some(expected), "{} at {d}", s.accounts[i]);
            let pending = ends.get(s.accounts[i].as_str()).is_some_and(|&(r, e)| r < d && e >= d);
            assert_eq!(s.cancellation_pending[i], pending);
            churned += usize::from(expected);
        }
    }
    assert!(churned > 10);
}

#[test]
fn train_reports_a_holdout_and_saves_a_model_predict_can_use() {
    let c = company(7);
    let h = History::new(inputs(&c, None)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(MODEL_FILE);
    let opts = TrainOptions::new(90, 1.0);
    let doc = train_on(&h, &opts, Some(&path)).unwrap();
    let test_date = *h.labelled_dates(90).last().unwrap();
    assert_eq!(doc["holdout"]["snapshot_date"], test_date.to_string());
    // Every training label window ends by the test date.
    for d in doc["train"]["snapshot_dates"].as_array().unwrap() {
        let d: Date = d.as_str().unwrap().parse().unwrap();
        assert!(day(d, 90) <= test_date);
    }
    assert_eq!(doc["holdout"]["calibration"].as_array().unwrap().len(), 10);
    let saved: SavedModel = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(saved.trained_through, test_date);
    let p = predict_on(&h, &saved, None, 3).unwrap();
    let accounts = p["accounts"].as_array().unwrap();
    assert!(!accounts.is_empty());
    let probs: Vec<f64> = accounts.iter().map(|a| a["churn_probability"].as_f64().unwrap()).collect();
    assert!(probs.windows(2).all(|w| w[0] >= w[1]), "riskiest first");
    assert!(accounts.iter().all(|a| a["drivers"].as_array().unwrap().len() <= 3));
    assert_eq!(p["as_of"], h.last_day.tomorrow().unwrap().to_string());
    // Too long a horizon for the data is a clear error.
    let e = train_on(&h, &TrainOptions { horizon_days: 700, ..opts }, None).unwrap_err();
    assert!(e.to_string().contains("too short"), "{e}");
}
