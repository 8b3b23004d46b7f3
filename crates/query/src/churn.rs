//! Churn prediction on a workspace (SPEC 2.5): per-account features as of
//! past dates, built strictly from what was known before each date, labelled
//! by the revenue ledger's churn movements in the following `horizon` days;
//! a logistic model and gradient-boosted trees trained on earlier snapshot
//! dates and tested on a later one (the better on that hold-out is kept);
//! predictions with their drivers; and the generic mode on any table with a
//! label column.
//!
//! Leakage rules (each is tested by truncating the history at the snapshot
//! date and checking that every feature is unchanged):
//! * a snapshot at date T sees usage events of local days before T, tickets
//!   created before T with only their first reply and solve times that fell
//!   before T, survey answers submitted before T, payments dated before T,
//!   and the ledger's state at the end of T - 1;
//! * accounts that had already asked to cancel before T are left out of
//!   training and testing (their outcome was known); `predict` flags them;
//! * train snapshots' label windows end on or before the test date, so no
//!   training label looks at the test period; the trees' early-stopping
//!   slice is cut the same way inside the training dates.
//!
//! Two inputs have no date and are documented exceptions: a ticket's
//! `reopens` count (used only for tickets solved before T) and the customer's
//! `segment` and `plan_tier` attributes (as of the import).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tenure_metrics::engagement::events::{date_to_day, day_start_us};
use tenure_metrics::engagement::{ActiveEvent, EventTable};
use tenure_metrics::revenue::{FxTable, Ledger, MovementKind, Rules, month_idx};
use tenure_model::{Currency, Customer, Interval, SubscriptionEventType, SurveyResponse, SurveyType, Ticket};
use tenure_models::churn::{
    ChurnModel, Classifier, EarlyStopping, Evaluation, GbmModel, GbmOptions, LogisticOptions, ModelKind, Table, Values,
    evaluate, random_split, roc_auc,
};
use tenure_store::Workspace;

use crate::ledger::RevenueData;

/// Where `tenure churn train` keeps the model, in the workspace directory.
pub const MODEL_FILE: &str = "churn-model.json";

/// A first reply later than this after creation (or the bot handoff) makes a
/// ticket slow (the demo's and most SLA policies' one-day line).
const SLOW_REPLY_SECONDS: i64 = 24 * 3600;
const DAY_US: i64 = 86_400_000_000;

/// The features, in table order, with what each measures (shown by `--json`
/// and in docs/churn.md).
pub const FEATURES: &[(&str, &str)] = &[
    ("events_30d", "ln(1 + usage events in the 30 days before the date)"),
    ("usage_trend_30d", "ln((events in the last 30 days + 1) / (events in the 30 days before those + 1))"),
    ("usage_trend_90d", "ln((3 x events in the last 30 days + 1) / (events in the last 90 days + 1))"),
    ("active_days_30d", "days with usage in the last 30 days"),
    ("active_users_30d", "people active in the last 30 days"),
    ("active_user_share", "people active in the last 30 days / in the last 90 days"),
    ("days_since_last_use", "days since the last usage event (missing: never used)"),
    ("tickets_90d", "support tickets opened in the last 90 days"),
    ("slow_tickets_90d", "of those, first reply later than 24 hours (or none after 24 hours)"),
    ("reopened_tickets_90d", "of those solved before the date, tickets reopened"),
    ("open_tickets", "tickets open at the date"),
    ("nps_last", "the last NPS answer in the year before the date (0-10)"),
    ("detractor_180d", "1 if an NPS answer of 0-6 in the last 180 days"),
    ("csat_180d", "mean CSAT answer in the last 180 days, scaled to 0-1"),
    ("failed_payments_90d", "failed payment transactions in the last 90 days"),
    ("past_due", "1 if a subscription was past due at the date"),
    ("mrr", "ln(1 + MRR in the reporting currency, major units)"),
    ("mrr_change_90d", "ln((MRR + 1) / (MRR 90 days earlier + 1))"),
    ("tenure_days", "days since the customer first paid"),
    ("subscriptions", "live subscriptions"),
    ("days_to_renewal", "days to the nearest end of a paid term"),
    ("billing", "annual if any live subscription bills yearly, else monthly (categorical)"),
    ("segment", "the customer's segment attribute (categorical)"),
    ("plan_tier", "the customer's plan_tier attribute (categorical)"),
];
const CATEGORICAL: &[&str] = &["billing", "segment", "plan_tier"];

/// What training reads from a workspace, arranged per account for fast
/// windows at any date.
pub struct History {
    ledger: Ledger,
    fx: FxTable,
    tz: TimeZone,
    /// Per account: (local day, events) sorted by day, and (day, user) pairs sorted.
    usage: HashMap<String, AccountUsage>,
    tickets: HashMap<String, Vec<Ticket>>,
    /// NPS (0-10) and CSAT (0-1) answers: (submitted, type, normalised score).
    surveys: HashMap<String, Vec<(Timestamp, SurveyType, f64)>>,
    failed_payments: HashMap<String, Vec<Timestamp>>,
    /// (requested, service ends) of cancels known by their request date.
    cancel_requests: HashMap<String, Vec<(Date, Date)>>,
    customers: HashMap<String, (Option<String>, Option<String>)>,
    /// The first and the last day with data.
    pub first_day: Date,
    pub last_day: Date,
}

#[derive(Default)]
struct AccountUsage {
    days: Vec<(i32, u32)>,
    user_days: Vec<(i32, u32)>,
}

