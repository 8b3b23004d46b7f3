//! Product usage events in Segment's shape, streamed in chunks.
//!
//! The simulation left, per customer, a compact usage plan: how intense each
//! month was (engagement, winding down after a cancel request...) and which
//! days had access. This pass turns it into people and sessions:
//!
//! * each account has a fixed set of tracked users who join over time
//!   (`identify` with `created_at`), one `group` call, and per-user intensity
//!   (a few power users, many casual ones);
//! * in a month a user is active with a probability that rises with the
//!   account's level, and does a number of events proportional to the level:
//!   so both active users and events per active user fall when engagement
//!   falls (the signal that precedes churn);
//! * events come in sessions (a burst a minute or so apart, on working days,
//!   in working hours of the account's time zone), a few per week.
//!
//! A first pass adds up the expected events of every user-month so that the
//! whole stream can be scaled to `cfg.events`; nothing is held but one chunk.

use serde_json::{Map, Value};
use tenure_model::{UsageEvent, UsageEventType};

use crate::DemoConfig;
use crate::cal::{self, DAY};
use crate::rnd::{self, R};
use crate::sim::{Account, Monthly, ascii_fold, company_name, email_domain, user_id, user_join_s};
use crate::world::*;

/// What the event pass keeps from the simulation.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct UsagePlan {
    pub month_start: Vec<i32>,
    pub end_s: i64,
    /// Digits of customer numbers.
    pub width: usize,
    pub accounts: Vec<Account>,
    /// `accounts.len() x months`, row per account.
    pub monthly: Vec<Monthly>,
}

impl UsagePlan {
    fn months(&self) -> usize {
        self.month_start.len().saturating_sub(1)
    }
}

/// Per-user intensity: the admin and a few power users do most of the work.
fn intensities(seed: u64, c: usize, users: u16, out: &mut Vec<f64>) {
    let mut r = rnd::rng_for(seed, c, rnd::STREAM_USERS);
    out.clear();
    out.extend((0..users).map(|j| rnd::lognormal(&mut r, 1.0, 0.7) * if j == 0 { 1.6 } else { 1.0 }));
}

fn p_active(level: f64) -> f64 {
    (0.2 + 0.5 * level.sqrt()).min(0.95)
}

/// The user-months of one account, in order: (user, month, level, first
/// day, end day) with the days clipped to the user's join.
fn user_months<'a>(
    plan: &'a UsagePlan,
    c: usize,
    acc: &'a Account,
    users: u16,
) -> impl Iterator<Item = (u16, usize, f64, i32, i32)> + 'a {
    let months = plan.months();
    let row = &plan.monthly[c * months..(c + 1) * months];
    (0..users).flat_map(move |j| {
        let join_day = user_join_s(acc, j).div_euclid(DAY) as i32;
        row.iter().enumerate().filter_map(move |(m, cell)| {
            if cell.level == 0 {
                return None;
            }
            let ms = plan.month_start[m];
            let lo = (ms + cell.from as i32).max(join_day);
            let hi = ms + cell.to as i32;
            (lo < hi).then_some((j, m, cell.level as f64 / 32.0, lo, hi))
        })
    })
}

/// Whether user `j` ever appears (joins before the account's access ends).
fn appears(acc: &Account, j: u16) -> bool {
    user_join_s(acc, j) < acc.last_day as i64 * DAY
}

