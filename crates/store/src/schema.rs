//! How each entity is laid out as Arrow/Parquet tables.
//!
//! Every table has a `_key` column: the entity's identity ([`Entity::key`]),
//! which makes re-imports idempotent. Invoices are three tables (`invoices`,
//! `invoice_line_items`, `invoice_transactions`) sharing the invoice's key, so
//! SQL and Spark can join them without nested types. Free-form JSON (customer
//! attributes, Segment properties, traits, context) is stored as JSON text.
//! Money is `Int64` minor units, dates `Date32`, instants microseconds UTC.

use std::sync::{Arc, LazyLock};

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int32Array, Int64Array, RecordBatch,
    StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use jiff::Timestamp;
use jiff::civil::Date;
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use tenure_model::*;

/// How a table's rows are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteMode {
    /// Keyed by `_key`; a re-imported key replaces the stored row (last wins).
    Upsert,
    /// Append-only, partitioned into one directory per UTC day of the
    /// `timestamp` column; a `message_id` already stored is dropped (first
    /// wins: Segment retries resend the same message).
    AppendByDay,
}

pub struct TableDef {
    pub name: &'static str,
    pub schema: &'static LazyLock<SchemaRef>,
    pub mode: WriteMode,
    /// The column that identifies a row.
    pub key: &'static str,
}

pub const KEY: &str = "_key";

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}
fn f(name: &str, dt: DataType, nullable: bool) -> Field {
    Field::new(name, dt, nullable)
}
fn utf8(name: &str) -> Field {
    f(name, DataType::Utf8, true)
}
fn req(name: &str) -> Field {
    f(name, DataType::Utf8, false)
}
fn date(name: &str) -> Field {
    f(name, DataType::Date32, true)
}
fn ts(name: &str) -> Field {
    f(name, ts_type(), true)
}
fn i64f(name: &str) -> Field {
    f(name, DataType::Int64, true)
}
fn i32f(name: &str) -> Field {
    f(name, DataType::Int32, true)
}
fn schema(fields: Vec<Field>) -> SchemaRef {
    Arc::new(Schema::new(fields))
}

/// Scale of stored percentages (discount percent_off).
pub const PERCENT_SCALE: i8 = 6;
/// Scale of stored FX rates.
pub const RATE_SCALE: i8 = 12;

pub static CUSTOMERS: LazyLock<SchemaRef> = LazyLock::new(|| {
    schema(vec![
        req(KEY),
        req("id"),
        utf8("name"),
        utf8("email"),
        utf8("company"),
        utf8("country"),
        utf8("segment"),
        utf8("plan_tier"),
        utf8("owner"),
        ts("created_at"),
        utf8("attributes"),
    ])
});
pub static PLANS: LazyLock<SchemaRef> =
    LazyLock::new(|| schema(vec![req(KEY), req("id"), utf8("name"), utf8("interval"), i32f("interval_count")]));
