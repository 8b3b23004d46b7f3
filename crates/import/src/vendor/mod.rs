//! Vendor export shapes mapped onto the data contract (`tenure import --from`).
//!
//! Each vendor module turns one record of the vendor's export into zero or
//! more records in the canonical shape of one entity (the field names
//! `tenure_model::entity` parses). Mappings only rename, convert and split:
//! every value still goes through the entity's own validation afterwards, so a
//! vendor value Tenure cannot use is reported with its file, line and field
//! like any other bad row rather than being dropped or guessed.

mod segment;
mod stripe;
mod surveys;
mod zendesk;

use std::collections::HashMap;
use std::path::Path;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::{Map, Value};
use tenure_model::Record;

use crate::{Format, ImportError, RowError};

/// A vendor whose export format `tenure import --from` understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vendor {
    Segment,
    Stripe,
    Zendesk,
    Delighted,
    Typeform,
}

impl Vendor {
    pub const NAMES: &'static [&'static str] = &["segment", "stripe", "zendesk", "delighted", "typeform"];

    pub fn parse(s: &str) -> Option<Vendor> {
        match s.to_ascii_lowercase().as_str() {
            "segment" => Some(Vendor::Segment),
            "stripe" => Some(Vendor::Stripe),
            "zendesk" => Some(Vendor::Zendesk),
            "delighted" => Some(Vendor::Delighted),
            "typeform" => Some(Vendor::Typeform),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Vendor::Segment => "segment",
            Vendor::Stripe => "stripe",
            Vendor::Zendesk => "zendesk",
            Vendor::Delighted => "delighted",
            Vendor::Typeform => "typeform",
        }
    }

    /// The entities this vendor's exports can be imported as.
    pub fn entities(self) -> &'static [&'static str] {
        match self {
            Vendor::Segment => &["events"],
            Vendor::Stripe => &["subscription_events", "invoices", "customers"],
            Vendor::Zendesk => &["tickets"],
            Vendor::Delighted | Vendor::Typeform => &["survey_responses"],
        }
    }

    /// The format a vendor's export usually comes in, if the extension does not say.
    pub fn default_format(self, path: &Path) -> Result<Format, ImportError> {
        Format::detect(path).or(Ok(match self {
            // Segment archives are newline-delimited messages; Stripe's API
            // answers are one JSON document; the others export CSV.
            Vendor::Segment => Format::Jsonl,
            Vendor::Stripe => Format::Json,
            Vendor::Zendesk | Vendor::Delighted | Vendor::Typeform => Format::Csv,
        }))
    }

    /// Map one vendor record onto zero or more records of `entity`.
    pub fn map(self, entity: &str, file: &str, rec: Record) -> Vec<Result<Record, RowError>> {
        if !self.entities().contains(&entity) {
            let reason =
                format!("{} exports can be imported as {}, not as {entity}", self.name(), self.entities().join(", "));
            return vec![Err(RowError::new(file, rec.line, "entity", reason))];
        }
        let line = rec.line;
        let mapped = match self {
            Vendor::Segment => segment::map(rec),
            Vendor::Stripe => stripe::map(entity, rec),
            Vendor::Zendesk => zendesk::map(rec),
            Vendor::Delighted => surveys::delighted(rec),
            Vendor::Typeform => surveys::typeform(rec),
        };
        match mapped {
            Ok(records) => records.into_iter().map(Ok).collect(),
            Err(e) => vec![Err(RowError::new(file, line, &e.field, e.reason))],
        }
    }
}

/// Why a vendor record could not be mapped (the first problem found: the
/// entity's validation reports everything else once the record is mapped).
#[derive(Debug)]
struct MapError {
    field: String,
    reason: String,
}

fn fail<T>(field: impl Into<String>, reason: impl Into<String>) -> Result<T, MapError> {
    Err(MapError { field: field.into(), reason: reason.into() })
}

type Mapped = Result<Vec<Record>, MapError>;

// ------------------------------------------------------------------ JSON access

/// The value at a dotted path (`items.data`, `items.data.0.price`); JSON
/// null, like a missing member, is `None`.
fn get<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for part in path.split('.') {
        cur = match (cur, part.parse::<usize>()) {
            (Value::Array(a), Ok(i)) => a.get(i)?,
            _ => cur.get(part)?,
        };
    }
    if cur.is_null() { None } else { Some(cur) }
}

