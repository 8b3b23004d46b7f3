//! Stripe API objects (list answers `{"object": "list", "data": [...]}` of
//! GET /v1/subscriptions, /v1/invoices and /v1/customers, or JSON Lines of
//! those objects) onto `subscription_events`, `invoices` and `customers`.
//!
//! Stripe has changed these objects between API versions; the shapes read here:
//! - subscriptions: billing periods on the subscription (before 2025-03-31) or
//!   on its items (basil); a `discount` whose coupon is `discount.coupon`
//!   (before 2025-09-30) or `discount.source.coupon` (clover), or a
//!   `discounts` array of expanded discounts;
//! - invoice lines: `type`/`subscription`/`price`/`proration`/`tax_amounts`
//!   (before basil) or `parent.*_details`/`pricing.price_details`/`taxes`.
//!
//! A list answer is a snapshot, not a history: a subscription's `start` event
//! carries the terms it has now, and a plan change made before the export is
//! not an event of its own (re-importing a later export replaces the events,
//! whose ids are derived from the subscription id).

use jiff::Timestamp;
use serde_json::{Map, Value, json};
use tenure_model::Record;

use super::{MapError, Mapped, bool_at, fail, get, id_of, instant_at, int, int_at, text, text_at, utc_date};

pub(super) fn map(entity: &str, rec: Record) -> Mapped {
    let (expected, _) = OBJECTS.iter().find(|(_, e)| *e == entity).expect("entity checked by the caller");
    let line = rec.line;
    let obj = Value::Object(rec.fields);
    // Tools that flatten exports sometimes drop `object`: then trust the user.
    if let Some(o) = text_at(&obj, "object")
        && o != *expected
    {
        let hint = match OBJECTS.iter().find(|(name, _)| *name == o) {
            Some((_, e)) => format!("import Stripe {o}s as {e}"),
            None => format!("Tenure reads Stripe {}", OBJECTS.map(|(n, _)| n).join(", ")),
        };
        return fail("object", format!("is a Stripe {o}, not {} {expected}: {hint}", article(expected)));
    }
    match entity {
        "subscription_events" => subscription_events(line, &obj),
        "invoices" => invoice(line, &obj),
        _ => customer(line, &obj),
    }
}

fn article(noun: &str) -> &'static str {
    if noun.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" }
}

/// Stripe object types and the entity each is imported as.
const OBJECTS: [(&str, &str); 3] =
    [("subscription", "subscription_events"), ("invoice", "invoices"), ("customer", "customers")];

fn required(obj: &Value, path: &str) -> Result<String, MapError> {
    match get(obj, path).and_then(id_of) {
        Some(s) => Ok(s),
        None => fail(path, "required field is missing or empty"),
    }
}

fn date_at(obj: &Value, path: &str) -> Result<Option<String>, MapError> {
    Ok(instant_at(obj, path)?.map(utc_date))
}

// ------------------------------------------------------------------ subscriptions

