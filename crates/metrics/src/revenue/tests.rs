//! Hand-computed and property tests of the revenue engine. Amounts are cents;
//! each case shows its arithmetic.

use jiff::civil::Date;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tenure_model::settings::RevenueSettings;
use tenure_model::{
    Cancellation, Cost, Currency, Discount, DiscountDuration, FxRate, Interval, Invoice, LineItem, LineItemType, Money,
    Plan, SubscriptionEvent, SubscriptionEventType, Transaction, TransactionType,
};

use super::*;

fn d(s: &str) -> Date {
    s.parse().unwrap()
}

fn ev(sub: &str, cust: &str, kind: SubscriptionEventType, date: &str) -> SubscriptionEvent {
    SubscriptionEvent {
        subscription_id: sub.into(),
        customer_id: cust.into(),
        kind,
        date: d(date),
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

/// A start with full terms: `unit` cents per `interval`, quantity 1, USD.
fn start(sub: &str, cust: &str, date: &str, unit: i64, interval: Interval) -> SubscriptionEvent {
    let mut e = ev(sub, cust, SubscriptionEventType::Start, date);
    e.currency = Some(Currency::USD);
    e.interval = Some(interval);
    e.unit_amount_cents = Some(unit);
    e
}

fn monthly(sub: &str, cust: &str, date: &str, unit: i64) -> SubscriptionEvent {
    start(sub, cust, date, unit, Interval::Month)
}

fn change_price(sub: &str, cust: &str, date: &str, unit: i64) -> SubscriptionEvent {
    let mut e = ev(sub, cust, SubscriptionEventType::Change, date);
    e.unit_amount_cents = Some(unit);
    e
}

/// A cancel requested on `requested` whose service ends (exclusive) on `ends`.
fn cancel(sub: &str, cust: &str, requested: &str, ends: &str) -> SubscriptionEvent {
    let mut e = ev(sub, cust, SubscriptionEventType::Cancel, requested);
    e.requested_at = Some(d(requested));
    e.ends_at = Some(d(ends));
    e
}

fn with<T>(mut x: T, f: impl FnOnce(&mut T)) -> T {
    f(&mut x);
    x
}

fn settings(f: impl FnOnce(&mut RevenueSettings)) -> RevenueSettings {
    with(RevenueSettings::default(), f)
}

fn fx_rate(c: Currency, month: &str, rate: &str) -> FxRate {
    FxRate { currency: c, month: d(&format!("{month}-01")), rate_to_reporting: rate.parse().unwrap() }
}

struct Case {
    events: Vec<SubscriptionEvent>,
    settings: RevenueSettings,
    fx: Vec<FxRate>,
    invoices: Vec<Invoice>,
    cancellations: Vec<Cancellation>,
    plans: Vec<Plan>,
    costs: Vec<Cost>,
}

impl Case {
    fn new(events: Vec<SubscriptionEvent>) -> Case {
        Case {
            events,
            settings: RevenueSettings::default(),
            fx: vec![],
            invoices: vec![],
            cancellations: vec![],
            plans: vec![],
            costs: vec![],
        }
    }

    fn ledger(&self) -> Ledger {
        let rules = Rules::from_settings(&self.settings).unwrap();
        let fx = FxTable::new(Currency::USD, &self.fx);
        build_all(&self.events, &self.invoices, &self.cancellations, &self.plans, &rules, &fx).unwrap()
    }

    fn report(&self, from: &str, to: &str) -> Value {
        let ledger = self.ledger();
        let fx = FxTable::new(Currency::USD, &self.fx);
        let inp = ReportInputs {
            ledger: &ledger,
            fx: &fx,
            invoices: &self.invoices,
            costs: &self.costs,
            gross_margin: self.settings.gross_margin,
            cac_spend_lag_months: self.settings.cac_spend_lag_months,
            as_of: d("2030-01-01"),
            tz: jiff::tz::TimeZone::UTC,
        };
        month_report(&inp, month_idx(d(&format!("{from}-01"))), month_idx(d(&format!("{to}-01")))).unwrap()
    }
}

fn movements(l: &Ledger, cust: &str) -> Vec<(String, MovementKind, f64)> {
    let c = l.customers.iter().find(|c| c.customer_id == cust).unwrap();
    c.movements.iter().map(|m| (m.date.to_string(), m.kind, m.amount.cents_f64())).collect()
}

use MovementKind::*;

// ------------------------------------------------------------------ MRR of a subscription

#[test]
fn interval_normalisation() {
    use subscription::normalise_to_month as n;
    let c = Money::from_cents;
    // yearly 1200.00 x 1 => 120000 / 12 = 10000 cents a month
    assert_eq!(n(c(120_000), Interval::Year, 1), c(10_000));
    // two-yearly 2400.00 => 240000 / 24 = 10000
    assert_eq!(n(c(240_000), Interval::Year, 2), c(10_000));
    // quarterly (month x 3) 300.00 => 30000 / 3 = 10000
    assert_eq!(n(c(30_000), Interval::Month, 3), c(10_000));
    // weekly 10.00 => 1000 x 52 / 12 = 4333.333... (exact), output 4333.33
    assert_eq!(n(c(1_000), Interval::Week, 1).times(12), c(52_000));
    assert_eq!(n(c(1_000), Interval::Week, 1).cents_string(), "4333.33");
    // every 2 weeks 10.00 => 1000 x 52 / 12 / 2 = 2166.67
    assert_eq!(n(c(1_000), Interval::Week, 2).cents_string(), "2166.67");
    // daily 1.00 => 100 x 365 / 12 = 3041.666... output 3041.67
    assert_eq!(n(c(100), Interval::Day, 1).times(12), c(36_500));
    assert_eq!(n(c(100), Interval::Day, 1).cents_string(), "3041.67");
}

#[test]
fn yearly_plan_quantity_and_new_business() {
    // yearly 1200.00 x quantity 3 => 360000 / 12 = 30000 a month, New Business on 2024-01-15.
    let e = with(start("s1", "c1", "2024-01-15", 120_000, Interval::Year), |e| e.quantity = Some(3));
    let case = Case::new(vec![e]);
    assert_eq!(movements(&case.ledger(), "c1"), vec![("2024-01-15".into(), NewBusiness, 30_000.0)]);
    let r = case.report("2024-01", "2024-02");
    let jan = &r["months"]["2024-01"];
    assert_eq!(jan["mrr_cents"], json!(30_000.0));
    assert_eq!(jan["arr_cents"], json!(360_000.0)); // 12 x 30000
    assert_eq!(jan["arpa_cents"], json!(30_000.0)); // one subscriber
    assert_eq!(jan["subscribers"], json!(1));
    assert_eq!(jan["subscribers_start"], json!(0));
    assert_eq!(jan["active_subscriptions"], json!(1));
    assert_eq!(jan["new_business_customers"], json!(1));
    assert_eq!(jan["movements"]["new_business"], json!(30_000.0));
    assert_eq!(jan["net_new_mrr_cents"], json!(30_000.0));
    // no start MRR: every start-based rate is null
    assert_eq!(jan["nrr"], Value::Null);
    assert_eq!(jan["customer_churn_rate"], Value::Null);
    let feb = &r["months"]["2024-02"];
    assert_eq!(feb["net_new_mrr_cents"], json!(0.0));
    assert_eq!(feb["nrr"], json!(1.0));
    assert_eq!(feb["customer_churn_rate"], json!(0.0));
    assert_eq!(feb["ltv_simple_cents"], Value::Null); // churn rate 0 => null
}

// ------------------------------------------------------------------ discounts

fn discount(percent: Option<&str>, amount: Option<i64>, duration: DiscountDuration, ends: Option<&str>) -> Discount {
    Discount {
        percent_off: percent.map(|p| p.parse().unwrap()),
        amount_off_cents: amount,
        duration,
        ends_at: ends.map(d),
    }
}

#[test]
fn repeating_discount_expiry_is_expansion_on_the_expiry_day() {
    // 100.00 monthly with 20% off until 2024-03-15 (exclusive):
    // MRR 10000 x 0.8 = 8000 from 2024-01-10; on 2024-03-15 back to 10000: expansion +2000.
    let e = with(monthly("s1", "c1", "2024-01-10", 10_000), |e| {
        e.discount = Some(discount(Some("20"), None, DiscountDuration::Repeating, Some("2024-03-15")))
    });
    let case = Case::new(vec![e.clone()]);
    assert_eq!(
        movements(&case.ledger(), "c1"),
        vec![("2024-01-10".into(), NewBusiness, 8_000.0), ("2024-03-15".into(), Expansion, 2_000.0)]
    );
    let r = case.report("2024-01", "2024-03");
    assert_eq!(r["months"]["2024-02"]["mrr_cents"], json!(8_000.0));
    assert_eq!(r["months"]["2024-03"]["mrr_cents"], json!(10_000.0));
    assert_eq!(r["months"]["2024-03"]["movements"]["expansion"], json!(2_000.0));
    // nrr March = (8000 + 2000) / 8000 = 1.25; grr = 8000 / 8000 = 1
    assert_eq!(r["months"]["2024-03"]["nrr"], json!(1.25));
    assert_eq!(r["months"]["2024-03"]["grr"], json!(1.0));

    // discount_policy = forever_only: the repeating discount is ignored: 10000 throughout, no expansion.
    let mut case = Case::new(vec![e]);
    case.settings = settings(|s| s.discount_policy = "forever_only".into());
    assert_eq!(movements(&case.ledger(), "c1"), vec![("2024-01-10".into(), NewBusiness, 10_000.0)]);
}

#[test]
fn amount_off_is_per_interval_before_normalising_and_floored() {
    // yearly 120.00 with 15.00 off forever: (12000 - 1500) / 12 = 875.00
    let a = with(start("s1", "c1", "2024-01-01", 12_000, Interval::Year), |e| {
        e.discount = Some(discount(None, Some(1_500), DiscountDuration::Forever, None))
    });
    // 20.00 off a 10.00 monthly price: floored at 0 (MRR 0); no New Business for c2 at 0
    let b = with(monthly("s2", "c2", "2024-01-01", 1_000), |e| {
        e.discount = Some(discount(None, Some(2_000), DiscountDuration::Forever, None))
    });
    let case = Case::new(vec![a, b]);
    let l = case.ledger();
    assert_eq!(movements(&l, "c1"), vec![("2024-01-01".into(), NewBusiness, 875.0)]);
    assert_eq!(movements(&l, "c2"), vec![]);
    let r = case.report("2024-01", "2024-01");
    assert_eq!(r["months"]["2024-01"]["mrr_cents"], json!(875.0));
    assert_eq!(r["months"]["2024-01"]["subscribers"], json!(1));
}

#[test]
fn once_discount_covers_the_first_interval() {
    // 100.00 monthly from 2024-01-10 with 50% once: 5000 until 2024-02-10 (one month), then 10000.
    let e = with(monthly("s1", "c1", "2024-01-10", 10_000), |e| {
        e.discount = Some(discount(Some("50"), None, DiscountDuration::Once, None))
    });
    let case = Case::new(vec![e.clone()]);
    assert_eq!(
        movements(&case.ledger(), "c1"),
        vec![("2024-01-10".into(), NewBusiness, 5_000.0), ("2024-02-10".into(), Expansion, 5_000.0)]
    );
    // forever_only (Stripe): the once discount does not reduce MRR.
    let mut case = Case::new(vec![e]);
    case.settings = settings(|s| s.discount_policy = "forever_only".into());
    assert_eq!(movements(&case.ledger(), "c1"), vec![("2024-01-10".into(), NewBusiness, 10_000.0)]);
}

// ------------------------------------------------------------------ same-day netting

#[test]
fn same_day_cancel_and_new_subscription_is_one_expansion() {
    // c1: s1 100.00 monthly from 2024-01-01; on 2024-02-10 s1 ends and s2 (150.00) starts:
    // one movement: 15000 - 10000 = +5000 expansion; no churn, no New Business in February.
    let events = vec![
        monthly("s1", "c1", "2024-01-01", 10_000),
        cancel("s1", "c1", "2024-02-01", "2024-02-10"),
        monthly("s2", "c1", "2024-02-10", 15_000),
    ];
    let case = Case::new(events);
    assert_eq!(
        movements(&case.ledger(), "c1"),
        vec![("2024-01-01".into(), NewBusiness, 10_000.0), ("2024-02-10".into(), Expansion, 5_000.0)]
    );
    let feb = &case.report("2024-02", "2024-02")["months"]["2024-02"];
    assert_eq!(feb["churned_customers"], json!(0));
    assert_eq!(feb["new_business_customers"], json!(0));
    assert_eq!(feb["active_subscriptions"], json!(1));
    // downgrade the same way: 10000 -> 4000 is one contraction of -6000
    let events = vec![
        monthly("s1", "c1", "2024-01-01", 10_000),
        cancel("s1", "c1", "2024-02-10", "2024-02-10"),
        monthly("s2", "c1", "2024-02-10", 4_000),
    ];
    assert_eq!(movements(&Case::new(events).ledger(), "c1")[1], ("2024-02-10".into(), Contraction, -6_000.0));
}

#[test]
fn a_second_subscription_is_expansion_and_cancelling_it_contraction() {
    // ChartMogul's Syncalytics example: an added subscription is Expansion, its
    // cancellation while another is active is Contraction.
    let events = vec![
        monthly("s1", "c1", "2024-01-01", 10_000),
        monthly("s2", "c1", "2024-01-05", 6_000),
        cancel("s2", "c1", "2024-01-20", "2024-01-20"),
    ];
    assert_eq!(
        movements(&Case::new(events).ledger(), "c1"),
        vec![
            ("2024-01-01".into(), NewBusiness, 10_000.0),
            ("2024-01-05".into(), Expansion, 6_000.0),
            ("2024-01-20".into(), Contraction, -6_000.0)
        ]
    );
}

// ------------------------------------------------------------------ churn recognition

#[test]
fn churn_at_end_vs_at_request() {
    // requested 2024-02-20, service ends 2024-03-05 (exclusive).
    let events = vec![monthly("s1", "c1", "2024-01-05", 10_000), cancel("s1", "c1", "2024-02-20", "2024-03-05")];
    // at_end (default): still a subscriber at the end of February; churn -10000 on 2024-03-05.
    let case = Case::new(events.clone());
    assert_eq!(movements(&case.ledger(), "c1")[1], ("2024-03-05".into(), Churn, -10_000.0));
    let r = case.report("2024-02", "2024-03");
    assert_eq!(r["months"]["2024-02"]["subscribers"], json!(1));
    assert_eq!(r["months"]["2024-02"]["churned_customers"], json!(0));
    let mar = &r["months"]["2024-03"];
    assert_eq!(mar["churned_customers"], json!(1));
    assert_eq!(mar["subscribers"], json!(0));
    assert_eq!(mar["customer_churn_rate"], json!(1.0)); // 1 churned / 1 at start
    assert_eq!(mar["gross_mrr_churn_rate"], json!(1.0)); // 10000 / 10000
    assert_eq!(mar["nrr"], json!(0.0)); // (10000 - 10000) / 10000
    assert_eq!(mar["arpa_cents"], Value::Null); // no subscribers
    assert_eq!(mar["quick_ratio"], json!(0.0)); // 0 / 10000
    // at_request: churn on the request day, in February.
    let mut case = Case::new(events);
    case.settings = settings(|s| s.churn_recognition = "at_request".into());
    assert_eq!(movements(&case.ledger(), "c1")[1], ("2024-02-20".into(), Churn, -10_000.0));
    let r = case.report("2024-02", "2024-03");
    assert_eq!(r["months"]["2024-02"]["churned_customers"], json!(1));
    assert_eq!(r["months"]["2024-03"]["subscribers_start"], json!(0));
}

// ------------------------------------------------------------------ zero MRR, free plans

#[test]
fn zero_mrr_without_cancel_is_contraction_and_stays_a_subscriber() {
    let events = vec![monthly("s1", "c1", "2024-01-01", 10_000), change_price("s1", "c1", "2024-02-01", 0)];
    let case = Case::new(events.clone());
    assert_eq!(movements(&case.ledger(), "c1")[1], ("2024-02-01".into(), Contraction, -10_000.0));
    let feb = &case.report("2024-02", "2024-02")["months"]["2024-02"];
    assert_eq!(feb["subscribers"], json!(1));
    assert_eq!(feb["mrr_cents"], json!(0.0));
    assert_eq!(feb["arpa_cents"], json!(0.0)); // 0 / 1 subscriber
    assert_eq!(feb["churned_customers"], json!(0));
    assert_eq!(feb["customer_churn_rate"], json!(0.0));
    assert_eq!(feb["gross_mrr_churn_rate"], json!(1.0)); // -(0 + -10000) / 10000
    // free_plan_handling = churn (Baremetrics): the move to 0 is churn.
    let mut case = Case::new(events);
    case.settings = settings(|s| s.free_plan_handling = "churn".into());
    assert_eq!(movements(&case.ledger(), "c1")[1], ("2024-02-01".into(), Churn, -10_000.0));
    assert_eq!(case.report("2024-02", "2024-02")["months"]["2024-02"]["subscribers"], json!(0));
}

#[test]
fn a_free_start_is_not_new_business_until_it_pays() {
    // ChartMogul: a customer starting on a free plan is not a subscriber; its
    // first paid MRR (2024-02-01: 0 -> 5000) is its New Business.
    let events = vec![monthly("s1", "c1", "2024-01-01", 0), change_price("s1", "c1", "2024-02-01", 5_000)];
    let case = Case::new(events);
    assert_eq!(movements(&case.ledger(), "c1"), vec![("2024-02-01".into(), NewBusiness, 5_000.0)]);
    let r = case.report("2024-01", "2024-02");
    assert_eq!(r["months"]["2024-01"]["subscribers"], json!(0));
    assert_eq!(r["months"]["2024-01"]["active_subscriptions"], json!(0));
    assert_eq!(r["months"]["2024-02"]["new_business_customers"], json!(1));
}

// ------------------------------------------------------------------ reactivation

#[test]
fn reactivation_and_its_window() {
    // churn on 2024-03-01 (ends_at), back on 2024-05-10 with 120.00: reactivation +12000.
    let events = vec![
        monthly("s1", "c1", "2024-01-01", 10_000),
        cancel("s1", "c1", "2024-02-15", "2024-03-01"),
        monthly("s2", "c1", "2024-05-10", 12_000),
    ];
    let case = Case::new(events.clone());
    assert_eq!(
        movements(&case.ledger(), "c1"),
        vec![
            ("2024-01-01".into(), NewBusiness, 10_000.0),
            ("2024-03-01".into(), Churn, -10_000.0),
            ("2024-05-10".into(), Reactivation, 12_000.0)
        ]
    );
    let r = case.report("2024-01", "2024-05");
    let may = &r["months"]["2024-05"];
    assert_eq!(may["reactivated_customers"], json!(1));
    assert_eq!(may["new_business_customers"], json!(0));
    assert_eq!(may["quick_ratio"], Value::Null); // no losses
    // cohort 2024-01: size 1, value 10000; retained at k = 0, 1 (Jan, Feb), not Mar, Apr; again May.
    let co = &r["cohorts"]["2024-01"];
    assert_eq!(co["size"], json!(1));
    assert_eq!(co["cohort_value_cents"], json!(10_000.0));
    assert_eq!(co["customer_retention"], json!([1.0, 1.0, 0.0, 0.0, 1.0]));
    assert_eq!(co["net_mrr_retention"], json!([1.0, 1.0, 0.0, 0.0, 1.2])); // 12000 / 10000
    // reactivation_window_days = 30: 2024-03-01 -> 2024-05-10 is 70 days > 30: New Business.
    let mut case = Case::new(events.clone());
    case.settings = settings(|s| s.reactivation_window_days = Some(30));
    assert_eq!(movements(&case.ledger(), "c1")[2].1, NewBusiness);
    // ... and 70 days is within a 70-day window: reactivation.
    let mut case = Case::new(events);
    case.settings = settings(|s| s.reactivation_window_days = Some(70));
    assert_eq!(movements(&case.ledger(), "c1")[2].1, Reactivation);
}

// ------------------------------------------------------------------ past due, delinquency

#[test]
fn past_due_and_auto_churn() {
    let events = vec![
        monthly("s1", "c1", "2024-01-01", 10_000),
        ev("s1", "c1", SubscriptionEventType::PastDue, "2024-02-10"),
        ev("s1", "c1", SubscriptionEventType::PaymentRecovered, "2024-04-02"),
    ];
    // default: past-due keeps counting: a subscriber, past-due at the end of Feb and Mar.
    let case = Case::new(events.clone());
    let r = case.report("2024-02", "2024-04");
    assert_eq!(r["months"]["2024-02"]["past_due_subscribers"], json!(1));
    assert_eq!(r["months"]["2024-03"]["past_due_subscribers"], json!(1));
    assert_eq!(r["months"]["2024-03"]["subscribers"], json!(1));
    assert_eq!(r["months"]["2024-04"]["past_due_subscribers"], json!(0));
    assert_eq!(movements(&case.ledger(), "c1").len(), 1);
    // delinquency_auto_churn_days = 30: 2024-02-10 + 30 days = 2024-03-11 churn; recovery 04-02 reactivates.
    let mut case = Case::new(events);
    case.settings = settings(|s| s.delinquency_auto_churn_days = Some(30));
    assert_eq!(
        movements(&case.ledger(), "c1"),
        vec![
            ("2024-01-01".into(), NewBusiness, 10_000.0),
            ("2024-03-11".into(), Churn, -10_000.0),
            ("2024-04-02".into(), Reactivation, 10_000.0)
        ]
    );
    let r = case.report("2024-03", "2024-03");
    assert_eq!(r["months"]["2024-03"]["past_due_subscribers"], json!(0));
    assert_eq!(r["months"]["2024-03"]["subscribers"], json!(0));
}

// ------------------------------------------------------------------ trials

#[test]
fn trials_are_leads_and_convert() {
    // c1 trials 2024-01-05 and starts 2024-01-20; c2 only trials. Trials started in Jan: 2;
    // converted: c1 => 1 / 2 = 0.5. Subscribers at the end of Jan: 1 (c2 is a lead).
    let events = vec![
        ev("s1", "c1", SubscriptionEventType::TrialStart, "2024-01-05"),
        monthly("s1", "c1", "2024-01-20", 10_000),
        ev("s2", "c2", SubscriptionEventType::TrialStart, "2024-01-07"),
    ];
    let jan = &Case::new(events).report("2024-01", "2024-01")["months"]["2024-01"];
    assert_eq!(jan["trials_started"], json!(2));
    assert_eq!(jan["trial_to_paid_conversion_rate"], json!(0.5));
    assert_eq!(jan["subscribers"], json!(1));
    assert_eq!(jan["active_subscriptions"], json!(1));
    assert_eq!(jan["movements"]["new_business"], json!(10_000.0));
}

// ------------------------------------------------------------------ same month new + churn

#[test]
fn same_month_new_churn_setting() {
    // c1 starts 2024-01-05 and its service ends 2024-01-20.
    let events = vec![monthly("s1", "c1", "2024-01-05", 10_000), cancel("s1", "c1", "2024-01-10", "2024-01-20")];
    let case = Case::new(events.clone());
    let jan = &case.report("2024-01", "2024-01")["months"]["2024-01"];
    assert_eq!(jan["new_business_customers"], json!(1));
    assert_eq!(jan["churned_customers"], json!(1));
    assert_eq!(jan["movements"]["churn"], json!(-10_000.0));
    // subscribers at start 0 => rate null (and the customer is excluded from it anyway)
    assert_eq!(jan["customer_churn_rate"], Value::Null);
    // ignore (ProfitWell): neither is reported.
    let mut case = Case::new(events);
    case.settings = settings(|s| s.same_month_new_churn = "ignore".into());
    let jan = &case.report("2024-01", "2024-01")["months"]["2024-01"];
    assert_eq!(jan["new_business_customers"], json!(0));
    assert_eq!(jan["churned_customers"], json!(0));
    assert_eq!(jan["movements"]["new_business"], json!(0.0));
    assert_eq!(jan["movements"]["churn"], json!(0.0));
    assert_eq!(jan["fx_impact_cents"], json!(0.0));
}

// ------------------------------------------------------------------ rates

#[test]
fn month_rates_by_hand() {
    // Start of Feb: A 10000, B 5000 (start MRR 15000, 2 subscribers).
    // Feb: A +2000 expansion, B churns -5000, C new +3000.
    let mut events = vec![
        monthly("a", "A", "2024-01-01", 10_000),
        monthly("b", "B", "2024-01-01", 5_000),
        change_price("a", "A", "2024-02-03", 12_000),
        cancel("b", "B", "2024-02-05", "2024-02-05"),
        monthly("c", "C", "2024-02-07", 3_000),
    ];
    events.push(ev("x", "X", SubscriptionEventType::TrialStart, "2024-02-01"));
    let mut case = Case::new(events);
    case.settings = settings(|s| s.gross_margin = Some("0.8".parse().unwrap()));
    case.costs = vec![
        Cost {
            month: d("2024-02-01"),
            category: "sales_marketing".into(),
            amount_cents: 6_000,
            currency: Currency::USD,
        },
        Cost {
            month: d("2024-02-01"),
            category: "customer_success".into(),
            amount_cents: 900,
            currency: Currency::USD,
        },
    ];
    case.invoices = vec![Invoice {
        external_id: "i1".into(),
        customer_id: "B".into(),
        date: d("2024-02-05"),
        currency: Currency::USD,
        line_items: vec![],
        transactions: vec![
            Transaction {
                kind: TransactionType::Refund,
                date: "2024-02-06T10:00:00Z".parse().unwrap(),
                amount_cents: 2_500,
                result: "successful".into(),
            },
            Transaction {
                kind: TransactionType::Refund,
                date: "2024-02-07T10:00:00Z".parse().unwrap(),
                amount_cents: 700,
                result: "failed".into(),
            },
        ],
    }];
    let r = case.report("2024-02", "2024-02");
    let feb = &r["months"]["2024-02"];
    assert_eq!(feb["mrr_cents"], json!(15_000.0)); // 12000 + 3000
    assert_eq!(feb["subscribers"], json!(2)); // A, C
    assert_eq!(feb["subscribers_start"], json!(2)); // A, B
    assert_eq!(feb["arpa_cents"], json!(7_500.0)); // 15000 / 2
    assert_eq!(feb["net_new_mrr_cents"], json!(0.0)); // 3000 + 2000 - 5000
    assert_eq!(feb["customer_churn_rate"], json!(0.5)); // 1 / 2
    assert_eq!(feb["gross_mrr_churn_rate"], json!(0.3333)); // 5000 / 15000
    assert_eq!(feb["net_mrr_churn_rate"], json!(0.2)); // (5000 - 2000) / 15000
    assert_eq!(feb["nrr"], json!(0.8)); // (15000 + 2000 - 5000) / 15000
    assert_eq!(feb["grr"], json!(0.6667)); // (15000 - 5000) / 15000
    assert_eq!(feb["quick_ratio"], json!(1.0)); // (3000 + 2000) / 5000
    assert_eq!(feb["ltv_simple_cents"], json!(15_000.0)); // ARPA 7500 / churn 0.5
    assert_eq!(feb["ltv_gross_margin_cents"], json!(12_000.0)); // 15000 x 0.8
    assert_eq!(feb["cac_cents"], json!(6_000.0)); // 6000 spend / 1 new customer
    assert_eq!(feb["new_business_arpa_cents"], json!(3_000.0)); // 3000 / 1
    assert_eq!(feb["cac_payback_months"], json!(2.5)); // 6000 / (3000 x 0.8)
    assert_eq!(feb["retention_cost_cents"], json!(900.0)); // 900 / 1 retained (A)
    assert_eq!(feb["customer_retention_rate"], json!(0.5)); // (2 at end - 1 new) / 2 at start
    assert_eq!(feb["refunds_cents"], json!(2_500.0)); // the failed refund is not counted
    assert_eq!(feb["trials_started"], json!(1));
    assert_eq!(feb["trial_to_paid_conversion_rate"], json!(0.0));
    // cohort Feb: C alone; cohort Jan is outside the range.
    assert_eq!(r["cohorts"]["2024-02"]["size"], json!(1));
    assert!(r["cohorts"].get("2024-01").is_none());
}

// ------------------------------------------------------------------ FX

#[test]
fn fx_month_rate_and_fx_impact() {
    // A EUR subscription of 100.00 EUR from 2024-01-10. Rates: Jan 1.10, (Feb none: Jan's), Mar 1.20.
    // Jan: New Business 10000 x 1.10 = 11000; MRR 11000.
    // Feb: MRR 11000, no movement, fx 0.
    // Mar: MRR 10000 x 1.20 = 12000, no movement: fx_impact = 12000 - 11000 - 0 = 1000.
    // Apr: price 200.00 EUR on 04-05: expansion 10000 x 1.20 = 12000; MRR 24000; fx 0.
    let events = vec![
        with(monthly("s1", "c1", "2024-01-10", 10_000), |e| e.currency = Some(Currency::EUR)),
        change_price("s1", "c1", "2024-04-05", 20_000),
    ];
    let mut case = Case::new(events);
    case.fx = vec![fx_rate(Currency::EUR, "2024-01", "1.10"), fx_rate(Currency::EUR, "2024-03", "1.20")];
    let r = case.report("2024-01", "2024-04");
    let m = |k: &str, f: &str| r["months"][k][f].clone();
    assert_eq!(m("2024-01", "mrr_cents"), json!(11_000.0));
    assert_eq!(m("2024-01", "movements")["new_business"], json!(11_000.0));
    assert_eq!(m("2024-01", "fx_impact_cents"), json!(0.0));
    assert_eq!(m("2024-02", "mrr_cents"), json!(11_000.0));
    assert_eq!(m("2024-02", "fx_impact_cents"), json!(0.0));
    assert_eq!(m("2024-03", "mrr_cents"), json!(12_000.0));
    assert_eq!(m("2024-03", "fx_impact_cents"), json!(1_000.0));
    assert_eq!(m("2024-03", "net_new_mrr_cents"), json!(0.0));
    assert_eq!(m("2024-04", "movements")["expansion"], json!(12_000.0));
    assert_eq!(m("2024-04", "mrr_cents"), json!(24_000.0));
    assert_eq!(m("2024-04", "fx_impact_cents"), json!(0.0));
    // A month before any rate is an error that names the currency and month.
    let fx = FxTable::new(Currency::USD, &case.fx);
    assert!(fx.rate(Currency::EUR, month_idx(d("2023-12-01"))).unwrap_err().contains("EUR"));
}

#[test]
fn settings_are_validated() {
    assert!(Rules::from_settings(&settings(|s| s.churn_recognition = "later".into())).unwrap_err().contains("at_end"));
    assert_eq!(Rules::from_settings(&RevenueSettings::default()).unwrap(), Rules::default());
}

// ------------------------------------------------------------------ properties

/// A small deterministic PRNG (SplitMix64).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn date(&mut self) -> Date {
        // 2024-01-01 plus 0..365 days
        d("2024-01-01").checked_add(jiff::Span::new().days(self.below(366) as i64)).unwrap()
    }
}

