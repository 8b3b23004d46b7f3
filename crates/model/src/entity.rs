//! The entities of the data contract (SPEC section 1), each parsed and
//! validated from a [`Record`] by one function.

use jiff::Timestamp;
use jiff::civil::Date;
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use crate::currency::Currency;
use crate::record::{FieldError, Fields, Record};

/// An enumerated field: its variants, the names the data contract uses for
/// them, and parsing from those names.
macro_rules! string_enum {
    ($name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        #[doc = concat!("One of the data contract's `", stringify!($name), "` values.")]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            pub const NAMES: &'static [&'static str] = &[$($text),+];
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                Self::NAMES[self as usize]
            }
            pub fn parse(s: &str) -> Option<Self> {
                Self::NAMES.iter().position(|n| *n == s).map(|i| Self::ALL[i])
            }
        }
    };
}

/// What every importable entity has: the table it lands in, the fields a CSV
/// header must name, and the key that makes re-imports idempotent.
pub trait Entity: Sized {
    /// The entity name used by `tenure import <entity>` and as the SQL table.
    const NAME: &'static str;
    /// Fields that must be present (for a CSV header check).
    const REQUIRED: &'static [&'static str];
    /// Every field the entity knows (others are ignored with a warning, except
    /// for customers, whose extra fields become attributes).
    const KNOWN: &'static [&'static str];
    fn from_record(rec: &Record) -> Result<Self, Vec<FieldError>>;
    /// Identity for dedupe: the same key imported twice is one row (the later
    /// import replaces the earlier one).
    fn key(&self) -> String;
}

/// A hash key for rows without an id of their own: the canonical JSON of the
/// record, so that re-importing the same row gives the same key.
pub fn content_key(parts: &[&dyn std::fmt::Debug]) -> String {
    let mut s = String::new();
    for p in parts {
        s.push_str(&format!("{p:?}\u{1f}"));
    }
    // FNV-1a 128: stable across versions and platforms, no dependency.
    let mut h: u128 = 0x6c62272e07bb014262b821756295c58d;
    for b in s.as_bytes() {
        h ^= *b as u128;
        h = h.wrapping_mul(0x0000000001000000000000000000013B);
    }
    format!("h{h:032x}")
}

// ---------------------------------------------------------------- customers

#[derive(Clone, Debug, PartialEq)]
pub struct Customer {
    pub id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub company: Option<String>,
    pub country: Option<String>,
    pub segment: Option<String>,
    pub plan_tier: Option<String>,
    pub owner: Option<String>,
    pub created_at: Option<Timestamp>,
    /// Any other field of the row: CRM attributes (industry, seats, region...).
    pub attributes: Map<String, Value>,
}

impl Entity for Customer {
    const NAME: &'static str = "customers";
    const REQUIRED: &'static [&'static str] = &["id"];
    const KNOWN: &'static [&'static str] =
        &["id", "name", "email", "company", "country", "segment", "plan_tier", "owner", "created_at", "attributes"];

    fn from_record(rec: &Record) -> Result<Self, Vec<FieldError>> {
        let mut f = Fields::new(rec);
        let id = f.req_str(&["id", "customer_id"]);
        let email = f.opt_str(&["email"]);
        if let Some(e) = &email
            && !e.contains('@')
        {
            f.error("email", format!("{e:?} is not an email address"));
        }
        let mut attributes = f.opt_object(&["attributes"]).unwrap_or_default();
        for (k, v) in &rec.fields {
            if !Self::KNOWN.contains(&k.as_str()) && k != "customer_id" && !v.is_null() {
                if matches!(v, Value::String(s) if s.is_empty()) {
                    continue;
                }
                attributes.insert(k.clone(), v.clone());
            }
        }
        let c = Customer {
            id: id.unwrap_or_default(),
            name: f.opt_str(&["name"]),
            email,
            company: f.opt_str(&["company"]),
            country: f.opt_str(&["country"]),
            segment: f.opt_str(&["segment"]),
            plan_tier: f.opt_str(&["plan_tier"]),
            owner: f.opt_str(&["owner"]),
            created_at: f.opt_timestamp(&["created_at"]),
            attributes,
        };
        f.finish(c)
    }

    fn key(&self) -> String {
        self.id.clone()
    }
}

// ---------------------------------------------------------------- plans

string_enum! {
    Interval {
        Day => "day",
        Week => "week",
        Month => "month",
        Year => "year",
    }
}

fn interval_field(f: &mut Fields, names: &[&str]) -> Option<Interval> {
    f.opt_enum(names, Interval::NAMES).map(|i| Interval::ALL[i])
}

fn interval_count_field(f: &mut Fields) -> Option<u32> {
    let n = f.opt_i64(&["interval_count"])?;
    if n < 1 {
        f.error("interval_count", format!("must be 1 or more (got {n})"));
        return None;
    }
    Some(n as u32)
}