pub(crate) fn stream(cfg: &DemoConfig, plan: &UsagePlan, chunk: usize, mut sink: impl FnMut(Vec<UsageEvent>)) -> u64 {
    if cfg.events == 0 || plan.accounts.is_empty() {
        return 0;
    }
    let chunk = chunk.max(1);
    // Small budgets per account go to few users (a benchmark with ten events
    // per account tracks one user each) rather than one event to everyone.
    let cap = (cfg.events as f64 / plan.accounts.len() as f64 / 60.0).clamp(1.0, 60.0) as u16;

    // Pass 1: identify/group calls are fixed; track and page calls share the
    // rest of the budget in proportion to each user-month's expected weight.
    let mut overhead = 0u64;
    let mut mass = 0.0;
    let mut int = Vec::new();
    for (c, acc) in plan.accounts.iter().enumerate() {
        let users = acc.users.min(cap);
        intensities(cfg.seed, c, users, &mut int);
        overhead += 1 + (0..users).filter(|&j| appears(acc, j)).count() as u64;
        for (j, m, level, lo, hi) in user_months(plan, c, acc, users) {
            let dim = (plan.month_start[m + 1] - plan.month_start[m]) as f64;
            mass += p_active(level) * level * int[j as usize] * (hi - lo) as f64 / dim;
        }
    }
    let budget = (cfg.events as f64 - overhead as f64).max(0.0);
    let factor = if mass > 0.0 { budget / mass } else { 0.0 };

    // Pass 2: generate, flushing every `chunk` events.
    let mut g = Gen { buf: Vec::with_capacity(chunk), chunk, total: 0 };
    let (mut feats, mut counters, mut users) = (Vec::new(), Vec::new(), Vec::new());
    for (c, acc) in plan.accounts.iter().enumerate() {
        let mut r = rnd::rng_for(cfg.seed, c, rnd::STREAM_EVENTS);
        let tracked = acc.users.min(cap);
        intensities(cfg.seed, c, tracked, &mut int);
        let num = format!("{:0width$}", c + 1, width = plan.width);
        let group = format!("cus_{num}");
        let domain = email_domain(acc.name_a, acc.name_b, acc.country);
        // Features this account uses, as cumulative weights.
        feats.clear();
        let mut cum = 0.0;
        for (i, f) in FEATURES.iter().enumerate() {
            if acc.features & (1 << i) != 0 {
                cum += f.1;
                feats.push((cum, i));
            }
        }
        users.clear();
        users.extend((0..tracked).map(|j| user_id(&num, j)));
        counters.clear();
        counters.resize(tracked as usize, 0u64);
        let ctx = Ctx { c, group: &group, feats: &feats, feat_total: cum };

        // The account: one group call by its admin at sign-up.
        let mut traits = Map::new();
        traits.insert("name".into(), Value::from(company_name(acc.name_a, acc.name_b, acc.country)));
        traits.insert("plan".into(), Value::from(TIERS[acc.tier as usize]));
        traits.insert("industry".into(), Value::from(INDUSTRIES[acc.industry as usize]));
        let mut e = ctx.event(UsageEventType::Group, &users[0], 0, &mut counters[0], acc.created_s + 5);
        e.traits = Some(traits);
        g.push(e, &mut sink);

        // People: identify at creation.
        for j in 0..tracked {
            if !appears(acc, j) {
                continue;
            }
            let at = user_join_s(acc, j);
            let first = FIRST_NAMES[(c * 7 + j as usize * 13) % FIRST_NAMES.len()];
            let last = LAST_NAMES[(c * 11 + j as usize * 5) % LAST_NAMES.len()];
            let mut traits = Map::new();
            traits.insert("created_at".into(), Value::from(cal::ts(at).to_string()));
            traits.insert(
                "email".into(),
                Value::from(format!("{}.{}{}@{domain}", first.to_lowercase(), ascii_fold(last), j + 1)),
            );
            traits.insert("name".into(), Value::from(format!("{first} {last}")));
            if j == 0 {
                traits.insert("role".into(), Value::from("admin"));
            }
            let mut e = ctx.event(UsageEventType::Identify, &users[j as usize], j, &mut counters[j as usize], at);
            e.traits = Some(traits);
            g.push(e, &mut sink);
        }

        // Activity: sessions per user-month.
        for (j, m, level, lo, hi) in user_months(plan, c, acc, tracked) {
            if !rnd::chance(&mut r, p_active(level)) {
                continue;
            }
            let dim = (plan.month_start[m + 1] - plan.month_start[m]) as f64;
            let n = rnd::stochastic_round(&mut r, factor * level * int[j as usize] * (hi - lo) as f64 / dim);
            if n == 0 {
                continue;
            }
            let join_s = user_join_s(acc, j);
            let limit = (hi as i64 * DAY).min(plan.end_s) - 1;
            let sessions = ((n + 2) / 5).clamp(1, 3 * (hi - lo) as u64);
            let (base, extra) = (n / sessions, n % sessions);
            for s in 0..sessions {
                let size = base + u64::from(s < extra);
                let day = session_day(&mut r, lo, hi);
                let local = if rnd::chance(&mut r, 0.5) {
                    rnd::uniform(&mut r, 8.0, 12.0)
                } else {
                    rnd::uniform(&mut r, 13.0, 18.0)
                };
                let mut t = (day as i64 * DAY + (local * 3600.0) as i64 - acc.tz_min as i64 * 60).max(join_s + 60);
                for _ in 0..size {
                    let at = t.min(limit);
                    let e = ctx.activity(&mut r, &users[j as usize], j, &mut counters[j as usize], at);
                    g.push(e, &mut sink);
                    t += 5 + rnd::exp(&mut r, 75.0) as i64;
                }
            }
        }
    }
    g.flush(&mut sink);
    g.total
}