pub static SUBSCRIPTION_EVENTS: LazyLock<SchemaRef> = LazyLock::new(|| {
    schema(vec![
        req(KEY),
        req("subscription_id"),
        req("customer_id"),
        req("type"),
        f("date", DataType::Date32, false),
        utf8("currency"),
        utf8("plan_id"),
        utf8("interval"),
        i32f("interval_count"),
        i64f("unit_amount_cents"),
        i64f("quantity"),
        f("discount_percent_off", DataType::Decimal128(12, PERCENT_SCALE), true),
        i64f("discount_amount_off_cents"),
        utf8("discount_duration"),
        date("discount_ends_at"),
        date("requested_at"),
        date("ends_at"),
        utf8("external_id"),
    ])
});
pub static INVOICES: LazyLock<SchemaRef> = LazyLock::new(|| {
    schema(vec![req(KEY), req("external_id"), req("customer_id"), f("date", DataType::Date32, false), req("currency")])
});
pub static INVOICE_LINE_ITEMS: LazyLock<SchemaRef> = LazyLock::new(|| {
    schema(vec![
        req(KEY),
        req("invoice_external_id"),
        f("line_number", DataType::Int32, false),
        req("type"),
        utf8("subscription_id"),
        utf8("plan_id"),
        date("service_period_start"),
        date("service_period_end"),
        f("amount_cents", DataType::Int64, false),
        i64f("tax_cents"),
        i64f("discount_cents"),
        i64f("quantity"),
        f("prorated", DataType::Boolean, false),
    ])
});
pub static INVOICE_TRANSACTIONS: LazyLock<SchemaRef> = LazyLock::new(|| {
    schema(vec![
        req(KEY),
        req("invoice_external_id"),
        f("line_number", DataType::Int32, false),
        req("type"),
        f("date", ts_type(), false),
        f("amount_cents", DataType::Int64, false),
        req("result"),
    ])
});
pub static ORDERS: LazyLock<SchemaRef> = LazyLock::new(|| {
    schema(vec![
        req(KEY),
        req("id"),
        req("customer_id"),
        f("date", DataType::Date32, false),
        f("amount_cents", DataType::Int64, false),
        utf8("currency"),
        i64f("cost_cents"),
    ])
});
pub static EVENTS: LazyLock<SchemaRef> = LazyLock::new(|| {
    schema(vec![
        req("message_id"),
        req("type"),
        utf8("user_id"),
        utf8("anonymous_id"),
        utf8("event"),
        utf8("name"),
        f("timestamp", ts_type(), false),
        utf8("group_id"),
        utf8("properties"),
        utf8("traits"),
        utf8("context"),
    ])
});
pub static SURVEY_RESPONSES: LazyLock<SchemaRef> = LazyLock::new(|| {
    schema(vec![
        req(KEY),
        req("id"),
        req("survey_id"),
        req("survey_type"),
        f("scale_min", DataType::Int64, false),
        f("scale_max", DataType::Int64, false),
        utf8("ces_variant"),
        utf8("respondent_id"),
        utf8("customer_id"),
        ts("sent_at"),
        ts("submitted_at"),
        f("score", DataType::Float64, true),
        utf8("comment"),
        f("count", DataType::Int64, false),
        utf8("rejected_reason"),
    ])
});
pub static TICKETS: LazyLock<SchemaRef> = LazyLock::new(|| {
    schema(vec![
        req(KEY),
        req("id"),
        utf8("customer_id"),
        f("created_at", ts_type(), false),
        ts("first_reply_at"),
        ts("bot_handoff_at"),
        ts("solved_at"),
        req("status"),
        i64f("replies"),
        i64f("customer_replies"),
        i64f("reopens"),
        utf8("channel"),
        f("satisfaction", DataType::Float64, true),
    ])
});
pub static CANCELLATIONS: LazyLock<SchemaRef> = LazyLock::new(|| {
    schema(vec![
        req(KEY),
        req("subscription_id"),
        f("cancelled_at", DataType::Date32, false),
        date("requested_at"),
        utf8("customer_id"),
    ])
});
pub static COSTS: LazyLock<SchemaRef> = LazyLock::new(|| {
    schema(vec![
        req(KEY),
        f("month", DataType::Date32, false),
        req("category"),
        f("amount_cents", DataType::Int64, false),
        req("currency"),
    ])
});
pub static FX_RATES: LazyLock<SchemaRef> = LazyLock::new(|| {
    schema(vec![
        req(KEY),
        req("currency"),
        f("month", DataType::Date32, false),
        f("rate_to_reporting", DataType::Decimal128(28, RATE_SCALE), false),
    ])
});

const fn upsert(name: &'static str, schema: &'static LazyLock<SchemaRef>) -> TableDef {
    TableDef { name, schema, mode: WriteMode::Upsert, key: KEY }
}

