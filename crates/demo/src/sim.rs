//! The company simulation: customers arrive, trial, subscribe, pay (or fail
//! to), use the product, file tickets, answer surveys, expand, contract and
//! churn, month by month, each from a latent state that the data reveals.
//!
//! The causal story (what a health score or churn model should rediscover):
//!
//! * `eng` (product engagement) drifts as a mean-reverting random walk with
//!   occasional shocks (a champion leaves: a drop that partly persists). It is
//!   what the usage events show: events per active user and the share of
//!   users active scale with `exp(0.8 eng)`.
//! * `svc` (service experience) is built only from the customer's own
//!   tickets: each slow, reopened or unsolved ticket pulls it down, and it
//!   recovers within months. A company-wide support crunch (a few months of
//!   slow replies) makes many customers' tickets bad at once.
//! * `rel` (relationship, perceived value, the CSM's effect) drifts slowly
//!   and is what NPS answers measure (with noise and a 30 % response rate).
//!   A detractor answer also raises churn directly for six months.
//! * Payment failures are random (cards expire); most recover in dunning,
//!   the rest end the subscription: involuntary churn.
//!
//! Each month an active customer's churn probability is a logistic function
//! of those signals (plus segment and early-tenure effects; annual customers
//! decide once a term, two to four months before renewal); the largest of
//! the usage, support and NPS contributions names the churn cause. A customer
//! who decides to leave winds down first (usage x0.6 for one or two months),
//! then requests the cancel, effective at the end of the paid term (usage
//! x0.5 meanwhile); 15 % of monthly customers about to cancel accept a
//! three-month save discount instead. Healthy customers add seats and
//! upgrade; unhealthy ones drop seats and downgrade.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde_json::{Map, Value};
use tenure_model::{
    Cancellation, Cost, Currency, Customer, Discount, DiscountDuration, FxRate, Interval, Invoice, LineItem,
    LineItemType, Order, Plan, SubscriptionEvent, SubscriptionEventType, SurveyResponse, SurveyType, Ticket,
    Transaction, TransactionType,
};

use crate::DemoConfig;
use crate::cal::{self, DAY};
use crate::rnd::{self, R};
use crate::world::*;

// ---------------------------------------------------------------- what the event pass needs

/// Compact per-customer facts kept for the usage-event pass (a few dozen
/// bytes per customer, so a million customers stay small).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Account {
    pub created_s: i64,
    /// First day with access (trial or subscription).
    pub first_day: i32,
    /// Exclusive end of the last access (the window's end if still a customer).
    pub last_day: i32,
    pub tz_min: i16,
    /// People at the account (survey recipients, the users the event pass
    /// tracks), fixed from the seats bought.
    pub users: u16,
    /// Bit i set: the account uses `FEATURES[i]`.
    pub features: u16,
    /// Indexes into the name tables (`NAME_A`, `NAME_B`, `COUNTRIES`,
    /// `INDUSTRIES`, `TIERS`): the event pass rebuilds the company's name and
    /// domain from them without the customer rows.
    pub name_a: u8,
    pub name_b: u8,
    pub country: u8,
    pub industry: u8,
    pub tier: u8,
}

/// One customer-month of usage: `level` 0 = no access that month, else the
/// relative intensity (32 = typical); `from..to` the days of the month (offsets
/// from the month's first day) with access.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Monthly {
    pub level: u8,
    pub from: u8,
    pub to: u8,
}

/// Users who join at sign-up; later ones join one by one as the account grows.
pub(crate) fn initial_users(users: u16) -> u16 {
    ((users as u32 * 6).div_ceil(10)).max(1) as u16
}

/// When user `j` of an account is created (its identify `created_at`). A pure
/// function of the account, shared by survey sampling and the event pass.
pub(crate) fn user_join_s(acc: &Account, j: u16) -> i64 {
    if j == 0 {
        return acc.created_s;
    }
    let n0 = initial_users(acc.users);
    let day = if j < n0 {
        acc.first_day + 1 + (j as i32 * 3) % 11
    } else {
        let gap = (540 / (acc.users - n0 + 1) as i32).clamp(10, 90);
        acc.first_day + gap * (j - n0 + 1) as i32
    };
    day as i64 * DAY + 9 * 3600 + (j as i64 * 1373) % (8 * 3600) - acc.tz_min as i64 * 60
}

/// Digits of customer numbers: "cus_0001", or as many as the count needs.
pub(crate) fn id_width(customers: usize) -> usize {
    customers.to_string().len().max(4)
}

pub(crate) fn user_id(num: &str, j: u16) -> String {
    format!("u_{num}_{:02}", j + 1)
}

// ---------------------------------------------------------------- company-wide facts

pub(crate) struct World {
    pub months: usize,
    /// First day of each month of the window, plus the window's end.
    pub month_start: Vec<i32>,
    pub end_day: i32,
    pub end_s: i64,
    /// Rate to USD per month, by currency index (USD, EUR, GBP).
    pub fx: Vec<[f64; 3]>,
    /// Multiplier on support reply and resolution times per month (1 normal;
    /// about 3 during the support crunch).
    pub support_load: Vec<f64>,
    /// Digits of customer numbers ("0001").
    pub width: usize,
}

impl World {
    fn new(cfg: &DemoConfig, g: &mut R) -> World {
        let months = cfg.months as usize;
        let start = cal::day_of(cfg.start);
        let month_start: Vec<i32> = (0..=months as i32).map(|k| cal::add_months(start, k)).collect();
        let end_day = *month_start.last().expect("months + 1 entries");

        // EUR and GBP drift gently around their long-run levels.
        let mut fx = Vec::with_capacity(months);
        let (mut eur, mut gbp) = (1.08_f64, 1.27_f64);
        for _ in 0..months {
            fx.push([1.0, (eur * 10_000.0).round() / 10_000.0, (gbp * 10_000.0).round() / 10_000.0]);
            eur = eur * (0.012 * rnd::normal(g)).exp() + 0.05 * (1.08 - eur);
            gbp = gbp * (0.010 * rnd::normal(g)).exp() + 0.05 * (1.27 - gbp);
        }

        // One support crunch between a third and a half of the way through:
        // a hiring freeze, replies three times slower for two or three months.
        let mut support_load: Vec<f64> = (0..months).map(|_| rnd::uniform(g, 0.85, 1.15)).collect();
        if months >= 6 {
            let from = rnd::int(g, months as i64 / 3, months as i64 / 2 + 1) as usize;
            let len = rnd::int(g, 2, 4) as usize;
            for (k, load) in support_load.iter_mut().enumerate().skip(from).take(len + 1) {
                *load = if k == from + len { 2.0 } else { 3.5 };
            }
        }

        World {
            months,
            month_start,
            end_day,
            end_s: end_day as i64 * DAY,
            fx,
            support_load,
            width: id_width(cfg.customers),
        }
    }

    fn month_index(&self, day: i32) -> usize {
        self.month_start.partition_point(|&s| s <= day).saturating_sub(1).min(self.months.saturating_sub(1))
    }
}

// ---------------------------------------------------------------- output

#[derive(Default)]
pub(crate) struct Out {
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
    pub churn_causes: BTreeMap<String, Vec<String>>,
    /// (customer index, cause) of every churn that took effect, turned into
    /// `churn_causes` at the end: no small strings live through the
    /// simulation, so batches freed by `generate_batches` leave no holes.
    churned: Vec<(u32, Cause)>,
    pub accounts: Vec<Account>,
    pub monthly: Vec<Monthly>,
    n_invoice: u64,
    n_ticket: u64,
    n_order: u64,
    n_response: u64,
    n_sub_event: u64,
    /// Month-end MRR in USD, subscribers, and new customers by segment: the
    /// inputs of the cost model.
    mrr_usd: Vec<f64>,
    subscribers: Vec<u32>,
    new_customers: Vec<[u32; 3]>,
}

fn id(prefix: &str, n: u64) -> String {
    format!("{prefix}_{n:06}")
}

// ---------------------------------------------------------------- subscriptions

#[derive(Clone, Copy, Debug, PartialEq)]
enum Cause {
    Usage,
    Support,
    Nps,
    Payment,
    Other,
}