#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub id: String,
    pub name: Option<String>,
    pub interval: Option<Interval>,
    pub interval_count: Option<u32>,
}

impl Entity for Plan {
    const NAME: &'static str = "plans";
    const REQUIRED: &'static [&'static str] = &["id"];
    const KNOWN: &'static [&'static str] = &["id", "name", "interval", "interval_count"];

    fn from_record(rec: &Record) -> Result<Self, Vec<FieldError>> {
        let mut f = Fields::new(rec);
        let p = Plan {
            id: f.req_str(&["id", "plan_id"]).unwrap_or_default(),
            name: f.opt_str(&["name"]),
            interval: interval_field(&mut f, &["interval"]),
            interval_count: interval_count_field(&mut f),
        };
        f.finish(p)
    }

    fn key(&self) -> String {
        self.id.clone()
    }
}

// ---------------------------------------------------------------- subscription events

string_enum! {
    SubscriptionEventType {
        TrialStart => "trial_start",
        Start => "start",
        Change => "change",
        Cancel => "cancel",
        PastDue => "past_due",
        PaymentRecovered => "payment_recovered",
    }
}

string_enum! {
    DiscountDuration {
        Forever => "forever",
        Repeating => "repeating",
        Once => "once",
    }
}

/// A discount on a subscription's terms: a percentage or an amount per billing
/// interval, for a duration. `ends_at` is exclusive.
#[derive(Clone, Debug, PartialEq)]
pub struct Discount {
    pub percent_off: Option<Decimal>,
    pub amount_off_cents: Option<i64>,
    pub duration: DiscountDuration,
    pub ends_at: Option<Date>,
}

impl Discount {
    /// Parse a discount given either as a nested object (`discount: {...}`) or
    /// as flattened columns (`discount_percent_off`, ...). `None` if absent.
    fn from_fields(f: &mut Fields) -> Option<Discount> {
        let rec = f.record();
        let nested = rec.raw(&["discount"]).map(|(_, v)| v.clone());
        let (percent, amount, duration, ends_at) = match nested {
            Some(Value::Object(m)) => {
                let sub = Record::new(rec.line, m);
                let mut g = Fields::new(&sub);
                let p = g.opt_decimal(&["percent_off"]);
                let a = g.opt_i64(&["amount_off_cents", "amount_off"]);
                let d = g.opt_enum(&["duration"], DiscountDuration::NAMES);
                let e = g.opt_date(&["ends_at"]);
                let has_duration = sub.raw(&["duration"]).is_some();
                f.nested("discount", g.into_errors());
                if p.is_none() && a.is_none() && !has_duration {
                    return None;
                }
                (p, a, d.map(|i| DiscountDuration::ALL[i]), e)
            }
            Some(_) => {
                f.error("discount", "expected an object {percent_off | amount_off_cents, duration, ends_at}");
                return None;
            }
            None => {
                let p = f.opt_decimal(&["discount_percent_off"]);
                let a = f.opt_i64(&["discount_amount_off_cents"]);
                let d = f.opt_enum(&["discount_duration"], DiscountDuration::NAMES);
                let e = f.opt_date(&["discount_ends_at"]);
                if p.is_none() && a.is_none() && d.is_none() && e.is_none() {
                    return None;
                }
                (p, a, d.map(|i| DiscountDuration::ALL[i]), e)
            }
        };
        match (percent, amount) {
            (Some(_), Some(_)) => f.error("discount", "give percent_off or amount_off_cents, not both"),
            (None, None) => f.error("discount", "needs percent_off or amount_off_cents"),
            (Some(p), None) if p <= Decimal::ZERO || p > Decimal::ONE_HUNDRED => {
                f.error("discount.percent_off", format!("must be more than 0 and at most 100 (got {p})"))
            }
            (None, Some(a)) if a < 0 => f.error("discount.amount_off_cents", format!("must not be negative (got {a})")),
            _ => {}
        }
        let duration =
            duration.unwrap_or(if ends_at.is_some() { DiscountDuration::Repeating } else { DiscountDuration::Forever });
        if duration == DiscountDuration::Repeating && ends_at.is_none() {
            f.error("discount.ends_at", "a repeating discount needs its (exclusive) end date");
        }
        Some(Discount { percent_off: percent, amount_off_cents: amount, duration, ends_at })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct SubscriptionEvent {
    pub subscription_id: String,
    pub customer_id: String,
    pub kind: SubscriptionEventType,
    pub date: Date,
    pub currency: Option<Currency>,
    pub plan_id: Option<String>,
    pub interval: Option<Interval>,
    pub interval_count: Option<u32>,
    pub unit_amount_cents: Option<i64>,
    pub quantity: Option<i64>,
    pub discount: Option<Discount>,
    pub requested_at: Option<Date>,
    pub ends_at: Option<Date>,
    pub external_id: Option<String>,
}

impl Entity for SubscriptionEvent {
    const NAME: &'static str = "subscription_events";
    const REQUIRED: &'static [&'static str] = &["subscription_id", "customer_id", "type", "date"];
    const KNOWN: &'static [&'static str] = &[
        "subscription_id",
        "customer_id",
        "type",
        "date",
        "currency",
        "plan_id",
        "interval",
        "interval_count",
        "unit_amount_cents",
        "quantity",
        "discount",
        "discount_percent_off",
        "discount_amount_off_cents",
        "discount_duration",
        "discount_ends_at",
        "requested_at",
        "ends_at",
        "external_id",
    ];

