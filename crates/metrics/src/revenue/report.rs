//! Month metrics over a range of months (SPEC 2.1), measured at the end of
//! each month after all events dated in it, as the JSON object
//! `{"months": {"YYYY-MM": {...}}, "cohorts": {"YYYY-MM": {...}}}`.

use std::collections::BTreeMap;

use jiff::civil::Date;
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};
use tenure_model::{Cost, Currency, Invoice, Money, TransactionType};

use super::fx::{FxTable, MonthIdx, month_idx, month_label, month_last_day};
use super::ledger::{CustomerLedger, Ledger, MovementKind};
use super::subscription::{SubPoint, SubStatus};
use crate::round;

/// Everything besides the ledger that month metrics read.
pub struct ReportInputs<'a> {
    pub ledger: &'a Ledger,
    pub fx: &'a FxTable,
    pub invoices: &'a [Invoice],
    pub costs: &'a [Cost],
    /// `gross_margin` (unset: 1).
    pub gross_margin: Option<Decimal>,
    /// CAC of M uses the sales & marketing spend of M - lag.
    pub cac_spend_lag_months: u32,
    /// Evaluation date of trial-to-paid conversion (`--as-of`, default today).
    pub as_of: Date,
    /// Reporting time zone: the day (and month) of a refund's timestamp.
    pub tz: jiff::tz::TimeZone,
}

#[derive(Clone, Debug, Default)]
struct MonthAcc {
    /// MRR at the end of M in each original currency (converted once per month).
    mrr_by_currency: ByCurrency,
    /// The same in the reporting currency.
    mrr: Money,
    subscribers: u64,
    past_due: u64,
    active_subscriptions: u64,
    movements: [Money; 5],
    new_customers: u64,
    reactivated_customers: u64,
    churned_customers: u64,
    /// Churned in M, excluding customers whose New Business was also in M.
    churned_for_rate: u64,
    /// Subscribers at the start and at the end of M.
    retained: u64,
    /// Movements of customers who were subscribers at the start of M.
    start_expansion: Money,
    start_contraction: Money,
    start_churn: Money,
    trials_started: u64,
    trials_converted: u64,
    /// Trailing 12 months: the expansion and contraction + churn over
    /// M - 11..=M of the subscribers at the end of M - 12 (whose MRR then is
    /// that month's MRR).
    t12_expansion: Money,
    t12_losses: Money,
    renewals: Renewals,
}

/// Terms due for renewal in a month and what became of them.
#[derive(Clone, Debug, Default)]
struct Renewals {
    due: u64,
    renewed: u64,
    /// Ended without renewal because of non-payment (auto-churned).
    lapsed: u64,
    /// Ended by a cancellation.
    cancelled: u64,
    before: Money,
    after: Money,
    /// Sum of min(after, before).
    kept: Money,
}

/// The trailing NRR/GRR window, in months.
const TRAILING: MonthIdx = 12;

#[derive(Clone, Debug, Default)]
struct Cohort {
    size: u64,
    value: Money,
    retained: Vec<u64>,
    mrr: Vec<ByCurrency>,
}

/// Amounts by original currency: a customer has one or two currencies, so a
/// short list beats a map.
#[derive(Clone, Debug, Default)]
struct ByCurrency(Vec<(Currency, Money)>);

impl ByCurrency {
    fn add(&mut self, c: Currency, m: Money) {
        match self.0.iter_mut().find(|(k, _)| *k == c) {
            Some((_, t)) => *t += m,
            None => self.0.push((c, m)),
        }
    }

    fn add_all(&mut self, other: &ByCurrency) {
        for (c, m) in &other.0 {
            self.add(*c, *m);
        }
    }

    fn convert(&self, fx: &FxTable, m: MonthIdx) -> Result<Money, String> {
        let mut total = Money::ZERO;
        for (c, a) in &self.0 {
            total += fx.convert(*a, *c, m)?;
        }
        Ok(total)
    }
}