/// The raw inputs of a [`History`] (a workspace's tables, or test data).
pub struct HistoryInputs {
    /// Shared with the revenue and health documents ([`RevenueData::shared`]):
    /// the history reads it once while it is built, so it needs no copy.
    pub revenue: Arc<RevenueData>,
    pub rules: Rules,
    pub reporting: Currency,
    pub tz: TimeZone,
    pub customers: Vec<Customer>,
    pub tickets: Vec<Ticket>,
    pub surveys: Vec<SurveyResponse>,
    pub usage: Arc<EventTable>,
}

impl History {
    pub fn load(ws: &Workspace) -> Result<History> {
        let settings = ws.settings();
        let rules = Rules::from_settings(&settings.revenue).map_err(|e| anyhow!("{e}"))?;
        let tz = TimeZone::get(&settings.workspace.timezone)
            .with_context(|| format!("workspace.timezone {:?} is not an IANA zone", settings.workspace.timezone))?;
        let usage = crate::engagement::load_events(ws, tz.clone(), ActiveEvent::AnyTrack)?;
        History::new(HistoryInputs {
            revenue: RevenueData::shared(ws)?,
            rules,
            reporting: settings.workspace.reporting_currency,
            tz,
            customers: tenure_store::load::<Customer>(ws)?,
            tickets: tenure_store::load::<Ticket>(ws)?,
            surveys: tenure_store::load::<SurveyResponse>(ws)?,
            usage,
        })
    }

    pub fn new(input: HistoryInputs) -> Result<History> {
        let fx = input.revenue.fx(input.reporting);
        let ledger = input.revenue.ledger(&input.rules, &fx)?;
        let tz = input.tz;
        let date_of = |t: Timestamp| t.to_zoned(tz.clone()).date();
        let mut dates: Vec<Date> = Vec::new();
        if let Some((a, b)) = input.revenue.date_range() {
            dates.extend([a, b]);
        }

        let t = &input.usage;
        let mut per_day: HashMap<u32, BTreeMap<i32, u32>> = HashMap::new();
        let mut user_days: HashMap<u32, Vec<(i32, u32)>> = HashMap::new();
        for i in 0..t.len() {
            let a = t.account[i];
            if a == tenure_metrics::engagement::events::NO_ACCOUNT || !t.active[i] {
                continue;
            }
            *per_day.entry(a).or_default().entry(t.day[i]).or_default() += 1;
            user_days.entry(a).or_default().push((t.day[i], t.user[i]));
        }
        let mut usage = HashMap::new();
        for (a, days) in per_day {
            let mut ud = user_days.remove(&a).unwrap_or_default();
            ud.sort_unstable();
            ud.dedup();
            let days: Vec<(i32, u32)> = days.into_iter().collect();
            if let (Some(f), Some(l)) = (days.first(), days.last()) {
                dates.push(tenure_metrics::engagement::events::day_to_date(f.0));
                dates.push(tenure_metrics::engagement::events::day_to_date(l.0));
            }
            usage.insert(t.accounts.name(a).to_string(), AccountUsage { days, user_days: ud });
        }

        let mut tickets: HashMap<String, Vec<Ticket>> = HashMap::new();
        for tk in input.tickets {
            dates.push(date_of(tk.created_at));
            if let Some(c) = tk.customer_id.clone() {
                tickets.entry(c).or_default().push(tk);
            }
        }
        for v in tickets.values_mut() {
            v.sort_by_key(|t| t.created_at);
        }

        let mut surveys: HashMap<String, Vec<(Timestamp, SurveyType, f64)>> = HashMap::new();
        for s in input.surveys {
            let (Some(c), Some(at), Some(score)) = (s.customer_id, s.submitted_at, s.score) else { continue };
            if s.rejected_reason.is_some() || s.scale_max <= s.scale_min {
                continue;
            }
            dates.push(date_of(at));
            let v = match s.survey_type {
                SurveyType::Nps => score,
                SurveyType::Csat => (score - s.scale_min as f64) / (s.scale_max - s.scale_min) as f64,
                _ => continue,
            };
            surveys.entry(c).or_default().push((at, s.survey_type, v));
        }
        for v in surveys.values_mut() {
            v.sort_by_key(|s| s.0);
        }

        let mut failed_payments: HashMap<String, Vec<Timestamp>> = HashMap::new();
        for inv in &input.revenue.invoices {
            for tr in &inv.transactions {
                if tr.result == "failed" {
                    failed_payments.entry(inv.customer_id.clone()).or_default().push(tr.date);
                }
            }
        }
        for v in failed_payments.values_mut() {
            v.sort();
        }

        let mut cancel_requests: HashMap<String, Vec<(Date, Date)>> = HashMap::new();
        let sub_customer: HashMap<&str, &str> = input
            .revenue
            .events
            .iter()
            .map(|e| (e.subscription_id.as_str(), e.customer_id.as_str()))
            .chain(input.revenue.invoices.iter().flat_map(|i| {
                i.line_items.iter().filter_map(|l| Some((l.subscription_id.as_deref()?, i.customer_id.as_str())))
            }))
            .collect();
        for e in &input.revenue.events {
            if e.kind == SubscriptionEventType::Cancel {
                let requested = e.requested_at.unwrap_or(e.date).min(e.date);
                cancel_requests
                    .entry(e.customer_id.clone())
                    .or_default()
                    .push((requested, e.ends_at.unwrap_or(e.date)));
            }
        }
        for c in &input.revenue.cancellations {
            let customer = c.customer_id.as_deref().or_else(|| sub_customer.get(c.subscription_id.as_str()).copied());
            if let Some(customer) = customer {
                let requested = c.requested_at.unwrap_or(c.cancelled_at);
                cancel_requests.entry(customer.to_string()).or_default().push((requested, c.cancelled_at));
            }
        }

        let customers =
            input.customers.into_iter().map(|c| (c.id, (c.segment, c.plan_tier))).collect::<HashMap<_, _>>();
        let (Some(&first_day), Some(&last_day)) = (dates.iter().min(), dates.iter().max()) else {
            bail!("the workspace has no subscription, invoice, usage, ticket or survey data to learn churn from");
        };
        Ok(History {
            ledger,
            fx,
            tz,
            usage,
            tickets,
            surveys,
            failed_payments,
            cancel_requests,
            customers,
            first_day,
            last_day,
        })
    }