    fn from_record(rec: &Record) -> Result<Self, Vec<FieldError>> {
        let mut f = Fields::new(rec);
        let subscription_id = f.req_str(&["subscription_id"]);
        let customer_id = f.req_str(&["customer_id"]);
        let kind = f.req_enum(&["type"], SubscriptionEventType::NAMES).map(|i| SubscriptionEventType::ALL[i]);
        let date = f.req_date(&["date"]);
        let currency = f.opt_currency(&["currency"]);
        let plan_id = f.opt_str(&["plan_id"]);
        let interval = interval_field(&mut f, &["interval"]);
        let interval_count = interval_count_field(&mut f);
        let unit_amount_cents = f.opt_non_negative(&["unit_amount_cents"]);
        let quantity = f.opt_non_negative(&["quantity"]);
        let discount = Discount::from_fields(&mut f);
        let requested_at = f.opt_date(&["requested_at"]);
        let ends_at = f.opt_date(&["ends_at"]);
        let external_id = f.opt_str(&["external_id", "id"]);

        if kind == Some(SubscriptionEventType::Start) {
            if rec.raw(&["unit_amount_cents"]).is_none() {
                f.error("unit_amount_cents", "required for a start event (the full terms)");
            }
            if rec.raw(&["interval"]).is_none() && plan_id.is_none() {
                f.error("interval", "required for a start event (or a plan_id whose plan gives it)");
            }
            if rec.raw(&["currency"]).is_none() {
                f.error("currency", "required for a start event");
            }
        }
        if let (Some(r), Some(e)) = (requested_at, ends_at)
            && e < r
        {
            f.error("ends_at", format!("{e} is before requested_at {r}"));
        }
        if kind == Some(SubscriptionEventType::Cancel)
            && let (Some(d), Some(e)) = (date, ends_at)
            && e < d
        {
            f.error("ends_at", format!("{e} is before the cancel's date {d}"));
        }
        if f.has_errors() {
            return Err(f.into_errors());
        }
        Ok(SubscriptionEvent {
            subscription_id: subscription_id.unwrap_or_default(),
            customer_id: customer_id.unwrap_or_default(),
            kind: kind.expect("checked"),
            date: date.expect("checked"),
            currency,
            plan_id,
            interval,
            interval_count,
            unit_amount_cents,
            quantity,
            discount,
            requested_at,
            ends_at,
            external_id,
        })
    }

    fn key(&self) -> String {
        match &self.external_id {
            Some(id) => id.clone(),
            None => content_key(&[
                &self.subscription_id,
                &self.customer_id,
                &self.kind,
                &self.date,
                &self.currency,
                &self.plan_id,
                &self.interval,
                &self.interval_count,
                &self.unit_amount_cents,
                &self.quantity,
                &self.discount,
                &self.requested_at,
                &self.ends_at,
            ]),
        }
    }
}

// ---------------------------------------------------------------- invoices

