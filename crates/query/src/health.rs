//! Health scores and alerts over a workspace (SPEC 2.5): loads the data once,
//! computes every account's measure inputs as of a date from the metric
//! families of `tenure-metrics`, scores them with the scorecard
//! (`--scorecard FILE`, else `[health]` of `tenure.toml`, else the default
//! one), and keeps overrides and alert tasks in the workspace.
//!
//! Inputs of an account as of day D (local days in the workspace time zone;
//! "90d" = the 90 days ending with D):
//!
//! | input | from |
//! |---|---|
//! | `active_users_30d`, `dau_mau_ratio`, `usage_trend_pct` | usage events ([`AccountActivity`]) |
//! | `seat_utilization_pct` | `active_users_30d` / the customer attribute `seats` (else `seats_purchased`) x 100 |
//! | `feature_adoption_pct` | features the account used in D-29..D / features any account used x 100 (adoption, SPEC 2.2) |
//! | `nps`, `csat_pct` | the account's answers submitted in the 365 days ending with D (SPEC 2.3) |
//! | `open_tickets` | tickets created by D and not solved by D |
//! | `tickets_90d`, `slow_tickets_90d` | tickets created in 90d; slow = first reply later than `[support] first_response_target` (24 h) after creation, or none yet by then; on the clock of the scorecard's `slow_tickets_clock`: `calendar` (default) or `business` (only `[support]` business hours count) |
//! | `failed_payments_90d` | failed `payment` transactions of its invoices dated in 90d |
//! | `past_due` | 1 when a subscription is past due at the end of D, else 0 |
//! | `mrr_cents`, `mrr_change_pct_90d` | the MRR ledger (SPEC 2.1): MRR at the end of D, and its % change from 90 days before |
//! | `days_to_renewal` | days from D to the end of the current term of its nearest live subscription |
//! | `tenure_days` | days since its first New Business |
//! | any customer attribute | `plan_tier`, `segment`, `country`, `owner`, or an extra attribute (`csm_pulse`, ...) |
//!
//! A family with no data in the workspace at all (no tickets imported, say)
//! gives missing inputs, which the scorecard re-weights away; an account
//! without tickets in a workspace that has tickets has 0 open tickets.
//! Scored accounts are the subscribers at the end of D (every customer when
//! the workspace has no billing data).

mod alerts;
mod book;
mod facts;
mod parallel;
mod webhook;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, anyhow, bail};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tenure_metrics::engagement::events::date_to_day;
use tenure_metrics::engagement::{AccountFeatures, Breadth, EventTable, Interner};
/// An account's manual override, as [`set_override`] takes it.
pub use tenure_metrics::health::Override;
use tenure_metrics::health::{self, AccountActivity, AccountScore, InputValue, Inputs, Scorecard, SlowTicketClock};
use tenure_metrics::revenue::{self, FxTable, Ledger, Rules, month_idx};
use tenure_metrics::round::round_dp;
use tenure_metrics::{support, voice};
use tenure_model::business_hours::BusinessHours;
use tenure_model::{Customer, SurveyResponse, SurveyType};
use tenure_store::Workspace;

pub use self::alerts::{
    Evaluation, Reason, Task, evaluate_alerts, evaluate_alerts_after_ingest, evaluate_alerts_if_configured, redeliver,
    tasks, update_task,
};
use self::parallel::par_chunks;
pub use self::webhook::Delivery;
use crate::filter::{NONE, attribute};

/// The directory of the workspace that holds overrides and alert tasks.
pub const HEALTH_DIR: &str = "health";
const OVERRIDES_FILE: &str = "overrides.json";

/// Where the scorecard came from, for the output header.
pub fn load_scorecard(ws: &Workspace, file: Option<&Path>) -> Result<(Scorecard, String)> {
    if let Some(path) = file {
        let text = fs_err::read_to_string(path)?;
        // The file may hold the keys at the top level or under [health].
        let mut table: toml::Table =
            toml::from_str(&text).map_err(|e| anyhow!("{}: not valid TOML: {}", path.display(), e.message()))?;
        if let Some(toml::Value::Table(h)) = table.remove("health") {
            table = h;
        }
        let card = Scorecard::from_table(table).map_err(|e| anyhow!("{}: {e}", path.display()))?;
        return Ok((card, path.display().to_string()));
    }
    match &ws.settings().health {
        Some(t) => {
            let card = Scorecard::from_table(t.clone())
                .map_err(|e| anyhow!("{} [health]: {e}", ws.root().join(tenure_store::SETTINGS_FILE).display()))?;
            Ok((card, "tenure.toml [health]".into()))
        }
        None => Ok((Scorecard::default_scorecard(), "default".into())),
    }
}

/// Everything the inputs are computed from, loaded once: per account only
/// what the inputs read (see [`facts`]), so that 1,000,000 customers fit in
/// a few GiB.
pub struct HealthData {
    tz: TimeZone,
    /// Packed, looked up by id (a scan per lookup was quadratic: hours at
    /// 1,000,000 customers).
    customers: book::CustomerBook,
    tickets: facts::PerAccount<facts::TicketFacts>,
    has_tickets: bool,
    /// `[support]`'s schedule and first-reply target, checked when slow tickets are counted.
    business_hours: Result<BusinessHours, String>,
    first_response_target: Result<i64, String>,
    answers: facts::PerAccount<facts::AnswerFacts>,
    failed_payments: HashMap<String, Vec<Timestamp>>,
    has_invoices: bool,
    /// Sorted by customer id (as [`revenue::build_all`] returns it).
    ledger: Ledger,
    fx: FxTable,
    /// Whether the workspace has any event (without, usage inputs are missing, not 0).
    has_events: bool,
    /// The events files and the UTC day each holds, read a window at a time.
    event_files: Vec<(PathBuf, Option<i32>)>,
    /// The workspace, to list its files again when some of those are gone.
    root: PathBuf,
    /// The usage window last read (at first the one around the last day).
    usage: Mutex<Option<Arc<Usage>>>,
    last_day: Option<Date>,
}