    /// One row per account that was a subscriber at the end of `date - 1`:
    /// its features from the history before `date`, and (when `horizon` is
    /// given) whether it churned in `[date, date + horizon)`.
    pub fn snapshot(&self, date: Date, horizon: Option<i64>) -> Snapshot {
        let mut rows = Snapshot::default();
        let eve = date.yesterday().expect("date in range");
        let cut_us = day_start_us(&self.tz, date);
        let day = date_to_day(date);
        let ago = |days: i64| date.checked_sub(jiff::Span::new().days(days)).expect("date in range");
        for c in &self.ledger.customers {
            let Some(state) = c.state_on(eve).filter(|s| s.subscriber) else { continue };
            let id = c.customer_id.as_str();
            let pending = self
                .cancel_requests
                .get(id)
                .is_some_and(|v| v.iter().any(|&(requested, ends)| requested < date && ends >= date));
            let label = horizon.map(|h| {
                let end = date.checked_add(jiff::Span::new().days(h)).expect("date in range");
                c.movements.iter().any(|m| m.kind == MovementKind::Churn && m.date >= date && m.date < end)
            });
            let mut f: Vec<Option<f64>> = Vec::with_capacity(FEATURES.len());

            // Usage.
            let u = self.usage.get(id);
            let events_in = |from: i32, to: i32| -> f64 {
                u.map_or(0.0, |u| {
                    let a = u.days.partition_point(|d| d.0 < from);
                    let b = u.days.partition_point(|d| d.0 < to);
                    u.days[a..b].iter().map(|d| f64::from(d.1)).sum()
                })
            };
            let users_in = |from: i32, to: i32| -> f64 {
                u.map_or(0.0, |u| {
                    let a = u.user_days.partition_point(|d| d.0 < from);
                    let b = u.user_days.partition_point(|d| d.0 < to);
                    u.user_days[a..b].iter().map(|d| d.1).collect::<HashSet<u32>>().len() as f64
                })
            };
            let (e30, e_prev30, e90) =
                (events_in(day - 30, day), events_in(day - 60, day - 30), events_in(day - 90, day));
            f.push(Some(e30.ln_1p()));
            f.push(Some(((e30 + 1.0) / (e_prev30 + 1.0)).ln()));
            f.push(Some(((3.0 * e30 + 1.0) / (e90 + 1.0)).ln()));
            f.push(Some(u.map_or(0.0, |u| {
                let a = u.days.partition_point(|d| d.0 < day - 30);
                let b = u.days.partition_point(|d| d.0 < day);
                (b - a) as f64
            })));
            let (u30, u90) = (users_in(day - 30, day), users_in(day - 90, day));
            f.push(Some(u30));
            f.push((u90 > 0.0).then(|| u30 / u90));
            f.push(u.and_then(|u| {
                let b = u.days.partition_point(|d| d.0 < day);
                (b > 0).then(|| f64::from(day - u.days[b - 1].0))
            }));

            // Support.
            let tickets =
                self.tickets.get(id).map(|v| &v[..v.partition_point(|t| t.created_at.as_microsecond() < cut_us)]);
            let tickets = tickets.unwrap_or(&[]);
            let from90 = cut_us - 90 * DAY_US;
            let recent: Vec<&Ticket> = tickets.iter().filter(|t| t.created_at.as_microsecond() >= from90).collect();
            let before = |t: Option<Timestamp>| t.filter(|t| t.as_microsecond() < cut_us);
            let slow = recent
                .iter()
                .filter(|t| {
                    let from = t.bot_handoff_at.filter(|h| h.as_microsecond() < cut_us).unwrap_or(t.created_at);
                    let waited = match before(t.first_reply_at) {
                        Some(r) => r.as_microsecond() - from.as_microsecond(),
                        None => cut_us - from.as_microsecond(),
                    };
                    waited > SLOW_REPLY_SECONDS * 1_000_000
                })
                .count();
            let reopened =
                recent.iter().filter(|t| before(t.solved_at).is_some() && t.reopens.unwrap_or(0) > 0).count();
            let open = tickets.iter().filter(|t| before(t.solved_at).is_none()).count();
            f.push(Some(recent.len() as f64));
            f.push(Some(slow as f64));
            f.push(Some(reopened as f64));
            f.push(Some(open as f64));

            // Surveys.
            let answers =
                self.surveys.get(id).map_or(&[][..], |v| &v[..v.partition_point(|s| s.0.as_microsecond() < cut_us)]);
            let since = |days: i64| cut_us - days * DAY_US;
            let nps: Vec<&(Timestamp, SurveyType, f64)> =
                answers.iter().filter(|s| s.1 == SurveyType::Nps && s.0.as_microsecond() >= since(365)).collect();
            f.push(nps.last().map(|s| s.2));
            f.push(Some(f64::from(u8::from(nps.iter().any(|s| s.0.as_microsecond() >= since(180) && s.2 <= 6.0)))));
            let csat: Vec<f64> = answers
                .iter()
                .filter(|s| s.1 == SurveyType::Csat && s.0.as_microsecond() >= since(180))
                .map(|s| s.2)
                .collect();
            f.push((!csat.is_empty()).then(|| csat.iter().sum::<f64>() / csat.len() as f64));

            // Billing.
            let failed = self.failed_payments.get(id).map_or(0, |v| {
                v.iter().filter(|t| t.as_microsecond() < cut_us && t.as_microsecond() >= from90).count()
            });
            f.push(Some(failed as f64));
            f.push(Some(f64::from(u8::from(state.past_due))));
            let mrr_at = |d: Date| -> f64 {
                c.state_on(d).filter(|s| s.subscriber).map_or(0.0, |s| {
                    self.fx
                        .convert_all(&s.mrr, month_idx(d))
                        .map_or(0.0, |m| m.cents_f64() / 10f64.powi(i32::from(self.fx.reporting().exponent())))
                })
            };
            let (mrr, mrr_before) = (mrr_at(eve), mrr_at(ago(91)));
            f.push(Some(mrr.max(0.0).ln_1p()));
            f.push(Some(((mrr.max(0.0) + 1.0) / (mrr_before.max(0.0) + 1.0)).ln()));
            let first_paid = c.first_new_business().map(|m| m.date);
            f.push(first_paid.filter(|&d| d < date).map(|d| (date - d).get_days() as f64));
            f.push(Some(f64::from(state.live_subscriptions)));
            let mut annual = false;
            let mut renewal: Option<i64> = None;
            for s in &c.subscriptions {
                if !s.at(eve).is_some_and(|p| p.status.is_live()) {
                    continue;
                }
                let Some(anchor) = s.anchors.iter().rev().find(|a| a.date < date) else { continue };
                annual |= anchor.interval == Interval::Year;
                // The first term end on or after the date (terms step from the anchor).
                let mut k = 1;
                while anchor.term_end(k) < date && k < 100_000 {
                    k += 1;
                }
                let days = (anchor.term_end(k) - date).get_days() as i64;
                renewal = Some(renewal.map_or(days, |r| r.min(days)));
            }
            f.push(renewal.map(|d| d as f64));

            let (segment, plan_tier) = self.customers.get(id).cloned().unwrap_or((None, None));
            rows.push(
                id,
                date,
                f,
                [Some(if annual { "annual" } else { "monthly" }.to_string()), segment, plan_tier],
                label,
                pending,
                mrr,
            );
        }
        rows
    }

