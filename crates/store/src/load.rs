//! Reading stored tables back into domain entities, for the metric code that
//! works on model types (revenue, surveys, support). Usage events are read as
//! Arrow columns instead (see the engagement metrics).

use std::collections::HashMap;

use arrow::array::{
    Array, AsArray, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int32Array, Int64Array, RecordBatch,
    StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{Date32Type, Decimal128Type, Float64Type, Int32Type, Int64Type, TimestampMicrosecondType};
use jiff::Timestamp;
use jiff::civil::Date;
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use tenure_model::*;

use crate::schema::{self, Stored, days_to_date, i128_to_decimal, micros_to_ts};
use crate::{Result, Workspace};

/// Every row of an entity in the workspace's committed state.
pub fn load<E: Loaded>(ws: &Workspace) -> Result<Vec<E>> {
    let mut tables = Vec::new();
    for t in E::TABLES {
        tables.push(ws.read_table(t)?);
    }
    Ok(E::from_tables(&tables))
}

/// An entity that can be rebuilt from its stored tables.
pub trait Loaded: Stored {
    /// One list of batches per table of [`Stored::TABLES`].
    fn from_tables(tables: &[Vec<RecordBatch>]) -> Vec<Self>;
}

/// Typed access to one stored batch's columns by name.
struct Cols<'a>(&'a RecordBatch);

impl<'a> Cols<'a> {
    fn s(&self, name: &str) -> &'a StringArray {
        self.0.column_by_name(name).unwrap_or_else(|| panic!("stored column {name}")).as_string::<i32>()
    }
    fn d(&self, name: &str) -> &'a Date32Array {
        self.0.column_by_name(name).unwrap_or_else(|| panic!("stored column {name}")).as_primitive::<Date32Type>()
    }
    fn t(&self, name: &str) -> &'a TimestampMicrosecondArray {
        self.0
            .column_by_name(name)
            .unwrap_or_else(|| panic!("stored column {name}"))
            .as_primitive::<TimestampMicrosecondType>()
    }
    fn i64(&self, name: &str) -> &'a Int64Array {
        self.0.column_by_name(name).unwrap_or_else(|| panic!("stored column {name}")).as_primitive::<Int64Type>()
    }
    fn i32(&self, name: &str) -> &'a Int32Array {
        self.0.column_by_name(name).unwrap_or_else(|| panic!("stored column {name}")).as_primitive::<Int32Type>()
    }
    fn f64(&self, name: &str) -> &'a Float64Array {
        self.0.column_by_name(name).unwrap_or_else(|| panic!("stored column {name}")).as_primitive::<Float64Type>()
    }
    fn dec(&self, name: &str) -> &'a Decimal128Array {
        self.0.column_by_name(name).unwrap_or_else(|| panic!("stored column {name}")).as_primitive::<Decimal128Type>()
    }
    fn b(&self, name: &str) -> &'a BooleanArray {
        self.0.column_by_name(name).unwrap_or_else(|| panic!("stored column {name}")).as_boolean()
    }
}

fn s(a: &StringArray, i: usize) -> Option<String> {
    a.is_valid(i).then(|| a.value(i).to_string())
}
fn req(a: &StringArray, i: usize) -> String {
    a.value(i).to_string()
}
fn d(a: &Date32Array, i: usize) -> Option<Date> {
    a.is_valid(i).then(|| days_to_date(a.value(i)))
}
fn t(a: &TimestampMicrosecondArray, i: usize) -> Option<Timestamp> {
    a.is_valid(i).then(|| micros_to_ts(a.value(i)))
}
fn n64(a: &Int64Array, i: usize) -> Option<i64> {
    a.is_valid(i).then(|| a.value(i))
}
fn n32(a: &Int32Array, i: usize) -> Option<i32> {
    a.is_valid(i).then(|| a.value(i))
}
fn fl(a: &Float64Array, i: usize) -> Option<f64> {
    a.is_valid(i).then(|| a.value(i))
}
fn dec(a: &Decimal128Array, i: usize) -> Option<Decimal> {
    a.is_valid(i).then(|| i128_to_decimal(a.value(i), a.scale()))
}
fn currency(a: &StringArray, i: usize) -> Option<Currency> {
    a.is_valid(i).then(|| a.value(i).parse().expect("stored currencies are valid"))
}
fn json_object(a: &StringArray, i: usize) -> Option<Map<String, Value>> {
    a.is_valid(i).then(|| match serde_json::from_str(a.value(i)) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    })
}
fn enum_of<T>(parse: impl Fn(&str) -> Option<T>, a: &StringArray, i: usize) -> T {
    parse(a.value(i)).expect("stored enumerations are valid")
}