/// How many days of adoption a [`Usage`] keeps (a history is 31 days).
const ADOPTION_DAYS_KEPT: usize = 64;

/// The usage inputs need the events of the 60 days up to the day scored
/// (`usage_trend_pct` compares D-29..D with D-59..D-30).
const USAGE_DAYS: i32 = 60;

/// What the usage inputs read of the events of a window of local days:
/// each account's active person-days and feature-days, not the events (at
/// 100 M events the whole table is ~4 GiB, and a day's inputs need 60 days of
/// it; the window's table is let go once these are built).
struct Usage {
    /// The local days whose events are all in.
    days: (i32, i32),
    /// The last local day of any event read.
    last_day: Option<i32>,
    /// Account ids of `features`.
    accounts: Interner,
    activity: AccountActivity,
    features: AccountFeatures,
    /// Adoption breadth of the 30 days up to each day asked for, asked again
    /// for each day of every account's history.
    breadth_by_day: Mutex<HashMap<i32, Arc<Breadth>>>,
}

impl Usage {
    fn new(days: (i32, i32), events: &EventTable) -> Usage {
        Usage {
            days,
            last_day: events.day_span().map(|s| s.1),
            accounts: events.accounts.clone(),
            activity: AccountActivity::build(events),
            features: AccountFeatures::build(events),
            breadth_by_day: Mutex::new(HashMap::new()),
        }
    }

    /// Whether the inputs of `day` can be read from this window.
    fn covers(&self, day: i32) -> bool {
        self.days.0 <= day - (USAGE_DAYS - 1) && day <= self.days.1
    }

    /// Adoption breadth over the 30 days up to `day`, computed once per day.
    fn breadth_up_to(&self, day: i32) -> Arc<Breadth> {
        let kept = |m: &std::sync::MutexGuard<'_, HashMap<i32, Arc<Breadth>>>| m.get(&day).cloned();
        if let Some(a) = kept(&self.breadth_by_day.lock().unwrap_or_else(|p| p.into_inner())) {
            return a;
        }
        let a = Arc::new(self.features.breadth(day - 29, day + 1));
        let mut m = self.breadth_by_day.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= ADOPTION_DAYS_KEPT {
            m.clear();
        }
        m.insert(day, a.clone());
        a
    }
}

impl HealthData {
    pub fn load(ws: &Workspace) -> Result<HealthData> {
        let settings = ws.settings();
        let tzname = &settings.workspace.timezone;
        let tz = TimeZone::get(tzname).with_context(|| format!("time zone {tzname}"))?;
        // First the events of the days around the last one (the default
        // evaluation day, its look-back and their usage windows), or every
        // event if a dashboard page has read them already: their table is
        // let go once the usage figures are built, before anything else is
        // read, so that what comes next reuses its room.
        let event_files = crate::engagement::event_file_days(ws);
        let has_events = ws.rows("events") > 0;
        let usage = match crate::engagement::loaded_events(ws, &tz) {
            Some(all) => Some(Usage::new((i32::MIN, i32::MAX), &all)),
            None => match event_files.iter().filter_map(|f| f.1).max() {
                Some(last) => {
                    let look_back = load_scorecard(ws, None).map_or(30, |c| c.0.look_back_days as i64);
                    Some(read_usage(&event_files, &tz, last, look_back)?)
                }
                None if has_events => {
                    Some(read_usage(&event_files, &tz, date_to_day(Timestamp::now().to_zoned(tz.clone()).date()), 30)?)
                }
                None => None,
            },
        };

        // Then the ledger, from the revenue report's inputs: the same ledger
        // as from every invoice row (only the invoice lines that can change
        // MRR are built); failed payments are read from the transaction
        // columns. The inputs are dropped once the ledger is built, not kept
        // in the shared cache (at 1,000,000 customers their subscription
        // events alone are ~0.6 GiB), and read before anything else is kept,
        // so that what comes next reuses their room.
        let (ledger, fx, last_billing_day) = {
            let rev = crate::ledger::RevenueData::load_for_revenue(ws)?;
            let rules = Rules::from_settings(&settings.revenue).map_err(|e| anyhow!("{e}"))?;
            let fx = rev.fx(settings.workspace.reporting_currency);
            let ledger = rev.ledger(&rules, &fx)?;
            let last = rev.events.iter().map(|e| e.date).max().max(rev.invoice_dates.map(|d| d.1));
            (ledger, fx, last)
        };
        let customers = book::CustomerBook::read(ws)?;
        let tickets = facts::tickets(ws)?;
        let answers = facts::answers(ws)?;
        let failed_payments = facts::failed_payments(ws)?;
        // A local day never comes before an earlier instant's, so the latest
        // instant gives the latest day (the window read holds it).
        let local = |t: Timestamp| t.to_zoned(tz.clone()).date();
        let last_day = [
            usage.as_ref().and_then(|u| u.last_day).map(tenure_metrics::engagement::events::day_to_date),
            last_billing_day,
            tickets.latest.map(local),
            answers.latest.map(local),
        ]
        .into_iter()
        .flatten()
        .max();
        Ok(HealthData {
            tz,
            customers,
            has_tickets: tickets.rows > 0,
            tickets,
            business_hours: BusinessHours::from_settings(&settings.support, tzname),
            first_response_target: settings.support.first_response_target_seconds(),
            answers,
            failed_payments,
            has_invoices: ws.rows("invoices") > 0,
            ledger,
            fx,
            has_events,
            event_files,
            root: ws.root().to_path_buf(),
            usage: Mutex::new(usage.map(Arc::new)),
            last_day,
        })
    }

    /// [`HealthData::load`], shared per workspace state ([`crate::cache`]):
    /// the accounts list and every account page score from one copy.
    pub fn shared(ws: &Workspace) -> Result<Arc<HealthData>> {
        crate::cache::shared(ws, "health-data", || HealthData::load(ws))
    }

    /// The default evaluation day: the last day with any data (a workspace
    /// imported from a snapshot is scored as of its snapshot), never after today.
    pub fn default_as_of(&self) -> Date {
        let today = Timestamp::now().to_zoned(self.tz.clone()).date();
        self.last_day.map_or(today, |d| d.min(today))
    }