string_enum! {
    LineItemType {
        Subscription => "subscription",
        OneTime => "one_time",
        Trial => "trial",
        Usage => "usage",
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct LineItem {
    pub kind: LineItemType,
    pub subscription_id: Option<String>,
    pub plan_id: Option<String>,
    pub service_period_start: Option<Date>,
    /// Exclusive.
    pub service_period_end: Option<Date>,
    /// Net of discount, excluding tax.
    pub amount_cents: i64,
    pub tax_cents: Option<i64>,
    pub discount_cents: Option<i64>,
    pub quantity: Option<i64>,
    pub prorated: bool,
}

impl LineItem {
    /// Flattened CSV columns use a `line_` prefix; nested JSON uses plain names.
    fn parse(f: &mut Fields, p: &str) -> Option<LineItem> {
        let n = |s: &str| format!("{p}{s}");
        let kind = f.req_enum(&[&n("type")], LineItemType::NAMES).map(|i| LineItemType::ALL[i]);
        let subscription_id = f.opt_str(&[&n("subscription_id")]);
        let plan_id = f.opt_str(&[&n("plan_id")]);
        let start = f.opt_date(&[&n("service_period_start")]);
        let end = f.opt_date(&[&n("service_period_end")]);
        let amount = f.req_i64(&[&n("amount_cents")]);
        let tax = f.opt_non_negative(&[&n("tax_cents")]);
        let discount = f.opt_non_negative(&[&n("discount_cents")]);
        let quantity = f.opt_non_negative(&[&n("quantity")]);
        let prorated = f.opt_bool(&[&n("prorated")]).unwrap_or(false);
        if kind == Some(LineItemType::Subscription) {
            if subscription_id.is_none() {
                f.error(&n("subscription_id"), "required for a subscription line item");
            }
            if start.is_none() && f.record().raw(&[&n("service_period_start")]).is_none() {
                f.error(&n("service_period_start"), "required for a subscription line item");
            }
            if end.is_none() && f.record().raw(&[&n("service_period_end")]).is_none() {
                f.error(&n("service_period_end"), "required for a subscription line item");
            }
            if let Some(a) = amount
                && a < 0
            {
                f.error(&n("amount_cents"), format!("a subscription line must not be negative (got {a})"));
            }
        }
        if let (Some(s), Some(e)) = (start, end)
            && e <= s
        {
            f.error(
                &n("service_period_end"),
                format!("{e} is not after service_period_start {s} (the end is exclusive)"),
            );
        }
        Some(LineItem {
            kind: kind?,
            subscription_id,
            plan_id,
            service_period_start: start,
            service_period_end: end,
            amount_cents: amount?,
            tax_cents: tax,
            discount_cents: discount,
            quantity,
            prorated,
        })
    }
}

string_enum! {
    TransactionType {
        Payment => "payment",
        Refund => "refund",
        Chargeback => "chargeback",
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Transaction {
    pub kind: TransactionType,
    pub date: Timestamp,
    pub amount_cents: i64,
    /// `successful` (default) or `failed`.
    pub result: String,
}

impl Transaction {
    fn parse(f: &mut Fields, p: &str) -> Option<Transaction> {
        let n = |s: &str| format!("{p}{s}");
        let kind = f.req_enum(&[&n("type")], TransactionType::NAMES).map(|i| TransactionType::ALL[i]);
        let date = f.req_timestamp(&[&n("date")]);
        let amount = f.req_i64(&[&n("amount_cents")]);
        if let Some(a) = amount
            && a < 0
        {
            f.error(&n("amount_cents"), format!("must not be negative (got {a}); the type says which way money moved"));
        }
        let result = f
            .opt_enum(&[&n("result")], &["successful", "success", "succeeded", "paid", "failed", "failure"])
            .map(|i| if i < 4 { "successful" } else { "failed" })
            .unwrap_or("successful");
        Some(Transaction { kind: kind?, date: date?, amount_cents: amount?, result: result.to_string() })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Invoice {
    pub external_id: String,
    pub customer_id: String,
    pub date: Date,
    pub currency: Currency,
    pub line_items: Vec<LineItem>,
    pub transactions: Vec<Transaction>,
}

impl Invoice {
    /// Flattened CSV form: one row per line item and/or transaction, the
    /// invoice's fields repeated; rows of one `external_id` are merged by the
    /// importer with [`Invoice::merge`].
    fn parse_flat(f: &mut Fields) -> (Vec<LineItem>, Vec<Transaction>) {
        let rec = f.record();
        let mut lines = Vec::new();
        let mut txns = Vec::new();
        if rec.raw(&["line_type"]).is_some() {
            lines.extend(LineItem::parse(f, "line_"));
        }
        if rec.raw(&["transaction_type"]).is_some() {
            txns.extend(Transaction::parse(f, "transaction_"));
        }
        (lines, txns)
    }

    /// Merge another row of the same invoice (flattened CSV form).
    pub fn merge(&mut self, other: Invoice) -> Result<(), FieldError> {
        if other.customer_id != self.customer_id {
            return Err(FieldError::new(
                "customer_id",
                format!(
                    "{:?} differs from an earlier row of invoice {:?} ({:?})",
                    other.customer_id, self.external_id, self.customer_id
                ),
            ));
        }
        if other.currency != self.currency {
            return Err(FieldError::new(
                "currency",
                format!(
                    "{} differs from an earlier row of invoice {:?} ({})",
                    other.currency, self.external_id, self.currency
                ),
            ));
        }
        if other.date != self.date {
            return Err(FieldError::new(
                "date",
                format!("{} differs from an earlier row of invoice {:?} ({})", other.date, self.external_id, self.date),
            ));
        }
        self.line_items.extend(other.line_items);
        self.transactions.extend(other.transactions);
        Ok(())
    }
}

fn nested_list<T>(f: &mut Fields, field: &str, parse: impl Fn(&mut Fields, &str) -> Option<T>) -> Vec<T> {
    let line = f.record().line;
    let mut out = Vec::new();
    for (i, v) in f.opt_array(&[field]).unwrap_or_default().into_iter().enumerate() {
        let Value::Object(m) = v else {
            f.error(&format!("{field}[{i}]"), "expected an object");
            continue;
        };
        let sub = Record::new(line, m);
        let mut g = Fields::new(&sub);
        let item = parse(&mut g, "");
        let errs = g.into_errors();
        if errs.is_empty() {
            out.extend(item);
        } else {
            f.nested(&format!("{field}[{i}]"), errs);
        }
    }
    out
}

impl Entity for Invoice {
    const NAME: &'static str = "invoices";
    const REQUIRED: &'static [&'static str] = &["external_id", "customer_id", "date", "currency"];
    const KNOWN: &'static [&'static str] = &[
        "external_id",
        "customer_id",
        "date",
        "currency",
        "line_items",
        "transactions",
        "line_type",
        "line_subscription_id",
        "line_plan_id",
        "line_service_period_start",
        "line_service_period_end",
        "line_amount_cents",
        "line_tax_cents",
        "line_discount_cents",
        "line_quantity",
        "line_prorated",
        "transaction_type",
        "transaction_date",
        "transaction_amount_cents",
        "transaction_result",
    ];

    fn from_record(rec: &Record) -> Result<Self, Vec<FieldError>> {
        let mut f = Fields::new(rec);
        let external_id = f.req_str(&["external_id", "id"]);
        let customer_id = f.req_str(&["customer_id"]);
        let date = f.req_date(&["date"]);
        let currency = f.req_currency(&["currency"]);
        let mut line_items = nested_list(&mut f, "line_items", LineItem::parse);
        let mut transactions = nested_list(&mut f, "transactions", Transaction::parse);
        let (l, t) = Invoice::parse_flat(&mut f);
        line_items.extend(l);
        transactions.extend(t);
        if f.has_errors() {
            return Err(f.into_errors());
        }
        Ok(Invoice {
            external_id: external_id.unwrap_or_default(),
            customer_id: customer_id.unwrap_or_default(),
            date: date.expect("checked"),
            currency: currency.expect("checked"),
            line_items,
            transactions,
        })
    }

    fn key(&self) -> String {
        self.external_id.clone()
    }
}

// ---------------------------------------------------------------- orders

#[derive(Clone, Debug, PartialEq)]
pub struct Order {
    pub id: String,
    pub customer_id: String,
    pub date: Date,
    pub amount_cents: i64,
    pub currency: Option<Currency>,
    pub cost_cents: Option<i64>,
}

impl Entity for Order {
    const NAME: &'static str = "orders";
    const REQUIRED: &'static [&'static str] = &["id", "customer_id", "date", "amount_cents"];
    const KNOWN: &'static [&'static str] = &["id", "customer_id", "date", "amount_cents", "currency", "cost_cents"];

    fn from_record(rec: &Record) -> Result<Self, Vec<FieldError>> {
        let mut f = Fields::new(rec);
        let id = f.req_str(&["id", "order_id"]);
        let customer_id = f.req_str(&["customer_id"]);
        let date = f.req_date(&["date"]);
        let amount = f.req_i64(&["amount_cents"]);
        if let Some(a) = amount
            && a < 0
        {
            f.error("amount_cents", format!("must not be negative (got {a})"));
        }
        let currency = f.opt_currency(&["currency"]);
        let cost_cents = f.opt_non_negative(&["cost_cents"]);
        if f.has_errors() {
            return Err(f.into_errors());
        }
        Ok(Order {
            id: id.unwrap_or_default(),
            customer_id: customer_id.unwrap_or_default(),
            date: date.expect("checked"),
            amount_cents: amount.expect("checked"),
            currency,
            cost_cents,
        })
    }

    fn key(&self) -> String {
        self.id.clone()
    }
}

// ---------------------------------------------------------------- usage events

string_enum! {
    UsageEventType {
        Track => "track",
        Identify => "identify",
        Group => "group",
        Page => "page",
    }
}

/// A product usage event in Segment's shape.
#[derive(Clone, Debug, PartialEq)]
pub struct UsageEvent {
    pub message_id: String,
    pub kind: UsageEventType,
    pub user_id: Option<String>,
    pub anonymous_id: Option<String>,
    /// The event name of a `track` call.
    pub event: Option<String>,
    /// The page name of a `page` call.
    pub name: Option<String>,
    pub timestamp: Timestamp,
    /// The account: `groupId`, else `context.groupId` (else, later, the
    /// user's latest group call, resolved by the metrics).
    pub group_id: Option<String>,
    pub properties: Option<Map<String, Value>>,
    pub traits: Option<Map<String, Value>>,
    pub context: Option<Map<String, Value>>,
}

impl Entity for UsageEvent {
    const NAME: &'static str = "events";
    const REQUIRED: &'static [&'static str] = &["type", "timestamp"];
    const KNOWN: &'static [&'static str] = &[
        "type",
        "userId",
        "user_id",
        "anonymousId",
        "anonymous_id",
        "event",
        "name",
        "timestamp",
        "messageId",
        "message_id",
        "groupId",
        "group_id",
        "properties",
        "traits",
        "context",
        "sentAt",
        "receivedAt",
        "originalTimestamp",
        "integrations",
        "channel",
        "version",
        "writeKey",
    ];

    fn from_record(rec: &Record) -> Result<Self, Vec<FieldError>> {
        let mut f = Fields::new(rec);
        let kind = f.req_enum(&["type"], UsageEventType::NAMES).map(|i| UsageEventType::ALL[i]);
        let user_id = f.opt_str(&["userId", "user_id"]);
        let anonymous_id = f.opt_str(&["anonymousId", "anonymous_id"]);
        if user_id.is_none() && anonymous_id.is_none() && !f.has_errors() {
            f.error("userId", "a userId or an anonymousId is required");
        }
        let event = f.opt_str(&["event"]);
        if kind == Some(UsageEventType::Track) && event.is_none() {
            f.error("event", "a track call needs its event name");
        }
        let name = f.opt_str(&["name"]);
        let timestamp = f.req_timestamp(&["timestamp", "originalTimestamp", "receivedAt"]);
        let message_id = f.opt_str(&["messageId", "message_id"]);
        let group_id = f.opt_str(&["groupId", "group_id", "context.groupId", "context.group_id"]);
        let properties = f.opt_object(&["properties"]);
        let traits = f.opt_object(&["traits"]).or_else(|| {
            // Segment puts identify traits at the top level; some SDKs under context.
            None
        });
        let context = f.opt_object(&["context"]);
        if kind == Some(UsageEventType::Group) && group_id.is_none() {
            f.error("groupId", "a group call needs its groupId");
        }
        if f.has_errors() {
            return Err(f.into_errors());
        }
        let mut e = UsageEvent {
            message_id: String::new(),
            kind: kind.expect("checked"),
            user_id,
            anonymous_id,
            event,
            name,
            timestamp: timestamp.expect("checked"),
            group_id,
            properties,
            traits,
            context,
        };
        e.message_id = message_id.unwrap_or_else(|| {
            content_key(&[
                &e.kind,
                &e.user_id,
                &e.anonymous_id,
                &e.event,
                &e.name,
                &e.timestamp,
                &e.group_id,
                &e.properties,
                &e.traits,
            ])
        });
        Ok(e)
    }

    fn key(&self) -> String {
        self.message_id.clone()
    }
}