/// Apply `row` to every row of every batch.
fn rows<T>(batches: &[RecordBatch], mut row: impl FnMut(&Cols, usize) -> T) -> Vec<T> {
    let mut out = Vec::with_capacity(batches.iter().map(|b| b.num_rows()).sum());
    for b in batches {
        let c = Cols(b);
        for i in 0..b.num_rows() {
            out.push(row(&c, i));
        }
    }
    out
}

impl Loaded for Customer {
    fn from_tables(tables: &[Vec<RecordBatch>]) -> Vec<Self> {
        rows(&tables[0], |c, i| Customer {
            id: req(c.s("id"), i),
            name: s(c.s("name"), i),
            email: s(c.s("email"), i),
            company: s(c.s("company"), i),
            country: s(c.s("country"), i),
            segment: s(c.s("segment"), i),
            plan_tier: s(c.s("plan_tier"), i),
            owner: s(c.s("owner"), i),
            created_at: t(c.t("created_at"), i),
            attributes: json_object(c.s("attributes"), i).unwrap_or_default(),
        })
    }
}

impl Loaded for Plan {
    fn from_tables(tables: &[Vec<RecordBatch>]) -> Vec<Self> {
        rows(&tables[0], |c, i| Plan {
            id: req(c.s("id"), i),
            name: s(c.s("name"), i),
            interval: s(c.s("interval"), i).and_then(|v| Interval::parse(&v)),
            interval_count: n32(c.i32("interval_count"), i).map(|v| v as u32),
        })
    }
}

impl Loaded for SubscriptionEvent {
    fn from_tables(tables: &[Vec<RecordBatch>]) -> Vec<Self> {
        rows(&tables[0], |c, i| {
            let duration = s(c.s("discount_duration"), i);
            SubscriptionEvent {
                subscription_id: req(c.s("subscription_id"), i),
                customer_id: req(c.s("customer_id"), i),
                kind: enum_of(SubscriptionEventType::parse, c.s("type"), i),
                date: d(c.d("date"), i).expect("required date"),
                currency: currency(c.s("currency"), i),
                plan_id: s(c.s("plan_id"), i),
                interval: s(c.s("interval"), i).and_then(|v| Interval::parse(&v)),
                interval_count: n32(c.i32("interval_count"), i).map(|v| v as u32),
                unit_amount_cents: n64(c.i64("unit_amount_cents"), i),
                quantity: n64(c.i64("quantity"), i),
                discount: duration.map(|dur| Discount {
                    percent_off: dec(c.dec("discount_percent_off"), i),
                    amount_off_cents: n64(c.i64("discount_amount_off_cents"), i),
                    duration: DiscountDuration::parse(&dur).expect("stored discount durations are valid"),
                    ends_at: d(c.d("discount_ends_at"), i),
                }),
                requested_at: d(c.d("requested_at"), i),
                ends_at: d(c.d("ends_at"), i),
                external_id: s(c.s("external_id"), i),
            }
        })
    }
}

impl Loaded for Invoice {
    fn from_tables(tables: &[Vec<RecordBatch>]) -> Vec<Self> {
        let mut lines: HashMap<String, Vec<(i32, LineItem)>> = HashMap::new();
        for (key, n, line) in rows(&tables[1], |c, i| {
            let line = LineItem {
                kind: enum_of(LineItemType::parse, c.s("type"), i),
                subscription_id: s(c.s("subscription_id"), i),
                plan_id: s(c.s("plan_id"), i),
                service_period_start: d(c.d("service_period_start"), i),
                service_period_end: d(c.d("service_period_end"), i),
                amount_cents: c.i64("amount_cents").value(i),
                tax_cents: n64(c.i64("tax_cents"), i),
                discount_cents: n64(c.i64("discount_cents"), i),
                quantity: n64(c.i64("quantity"), i),
                prorated: c.b("prorated").value(i),
            };
            (req(c.s(schema::KEY), i), c.i32("line_number").value(i), line)
        }) {
            lines.entry(key).or_default().push((n, line));
        }
        let mut txns: HashMap<String, Vec<(i32, Transaction)>> = HashMap::new();
        for (key, n, txn) in rows(&tables[2], |c, i| {
            let txn = Transaction {
                kind: enum_of(TransactionType::parse, c.s("type"), i),
                date: t(c.t("date"), i).expect("required date"),
                amount_cents: c.i64("amount_cents").value(i),
                result: req(c.s("result"), i),
            };
            (req(c.s(schema::KEY), i), c.i32("line_number").value(i), txn)
        }) {
            txns.entry(key).or_default().push((n, txn));
        }
        rows(&tables[0], |c, i| {
            let key = req(c.s(schema::KEY), i);
            let mut l = lines.remove(&key).unwrap_or_default();
            l.sort_by_key(|(n, _)| *n);
            let mut tx = txns.remove(&key).unwrap_or_default();
            tx.sort_by_key(|(n, _)| *n);
            Invoice {
                external_id: req(c.s("external_id"), i),
                customer_id: req(c.s("customer_id"), i),
                date: d(c.d("date"), i).expect("required date"),
                currency: currency(c.s("currency"), i).expect("required currency"),
                line_items: l.into_iter().map(|(_, l)| l).collect(),
                transactions: tx.into_iter().map(|(_, t)| t).collect(),
            }
        })
    }
}

