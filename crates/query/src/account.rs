//! One account's 360 view, and the list of accounts with their health and
//! risk: built once here for `GET /api/v1/accounts/{id}` and the dashboard's
//! account pages, from the same loaders and metric code as every other
//! document (the MRR ledger, the health scorecard, the churn model).
//!
//! Health and churn are optional parts: a workspace without billing data or
//! without a trained churn model still has a 360 view, and the part says why
//! it is missing (`health_note`, `churn_note`) instead of failing the page.

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::{Result, anyhow};
use jiff::ToSpan;
use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use serde_json::{Map, Value, json};
use tenure_metrics::engagement::ActiveEvent;
use tenure_metrics::engagement::events::{NO_ACCOUNT, day_to_date};
use tenure_metrics::health as scoring;
use tenure_metrics::revenue::{self, ReportInputs, Rules};
use tenure_model::{Customer, SubscriptionEvent, SurveyResponse, Ticket};
use tenure_store::Workspace;

use crate::health::{HealthData, HealthQuery, health_doc, load_overrides, load_scorecard, tasks};
use crate::ledger::RevenueData;

/// How many churn drivers the 360 view lists.
const CHURN_DRIVERS: usize = 5;

/// A customer's named fields and extra attributes as one JSON object.
pub fn customer_json(c: &Customer) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), json!(c.id));
    for (k, v) in [
        ("name", &c.name),
        ("email", &c.email),
        ("company", &c.company),
        ("country", &c.country),
        ("segment", &c.segment),
        ("plan_tier", &c.plan_tier),
        ("owner", &c.owner),
    ] {
        o.insert(k.into(), json!(v));
    }
    o.insert("created_at".into(), json!(c.created_at.map(|t| t.to_string())));
    for (k, v) in &c.attributes {
        o.entry(k.clone()).or_insert_with(|| v.clone());
    }
    Value::Object(o)
}