impl Cause {
    fn name(self) -> &'static str {
        match self {
            Cause::Usage => "usage_decline",
            Cause::Support => "poor_support",
            Cause::Nps => "detractor_nps",
            Cause::Payment => "failed_payment",
            Cause::Other => "other",
        }
    }
}

/// The names `DemoData::churn_causes` uses, in report order.
pub const CAUSES: [&str; 5] = ["usage_decline", "poor_support", "detractor_nps", "failed_payment", "other"];

#[derive(Clone, Debug)]
struct Disc {
    /// Percent off in basis points (2500 = 25 %), or 0 for an amount off.
    pct_bp: i64,
    amount: i64,
    duration: DiscountDuration,
    /// Exclusive end of a repeating discount.
    ends: i32,
}

impl Disc {
    fn entity(&self) -> Discount {
        Discount {
            percent_off: (self.pct_bp > 0).then(|| Decimal::new(self.pct_bp, 2)),
            amount_off_cents: (self.pct_bp == 0).then_some(self.amount),
            duration: self.duration,
            ends_at: (self.duration == DiscountDuration::Repeating).then(|| cal::date(self.ends)),
        }
    }
}

#[derive(Clone, Debug)]
enum Pending {
    /// A downgrade or seat reduction, effective at the next renewal.
    Terms { tier: usize, qty: i64 },
    /// Monthly to annual at the next renewal, done as cancel + new
    /// subscription on the same day.
    SwitchAnnual,
}

#[derive(Clone, Debug)]
struct Sub {
    id: String,
    tier: usize,
    free: bool,
    annual: bool,
    unit: i64,
    qty: i64,
    disc: Option<Disc>,
    /// Billing anchor: periods are anchor + k intervals.
    anchor: i32,
    /// Index of the next period to bill.
    k: i32,
    next_bill: i32,
    period_start: i32,
    billed: u32,
    /// Date of the latest event on this subscription (decisions come after).
    last_event: i32,
    cancel_at: Option<i32>,
    pending: Option<Pending>,
    /// The term (k) whose renewal was already decided, for annual plans.
    renewal_decided: i32,
}

impl Sub {
    fn plan_id(&self) -> &'static str {
        if self.free { FREE_PLAN } else { PLAN_IDS[self.tier][self.annual as usize] }
    }
    fn months(&self) -> i32 {
        if self.annual { 12 } else { 1 }
    }
    fn gross(&self) -> i64 {
        self.unit * self.qty
    }
    /// The discount on a period starting at `ps` (`first`: the first billing
    /// interval, for `once`).
    fn discount_on(&self, gross: i64, ps: i32, first: bool) -> i64 {
        let Some(d) = &self.disc else { return 0 };
        let applies = match d.duration {
            DiscountDuration::Forever => true,
            DiscountDuration::Repeating => ps < d.ends,
            DiscountDuration::Once => first,
        };
        if !applies {
            0
        } else if d.pct_bp > 0 {
            (gross * d.pct_bp + 5_000) / 10_000
        } else {
            d.amount.min(gross)
        }
    }
    /// Monthly-normalised net recurring amount now (for the cost model).
    fn mrr(&self, day: i32) -> f64 {
        let g = self.gross();
        (g - self.discount_on(g, day, self.billed <= 1)) as f64 / self.months() as f64
    }
}

enum Phase {
    Trial { sub: Sub, ends: i32 },
    Active(Sub),
    Gone { ret: Option<i32> },
    Lost,
}

// ---------------------------------------------------------------- one customer

struct Cust<'a> {
    w: &'a World,
    out: &'a mut Out,
    r: R,
    idx: usize,
    id: String,
    num: String,
    seg: usize,
    country: &'static Country,
    ci: usize,
    cur: Currency,
    tier: usize,
    seats: i64,
    acc: Account,
    eng_base: f64,
    eng: f64,
    /// Engagement one, two and three months ago.
    eng_hist: [f64; 3],
    rel_base: f64,
    rel: f64,
    svc: f64,
    last_detractor: Option<usize>,
    subs_made: u32,
    first_paid: Option<i32>,
    paid_months: u32,
    access_since: Option<i32>,
    ranges: Vec<(i32, i32)>,
    /// Per month since arrival: (engagement, usage factor), for the usage plan.
    month_state: Vec<(f32, f32)>,
    cause: Option<Cause>,
    /// Decided to leave: the cause, and months of winding down before the
    /// cancel request.
    intent: Option<(Cause, u8)>,
}

/// Simulate the company. `flush` is called after every `batch` customers
/// (it may take the per-customer rows away: nothing refers back to them).
pub(crate) fn run(cfg: &DemoConfig, batch: usize, flush: &mut dyn FnMut(&mut Out)) -> Out {
    let mut g = rnd::rng_for(cfg.seed, 0, rnd::STREAM_GLOBAL);
    let w = World::new(cfg, &mut g);
    let mut out = Out {
        mrr_usd: vec![0.0; w.months],
        subscribers: vec![0; w.months],
        new_customers: vec![[0; 3]; w.months],
        ..Out::default()
    };
    out.plans = plans();
    for (m, rates) in w.fx.iter().enumerate() {
        let month = cal::date(w.month_start[m]).first_of_month();
        for (ci, cur) in [Currency::USD, Currency::EUR, Currency::GBP].into_iter().enumerate() {
            let rate = if ci == 0 { Decimal::ONE } else { Decimal::new((rates[ci] * 10_000.0).round() as i64, 4) };
            out.fx_rates.push(FxRate { currency: cur, month, rate_to_reporting: rate });
        }
    }
    if w.months == 0 {
        return out;
    }

    // Arrivals grow through the window (month 23 brings ~2.8x month 0); ids
    // follow sign-up order.
    let weights: Vec<f64> = (0..w.months).map(|m| 1.0 + 0.08 * m as f64).collect();
    let total: f64 = weights.iter().sum();
    let mut arrivals = Vec::with_capacity(cfg.customers);
    let mut cum = 0.0;
    for (m, wt) in weights.iter().enumerate() {
        let before = (cfg.customers as f64 * cum / total).round() as usize;
        cum += wt;
        let after = (cfg.customers as f64 * cum / total).round() as usize;
        let (ms, me) = (w.month_start[m], w.month_start[m + 1]);
        let mut days: Vec<i32> = (before..after).map(|_| weekday_biased_day(&mut g, ms, me)).collect();
        days.sort_unstable();
        arrivals.extend(days.into_iter().map(|d| (m, d)));
    }

    out.customers.reserve(cfg.customers.min(batch));
    out.accounts.reserve(cfg.customers);
    out.monthly.reserve(cfg.customers * w.months);
    for (idx, &(m, day)) in arrivals.iter().enumerate() {
        simulate_customer(&w, &mut out, cfg.seed, idx, m, day);
        if (idx + 1) % batch.max(1) == 0 {
            flush(&mut out);
        }
    }
    costs(&w, &mut out, &mut g, cfg.customers);
    let width = w.width;
    for &(idx, cause) in &out.churned {
        let ids = out.churn_causes.entry(cause.name().to_string()).or_default();
        let id = format!("cus_{:0width$}", idx + 1);
        if ids.last() != Some(&id) {
            ids.push(id);
        }
    }
    out.churned = Vec::new();
    out
}

fn plans() -> Vec<Plan> {
    let mut v = vec![Plan {
        id: FREE_PLAN.into(),
        name: Some("Free".into()),
        interval: Some(Interval::Month),
        interval_count: Some(1),
    }];
    for (t, ids) in PLAN_IDS.iter().enumerate() {
        for (a, pid) in ids.iter().enumerate() {
            let tier = TIERS[t];
            let name =
                format!("{}{} ({})", tier[..1].to_uppercase(), &tier[1..], if a == 1 { "annual" } else { "monthly" });
            v.push(Plan {
                id: (*pid).into(),
                name: Some(name),
                interval: Some(if a == 1 { Interval::Year } else { Interval::Month }),
                interval_count: Some(1),
            });
        }
    }
    v
}

/// A day in `lo..hi`, weekends five times less likely (people sign up, file
/// tickets and log in on working days).
fn weekday_biased_day(r: &mut R, lo: i32, hi: i32) -> i32 {
    if hi <= lo + 1 {
        return lo;
    }
    for _ in 0..8 {
        let d = rnd::int(r, lo as i64, hi as i64) as i32;
        if !cal::is_weekend(d) || rnd::chance(r, 0.2) {
            return d;
        }
    }
    rnd::int(r, lo as i64, hi as i64) as i32
}