/// Every table of a workspace, in listing order.
pub static TABLES: [TableDef; 13] = [
    upsert("customers", &CUSTOMERS),
    upsert("plans", &PLANS),
    upsert("subscription_events", &SUBSCRIPTION_EVENTS),
    upsert("invoices", &INVOICES),
    upsert("invoice_line_items", &INVOICE_LINE_ITEMS),
    upsert("invoice_transactions", &INVOICE_TRANSACTIONS),
    upsert("orders", &ORDERS),
    TableDef { name: "events", schema: &EVENTS, mode: WriteMode::AppendByDay, key: "message_id" },
    upsert("survey_responses", &SURVEY_RESPONSES),
    upsert("tickets", &TICKETS),
    upsert("cancellations", &CANCELLATIONS),
    upsert("costs", &COSTS),
    upsert("fx_rates", &FX_RATES),
];

pub fn table(name: &str) -> Option<&'static TableDef> {
    TABLES.iter().find(|t| t.name == name)
}

// ------------------------------------------------------------------ values

const UNIX_EPOCH_DAY: Date = Date::constant(1970, 1, 1);

pub fn date_to_days(d: Date) -> i32 {
    // Date subtraction yields a span in days (jiff's default largest unit).
    (d - UNIX_EPOCH_DAY).get_days()
}

pub fn days_to_date(days: i32) -> Date {
    UNIX_EPOCH_DAY.checked_add(jiff::Span::new().days(days as i64)).expect("date in range")
}

pub fn ts_to_micros(t: Timestamp) -> i64 {
    t.as_microsecond()
}

pub fn micros_to_ts(us: i64) -> Timestamp {
    Timestamp::from_microsecond(us).expect("timestamp in range")
}

fn decimal_to_i128(d: Decimal, scale: i8) -> i128 {
    let mut d = d;
    d.rescale(scale as u32);
    d.mantissa()
}

pub fn i128_to_decimal(v: i128, scale: i8) -> Decimal {
    Decimal::from_i128_with_scale(v, scale as u32).normalize()
}

fn json_text(m: &Option<Map<String, Value>>) -> Option<String> {
    m.as_ref().map(|m| serde_json::to_string(m).expect("json serialises"))
}

// ------------------------------------------------------------------ column helpers

fn s<'a, T: 'a>(rows: &'a [T], get: impl Fn(&'a T) -> Option<&'a str>) -> ArrayRef {
    Arc::new(rows.iter().map(get).collect::<StringArray>())
}
fn so<'a, T: 'a>(rows: &'a [T], get: impl Fn(&'a T) -> Option<String>) -> ArrayRef {
    Arc::new(rows.iter().map(get).collect::<StringArray>())
}
fn d<T>(rows: &[T], get: impl Fn(&T) -> Option<Date>) -> ArrayRef {
    Arc::new(rows.iter().map(|r| get(r).map(date_to_days)).collect::<Date32Array>())
}
fn t<T>(rows: &[T], get: impl Fn(&T) -> Option<Timestamp>) -> ArrayRef {
    Arc::new(rows.iter().map(|r| get(r).map(ts_to_micros)).collect::<TimestampMicrosecondArray>().with_timezone("UTC"))
}
fn i<T>(rows: &[T], get: impl Fn(&T) -> Option<i64>) -> ArrayRef {
    Arc::new(rows.iter().map(get).collect::<Int64Array>())
}
fn i32c<T>(rows: &[T], get: impl Fn(&T) -> Option<i32>) -> ArrayRef {
    Arc::new(rows.iter().map(get).collect::<Int32Array>())
}
fn fl<T>(rows: &[T], get: impl Fn(&T) -> Option<f64>) -> ArrayRef {
    Arc::new(rows.iter().map(get).collect::<Float64Array>())
}
fn dec<T>(rows: &[T], scale: i8, precision: u8, get: impl Fn(&T) -> Option<Decimal>) -> ArrayRef {
    Arc::new(
        rows.iter()
            .map(|r| get(r).map(|v| decimal_to_i128(v, scale)))
            .collect::<Decimal128Array>()
            .with_precision_and_scale(precision, scale)
            .expect("valid decimal type"),
    )
}
fn keys<E: Entity>(rows: &[E]) -> ArrayRef {
    Arc::new(rows.iter().map(|r| Some(r.key())).collect::<StringArray>())
}