/// A subscription's lifecycle as events: `trial_start`, `start` (with its
/// current terms), a `change` when its discount began after the start,
/// `past_due`, and `cancel`.
fn subscription_events(line: u64, s: &Value) -> Mapped {
    let sub_id = required(s, "id")?;
    let customer_id = required(s, "customer")?;
    let status = text_at(s, "status").unwrap_or_default();
    // Created, but its first payment never went through: not a subscription
    // yet (incomplete) or never (incomplete_expired).
    if status == "incomplete" || status == "incomplete_expired" {
        return Ok(Vec::new());
    }
    let event = |kind: &str, date: &str, key: &str| {
        let mut m = Map::new();
        m.insert("external_id".into(), json!(format!("{sub_id}:{key}")));
        m.insert("subscription_id".into(), json!(sub_id));
        m.insert("customer_id".into(), json!(customer_id));
        m.insert("type".into(), json!(kind));
        m.insert("date".into(), json!(date));
        m
    };
    let mut out = Vec::new();

    let trial_start = instant_at(s, "trial_start")?;
    let trial_end = instant_at(s, "trial_end")?;
    let ended_at = instant_at(s, "ended_at")?;
    if let Some(t) = trial_start {
        out.push(event("trial_start", &utc_date(t), "trial_start"));
    }
    // Paid service starts when the trial ends, unless the subscription is
    // still trialing, was paused because the trial ended without a payment
    // method, or ended before its trial did: it never converted.
    let start = match trial_end {
        Some(te) if status == "trialing" || status == "paused" || ended_at.is_some_and(|e| e <= te) => None,
        Some(te) => Some(te),
        None => instant_at(s, "start_date")?.or(instant_at(s, "created")?),
    };
    if let Some(start) = start {
        let start_date = utc_date(start);
        let mut ev = event("start", &start_date, "start");
        ev.extend(terms(s)?);
        match discount(s)? {
            // A coupon applied after the start changes the terms from then on.
            Some((d, began)) if began.is_some_and(|b| utc_date(b) > start_date) => {
                out.push(ev);
                let mut change = event("change", &utc_date(began.expect("checked")), "discount");
                change.insert("discount".into(), d);
                out.push(change);
            }
            Some((d, _)) => {
                ev.insert("discount".into(), d);
                out.push(ev);
            }
            None => out.push(ev),
        }
    }

    // `unpaid` is past due with retries exhausted: still owed, not cancelled.
    if status == "past_due" || status == "unpaid" {
        let since = instant_at(s, "current_period_start")?.or(instant_at(s, "items.data.0.current_period_start")?);
        let Some(since) = since else {
            return fail("current_period_start", "a past_due subscription needs the start of its unpaid period");
        };
        let d = utc_date(since);
        // One event per unpaid period: a later export that is past due again
        // adds an episode instead of moving this one.
        out.push(event("past_due", &d, &format!("past_due:{d}")));
    }

    let canceled_at = instant_at(s, "canceled_at")?;
    let cancel_at = instant_at(s, "cancel_at")?;
    if canceled_at.is_some() || cancel_at.is_some() || ended_at.is_some() {
        let period_end = instant_at(s, "current_period_end")?.or(instant_at(s, "items.data.0.current_period_end")?);
        // The first day without service: when it ended, or when it will.
        let ends = ended_at.or(cancel_at).or(period_end);
        let Some(date) = canceled_at.or(ends) else { unreachable!("one of them is set") };
        let mut ev = event("cancel", &utc_date(date), "cancel");
        if let Some(r) = canceled_at {
            ev.insert("requested_at".into(), json!(utc_date(r)));
        }
        if let Some(e) = ends {
            ev.insert("ends_at".into(), json!(utc_date(e)));
        }
        out.push(ev);
    }
    Ok(out.into_iter().map(|m| Record::new(line, m)).collect())
}