impl MonthAcc {
    /// Add another part's counts (the customers are split between cores).
    fn merge(&mut self, o: &MonthAcc) {
        self.mrr_by_currency.add_all(&o.mrr_by_currency);
        self.subscribers += o.subscribers;
        self.past_due += o.past_due;
        self.active_subscriptions += o.active_subscriptions;
        for (a, b) in self.movements.iter_mut().zip(o.movements) {
            *a += b;
        }
        self.new_customers += o.new_customers;
        self.reactivated_customers += o.reactivated_customers;
        self.churned_customers += o.churned_customers;
        self.churned_for_rate += o.churned_for_rate;
        self.retained += o.retained;
        self.start_expansion += o.start_expansion;
        self.start_contraction += o.start_contraction;
        self.start_churn += o.start_churn;
        self.trials_started += o.trials_started;
        self.trials_converted += o.trials_converted;
        self.t12_expansion += o.t12_expansion;
        self.t12_losses += o.t12_losses;
        let (r, x) = (&mut self.renewals, &o.renewals);
        r.due += x.due;
        r.renewed += x.renewed;
        r.lapsed += x.lapsed;
        r.cancelled += x.cancelled;
        r.before += x.before;
        r.after += x.after;
        r.kept += x.kept;
    }
}

fn kind_index(k: MovementKind) -> usize {
    MovementKind::ALL.iter().position(|x| *x == k).expect("kind")
}