    /// The month starts with a full label window inside the data, oldest
    /// first, beginning once 90 days of history exist.
    pub fn labelled_dates(&self, horizon: i64) -> Vec<Date> {
        let mut out = Vec::new();
        let start = self.first_day.checked_add(jiff::Span::new().days(90)).expect("date in range");
        let mut d = start.first_of_month();
        if d < start {
            d = d.checked_add(jiff::Span::new().months(1)).expect("date in range");
        }
        let last_start = self.last_day.checked_sub(jiff::Span::new().days(horizon - 1)).expect("date in range");
        while d <= last_start {
            out.push(d);
            d = d.checked_add(jiff::Span::new().months(1)).expect("date in range");
        }
        out
    }
}

/// Feature rows of accounts at one or more dates.
#[derive(Default)]
pub struct Snapshot {
    pub accounts: Vec<String>,
    pub dates: Vec<Date>,
    numeric: Vec<Vec<Option<f64>>>,
    categorical: Vec<[Option<String>; 3]>,
    pub labels: Vec<Option<bool>>,
    /// A cancellation requested before the date and not yet in effect.
    pub cancellation_pending: Vec<bool>,
    /// MRR in the reporting currency (major units) at the date.
    pub mrr: Vec<f64>,
}

impl Snapshot {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        id: &str,
        date: Date,
        numeric: Vec<Option<f64>>,
        categorical: [Option<String>; 3],
        label: Option<bool>,
        pending: bool,
        mrr: f64,
    ) {
        self.accounts.push(id.to_string());
        self.dates.push(date);
        self.numeric.push(numeric);
        self.categorical.push(categorical);
        self.labels.push(label);
        self.cancellation_pending.push(pending);
        self.mrr.push(mrr);
    }

    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    fn extend(&mut self, other: Snapshot) {
        self.accounts.extend(other.accounts);
        self.dates.extend(other.dates);
        self.numeric.extend(other.numeric);
        self.categorical.extend(other.categorical);
        self.labels.extend(other.labels);
        self.cancellation_pending.extend(other.cancellation_pending);
        self.mrr.extend(other.mrr);
    }

    /// Keep the rows `keep` selects.
    fn retain(self, keep: impl Fn(usize) -> bool) -> Snapshot {
        let mut out = Snapshot::default();
        for i in 0..self.len() {
            if keep(i) {
                out.push(
                    &self.accounts[i],
                    self.dates[i],
                    self.numeric[i].clone(),
                    self.categorical[i].clone(),
                    self.labels[i],
                    self.cancellation_pending[i],
                    self.mrr[i],
                );
            }
        }
        out
    }

    /// The feature table of these rows.
    pub fn table(&self) -> Table {
        let mut t = Table::default();
        let mut ci = 0;
        let mut ni = 0;
        for (name, _) in FEATURES {
            let values = if CATEGORICAL.contains(name) {
                ci += 1;
                Values::Categorical(self.categorical.iter().map(|r| r[ci - 1].clone()).collect())
            } else {
                ni += 1;
                Values::Numeric(self.numeric.iter().map(|r| r[ni - 1]).collect())
            };
            t.push(*name, values).expect("one value per row");
        }
        t
    }
}