    pub fn customer(&self, id: &str) -> Option<Customer> {
        self.customers.get(id)
    }

    /// The account's revenue ledger, if it has one.
    fn customer_ledger(&self, id: &str) -> Option<&revenue::CustomerLedger> {
        let l = &self.ledger.customers;
        l.binary_search_by(|c| c.customer_id.as_str().cmp(id)).ok().map(|i| &l[i])
    }

    /// The accounts scored as of `as_of`: subscribers at the end of the day,
    /// or every customer when there is no billing data.
    pub fn accounts(&self, as_of: Date) -> Vec<String> {
        if self.ledger.customers.is_empty() {
            return self.customers.ids().map(str::to_string).collect();
        }
        let mut v: Vec<String> = self
            .ledger
            .customers
            .iter()
            .filter(|c| c.state_on(as_of).is_some_and(|s| s.subscriber))
            .map(|c| c.customer_id.clone())
            .collect();
        v.sort();
        v
    }

    /// The usage window that holds the inputs of local day `day`: the one
    /// last read if it does, else the window around `day` and the look-back
    /// before it, read now (the one last read is then let go).
    fn usage(&self, day: i32, look_back_days: i64) -> Result<Option<Arc<Usage>>> {
        if !self.has_events {
            return Ok(None);
        }
        let mut kept = self.usage.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(u) = kept.as_ref().filter(|u| u.covers(day)) {
            return Ok(Some(u.clone()));
        }
        *kept = None;
        let u = match read_usage(&self.event_files, &self.tz, day, look_back_days) {
            Ok(u) => u,
            // Since this data was loaded, a commit may have merged some of a
            // day's files and a later writer removed them (a server keeps its
            // data while the ingest compactor commits): read the files the
            // workspace lists now. A merge keeps every row; days with newer
            // events are read with them.
            Err(_) if self.event_files.iter().any(|(path, _)| !path.exists()) => {
                let files = crate::engagement::event_file_days(&Workspace::open(&self.root)?);
                read_usage(&files, &self.tz, day, look_back_days)?
            }
            Err(e) => return Err(e),
        };
        let u = Arc::new(u);
        *kept = Some(u.clone());
        Ok(Some(u))
    }

    /// Compute what the daily histories of the default evaluation need (the
    /// adoption of each day from the look-back to the evaluation day), so
    /// that account pages find it ready.
    pub fn warm_history(&self, ws: &Workspace) -> Result<()> {
        let (card, _) = load_scorecard(ws, None)?;
        let as_of = self.default_as_of();
        let mut d = as_of.checked_sub((card.look_back_days as i64).days())?;
        while d <= as_of {
            let Some(usage) = self.usage(date_to_day(d), card.look_back_days as i64)? else { break };
            usage.breadth_up_to(date_to_day(d));
            d = d.tomorrow()?;
        }
        Ok(())
    }

    /// Each account's inputs as of the end of `as_of` (the scorecard says
    /// which clock counts slow tickets).
    pub fn inputs(&self, card: &Scorecard, accounts: &[String], as_of: Date) -> Result<BTreeMap<String, Inputs>> {
        let day = self.day(card, as_of)?;
        accounts.iter().map(|a| Ok((a.clone(), day.inputs(a)?))).collect()
    }

    /// Every account's score as of `as_of`, ranked.
    pub fn scores(
        &self,
        card: &Scorecard,
        accounts: &[String],
        as_of: Date,
        overrides: &[Override],
    ) -> Result<Vec<(AccountScore, Inputs)>> {
        let inputs = self.inputs(card, accounts, as_of)?;
        let mut scores: Vec<AccountScore> =
            inputs.iter().map(|(a, i)| health::score_account(card, a, as_of, i, overrides)).collect();
        health::rank(&mut scores);
        Ok(scores.into_iter().zip(inputs.into_values()).collect())
    }

    /// What the inputs of every account as of `as_of` share.
    fn day(&self, card: &Scorecard, as_of: Date) -> Result<Day<'_>> {
        let end = as_of.tomorrow()?.to_zoned(self.tz.clone())?.timestamp();
        let ago = |days: i64| -> Result<Timestamp> {
            Ok(as_of.checked_sub(days.days())?.tomorrow()?.to_zoned(self.tz.clone())?.timestamp())
        };
        let day = date_to_day(as_of);
        let usage = self.usage(day, card.look_back_days as i64)?;
        Ok(Day {
            data: self,
            as_of,
            as_of_90: as_of.checked_sub(90.days())?,
            day,
            end,
            start_90: ago(90)?,
            start_365: ago(365)?,
            adopted: usage.as_ref().map(|u| u.breadth_up_to(day)),
            usage,
            slow_reply: if self.has_tickets { Some(self.slow_reply(card)?) } else { None },
        })
    }
}

/// The usage window of local day `day`: the 60 days its inputs need and
/// `look_back_days` before them, so that a day, its look-back day and the
/// days between (an account's history) are read from one window; and a day
/// more on either side (the first read is around the last UTC day, and the
/// last local day is within a day of it).
fn read_usage(files: &[(PathBuf, Option<i32>)], tz: &TimeZone, day: i32, look_back_days: i64) -> Result<Usage> {
    let days = (day - (USAGE_DAYS - 1) - look_back_days.clamp(0, 3660) as i32 - 1, day + 1);
    let events = crate::engagement::read_event_days(files, tz.clone(), days.0, days.1)?;
    Ok(Usage::new(days, &events))
}

/// What the inputs of every account as of one day share: the day's windows,
/// its feature adoption and how slow tickets are counted.
struct Day<'a> {
    data: &'a HealthData,
    as_of: Date,
    as_of_90: Date,
    /// `as_of` as a day number of the event table.
    day: i32,
    /// The end of `as_of` and the starts of the 90 and 365 days ending with it.
    end: Timestamp,
    start_90: Timestamp,
    start_365: Timestamp,
    /// The usage window holding the day's inputs (none without events).
    usage: Option<Arc<Usage>>,
    /// Its adoption breadth of the 30 days up to the day.
    adopted: Option<Arc<Breadth>>,
    slow_reply: Option<(i64, support::Clock<'a>)>,
}