// ---------------------------------------------------------------- survey responses

string_enum! {
    SurveyType {
        Nps => "nps",
        Csat => "csat",
        Ces => "ces",
        Custom => "custom",
    }
}

pub const CES_VARIANTS: &[&str] = &["ces2_agreement_1_7", "ces1_effort_1_5"];

#[derive(Clone, Debug, PartialEq)]
pub struct SurveyResponse {
    /// The response's own id if the source has one, else a content hash.
    pub id: String,
    pub survey_id: String,
    pub survey_type: SurveyType,
    pub scale_min: i64,
    pub scale_max: i64,
    pub ces_variant: Option<String>,
    pub respondent_id: Option<String>,
    pub customer_id: Option<String>,
    pub sent_at: Option<Timestamp>,
    /// Absent: sent but not answered (counts toward the response rate only).
    pub submitted_at: Option<Timestamp>,
    /// Null with `submitted_at`: skipped.
    pub score: Option<f64>,
    pub comment: Option<String>,
    /// Aggregate form: how many answers this row stands for (default 1).
    pub count: i64,
    /// Set when the score is out of the scale (kept, excluded from metrics).
    pub rejected_reason: Option<String>,
}

impl Entity for SurveyResponse {
    const NAME: &'static str = "survey_responses";
    const REQUIRED: &'static [&'static str] = &["survey_id"];
    const KNOWN: &'static [&'static str] = &[
        "id",
        "survey_id",
        "survey_type",
        "scale_min",
        "scale_max",
        "ces_variant",
        "respondent_id",
        "customer_id",
        "sent_at",
        "submitted_at",
        "score",
        "comment",
        "count",
        // Recomputed on import from the score and scale, so an exported table re-imports silently.
        "rejected_reason",
    ];

    fn from_record(rec: &Record) -> Result<Self, Vec<FieldError>> {
        let mut f = Fields::new(rec);
        let own_id = f.opt_str(&["id", "response_id"]);
        let survey_id = f.req_str(&["survey_id"]);
        let survey_type =
            f.opt_enum(&["survey_type"], SurveyType::NAMES).map(|i| SurveyType::ALL[i]).unwrap_or(SurveyType::Nps);
        let ces_variant = f.opt_enum(&["ces_variant"], CES_VARIANTS).map(|i| CES_VARIANTS[i].to_string());
        let ces_variant = match (survey_type, ces_variant) {
            (SurveyType::Ces, None) => Some(CES_VARIANTS[0].to_string()),
            (_, v) => v,
        };
        let (default_min, default_max) = match survey_type {
            SurveyType::Nps => (0, 10),
            SurveyType::Csat => (1, 5),
            SurveyType::Ces if ces_variant.as_deref() == Some("ces1_effort_1_5") => (1, 5),
            SurveyType::Ces => (1, 7),
            SurveyType::Custom => (0, 10),
        };
        let scale_min = f.opt_i64(&["scale_min"]).unwrap_or(default_min);
        let scale_max = f.opt_i64(&["scale_max"]).unwrap_or(default_max);
        if scale_max <= scale_min {
            f.error("scale_max", format!("{scale_max} is not above scale_min {scale_min}"));
        }
        let respondent_id = f.opt_str(&["respondent_id"]);
        let customer_id = f.opt_str(&["customer_id"]);
        let sent_at = f.opt_timestamp(&["sent_at"]);
        let submitted_at = f.opt_timestamp(&["submitted_at"]);
        if let (Some(s), Some(t)) = (sent_at, submitted_at)
            && t < s
        {
            f.error("submitted_at", format!("{t} is before sent_at {s}"));
        }
        let score = f.opt_f64(&["score"]);
        let comment = f.opt_str(&["comment"]);
        let count = f.opt_i64(&["count"]).unwrap_or(1);
        if count < 1 {
            f.error("count", format!("must be 1 or more (got {count})"));
        }
        if f.has_errors() {
            return Err(f.into_errors());
        }
        // Out-of-range scores are kept and flagged, not import errors (SPEC 1).
        let rejected_reason = score.and_then(|s| {
            if s < scale_min as f64 || s > scale_max as f64 {
                Some(format!("score {s} is outside the scale {scale_min}-{scale_max}"))
            } else if survey_type != SurveyType::Custom && s.fract() != 0.0 {
                Some(format!("score {s} is not a point of the {scale_min}-{scale_max} scale"))
            } else {
                None
            }
        });
        let mut r = SurveyResponse {
            id: String::new(),
            survey_id: survey_id.unwrap_or_default(),
            survey_type,
            scale_min,
            scale_max,
            ces_variant,
            respondent_id,
            customer_id,
            sent_at,
            submitted_at,
            score,
            comment,
            count,
            rejected_reason,
        };
        r.id = own_id.unwrap_or_else(|| {
            content_key(&[
                &r.survey_id,
                &r.respondent_id,
                &r.customer_id,
                &r.sent_at,
                &r.submitted_at,
                &r.score,
                &r.comment,
                &r.count,
            ])
        });
        Ok(r)
    }

    fn key(&self) -> String {
        self.id.clone()
    }
}