/// The recurring terms: price, quantity, interval and currency, from the
/// subscription's items (or the legacy single `plan`).
fn terms(s: &Value) -> Result<Map<String, Value>, MapError> {
    if bool_at(s, "items.has_more") {
        return fail(
            "items.has_more",
            "the export holds only some of this subscription's items; list them all (GET /v1/subscription_items?subscription=...) into items.data",
        );
    }
    let items: Vec<&Value> = match get(s, "items.data") {
        Some(Value::Array(a)) => a.iter().collect(),
        _ => Vec::new(),
    };
    struct Item {
        plan_id: Option<String>,
        unit: i64,
        quantity: i64,
        interval: Option<String>,
        count: i64,
        currency: Option<String>,
    }
    let mut licensed = Vec::new();
    let sources: Vec<(&Value, Option<i64>)> = if items.is_empty() {
        // Old exports without items: the subscription's own plan and quantity.
        get(s, "plan").map(|p| vec![(p, int_at(s, "quantity"))]).unwrap_or_default()
    } else {
        items
            .iter()
            .filter_map(|it| get(it, "price").or(get(it, "plan")).map(|p| (p, int_at(it, "quantity"))))
            .collect()
    };
    for (i, (price, quantity)) in sources.into_iter().enumerate() {
        let usage = text_at(price, "recurring.usage_type").or(text_at(price, "usage_type"));
        // Metered usage is billed in arrears and is not recurring revenue.
        if usage.as_deref() == Some("metered") {
            continue;
        }
        let unit = int_at(price, "unit_amount")
            .or(int_at(price, "amount"))
            .or_else(|| text_at(price, "unit_amount_decimal").and_then(|t| int(&Value::String(t))));
        let Some(unit) = unit else {
            return fail(
                format!("items.data[{i}].price.unit_amount"),
                "the price has no whole-cent unit_amount (tiered or decimal pricing): Tenure cannot tell its recurring amount",
            );
        };
        licensed.push(Item {
            plan_id: get(price, "id").and_then(id_of),
            unit,
            quantity: quantity.unwrap_or(1),
            interval: text_at(price, "recurring.interval").or(text_at(price, "interval")),
            count: int_at(price, "recurring.interval_count").or(int_at(price, "interval_count")).unwrap_or(1),
            currency: text_at(price, "currency"),
        });
    }
    let Some(first) = licensed.first() else {
        return fail("items.data", "no licensed (per-seat or flat) price: nothing recurring to import");
    };
    let mut m = Map::new();
    let currency = text_at(s, "currency").or(first.currency.clone());
    m.insert("currency".into(), currency.map(Value::from).unwrap_or(Value::Null));
    if let Some(iv) = &first.interval {
        m.insert("interval".into(), json!(iv));
    }
    m.insert("interval_count".into(), json!(first.count));
    if licensed.len() == 1 {
        m.insert("plan_id".into(), first.plan_id.clone().map(Value::from).unwrap_or(Value::Null));
        m.insert("unit_amount_cents".into(), json!(first.unit));
        m.insert("quantity".into(), json!(first.quantity));
    } else {
        // Several prices on one subscription: Tenure keeps one price x
        // quantity per subscription, so the items become one amount that
        // gives the same MRR. They must bill on the same interval for that.
        if let Some(other) = licensed.iter().find(|it| (&it.interval, it.count) != (&first.interval, first.count)) {
            return fail(
                "items.data",
                format!(
                    "items bill every {} {:?} and every {} {:?}: Tenure needs one billing interval per subscription",
                    first.count, first.interval, other.count, other.interval
                ),
            );
        }
        let ids: Vec<String> = licensed.iter().filter_map(|it| it.plan_id.clone()).collect();
        m.insert("plan_id".into(), json!(ids.join("+")));
        m.insert("unit_amount_cents".into(), json!(licensed.iter().map(|it| it.unit * it.quantity).sum::<i64>()));
        m.insert("quantity".into(), json!(1));
    }
    m.retain(|_, v| !v.is_null());
    Ok(m)
}

/// The subscription's discount in the data contract's shape, and when it
/// began. `None` without a discount.
fn discount(s: &Value) -> Result<Option<(Value, Option<Timestamp>)>, MapError> {
    let (d, path) = match (get(s, "discount"), get(s, "discounts")) {
        (Some(d), _) => (d, "discount".to_string()),
        (None, Some(Value::Array(a))) => match a.as_slice() {
            [] => return Ok(None),
            [d] => (d, "discounts[0]".to_string()),
            _ => return fail("discounts", "more than one discount on a subscription: Tenure takes one"),
        },
        _ => return Ok(None),
    };
    if !d.is_object() {
        return fail(path, "the discount is an id only: export with expand[]=data.discounts so its coupon is included");
    }
    let Some(coupon) = get(d, "coupon").or(get(d, "source.coupon")) else {
        return fail(format!("{path}.coupon"), "a discount without its coupon");
    };
    if !coupon.is_object() {
        return fail(
            format!("{path}.source.coupon"),
            "the coupon is an id only: export with expand[]=data.discount.source.coupon so its terms are included",
        );
    }
    let mut out = Map::new();
    if let Some(p) = get(coupon, "percent_off") {
        out.insert("percent_off".into(), p.clone());
    }
    if let Some(a) = int_at(coupon, "amount_off") {
        let coupon_currency = text_at(coupon, "currency").map(|c| c.to_ascii_lowercase());
        let sub_currency = text_at(s, "currency").map(|c| c.to_ascii_lowercase());
        if let (Some(c), Some(sc)) = (&coupon_currency, &sub_currency)
            && c != sc
        {
            return fail(
                format!("{path}.coupon.currency"),
                format!("an amount off in {c} on a subscription billed in {sc}"),
            );
        }
        out.insert("amount_off_cents".into(), json!(a));
    }
    let duration = text_at(coupon, "duration");
    if let Some(du) = &duration {
        out.insert("duration".into(), json!(du));
    }
    let start = instant_at(d, "start")?;
    if duration.as_deref() == Some("repeating") {
        // Stripe's `end` is the instant the discount stops: the exclusive end.
        let end = match instant_at(d, "end")? {
            Some(e) => Some(utc_date(e)),
            None => match (start, int_at(coupon, "duration_in_months")) {
                (Some(st), Some(n)) => {
                    let date = st.to_zoned(jiff::tz::TimeZone::UTC).date();
                    date.checked_add(jiff::Span::new().months(n)).ok().map(|e| e.to_string())
                }
                _ => None,
            },
        };
        if let Some(e) = end {
            out.insert("ends_at".into(), json!(e));
        }
    }
    Ok(Some((Value::Object(out), start)))
}