fn random_events(rng: &mut Rng) -> Vec<SubscriptionEvent> {
    let mut out = Vec::new();
    let currencies = [Currency::USD, Currency::EUR, Currency::GBP];
    let intervals = [Interval::Day, Interval::Week, Interval::Month, Interval::Year];
    for s in 0..(20 + rng.below(20)) {
        let sub = format!("s{s}");
        let cust = format!("c{}", rng.below(12));
        let cur = currencies[rng.below(3) as usize];
        let t0 = rng.date();
        if rng.below(4) == 0 {
            out.push(ev(&sub, &cust, SubscriptionEventType::TrialStart, &t0.to_string()));
        }
        let mut e = start(&sub, &cust, &t0.to_string(), rng.below(5) as i64 * 2_500, intervals[rng.below(4) as usize]);
        e.currency = Some(cur);
        e.interval_count = Some(1 + rng.below(3) as u32);
        e.quantity = Some(1 + rng.below(3) as i64);
        if rng.below(3) == 0 {
            let dur =
                [DiscountDuration::Forever, DiscountDuration::Repeating, DiscountDuration::Once][rng.below(3) as usize];
            let ends = rng.date().to_string();
            e.discount = Some(if rng.below(2) == 0 {
                discount(Some("25"), None, dur, Some(&ends))
            } else {
                discount(None, Some(rng.below(4) as i64 * 1_000), dur, Some(&ends))
            });
        }
        out.push(e);
        for _ in 0..rng.below(5) {
            let dt = rng.date().to_string();
            let mut e = match rng.below(5) {
                0 | 1 => change_price(&sub, &cust, &dt, rng.below(6) as i64 * 2_000),
                2 => ev(&sub, &cust, SubscriptionEventType::PastDue, &dt),
                3 => ev(&sub, &cust, SubscriptionEventType::PaymentRecovered, &dt),
                _ => {
                    let ends = rng.date().max(d(&dt)).to_string();
                    cancel(&sub, &cust, &dt, &ends)
                }
            };
            if e.kind == SubscriptionEventType::Change && rng.below(3) == 0 {
                e.quantity = Some(rng.below(4) as i64);
            }
            out.push(e);
        }
    }
    out
}

