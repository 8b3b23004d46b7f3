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
use serde_json::{Value, json};
use tenure_metrics::engagement::events::date_to_day;
use tenure_metrics::engagement::{ActiveEvent, Adoption, EventTable, adoption};
/// An account's manual override, as [`set_override`] takes it.
pub use tenure_metrics::health::Override;
use tenure_metrics::health::{self, AccountActivity, AccountScore, InputValue, Inputs, Scorecard, SlowTicketClock};
use tenure_metrics::revenue::{self, FxTable, Ledger, Rules, month_idx};
use tenure_metrics::round::round_dp;
use tenure_metrics::{support, voice};
use tenure_model::business_hours::BusinessHours;
use tenure_model::{Customer, SurveyResponse, SurveyType, Ticket, TransactionType};
use tenure_store::Workspace;

pub use self::alerts::{
    Evaluation, Reason, Task, evaluate_alerts, evaluate_alerts_after_ingest, evaluate_alerts_if_configured, redeliver,
    tasks, update_task,
};
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

/// Everything the inputs are computed from, loaded once.
pub struct HealthData {
    tz: TimeZone,
    customers: Vec<Customer>,
    /// Index into `customers` by id: accounts are looked up once per score,
    /// and a scan per lookup was quadratic (hours at 1,000,000 customers).
    customer_by_id: HashMap<String, usize>,
    tickets: HashMap<String, Vec<Ticket>>,
    has_tickets: bool,
    /// `[support]`'s schedule and first-reply target, checked when slow tickets are counted.
    business_hours: Result<BusinessHours, String>,
    first_response_target: Result<i64, String>,
    surveys: HashMap<String, Vec<SurveyResponse>>,
    failed_payments: HashMap<String, Vec<Timestamp>>,
    has_invoices: bool,
    ledger: Ledger,
    fx: FxTable,
    events: Arc<EventTable>,
    activity: AccountActivity,
    last_day: Option<Date>,
    /// Feature adoption of the 30 days up to each day asked for: a scan of
    /// every event, asked again for each day of every account's history.
    adoption_by_day: Mutex<HashMap<i32, Arc<Adoption>>>,
}

/// How many days of adoption [`HealthData`] keeps (a history is 31 days).
const ADOPTION_DAYS_KEPT: usize = 64;