impl Loaded for Order {
    fn from_tables(tables: &[Vec<RecordBatch>]) -> Vec<Self> {
        rows(&tables[0], |c, i| Order {
            id: req(c.s("id"), i),
            customer_id: req(c.s("customer_id"), i),
            date: d(c.d("date"), i).expect("required date"),
            amount_cents: c.i64("amount_cents").value(i),
            currency: currency(c.s("currency"), i),
            cost_cents: n64(c.i64("cost_cents"), i),
        })
    }
}

impl Loaded for SurveyResponse {
    fn from_tables(tables: &[Vec<RecordBatch>]) -> Vec<Self> {
        rows(&tables[0], |c, i| SurveyResponse {
            id: req(c.s("id"), i),
            survey_id: req(c.s("survey_id"), i),
            survey_type: enum_of(SurveyType::parse, c.s("survey_type"), i),
            scale_min: c.i64("scale_min").value(i),
            scale_max: c.i64("scale_max").value(i),
            ces_variant: s(c.s("ces_variant"), i),
            respondent_id: s(c.s("respondent_id"), i),
            customer_id: s(c.s("customer_id"), i),
            sent_at: t(c.t("sent_at"), i),
            submitted_at: t(c.t("submitted_at"), i),
            score: fl(c.f64("score"), i),
            comment: s(c.s("comment"), i),
            count: c.i64("count").value(i),
            rejected_reason: s(c.s("rejected_reason"), i),
        })
    }
}

impl Loaded for Ticket {
    fn from_tables(tables: &[Vec<RecordBatch>]) -> Vec<Self> {
        rows(&tables[0], |c, i| Ticket {
            id: req(c.s("id"), i),
            customer_id: s(c.s("customer_id"), i),
            created_at: t(c.t("created_at"), i).expect("required created_at"),
            first_reply_at: t(c.t("first_reply_at"), i),
            bot_handoff_at: t(c.t("bot_handoff_at"), i),
            solved_at: t(c.t("solved_at"), i),
            status: req(c.s("status"), i),
            replies: n64(c.i64("replies"), i),
            customer_replies: n64(c.i64("customer_replies"), i),
            reopens: n64(c.i64("reopens"), i),
            channel: s(c.s("channel"), i),
            satisfaction: fl(c.f64("satisfaction"), i),
        })
    }
}

impl Loaded for Cancellation {
    fn from_tables(tables: &[Vec<RecordBatch>]) -> Vec<Self> {
        rows(&tables[0], |c, i| Cancellation {
            subscription_id: req(c.s("subscription_id"), i),
            cancelled_at: d(c.d("cancelled_at"), i).expect("required date"),
            requested_at: d(c.d("requested_at"), i),
            customer_id: s(c.s("customer_id"), i),
        })
    }
}

impl Loaded for Cost {
    fn from_tables(tables: &[Vec<RecordBatch>]) -> Vec<Self> {
        rows(&tables[0], |c, i| Cost {
            month: d(c.d("month"), i).expect("required month"),
            category: req(c.s("category"), i),
            amount_cents: c.i64("amount_cents").value(i),
            currency: currency(c.s("currency"), i).expect("required currency"),
        })
    }
}