fn random_settings(rng: &mut Rng) -> RevenueSettings {
    settings(|s| {
        if rng.below(2) == 0 {
            s.churn_recognition = "at_request".into();
        }
        if rng.below(2) == 0 {
            s.delinquency_auto_churn_days = Some(rng.below(40) as u32);
        }
        if rng.below(2) == 0 {
            s.discount_policy = "forever_only".into();
        }
        if rng.below(2) == 0 {
            s.free_plan_handling = "churn".into();
        }
        if rng.below(2) == 0 {
            s.reactivation_window_days = Some(rng.below(90) as u32);
        }
        if rng.below(2) == 0 {
            s.same_month_new_churn = "ignore".into();
        }
    })
}

fn random_fx(rng: &mut Rng) -> Vec<FxRate> {
    let mut out = Vec::new();
    for c in [Currency::EUR, Currency::GBP] {
        out.push(fx_rate(c, "2024-01", "1.1"));
        for m in 2..=12 {
            if rng.below(2) == 0 {
                let rate = Decimal::new(80 + rng.below(60) as i64, 2); // 0.80 .. 1.39
                out.push(FxRate { currency: c, month: jiff::civil::date(2024, m, 1), rate_to_reporting: rate });
            }
        }
    }
    out
}

#[test]
fn property_movements_plus_fx_reconcile_mrr() {
    let (mut nonzero_fx, mut kinds) = (0, std::collections::BTreeSet::new());
    for seed in 0..60u64 {
        let mut rng = Rng(seed);
        let mut case = Case::new(random_events(&mut rng));
        case.settings = random_settings(&mut rng);
        case.fx = random_fx(&mut rng);
        let fx = FxTable::new(Currency::USD, &case.fx);
        let ledger = case.ledger();
        let r = case.report("2024-01", "2025-02");
        let months = r["months"].as_object().unwrap();
        let mut prev_mrr: Option<f64> = None;
        for (label, m) in months {
            let mv = &m["movements"];
            let sum: f64 = ["new_business", "expansion", "contraction", "churn", "reactivation"]
                .iter()
                .map(|k| mv[k].as_f64().unwrap())
                .sum();
            assert!((sum - m["net_new_mrr_cents"].as_f64().unwrap()).abs() < 0.02, "seed {seed} {label}");
            if let Some(p) = prev_mrr {
                let change = m["mrr_cents"].as_f64().unwrap() - p;
                let explained = m["net_new_mrr_cents"].as_f64().unwrap() + m["fx_impact_cents"].as_f64().unwrap();
                assert!((change - explained).abs() < 0.03, "seed {seed} {label}: {change} vs {explained}");
            }
            prev_mrr = m["mrr_cents"].as_f64();
            assert!(m["subscribers"].as_u64().unwrap() >= m["past_due_subscribers"].as_u64().unwrap());
        }
        // fx_impact, exactly: with movements of M at M's rate,
        // MRR(M) - MRR(M-1) - movements(M) = sum over currencies of MRR_c(M-1) x (rate_c(M) - rate_c(M-1)).
        for m in month_idx(d("2024-02-01"))..=month_idx(d("2024-12-01")) {
            let mut expected = Money::ZERO;
            let mut total_prev = Money::ZERO;
            let mut total_now = Money::ZERO;
            let mut moves = Money::ZERO;
            for c in &ledger.customers {
                let prev = c.state_on(fx::month_last_day(m - 1)).map(|s| s.mrr.clone()).unwrap_or_default();
                let now = c.state_on(fx::month_last_day(m)).map(|s| s.mrr.clone()).unwrap_or_default();
                for (cur, amt) in &prev {
                    expected += fx.convert(*amt, *cur, m).unwrap() - fx.convert(*amt, *cur, m - 1).unwrap();
                }
                total_prev += fx.convert_all(&prev, m - 1).unwrap();
                total_now += fx.convert_all(&now, m).unwrap();
                moves += c.movements.iter().filter(|x| month_idx(x.date) == m).map(|x| x.amount).sum::<Money>();
            }
            let fx_impact = total_now - total_prev - moves;
            assert_eq!(fx_impact, expected, "seed {seed} month {}", month_label(m));
            nonzero_fx += !fx_impact.is_zero() as u32;
        }
        kinds.extend(ledger.customers.iter().flat_map(|c| c.movements.iter().map(|m| m.kind)));
    }
    // The generated sequences exercise FX changes and every movement type.
    assert!(nonzero_fx > 50, "{nonzero_fx}");
    assert_eq!(kinds.len(), 5);
}