impl Day<'_> {
    /// One account's inputs as of the end of the day.
    fn inputs(&self, account: &str) -> Result<Inputs> {
        let data = self.data;
        let (end, day) = (self.end, self.day);
        let mut inp = Inputs::new();
        let mut num = |k: &str, v: Option<f64>| {
            if let Some(v) = v.filter(|v| v.is_finite()) {
                inp.insert(k.to_string(), InputValue::Number(v));
            }
        };
        let dec = |d: Decimal| d.to_f64();

        // Usage.
        let mut active_users = None;
        if let Some(usage) = &self.usage {
            let u = usage.activity.as_of(account, day);
            active_users = Some(u.as_ref().map_or(0, |u| u.active_users_30d));
            num("active_users_30d", active_users.map(|n| n as f64));
            num("dau_mau_ratio", Some(u.as_ref().map_or(Decimal::ZERO, |u| u.dau_mau_ratio)).and_then(dec));
            num("usage_trend_pct", u.and_then(|u| u.usage_trend_pct).and_then(dec));
        }
        if let (Some(usage), Some(a)) = (&self.usage, &self.adopted)
            && a.features_used > 0
        {
            let breadth = usage.accounts.get(account).map_or(0, |id| a.of(id));
            num("feature_adoption_pct", Some(breadth as f64 * 100.0 / a.features_used as f64));
        }
        let customer = data.customer(account);
        if let (Some(users), Some(c)) = (active_users, &customer) {
            let seats = ["seats", "seats_purchased"]
                .iter()
                .find_map(|k| attribute(c, k).and_then(|s| s.parse::<f64>().ok()))
                .filter(|s| *s > 0.0);
            num("seat_utilization_pct", seats.map(|s| round2(users as f64 * 100.0 / s)));
        }

        // Voice of the customer.
        let answers: Vec<SurveyResponse> = data
            .answers
            .get(account)
            .iter()
            .filter(|s| s.submitted_at >= self.start_365 && s.submitted_at < end)
            .map(facts::AnswerFacts::response)
            .collect();
        let nps_rows = answers.iter().filter(|s| s.survey_type == SurveyType::Nps);
        num("nps", voice::nps(nps_rows, voice::NpsOptions::default()).nps.and_then(dec));
        let csat_rows: Vec<&SurveyResponse> = answers.iter().filter(|s| s.survey_type == SurveyType::Csat).collect();
        if let Ok(Some(scale)) = voice::common_scale(csat_rows.iter().copied()) {
            num("csat_pct", voice::csat(&csat_rows, scale).csat_pct.and_then(dec));
        }

        // Support.
        if let Some((target, clock)) = self.slow_reply {
            let tickets = data.tickets.get(account).iter().filter(|t| t.created_at < end);
            let (mut open, mut recent, mut slow) = (0, 0, 0);
            for t in tickets {
                let is_open = match t.solved_at {
                    Some(s) => s >= end,
                    None => !t.resolved,
                };
                open += usize::from(is_open);
                if t.created_at >= self.start_90 {
                    recent += 1;
                    slow += usize::from(support::slow_first_response(&t.ticket(), target, clock, end));
                }
            }
            num("open_tickets", Some(open as f64));
            num("tickets_90d", Some(recent as f64));
            num("slow_tickets_90d", Some(slow as f64));
        }

        // Billing.
        if data.has_invoices {
            let failed = data
                .failed_payments
                .get(account)
                .map_or(0, |v| v.iter().filter(|t| **t >= self.start_90 && **t < end).count());
            num("failed_payments_90d", Some(failed as f64));
        }
        if let Some(l) = data.customer_ledger(account) {
            let mrr_on = |d: Date| -> Result<Decimal> {
                let Some(s) = l.state_on(d) else { return Ok(Decimal::ZERO) };
                let m = data.fx.convert_all(&s.mrr, month_idx(d)).map_err(|e| anyhow!("{e}"))?;
                Ok(m.to_decimal_cents())
            };
            let now = mrr_on(self.as_of)?;
            let before = mrr_on(self.as_of_90)?;
            num("mrr_cents", dec(round_dp(now, 2)));
            if before > Decimal::ZERO {
                num("mrr_change_pct_90d", dec(round_dp((now - before) * Decimal::ONE_HUNDRED / before, 2)));
            }
            num("past_due", Some(if l.state_on(self.as_of).is_some_and(|s| s.past_due) { 1.0 } else { 0.0 }));
            num("days_to_renewal", days_to_renewal(l, self.as_of).map(|d| d as f64));
            if let Some(nb) = l.first_new_business() {
                num("tenure_days", Some(revenue::ledger::days_between(nb.date, self.as_of) as f64));
            }
        }

        // Customer attributes, under their own names (computed inputs win).
        if let Some(c) = &customer {
            // The key is copied only when kept (this runs for every account, three times).
            for key in ["plan_tier", "segment", "country", "owner", "company"]
                .into_iter()
                .chain(c.attributes.keys().map(String::as_str))
            {
                if inp.contains_key(key) {
                    continue;
                }
                let v = match c.attributes.get(key) {
                    Some(Value::Number(n)) => n.as_f64().map(InputValue::Number),
                    Some(Value::Bool(b)) => Some(InputValue::Number(if *b { 1.0 } else { 0.0 })),
                    _ => attribute(c, key).map(InputValue::Text),
                };
                if let Some(v) = v {
                    inp.insert(key.to_string(), v);
                }
            }
        }
        Ok(inp)
    }
}