/// Month metrics for months `from..=to` (inclusive).
pub fn month_report(inp: &ReportInputs<'_>, from: MonthIdx, to: MonthIdx) -> Result<Value, String> {
    if to < from {
        return Err(format!("--to {} is before --from {}", month_label(to), month_label(from)));
    }
    // Twelve months before `from`: the start of `from` and of trailing windows.
    let first = from - TRAILING;
    let n = (to - first + 1) as usize;
    let at = |m: MonthIdx| (m - first) as usize;
    // Customers are independent: each core sums its share, then the shares add up.
    let chunk = inp.ledger.customers.len().div_ceil(2).max(1024);
    let parts: Vec<&[CustomerLedger]> = inp.ledger.customers.chunks(chunk).collect();
    let mut acc = vec![MonthAcc::default(); n];
    let mut cohorts: BTreeMap<MonthIdx, Cohort> = BTreeMap::new();
    for part in super::ledger::par_map(&parts, |cs| customers_part(inp, cs, first, from, to)) {
        let (a, co) = part?;
        for (x, y) in acc.iter_mut().zip(&a) {
            x.merge(y);
        }
        for (cm, c) in co {
            let e = cohorts.entry(cm).or_insert_with(|| Cohort {
                retained: vec![0; c.retained.len()],
                mrr: vec![ByCurrency::default(); c.mrr.len()],
                ..Cohort::default()
            });
            e.size += c.size;
            e.value += c.value;
            for (x, y) in e.retained.iter_mut().zip(&c.retained) {
                *x += y;
            }
            for (x, y) in e.mrr.iter_mut().zip(&c.mrr) {
                x.add_all(y);
            }
        }
    }
    for m in first..=to {
        let a = &mut acc[at(m)];
        a.mrr = a.mrr_by_currency.convert(inp.fx, m)?;
    }

    // Refunds: successful refund transactions dated in M, positive, converted.
    let mut refunds = vec![Money::ZERO; n];
    for inv in inp.invoices {
        for t in &inv.transactions {
            if t.kind != TransactionType::Refund || t.result != "successful" {
                continue;
            }
            let m = month_idx(t.date.to_zoned(inp.tz.clone()).date());
            if (from..=to).contains(&m) {
                refunds[at(m)] += inp.fx.convert(Money::from_cents(t.amount_cents), inv.currency, m)?;
            }
        }
    }
    // Spend by category and month, converted at the spend month's rate.
    let mut spend: BTreeMap<(&str, MonthIdx), Money> = BTreeMap::new();
    for c in inp.costs {
        let m = month_idx(c.month);
        *spend.entry((c.category.as_str(), m)).or_default() +=
            inp.fx.convert(Money::from_cents(c.amount_cents), c.currency, m)?;
    }
    let gm = inp.gross_margin.unwrap_or(Decimal::ONE);

    let mut months = Map::new();
    for m in from..=to {
        let a = &acc[at(m)];
        let start = &acc[at(m - 1)];
        let t12_start = acc[at(m - TRAILING)].mrr;
        let mv = |k: MovementKind| a.movements[kind_index(k)];
        let (nb, exp, con, churn, react) = (
            mv(MovementKind::NewBusiness),
            mv(MovementKind::Expansion),
            mv(MovementKind::Contraction),
            mv(MovementKind::Churn),
            mv(MovementKind::Reactivation),
        );
        let net_new = nb + exp + con + churn + react;
        let fx_impact = a.mrr - start.mrr - net_new;
        let arpa = (a.subscribers > 0).then(|| a.mrr.div_int(a.subscribers as i64));
        // LTV = ARPA / customer churn rate = (MRR / subscribers) x (start subscribers / churned).
        let ltv = (a.subscribers > 0 && a.churned_for_rate > 0)
            .then(|| a.mrr.mul_div(start.subscribers as i64, (a.subscribers * a.churned_for_rate) as i64));
        let sm = spend.get(&("sales_marketing", m - inp.cac_spend_lag_months as MonthIdx)).copied();
        let cs = spend.get(&("customer_success", m)).copied();
        let cac = (a.new_customers > 0).then(|| sm.unwrap_or_default().div_int(a.new_customers as i64));
        let nb_arpa = (a.new_customers > 0).then(|| nb.div_int(a.new_customers as i64));
        let cac_payback = match (cac, nb_arpa) {
            (Some(c), Some(arpa)) => c.ratio(arpa.mul_decimal(gm)).map(|r| round::round_dp(r, 2)),
            _ => None,
        };
        let retention_cost = (a.retained > 0).then(|| cs.unwrap_or_default().div_int(a.retained as i64));
        // Seed formula: (customers at end - new customers) / customers at start,
        // where new customers are those who were not subscribers at the start:
        // New Business and Reactivation of M.
        let crr = (start.subscribers > 0).then(|| {
            Decimal::from(a.subscribers as i64 - (a.new_customers + a.reactivated_customers) as i64)
                / Decimal::from(start.subscribers)
        });
        let nrr = (start.mrr + a.start_expansion + a.start_contraction + a.start_churn).ratio(start.mrr);
        let grr = (start.mrr + a.start_contraction + a.start_churn).ratio(start.mrr);
        let losses = -(con + churn);
        let mut o = Map::new();
        o.insert("mrr_cents".into(), money(a.mrr));
        o.insert("arr_cents".into(), money(a.mrr.times(12)));
        o.insert("arpa_cents".into(), opt_money(arpa));
        o.insert("net_new_mrr_cents".into(), money(net_new));
        o.insert("fx_impact_cents".into(), money(fx_impact));
        o.insert("refunds_cents".into(), money(refunds[at(m)]));
        o.insert("subscribers".into(), json!(a.subscribers));
        o.insert("subscribers_start".into(), json!(start.subscribers));
        o.insert("active_subscriptions".into(), json!(a.active_subscriptions));
        o.insert("past_due_subscribers".into(), json!(a.past_due));
        o.insert("new_business_customers".into(), json!(a.new_customers));
        o.insert("reactivated_customers".into(), json!(a.reactivated_customers));
        o.insert("churned_customers".into(), json!(a.churned_customers));
        o.insert("trials_started".into(), json!(a.trials_started));
        let mut movements = Map::new();
        for (k, amount) in MovementKind::ALL.iter().zip(a.movements.iter()) {
            movements.insert(k.as_str().into(), money(*amount));
        }
        o.insert("movements".into(), Value::Object(movements));
        o.insert("customer_churn_rate".into(), round::json(round::ratio(a.churned_for_rate, start.subscribers)));
        o.insert("gross_mrr_churn_rate".into(), rate((-(churn + con)).ratio(start.mrr)));
        o.insert("net_mrr_churn_rate".into(), rate((-(churn + con + exp + react)).ratio(start.mrr)));
        o.insert("nrr".into(), rate(nrr));
        o.insert("grr".into(), rate(grr));
        o.insert("nrr_trailing_12m".into(), rate((t12_start + a.t12_expansion + a.t12_losses).ratio(t12_start)));
        o.insert("grr_trailing_12m".into(), rate((t12_start + a.t12_losses).ratio(t12_start)));
        o.insert("quick_ratio".into(), rate((nb + exp).ratio(losses)));
        o.insert("quick_ratio_incl_reactivation".into(), rate((nb + exp + react).ratio(losses)));
        o.insert("ltv_simple_cents".into(), opt_money(ltv));
        o.insert("ltv_gross_margin_cents".into(), opt_money(ltv.map(|l| l.mul_decimal(gm))));
        o.insert("cac_cents".into(), opt_money(cac));
        o.insert("new_business_arpa_cents".into(), opt_money(nb_arpa));
        o.insert("cac_payback_months".into(), round::json(cac_payback));
        o.insert("retention_cost_cents".into(), opt_money(retention_cost));
        o.insert("customer_retention_rate".into(), rate(crr));
        let rn = &a.renewals;
        o.insert("renewals_due".into(), json!(rn.due));
        o.insert("renewals_renewed".into(), json!(rn.renewed));
        o.insert("renewals_lapsed".into(), json!(rn.lapsed));
        o.insert("renewals_cancelled".into(), json!(rn.cancelled));
        o.insert("renewal_rate".into(), round::json(round::ratio(rn.renewed, rn.due)));
        o.insert("gross_mrr_renewal_rate".into(), rate(rn.kept.ratio(rn.before)));
        o.insert("net_mrr_renewal_rate".into(), rate(rn.after.ratio(rn.before)));
        o.insert(
            "trial_to_paid_conversion_rate".into(),
            round::json(round::ratio(a.trials_converted, a.trials_started)),
        );
        months.insert(month_label(m), Value::Object(o));
    }

    let mut co = Map::new();
    for (cm, c) in cohorts {
        let mrr = c
            .mrr
            .iter()
            .enumerate()
            .map(|(k, x)| x.convert(inp.fx, cm + k as MonthIdx))
            .collect::<Result<Vec<_>, _>>()?;
        co.insert(
            month_label(cm),
            json!({
                "size": c.size,
                "cohort_value_cents": money(c.value),
                "customer_retention": c.retained.iter().map(|r| round::json(round::ratio(*r, c.size))).collect::<Vec<_>>(),
                "net_mrr_retention": mrr.iter().map(|x| rate(x.ratio(c.value))).collect::<Vec<_>>(),
            }),
        );
    }
    Ok(json!({"months": Value::Object(months), "cohorts": Value::Object(co)}))
}