// ------------------------------------------------------------------ invoices

/// An invoice with its line items and, when paid, its payment. Drafts (not
/// issued yet) and void invoices (never owed) are left out.
fn invoice(line: u64, inv: &Value) -> Mapped {
    let status = text_at(inv, "status").unwrap_or_default();
    if status == "draft" || status == "void" {
        return Ok(Vec::new());
    }
    let id = required(inv, "id")?;
    let customer_id = required(inv, "customer")?;
    let Some(created) = instant_at(inv, "created")? else {
        return fail("created", "required field is missing or empty");
    };
    if bool_at(inv, "lines.has_more") {
        return fail(
            "lines.has_more",
            "the export holds only the first line items of this invoice; list them all (GET /v1/invoices/{id}/lines) into lines.data",
        );
    }
    let invoice_sub = get(inv, "subscription").or(get(inv, "parent.subscription_details.subscription")).and_then(id_of);
    let mut line_items = Vec::new();
    if let Some(Value::Array(lines)) = get(inv, "lines.data") {
        for (i, l) in lines.iter().enumerate() {
            line_items.push(
                line_item(l, invoice_sub.as_deref())
                    .map_err(|e| MapError { field: format!("lines.data[{i}].{}", e.field), reason: e.reason })?,
            );
        }
    }
    let mut transactions = Vec::new();
    let paid = status == "paid" || bool_at(inv, "paid");
    let amount_paid = int_at(inv, "amount_paid").unwrap_or(0);
    if paid && amount_paid > 0 {
        let at = instant_at(inv, "status_transitions.paid_at")?.unwrap_or(created);
        transactions.push(
            json!({"type": "payment", "date": at.to_string(), "amount_cents": amount_paid, "result": "successful"}),
        );
    }
    let mut m = Map::new();
    m.insert("external_id".into(), json!(id));
    m.insert("customer_id".into(), json!(customer_id));
    m.insert("date".into(), json!(utc_date(created)));
    if let Some(c) = text_at(inv, "currency") {
        m.insert("currency".into(), json!(c));
    }
    m.insert("line_items".into(), Value::Array(line_items));
    m.insert("transactions".into(), Value::Array(transactions));
    Ok(vec![Record::new(line, m)])
}