#[test]
fn property_single_currency_movements_sum_to_mrr() {
    // In one currency there is no FX effect: each customer's movements sum to its MRR
    // on every day, and every month's fx_impact is exactly 0.
    for seed in 100..160u64 {
        let mut rng = Rng(seed);
        let mut events = random_events(&mut rng);
        for e in &mut events {
            if e.currency.is_some() {
                e.currency = Some(Currency::USD);
            }
        }
        let mut case = Case::new(events);
        case.settings = random_settings(&mut rng);
        case.settings.same_month_new_churn = "report_both".into();
        for c in &case.ledger().customers {
            for (date, state) in &c.states {
                let sum: Money = c.movements.iter().filter(|m| m.date <= *date).map(|m| m.amount).sum();
                let mrr: Money = state.mrr.values().copied().sum();
                assert_eq!(sum, mrr, "seed {seed} customer {} on {date}", c.customer_id);
            }
            // Movement kinds alternate correctly: a churn only after a subscriber start.
            let mut subscriber = false;
            for m in &c.movements {
                match m.kind {
                    NewBusiness | Reactivation => {
                        assert!(!subscriber, "seed {seed}");
                        subscriber = true;
                    }
                    Churn => {
                        assert!(subscriber, "seed {seed}");
                        subscriber = false;
                    }
                    _ => assert!(subscriber, "seed {seed}"),
                }
            }
        }
        let r = case.report("2024-01", "2025-01");
        for (label, m) in r["months"].as_object().unwrap() {
            assert_eq!(m["fx_impact_cents"], json!(0.0), "seed {seed} {label}");
        }
    }
}