impl HealthData {
    /// The first-reply target and the clock slow tickets are counted on.
    fn slow_reply(&self, card: &Scorecard) -> Result<(i64, support::Clock<'_>)> {
        let target = self.first_response_target.clone().map_err(|e| anyhow!("tenure.toml: {e}"))?;
        let clock = match card.slow_tickets_clock {
            SlowTicketClock::Calendar => support::Clock::Calendar,
            SlowTicketClock::Business => support::Clock::Business(
                self.business_hours
                    .as_ref()
                    .map_err(|e| anyhow!("tenure.toml: {e} (the scorecard's slow_tickets_clock is \"business\")"))?,
            ),
        };
        Ok((target, clock))
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Days from `as_of` to the end of the current term of the account's nearest
/// live subscription (SPEC 2.1 "Renewals": terms run from the start in steps
/// of the interval, re-anchored when the interval changes).
fn days_to_renewal(l: &revenue::CustomerLedger, as_of: Date) -> Option<i64> {
    l.subscriptions
        .iter()
        .filter(|s| s.at(as_of).is_some_and(|p| p.status.is_live()))
        .filter_map(|s| {
            let anchor = s.anchors.iter().rev().find(|a| a.date <= as_of)?;
            // The first term end after as_of.
            let mut k = 1;
            while anchor.term_end(k) <= as_of {
                k += 1;
            }
            Some(revenue::ledger::days_between(as_of, anchor.term_end(k)))
        })
        .min()
}

// ---------------------------------------------------------------- documents

/// What `tenure health` asks for.
#[derive(Clone, Debug, Default)]
pub struct HealthQuery {
    pub account: Option<String>,
    pub as_of: Option<Date>,
    pub scorecard: Option<PathBuf>,
    pub segment: Option<String>,
}

/// The document of `tenure health --json`: every scored account (SPEC 2.4b
/// keys) by rank, with trend and the input that moved most against the
/// look-back; with `account`, also its inputs and daily history; with
/// `segment`, per-segment profiles. The rows of [`HealthReport::rows`] in one
/// value (the HTTP API and the dashboard); `tenure health` streams them.
pub fn health_doc(ws: &Workspace, q: &HealthQuery) -> Result<Value> {
    let report = HealthReport::new(ws, q)?;
    let mut doc = report.document()?;
    doc["accounts"] = report.rows().collect::<Result<Vec<Value>>>()?.into();
    Ok(doc)
}

/// `tenure health` in two passes, so that a million accounts never sit in
/// memory as scores or JSON rows: [`HealthReport::new`] scores every account
/// as of the day keeping only its overall score (ranks, colours and counts
/// come from those), and [`HealthReport::rows`] scores each account of the
/// document again, with its look-back, as its row is asked for.
pub struct HealthReport {
    card: Scorecard,
    source: String,
    data: Arc<HealthData>,
    overrides: Vec<Override>,
    query: HealthQuery,
    as_of: Date,
    look_back: Date,
    /// The accounts of the document in their order (rank, then id), with their rank.
    order: Vec<(Option<u64>, String)>,
    /// The overall score of each account of the document, by id.
    overall: HashMap<String, Option<Decimal>>,
    /// Only with `segment`: the scores of the document's accounts by id
    /// (without ranks), profiled per segment.
    scores: Vec<AccountScore>,
}

/// One of the worst-scored accounts (red) for a summary such as `tenure demo`'s.
pub struct AtRisk {
    pub name: Option<String>,
    pub account: String,
    pub overall_score_rounded: Option<i64>,
    pub trend: Option<&'static str>,
    pub top_mover: Option<String>,
}

impl HealthReport {
    /// Score every account as of the day (the first pass).
    pub fn new(ws: &Workspace, q: &HealthQuery) -> Result<HealthReport> {
        let (card, source) = load_scorecard(ws, q.scorecard.as_deref())?;
        let data = HealthData::shared(ws)?;
        let as_of = q.as_of.unwrap_or_else(|| data.default_as_of());
        let overrides = load_overrides(ws.root())?;
        let all = data.accounts(as_of);
        if let Some(a) = &q.account
            && data.customers.position(a).is_none()
            && !all.contains(a)
        {
            bail!("no customer with id {a:?} in the workspace");
        }
        let look_back = as_of.checked_sub((card.look_back_days as i64).days())?;
        // Ranks are over every account scored on the day, even for one account.
        let day = data.day(&card, as_of)?;
        let mut ids: Vec<&String> = all.iter().collect();
        ids.sort();
        ids.dedup();
        let mut overall = Vec::with_capacity(ids.len());
        let mut scores = Vec::new();
        let profiled = |a: &str| q.segment.is_some() && q.account.as_deref().is_none_or(|x| x == a);
        let scored = par_chunks(&ids, |a| -> Result<(Option<Decimal>, Option<AccountScore>)> {
            let s = health::score_account(&card, a, as_of, &day.inputs(a)?, &overrides);
            Ok((s.overall(), profiled(a).then_some(s)))
        });
        for s in scored {
            let (o, s) = s?;
            overall.push(o);
            scores.extend(s);
        }
        let ranks = health::ranks(&overall);
        let wanted = |a: &str| q.account.as_deref().is_none_or(|x| x == a);
        let mut order: Vec<(Option<u64>, String)> = Vec::new();
        let mut by_id = HashMap::new();
        for ((a, o), r) in ids.iter().zip(overall).zip(ranks) {
            if wanted(a) {
                order.push((r, a.to_string()));
                by_id.insert(a.to_string(), o);
            }
        }
        order.sort_by(|a, b| (a.0.unwrap_or(u64::MAX), &a.1).cmp(&(b.0.unwrap_or(u64::MAX), &b.1)));
        drop(day);
        Ok(HealthReport {
            card,
            source,
            data,
            overrides,
            query: q.clone(),
            as_of,
            look_back,
            order,
            overall: by_id,
            scores,
        })
    }

    pub fn as_of(&self) -> Date {
        self.as_of
    }

    /// The accounts of the document per colour band, in the scorecard's order.
    pub fn accounts_by_color(&self) -> Vec<(String, usize)> {
        let color = |o: &Option<Decimal>| o.and_then(|s| round_dp(s, 0).to_i64()).map(|r| self.card.band_of(r));
        let colors: Vec<Option<&str>> = self.overall.values().map(color).collect();
        self.card
            .bands
            .iter()
            .map(|b| (b.name.clone(), colors.iter().filter(|c| **c == Some(b.name.as_str())).count()))
            .collect()
    }

    /// How many accounts of the document have a score.
    pub fn accounts_scored(&self) -> usize {
        self.overall.values().filter(|o| o.is_some()).count()
    }

    /// The document without its rows (`accounts` is empty): the header, and
    /// with `account` its daily history, with `segment` the profiles.
    pub fn document(&self) -> Result<Value> {
        let (card, data, q) = (&self.card, &self.data, &self.query);
        let by_color: serde_json::Map<String, Value> =
            self.accounts_by_color().into_iter().map(|(c, n)| (c, json!(n))).collect();
        let mut doc = json!({
            "metric": "health",
            "as_of": self.as_of.to_string(),
            "scorecard": self.source,
            "missing_policy": match card.missing { health::MissingPolicy::Reweight => "reweight", health::MissingPolicy::Zero => "zero" },
            "look_back_days": card.look_back_days,
            "accounts_scored": self.accounts_scored(),
            "accounts_by_color": by_color,
            "accounts": [],
        });
        if let Some(a) = &q.account {
            let mut history = Vec::new();
            let mut d = self.look_back;
            while d <= self.as_of {
                let (s, _) = data.scores(card, std::slice::from_ref(a), d, &self.overrides)?.remove(0);
                history.push(
                    json!({"date": d.to_string(), "overall_score": dec_json(s.overall()), "color": s.color(card)}),
                );
                d = d.tomorrow()?;
            }
            doc["history"] = Value::from(history);
        }
        if let Some(attr) = &q.segment {
            let seg: HashMap<String, String> = (0..data.customers.len())
                .map(|i| data.customers.customer(i))
                .map(|c| (attribute(&c, attr).unwrap_or_else(|| NONE.into()), c.id))
                .map(|(value, id)| (id, value))
                .collect();
            doc["segment_attribute"] = json!(attr);
            doc["segments"] = Value::from(health::profiles(card, &self.scores, |a| {
                seg.get(a).cloned().unwrap_or_else(|| NONE.into())
            }));
        }
        Ok(doc)
    }

    /// The rows of the document's `accounts`, by rank, computed a chunk at a
    /// time as they are asked for.
    pub fn rows(&self) -> impl Iterator<Item = Result<Value>> + '_ {
        self.each_row(|now, then, a, rank| self.row(now, then, a, rank))
    }

    /// `f` of each account of the document (as of the day and the look-back,
    /// with its rank) by rank, [`par_chunks`] at a time.
    fn each_row<'a, T: Send + 'a>(
        &'a self,
        f: impl Fn(&Day, &Day, &str, Option<u64>) -> Result<T> + Sync + 'a,
    ) -> impl Iterator<Item = Result<T>> + 'a {
        let days =
            self.data.day(&self.card, self.as_of).and_then(|now| Ok((now, self.data.day(&self.card, self.look_back)?)));
        let (days, failed) = match days {
            Ok(d) => (Some(d), None),
            Err(e) => (None, Some(Err(e))),
        };
        let rows = days.map(move |(now, then)| par_chunks(&self.order, move |(rank, a)| f(&now, &then, a, *rank)));
        failed.into_iter().chain(rows.into_iter().flatten())
    }