/// The 360 document of one account, or `None` when the workspace knows no
/// customer (and no billing) with this id.
pub fn account_doc(ws: &Workspace, id: &str) -> Result<Option<Value>> {
    let customers = tenure_store::load::<Customer>(ws)?;
    let customer = customers.iter().find(|c| c.id == id);
    let settings = ws.settings();
    let tz = TimeZone::get(&settings.workspace.timezone)
        .map_err(|e| anyhow!("time zone {}: {e}", settings.workspace.timezone))?;

    // Revenue: the account's own ledger, reported month by month with the
    // same code as `metrics revenue`, so its MRR adds up to the company's.
    let all = RevenueData::shared(ws)?;
    let data = all.for_customer(id);
    let rules = Rules::from_settings(&settings.revenue).map_err(|e| anyhow!("{e}"))?;
    let fx = data.fx(settings.workspace.reporting_currency);
    let ledger = data.ledger(&rules, &fx)?;
    let billed = !ledger.customers.is_empty() || !data.events.is_empty();
    if customer.is_none() && !billed {
        return Ok(None);
    }
    let mut mrr_history = Vec::new();
    if let (Some(own), Some((_, last))) = (ledger.customers.first(), all.date_range()) {
        let first = own.states.first().map(|s| s.0).or(own.movements.first().map(|m| m.date));
        if let Some(first) = first {
            let inputs = ReportInputs {
                ledger: &ledger,
                fx: &fx,
                invoices: &data.invoices,
                costs: &[],
                gross_margin: settings.revenue.gross_margin,
                cac_spend_lag_months: settings.revenue.cac_spend_lag_months,
                as_of: last,
                tz: tz.clone(),
            };
            let report = revenue::month_report(&inputs, revenue::month_idx(first), revenue::month_idx(last.max(first)))
                .map_err(|e| anyhow!("{e}"))?;
            if let Some(months) = report["months"].as_object() {
                for (month, m) in months {
                    mrr_history.push(json!({
                        "month": month,
                        "mrr_cents": m["mrr_cents"],
                        "movements": m["movements"],
                        "past_due": m["past_due_subscribers"].as_u64().is_some_and(|n| n > 0),
                    }));
                }
            }
        }
    }
    let movements: Vec<Value> = ledger
        .customers
        .iter()
        .flat_map(|c| &c.movements)
        .map(|m| json!({"date": m.date.to_string(), "type": m.kind.as_str(), "amount_cents": m.amount.cents_f64()}))
        .collect();
    let subscription_events: Vec<Value> = data.events.iter().map(subscription_event_json).collect();

    let (health, health_note) = match health_doc(ws, &HealthQuery { account: Some(id.into()), ..Default::default() }) {
        Ok(doc) => match doc["accounts"].as_array().and_then(|a| a.first()) {
            Some(score) => {
                let mut h = score.clone();
                h["history"] = doc["history"].clone();
                h["scorecard"] = doc["scorecard"].clone();
                (h, Value::Null)
            }
            None => {
                (Value::Null, json!(format!("not scored: not a subscriber on {}", doc["as_of"].as_str().unwrap_or(""))))
            }
        },
        Err(e) => (Value::Null, json!(format!("{e:#}"))),
    };
    let (churn, churn_note) = match crate::churn::predict(ws, Some(id), CHURN_DRIVERS) {
        Ok(doc) => {
            let mut row = doc["accounts"].get(0).cloned().unwrap_or(Value::Null);
            for k in ["as_of", "horizon_days", "holdout_auc"] {
                row[k] = doc[k].clone();
            }
            (row, Value::Null)
        }
        Err(e) => (Value::Null, json!(format!("{e:#}"))),
    };

    let tickets: Vec<Value> = tenure_store::load::<Ticket>(ws)?
        .iter()
        .filter(|t| t.customer_id.as_deref() == Some(id))
        .map(|t| {
            json!({
                "id": t.id,
                "created_at": t.created_at.to_string(),
                "first_reply_at": t.first_reply_at.map(|x| x.to_string()),
                "solved_at": t.solved_at.map(|x| x.to_string()),
                "first_response_seconds": t.first_reply_at.map(|r| r.as_second() - t.created_at.as_second()),
                "status": t.status,
                "channel": t.channel,
                "replies": t.replies,
                "reopens": t.reopens,
                "satisfaction": t.satisfaction,
            })
        })
        .collect();
    let survey_answers: Vec<Value> = tenure_store::load::<SurveyResponse>(ws)?
        .iter()
        .filter(|s| s.customer_id.as_deref() == Some(id) && s.submitted_at.is_some())
        .map(|s| {
            json!({
                "survey_id": s.survey_id,
                "survey_type": s.survey_type.as_str(),
                "respondent_id": s.respondent_id,
                "submitted_at": s.submitted_at.map(|x| x.to_string()),
                "score": s.score,
                "scale_max": s.scale_max,
                "comment": s.comment,
                "rejected_reason": s.rejected_reason,
            })
        })
        .collect();
    let account_tasks: Vec<Value> = tasks(ws.root())?.iter().filter(|t| t.account == id).map(|t| t.to_json()).collect();

    Ok(Some(json!({
        "account_id": id,
        "attributes": customer.map_or(Value::Null, customer_json),
        "reporting_currency": settings.workspace.reporting_currency.as_str(),
        "mrr_cents": mrr_history.last().map_or(Value::Null, |m| m["mrr_cents"].clone()),
        "mrr_history": mrr_history,
        "movements": movements,
        "subscription_events": subscription_events,
        "health": health,
        "health_note": health_note,
        "churn": churn,
        "churn_note": churn_note,
        "usage": usage(ws, tz, id)?,
        "tickets": tickets,
        "survey_answers": survey_answers,
        "tasks": account_tasks,
    })))
}

fn subscription_event_json(e: &SubscriptionEvent) -> Value {
    json!({
        "date": e.date.to_string(),
        "type": e.kind.as_str(),
        "subscription_id": e.subscription_id,
        "plan_id": e.plan_id,
        "quantity": e.quantity,
        "unit_amount_cents": e.unit_amount_cents,
        "currency": e.currency.map(|c| c.as_str().to_string()),
        "ends_at": e.ends_at.map(|d| d.to_string()),
    })
}