/// One invoice line in the data contract's shape (nested form).
fn line_item(l: &Value, invoice_sub: Option<&str>) -> Result<Value, MapError> {
    let Some(amount) = int_at(l, "amount") else {
        return fail("amount", "required field is missing or empty");
    };
    let sum = |path: &str, keep: &dyn Fn(&Value) -> bool| -> i64 {
        match get(l, path) {
            Some(Value::Array(a)) => a.iter().filter(|x| keep(x)).filter_map(|x| int_at(x, "amount")).sum(),
            _ => 0,
        }
    };
    let discounts = sum("discount_amounts", &|_| true);
    // Tax per line: `tax_amounts` before basil, `taxes` after.
    let tax = sum("tax_amounts", &|_| true) + sum("taxes", &|_| true);
    let inclusive_tax = sum("tax_amounts", &|t| bool_at(t, "inclusive"))
        + sum("taxes", &|t| text_at(t, "tax_behavior").as_deref() == Some("inclusive"));
    // Stripe's line amount is before discounts and includes inclusive tax;
    // the data contract's is net of discount and excludes tax.
    let net = amount - discounts - inclusive_tax;

    let parent_sub = get(l, "parent.subscription_item_details.subscription")
        .or(get(l, "parent.invoice_item_details.subscription"))
        .and_then(id_of);
    let line_sub = get(l, "subscription").and_then(id_of).or(parent_sub);
    let proration = bool_at(l, "proration")
        || bool_at(l, "parent.subscription_item_details.proration")
        || bool_at(l, "parent.invoice_item_details.proration");
    let price = get(l, "price").or(get(l, "plan"));
    let plan_id =
        price.and_then(|p| get(p, "id")).and_then(id_of).or(get(l, "pricing.price_details.price").and_then(id_of));
    let recurring = price.is_some_and(|p| get(p, "recurring").is_some() || get(p, "interval").is_some());
    let metered = price
        .is_some_and(|p| text_at(p, "recurring.usage_type").or(text_at(p, "usage_type")).as_deref() == Some("metered"));
    // A one-off invoice item added to a subscription's invoice also names the
    // subscription: only recurring prices and prorations of them are terms.
    let from_subscription = text_at(l, "type").as_deref() == Some("subscription")
        || text_at(l, "parent.type").as_deref() == Some("subscription_item_details")
        || recurring
        || (line_sub.is_some() && proration);
    let subscription_id = line_sub.or_else(|| invoice_sub.map(str::to_string));
    let description = text_at(l, "description").unwrap_or_default();

    let kind = if metered {
        "usage"
    } else if !from_subscription || subscription_id.is_none() {
        "one_time"
    } else if net < 0 {
        // Credit for unused time after a downgrade or cancellation: money
        // back on this invoice, never the terms of the subscription.
        "one_time"
    } else if amount == 0 && description.starts_with("Trial period") {
        "trial"
    } else {
        "subscription"
    };
    let mut m = Map::new();
    m.insert("type".into(), json!(kind));
    if kind != "one_time"
        && let Some(s) = &subscription_id
    {
        m.insert("subscription_id".into(), json!(s));
    }
    if let Some(p) = plan_id {
        m.insert("plan_id".into(), json!(p));
    }
    // Stripe's period end is the instant the next period starts: exclusive.
    // One-off items carry a zero-length period, which is no service period.
    if let (Some(start), Some(end)) = (date_at(l, "period.start")?, date_at(l, "period.end")?)
        && end > start
    {
        m.insert("service_period_start".into(), json!(start));
        m.insert("service_period_end".into(), json!(end));
    }
    m.insert("amount_cents".into(), json!(net));
    if tax != 0 {
        m.insert("tax_cents".into(), json!(tax));
    }
    if discounts != 0 {
        m.insert("discount_cents".into(), json!(discounts));
    }
    if let Some(q) = int_at(l, "quantity") {
        m.insert("quantity".into(), json!(q));
    }
    m.insert("prorated".into(), json!(proration));
    Ok(Value::Object(m))
}

// ------------------------------------------------------------------ customers

/// Metadata keys that are customer fields of the data contract: a Stripe
/// account that keeps the CSM or segment in metadata gets them as fields.
const FIELDS_FROM_METADATA: [&str; 5] = ["company", "segment", "plan_tier", "owner", "country"];

fn customer(line: u64, c: &Value) -> Mapped {
    // Deleted customers appear in some exports as stubs with no data.
    if bool_at(c, "deleted") {
        return Ok(Vec::new());
    }
    let mut m = Map::new();
    m.insert("id".into(), json!(required(c, "id")?));
    for (field, path) in [("name", "name"), ("email", "email"), ("country", "address.country")] {
        if let Some(v) = text_at(c, path) {
            m.insert(field.into(), json!(v));
        }
    }
    if let Some(t) = instant_at(c, "created")? {
        m.insert("created_at".into(), json!(t.to_string()));
    }
    let mut attributes = Map::new();
    if let Some(Value::Object(meta)) = get(c, "metadata") {
        for (k, v) in meta {
            if text(v).is_none() {
                continue;
            }
            if FIELDS_FROM_METADATA.contains(&k.as_str()) {
                m.entry(k.clone()).or_insert_with(|| v.clone());
            } else {
                attributes.insert(k.clone(), v.clone());
            }
        }
    }
    if !attributes.is_empty() {
        m.insert("attributes".into(), Value::Object(attributes));
    }
    Ok(vec![Record::new(line, m)])
}