impl HealthData {
    pub fn load(ws: &Workspace) -> Result<HealthData> {
        let settings = ws.settings();
        let tzname = &settings.workspace.timezone;
        let tz = TimeZone::get(tzname).with_context(|| format!("time zone {tzname}"))?;
        let customers = tenure_store::load::<Customer>(ws)?;
        let all_tickets = tenure_store::load::<Ticket>(ws)?;
        let all_surveys = tenure_store::load::<SurveyResponse>(ws)?;
        let rev = crate::ledger::RevenueData::shared(ws)?;
        let rules = Rules::from_settings(&settings.revenue).map_err(|e| anyhow!("{e}"))?;
        let fx = rev.fx(settings.workspace.reporting_currency);
        let ledger = rev.ledger(&rules, &fx)?;
        let (sub_events, invoices) = (&rev.events, &rev.invoices);
        let events = crate::engagement::load_events(ws, tz.clone(), ActiveEvent::AnyTrack)?;
        let activity = AccountActivity::build(&events);

        let local = |t: Timestamp| t.to_zoned(tz.clone()).date();
        let last_day = [
            events.day_span().map(|s| tenure_metrics::engagement::events::day_to_date(s.1)),
            sub_events.iter().map(|e| e.date).max(),
            invoices.iter().map(|i| i.date).max(),
            all_tickets.iter().map(|t| local(t.created_at)).max(),
            all_surveys.iter().filter_map(|s| s.submitted_at.map(local)).max(),
        ]
        .into_iter()
        .flatten()
        .max();

        let mut failed_payments: HashMap<String, Vec<Timestamp>> = HashMap::new();
        for inv in invoices {
            for t in &inv.transactions {
                if t.kind == TransactionType::Payment && t.result == "failed" {
                    failed_payments.entry(inv.customer_id.clone()).or_default().push(t.date);
                }
            }
        }
        let has_tickets = !all_tickets.is_empty();
        let mut tickets: HashMap<String, Vec<Ticket>> = HashMap::new();
        for t in all_tickets {
            if let Some(c) = t.customer_id.clone() {
                tickets.entry(c).or_default().push(t);
            }
        }
        let mut surveys: HashMap<String, Vec<SurveyResponse>> = HashMap::new();
        for s in all_surveys {
            if let Some(c) = s.customer_id.clone() {
                surveys.entry(c).or_default().push(s);
            }
        }
        Ok(HealthData {
            tz,
            customer_by_id: customers.iter().enumerate().map(|(i, c)| (c.id.clone(), i)).collect(),
            customers,
            tickets,
            has_tickets,
            business_hours: BusinessHours::from_settings(&settings.support, tzname),
            first_response_target: settings.support.first_response_target_seconds(),
            surveys,
            failed_payments,
            has_invoices: !invoices.is_empty(),
            ledger,
            fx,
            events,
            activity,
            last_day,
            adoption_by_day: Mutex::new(HashMap::new()),
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

    pub fn customer(&self, id: &str) -> Option<&Customer> {
        self.customer_by_id.get(id).map(|&i| &self.customers[i])
    }

    /// The accounts scored as of `as_of`: subscribers at the end of the day,
    /// or every customer when there is no billing data.
    pub fn accounts(&self, as_of: Date) -> Vec<String> {
        if self.ledger.customers.is_empty() {
            return self.customers.iter().map(|c| c.id.clone()).collect();
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

    /// Feature adoption over the 30 days up to `day`, computed once per day.
    fn adoption_up_to(&self, day: i32) -> Arc<Adoption> {
        let kept = |m: &std::sync::MutexGuard<'_, HashMap<i32, Arc<Adoption>>>| m.get(&day).cloned();
        if let Some(a) = kept(&self.adoption_by_day.lock().unwrap_or_else(|p| p.into_inner())) {
            return a;
        }
        let a = Arc::new(adoption(&self.events, day - 29, day + 1));
        let mut m = self.adoption_by_day.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= ADOPTION_DAYS_KEPT {
            m.clear();
        }
        m.insert(day, a.clone());
        a
    }

    /// Compute what the daily histories of the default evaluation need (the
    /// adoption of each day from the look-back to the evaluation day), so
    /// that account pages find it ready.
    pub fn warm_history(&self, ws: &Workspace) -> Result<()> {
        let (card, _) = load_scorecard(ws, None)?;
        let as_of = self.default_as_of();
        let mut d = as_of.checked_sub((card.look_back_days as i64).days())?;
        while d <= as_of && !self.events.is_empty() {
            self.adoption_up_to(date_to_day(d));
            d = d.tomorrow()?;
        }
        Ok(())
    }

    /// Each account's inputs as of the end of `as_of` (the scorecard says
    /// which clock counts slow tickets).
    pub fn inputs(&self, card: &Scorecard, accounts: &[String], as_of: Date) -> Result<BTreeMap<String, Inputs>> {
        let end = as_of.tomorrow()?.to_zoned(self.tz.clone())?.timestamp();
        let ago = |days: i64| -> Result<Timestamp> {
            Ok(as_of.checked_sub(days.days())?.tomorrow()?.to_zoned(self.tz.clone())?.timestamp())
        };
        let (start_90, start_365) = (ago(90)?, ago(365)?);
        let day = date_to_day(as_of);
        let adopted = (!self.events.is_empty()).then(|| self.adoption_up_to(day));
        // Breadth per account by key: a scan per account is quadratic (100k accounts took minutes).
        let breadth: HashMap<&str, u64> =
            adopted.iter().flat_map(|a| a.accounts.iter().map(|x| (x.account.as_str(), x.breadth))).collect();
        let slow_reply = if self.has_tickets { Some(self.slow_reply(card)?) } else { None };
        let ledgers: HashMap<&str, &revenue::CustomerLedger> =
            self.ledger.customers.iter().map(|c| (c.customer_id.as_str(), c)).collect();
        let mut out = BTreeMap::new();
        for account in accounts {
            let mut inp = Inputs::new();
            let mut num = |k: &str, v: Option<f64>| {
                if let Some(v) = v.filter(|v| v.is_finite()) {
                    inp.insert(k.to_string(), InputValue::Number(v));
                }
            };
            let dec = |d: Decimal| d.to_f64();

            // Usage.
            let mut active_users = None;
            if !self.events.is_empty() {
                let u = self.activity.as_of(account, day);
                active_users = Some(u.as_ref().map_or(0, |u| u.active_users_30d));
                num("active_users_30d", active_users.map(|n| n as f64));
                num("dau_mau_ratio", Some(u.as_ref().map_or(Decimal::ZERO, |u| u.dau_mau_ratio)).and_then(dec));
                num("usage_trend_pct", u.and_then(|u| u.usage_trend_pct).and_then(dec));
            }
            if let Some(a) = &adopted
                && a.features_used > 0
            {
                let breadth = breadth.get(account.as_str()).copied().unwrap_or(0);
                num("feature_adoption_pct", Some(breadth as f64 * 100.0 / a.features_used as f64));
            }
            let customer = self.customer(account);
            if let (Some(users), Some(c)) = (active_users, customer) {
                let seats = ["seats", "seats_purchased"]
                    .iter()
                    .find_map(|k| attribute(c, k).and_then(|s| s.parse::<f64>().ok()))
                    .filter(|s| *s > 0.0);
                num("seat_utilization_pct", seats.map(|s| round2(users as f64 * 100.0 / s)));
            }

            // Voice of the customer.
            let answers: Vec<&SurveyResponse> = self
                .surveys
                .get(account)
                .into_iter()
                .flatten()
                .filter(|s| s.submitted_at.is_some_and(|t| t >= start_365 && t < end))
                .collect();
            let nps_rows: Vec<&SurveyResponse> =
                answers.iter().copied().filter(|s| s.survey_type == SurveyType::Nps).collect();
            num("nps", voice::nps(nps_rows, voice::NpsOptions::default()).nps.and_then(dec));
            let csat_rows: Vec<&SurveyResponse> =
                answers.iter().copied().filter(|s| s.survey_type == SurveyType::Csat).collect();
            if let Ok(Some(scale)) = voice::common_scale(csat_rows.iter().copied()) {
                num("csat_pct", voice::csat(&csat_rows, scale).csat_pct.and_then(dec));
            }

            // Support.
            if self.has_tickets {
                let tickets: Vec<&Ticket> =
                    self.tickets.get(account).into_iter().flatten().filter(|t| t.created_at < end).collect();
                let open = tickets
                    .iter()
                    .filter(|t| match t.solved_at {
                        Some(s) => s >= end,
                        None => !support::is_resolved(t),
                    })
                    .count();
                let recent: Vec<&&Ticket> = tickets.iter().filter(|t| t.created_at >= start_90).collect();
                let (target, clock) = slow_reply.expect("known with tickets");
                let slow = recent.iter().filter(|t| support::slow_first_response(t, target, clock, end)).count();
                num("open_tickets", Some(open as f64));
                num("tickets_90d", Some(recent.len() as f64));
                num("slow_tickets_90d", Some(slow as f64));
            }

            // Billing.
            if self.has_invoices {
                let failed = self
                    .failed_payments
                    .get(account)
                    .map_or(0, |v| v.iter().filter(|t| **t >= start_90 && **t < end).count());
                num("failed_payments_90d", Some(failed as f64));
            }
            if let Some(l) = ledgers.get(account.as_str()) {
                let mrr_on = |d: Date| -> Result<Decimal> {
                    let Some(s) = l.state_on(d) else { return Ok(Decimal::ZERO) };
                    let m = self.fx.convert_all(&s.mrr, month_idx(d)).map_err(|e| anyhow!("{e}"))?;
                    Ok(m.to_decimal_cents())
                };
                let now = mrr_on(as_of)?;
                let before = mrr_on(as_of.checked_sub(90.days())?)?;
                num("mrr_cents", dec(round_dp(now, 2)));
                if before > Decimal::ZERO {
                    num("mrr_change_pct_90d", dec(round_dp((now - before) * Decimal::ONE_HUNDRED / before, 2)));
                }
                num("past_due", Some(if l.state_on(as_of).is_some_and(|s| s.past_due) { 1.0 } else { 0.0 }));
                num("days_to_renewal", days_to_renewal(l, as_of).map(|d| d as f64));
                if let Some(nb) = l.first_new_business() {
                    num("tenure_days", Some(revenue::ledger::days_between(nb.date, as_of) as f64));
                }
            }

            // Customer attributes, under their own names (computed inputs win).
            if let Some(c) = customer {
                for key in ["plan_tier", "segment", "country", "owner", "company"]
                    .into_iter()
                    .map(str::to_string)
                    .chain(c.attributes.keys().cloned())
                {
                    if inp.contains_key(&key) {
                        continue;
                    }
                    let v = match c.attributes.get(&key) {
                        Some(Value::Number(n)) => n.as_f64().map(InputValue::Number),
                        Some(Value::Bool(b)) => Some(InputValue::Number(if *b { 1.0 } else { 0.0 })),
                        _ => attribute(c, &key).map(InputValue::Text),
                    };
                    if let Some(v) = v {
                        inp.insert(key, v);
                    }
                }
            }
            out.insert(account.clone(), inp);
        }
        Ok(out)
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
/// `segment`, per-segment profiles.
pub fn health_doc(ws: &Workspace, q: &HealthQuery) -> Result<Value> {
    let (card, source) = load_scorecard(ws, q.scorecard.as_deref())?;
    let data = HealthData::shared(ws)?;
    let as_of = q.as_of.unwrap_or_else(|| data.default_as_of());
    let overrides = load_overrides(ws.root())?;
    let mut accounts = data.accounts(as_of);
    if let Some(a) = &q.account {
        if data.customer(a).is_none() && !accounts.contains(a) {
            bail!("no customer with id {a:?} in the workspace");
        }
        accounts = vec![a.clone()];
    }
    let look_back = as_of.checked_sub((card.look_back_days as i64).days())?;
    let now = data.scores(&card, &data.accounts(as_of), as_of, &overrides)?;
    let then = data.scores(&card, &accounts, look_back, &overrides)?;
    let then: HashMap<&str, &AccountScore> = then.iter().map(|(s, _)| (s.account.as_str(), s)).collect();
    let mut rows = Vec::new();
    let mut kept: Vec<AccountScore> = Vec::new();
    let wanted: std::collections::HashSet<&str> = accounts.iter().map(String::as_str).collect();
    for (s, inputs) in now.into_iter().filter(|(s, _)| wanted.contains(s.account.as_str())) {
        let mut v = s.to_json(&card);
        v["name"] = json!(data.customer(&s.account).and_then(|c| c.company.clone().or(c.name.clone())));
        let before = then.get(s.account.as_str());
        let tr = health::trend(s.overall(), before.and_then(|b| b.overall()), card.trend_tolerance);
        v["look_back_date"] = json!(look_back.to_string());
        v["score_look_back"] = dec_json(before.and_then(|b| b.overall()));
        v["trend"] = json!(tr.map(|t| t.0));
        v["trend_delta"] = dec_json(tr.map(|t| t.1));
        v["top_mover"] = match before.and_then(|b| health::top_mover(&s, b)) {
            Some((m, points)) => {
                let old = before.and_then(|b| b.measures.iter().find(|x| x.measure == m.measure));
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
        if q.account.is_some() {
            v["inputs"] =
                inputs.iter().map(|(k, v)| (k.clone(), v.to_json())).collect::<serde_json::Map<_, _>>().into();
        }
        rows.push(v);
        kept.push(s);
    }
    rows.sort_by_key(|v| (v["rank"].as_u64().unwrap_or(u64::MAX), v["account"].as_str().unwrap_or("").to_string()));
    let mut by_color = serde_json::Map::new();
    for b in &card.bands {
        by_color.insert(b.name.clone(), json!(kept.iter().filter(|s| s.color(&card) == Some(b.name.as_str())).count()));
    }
    let mut doc = json!({
        "metric": "health",
        "as_of": as_of.to_string(),
        "scorecard": source,
        "missing_policy": match card.missing { health::MissingPolicy::Reweight => "reweight", health::MissingPolicy::Zero => "zero" },
        "look_back_days": card.look_back_days,
        "accounts_scored": kept.iter().filter(|s| s.overall().is_some()).count(),
        "accounts_by_color": by_color,
        "accounts": rows,
    });
    if let Some(a) = &q.account {
        let mut history = Vec::new();
        let mut d = look_back;
        while d <= as_of {
            let (s, _) = data.scores(&card, std::slice::from_ref(a), d, &overrides)?.remove(0);
            history
                .push(json!({"date": d.to_string(), "overall_score": dec_json(s.overall()), "color": s.color(&card)}));
            d = d.tomorrow()?;
        }
        doc["history"] = Value::from(history);
    }
    if let Some(attr) = &q.segment {
        let seg: HashMap<&str, String> =
            data.customers.iter().map(|c| (c.id.as_str(), attribute(c, attr).unwrap_or_else(|| NONE.into()))).collect();
        doc["segment_attribute"] = json!(attr);
        doc["segments"] =
            Value::from(health::profiles(&card, &kept, |a| seg.get(a).cloned().unwrap_or_else(|| NONE.into())));
    }
    Ok(doc)
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