/// A day in `lo..hi`, weekends much quieter.
fn session_day(r: &mut R, lo: i32, hi: i32) -> i32 {
    for _ in 0..6 {
        let d = rnd::int(r, lo as i64, hi as i64) as i32;
        if !cal::is_weekend(d) || rnd::chance(r, 0.12) {
            return d;
        }
    }
    rnd::int(r, lo as i64, hi as i64) as i32
}

struct Gen {
    buf: Vec<UsageEvent>,
    chunk: usize,
    total: u64,
}

impl Gen {
    fn push(&mut self, e: UsageEvent, sink: &mut impl FnMut(Vec<UsageEvent>)) {
        self.buf.push(e);
        self.total += 1;
        if self.buf.len() >= self.chunk {
            self.flush(sink);
        }
    }
    fn flush(&mut self, sink: &mut impl FnMut(Vec<UsageEvent>)) {
        if !self.buf.is_empty() {
            let full = std::mem::replace(&mut self.buf, Vec::with_capacity(self.chunk));
            sink(full);
        }
    }
}

struct Ctx<'a> {
    c: usize,
    group: &'a str,
    feats: &'a [(f64, usize)],
    feat_total: f64,
}

impl Ctx<'_> {
    fn event(&self, kind: UsageEventType, user: &str, j: u16, counter: &mut u64, at: i64) -> UsageEvent {
        *counter += 1;
        // "m{customer}-{user}-{n}": unique, and no formatting machinery.
        let mut message_id = String::with_capacity(24);
        message_id.push('m');
        cal::push_u64(&mut message_id, self.c as u64 + 1);
        message_id.push('-');
        cal::push_u64(&mut message_id, j as u64 + 1);
        message_id.push('-');
        cal::push_u64(&mut message_id, *counter);
        UsageEvent {
            message_id,
            kind,
            user_id: Some(user.to_string()),
            anonymous_id: None,
            event: None,
            name: None,
            timestamp: cal::ts(at),
            group_id: Some(self.group.to_string()),
            properties: None,
            traits: None,
            context: None,
        }
    }

    /// A track call on one of the account's features, or a page view.
    fn activity(&self, r: &mut R, user: &str, j: u16, counter: &mut u64, at: i64) -> UsageEvent {
        let x = rnd::unit(r);
        let mut e;
        if x < 0.18 || self.feats.is_empty() {
            e = self.event(UsageEventType::Page, user, j, counter, at);
            e.name = Some(PAGES[rnd::weighted(r, &PAGE_WEIGHTS)].to_string());
        } else {
            e = self.event(UsageEventType::Track, user, j, counter, at);
            let y = rnd::unit(r) * self.feat_total;
            let f = self.feats.iter().find(|(cum, _)| y < *cum).unwrap_or(&self.feats[self.feats.len() - 1]).1;
            let name = FEATURES[f].0;
            e.event = Some(name.to_string());
            // A few events carry a property worth breaking down by.
            let prop = match name {
                "Export Run" => Some(("format", *rnd::pick(r, &EXPORT_FORMATS))),
                "Integration Connected" => Some(("integration", *rnd::pick(r, &INTEGRATIONS))),
                "Report Created" => Some(("template", *rnd::pick(r, &TEMPLATES))),
                _ => None,
            };
            if let Some((k, v)) = prop {
                let mut p = Map::new();
                p.insert(k.into(), Value::from(v));
                e.properties = Some(p);
            }
        }
        // Some SDKs (server-side libraries) send the account in the context.
        if rnd::chance(r, 0.05) {
            let mut ctx = Map::new();
            ctx.insert("groupId".into(), Value::from(self.group));
            e.context = Some(ctx);
        }
        e
    }
}