    /// The rows of `accounts` as [`Streamed`] writes them, each serialised
    /// by the thread that computed it ([`parallel::nested_row`]).
    fn json_rows(&self) -> impl Iterator<Item = Result<Box<RawValue>>> + '_ {
        self.each_row(|now, then, a, rank| parallel::nested_row(&self.row(now, then, a, rank)?))
    }

    /// The `n` worst red accounts, worst first (ties in the document's order).
    pub fn at_risk(&self, n: usize) -> Result<Vec<AtRisk>> {
        let red = self.card.red();
        let mut worst: Vec<(Decimal, usize)> = self
            .order
            .iter()
            .enumerate()
            .filter_map(|(i, (_, a))| self.overall[a].map(|o| (o, i)))
            .filter(|(o, _)| round_dp(*o, 0).to_i64().is_some_and(|r| self.card.band_of(r) == red))
            .map(|(o, i)| (round_dp(o, 2), i))
            .collect();
        worst.sort();
        let (now, then) = (self.data.day(&self.card, self.as_of)?, self.data.day(&self.card, self.look_back)?);
        worst
            .into_iter()
            .take(n)
            .map(|(_, i)| {
                let (rank, a) = &self.order[i];
                let (s, before) = self.scored(&now, &then, a, *rank)?;
                let tr = health::trend(s.overall(), before.overall(), self.card.trend_tolerance);
                Ok(AtRisk {
                    name: self.name(a),
                    account: a.clone(),
                    overall_score_rounded: s.rounded(),
                    trend: tr.map(|t| t.0),
                    top_mover: health::top_mover(&s, &before).map(|(m, _)| m.measure.clone()),
                })
            })
            .collect()
    }

    /// The whole document, its rows computed while it is serialised (see
    /// [`Streamed`]): what `tenure health --json` writes.
    pub fn streamed(&self) -> Result<Streamed<'_>> {
        Ok(Streamed { head: self.document()?, report: self, failed: std::cell::RefCell::new(None) })
    }

    fn name(&self, account: &str) -> Option<String> {
        self.data.customer(account).and_then(|c| c.company.or(c.name))
    }

    /// An account's score as of the day (with its rank) and as of the look-back.
    fn scored(&self, now: &Day, then: &Day, account: &str, rank: Option<u64>) -> Result<(AccountScore, AccountScore)> {
        let mut s = health::score_account(&self.card, account, self.as_of, &now.inputs(account)?, &self.overrides);
        s.rank = rank;
        let before =
            health::score_account(&self.card, account, self.look_back, &then.inputs(account)?, &self.overrides);
        Ok((s, before))
    }

    /// One row of `accounts`.
    fn row(&self, now: &Day, then: &Day, account: &str, rank: Option<u64>) -> Result<Value> {
        let card = &self.card;
        let (s, before) = self.scored(now, then, account, rank)?;
        let mut v = s.to_json(card);
        v["name"] = json!(self.name(account));
        let tr = health::trend(s.overall(), before.overall(), card.trend_tolerance);
        v["look_back_date"] = json!(self.look_back.to_string());
        v["score_look_back"] = dec_json(before.overall());
        v["trend"] = json!(tr.map(|t| t.0));
        v["trend_delta"] = dec_json(tr.map(|t| t.1));
        v["top_mover"] = match health::top_mover(&s, &before) {
            Some((m, points)) => {
                let old = before.measures.iter().find(|x| x.measure == m.measure);
                json!({
                    "measure": m.measure,
                    "input": m.input,
                    "value_look_back": old.and_then(|o| o.value.as_ref()).map(|v| v.to_json()),
                    "value": m.value.as_ref().map(|v| v.to_json()),
                    "points": dec_json(Some(points)),
                })
            }
            None => Value::Null,
        };
        if self.query.account.is_some() {
            v["inputs"] = now
                .inputs(account)?
                .iter()
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect::<serde_json::Map<_, _>>()
                .into();
        }
        Ok(v)
    }
}