#[test]
fn property_shuffled_input_gives_an_identical_ledger() {
    for seed in 200..240u64 {
        let mut rng = Rng(seed);
        let events = random_events(&mut rng);
        let s = random_settings(&mut rng);
        let fx = random_fx(&mut rng);
        let mut case = Case::new(events.clone());
        case.settings = s.clone();
        case.fx = fx.clone();
        let base = case.ledger();
        let base_report = case.report("2024-01", "2024-12");
        for round in 0..3 {
            let mut shuffled = events.clone();
            // Fisher-Yates with the same PRNG
            for i in (1..shuffled.len()).rev() {
                let j = rng.below(i as u64 + 1) as usize;
                shuffled.swap(i, j);
            }
            let mut case = Case::new(shuffled);
            case.settings = s.clone();
            case.fx = fx.clone();
            assert_eq!(case.ledger(), base, "seed {seed} round {round}");
            assert_eq!(case.report("2024-01", "2024-12"), base_report, "seed {seed} round {round}");
        }
    }
}

#[test]
fn trailing_twelve_month_nrr_and_grr() {
    // Subscribers at the end of 2023-01 (the start of the window Feb 2023..Jan 2024):
    // A 10000 and B 5000 => 15000. In the window A expands +2000 (2023-06-01), B churns
    // -5000 (2023-09-01); C (new in 2023-03) is not in the start cohort.
    // NRR = (15000 + 2000 - 5000) / 15000 = 0.8; GRR = (15000 - 5000) / 15000 = 0.6667.
    let events = vec![
        monthly("a", "A", "2023-01-01", 10_000),
        monthly("b", "B", "2023-01-01", 5_000),
        monthly("c", "C", "2023-03-01", 7_000),
        change_price("a", "A", "2023-06-01", 12_000),
        cancel("b", "B", "2023-08-10", "2023-09-01"),
        change_price("c", "C", "2023-10-01", 1_000),
    ];
    let r = Case::new(events).report("2024-01", "2024-02");
    let jan = &r["months"]["2024-01"];
    assert_eq!(jan["nrr_trailing_12m"], json!(0.8));
    assert_eq!(jan["grr_trailing_12m"], json!(0.6667));
    // Feb 2024: start = end of 2023-02 (A 10000, B 5000 again): the same movements fall in
    // Mar 2023..Feb 2024, so the same figures.
    assert_eq!(r["months"]["2024-02"]["nrr_trailing_12m"], json!(0.8));
}