/// Seconds into a local working day (08:00-18:30, busiest mid-morning and
/// mid-afternoon) converted to UTC.
fn working_time(r: &mut R, day: i32, tz_min: i16) -> i64 {
    let local = if rnd::chance(r, 0.5) { rnd::uniform(r, 8.0, 12.5) } else { rnd::uniform(r, 13.0, 18.5) };
    day as i64 * DAY + (local * 3600.0) as i64 - tz_min as i64 * 60
}

fn simulate_customer(w: &World, out: &mut Out, seed: u64, idx: usize, arrival_m: usize, arrival: i32) {
    let mut r = rnd::rng_for(seed, idx, rnd::STREAM_SIM);
    let seg = rnd::weighted(&mut r, &[64.0, 27.0, 9.0]);
    let country_ix = rnd::weighted(&mut r, &COUNTRY_WEIGHTS);
    let country = &COUNTRIES[country_ix];
    let tz = *rnd::pick(&mut r, country.tz);
    let tier = rnd::weighted(&mut r, [&[70.0, 27.0, 3.0], &[20.0, 60.0, 20.0], &[0.0, 30.0, 70.0]][seg]);
    let seats = match seg {
        SMB => rnd::lognormal(&mut r, 6.0, 0.5).round().clamp(1.0, 25.0),
        MID => rnd::lognormal(&mut r, 30.0, 0.45).round().clamp(12.0, 150.0),
        _ => rnd::lognormal(&mut r, 150.0, 0.6).round().clamp(60.0, 1500.0),
    } as i64;
    let owner = rnd::weighted(
        &mut r,
        [&[1.0, 1.0, 1.0, 1.0, 1.0, 1.0], &[2.0, 2.0, 2.0, 2.0, 1.0, 1.0], &[3.0, 1.0, 2.0, 1.0, 1.0, 0.0]][seg],
    );
    let num = format!("{:0width$}", idx + 1, width = w.width);
    let id = format!("cus_{num}");
    // Working hours in a zone west of UTC can fall on the next UTC day; a
    // sign-up on the window's last day must still be inside the window.
    let created_s = working_time(&mut r, arrival, tz).min(w.end_s - 60);

    // Who they are, for the CRM export.
    let (name_a, name_b) =
        (rnd::int(&mut r, 0, NAME_A.len() as i64) as u8, rnd::int(&mut r, 0, NAME_B.len() as i64) as u8);
    let company = company_name(name_a, name_b, country_ix as u8);
    let (first, last) = (*rnd::pick(&mut r, &FIRST_NAMES), *rnd::pick(&mut r, &LAST_NAMES));
    let email =
        format!("{}.{}@{}", first.to_lowercase(), ascii_fold(last), email_domain(name_a, name_b, country_ix as u8));
    let industry = rnd::int(&mut r, 0, INDUSTRIES.len() as i64) as u8;
    let mut attributes = Map::new();
    attributes.insert("industry".into(), Value::from(INDUSTRIES[industry as usize]));
    attributes.insert("seats_purchased".into(), Value::from(seats));
    out.customers.push(Customer {
        id: id.clone(),
        name: Some(format!("{first} {last}")),
        email: Some(email),
        company: Some(company),
        country: Some(country.code.into()),
        segment: Some(SEGMENTS[seg].into()),
        plan_tier: Some(TIERS[tier].into()),
        owner: Some(CSMS[owner].0.into()),
        created_at: Some(cal::ts(created_s)),
        attributes,
    });

    // The latent state. Engaged, well-served, well-liked accounts stay.
    let eng_base = 0.25 + 0.1 * tier as f64 + 0.45 * rnd::normal(&mut r);
    let rel_base = 0.2 + CSMS[owner].1 + 0.4 * rnd::normal(&mut r);
    let users = ((1.5 * (seats as f64 * 1.2).powf(0.7)).round() as u16).clamp(1, 60);
    let mut features = 0u16;
    for (i, f) in FEATURES.iter().enumerate() {
        if f.3 || (tier >= f.2 && rnd::chance(&mut r, rnd::sigmoid(1.2 * eng_base + 0.4 * tier as f64 - 0.3))) {
            features |= 1 << i;
        }
    }
    let ci = currency_index(country.currency);
    let mut c = Cust {
        w,
        out,
        r,
        idx,
        id,
        num,
        seg,
        country,
        ci,
        cur: country.currency,
        tier,
        seats,
        acc: Account {
            created_s,
            first_day: arrival,
            last_day: w.end_day,
            tz_min: tz,
            users,
            features,
            name_a,
            name_b,
            country: country_ix as u8,
            industry,
            tier: tier as u8,
        },
        eng_base,
        eng: eng_base - 0.4, // still onboarding
        eng_hist: [eng_base - 0.4; 3],
        rel_base,
        rel: rel_base,
        svc: 0.0,
        last_detractor: None,
        subs_made: 0,
        first_paid: None,
        paid_months: 0,
        access_since: Some(arrival),
        ranges: Vec::new(),
        month_state: Vec::with_capacity(w.months - arrival_m),
        cause: None,
        intent: None,
    };
    c.run(arrival_m, arrival);
}

/// Email local parts are ASCII.
pub(crate) fn ascii_fold(s: &str) -> String {
    s.to_lowercase().replace('ü', "ue").replace('é', "e")
}

pub(crate) fn company_name(a: u8, b: u8, country: u8) -> String {
    format!("{} {} {}", NAME_A[a as usize], NAME_B[b as usize], COUNTRIES[country as usize].legal)
}

/// "harborlabs.co.uk": the company's name without spaces, and its country's
/// domain.
pub(crate) fn email_domain(a: u8, b: u8, country: u8) -> String {
    let mut d: String =
        NAME_A[a as usize].chars().chain(NAME_B[b as usize].chars()).filter(|c| c.is_ascii_alphanumeric()).collect();
    d.make_ascii_lowercase();
    d.push('.');
    d.push_str(COUNTRIES[country as usize].tld);
    d
}