/// [`health_doc`]'s document for a serialiser, the rows of `accounts`
/// computed one at a time as they are written, so the whole document is never
/// in memory. A row that fails stops the serialiser; [`Streamed::finish`]
/// gives its error.
pub struct Streamed<'a> {
    head: Value,
    report: &'a HealthReport,
    failed: std::cell::RefCell<Option<anyhow::Error>>,
}

impl Streamed<'_> {
    /// The serialiser's result, with the error of a failed row instead of the
    /// serialiser's note of it.
    pub fn finish<E: Into<anyhow::Error>>(&self, written: std::result::Result<(), E>) -> Result<()> {
        match (self.failed.borrow_mut().take(), written) {
            (Some(e), _) => Err(e),
            (None, w) => w.map_err(Into::into),
        }
    }
}

impl Serialize for Streamed<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let head = self.head.as_object().expect("the document is an object");
        let mut map = ser.serialize_map(Some(head.len()))?;
        for (k, v) in head {
            if k == "accounts" {
                map.serialize_entry(k, &StreamedRows(self))?;
            } else {
                map.serialize_entry(k, v)?;
            }
        }
        map.end()
    }
}

struct StreamedRows<'a, 'b>(&'a Streamed<'b>);

impl Serialize for StreamedRows<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeSeq};
        let mut seq = ser.serialize_seq(None)?;
        for row in self.0.report.json_rows() {
            match row {
                Ok(v) => seq.serialize_element(&v)?,
                Err(e) => {
                    let note = format!("{e:#}");
                    *self.0.failed.borrow_mut() = Some(e);
                    return Err(S::Error::custom(note));
                }
            }
        }
        seq.end()
    }
}

fn dec_json(x: Option<Decimal>) -> Value {
    tenure_metrics::round::json(x.map(|x| round_dp(x, 2)))
}

// ---------------------------------------------------------------- state files

/// Write a JSON file with the store's atomic protocol, creating its directory.
fn write_json_atomic(path: &Path, v: &impl Serialize) -> Result<()> {
    fs_err::create_dir_all(path.parent().expect("a file in a directory"))?;
    Ok(tenure_store::manifest::write_atomic(path, serde_json::to_string_pretty(v)?)?)
}

fn read_json<T: for<'de> Deserialize<'de> + Default>(path: &Path) -> Result<T> {
    match fs_err::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).with_context(|| format!("{} is not valid", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(e.into()),
    }
}

/// Hold the health directory's lock while reading, changing and writing its
/// files, so two commands (an import's alert evaluation and `tenure alerts
/// ack`) do not lose each other's changes.
fn with_lock<T>(root: &Path, f: impl FnOnce(&Path) -> Result<T>) -> Result<T> {
    let dir = root.join(HEALTH_DIR);
    fs_err::create_dir_all(&dir)?;
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(".lock"))
        .with_context(|| format!("opening {}", dir.join(".lock").display()))?;
    lock.lock().with_context(|| format!("locking {}", dir.display()))?;
    let out = f(&dir);
    drop(lock);
    out
}

pub fn load_overrides(root: &Path) -> Result<Vec<Override>> {
    read_json(&root.join(HEALTH_DIR).join(OVERRIDES_FILE))
}

/// Set an account's override (replacing an earlier one of the same account).
pub fn set_override(root: &Path, o: Override) -> Result<()> {
    if !(0.0..=100.0).contains(&o.score) {
        bail!("--score {} is not a score from 0 to 100", o.score);
    }
    if o.expires <= o.set_on {
        bail!("--expires {} must be after {} (the override ends the day before it expires)", o.expires, o.set_on);
    }
    if o.reason.trim().is_empty() {
        bail!("--reason must say why the score is overridden");
    }
    with_lock(root, |dir| {
        let path = dir.join(OVERRIDES_FILE);
        let mut all: Vec<Override> = read_json(&path)?;
        all.retain(|x| x.account != o.account);
        all.push(o);
        write_json_atomic(&path, &all)
    })
}