fn batch(schema: &SchemaRef, cols: Vec<ArrayRef>) -> RecordBatch {
    RecordBatch::try_new(schema.clone(), cols).expect("columns match the table schema")
}

/// An entity that can be stored: the tables it writes and its rows as batches.
pub trait Stored: Entity {
    /// Table names this entity writes; the first is its own.
    const TABLES: &'static [&'static str];
    /// One batch per table of [`Stored::TABLES`].
    fn to_batches(rows: &[Self]) -> Vec<RecordBatch>;
}

impl Stored for Customer {
    const TABLES: &'static [&'static str] = &["customers"];
    fn to_batches(rows: &[Self]) -> Vec<RecordBatch> {
        vec![batch(
            &CUSTOMERS,
            vec![
                keys(rows),
                s(rows, |r| Some(&r.id)),
                s(rows, |r| r.name.as_deref()),
                s(rows, |r| r.email.as_deref()),
                s(rows, |r| r.company.as_deref()),
                s(rows, |r| r.country.as_deref()),
                s(rows, |r| r.segment.as_deref()),
                s(rows, |r| r.plan_tier.as_deref()),
                s(rows, |r| r.owner.as_deref()),
                t(rows, |r| r.created_at),
                so(rows, |r| if r.attributes.is_empty() { None } else { json_text(&Some(r.attributes.clone())) }),
            ],
        )]
    }
}

impl Stored for Plan {
    const TABLES: &'static [&'static str] = &["plans"];
    fn to_batches(rows: &[Self]) -> Vec<RecordBatch> {
        vec![batch(
            &PLANS,
            vec![
                keys(rows),
                s(rows, |r| Some(&r.id)),
                s(rows, |r| r.name.as_deref()),
                s(rows, |r| r.interval.map(Interval::as_str)),
                i32c(rows, |r| r.interval_count.map(|c| c as i32)),
            ],
        )]
    }
}

impl Stored for SubscriptionEvent {
    const TABLES: &'static [&'static str] = &["subscription_events"];
    fn to_batches(rows: &[Self]) -> Vec<RecordBatch> {
        vec![batch(
            &SUBSCRIPTION_EVENTS,
            vec![
                keys(rows),
                s(rows, |r| Some(&r.subscription_id)),
                s(rows, |r| Some(&r.customer_id)),
                s(rows, |r| Some(r.kind.as_str())),
                d(rows, |r| Some(r.date)),
                s(rows, |r| r.currency.as_ref().map(|c| c.as_str())),
                s(rows, |r| r.plan_id.as_deref()),
                s(rows, |r| r.interval.map(Interval::as_str)),
                i32c(rows, |r| r.interval_count.map(|c| c as i32)),
                i(rows, |r| r.unit_amount_cents),
                i(rows, |r| r.quantity),
                dec(rows, PERCENT_SCALE, 12, |r| r.discount.as_ref().and_then(|d| d.percent_off)),
                i(rows, |r| r.discount.as_ref().and_then(|d| d.amount_off_cents)),
                s(rows, |r| r.discount.as_ref().map(|d| d.duration.as_str())),
                d(rows, |r| r.discount.as_ref().and_then(|d| d.ends_at)),
                d(rows, |r| r.requested_at),
                d(rows, |r| r.ends_at),
                s(rows, |r| r.external_id.as_deref()),
            ],
        )]
    }
}