impl Cust<'_> {
    fn run(&mut self, arrival_m: usize, arrival: i32) {
        let w = self.w;
        let mut phase = self.sign_up(arrival);
        for m in arrival_m..w.months {
            let (ms, me) = (w.month_start[m], w.month_start[m + 1]);
            if m > arrival_m {
                self.drift();
            }
            let mut wave = matches!(cal::month_of(ms), 1 | 4 | 7 | 10).then_some(ms + 4);
            // One decision a month, on a random day; dated items before and
            // after it are processed in date order around it.
            let d = rnd::int(&mut self.r, ms as i64, me as i64) as i32;
            self.advance(&mut phase, d, &mut wave, m);
            self.decide(&mut phase, d, m);
            self.advance(&mut phase, me, &mut wave, m);
            self.month_end(&phase, m, ms, me);
        }
        if let Some(since) = self.access_since.take() {
            self.ranges.push((since, w.end_day));
        }
        self.finish(arrival_m);
    }

    fn sign_up(&mut self, a: i32) -> Phase {
        let annual_p = [0.25, 0.45, 0.7][self.seg];
        let annual = rnd::chance(&mut self.r, annual_p);
        let free = self.seg == SMB && !annual && rnd::chance(&mut self.r, 0.06);
        let trial = !free && rnd::chance(&mut self.r, [0.5, 0.3, 0.1][self.seg]);
        let mut sub = self.new_sub(a, self.tier, annual, free, self.seats);
        if !free {
            sub.disc = self.signup_discount(a, annual);
        }
        if trial {
            let mut ev = self.sub_event(&sub.id, SubscriptionEventType::TrialStart, a);
            ev.plan_id = Some(sub.plan_id().into());
            ev.currency = Some(self.cur);
            ev.quantity = Some(sub.qty);
            self.out.subscription_events.push(ev);
            // The $0 trial invoice billing systems issue.
            let line = LineItem {
                kind: LineItemType::Trial,
                subscription_id: Some(sub.id.clone()),
                plan_id: Some(sub.plan_id().into()),
                service_period_start: Some(cal::date(a)),
                service_period_end: Some(cal::date(a + 14)),
                amount_cents: 0,
                tax_cents: Some(0),
                discount_cents: None,
                quantity: Some(sub.qty),
                prorated: false,
            };
            self.push_invoice(a, vec![line], Vec::new());
            sub.last_event = a;
            Phase::Trial { sub, ends: a + 14 }
        } else {
            self.start(&mut sub, a, false);
            Phase::Active(sub)
        }
    }

    fn new_sub(&mut self, day: i32, tier: usize, annual: bool, free: bool, qty: i64) -> Sub {
        self.subs_made += 1;
        let unit = if free { 0 } else { SEAT_PRICE[tier][self.ci] * if annual { 10 } else { 1 } };
        Sub {
            id: format!("sub_{}_{}", self.num, self.subs_made),
            tier,
            free,
            annual,
            unit,
            qty: if free { qty.min(3) } else { qty },
            disc: None,
            anchor: day,
            k: 0,
            next_bill: day,
            period_start: day,
            billed: 0,
            last_event: day,
            cancel_at: None,
            pending: None,
            renewal_decided: -1,
        }
    }

    fn signup_discount(&mut self, a: i32, annual: bool) -> Option<Disc> {
        let r = &mut self.r;
        let x = rnd::unit(r);
        match self.seg {
            // Negotiated enterprise and mid-market discounts last forever.
            ENT if x < 0.5 => Some(Disc {
                pct_bp: rnd::int(r, 10, 26) * 100,
                amount: 0,
                duration: DiscountDuration::Forever,
                ends: 0,
            }),
            MID if x < 0.2 => Some(Disc { pct_bp: 1000, amount: 0, duration: DiscountDuration::Forever, ends: 0 }),
            // Launch promos: a percentage for the first three months.
            _ if x < 0.32 && !annual => Some(Disc {
                pct_bp: *rnd::pick(r, &[2000, 2500, 3000, 5000]),
                amount: 0,
                duration: DiscountDuration::Repeating,
                ends: cal::add_months(a, 3),
            }),
            // A coupon off the first invoice.
            _ if x < 0.38 => {
                if rnd::chance(r, 0.5) {
                    Some(Disc { pct_bp: 5000, amount: 0, duration: DiscountDuration::Once, ends: 0 })
                } else {
                    Some(Disc {
                        pct_bp: 0,
                        amount: rnd::int(r, 2, 11) * 1000,
                        duration: DiscountDuration::Once,
                        ends: 0,
                    })
                }
            }
            _ => None,
        }
    }

    fn sub_event(&mut self, sub_id: &str, kind: SubscriptionEventType, day: i32) -> SubscriptionEvent {
        self.out.n_sub_event += 1;
        SubscriptionEvent {
            subscription_id: sub_id.to_string(),
            customer_id: self.id.clone(),
            kind,
            date: cal::date(day),
            currency: None,
            plan_id: None,
            interval: None,
            interval_count: None,
            unit_amount_cents: None,
            quantity: None,
            discount: None,
            requested_at: None,
            ends_at: None,
            external_id: Some(id("evt", self.out.n_sub_event)),
        }
    }

    /// A `start` with the full terms, and its first invoice.
    fn start(&mut self, sub: &mut Sub, day: i32, reactivation: bool) {
        let mut ev = self.sub_event(&sub.id, SubscriptionEventType::Start, day);
        ev.currency = Some(self.cur);
        ev.plan_id = Some(sub.plan_id().into());
        ev.interval = Some(if sub.annual { Interval::Year } else { Interval::Month });
        ev.interval_count = Some(1);
        ev.unit_amount_cents = Some(sub.unit);
        ev.quantity = Some(sub.qty);
        ev.discount = sub.disc.as_ref().map(Disc::entity);
        self.out.subscription_events.push(ev);
        sub.anchor = day;
        sub.k = 0;
        sub.next_bill = day;
        sub.last_event = day;
        if self.first_paid.is_none() {
            self.first_paid = Some(day);
            let m = self.w.month_index(day);
            self.out.new_customers[m][self.seg] += 1;
            self.onboarding_ces(day);
        }
        if reactivation {
            self.access_since = Some(day);
        }
    }

    fn drift(&mut self) {
        let r = &mut self.r;
        self.eng_hist = [self.eng, self.eng_hist[0], self.eng_hist[1]];
        self.eng += 0.12 * (self.eng_base - self.eng) + 0.17 * rnd::normal(r);
        if rnd::chance(r, 0.022) {
            // The champion leaves, a reorg, a competing tool: a drop that
            // partly sticks.
            let shock = rnd::uniform(r, 0.7, 1.5);
            self.eng -= shock;
            self.eng_base -= 0.5 * shock;
        }
        self.rel += 0.10 * (self.rel_base - self.rel) + 0.14 * rnd::normal(r);
        self.svc *= 0.6;
    }

    /// Process every dated item before `until`, in date order.
    fn advance(&mut self, phase: &mut Phase, until: i32, wave: &mut Option<i32>, m: usize) {
        loop {
            let next = match phase {
                Phase::Trial { ends, .. } => *ends,
                Phase::Active(sub) => match sub.cancel_at {
                    Some(c) if c <= sub.next_bill => c,
                    _ => sub.next_bill,
                },
                Phase::Gone { ret: Some(r) } => *r,
                _ => i32::MAX,
            };
            let wave_day = wave.unwrap_or(i32::MAX);
            if wave_day < until && wave_day <= next {
                *wave = None;
                if let Phase::Active(_) = phase {
                    self.nps_wave(wave_day, m);
                }
                continue;
            }
            if next >= until {
                return;
            }
            match phase {
                Phase::Trial { sub, ends } => {
                    let t = *ends;
                    if rnd::chance(&mut self.r, rnd::sigmoid(0.9 + 1.6 * self.eng)) {
                        let mut sub = sub.clone();
                        self.start(&mut sub, t, false);
                        *phase = Phase::Active(sub);
                    } else {
                        self.end_access(t);
                        *phase = Phase::Lost;
                    }
                }
                Phase::Active(sub) => {
                    if sub.cancel_at == Some(next) {
                        self.end_access(next);
                        let cause = self.cause.take().unwrap_or(Cause::Other);
                        if next < self.w.end_day {
                            self.out.churned.push((self.idx as u32, cause));
                        }
                        *phase = Phase::Gone { ret: self.plan_return(next, cause) };
                    } else {
                        self.bill(sub, next);
                    }
                }
                Phase::Gone { ret } => {
                    let day = ret.expect("only scheduled returns are items");
                    // They come back on a monthly plan, a little smaller.
                    self.eng = self.eng_base.max(0.0) + 0.2;
                    self.eng_hist = [self.eng; 3];
                    self.rel = self.rel_base;
                    self.svc = 0.0;
                    self.seats = ((self.seats as f64) * 0.8).round().max(1.0) as i64;
                    let tier = self.tier.min(1);
                    let mut sub = self.new_sub(day, tier, false, false, self.seats);
                    if rnd::chance(&mut self.r, 0.3) {
                        sub.disc = Some(Disc {
                            pct_bp: 2000,
                            amount: 0,
                            duration: DiscountDuration::Repeating,
                            ends: cal::add_months(day, 2),
                        });
                    }
                    self.start(&mut sub, day, true);
                    *phase = Phase::Active(sub);
                }
                Phase::Lost => return,
            }
        }
    }

    fn end_access(&mut self, day: i32) {
        if let Some(since) = self.access_since.take() {
            self.ranges.push((since, day));
        }
    }

    /// Some churned customers come back: voluntary churners now and then,
    /// failed-payment churners often (they fix their card).
    fn plan_return(&mut self, ended: i32, cause: Cause) -> Option<i32> {
        let (p, lo, hi) = if cause == Cause::Payment { (0.35, 1, 3) } else { (0.15, 2, 9) };
        if !rnd::chance(&mut self.r, p) {
            return None;
        }
        // Always in a later calendar month, so each month has one access range.
        let m = self.w.month_index(ended) as i64 + rnd::int(&mut self.r, lo, hi + 1);
        if m >= self.w.months as i64 {
            return None;
        }
        let (ms, me) = (self.w.month_start[m as usize], self.w.month_start[m as usize + 1]);
        Some(weekday_biased_day(&mut self.r, ms, me))
    }

    /// Renewal day: apply what was scheduled for it, then invoice the period.
    fn bill(&mut self, sub: &mut Sub, b: i32) {
        if let Some(p) = sub.pending.take() {
            match p {
                Pending::Terms { tier, qty } => self.change_terms(sub, b, tier, qty),
                Pending::SwitchAnnual => {
                    let mut ev = self.sub_event(&sub.id, SubscriptionEventType::Cancel, b);
                    ev.requested_at = Some(cal::date(b));
                    ev.ends_at = Some(cal::date(b));
                    self.out.subscription_events.push(ev);
                    self.out.cancellations.push(Cancellation {
                        subscription_id: sub.id.clone(),
                        cancelled_at: cal::date(b),
                        requested_at: Some(cal::date(b)),
                        customer_id: Some(self.id.clone()),
                    });
                    let mut new = self.new_sub(b, sub.tier, true, false, sub.qty);
                    new.disc = sub.disc.clone().filter(|d| d.duration == DiscountDuration::Forever);
                    self.start(&mut new, b, false);
                    *sub = new;
                }
            }
        }
        let ps = b;
        let pe = cal::add_months(sub.anchor, (sub.k + 1) * sub.months());
        sub.k += 1;
        sub.next_bill = pe;
        sub.period_start = ps;
        sub.last_event = sub.last_event.max(b);
        if sub.free {
            return;
        }
        let gross = sub.gross();
        let disc = sub.discount_on(gross, ps, sub.billed == 0);
        sub.billed += 1;
        let net = gross - disc;
        let mut lines = vec![LineItem {
            kind: LineItemType::Subscription,
            subscription_id: Some(sub.id.clone()),
            plan_id: Some(sub.plan_id().into()),
            service_period_start: Some(cal::date(ps)),
            service_period_end: Some(cal::date(pe)),
            amount_cents: net,
            tax_cents: Some(self.tax(net)),
            discount_cents: (disc > 0).then_some(disc),
            quantity: Some(sub.qty),
            prorated: false,
        }];
        // Implementation fees on an account's first paid invoice, and the
        // odd extra (a training day).
        let first_ever = self.paid_months == 0 && sub.billed == 1;
        let fee = if first_ever && (self.seg == ENT || (self.seg == MID && rnd::chance(&mut self.r, 0.3))) {
            Some(rnd::int(&mut self.r, 15, 50) * 10_000)
        } else if rnd::chance(&mut self.r, 0.01) {
            Some(rnd::int(&mut self.r, 5, 20) * 5_000)
        } else {
            None
        };
        if let Some(amount) = fee {
            lines.push(LineItem {
                kind: LineItemType::OneTime,
                subscription_id: None,
                plan_id: None,
                service_period_start: None,
                service_period_end: None,
                amount_cents: amount,
                tax_cents: Some(self.tax(amount)),
                discount_cents: None,
                quantity: Some(1),
                prorated: false,
            });
        }
        self.paid_months += 1;
        let total: i64 = lines.iter().map(|l| l.amount_cents + l.tax_cents.unwrap_or(0)).sum();
        let txns = self.collect(sub, b, total);
        self.push_invoice(b, lines, txns);
    }

    /// Charge an invoice: usually paid at once; sometimes the card fails and
    /// the subscription goes past due, then recovers or is cancelled at the
    /// end of dunning (involuntary churn).
    fn collect(&mut self, sub: &mut Sub, b: i32, total: i64) -> Vec<Transaction> {
        let end = self.w.end_day;
        let mut txns = Vec::new();
        if total == 0 {
            return txns;
        }
        let fail_p = if sub.annual { 0.01 } else { [0.02, 0.013, 0.008][self.seg] };
        let charge_at = |day: i32, r: &mut R| day as i64 * DAY + rnd::int(r, 3600, 6 * 3600);
        if !rnd::chance(&mut self.r, fail_p) {
            let paid = charge_at(b, &mut self.r);
            txns.push(txn(TransactionType::Payment, paid, total, true));
            if rnd::chance(&mut self.r, 0.006) {
                let at = paid + rnd::int(&mut self.r, 2, 21) * DAY;
                if at < self.w.end_s {
                    let amount = if rnd::chance(&mut self.r, 0.5) { total } else { total / 2 };
                    txns.push(txn(TransactionType::Refund, at, amount, true));
                }
            }
            return txns;
        }
        let ev = self.sub_event(&sub.id, SubscriptionEventType::PastDue, b);
        self.out.subscription_events.push(ev);
        txns.push(txn(TransactionType::Payment, charge_at(b, &mut self.r), total, false));
        let recovers = rnd::chance(&mut self.r, 0.72);
        let resolve =
            b + if recovers { rnd::int(&mut self.r, 1, 15) as i32 } else { rnd::int(&mut self.r, 14, 28) as i32 };
        // Smart retries on day 3, 7 and 14 of dunning.
        for retry in [3, 7, 14] {
            if b + retry < resolve && b + retry < end {
                txns.push(txn(TransactionType::Payment, charge_at(b + retry, &mut self.r), total, false));
            }
        }
        // Still past due when the data ends: nothing resolves it.
        sub.last_event = resolve.min(end);
        if resolve >= end {
            return txns;
        }
        if recovers {
            txns.push(txn(TransactionType::Payment, charge_at(resolve, &mut self.r), total, true));
            let ev = self.sub_event(&sub.id, SubscriptionEventType::PaymentRecovered, resolve);
            self.out.subscription_events.push(ev);
        } else {
            self.cancel(sub, resolve, resolve, Cause::Payment);
        }
        txns
    }

    fn cancel(&mut self, sub: &mut Sub, requested: i32, ends: i32, cause: Cause) {
        let mut ev = self.sub_event(&sub.id, SubscriptionEventType::Cancel, requested);
        ev.requested_at = Some(cal::date(requested));
        ev.ends_at = Some(cal::date(ends));
        self.out.subscription_events.push(ev);
        self.out.cancellations.push(Cancellation {
            subscription_id: sub.id.clone(),
            cancelled_at: cal::date(ends),
            requested_at: Some(cal::date(requested)),
            customer_id: Some(self.id.clone()),
        });
        sub.cancel_at = Some(ends);
        sub.pending = None;
        sub.last_event = requested;
        self.cause = Some(cause);
        self.intent = None;
    }

    fn tax(&self, net: i64) -> i64 {
        (net * self.country.tax_bp + 5_000) / 10_000
    }

    fn push_invoice(&mut self, day: i32, line_items: Vec<LineItem>, transactions: Vec<Transaction>) {
        self.out.n_invoice += 1;
        self.out.invoices.push(Invoice {
            external_id: id("in", self.out.n_invoice),
            customer_id: self.id.clone(),
            date: cal::date(day),
            currency: self.cur,
            line_items,
            transactions,
        });
    }

    fn health(&self) -> f64 {
        self.eng + 0.6 * self.rel + 0.6 * self.svc
    }

    /// This month's churn probability and what would be driving it.
    ///
    /// Each term is a logit contribution that a customer-success team can
    /// see in the data: low usage and a fall in usage over three months; bad
    /// tickets (`svc` is built only from them); low NPS (`rel`) and a recent
    /// detractor answer. A term under 0.5 never names the cause ("other":
    /// budget cuts, acquisitions, a competitor: churn the data cannot explain).
    fn hazard(&self, m: usize, d: i32) -> (f64, Cause) {
        let drop = (self.eng_hist[2] - self.eng).max(0.0);
        let detractor = self.last_detractor.is_some_and(|dm| m - dm < 6);
        let usage = 0.9 * (0.25 - self.eng) + 1.6 * drop;
        let support = -1.7 * self.svc;
        let nps = 1.0 * (0.2 - self.rel) + if detractor { 1.0 } else { 0.0 };
        let tenure_days = d - self.first_paid.unwrap_or(d);
        let z = -4.2 + [0.0, -0.4, -0.9][self.seg] + if tenure_days < 120 { 0.3 } else { 0.0 } + usage + support + nps;
        let (mut cause, mut top) = (Cause::Other, 0.5);
        for (c, v) in [(Cause::Usage, usage), (Cause::Support, support), (Cause::Nps, nps)] {
            if v > top {
                (cause, top) = (c, v);
            }
        }
        (rnd::sigmoid(z), cause)
    }

    /// The month's one decision for an active subscription: churn, accept a
    /// save offer, expand, contract, or nothing.
    fn decide(&mut self, phase: &mut Phase, d: i32, m: usize) {
        let Phase::Active(sub) = phase else { return };
        if sub.cancel_at.is_some() || d <= sub.last_event || d >= self.w.end_day {
            return;
        }
        // A customer who has decided to leave stops using the product first
        // and cancels a month or two later.
        if let Some((cause, months_left)) = self.intent {
            if months_left > 0 {
                self.intent = Some((cause, months_left - 1));
                return;
            }
            self.intent = None;
            if !sub.annual && sub.disc.is_none() && !sub.free && rnd::chance(&mut self.r, 0.15) {
                // The CSM saves the account with a three-month discount.
                let disc = Disc {
                    pct_bp: 3000,
                    amount: 0,
                    duration: DiscountDuration::Repeating,
                    ends: cal::add_months(d, 3),
                };
                let mut ev = self.sub_event(&sub.id, SubscriptionEventType::Change, d);
                ev.discount = Some(disc.entity());
                self.out.subscription_events.push(ev);
                sub.disc = Some(disc);
                sub.last_event = d;
                self.rel += 0.5;
                self.eng += 0.2;
                return;
            }
            let ends = sub.next_bill; // the end of the paid term
            self.cancel(sub, d, ends, cause);
            return;
        }
        let (hazard, cause) = self.hazard(m, d);
        let p = if sub.annual {
            // Annual customers decide once a term, two to four months before
            // renewal (and cancel the month after).
            if sub.next_bill - d > 60 && sub.next_bill - d <= 120 && sub.renewal_decided != sub.k {
                sub.renewal_decided = sub.k;
                1.0 - (1.0 - hazard).powi(6)
            } else {
                0.0
            }
        } else {
            hazard
        };
        if rnd::chance(&mut self.r, p) {
            let wait = if !sub.annual && rnd::chance(&mut self.r, 0.4) { 1 } else { 0 };
            self.intent = Some((cause, wait));
            return;
        }

        let h = self.health();
        let r = &mut self.r;
        if sub.free {
            if rnd::chance(r, 0.1 * rnd::sigmoid(2.0 * h)) {
                // Free to paid: billing re-anchors on the day of the change.
                sub.free = false;
                sub.tier = 0;
                sub.qty = self.seats;
                sub.unit = SEAT_PRICE[0][self.ci];
                let mut ev = self.sub_event(&sub.id, SubscriptionEventType::Change, d);
                ev.plan_id = Some(sub.plan_id().into());
                ev.unit_amount_cents = Some(sub.unit);
                ev.quantity = Some(sub.qty);
                self.out.subscription_events.push(ev);
                sub.anchor = d;
                sub.k = 0;
                sub.next_bill = d;
                sub.last_event = d;
            }
            return;
        }
        let x = rnd::unit(r);
        let p_seats_up = 0.07 * rnd::sigmoid(2.0 * h - 0.5);
        let p_upgrade = if sub.tier < 2 { 0.015 * rnd::sigmoid(2.0 * h) } else { 0.0 };
        let p_seats_down = 0.05 * rnd::sigmoid(-2.0 * h - 1.0);
        let p_downgrade = if sub.tier > 0 { 0.012 * rnd::sigmoid(-2.0 * h - 1.0) } else { 0.0 };
        let p_switch = if !sub.annual && h > 0.3 { 0.012 } else { 0.0 };
        if x < p_seats_up {
            let add = ((sub.qty as f64) * rnd::uniform(r, 0.1, 0.35)).round().max(1.0) as i64;
            self.seats = sub.qty + add;
            self.upgrade(sub, d, sub.tier, sub.qty + add);
        } else if x < p_seats_up + p_upgrade {
            self.upgrade(sub, d, sub.tier + 1, sub.qty);
        } else if x < p_seats_up + p_upgrade + p_seats_down {
            if sub.qty > 1 {
                let cut = ((sub.qty as f64) * rnd::uniform(r, 0.1, 0.3)).round().max(1.0) as i64;
                self.seats = (sub.qty - cut).max(1);
                sub.pending = Some(Pending::Terms { tier: sub.tier, qty: self.seats });
            }
        } else if x < p_seats_up + p_upgrade + p_seats_down + p_downgrade {
            sub.pending = Some(Pending::Terms { tier: sub.tier - 1, qty: sub.qty });
        } else if x < p_seats_up + p_upgrade + p_seats_down + p_downgrade + p_switch {
            sub.pending = Some(Pending::SwitchAnnual);
        }
    }

    /// Move a subscription to a tier and seat count on day `d`: a `change`
    /// event carrying only the terms that differ.
    fn change_terms(&mut self, sub: &mut Sub, d: i32, tier: usize, qty: i64) {
        let mut ev = self.sub_event(&sub.id, SubscriptionEventType::Change, d);
        if tier != sub.tier {
            sub.tier = tier;
            sub.unit = SEAT_PRICE[tier][self.ci] * if sub.annual { 10 } else { 1 };
            ev.plan_id = Some(sub.plan_id().into());
            ev.unit_amount_cents = Some(sub.unit);
        }
        if qty != sub.qty {
            sub.qty = qty;
            ev.quantity = Some(qty);
        }
        self.out.subscription_events.push(ev);
    }

    /// An expansion mid-term: the change takes effect now and the rest of the
    /// period is invoiced pro rata (the difference only).
    fn upgrade(&mut self, sub: &mut Sub, d: i32, tier: usize, qty: i64) {
        let old_net = sub.gross() - sub.discount_on(sub.gross(), sub.period_start, sub.billed <= 1);
        self.change_terms(sub, d, tier, qty);
        sub.last_event = d;
        sub.pending = None;
        // On the renewal day itself the new terms are simply billed.
        if sub.next_bill <= d || sub.billed == 0 {
            return;
        }
        let new_net = sub.gross() - sub.discount_on(sub.gross(), sub.period_start, sub.billed <= 1);
        let (remaining, period) = ((sub.next_bill - d) as i64, (sub.next_bill - sub.period_start) as i64);
        let amount = (new_net - old_net).max(0) * remaining / period.max(1);
        if amount <= 0 {
            return;
        }
        let line = LineItem {
            kind: LineItemType::Subscription,
            subscription_id: Some(sub.id.clone()),
            plan_id: Some(sub.plan_id().into()),
            service_period_start: Some(cal::date(d)),
            service_period_end: Some(cal::date(sub.next_bill)),
            amount_cents: amount,
            tax_cents: Some(self.tax(amount)),
            discount_cents: None,
            quantity: Some(sub.qty),
            prorated: true,
        };
        let total = amount + self.tax(amount);
        let txns =
            vec![txn(TransactionType::Payment, d as i64 * DAY + rnd::int(&mut self.r, 3600, 20 * 3600), total, true)];
        self.push_invoice(d, vec![line], txns);
    }

    /// Month end: support tickets of the month (they shape next month's
    /// service experience), the usage level, and the company totals.
    fn month_end(&mut self, phase: &Phase, m: usize, ms: i32, me: i32) {
        let (lo, hi) = self.access_in(ms, me);
        if lo < hi {
            self.tickets(m, lo, hi);
        }
        // Usage factor: a customer who has asked to leave winds down; a
        // trial that did not convert was half-hearted.
        let factor = match phase {
            Phase::Active(sub) if sub.cancel_at.is_some() => 0.5,
            Phase::Active(_) if self.intent.is_some() => 0.6,
            Phase::Gone { .. } if lo < hi => 0.5,
            Phase::Lost if lo < hi => 0.7,
            Phase::Active(sub) if sub.free => 0.6,
            _ => 1.0,
        };
        self.month_state.push((self.eng as f32, if lo < hi { factor } else { 0.0 }));
        if let Phase::Active(sub) = phase
            && sub.cancel_at.is_none_or(|c| c > me - 1)
        {
            self.out.subscribers[m] += 1;
            self.out.mrr_usd[m] += sub.mrr(me - 1) / 100.0 * self.w.fx[m][self.ci];
        }
    }

    /// The days of `ms..me` with access (at most one range per month).
    fn access_in(&self, ms: i32, me: i32) -> (i32, i32) {
        let (mut lo, mut hi) = (i32::MAX, i32::MIN);
        let open = self.access_since.map(|s| (s, i32::MAX));
        for &(a, b) in self.ranges.iter().rev().take(2).chain(open.iter()) {
            let (a, b) = (a.max(ms), b.min(me));
            if a < b {
                lo = lo.min(a);
                hi = hi.max(b);
            }
        }
        (lo, hi)
    }

    fn tickets(&mut self, m: usize, lo: i32, hi: i32) {
        let w = self.w;
        let frac = (hi - lo) as f64 / (w.month_start[m + 1] - w.month_start[m]) as f64;
        let onboarding = self.first_paid.is_none_or(|f| lo - f < 45);
        let lambda = (0.1 + 0.06 * (self.acc.users as f64).sqrt())
            * (1.0 + 0.5 * (-self.eng).max(0.0))
            * if onboarding { 1.8 } else { 1.0 }
            * frac;
        let n = rnd::poisson(&mut self.r, lambda);
        let load = w.support_load[m];
        let mut created: Vec<i64> = (0..n)
            .map(|_| {
                let day = weekday_biased_day(&mut self.r, lo, hi);
                working_time(&mut self.r, day, self.acc.tz_min).max(self.acc.created_s + 600)
            })
            .filter(|&t| t < w.end_s)
            .collect();
        created.sort_unstable(); // ticket ids follow creation
        for t in created {
            self.ticket(t, load);
        }
    }

    fn ticket(&mut self, created: i64, load: f64) {
        let end_s = self.w.end_s;
        let r = &mut self.r;
        let channel = ["email", "chat", "phone"][rnd::weighted(r, &[0.5, 0.35, 0.15])];
        let bot = (channel == "chat" && rnd::chance(r, 0.5)).then(|| created + rnd::int(r, 30, 600));
        let from = bot.unwrap_or(created);
        let unreplied = rnd::chance(r, 0.03);
        let frt = match channel {
            "email" => rnd::lognormal(r, 3.0 * 3600.0 * load, 1.0),
            "chat" => rnd::lognormal(r, 240.0 * load, 0.9),
            _ => rnd::uniform(r, 20.0, 90.0),
        } as i64;
        let first_reply = (!unreplied).then_some(from + frt).filter(|&t| t < end_s);
        let resolve =
            rnd::lognormal(r, if channel == "email" { 20.0 * 3600.0 } else { 1800.0 } * load.sqrt(), 1.2) as i64;
        let stuck = rnd::chance(r, 0.015 * load);
        let solved = (!stuck).then_some(first_reply.unwrap_or(from) + resolve).filter(|&t| t < end_s);
        let customer_replies =
            if rnd::chance(r, (0.55 / load.powf(0.3)).min(0.9)) { 0 } else { 1 + rnd::poisson(r, 1.0) as i64 };
        let replies = if first_reply.is_some() { 1 + customer_replies.min(3) + rnd::poisson(r, 0.3) as i64 } else { 0 };
        let reopens =
            if solved.is_some() && rnd::chance(r, 0.06 * load) { if rnd::chance(r, 0.2) { 2 } else { 1 } } else { 0 };
        let status = match solved {
            Some(s) if s + 4 * DAY < end_s => "closed",
            Some(_) => "solved",
            None if first_reply.is_none() => "new",
            None if rnd::chance(r, 0.5) => "pending",
            None => "open",
        };
        // What the customer lived through: this is what moves `svc`.
        let stale = solved.is_none() && end_s - created > 7 * DAY;
        let bad = frt > 24 * 3600 || reopens > 0 || stale || resolve > 5 * DAY;
        self.svc = (self.svc + if bad { -1.0 } else { 0.05 }).clamp(-2.5, 0.5);

        self.out.n_ticket += 1;
        let tid = id("tkt", self.out.n_ticket);
        // CSAT goes out for half the solved tickets (sampled against survey
        // fatigue); about 40 % answer.
        let mut satisfaction = None;
        if let Some(s) = solved
            && rnd::chance(&mut self.r, 0.5)
        {
            let submitted = (rnd::chance(&mut self.r, 0.4))
                .then(|| s + rnd::exp(&mut self.r, 6.0 * 3600.0) as i64)
                .filter(|&t| t < end_s);
            if let Some(at) = submitted {
                let weights: &[f64] = if bad { &[3.0, 3.0, 2.5, 1.0, 0.5] } else { &[0.2, 0.3, 1.0, 3.0, 6.0] };
                let mut score = 1 + rnd::weighted(&mut self.r, weights) as i64;
                let comment = rnd::chance(&mut self.r, 0.3).then(|| {
                    let tone = if score <= 2 {
                        0
                    } else if score == 3 {
                        1
                    } else {
                        2
                    };
                    rnd::pick(&mut self.r, COMMENTS[SUPPORT][tone]).to_string()
                });
                if rnd::chance(&mut self.r, 0.002) {
                    score = 6; // out of range: kept, rejected, not on the ticket
                } else {
                    satisfaction = Some(score as f64);
                }
                self.response(
                    "csat_support",
                    SurveyType::Csat,
                    (1, 5),
                    None,
                    None,
                    s,
                    Some(at),
                    Some(score as f64),
                    comment,
                );
            } else {
                self.response("csat_support", SurveyType::Csat, (1, 5), None, None, s, None, None, None);
            }
        }
        self.out.tickets.push(Ticket {
            id: tid,
            customer_id: Some(self.id.clone()),
            created_at: cal::ts(created),
            first_reply_at: first_reply.map(cal::ts),
            bot_handoff_at: bot.map(cal::ts),
            solved_at: solved.map(cal::ts),
            status: status.into(),
            replies: Some(replies),
            customer_replies: Some(customer_replies),
            reopens: Some(reopens),
            channel: Some(channel.into()),
            satisfaction,
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn response(
        &mut self,
        survey_id: &str,
        kind: SurveyType,
        scale: (i64, i64),
        ces_variant: Option<&str>,
        respondent: Option<u16>,
        sent_s: i64,
        submitted_s: Option<i64>,
        score: Option<f64>,
        comment: Option<String>,
    ) {
        self.out.n_response += 1;
        self.out.survey_responses.push(SurveyResponse {
            id: id("resp", self.out.n_response),
            survey_id: survey_id.into(),
            survey_type: kind,
            scale_min: scale.0,
            scale_max: scale.1,
            ces_variant: ces_variant.map(Into::into),
            respondent_id: respondent.map(|j| user_id(&self.num, j)),
            customer_id: Some(self.id.clone()),
            sent_at: Some(cal::ts(sent_s)),
            submitted_at: submitted_s.map(cal::ts),
            score,
            comment,
            count: 1,
            rejected_reason: score
                .filter(|s| *s < scale.0 as f64 || *s > scale.1 as f64)
                .map(|s| format!("score {s} is outside the scale {}-{}", scale.0, scale.1)),
        });
    }

    /// A quarterly NPS wave: half the accounts are sampled (people are not
    /// surveyed every quarter), a few users each.
    fn nps_wave(&mut self, day: i32, m: usize) {
        let Some(paid) = self.first_paid else { return };
        if day - paid < 30 || !rnd::chance(&mut self.r, 0.5) {
            return;
        }
        let cal_month = cal::month_of(day);
        let (y, _, _) = cal::civil_from_days(day);
        let survey = format!("nps_{y}_q{}", (cal_month - 1) / 3 + 1);
        let mut eligible: Vec<u16> =
            (0..self.acc.users).filter(|&j| user_join_s(&self.acc, j) < day as i64 * DAY).collect();
        let sends = eligible.len().min(1 + self.acc.users as usize / 10);
        let respond_p = 0.3 * (0.75 + 0.5 * rnd::sigmoid(self.rel + self.eng));
        for _ in 0..sends {
            // Each user at most once per wave.
            let k = rnd::int(&mut self.r, 0, eligible.len() as i64) as usize;
            let j = eligible.swap_remove(k);
            let sent = day as i64 * DAY + 14 * 3600 + rnd::int(&mut self.r, 0, 3600);
            let submitted = (rnd::chance(&mut self.r, respond_p))
                .then(|| sent + rnd::exp(&mut self.r, 1.5 * DAY as f64) as i64)
                .filter(|&t| t < self.w.end_s);
            let Some(sub_at) = submitted else {
                self.response(&survey, SurveyType::Nps, (0, 10), None, Some(j), sent, None, None, None);
                continue;
            };
            if rnd::chance(&mut self.r, 0.03) {
                // Opened the survey and skipped the question.
                self.response(&survey, SurveyType::Nps, (0, 10), None, Some(j), sent, Some(sub_at), None, None);
                continue;
            }
            let raw = 7.5 + 1.6 * self.rel + 0.7 * self.eng + 0.9 * self.svc + 1.3 * rnd::normal(&mut self.r);
            let mut score = raw.round().clamp(0.0, 10.0);
            if score <= 6.0 {
                self.last_detractor = Some(m);
            }
            let comment = rnd::chance(&mut self.r, 0.5).then(|| self.comment(score));
            if rnd::chance(&mut self.r, 0.002) {
                score = 11.0; // a broken survey widget: kept but rejected
            }
            self.response(&survey, SurveyType::Nps, (0, 10), None, Some(j), sent, Some(sub_at), Some(score), comment);
        }
    }

    /// A comment whose theme follows what the customer is living through and
    /// whose tone follows the score.
    fn comment(&mut self, score: f64) -> String {
        let mut weights = [1.0; 6];
        weights[SUPPORT] += 4.0 * (-self.svc).max(0.0);
        weights[ONBOARDING] += 2.0 * (-self.eng).max(0.0);
        weights[PERFORMANCE] += 1.5 * (-self.eng).max(0.0);
        weights[REPORTING] += 0.5;
        if score <= 6.0 {
            weights[PRICING] += 1.5;
        } else {
            weights[INTEGRATIONS_THEME] += 0.5;
        }
        let theme = rnd::weighted(&mut self.r, &weights);
        let tone = if score <= 6.0 {
            0
        } else if score <= 8.0 {
            1
        } else {
            2
        };
        rnd::pick(&mut self.r, COMMENTS[theme][tone]).to_string()
    }

    /// A customer-effort survey to the admin a month after the first start.
    fn onboarding_ces(&mut self, start: i32) {
        let sent = (start + 30) as i64 * DAY + 15 * 3600;
        if sent >= self.w.end_s || !rnd::chance(&mut self.r, 0.5) {
            return;
        }
        let variant = Some("ces2_agreement_1_7");
        if rnd::chance(&mut self.r, 0.4) {
            let at = sent + rnd::exp(&mut self.r, DAY as f64) as i64;
            if at < self.w.end_s {
                let score = (4.8 + 1.2 * self.eng_base + rnd::normal(&mut self.r)).round().clamp(1.0, 7.0);
                let comment = rnd::chance(&mut self.r, 0.3).then(|| {
                    let tone = if score <= 3.0 {
                        0
                    } else if score <= 5.0 {
                        1
                    } else {
                        2
                    };
                    rnd::pick(&mut self.r, COMMENTS[ONBOARDING][tone]).to_string()
                });
                self.response(
                    "ces_onboarding",
                    SurveyType::Ces,
                    (1, 7),
                    variant,
                    Some(0),
                    sent,
                    Some(at),
                    Some(score),
                    comment,
                );
                return;
            }
        }
        self.response("ces_onboarding", SurveyType::Ces, (1, 7), variant, Some(0), sent, None, None, None);
    }

    /// After the simulation: orders, the usage plan.
    fn finish(&mut self, arrival_m: usize) {
        self.orders();
        let w = self.w;
        self.acc.last_day = self.ranges.last().map_or(self.acc.first_day + 1, |r| r.1);
        for m in 0..w.months {
            let (ms, me) = (w.month_start[m], w.month_start[m + 1]);
            let mut cell = Monthly::default();
            if m >= arrival_m {
                let (eng, factor) = self.month_state[m - arrival_m];
                let (lo, hi) = ranges_in(&self.ranges, ms, me);
                if factor > 0.0 && lo < hi {
                    // Onboarding ramp, then engagement; December is quiet,
                    // and so is August in Europe.
                    let age = m - arrival_m;
                    let ramp = [0.55, 0.85][..].get(age).copied().unwrap_or(1.0);
                    let season = match cal::month_of(ms) {
                        12 => 0.8,
                        8 if self.ci != 0 => 0.85,
                        _ => 1.0,
                    };
                    let level = 32.0 * (0.8 * eng as f64).exp() * factor as f64 * ramp * season;
                    cell = Monthly {
                        level: level.round().clamp(1.0, 255.0) as u8,
                        from: (lo - ms) as u8,
                        to: (hi - ms) as u8,
                    };
                }
            }
            self.out.monthly.push(cell);
        }
        self.out.accounts.push(self.acc.clone());
        debug_assert_eq!(self.out.accounts.len(), self.idx + 1);
    }

    /// Add-on packs bought by some accounts while subscribed: a BG/NBD-like
    /// process (each buyer has a purchase rate and may stop buying after any
    /// purchase), for the repeat-purchase and CLV models.
    fn orders(&mut self) {
        let Some(paid) = self.first_paid else { return };
        let r = &mut self.r;
        if !rnd::chance(r, [0.3, 0.35, 0.2][self.seg]) {
            return;
        }
        let rate_per_day = rnd::gamma(r, 0.8, 0.5) / 30.0;
        let p_stop = rnd::beta(r, 1.0, 4.0);
        let mean = rnd::gamma(r, 3.0, [4_000.0, 9_000.0, 25_000.0][self.seg] / 3.0);
        let ranges = std::mem::take(&mut self.ranges);
        'outer: for &(a, b) in &ranges {
            let mut t = a.max(paid) as f64;
            loop {
                t += rnd::exp(&mut self.r, 1.0 / rate_per_day.max(1e-4));
                if t >= b as f64 {
                    break;
                }
                let day = t as i32;
                let n = if rnd::chance(&mut self.r, 0.03) { 2 } else { 1 };
                for _ in 0..n {
                    let amount = (rnd::gamma(&mut self.r, 4.0, mean / 4.0) / 100.0).round().max(9.0) as i64 * 100 - 1;
                    let cost = (amount as f64 * rnd::uniform(&mut self.r, 0.25, 0.4)) as i64;
                    self.out.n_order += 1;
                    self.out.orders.push(Order {
                        id: id("ord", self.out.n_order),
                        customer_id: self.id.clone(),
                        date: cal::date(day),
                        amount_cents: amount,
                        currency: Some(self.cur),
                        cost_cents: Some(cost),
                    });
                }
                if rnd::chance(&mut self.r, p_stop) {
                    break 'outer;
                }
            }
        }
        self.ranges = ranges;
    }
}

fn ranges_in(ranges: &[(i32, i32)], ms: i32, me: i32) -> (i32, i32) {
    let (mut lo, mut hi) = (i32::MAX, i32::MIN);
    for &(a, b) in ranges {
        let (a, b) = (a.max(ms), b.min(me));
        if a < b {
            lo = lo.min(a);
            hi = hi.max(b);
        }
    }
    (lo, hi)
}

fn txn(kind: TransactionType, at: i64, amount: i64, ok: bool) -> Transaction {
    Transaction {
        kind,
        date: cal::ts(at),
        amount_cents: amount,
        result: if ok { "successful" } else { "failed" }.into(),
    }
}

/// Monthly spend in USD: acquisition follows new customers (CAC by segment),
/// customer success follows the book, COGS follows revenue.
fn costs(w: &World, out: &mut Out, g: &mut R, customers: usize) {
    let scale = customers as f64 / 2000.0;
    for m in 0..w.months {
        let month = cal::date(w.month_start[m]).first_of_month();
        let new = out.new_customers[m];
        let cac = [60_000.0, 350_000.0, 1_500_000.0];
        let sm =
            (0..3).map(|s| new[s] as f64 * cac[s]).sum::<f64>() * rnd::uniform(g, 0.85, 1.15) + 1_500_000.0 * scale;
        let cs = out.subscribers[m] as f64 * 2_500.0 + 800_000.0 * scale;
        let cogs = out.mrr_usd[m] * 100.0 * rnd::uniform(g, 0.17, 0.22) + out.subscribers[m] as f64 * 50.0;
        for (category, amount) in [("sales_marketing", sm), ("customer_success", cs), ("cogs", cogs)] {
            out.costs.push(Cost {
                month,
                category: category.into(),
                amount_cents: amount.round() as i64,
                currency: Currency::USD,
            });
        }
    }
}
