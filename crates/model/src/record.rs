//! One input row, whatever file format or API it came from, and typed field
//! access that collects precise errors.
//!
//! Every importer (CSV, JSON Lines, Parquet, the HTTP API, vendor mappings)
//! turns its input into [`Record`]s: a JSON object plus the line it came
//! from. Entities are then parsed from records by one function each, so the
//! same row is validated the same way whatever its format. CSV values are
//! strings; the getters accept a JSON number or a numeric string alike, and an
//! empty string is the same as an absent field.

use std::fmt;

use jiff::Timestamp;
use jiff::civil::Date;
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use crate::currency::Currency;
use crate::time::{parse_date, parse_month, parse_timestamp};

/// One input row: its fields and the line (1-based; the first data line of a
/// CSV file with a header is line 2) or row number where it started.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub line: u64,
    pub fields: Map<String, Value>,
}

/// Why one field of one row was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        FieldError { field: field.into(), reason: reason.into() }
    }
}

impl Record {
    pub fn new(line: u64, fields: Map<String, Value>) -> Self {
        Record { line, fields }
    }

    /// The value of the first of `names` that is present and not null/empty.
    /// Names may be dotted paths into nested objects (`context.groupId`).
    pub fn raw<'n>(&self, names: &[&'n str]) -> Option<(&'n str, &Value)> {
        for &name in names {
            let v = if let Some(v) = self.fields.get(name) {
                Some(v)
            } else if name.contains('.') {
                let mut cur: Option<&Value> = None;
                for (i, part) in name.split('.').enumerate() {
                    cur = if i == 0 { self.fields.get(part) } else { cur.and_then(|c| c.get(part)) };
                    if cur.is_none() {
                        break;
                    }
                }
                cur
            } else {
                None
            };
            match v {
                None | Some(Value::Null) => continue,
                Some(Value::String(s)) if s.trim().is_empty() => continue,
                Some(v) => return Some((name, v)),
            }
        }
        None
    }
}

/// Typed access to a record's fields that collects every error of the row, so
/// one report lists all that is wrong with it.
pub struct Fields<'a> {
    rec: &'a Record,
    errors: Vec<FieldError>,
}

fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl<'a> Fields<'a> {
    pub fn new(rec: &'a Record) -> Self {
        Fields { rec, errors: Vec::new() }
    }

    pub fn record(&self) -> &'a Record {
        self.rec
    }

    pub fn error(&mut self, field: &str, reason: impl Into<String>) {
        self.errors.push(FieldError::new(field, reason));
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// Finish: the value if no field was wrong, else every error.
    pub fn finish<T>(self, value: T) -> Result<T, Vec<FieldError>> {
        if self.errors.is_empty() { Ok(value) } else { Err(self.errors) }
    }

    pub fn into_errors(self) -> Vec<FieldError> {
        self.errors
    }

    fn text(&mut self, names: &[&str]) -> Option<(String, String)> {
        let (name, v) = self.rec.raw(names)?;
        match value_text(v) {
            Some(t) => Some((name.to_string(), t)),
            None => {
                self.error(name, format!("expected a single value, found {}", json_kind(v)));
                None
            }
        }
    }

    /// An optional string field.
    pub fn opt_str(&mut self, names: &[&str]) -> Option<String> {
        self.text(names).map(|(_, t)| t)
    }

    /// A required string field.
    pub fn req_str(&mut self, names: &[&str]) -> Option<String> {
        let v = self.opt_str(names);
        if v.is_none() && !self.errors.iter().any(|e| names.contains(&e.field.as_str())) {
            self.error(names[0], "required field is missing or empty");
        }
        v
    }

    pub fn opt_i64(&mut self, names: &[&str]) -> Option<i64> {
        let (name, t) = self.text(names)?;
        match parse_integer(&t) {
            Ok(n) => Some(n),
            Err(reason) => {
                self.error(&name, reason);
                None
            }
        }
    }

    pub fn req_i64(&mut self, names: &[&str]) -> Option<i64> {
        if self.rec.raw(names).is_none() {
            self.error(names[0], "required field is missing or empty");
            return None;
        }
        self.opt_i64(names)
    }

    /// An optional integer that must be zero or more.
    pub fn opt_non_negative(&mut self, names: &[&str]) -> Option<i64> {
        let v = self.opt_i64(names)?;
        if v < 0 {
            let name = self.rec.raw(names).map(|(n, _)| n).unwrap_or(names[0]).to_string();
            self.error(&name, format!("must not be negative (got {v})"));
            return None;
        }
        Some(v)
    }

    pub fn opt_f64(&mut self, names: &[&str]) -> Option<f64> {
        let (name, t) = self.text(names)?;
        match t.parse::<f64>() {
            Ok(x) if x.is_finite() => Some(x),
            _ => {
                self.error(&name, format!("{t:?} is not a number"));
                None
            }
        }
    }

    pub fn opt_decimal(&mut self, names: &[&str]) -> Option<Decimal> {
        let (name, t) = self.text(names)?;
        match t.parse::<Decimal>().or_else(|_| Decimal::from_scientific(&t)) {
            Ok(d) => Some(d),
            Err(_) => {
                self.error(&name, format!("{t:?} is not a decimal number"));
                None
            }
        }
    }

    pub fn opt_bool(&mut self, names: &[&str]) -> Option<bool> {
        let (name, t) = self.text(names)?;
        match t.to_ascii_lowercase().as_str() {
            "true" | "t" | "yes" | "y" | "1" => Some(true),
            "false" | "f" | "no" | "n" | "0" => Some(false),
            _ => {
                self.error(&name, format!("{t:?} is not a boolean (use true or false)"));
                None
            }
        }
    }

    pub fn opt_timestamp(&mut self, names: &[&str]) -> Option<Timestamp> {
        let (name, t) = self.text(names)?;
        match parse_timestamp(&t) {
            Ok(ts) => Some(ts),
            Err(reason) => {
                self.error(&name, reason);
                None
            }
        }
    }

    pub fn req_timestamp(&mut self, names: &[&str]) -> Option<Timestamp> {
        if self.rec.raw(names).is_none() {
            self.error(names[0], "required field is missing or empty");
            return None;
        }
        self.opt_timestamp(names)
    }

    pub fn opt_date(&mut self, names: &[&str]) -> Option<Date> {
        let (name, t) = self.text(names)?;
        match parse_date(&t) {
            Ok(d) => Some(d),
            Err(reason) => {
                self.error(&name, reason);
                None
            }
        }
    }

    pub fn req_date(&mut self, names: &[&str]) -> Option<Date> {
        if self.rec.raw(names).is_none() {
            self.error(names[0], "required field is missing or empty");
            return None;
        }
        self.opt_date(names)
    }

    pub fn req_month(&mut self, names: &[&str]) -> Option<Date> {
        let Some((name, t)) = self.text(names) else {
            if !self.errors.iter().any(|e| names.contains(&e.field.as_str())) {
                self.error(names[0], "required field is missing or empty");
            }
            return None;
        };
        match parse_month(&t) {
            Ok(d) => Some(d),
            Err(reason) => {
                self.error(&name, reason);
                None
            }
        }
    }

    pub fn opt_currency(&mut self, names: &[&str]) -> Option<Currency> {
        let (name, t) = self.text(names)?;
        match t.parse::<Currency>() {
            Ok(c) => Some(c),
            Err(reason) => {
                self.error(&name, reason);
                None
            }
        }
    }

    pub fn req_currency(&mut self, names: &[&str]) -> Option<Currency> {
        if self.rec.raw(names).is_none() {
            self.error(names[0], "required field is missing or empty");
            return None;
        }
        self.opt_currency(names)
    }

    /// An optional enumerated field: the value must be one of `allowed`
    /// (compared case-insensitively); returns its index.
    pub fn opt_enum(&mut self, names: &[&str], allowed: &[&str]) -> Option<usize> {
        let (name, t) = self.text(names)?;
        let lower = t.to_ascii_lowercase();
        match allowed.iter().position(|a| *a == lower) {
            Some(i) => Some(i),
            None => {
                self.error(&name, format!("{t:?} is not one of: {}", allowed.join(", ")));
                None
            }
        }
    }

    pub fn req_enum(&mut self, names: &[&str], allowed: &[&str]) -> Option<usize> {
        if self.rec.raw(names).is_none() {
            self.error(names[0], format!("required field is missing or empty (one of: {})", allowed.join(", ")));
            return None;
        }
        self.opt_enum(names, allowed)
    }

    /// An optional JSON object (Segment `properties`, `traits`, `context`).
    /// A string holding a JSON object (as a CSV cell would) is accepted too.
    pub fn opt_object(&mut self, names: &[&str]) -> Option<Map<String, Value>> {
        let (name, v) = self.rec.raw(names)?;
        match v {
            Value::Object(m) => Some(m.clone()),
            Value::String(s) => match serde_json::from_str::<Value>(s) {
                Ok(Value::Object(m)) => Some(m),
                _ => {
                    let name = name.to_string();
                    self.error(&name, "expected a JSON object");
                    None
                }
            },
            other => {
                let (name, k) = (name.to_string(), json_kind(other));
                self.error(&name, format!("expected a JSON object, found {k}"));
                None
            }
        }
    }

    /// An optional JSON array of objects (invoice line items).
    pub fn opt_array(&mut self, names: &[&str]) -> Option<Vec<Value>> {
        let (name, v) = self.rec.raw(names)?;
        match v {
            Value::Array(a) => Some(a.clone()),
            Value::String(s) => match serde_json::from_str::<Value>(s) {
                Ok(Value::Array(a)) => Some(a),
                _ => {
                    let name = name.to_string();
                    self.error(&name, "expected a JSON array");
                    None
                }
            },
            other => {
                let (name, k) = (name.to_string(), json_kind(other));
                self.error(&name, format!("expected a JSON array, found {k}"));
                None
            }
        }
    }

    /// Merge errors of a nested record under a prefix (`line_items[2].amount_cents`).
    pub fn nested(&mut self, prefix: &str, errors: Vec<FieldError>) {
        for e in errors {
            self.errors.push(FieldError::new(format!("{prefix}.{}", e.field), e.reason));
        }
    }
}