#[test]
fn renewals_by_hand() {
    // A: 100.00 monthly from 2024-01-15; price 120.00 on 2024-03-15 (a renewal day).
    // B: 50.00 monthly from 2024-01-10; switched to yearly 1200.00 on 2024-03-20: terms
    //    re-anchored, so no monthly renewal on 2024-04-10 (next due 2025-03-20).
    let events = vec![
        monthly("a", "A", "2024-01-15", 10_000),
        change_price("a", "A", "2024-03-15", 12_000),
        monthly("b", "B", "2024-01-10", 5_000),
        with(change_price("b", "B", "2024-03-20", 120_000), |e| e.interval = Some(Interval::Year)),
    ];
    let r = Case::new(events).report("2024-02", "2024-04");
    let m = &r["months"];
    // Feb: A (02-15) and B (02-10) renewed at unchanged MRR: 2 / 2, net 15000 / 15000.
    assert_eq!(m["2024-02"]["renewals_due"], json!(2));
    assert_eq!(m["2024-02"]["renewal_rate"], json!(1.0));
    assert_eq!(m["2024-02"]["net_mrr_renewal_rate"], json!(1.0));
    // Mar: before 10000 + 5000 = 15000; after 12000 + 5000 = 17000 (the change dated the
    // renewal day counts): net 17000 / 15000 = 1.1333; gross min(12000,10000) + 5000 = 1.0.
    assert_eq!(m["2024-03"]["renewals_due"], json!(2));
    assert_eq!(m["2024-03"]["renewals_renewed"], json!(2));
    assert_eq!(m["2024-03"]["net_mrr_renewal_rate"], json!(1.1333));
    assert_eq!(m["2024-03"]["gross_mrr_renewal_rate"], json!(1.0));
    // Apr: only A (12000 -> 12000).
    assert_eq!(m["2024-04"]["renewals_due"], json!(1));
    assert_eq!(m["2024-04"]["net_mrr_renewal_rate"], json!(1.0));

    // C: yearly from 2024-01-10, cancelled for 2025-01-10: due in Jan 2025, cancelled,
    // renewal rate 0 / 1; net 0 / 10000 = 0.
    let events =
        vec![start("c", "C", "2024-01-10", 120_000, Interval::Year), cancel("c", "C", "2024-06-01", "2025-01-10")];
    let jan = &Case::new(events).report("2025-01", "2025-01")["months"]["2025-01"];
    assert_eq!(jan["renewals_due"], json!(1));
    assert_eq!(jan["renewals_cancelled"], json!(1));
    assert_eq!(jan["renewal_rate"], json!(0.0));
    assert_eq!(jan["net_mrr_renewal_rate"], json!(0.0));
    assert_eq!(jan["gross_mrr_renewal_rate"], json!(0.0));
    let feb = &Case::new(vec![]).report("2025-02", "2025-02")["months"]["2025-02"];
    assert_eq!(feb["renewal_rate"], Value::Null); // nothing due

    // D: monthly from 2024-01-01, past due 2024-02-20, auto-churned after 10 days on
    // 2024-03-01 = its term end: lapsed.
    let events =
        vec![monthly("d", "D", "2024-01-01", 10_000), ev("d", "D", SubscriptionEventType::PastDue, "2024-02-20")];
    let mut case = Case::new(events);
    case.settings = settings(|s| s.delinquency_auto_churn_days = Some(10));
    let mar = &case.report("2024-03", "2024-03")["months"]["2024-03"];
    assert_eq!(mar["renewals_due"], json!(1));
    assert_eq!(mar["renewals_lapsed"], json!(1));
}