/// The account's product usage by week (weeks start on Monday, local days):
/// distinct active people and events, from its first to the data's last week.
fn usage(ws: &Workspace, tz: TimeZone, id: &str) -> Result<Value> {
    let t = crate::engagement::load_events(ws, tz, ActiveEvent::AnyTrack)?;
    let Some(account) = t.accounts.get(id) else {
        return Ok(json!({"weeks": [], "events": 0, "people": 0, "last_seen": null}));
    };
    let monday = |day: i32| -> i32 {
        let d = day_to_date(day);
        day - d.weekday().since(Weekday::Monday) as i32
    };
    let mut weeks: BTreeMap<i32, (HashSet<u32>, u64)> = BTreeMap::new();
    let mut people = HashSet::new();
    let (mut events, mut last) = (0u64, None);
    for i in 0..t.len() {
        if t.account[i] != account || account == NO_ACCOUNT {
            continue;
        }
        let w = weeks.entry(monday(t.day[i])).or_default();
        w.1 += 1;
        events += 1;
        if t.active[i] {
            w.0.insert(t.user[i]);
            people.insert(t.user[i]);
            last = last.max(Some(t.day[i]));
        }
    }
    // Weeks without events are weeks of zero use, not gaps.
    let mut out = Vec::new();
    if let (Some(&first), Some((_, end))) = (weeks.keys().next(), t.day_span()) {
        let mut w = first;
        while w <= end {
            let (users, n) = weeks.get(&w).map_or((0, 0), |(u, n)| (u.len(), *n));
            out.push(json!({"week": day_to_date(w).to_string(), "active_users": users, "events": n}));
            w += 7;
        }
    }
    Ok(json!({
        "weeks": out,
        "events": events,
        "people": people.len(),
        "last_seen": last.map(|d| day_to_date(d).to_string()),
    }))
}