/// The month accumulators (months `first..=to`) and cohorts of some customers.
fn customers_part(
    inp: &ReportInputs<'_>,
    customers: &[CustomerLedger],
    first: MonthIdx,
    from: MonthIdx,
    to: MonthIdx,
) -> Result<(Vec<MonthAcc>, BTreeMap<MonthIdx, Cohort>), String> {
    let n = (to - first + 1) as usize;
    let at = |m: MonthIdx| (m - first) as usize;
    let mut acc = vec![MonthAcc::default(); n];
    let mut cohorts: BTreeMap<MonthIdx, Cohort> = BTreeMap::new();
    let month_ends: Vec<Date> = (first..=to).map(month_last_day).collect();
    // Reused for every customer: its state index at the end of each month.
    let mut end_state: Vec<Option<usize>> = vec![None; n];
    let mut own = vec![[Money::ZERO; 3]; n + 1];
    for c in customers {
        // States are ascending by date: one forward pass finds each month end's.
        let mut k = 0;
        for (i, end) in month_ends.iter().enumerate() {
            while k < c.states.len() && c.states[k].0 <= *end {
                k += 1;
            }
            end_state[i] = k.checked_sub(1);
            if let Some(j) = end_state[i] {
                let s = &c.states[j].1;
                let a = &mut acc[i];
                for (cur, m) in &s.mrr {
                    a.mrr_by_currency.add(*cur, *m);
                }
                a.subscribers += s.subscriber as u64;
                a.past_due += s.past_due as u64;
                a.active_subscriptions += s.live_subscriptions as u64;
            }
        }
        let sub_end = |i: usize| end_state[i].is_some_and(|j| c.states[j].1.subscriber);
        // Months already counted per kind (movements are ascending by date).
        let mut counted: [Option<MonthIdx>; 5] = [None; 5];
        let mut has_own = false;
        for mv in &c.movements {
            let m = month_idx(mv.date);
            if m <= first || m > to {
                continue;
            }
            let i = at(m);
            let a = &mut acc[i];
            let kind = kind_index(mv.kind);
            a.movements[kind] += mv.amount;
            if sub_end(i - 1) {
                match mv.kind {
                    MovementKind::Expansion => a.start_expansion += mv.amount,
                    MovementKind::Contraction => a.start_contraction += mv.amount,
                    MovementKind::Churn => a.start_churn += mv.amount,
                    _ => {}
                }
            }
            if counted[kind] != Some(m) && m >= from {
                counted[kind] = Some(m);
                match mv.kind {
                    MovementKind::NewBusiness => a.new_customers += 1,
                    MovementKind::Reactivation => a.reactivated_customers += 1,
                    MovementKind::Churn => {
                        a.churned_customers += 1;
                        // Less those with New Business the same month, below.
                        a.churned_for_rate += 1;
                    }
                    _ => {}
                }
            }
            let slot = match mv.kind {
                MovementKind::Expansion => 0,
                MovementKind::Contraction => 1,
                MovementKind::Churn => 2,
                _ => continue,
            };
            own[i + 1][slot] += mv.amount;
            has_own = true;
        }
        // Churned customers whose New Business was in the same month are not in
        // the churn rate's numerator (SPEC 2.1), whichever came first that month.
        let churn_months: Vec<MonthIdx> = {
            let mut v: Vec<MonthIdx> = c
                .movements
                .iter()
                .filter(|mv| mv.kind == MovementKind::Churn)
                .map(|mv| month_idx(mv.date))
                .filter(|m| (from..=to).contains(m))
                .collect();
            v.dedup();
            v
        };
        for m in churn_months {
            if c.movements.iter().any(|mv| mv.kind == MovementKind::NewBusiness && month_idx(mv.date) == m) {
                acc[at(m)].churned_for_rate -= 1;
            }
        }
        for m in from..=to {
            acc[at(m)].retained += (sub_end(at(m - 1)) && sub_end(at(m))) as u64;
        }
        // Trailing 12 months: customers who were subscribers at the end of M - 12,
        // followed through M (their expansion, contraction and churn in the window,
        // from running sums of this customer's movements).
        if has_own {
            for i in 1..=n {
                let prev = own[i - 1];
                for s in 0..3 {
                    own[i][s] += prev[s];
                }
            }
            for m in from..=to {
                if sub_end(at(m - TRAILING)) {
                    let (hi, lo) = (own[at(m) + 1], own[at(m - TRAILING) + 1]);
                    let a = &mut acc[at(m)];
                    a.t12_expansion += hi[0] - lo[0];
                    a.t12_losses += (hi[1] - lo[1]) + (hi[2] - lo[2]);
                }
            }
            own.iter_mut().for_each(|x| *x = [Money::ZERO; 3]);
        }
        renewals(c, inp.fx, from, to, |m, r| {
            let a = &mut acc[at(m)].renewals;
            a.due += 1;
            a.before += r.before;
            a.after += r.after;
            a.kept += r.after.min(r.before);
            match r.outcome {
                Outcome::Renewed => a.renewed += 1,
                Outcome::Lapsed => a.lapsed += 1,
                Outcome::Cancelled => a.cancelled += 1,
            }
        })?;
        // Trials started in M (customers, once per month) and their conversion:
        // a first New Business on or before the evaluation date.
        let first_new = c.first_new_business().map(|mv| mv.date);
        let mut trial_months: Vec<MonthIdx> = c.trial_starts.iter().map(|d| month_idx(*d)).collect();
        trial_months.dedup();
        for m in trial_months.into_iter().filter(|m| (from..=to).contains(m)) {
            let a = &mut acc[at(m)];
            a.trials_started += 1;
            a.trials_converted += first_new.is_some_and(|d| d <= inp.as_of) as u64;
        }
        // Cohort: the month of the customer's (first) New Business.
        if let Some(nb) = c.first_new_business() {
            let cm = month_idx(nb.date);
            if (from..=to).contains(&cm) {
                let k = (to - cm + 1) as usize;
                let co = cohorts.entry(cm).or_insert_with(|| Cohort {
                    retained: vec![0; k],
                    mrr: vec![ByCurrency::default(); k],
                    ..Cohort::default()
                });
                co.size += 1;
                co.value += nb.amount;
                for j in 0..k {
                    let i = at(cm + j as MonthIdx);
                    if let Some(x) = end_state[i] {
                        let s = &c.states[x].1;
                        co.retained[j] += s.subscriber as u64;
                        for (cur, m) in &s.mrr {
                            co.mrr[j].add(*cur, *m);
                        }
                    }
                }
            }
        }
    }
    Ok((acc, cohorts))
}