// ------------------------------------------------------------------ from invoices

fn line(sub: &str, start: &str, end: &str, amount: i64, prorated: bool, plan: Option<&str>) -> LineItem {
    LineItem {
        kind: LineItemType::Subscription,
        subscription_id: Some(sub.into()),
        plan_id: plan.map(Into::into),
        service_period_start: Some(d(start)),
        service_period_end: Some(d(end)),
        amount_cents: amount,
        tax_cents: Some(amount / 10),
        discount_cents: None,
        quantity: Some(1),
        prorated,
    }
}

fn invoice(id: &str, cust: &str, date: &str, lines: Vec<LineItem>) -> Invoice {
    Invoice {
        external_id: id.into(),
        customer_id: cust.into(),
        date: d(date),
        currency: Currency::USD,
        line_items: lines,
        transactions: vec![],
    }
}

#[test]
fn mrr_from_invoices_only() {
    // C: monthly invoices (no plan: a 31-day period is a month) of 30.00 for January and
    // March; February's invoice is missing (not churn). A one-time 50.00 line and tax never
    // change MRR. An upgrade on 2024-03-15 is a prorated line of 25.50 for 03-15..04-01 on
    // plan pro (monthly): one full interval from 03-15 is 31 days, the period 17 days:
    // 2550 x 31 / 17 = 4650 a month: expansion +1650 on 03-15. Cancelled for 2024-05-01
    // (requested 2024-04-10).
    // Y: plan yearly, 1200.00 for 2024-01-10..2025-01-10 => 10000 a month.
    let one_time = LineItem {
        kind: LineItemType::OneTime,
        subscription_id: None,
        ..line("x", "2024-01-01", "2024-01-02", 5_000, false, None)
    };
    let invoices = vec![
        invoice("i1", "C", "2024-01-01", vec![line("sc", "2024-01-01", "2024-02-01", 3_000, false, None), one_time]),
        invoice("i3", "C", "2024-03-01", vec![line("sc", "2024-03-01", "2024-04-01", 3_000, false, None)]),
        invoice("i4", "C", "2024-03-15", vec![line("sc", "2024-03-15", "2024-04-01", 2_550, true, Some("pro"))]),
        invoice("i5", "C", "2024-04-01", vec![line("sc", "2024-04-01", "2024-05-01", 4_650, false, Some("pro"))]),
        invoice("y1", "Y", "2024-01-10", vec![line("sy", "2024-01-10", "2025-01-10", 120_000, false, Some("yearly"))]),
    ];
    let mut case = Case::new(vec![]);
    case.invoices = invoices;
    case.plans = vec![
        Plan { id: "pro".into(), name: None, interval: Some(Interval::Month), interval_count: Some(1) },
        Plan { id: "yearly".into(), name: None, interval: Some(Interval::Year), interval_count: Some(1) },
    ];
    case.cancellations = vec![Cancellation {
        subscription_id: "sc".into(),
        cancelled_at: d("2024-05-01"),
        requested_at: Some(d("2024-04-10")),
        customer_id: Some("C".into()),
    }];
    let l = case.ledger();
    assert_eq!(
        movements(&l, "C"),
        vec![
            ("2024-01-01".into(), NewBusiness, 3_000.0),
            ("2024-03-15".into(), Expansion, 1_650.0),
            ("2024-05-01".into(), Churn, -4_650.0)
        ]
    );
    assert_eq!(movements(&l, "Y"), vec![("2024-01-10".into(), NewBusiness, 10_000.0)]);
    let r = case.report("2024-01", "2024-05");
    assert_eq!(r["months"]["2024-02"]["mrr_cents"], json!(13_000.0)); // 3000 + 10000, no February invoice
    assert_eq!(r["months"]["2024-03"]["mrr_cents"], json!(14_650.0));
    assert_eq!(r["months"]["2024-05"]["subscribers"], json!(1));
    // at_request: the churn is dated by the cancellation's requested_at.
    case.settings = settings(|s| s.churn_recognition = "at_request".into());
    assert_eq!(movements(&case.ledger(), "C")[2], ("2024-04-10".into(), Churn, -4_650.0));
    // A subscription with events ignores its invoices.
    let mut both = Case::new(vec![monthly("sc", "C", "2024-01-01", 9_900)]);
    both.invoices = case.invoices.clone();
    assert_eq!(movements(&both.ledger(), "C"), vec![("2024-01-01".into(), NewBusiness, 9_900.0)]);
}