#[cfg(test)]
mod tests {
    use tenure_model::{Customer, Entity, Invoice, LineItemType, SubscriptionEvent, SubscriptionEventType};

    use super::*;
    use crate::vendor::Vendor;
    use crate::vendor::test_util::map_example;

    fn events() -> Vec<SubscriptionEvent> {
        map_example(Vendor::Stripe, "subscription_events", "stripe-subscriptions.json")
            .iter()
            .map(|r| SubscriptionEvent::from_record(r).unwrap_or_else(|e| panic!("{r:?}: {e:?}")))
            .collect()
    }

    fn summary(e: &SubscriptionEvent) -> String {
        format!("{} {} {}", e.external_id.as_deref().unwrap(), e.kind.as_str(), e.date)
    }

    #[test]
    fn subscriptions_become_lifecycle_events() {
        let evs = events();
        let got: Vec<String> = evs.iter().map(summary).collect();
        assert_eq!(
            got,
            [
                "sub_1OkQ7xLkdIwHu7ixAda00001:start start 2024-01-15",
                "sub_1OpT2aLkdIwHu7ixAla00002:trial_start trial_start 2024-02-01",
                "sub_1OpT2aLkdIwHu7ixAla00002:start start 2024-02-15",
                "sub_1OdX9kLkdIwHu7ixEmi00003:start start 2023-12-01",
                "sub_1OdX9kLkdIwHu7ixEmi00003:discount change 2024-02-20",
                "sub_1OdX9kLkdIwHu7ixEmi00003:cancel cancel 2024-03-10",
                "sub_1OcA4mLkdIwHu7ixKat00004:start start 2024-01-05",
                "sub_1OcA4mLkdIwHu7ixKat00004:past_due:2024-03-05 past_due 2024-03-05",
                "sub_1OwB6rLkdIwHu7ixGra00005:trial_start trial_start 2024-03-20",
            ]
        );

        // Legacy shape: terms from the item's price, a forever percentage coupon.
        let ada = &evs[0];
        assert_eq!(ada.customer_id, "cus_PZa0Ada0001");
        assert_eq!(ada.currency.as_ref().unwrap().as_str(), "USD");
        assert_eq!(ada.plan_id.as_deref(), Some("price_1OkQ6pGrowthMonthly"));
        assert_eq!((ada.interval.unwrap().as_str(), ada.interval_count), ("month", Some(1)));
        assert_eq!((ada.unit_amount_cents, ada.quantity), (Some(4900), Some(5)));
        let d = ada.discount.as_ref().unwrap();
        assert_eq!((d.percent_off.unwrap().normalize().to_string().as_str(), d.duration.as_str()), ("25", "forever"));

        // Basil shape: a converted trial starts paying at trial_end.
        let ala = &evs[2];
        assert_eq!((ala.interval.unwrap().as_str(), ala.unit_amount_cents), ("year", Some(49000)));
        assert!(ala.discount.is_none());

        // Clover shape: the win-back coupon changes the terms when it began.
        let winback = evs[4].discount.as_ref().unwrap();
        assert_eq!(winback.amount_off_cents, Some(1000));
        assert_eq!(
            (winback.duration.as_str(), winback.ends_at.unwrap().to_string().as_str()),
            ("repeating", "2024-05-20")
        );
        assert!(evs[3].discount.is_none());
        let cancel = &evs[5];
        assert_eq!(cancel.kind, SubscriptionEventType::Cancel);
        assert_eq!(cancel.requested_at.unwrap().to_string(), "2024-03-10");
        assert_eq!(cancel.ends_at.unwrap().to_string(), "2024-04-01");
    }