/// `tenure churn train` options.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    pub horizon_days: i64,
    pub l2: f64,
    /// The hold-out snapshot date (default: the last month start whose label
    /// window is inside the data).
    pub test_date: Option<Date>,
    /// Keep this model whatever the hold-out says (default: the better
    /// hold-out AUC; a tie keeps the logistic model, the simpler one).
    pub model: Option<ModelKind>,
    pub gbm: GbmOptions,
}

impl TrainOptions {
    pub fn new(horizon_days: i64, l2: f64) -> TrainOptions {
        TrainOptions { horizon_days, l2, test_date: None, model: None, gbm: GbmOptions::default() }
    }
}

/// The saved model and what it needs to predict.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SavedModel {
    pub kind: String,
    /// Files written before the boosted trees have no such field: logistic.
    #[serde(default)]
    pub model_kind: ModelKind,
    pub horizon_days: i64,
    /// Last snapshot date whose labels the saved model was fitted on.
    pub trained_through: Date,
    pub holdout_auc: Option<f64>,
    pub model: Classifier,
}

/// The trees' early-stopping slice: the latest training dates holding about
/// a fifth of the training rows validate; the trees learn from the dates whose
/// label windows end by the first validation date, so no label they fit looks
/// into the validation period (if that leaves nothing, the dates before it).
/// `None` with a single training date: time cannot be cut.
fn validation_cut(train: &Snapshot, dates: &[Date], h: i64) -> Option<(Vec<usize>, Vec<usize>, Date)> {
    let mut start = None;
    let mut rows = 0;
    for &d in dates.iter().skip(1).rev() {
        rows += train.dates.iter().filter(|&&x| x == d).count();
        start = Some(d);
        if rows * 5 >= train.len() {
            break;
        }
    }
    let start = start?;
    let ends_by = |d: Date| d.checked_add(jiff::Span::new().days(h)).is_ok_and(|end| end <= start);
    let mut fit: Vec<usize> = (0..train.len()).filter(|&i| ends_by(train.dates[i])).collect();
    if fit.is_empty() {
        fit = (0..train.len()).filter(|&i| train.dates[i] < start).collect();
    }
    let valid = (0..train.len()).filter(|&i| train.dates[i] >= start).collect();
    Some((fit, valid, start))
}

/// The boosted trees of `train_on`: rounds by early stopping on the time cut,
/// then refitted with that many rounds on every training row.
struct GbmCandidate {
    model: GbmModel,
    stopping: EarlyStopping,
    validation_from: Date,
    fit_rows: usize,
}

fn fit_gbm(
    train: &Snapshot,
    table: &Table,
    y: &[bool],
    dates: &[Date],
    h: i64,
    opts: &GbmOptions,
) -> Result<GbmCandidate> {
    let (fit, valid, validation_from) = validation_cut(train, dates, h).ok_or_else(|| {
        anyhow!("one training snapshot date only: the number of rounds is chosen on later training dates")
    })?;
    let (_, stopping) = GbmModel::fit(table, y, &fit, &valid, opts).map_err(|e| anyhow!("{e}"))?;
    let stopping = stopping.expect("validation rows given");
    let all: Vec<usize> = (0..train.len()).collect();
    let fixed = GbmOptions { max_rounds: stopping.rounds, ..opts.clone() };
    let (model, _) = GbmModel::fit(table, y, &all, &[], &fixed).map_err(|e| anyhow!("{e}"))?;
    Ok(GbmCandidate { model, stopping, validation_from, fit_rows: fit.len() })
}

pub fn model_path(ws: &Workspace) -> PathBuf {
    ws.root().join(MODEL_FILE)
}

/// Train on a workspace: fit on the snapshots before the test date, evaluate
/// on the test snapshot, then refit on every labelled snapshot (the test one
/// included: the saved model should know the most recent behaviour) and save
/// it. Returns the report as JSON.
pub fn train(ws: &Workspace, opts: &TrainOptions) -> Result<Value> {
    let history = History::load(ws)?;
    train_on(&history, opts, Some(&model_path(ws)))
}