#[test]
fn renewals_from_invoices() {
    // S: plan pro (monthly) invoiced 30.00 for 2024-01-01..02-01 and 02-01..03-01, cancelled
    //    for 2024-03-01. Terms from the first paid period: 01-01..02-01 due in February,
    //    renewed (live on 02-01) at 3000 -> 3000; 02-01..03-01 due in March, cancelled (ended
    //    on 03-01): 3000 -> 0.
    // Y: plan yearly invoiced 1200.00 for 2024-01-10..2025-01-10 (10000 a month), then
    //    1320.00 for the next year (11000): due in January 2025, renewed, net 11000 / 10000
    //    = 1.1, gross min(11000, 10000) / 10000 = 1.0.
    let mut case = Case::new(vec![]);
    case.invoices = vec![
        invoice("s1", "S", "2024-01-01", vec![line("s", "2024-01-01", "2024-02-01", 3_000, false, Some("pro"))]),
        invoice("s2", "S", "2024-02-01", vec![line("s", "2024-02-01", "2024-03-01", 3_000, false, Some("pro"))]),
        invoice("y1", "Y", "2024-01-10", vec![line("y", "2024-01-10", "2025-01-10", 120_000, false, Some("yearly"))]),
        invoice("y2", "Y", "2025-01-10", vec![line("y", "2025-01-10", "2026-01-10", 132_000, false, Some("yearly"))]),
    ];
    case.plans = vec![
        Plan { id: "pro".into(), name: None, interval: Some(Interval::Month), interval_count: Some(1) },
        Plan { id: "yearly".into(), name: None, interval: Some(Interval::Year), interval_count: Some(1) },
    ];
    case.cancellations = vec![Cancellation {
        subscription_id: "s".into(),
        cancelled_at: d("2024-03-01"),
        requested_at: None,
        customer_id: None,
    }];
    let r = case.report("2024-02", "2025-01");
    let m = &r["months"];
    assert_eq!((&m["2024-02"]["renewals_due"], &m["2024-02"]["renewals_renewed"]), (&json!(1), &json!(1)));
    assert_eq!(m["2024-02"]["net_mrr_renewal_rate"], json!(1.0));
    assert_eq!((&m["2024-03"]["renewals_due"], &m["2024-03"]["renewals_cancelled"]), (&json!(1), &json!(1)));
    assert_eq!(m["2024-03"]["renewal_rate"], json!(0.0));
    assert_eq!(m["2024-03"]["net_mrr_renewal_rate"], json!(0.0));
    assert_eq!(m["2024-04"]["renewals_due"], json!(0)); // no term after the cancellation
    assert_eq!(m["2025-01"]["renewals_renewed"], json!(1));
    assert_eq!(m["2025-01"]["net_mrr_renewal_rate"], json!(1.1));
    assert_eq!(m["2025-01"]["gross_mrr_renewal_rate"], json!(1.0));
}

#[test]
fn interval_inference() {
    use invoices::infer_interval as i;
    assert_eq!(i(31), (Interval::Month, 1));
    assert_eq!(i(28), (Interval::Month, 1));
    assert_eq!(i(92), (Interval::Month, 3));
    assert_eq!(i(366), (Interval::Year, 1));
    assert_eq!(i(7), (Interval::Week, 1));
    assert_eq!(i(1), (Interval::Day, 1));
}

#[test]
fn reactivation_in_rates_quick_ratios_and_cac_spend_lag() {
    // A: 100.00 from 2024-01-01, service ends 2024-02-01 (churn -10000 in Feb), back on
    //    2024-03-05 at 80.00 (Reactivation +8000 in March).
    // B: 50.00 from 2024-01-01, service ends 2024-03-10 (churn -5000 in March).
    // C: 30.00 from 2024-03-15 (New Business +3000 in March).
    let events = vec![
        monthly("a", "A", "2024-01-01", 10_000),
        cancel("a", "A", "2024-01-20", "2024-02-01"),
        monthly("a2", "A", "2024-03-05", 8_000),
        monthly("b", "B", "2024-01-01", 5_000),
        cancel("b", "B", "2024-02-25", "2024-03-10"),
        monthly("c", "C", "2024-03-15", 3_000),
    ];
    let mut case = Case::new(events);
    // Sales & marketing spend of 90.00 in February, counted one month later (lag 1).
    case.settings = settings(|s| s.cac_spend_lag_months = 1);
    case.costs = vec![Cost {
        month: d("2024-02-01"),
        category: "sales_marketing".into(),
        amount_cents: 9_000,
        currency: Currency::USD,
    }];
    let r = case.report("2024-01", "2024-03");
    let mar = &r["months"]["2024-03"];
    assert_eq!(mar["movements"]["reactivation"], json!(8_000.0));
    // quick ratio = (3000 + 0) / 5000 = 0.6; with reactivation (3000 + 8000) / 5000 = 2.2
    assert_eq!(mar["quick_ratio"], json!(0.6));
    assert_eq!(mar["quick_ratio_incl_reactivation"], json!(2.2));
    // start of March: B alone (5000). NRR/GRR leave out A (not a subscriber at the start):
    // (5000 - 5000) / 5000 = 0.
    assert_eq!(mar["subscribers_start"], json!(1));
    assert_eq!(mar["nrr"], json!(0.0));
    assert_eq!(mar["grr"], json!(0.0));
    // net MRR churn = -(churn + contraction + expansion + reactivation) / start
    //               = -(-5000 + 8000) / 5000 = -0.6 (negative: more came back than left)
    assert_eq!(mar["net_mrr_churn_rate"], json!(-0.6));
    assert_eq!(mar["gross_mrr_churn_rate"], json!(1.0)); // 5000 / 5000
    assert_eq!(mar["customer_churn_rate"], json!(1.0)); // B: 1 / 1
    // seed CRR = (2 at end (A, C) - 2 new (C new, A reactivated)) / 1 at start = 0
    assert_eq!(mar["customer_retention_rate"], json!(0.0));
    // CAC of March = February's spend 9000 / 1 new customer (C); payback 9000 / (3000 x 1) = 3
    assert_eq!(mar["cac_cents"], json!(9_000.0));
    assert_eq!(mar["cac_payback_months"], json!(3.0));
    // February: no new customers => CAC null, though January's spend (none) would be 0.
    assert_eq!(r["months"]["2024-02"]["cac_cents"], Value::Null);
    // January: 2 new customers, spend of December (none recorded) => 0 / 2 = 0.
    assert_eq!(r["months"]["2024-01"]["cac_cents"], json!(0.0));
    // Cohort Jan (A, B; value 15000): retained 2, 1 (B), 1 (A back) of 2;
    // MRR 15000, 5000, 8000 => 1, 0.3333, 0.5333.
    let co = &r["cohorts"]["2024-01"];
    assert_eq!(co["customer_retention"], json!([1.0, 0.5, 0.5]));
    assert_eq!(co["net_mrr_retention"], json!([1.0, 0.3333, 0.5333]));
    // Without the lag, March's CAC uses March's spend (none): 0 / 1.
    case.settings = settings(|_| {});
    assert_eq!(case.report("2024-03", "2024-03")["months"]["2024-03"]["cac_cents"], json!(0.0));
}