// ---------------------------------------------------------------- support tickets

pub const TICKET_STATUSES: &[&str] = &["new", "open", "pending", "solved", "closed"];

#[derive(Clone, Debug, PartialEq)]
pub struct Ticket {
    pub id: String,
    pub customer_id: Option<String>,
    pub created_at: Timestamp,
    pub first_reply_at: Option<Timestamp>,
    pub bot_handoff_at: Option<Timestamp>,
    pub solved_at: Option<Timestamp>,
    pub status: String,
    pub replies: Option<i64>,
    pub customer_replies: Option<i64>,
    pub reopens: Option<i64>,
    pub channel: Option<String>,
    pub satisfaction: Option<f64>,
}

impl Entity for Ticket {
    const NAME: &'static str = "tickets";
    const REQUIRED: &'static [&'static str] = &["id", "created_at"];
    const KNOWN: &'static [&'static str] = &[
        "id",
        "customer_id",
        "created_at",
        "first_reply_at",
        "bot_handoff_at",
        "solved_at",
        "status",
        "replies",
        "customer_replies",
        "reopens",
        "channel",
        "satisfaction",
    ];

    fn from_record(rec: &Record) -> Result<Self, Vec<FieldError>> {
        let mut f = Fields::new(rec);
        let id = f.req_str(&["id", "ticket_id"]);
        let customer_id = f.opt_str(&["customer_id"]);
        let created_at = f.req_timestamp(&["created_at"]);
        let first_reply_at = f.opt_timestamp(&["first_reply_at"]);
        let bot_handoff_at = f.opt_timestamp(&["bot_handoff_at"]);
        let solved_at = f.opt_timestamp(&["solved_at"]);
        let status = f.opt_enum(&["status"], TICKET_STATUSES).map(|i| TICKET_STATUSES[i]);
        let replies = f.opt_non_negative(&["replies"]);
        let customer_replies = f.opt_non_negative(&["customer_replies"]);
        let reopens = f.opt_non_negative(&["reopens"]);
        let channel = f.opt_str(&["channel"]);
        let satisfaction = f.opt_f64(&["satisfaction"]);
        if let Some(c) = created_at {
            for (name, t) in
                [("first_reply_at", first_reply_at), ("bot_handoff_at", bot_handoff_at), ("solved_at", solved_at)]
            {
                if let Some(t) = t
                    && t < c
                {
                    f.error(name, format!("{t} is before created_at {c}"));
                }
            }
        }
        if f.has_errors() {
            return Err(f.into_errors());
        }
        let status = status.unwrap_or(if solved_at.is_some() { "solved" } else { "open" }).to_string();
        Ok(Ticket {
            id: id.unwrap_or_default(),
            customer_id,
            created_at: created_at.expect("checked"),
            first_reply_at,
            bot_handoff_at,
            solved_at,
            status,
            replies,
            customer_replies,
            reopens,
            channel,
            satisfaction,
        })
    }

    fn key(&self) -> String {
        self.id.clone()
    }
}