/// Remove an account's override; false when it had none.
pub fn clear_override(root: &Path, account: &str) -> Result<bool> {
    with_lock(root, |dir| {
        let path = dir.join(OVERRIDES_FILE);
        let mut all: Vec<Override> = read_json(&path)?;
        let n = all.len();
        all.retain(|x| x.account != account);
        write_json_atomic(&path, &all)?;
        Ok(all.len() < n)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenure_metrics::engagement::ActiveEvent;
    use tenure_model::UsageEvent;

    /// Three accounts' usage over 400 days in a zone 13 hours east of UTC
    /// (so local and UTC days differ), with gaps, so trends and adoption move.
    fn workspace() -> (tempfile::TempDir, Workspace) {
        let (dir, ws) = crate::testing::workspace();
        std::fs::write(ws.root().join(tenure_store::SETTINGS_FILE), "[workspace]\ntimezone = \"Pacific/Auckland\"\n")
            .unwrap();
        let mut ws = Workspace::open(ws.root()).unwrap();
        let customers: Vec<Customer> =
            crate::testing::rows(&(1..=3).map(|a| json!({"id": format!("a{a}"), "seats": 4})).collect::<Vec<_>>());
        let start = jiff::civil::date(2025, 1, 1);
        let mut events = Vec::new();
        for day in 0..400i64 {
            for k in 0..9usize {
                // A pseudo-random but fixed pattern: some days an account is quiet.
                let n = (day as usize * 31 + k * 17) % 23;
                if n < 8 {
                    continue;
                }
                let (account, user) = (k % 3 + 1, k % 6);
                let hour = (day as usize * 7 + k * 5) % 24;
                let t = start.checked_add(day.days()).unwrap().at(hour as i8, 0, 0, 0).to_zoned(TimeZone::UTC).unwrap();
                let mut v = json!({"type": "track", "userId": format!("u{user}"), "event": format!("f{}", n % 5),
                                   "timestamp": t.timestamp().to_string(), "messageId": format!("m{day}-{k}")});
                if k != 8 {
                    v["groupId"] = json!(format!("a{account}"));
                }
                events.push(v);
            }
        }
        let events: Vec<UsageEvent> = crate::testing::rows(&events);
        {
            let mut w = ws.writer().unwrap();
            w.upsert(&customers).unwrap();
            w.append_events(&events).unwrap();
            w.commit().unwrap();
        }
        let ws = Workspace::open(ws.root()).unwrap();
        (dir, ws)
    }

    fn usage_days(data: &HealthData) -> (i32, i32) {
        data.usage.lock().unwrap().as_ref().expect("a usage window").days
    }

    /// A server keeps its `HealthData` while commits go on. One commit can
    /// merge a day's files and the next writer remove the old ones: a window
    /// read after that is read from the files the workspace has now.
    #[test]
    fn a_window_whose_files_were_merged_away_is_read_from_the_current_files() {
        let (_dir, ws) = workspace();
        let (card, _) = load_scorecard(&ws, None).unwrap();
        let accounts: Vec<String> = (1..=3).map(|a| format!("a{a}")).collect();
        let day = jiff::civil::date(2025, 6, 1);
        let mut n = 0;
        let mut add_event = |ws: &Workspace| {
            n += 1;
            let event = json!({"type": "track", "userId": "u1", "groupId": "a1", "event": "f1",
                               "timestamp": format!("{day}T12:00:00Z"), "messageId": format!("late-{n}")});
            let mut ws = Workspace::open(ws.root()).unwrap();
            let mut w = ws.writer().unwrap();
            w.append_events(&crate::testing::rows::<UsageEvent>(&[event])).unwrap();
            w.commit().unwrap();
        };
        // Four small files on the day: one tier, not yet crowded.
        for _ in 0..4 {
            add_event(&ws);
        }
        let ws = Workspace::open(ws.root()).unwrap();
        let data = HealthData::load(&ws).unwrap();
        let files = |ws: &Workspace| crate::engagement::event_file_days(&Workspace::open(ws.root()).unwrap());
        let before = files(&ws);
        // A fifth merges the tier; the next writer removes the four.
        add_event(&ws);
        add_event(&ws);
        let gone = before.iter().filter(|(p, _)| !p.exists()).count();
        assert_eq!(gone, 4, "the day's four small files were merged and removed");
        assert!(files(&ws).len() < before.len());

        let as_of = day.checked_add(20.days()).unwrap();
        let now = HealthData::load(&Workspace::open(ws.root()).unwrap()).unwrap();
        assert_eq!(data.inputs(&card, &accounts, as_of).unwrap(), now.inputs(&card, &accounts, as_of).unwrap());
    }

    #[test]
    fn a_window_of_events_gives_the_inputs_every_event_gives() {
        let (_dir, ws) = workspace();
        let (card, _) = load_scorecard(&ws, None).unwrap();
        let accounts: Vec<String> = (1..=3).map(|a| format!("a{a}")).collect();
        let windowed = HealthData::load(&ws).unwrap();
        // The reference: the whole events table, as when a dashboard page has read it first.
        let tz = TimeZone::get("Pacific/Auckland").unwrap();
        let all = crate::engagement::load_events(&ws, tz, ActiveEvent::AnyTrack).unwrap();
        let full = HealthData::load(&ws).unwrap();
        assert_eq!(usage_days(&full), (i32::MIN, i32::MAX));
        let (first, last) = all.day_span().unwrap();
        let (from, to) = usage_days(&windowed);
        assert!(
            from > first + 250 && to <= last + 1,
            "only the days before the last are read: {from}..={to} of {first}..={last}"
        );

        let last = windowed.default_as_of();
        assert_eq!(last, full.default_as_of());
        assert_eq!(last, jiff::civil::date(2026, 2, 5), "the last event's local day");
        for back in [0, 1, 30, 31, 59, 60, 61, 92, 200, 380, 0] {
            let day = last.checked_sub(back.days()).unwrap();
            let got = windowed.inputs(&card, &accounts, day).unwrap();
            assert_eq!(got, full.inputs(&card, &accounts, day).unwrap(), "as of {day}");
            assert!(got["a1"].contains_key("usage_trend_pct") || back > 340, "{day}: {:?}", got["a1"]);
            let days = usage_days(&windowed);
            assert!(days.0 <= date_to_day(day) - 59 && date_to_day(day) <= days.1, "{day} read in {days:?}");
            // Every event of the window's local days, whichever UTC day holds it.
            let files = crate::engagement::event_file_days(&ws);
            let window = crate::engagement::read_event_days(&files, all.tz.clone(), days.0, days.1).unwrap();
            let per_day = |t: &EventTable| {
                let mut n = BTreeMap::new();
                t.day.iter().filter(|d| (days.0..=days.1).contains(*d)).for_each(|d| *n.entry(*d).or_insert(0) += 1);
                n
            };
            assert_eq!(per_day(&window), per_day(&all), "the events of {days:?}");
        }
    }
}