impl Stored for Invoice {
    const TABLES: &'static [&'static str] = &["invoices", "invoice_line_items", "invoice_transactions"];
    fn to_batches(rows: &[Self]) -> Vec<RecordBatch> {
        let invoices = batch(
            &INVOICES,
            vec![
                keys(rows),
                s(rows, |r| Some(&r.external_id)),
                s(rows, |r| Some(&r.customer_id)),
                d(rows, |r| Some(r.date)),
                s(rows, |r| Some(r.currency.as_str())),
            ],
        );
        let lines: Vec<(&Invoice, usize, &LineItem)> =
            rows.iter().flat_map(|inv| inv.line_items.iter().enumerate().map(move |(n, l)| (inv, n + 1, l))).collect();
        let line_items = batch(
            &INVOICE_LINE_ITEMS,
            vec![
                so(&lines, |(inv, _, _)| Some(inv.key())),
                s(&lines, |(inv, _, _)| Some(&inv.external_id)),
                i32c(&lines, |(_, n, _)| Some(*n as i32)),
                s(&lines, |(_, _, l)| Some(l.kind.as_str())),
                s(&lines, |(_, _, l)| l.subscription_id.as_deref()),
                s(&lines, |(_, _, l)| l.plan_id.as_deref()),
                d(&lines, |(_, _, l)| l.service_period_start),
                d(&lines, |(_, _, l)| l.service_period_end),
                i(&lines, |(_, _, l)| Some(l.amount_cents)),
                i(&lines, |(_, _, l)| l.tax_cents),
                i(&lines, |(_, _, l)| l.discount_cents),
                i(&lines, |(_, _, l)| l.quantity),
                Arc::new(lines.iter().map(|(_, _, l)| Some(l.prorated)).collect::<BooleanArray>()),
            ],
        );
        let txns: Vec<(&Invoice, usize, &Transaction)> = rows
            .iter()
            .flat_map(|inv| inv.transactions.iter().enumerate().map(move |(n, t)| (inv, n + 1, t)))
            .collect();
        let transactions = batch(
            &INVOICE_TRANSACTIONS,
            vec![
                so(&txns, |(inv, _, _)| Some(inv.key())),
                s(&txns, |(inv, _, _)| Some(&inv.external_id)),
                i32c(&txns, |(_, n, _)| Some(*n as i32)),
                s(&txns, |(_, _, t)| Some(t.kind.as_str())),
                t(&txns, |(_, _, t)| Some(t.date)),
                i(&txns, |(_, _, t)| Some(t.amount_cents)),
                s(&txns, |(_, _, t)| Some(&t.result)),
            ],
        );
        vec![invoices, line_items, transactions]
    }
}

impl Stored for Order {
    const TABLES: &'static [&'static str] = &["orders"];
    fn to_batches(rows: &[Self]) -> Vec<RecordBatch> {
        vec![batch(
            &ORDERS,
            vec![
                keys(rows),
                s(rows, |r| Some(&r.id)),
                s(rows, |r| Some(&r.customer_id)),
                d(rows, |r| Some(r.date)),
                i(rows, |r| Some(r.amount_cents)),
                s(rows, |r| r.currency.as_ref().map(|c| c.as_str())),
                i(rows, |r| r.cost_cents),
            ],
        )]
    }
}

impl Stored for UsageEvent {
    const TABLES: &'static [&'static str] = &["events"];
    fn to_batches(rows: &[Self]) -> Vec<RecordBatch> {
        vec![batch(
            &EVENTS,
            vec![
                s(rows, |r| Some(&r.message_id)),
                s(rows, |r| Some(r.kind.as_str())),
                s(rows, |r| r.user_id.as_deref()),
                s(rows, |r| r.anonymous_id.as_deref()),
                s(rows, |r| r.event.as_deref()),
                s(rows, |r| r.name.as_deref()),
                t(rows, |r| Some(r.timestamp)),
                s(rows, |r| r.group_id.as_deref()),
                so(rows, |r| json_text(&r.properties)),
                so(rows, |r| json_text(&r.traits)),
                so(rows, |r| json_text(&r.context)),
            ],
        )]
    }
}