pub fn train_on(history: &History, opts: &TrainOptions, save: Option<&Path>) -> Result<Value> {
    let h = opts.horizon_days;
    if !(7..=730).contains(&h) {
        bail!("--horizon-days {h}: choose between 7 and 730 days");
    }
    let dates = history.labelled_dates(h);
    let test_date = match opts.test_date {
        Some(d) => {
            let window_end = d.checked_add(jiff::Span::new().days(h - 1)).unwrap_or(Date::MAX);
            if d <= history.first_day || window_end > history.last_day {
                bail!(
                    "--test-date {d}: its {h}-day label window (to {window_end}) must lie inside the data ({} to {})",
                    history.first_day,
                    history.last_day
                );
            }
            d
        }
        None => *dates.last().ok_or_else(|| {
            anyhow!(
                "the data runs from {} to {}: too short for a {h}-day horizon after 90 days of history \
                 (import more history or use a shorter --horizon-days)",
                history.first_day,
                history.last_day
            )
        })?,
    };
    let train_dates: Vec<Date> = dates
        .iter()
        .copied()
        .filter(|d| d.checked_add(jiff::Span::new().days(h)).is_ok_and(|end| end <= test_date))
        .collect();
    if train_dates.is_empty() {
        bail!(
            "no snapshot date has its {h}-day label window before the test date {test_date}: the data ({} to {}) is \
             too short (use a shorter --horizon-days)",
            history.first_day,
            history.last_day
        );
    }
    let eligible = |s: Snapshot| {
        let pending = s.cancellation_pending.clone();
        s.retain(|i| !pending[i])
    };
    let mut train = Snapshot::default();
    for &d in &train_dates {
        train.extend(eligible(history.snapshot(d, Some(h))));
    }
    let test = eligible(history.snapshot(test_date, Some(h)));
    let lopts = LogisticOptions { l2: opts.l2, ..LogisticOptions::default() };
    let labels = |s: &Snapshot| s.labels.iter().map(|l| l.expect("labelled")).collect::<Vec<bool>>();
    let (train_table, train_y) = (train.table(), labels(&train));
    let all: Vec<usize> = (0..train.len()).collect();
    let logistic = ChurnModel::fit(&train_table, &train_y, &all, &lopts).map_err(|e| anyhow!("{e}"))?;
    let (test_table, test_y) = (test.table(), labels(&test));
    let score = |m: &Classifier, table: &Table, n: usize| (0..n).map(|i| m.probability(table, i)).collect::<Vec<f64>>();
    let logistic = Classifier::Logistic(logistic);
    let holdout_logistic = evaluate(&score(&logistic, &test_table, test.len()), &test_y);
    let train_auc_logistic = roc_auc(&score(&logistic, &train_table, train.len()), &train_y);
    let gbm = fit_gbm(&train, &train_table, &train_y, &train_dates, h, &opts.gbm);
    if opts.model == Some(ModelKind::Gbm)
        && let Err(e) = &gbm
    {
        bail!("--model gbm: the boosted trees could not be trained: {e}");
    }
    let gbm = gbm.map(|g| {
        let m = Classifier::Gbm(g.model.clone());
        let holdout = evaluate(&score(&m, &test_table, test.len()), &test_y);
        let train_auc = roc_auc(&score(&m, &train_table, train.len()), &train_y);
        (g, holdout, train_auc)
    });
    let (kept, kept_because) = match (opts.model, &gbm) {
        (Some(k), _) => (k, "chosen with --model".to_string()),
        (None, Err(e)) => (ModelKind::Logistic, format!("the boosted trees could not be trained ({e})")),
        (None, Ok((_, g, _))) => match (holdout_logistic.auc, g.auc) {
            (Some(l), Some(b)) if b > l => (ModelKind::Gbm, format!("higher hold-out AUC ({b:.4} against {l:.4})")),
            (Some(l), Some(b)) => (ModelKind::Logistic, format!("hold-out AUC {l:.4}, not below the trees' {b:.4}")),
            _ => (ModelKind::Logistic, "the hold-out has one outcome only: no AUC to compare".to_string()),
        },
    };
    let (holdout, train_auc) = match (&gbm, kept) {
        (Ok((_, g, a)), ModelKind::Gbm) => (g.clone(), *a),
        _ => (holdout_logistic.clone(), train_auc_logistic),
    };

    // The model to keep: every labelled snapshot up to the test date.
    let mut everything = train;
    let last_train = *train_dates.last().expect("not empty");
    for &d in dates.iter().filter(|&&d| d > last_train && d < test_date) {
        everything.extend(eligible(history.snapshot(d, Some(h))));
    }
    everything.extend(test);
    let full_y = labels(&everything);
    let full_rows: Vec<usize> = (0..everything.len()).collect();
    let full_table = everything.table();
    let final_logistic = ChurnModel::fit(&full_table, &full_y, &full_rows, &lopts).map_err(|e| anyhow!("{e}"))?;
    let coefficients = serde_json::to_value(final_logistic.coefficients()).expect("serialises");
    let final_model = match (&gbm, kept) {
        (Ok((g, _, _)), ModelKind::Gbm) => {
            let fixed = GbmOptions { max_rounds: g.stopping.rounds, ..opts.gbm.clone() };
            let (m, _) = GbmModel::fit(&full_table, &full_y, &full_rows, &[], &fixed).map_err(|e| anyhow!("{e}"))?;
            Classifier::Gbm(m)
        }
        _ => Classifier::Logistic(final_logistic),
    };
    let saved = SavedModel {
        kind: "workspace".into(),
        model_kind: kept,
        horizon_days: h,
        trained_through: test_date,
        holdout_auc: holdout.auc,
        model: final_model,
    };
    let gbm_json = match &gbm {
        Err(e) => json!({"error": e.to_string()}),
        Ok((g, holdout, train_auc)) => json!({
            "holdout": evaluation_json(holdout, Some(test_date)),
            "train_auc": train_auc,
            "rounds": g.stopping.rounds,
            "early_stopping": {
                "validation_from": g.validation_from.to_string(),
                "fit_rows": g.fit_rows,
                "validation_rows": g.stopping.validation_rows,
                "base_log_loss": g.stopping.base_log_loss,
                "best_log_loss": g.stopping.best_log_loss,
                "rounds_tried": g.stopping.rounds_tried,
            },
            "options": opts.gbm,
            "importance": g.model.importance(),
        }),
    };
    let mut doc = json!({
        "mode": "workspace",
        "model": match kept { ModelKind::Logistic => "logistic_regression_l2", ModelKind::Gbm => "gradient_boosted_trees" },
        "model_kind": kept,
        "kept_because": kept_because,
        "candidates": {
            "logistic": {"holdout": evaluation_json(&holdout_logistic, Some(test_date)), "train_auc": train_auc_logistic},
            "gbm": gbm_json,
        },
        "l2": opts.l2,
        "horizon_days": h,
        "data": {"first_day": history.first_day.to_string(), "last_day": history.last_day.to_string()},
        "train": {
            "snapshot_dates": train_dates.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
            "rows": train_y.len(),
            "churned": train_y.iter().filter(|&&y| y).count(),
            "auc": train_auc,
        },
        "holdout": evaluation_json(&holdout, Some(test_date)),
        "coefficients": coefficients,
        "saved_model_rows": full_y.len(),
        "features": FEATURES.iter().map(|(n, d)| json!({"name": n, "description": d})).collect::<Vec<_>>(),
    });
    if let Some(path) = save {
        tenure_store::manifest::write_atomic(path, serde_json::to_vec_pretty(&saved).expect("model serialises"))
            .with_context(|| format!("saving the churn model to {}", path.display()))?;
        doc["model_file"] = json!(path.display().to_string());
    }
    Ok(doc)
}