impl Loaded for FxRate {
    fn from_tables(tables: &[Vec<RecordBatch>]) -> Vec<Self> {
        rows(&tables[0], |c, i| FxRate {
            currency: currency(c.s("currency"), i).expect("required currency"),
            month: d(c.d("month"), i).expect("required month"),
            rate_to_reporting: dec(c.dec("rate_to_reporting"), i).expect("required rate"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec<E: Entity>(v: serde_json::Value) -> E {
        E::from_record(&Record::new(1, v.as_object().unwrap().clone())).unwrap()
    }

    /// What goes in comes out, for every entity with optional fields set and unset.
    #[test]
    fn stored_entities_load_back_identical() {
        let dir = tempfile::tempdir().unwrap();
        let mut ws = Workspace::init(dir.path()).unwrap();
        let customers: Vec<Customer> = vec![
            rec(
                json!({"id": "c1", "name": "Ada", "segment": "smb", "created_at": "2024-01-01T10:00:00Z", "seats": 12}),
            ),
            rec(json!({"id": "c2"})),
        ];
        let events: Vec<SubscriptionEvent> = vec![
            rec(
                json!({"subscription_id": "s1", "customer_id": "c1", "type": "start", "date": "2024-01-03", "currency": "eur",
                       "interval": "year", "interval_count": 1, "unit_amount_cents": 120000, "quantity": 3,
                       "discount": {"percent_off": "12.5", "duration": "repeating", "ends_at": "2024-06-01"}}),
            ),
            rec(json!({"subscription_id": "s1", "customer_id": "c1", "type": "cancel", "date": "2024-05-01",
                       "requested_at": "2024-05-01", "ends_at": "2025-01-03"})),
        ];
        let invoices: Vec<Invoice> =
            vec![rec(json!({"external_id": "i1", "customer_id": "c1", "date": "2024-01-03", "currency": "EUR",
            "line_items": [{"type": "subscription", "subscription_id": "s1", "service_period_start": "2024-01-03",
                            "service_period_end": "2025-01-03", "amount_cents": 315000, "prorated": true},
                           {"type": "one_time", "amount_cents": 500}],
            "transactions": [{"type": "payment", "date": "2024-01-03T00:00:00Z", "amount_cents": 315500}]}))];
        let surveys: Vec<SurveyResponse> = vec![
            rec(json!({"survey_id": "q1", "respondent_id": "u1", "submitted_at": "2024-02-01T00:00:00Z", "score": 11})),
            rec(json!({"survey_id": "q1", "survey_type": "ces", "sent_at": "2024-02-01T00:00:00Z"})),
        ];
        let tickets: Vec<Ticket> =
            vec![rec(json!({"id": "t1", "created_at": "2024-03-01T00:00:00Z", "replies": 2, "satisfaction": 4.5}))];
        let fx: Vec<FxRate> = vec![rec(json!({"currency": "EUR", "month": "2024-01", "rate_to_reporting": "1.0905"}))];
        let costs: Vec<Cost> =
            vec![rec(json!({"month": "2024-01", "category": "cogs", "amount_cents": 5, "currency": "USD"}))];
        let cancels: Vec<Cancellation> = vec![rec(json!({"subscription_id": "s9", "cancelled_at": "2024-04-01"}))];
        let orders: Vec<Order> =
            vec![rec(json!({"id": "o1", "customer_id": "c1", "date": "2024-01-01", "amount_cents": 7}))];
        let plans: Vec<Plan> = vec![rec(json!({"id": "p1", "interval": "week", "interval_count": 2}))];
        let mut w = ws.writer().unwrap();
        w.upsert(&customers).unwrap();
        w.upsert(&events).unwrap();
        w.upsert(&invoices).unwrap();
        w.upsert(&surveys).unwrap();
        w.upsert(&tickets).unwrap();
        w.upsert(&fx).unwrap();
        w.upsert(&costs).unwrap();
        w.upsert(&cancels).unwrap();
        w.upsert(&orders).unwrap();
        w.upsert(&plans).unwrap();
        w.commit().unwrap();
        // Stored rows are sorted by key; compare as sets.
        fn same<E: Loaded + PartialEq + std::fmt::Debug>(ws: &Workspace, mut want: Vec<E>) {
            let mut got = load::<E>(ws).unwrap();
            let key = |e: &E| e.key();
            got.sort_by_key(key);
            want.sort_by_key(key);
            assert_eq!(got, want);
        }
        same(&ws, customers);
        same(&ws, events);
        same(&ws, invoices);
        same(&ws, surveys);
        same(&ws, tickets);
        same(&ws, fx);
        same(&ws, costs);
        same(&ws, cancels);
        same(&ws, orders);
        same(&ws, plans);
    }
}