impl Stored for SurveyResponse {
    const TABLES: &'static [&'static str] = &["survey_responses"];
    fn to_batches(rows: &[Self]) -> Vec<RecordBatch> {
        vec![batch(
            &SURVEY_RESPONSES,
            vec![
                keys(rows),
                s(rows, |r| Some(&r.id)),
                s(rows, |r| Some(&r.survey_id)),
                s(rows, |r| Some(r.survey_type.as_str())),
                i(rows, |r| Some(r.scale_min)),
                i(rows, |r| Some(r.scale_max)),
                s(rows, |r| r.ces_variant.as_deref()),
                s(rows, |r| r.respondent_id.as_deref()),
                s(rows, |r| r.customer_id.as_deref()),
                t(rows, |r| r.sent_at),
                t(rows, |r| r.submitted_at),
                fl(rows, |r| r.score),
                s(rows, |r| r.comment.as_deref()),
                i(rows, |r| Some(r.count)),
                s(rows, |r| r.rejected_reason.as_deref()),
            ],
        )]
    }
}

impl Stored for Ticket {
    const TABLES: &'static [&'static str] = &["tickets"];
    fn to_batches(rows: &[Self]) -> Vec<RecordBatch> {
        vec![batch(
            &TICKETS,
            vec![
                keys(rows),
                s(rows, |r| Some(&r.id)),
                s(rows, |r| r.customer_id.as_deref()),
                t(rows, |r| Some(r.created_at)),
                t(rows, |r| r.first_reply_at),
                t(rows, |r| r.bot_handoff_at),
                t(rows, |r| r.solved_at),
                s(rows, |r| Some(&r.status)),
                i(rows, |r| r.replies),
                i(rows, |r| r.customer_replies),
                i(rows, |r| r.reopens),
                s(rows, |r| r.channel.as_deref()),
                fl(rows, |r| r.satisfaction),
            ],
        )]
    }
}

impl Stored for Cancellation {
    const TABLES: &'static [&'static str] = &["cancellations"];
    fn to_batches(rows: &[Self]) -> Vec<RecordBatch> {
        vec![batch(
            &CANCELLATIONS,
            vec![
                keys(rows),
                s(rows, |r| Some(&r.subscription_id)),
                d(rows, |r| Some(r.cancelled_at)),
                d(rows, |r| r.requested_at),
                s(rows, |r| r.customer_id.as_deref()),
            ],
        )]
    }
}

impl Stored for Cost {
    const TABLES: &'static [&'static str] = &["costs"];
    fn to_batches(rows: &[Self]) -> Vec<RecordBatch> {
        vec![batch(
            &COSTS,
            vec![
                keys(rows),
                d(rows, |r| Some(r.month)),
                s(rows, |r| Some(&r.category)),
                i(rows, |r| Some(r.amount_cents)),
                s(rows, |r| Some(r.currency.as_str())),
            ],
        )]
    }
}

impl Stored for FxRate {
    const TABLES: &'static [&'static str] = &["fx_rates"];
    fn to_batches(rows: &[Self]) -> Vec<RecordBatch> {
        vec![batch(
            &FX_RATES,
            vec![
                keys(rows),
                s(rows, |r| Some(r.currency.as_str())),
                d(rows, |r| Some(r.month)),
                dec(rows, RATE_SCALE, 28, |r| Some(r.rate_to_reporting)),
            ],
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_numbers_round_trip() {
        for s in ["1970-01-01", "1969-12-31", "2024-02-29", "2026-11-26", "1900-03-01"] {
            let d: Date = s.parse().unwrap();
            assert_eq!(days_to_date(date_to_days(d)), d);
        }
        assert_eq!(date_to_days(Date::constant(1970, 1, 2)), 1);
        assert_eq!(date_to_days(Date::constant(2000, 1, 1)), 10957);
    }
}