fn evaluation_json(e: &Evaluation, date: Option<Date>) -> Value {
    let mut v = serde_json::to_value(e).expect("serialises");
    if let Some(d) = date {
        v["snapshot_date"] = json!(d.to_string());
    }
    v
}

pub fn load_model(ws: &Workspace) -> Result<SavedModel> {
    let path = model_path(ws);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("no churn model in {}: train one first with `tenure churn train`", ws.root().display())
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let saved: SavedModel = serde_json::from_str(&text).with_context(|| {
        format!("{} is not a churn model this version can read: train again with `tenure churn train`", path.display())
    })?;
    if saved.model_kind != saved.model.kind() {
        bail!(
            "{}: model_kind says {:?} but the model stored is {:?}: train again with `tenure churn train`",
            path.display(),
            saved.model_kind,
            saved.model.kind()
        );
    }
    Ok(saved)
}

/// Each current subscriber's churn probability over the model's horizon,
/// as of the day after the last day of data, riskiest first, with its
/// `drivers` strongest contributions.
pub fn predict(ws: &Workspace, account: Option<&str>, drivers: usize) -> Result<Value> {
    let saved = load_model(ws)?;
    // Shared per workspace state: the accounts list and each account page predict from one copy.
    let history = crate::cache::shared(ws, "churn-history", || History::load(ws))?;
    predict_on(&history, &saved, account, drivers)
}

pub fn predict_on(history: &History, saved: &SavedModel, account: Option<&str>, drivers: usize) -> Result<Value> {
    let as_of = history.last_day.tomorrow().expect("date in range");
    let snap = history.snapshot(as_of, None);
    let table = snap.table();
    let missing = saved.model.encoder().missing_columns(&table);
    if !missing.is_empty() {
        bail!("the saved model needs columns this workspace lacks ({}): train again", missing.join(", "));
    }
    let mut rows: Vec<(f64, Value)> = (0..snap.len())
        .filter(|&i| account.is_none_or(|a| snap.accounts[i] == a))
        .map(|i| {
            let p = saved.model.probability(&table, i);
            let d: Vec<Value> = saved
                .model
                .drivers(&table, i)
                .into_iter()
                .take(drivers)
                .map(|d| json!({"feature": d.feature, "value": d.value, "contribution": d.contribution}))
                .collect();
            let row = json!({
                "account_id": snap.accounts[i],
                "churn_probability": p,
                "mrr": snap.mrr[i],
                "cancellation_pending": snap.cancellation_pending[i],
                "drivers": d,
            });
            (p, row)
        })
        .collect();
    if let Some(a) = account
        && rows.is_empty()
    {
        bail!("account {a:?} is not a subscriber on {as_of} (only current subscribers get a churn probability)");
    }
    rows.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1["account_id"].as_str().cmp(&b.1["account_id"].as_str())));
    Ok(json!({
        "as_of": as_of.to_string(),
        "horizon_days": saved.horizon_days,
        "trained_through": saved.trained_through.to_string(),
        "model_kind": saved.model_kind,
        "baseline_logit": saved.model.baseline(),
        "holdout_auc": saved.holdout_auc,
        "accounts": rows.into_iter().map(|(_, r)| r).collect::<Vec<_>>(),
    }))
}

// ---------------------------------------------------------------- generic mode

/// `tenure churn train --from-file`: options.
#[derive(Clone, Debug)]
pub struct FileOptions {
    pub label: String,
    /// The row id column (default: `id`, `customer_id` or `account_id` if present).
    pub id: Option<String>,
    pub ignore: Vec<String>,
    pub holdout_fraction: f64,
    pub seed: u64,
    pub l2: f64,
}