// ---------------------------------------------------------------- cancellations

/// Ends an invoice-derived subscription.
#[derive(Clone, Debug, PartialEq)]
pub struct Cancellation {
    pub subscription_id: String,
    /// First day without service.
    pub cancelled_at: Date,
    pub requested_at: Option<Date>,
    pub customer_id: Option<String>,
}

impl Entity for Cancellation {
    const NAME: &'static str = "cancellations";
    const REQUIRED: &'static [&'static str] = &["subscription_id", "cancelled_at"];
    const KNOWN: &'static [&'static str] = &["subscription_id", "cancelled_at", "requested_at", "customer_id"];

    fn from_record(rec: &Record) -> Result<Self, Vec<FieldError>> {
        let mut f = Fields::new(rec);
        let subscription_id = f.req_str(&["subscription_id"]);
        let cancelled_at = f.req_date(&["cancelled_at"]);
        let requested_at = f.opt_date(&["requested_at"]);
        let customer_id = f.opt_str(&["customer_id"]);
        if let (Some(c), Some(r)) = (cancelled_at, requested_at)
            && c < r
        {
            f.error("cancelled_at", format!("{c} is before requested_at {r}"));
        }
        if f.has_errors() {
            return Err(f.into_errors());
        }
        Ok(Cancellation {
            subscription_id: subscription_id.unwrap_or_default(),
            cancelled_at: cancelled_at.expect("checked"),
            requested_at,
            customer_id,
        })
    }

    fn key(&self) -> String {
        self.subscription_id.clone()
    }
}