/// What became of a term due for renewal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Renewed,
    Lapsed,
    Cancelled,
}

/// One term due for renewal (also exported for the scale-out engine).
pub struct TermEnd {
    pub outcome: Outcome,
    /// MRR before the term end and after it (changes dated that day included;
    /// 0 if not renewed), both at the rate of the month the term ends in.
    pub before: Money,
    pub after: Money,
}

/// SPEC 2.1 "Renewals": terms run from the start date in steps of the
/// interval (re-anchored when the interval changes); a renewal is due in the
/// month that contains a term's exclusive end date, for every term the
/// subscription was live at the start of. Calls `f(month, term)` for terms
/// ending in `from..=to`.
pub fn renewals(
    c: &CustomerLedger,
    fx: &FxTable,
    from: MonthIdx,
    to: MonthIdx,
    mut f: impl FnMut(MonthIdx, TermEnd),
) -> Result<(), String> {
    let conv = |p: Option<&SubPoint>, m: MonthIdx| -> Result<Money, String> {
        match p {
            Some(p) if p.status.is_live() => match p.currency {
                Some(cur) => fx.convert(p.mrr, cur, m),
                None => Ok(Money::ZERO),
            },
            _ => Ok(Money::ZERO),
        }
    };
    for s in &c.subscriptions {
        for (i, anchor) in s.anchors.iter().enumerate() {
            let next_anchor = s.anchors.get(i + 1).map(|a| a.date);
            for k in 1.. {
                let (start, end) = (anchor.term_end(k - 1), anchor.term_end(k));
                let m = month_idx(end);
                if m > to || next_anchor.is_some_and(|na| end > na) {
                    break;
                }
                if !s.at(start).is_some_and(|p| p.status.is_live()) {
                    break;
                }
                if m >= from {
                    let day_before = end.checked_sub(jiff::Span::new().days(1)).unwrap_or(end);
                    let idx = s.points.partition_point(|p| p.date <= day_before);
                    let last_live = s.points[..idx].iter().rev().find(|p| p.status.is_live());
                    let after = s.at(end);
                    let outcome = match after.map(|p| p.status) {
                        Some(st) if st.is_live() => Outcome::Renewed,
                        Some(SubStatus::Lapsed) => Outcome::Lapsed,
                        _ => Outcome::Cancelled,
                    };
                    f(m, TermEnd { outcome, before: conv(last_live, m)?, after: conv(after, m)? });
                }
                if next_anchor == Some(end) {
                    break;
                }
            }
        }
    }
    Ok(())
}