/// A label cell as an outcome: 1/0, true/false, yes/no, churned/retained.
fn parse_label(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_f64().filter(|x| *x == 0.0 || *x == 1.0).map(|x| x == 1.0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "1" | "1.0" | "true" | "t" | "yes" | "y" | "churned" => Some(true),
            "0" | "0.0" | "false" | "f" | "no" | "n" | "retained" | "active" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|x| x.is_finite()),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(s.trim().to_string()),
        other => Some(other.to_string()),
    }
}

/// Train and evaluate on any table (CSV, JSON Lines, JSON or Parquet) with a
/// label column: every other column is an attribute, numeric if all its
/// values are numbers, else categorical. Rows go to the hold-out at random
/// (seeded); with `holdout_fraction` 0 the figures are in-sample.
pub fn train_file(path: &Path, opts: &FileOptions) -> Result<Value> {
    let format = tenure_import::Format::detect(path)?;
    let rows = tenure_import::read::open(path, format, None)?;
    let mut records = Vec::new();
    for r in rows.rows {
        records.push(r.map_err(|e| anyhow!("{e}"))?);
    }
    let mut columns: Vec<String> = rows.header.into_iter().filter(|h| !h.is_empty()).collect();
    for r in &records {
        for k in r.fields.keys() {
            if !columns.contains(k) {
                columns.push(k.clone());
            }
        }
    }
    let file = path.display().to_string();
    if !columns.contains(&opts.label) {
        bail!("{file}: no column {:?} to use as the label (columns: {})", opts.label, columns.join(", "));
    }
    let id_column = match &opts.id {
        Some(c) if !columns.contains(c) => bail!("{file}: no column {c:?} for --id"),
        Some(c) => Some(c.clone()),
        None => {
            ["id", "customer_id", "account_id"].iter().find(|c| columns.iter().any(|k| k == *c)).map(|c| c.to_string())
        }
    };
    for c in &opts.ignore {
        if !columns.contains(c) {
            bail!("{file}: no column {c:?} to --ignore");
        }
    }
    let mut y = Vec::with_capacity(records.len());
    for r in &records {
        let v = r.fields.get(&opts.label).unwrap_or(&Value::Null);
        y.push(parse_label(v).ok_or_else(|| {
            anyhow!(
                "{file}: line {}: field {}: {} is not an outcome (use 1/0, true/false or yes/no)",
                r.line,
                opts.label,
                if v.is_null() { "an empty value".to_string() } else { v.to_string() }
            )
        })?);
    }
    if records.is_empty() {
        bail!("{file}: no rows");
    }
    let mut table = Table::default();
    let mut skipped = Vec::new();
    for c in &columns {
        if *c == opts.label || Some(c) == id_column.as_ref() || opts.ignore.contains(c) {
            continue;
        }
        let cells: Vec<Option<&Value>> =
            records.iter().map(|r| r.fields.get(c).filter(|v| text(v).is_some())).collect();
        let present = cells.iter().flatten().count();
        let values = if cells.iter().flatten().all(|v| number(v).is_some()) {
            Values::Numeric(cells.iter().map(|v| v.and_then(number)).collect())
        } else {
            let labels: Vec<Option<String>> = cells.iter().map(|v| v.and_then(text)).collect();
            let distinct: HashSet<&String> = labels.iter().flatten().collect();
            // A text column with a different value on (nearly) every row is
            // an identifier or free text: it cannot generalise.
            if present >= 20 && distinct.len() * 10 > present * 9 {
                skipped.push(json!({"column": c, "reason": "text with a different value on almost every row"}));
                continue;
            }
            Values::Categorical(labels)
        };
        table.push(c.clone(), values).map_err(|e| anyhow!("{e}"))?;
    }
    if table.features.is_empty() {
        bail!("{file}: no attribute columns besides the label {:?}", opts.label);
    }
    if !(0.0..1.0).contains(&opts.holdout_fraction) {
        bail!("--holdout-fraction {}: choose a number from 0 up to (not including) 1", opts.holdout_fraction);
    }
    let (train, test) = random_split(records.len(), opts.holdout_fraction, opts.seed);
    let lopts = LogisticOptions { l2: opts.l2, ..LogisticOptions::default() };
    let model = ChurnModel::fit(&table, &y, &train, &lopts).map_err(|e| anyhow!("{file}: {e}"))?;
    let score = |rows: &[usize]| {
        let p: Vec<f64> = rows.iter().map(|&i| model.probability(&table, i)).collect();
        let yy: Vec<bool> = rows.iter().map(|&i| y[i]).collect();
        evaluate(&p, &yy)
    };
    let in_sample = score(&train);
    Ok(json!({
        "mode": "file",
        "file": file,
        "model": "logistic_regression_l2",
        "l2": opts.l2,
        "label": opts.label,
        "id_column": id_column,
        "rows": records.len(),
        "seed": opts.seed,
        "holdout_fraction": opts.holdout_fraction,
        "train": {"rows": train.len(), "churned": train.iter().filter(|&&i| y[i]).count(), "auc": in_sample.auc},
        "holdout": if test.is_empty() { Value::Null } else { evaluation_json(&score(&test), None) },
        "in_sample": evaluation_json(&in_sample, None),
        "coefficients": serde_json::to_value(model.coefficients()).expect("serialises"),
        "intercept": model.intercept,
        "skipped_columns": skipped,
    }))
}

pub mod calibrate;

#[cfg(test)]
mod tests;