    fn sub(extra: Value) -> Mapped {
        let mut s = json!({"id": "sub_1", "object": "subscription", "customer": {"id": "cus_1", "object": "customer"},
            "status": "active", "currency": "usd", "start_date": 1709251200,
            "items": {"data": [{"price": {"id": "p1", "unit_amount": 1000, "recurring": {"interval": "month", "interval_count": 1}}, "quantity": 2}]}});
        s.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        map("subscription_events", Record::new(4, s.as_object().unwrap().clone()))
    }

    #[test]
    fn several_items_become_one_amount() {
        let r = sub(json!({"items": {"data": [
            {"price": {"id": "p1", "unit_amount": 1000, "recurring": {"interval": "month", "interval_count": 1}}, "quantity": 2},
            {"price": {"id": "p2", "unit_amount": 500, "recurring": {"interval": "month", "interval_count": 1}}, "quantity": 3},
            {"price": {"id": "meter", "unit_amount": 1, "recurring": {"interval": "month", "usage_type": "metered"}}}]}}))
        .unwrap();
        let e = SubscriptionEvent::from_record(&r[0]).unwrap();
        assert_eq!((e.plan_id.as_deref(), e.unit_amount_cents, e.quantity), (Some("p1+p2"), Some(3500), Some(1)));
        assert_eq!(e.customer_id, "cus_1");
    }

    #[test]
    fn what_cannot_be_mapped_is_reported() {
        let reason = |r: Mapped| {
            let e = r.unwrap_err();
            format!("{}: {}", e.field, e.reason)
        };
        let tiered =
            sub(json!({"items": {"data": [{"price": {"id": "t", "billing_scheme": "tiered", "unit_amount": null,
            "recurring": {"interval": "month"}}}]}}));
        assert!(reason(tiered).starts_with("items.data[0].price.unit_amount: the price has no whole-cent unit_amount"));
        let mixed = sub(json!({"items": {"data": [
            {"price": {"id": "a", "unit_amount": 1, "recurring": {"interval": "month"}}},
            {"price": {"id": "b", "unit_amount": 1, "recurring": {"interval": "year"}}}]}}));
        assert!(reason(mixed).contains("one billing interval per subscription"));
        let truncated = sub(json!({"items": {"has_more": true, "data": []}}));
        assert!(reason(truncated).starts_with("items.has_more:"));
        let coupon_id = sub(json!({"discount": {"source": {"type": "coupon", "coupon": "WINBACK10"}}}));
        assert!(reason(coupon_id).contains("expand[]=data.discount.source.coupon"));
        let invoice =
            map("subscription_events", Record::new(1, json!({"object": "invoice"}).as_object().unwrap().clone()));
        assert_eq!(
            reason(invoice),
            "object: is a Stripe invoice, not a subscription: import Stripe invoices as invoices"
        );
        let customer = map("invoices", Record::new(1, json!({"object": "customer"}).as_object().unwrap().clone()));
        assert_eq!(
            reason(customer),
            "object: is a Stripe customer, not an invoice: import Stripe customers as customers"
        );
        assert!(sub(json!({"status": "incomplete"})).unwrap().is_empty());
    }

    #[test]
    fn trial_cancelled_before_converting_never_starts() {
        let r = sub(json!({"status": "canceled", "trial_start": 1709251200, "trial_end": 1710460800,
            "canceled_at": 1709856000, "ended_at": 1709856000}))
        .unwrap();
        let kinds: Vec<String> =
            r.iter().map(|r| SubscriptionEvent::from_record(r).unwrap().kind.as_str().to_string()).collect();
        assert_eq!(kinds, ["trial_start", "cancel"]);
        let paused = sub(json!({"status": "paused", "trial_start": 1709251200, "trial_end": 1710460800})).unwrap();
        assert_eq!(paused.len(), 1);
    }