/// "Which customers make up this number": the movements dated in month `m`
/// (optionally of one type), and the customers counted as subscribers at its
/// start and end and as past-due at its end.
pub fn explain(ledger: &Ledger, m: MonthIdx, kind: Option<MovementKind>) -> Value {
    let mut movements = Vec::new();
    let (mut start, mut end, mut past_due) = (Vec::new(), Vec::new(), Vec::new());
    for c in &ledger.customers {
        for mv in c.movements.iter().filter(|mv| month_idx(mv.date) == m && kind.is_none_or(|k| k == mv.kind)) {
            // The subscriptions whose status or MRR changed that day: where to look
            // for the events behind the movement.
            let subscriptions: Vec<&str> = c
                .subscriptions
                .iter()
                .filter(|s| s.points.iter().any(|p| p.date == mv.date))
                .map(|s| s.subscription_id.as_str())
                .collect();
            movements.push(json!({
                "customer_id": c.customer_id,
                "date": mv.date.to_string(),
                "type": mv.kind.as_str(),
                "amount_cents": money(mv.amount),
                "subscriptions": subscriptions,
            }));
        }
        if c.state_on(month_last_day(m - 1)).is_some_and(|s| s.subscriber) {
            start.push(c.customer_id.clone());
        }
        if let Some(s) = c.state_on(month_last_day(m)) {
            if s.subscriber {
                end.push(c.customer_id.clone());
            }
            if s.past_due {
                past_due.push(c.customer_id.clone());
            }
        }
    }
    json!({
        "month": month_label(m),
        "movements": movements,
        "subscribers_start": start,
        "subscribers": end,
        "past_due_subscribers": past_due,
    })
}

fn money(m: Money) -> Value {
    json!(m.cents_f64())
}

fn opt_money(m: Option<Money>) -> Value {
    m.map_or(Value::Null, money)
}

/// A ratio 0-1 computed exactly, rounded to 4 decimals on output.
fn rate(x: Option<Decimal>) -> Value {
    round::json(x.map(round::ratio_of))
}