/// A non-empty string or a number, as text.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn text_at(v: &Value, path: &str) -> Option<String> {
    get(v, path).and_then(text)
}

/// An id that may be expanded: Stripe writes `"customer": "cus_1"`, or the
/// whole object when the export asked for `expand[]`.
fn id_of(v: &Value) -> Option<String> {
    match v {
        Value::Object(m) => m.get("id").and_then(text),
        other => text(other),
    }
}

/// A whole number from a JSON number or a numeric string (`12`, `12.0`).
fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => tenure_model::record::parse_integer(s.trim()).ok(),
        _ => None,
    }
}

fn int_at(v: &Value, path: &str) -> Option<i64> {
    get(v, path).and_then(int)
}

fn bool_at(v: &Value, path: &str) -> bool {
    matches!(get(v, path), Some(Value::Bool(true)))
}

// ------------------------------------------------------------------ time

/// An instant as exports write it: RFC 3339, the same without an offset
/// (UTC), Unix seconds (Stripe, Delighted), or `YYYY-MM-DD HH:MM[:SS] +HHMM`
/// (spreadsheet-style exports). `None` if it is none of these.
fn instant(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    if let Ok(t) = tenure_model::time::parse_timestamp(s) {
        return Some(t);
    }
    // `2024-03-01 12:00:00 UTC`: a zone name instead of an offset.
    if let Some(utc) = s.strip_suffix(" UTC").or_else(|| s.strip_suffix(" GMT")) {
        return tenure_model::time::parse_timestamp(utc).ok();
    }
    // A space before the offset is how CSV exports often write it.
    for fmt in ["%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M:%S %:z", "%Y-%m-%d %H:%M %z", "%Y-%m-%d %H:%M %:z"] {
        if let Ok(t) = jiff::fmt::strtime::parse(fmt, s).and_then(|tm| tm.to_timestamp()) {
            return Some(t);
        }
    }
    None
}

fn instant_of(v: &Value) -> Option<Timestamp> {
    text(v).and_then(|t| instant(&t))
}

/// A timestamp field of an export, read or reported: `Ok(None)` when absent.
fn instant_at(v: &Value, path: &str) -> Result<Option<Timestamp>, MapError> {
    match get(v, path) {
        None => Ok(None),
        Some(x) => match instant_of(x) {
            Some(t) => Ok(Some(t)),
            None if text(x).is_none() => Ok(None),
            None => fail(path, format!("{x} is not a timestamp (expected Unix seconds or RFC 3339)")),
        },
    }
}

/// The UTC calendar day of an instant, as the data contract writes dates.
fn utc_date(t: Timestamp) -> String {
    t.to_zoned(TimeZone::UTC).date().to_string()
}

// ------------------------------------------------------------------ CSV headers

/// A header name reduced to lowercase letters and digits, so that
/// `Created at`, `created_at` and `CreatedAt` are one name: vendors rename
/// and re-case their export columns between versions and locales.
fn norm(name: &str) -> String {
    name.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// A record's fields looked up by normalised name.
struct Columns<'a> {
    by_norm: HashMap<String, (&'a str, &'a Value)>,
}

impl<'a> Columns<'a> {
    fn new(fields: &'a Map<String, Value>) -> Self {
        let mut by_norm = HashMap::new();
        for (k, v) in fields {
            if !v.is_null() {
                // The first of two columns that normalise alike wins.
                by_norm.entry(norm(k)).or_insert((k.as_str(), v));
            }
        }
        Columns { by_norm }
    }

    /// The first of `names` (normalised) that is present.
    fn get(&self, names: &[&str]) -> Option<(&'a str, &'a Value)> {
        names.iter().find_map(|n| self.by_norm.get(&norm(n)).copied())
    }

    fn value(&self, names: &[&str]) -> Option<&'a Value> {
        self.get(names).map(|(_, v)| v)
    }

    fn text(&self, names: &[&str]) -> Option<String> {
        self.value(names).and_then(text)
    }
}

/// A timestamp column: RFC 3339 when it can be read, else the raw text, so the
/// entity's validation reports it under the canonical field name.
fn timestamp_text(v: &Value) -> Option<Value> {
    let raw = text(v)?;
    Some(Value::String(instant(&raw).map(|t| t.to_string()).unwrap_or(raw)))
}