/// An integer from text: `42`, `-7`, `42.0` (integral floats as JSON writers
/// and spreadsheets emit them) but not `42.5`.
pub fn parse_integer(t: &str) -> Result<i64, String> {
    if let Ok(n) = t.parse::<i64>() {
        return Ok(n);
    }
    if let Ok(d) = t.parse::<Decimal>() {
        if d.fract().is_zero() {
            if let Some(n) = rust_decimal::prelude::ToPrimitive::to_i64(&d) {
                return Ok(n);
            }
        } else {
            return Err(format!("{t:?} is not a whole number"));
        }
    }
    Err(format!("{t:?} is not an integer"))
}

/// How a JSON value is described in error messages ("a string", "an array").
pub fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(v: Value) -> Record {
        Record::new(7, v.as_object().unwrap().clone())
    }

    #[test]
    fn getters_accept_strings_and_numbers() {
        let r = rec(json!({"a": "12", "b": 13, "c": "", "d": "12.0", "e": "1.5", "ctx": {"groupId": "g1"}}));
        let mut f = Fields::new(&r);
        assert_eq!(f.opt_i64(&["a"]), Some(12));
        assert_eq!(f.opt_i64(&["b"]), Some(13));
        assert_eq!(f.opt_i64(&["c"]), None);
        assert_eq!(f.opt_i64(&["d"]), Some(12));
        assert_eq!(f.opt_str(&["groupId", "ctx.groupId"]).as_deref(), Some("g1"));
        assert!(!f.has_errors());
        assert_eq!(f.opt_i64(&["e"]), None);
        assert_eq!(f.req_str(&["missing"]), None);
        let errs = f.into_errors();
        assert_eq!(errs[0].to_string(), "e: \"1.5\" is not a whole number");
        assert_eq!(errs[1].to_string(), "missing: required field is missing or empty");
    }
}