/// Every scored account with what a CS lead sorts and filters by: health
/// (score, band, grade, rank, trend), MRR, renewal date, churn risk, owner
/// and the customer attributes. `churn_note` says why probabilities are
/// missing (no trained model).
pub fn accounts_doc(ws: &Workspace) -> Result<Value> {
    let (card, source) = load_scorecard(ws, None)?;
    let data = HealthData::shared(ws)?;
    let as_of = data.default_as_of();
    let overrides = load_overrides(ws.root())?;
    let accounts = data.accounts(as_of);
    let now = data.scores(&card, &accounts, as_of, &overrides)?;
    let look_back = as_of.checked_sub((card.look_back_days as i64).days())?;
    let then: HashMap<String, _> = data
        .scores(&card, &accounts, look_back, &overrides)?
        .into_iter()
        .map(|(s, _)| (s.account.clone(), s.overall()))
        .collect();
    let (churn, churn_note) = match crate::churn::predict(ws, None, 0) {
        Ok(doc) => {
            let by_id: HashMap<String, Value> = doc["accounts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| Some((r["account_id"].as_str()?.to_string(), r["churn_probability"].clone())))
                .collect();
            (by_id, Value::Null)
        }
        Err(e) => (HashMap::new(), json!(format!("{e:#}"))),
    };
    let open_tasks = tasks(ws.root())?.into_iter().filter(|t| t.status != "closed").fold(
        HashMap::<String, u64>::new(),
        |mut m, t| {
            *m.entry(t.account).or_default() += 1;
            m
        },
    );
    let number = |inputs: &scoring::Inputs, k: &str| match inputs.get(k) {
        Some(scoring::InputValue::Number(x)) => Some(*x),
        _ => None,
    };
    let mut rows = Vec::new();
    for (s, inputs) in &now {
        let c = data.customer(&s.account);
        let full = s.to_json(&card);
        let trend = scoring::trend(s.overall(), then.get(&s.account).copied().flatten(), card.trend_tolerance);
        let renewal: Option<Date> =
            number(inputs, "days_to_renewal").and_then(|d| as_of.checked_add((d as i64).days()).ok());
        let attr = |k: &str| c.as_ref().and_then(|c| crate::filter::attribute(c, k));
        rows.push(json!({
            "account_id": s.account,
            "name": c.as_ref().and_then(|c| c.name.clone().or(c.company.clone())),
            "segment": attr("segment"),
            "plan_tier": attr("plan_tier"),
            "country": attr("country"),
            "owner": attr("owner"),
            "overall_score": full["overall_score"],
            "color": full["color"],
            "grade": full["grade"],
            "rank": full["rank"],
            "trend": trend.map(|t| t.0),
            "missing_inputs": full["missing_inputs"],
            "mrr_cents": number(inputs, "mrr_cents"),
            "renewal_date": renewal.map(|d| d.to_string()),
            "days_to_renewal": number(inputs, "days_to_renewal"),
            "churn_probability": churn.get(&s.account).cloned().unwrap_or(Value::Null),
            "open_tasks": open_tasks.get(&s.account).copied().unwrap_or(0),
        }));
    }
    rows.sort_by_key(|v| (v["rank"].as_u64().unwrap_or(u64::MAX), v["account_id"].as_str().unwrap_or("").to_string()));
    Ok(json!({
        "as_of": as_of.to_string(),
        "scorecard": source,
        "bands": card.bands.iter().map(|b| b.name.clone()).collect::<Vec<_>>(),
        "reporting_currency": ws.settings().workspace.reporting_currency.as_str(),
        "churn_note": churn_note,
        "accounts": rows,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{rows, workspace};

    #[test]
    fn one_account_360_adds_up_from_its_own_rows() {
        let (_dir, mut ws) = workspace();
        let customers: Vec<Customer> = rows(&[
            json!({"id": "acme", "name": "Acme", "segment": "smb", "owner": "Ava", "seats": 10}),
            json!({"id": "other", "name": "Other"}),
        ]);
        // Acme: 100.00/month from January, 150.00 from March (expansion).
        let events: Vec<SubscriptionEvent> = rows(&[
            json!({"subscription_id": "s1", "customer_id": "acme", "type": "start", "date": "2025-01-10",
                   "currency": "USD", "plan_id": "p", "interval": "month", "interval_count": 1,
                   "unit_amount_cents": 10000, "quantity": 1}),
            json!({"subscription_id": "s1", "customer_id": "acme", "type": "change", "date": "2025-03-01",
                   "unit_amount_cents": 15000}),
            json!({"subscription_id": "s2", "customer_id": "other", "type": "start", "date": "2025-01-01",
                   "currency": "USD", "plan_id": "p", "interval": "month", "interval_count": 1,
                   "unit_amount_cents": 99900, "quantity": 1}),
        ]);
        let tickets: Vec<Ticket> = rows(&[
            json!({"id": "t1", "customer_id": "acme", "created_at": "2025-02-01T10:00:00Z",
                   "first_reply_at": "2025-02-01T10:30:00Z", "status": "solved"}),
            json!({"id": "t2", "customer_id": "other", "created_at": "2025-02-01T10:00:00Z", "status": "open"}),
        ]);
        let answers: Vec<SurveyResponse> = rows(&[
            json!({"survey_id": "nps1", "survey_type": "nps", "customer_id": "acme", "respondent_id": "u1",
                   "submitted_at": "2025-02-10T00:00:00Z", "score": 9, "comment": "great"}),
            json!({"survey_id": "nps1", "survey_type": "nps", "customer_id": "acme", "respondent_id": "u2",
                   "sent_at": "2025-02-10T00:00:00Z"}),
        ]);
        {
            let mut w = ws.writer().unwrap();
            w.upsert(&customers).unwrap();
            w.upsert(&events).unwrap();
            w.upsert(&tickets).unwrap();
            w.upsert(&answers).unwrap();
            w.commit().unwrap();
        }
        let ws = Workspace::open(ws.root()).unwrap();
        let doc = account_doc(&ws, "acme").unwrap().expect("known account");
        assert_eq!(doc["attributes"]["name"], "Acme");
        assert_eq!(doc["attributes"]["seats"], 10, "extra attributes are kept");
        let mrr: Vec<(String, f64)> = doc["mrr_history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["month"].as_str().unwrap().to_string(), m["mrr_cents"].as_f64().unwrap()))
            .collect();
        assert_eq!(
            mrr,
            vec![("2025-01".into(), 10000.0), ("2025-02".into(), 10000.0), ("2025-03".into(), 15000.0)],
            "only Acme's MRR, month by month"
        );
        let kinds: Vec<&str> =
            doc["movements"].as_array().unwrap().iter().map(|m| m["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["new_business", "expansion"]);
        assert_eq!(doc["subscription_events"].as_array().unwrap().len(), 2);
        assert_eq!(doc["tickets"].as_array().unwrap().len(), 1);
        assert_eq!(doc["tickets"][0]["first_response_seconds"], 1800);
        assert_eq!(doc["survey_answers"].as_array().unwrap().len(), 1, "unanswered invitations are not answers");
        assert_eq!(doc["survey_answers"][0]["comment"], "great");
        assert!(doc["churn"].is_null() && doc["churn_note"].as_str().unwrap().contains("train"), "{doc}");

        assert!(account_doc(&ws, "nobody").unwrap().is_none());
    }
}