// ---------------------------------------------------------------- costs

#[derive(Clone, Debug, PartialEq)]
pub struct Cost {
    /// First day of the month.
    pub month: Date,
    pub category: String,
    pub amount_cents: i64,
    pub currency: Currency,
}

impl Entity for Cost {
    const NAME: &'static str = "costs";
    const REQUIRED: &'static [&'static str] = &["month", "category", "amount_cents"];
    const KNOWN: &'static [&'static str] = &["month", "category", "amount_cents", "currency"];

    fn from_record(rec: &Record) -> Result<Self, Vec<FieldError>> {
        let mut f = Fields::new(rec);
        let month = f.req_month(&["month"]);
        let category = f.req_str(&["category"]).map(|c| c.to_ascii_lowercase());
        if let Some(c) = &category
            && !c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
        {
            f.error(
                "category",
                format!("{c:?} should be a snake_case name such as sales_marketing, customer_success, cogs"),
            );
        }
        let amount = f.req_i64(&["amount_cents"]);
        if let Some(a) = amount
            && a < 0
        {
            f.error("amount_cents", format!("must not be negative (got {a})"));
        }
        let currency = f.req_currency(&["currency"]);
        if f.has_errors() {
            return Err(f.into_errors());
        }
        Ok(Cost {
            month: month.expect("checked"),
            category: category.unwrap_or_default(),
            amount_cents: amount.expect("checked"),
            currency: currency.expect("checked"),
        })
    }

    fn key(&self) -> String {
        format!("{}|{}|{}", crate::time::format_month(self.month), self.category, self.currency)
    }
}

// ---------------------------------------------------------------- FX rates

#[derive(Clone, Debug, PartialEq)]
pub struct FxRate {
    pub currency: Currency,
    /// First day of the month.
    pub month: Date,
    /// One unit of `currency` in the reporting currency.
    pub rate_to_reporting: Decimal,
}

impl Entity for FxRate {
    const NAME: &'static str = "fx_rates";
    const REQUIRED: &'static [&'static str] = &["currency", "rate_to_reporting"];
    const KNOWN: &'static [&'static str] = &["currency", "month", "date", "rate_to_reporting"];

    fn from_record(rec: &Record) -> Result<Self, Vec<FieldError>> {
        let mut f = Fields::new(rec);
        let currency = f.req_currency(&["currency"]);
        let month = f.req_month(&["month", "date"]);
        let rate = f.opt_decimal(&["rate_to_reporting"]);
        if rec.raw(&["rate_to_reporting"]).is_none() {
            f.error("rate_to_reporting", "required field is missing or empty");
        }
        if let Some(r) = rate
            && r <= Decimal::ZERO
        {
            f.error("rate_to_reporting", format!("must be more than 0 (got {r})"));
        }
        if f.has_errors() {
            return Err(f.into_errors());
        }
        Ok(FxRate {
            currency: currency.expect("checked"),
            month: month.expect("checked"),
            rate_to_reporting: rate.expect("checked"),
        })
    }

    fn key(&self) -> String {
        format!("{}|{}", self.currency, crate::time::format_month(self.month))
    }
}