    #[test]
    fn invoices_with_lines_and_payments() {
        let recs = map_example(Vendor::Stripe, "invoices", "stripe-invoices.json");
        // Four invoices, the void one left out.
        let invs: Vec<Invoice> =
            recs.iter().map(|r| Invoice::from_record(r).unwrap_or_else(|e| panic!("{e:?}"))).collect();
        assert_eq!(invs.len(), 3);

        let ada = &invs[0];
        assert_eq!(
            (ada.external_id.as_str(), ada.customer_id.as_str()),
            ("in_1OvE2fLkdIwHu7ixAda0315", "cus_PZa0Ada0001")
        );
        assert_eq!((ada.date.to_string().as_str(), ada.currency.as_str()), ("2024-03-15", "USD"));
        let l = &ada.line_items[0];
        assert_eq!(l.kind, LineItemType::Subscription);
        // 5 x 4900, less the 25% coupon (6125); tax 1470 on top.
        assert_eq!((l.amount_cents, l.discount_cents, l.tax_cents), (18375, Some(6125), Some(1470)));
        assert_eq!(l.subscription_id.as_deref(), Some("sub_1OkQ7xLkdIwHu7ixAda00001"));
        assert_eq!(l.plan_id.as_deref(), Some("price_1OkQ6pGrowthMonthly"));
        assert_eq!(l.service_period_start.unwrap().to_string(), "2024-03-15");
        assert_eq!(l.service_period_end.unwrap().to_string(), "2024-04-15");
        let t = &ada.transactions[0];
        assert_eq!(
            (t.kind.as_str(), t.amount_cents, t.date.to_string()),
            ("payment", 19845, "2024-03-15T11:14:00Z".into())
        );

        // Basil shape: proration credit, prorated charge, one-off with inclusive VAT.
        let kat = &invs[1];
        let kinds: Vec<(&str, i64, bool)> =
            kat.line_items.iter().map(|l| (l.kind.as_str(), l.amount_cents, l.prorated)).collect();
        assert_eq!(kinds, [("one_time", -950, true), ("subscription", 1900, true), ("one_time", 41667, false)]);
        assert_eq!(kat.line_items[1].subscription_id.as_deref(), Some("sub_1OcA4mLkdIwHu7ixKat00004"));
        assert_eq!(kat.line_items[1].plan_id.as_deref(), Some("price_1OcA3bStarterMonthly"));
        assert_eq!(kat.line_items[2].tax_cents, Some(8333));
        assert_eq!(kat.line_items[2].service_period_start, None);
        assert_eq!(kat.transactions[0].amount_cents, 50950);

        // A trial's zero invoice: a trial line and no payment.
        let gra = &invs[2];
        assert_eq!(gra.line_items[0].kind, LineItemType::Trial);
        assert!(gra.transactions.is_empty());
    }

    #[test]
    fn truncated_invoice_lines_are_reported() {
        let inv = json!({"id": "in_1", "object": "invoice", "customer": "cus_1", "created": 1709251200, "currency": "usd",
            "status": "open", "lines": {"has_more": true, "data": []}});
        let e = map("invoices", Record::new(2, inv.as_object().unwrap().clone())).unwrap_err();
        assert_eq!(e.field, "lines.has_more");
    }

    #[test]
    fn customers_with_metadata() {
        let recs = map_example(Vendor::Stripe, "customers", "stripe-customers.json");
        let cs: Vec<Customer> = recs.iter().map(|r| Customer::from_record(r).unwrap()).collect();
        let ada = &cs[0];
        assert_eq!((ada.id.as_str(), ada.name.as_deref()), ("cus_PZa0Ada0001", Some("Analytical Engines Ltd")));
        assert_eq!(ada.email.as_deref(), Some("billing@analytical.example"));
        assert_eq!(ada.created_at.unwrap().to_string(), "2024-01-15T10:10:00Z");
        assert_eq!(
            (ada.country.as_deref(), ada.segment.as_deref(), ada.owner.as_deref()),
            (Some("GB"), Some("enterprise"), Some("Grace"))
        );
        assert_eq!(ada.attributes["industry"], "manufacturing");
        assert_eq!(ada.attributes["seats_purchased"], "120");
        assert!(!ada.attributes.contains_key("segment"));
        assert_eq!(cs[2].email, None);
        assert!(cs[2].attributes.is_empty());
    }
}