/// Build a record from `(field, value)` pairs, leaving out absent values.
fn record(line: u64, fields: Vec<(&str, Option<Value>)>) -> Record {
    let mut m = Map::new();
    for (k, v) in fields {
        if let Some(v) = v {
            m.insert(k.to_string(), v);
        }
    }
    Record::new(line, m)
}

#[cfg(test)]
pub(crate) mod test_util {
    use std::path::PathBuf;

    use tenure_model::Record;

    use super::Vendor;
    use crate::Format;

    pub fn example(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/vendor").join(name)
    }

    /// Read an example file with the crate's own reader and map every record.
    pub fn map_example(vendor: Vendor, entity: &str, name: &str) -> Vec<Record> {
        let path = example(name);
        let format = vendor.default_format(&path).unwrap();
        assert!(matches!(format, Format::Csv | Format::Json | Format::Jsonl));
        let rows = crate::read::open(&path, format, None).unwrap();
        let file = path.display().to_string();
        let mut out = Vec::new();
        for row in rows.rows {
            for mapped in vendor.map(entity, &file, row.unwrap()) {
                out.push(mapped.unwrap_or_else(|e| panic!("{e}")));
            }
        }
        out
    }

    /// The value of a field of a mapped record, as JSON text (`"x"`, `12`).
    pub fn field(rec: &Record, name: &str) -> String {
        rec.fields.get(name).map(|v| v.to_string()).unwrap_or_else(|| "absent".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(v: Value) -> Record {
        Record::new(3, v.as_object().unwrap().clone())
    }

    #[test]
    fn names_parse_back() {
        for n in Vendor::NAMES {
            assert_eq!(Vendor::parse(n).unwrap().name(), *n);
        }
        assert_eq!(Vendor::parse("Stripe"), Some(Vendor::Stripe));
        assert_eq!(Vendor::parse("chartmogul"), None);
    }

    #[test]
    fn wrong_entity_names_the_supported_ones() {
        let out = Vendor::Stripe.map("events", "f.json", rec(json!({"object": "subscription"})));
        let e = out[0].as_ref().unwrap_err();
        assert_eq!(
            e.to_string(),
            "f.json:3: entity: stripe exports can be imported as subscription_events, invoices, customers, not as events"
        );
        let out = Vendor::Zendesk.map("customers", "t.csv", rec(json!({})));
        assert!(out[0].as_ref().unwrap_err().reason.contains("as tickets, not as customers"));
    }

    #[test]
    fn default_formats() {
        assert_eq!(Vendor::Stripe.default_format(Path::new("subs")).unwrap(), Format::Json);
        assert_eq!(Vendor::Zendesk.default_format(Path::new("export")).unwrap(), Format::Csv);
        assert_eq!(Vendor::Segment.default_format(Path::new("x.json")).unwrap(), Format::Json);
    }

    #[test]
    fn instants_in_export_formats() {
        let t = |s: &str| instant(s).map(|t| t.to_string());
        assert_eq!(t("1709287200").as_deref(), Some("2024-03-01T10:00:00Z"));
        assert_eq!(t("2024-03-01 10:00").as_deref(), Some("2024-03-01T10:00:00Z"));
        assert_eq!(t("2024-03-01 11:00:00 +0100").as_deref(), Some("2024-03-01T10:00:00Z"));
        assert_eq!(t("2024-03-01 05:00 -05:00").as_deref(), Some("2024-03-01T10:00:00Z"));
        // Day/month order is a locale guess: not read, so validation reports it.
        assert_eq!(t("03/01/2024 10:00"), None);
        assert_eq!(utc_date(instant("2024-03-01T23:30:00-05:00").unwrap()), "2024-03-02");
    }

    #[test]
    fn columns_match_whatever_the_case() {
        let r = rec(json!({"Created at": "x", "First reply time in minutes": "5", "Status [list]": "y"}));
        let c = Columns::new(&r.fields);
        assert_eq!(c.text(&["created_at"]).as_deref(), Some("x"));
        assert_eq!(c.text(&["first_reply_time_in_minutes"]).as_deref(), Some("5"));
        assert_eq!(c.text(&["status"]), None);
    }
}
