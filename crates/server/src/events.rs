//! Usage events straight from JSON bytes: the ingest fast path.
//!
//! The reference path (`routes::Ingestion::check`) parses a request into a
//! `serde_json::Value` tree, maps and validates each message with
//! `UsageEvent::from_record`, and serialises the fields again for the log;
//! the compactor then parses the log and validates again. That is several
//! allocations per JSON value, and most of the server's time under load.
//!
//! Here a message is parsed once, shallowly: its members stay borrowed,
//! unparsed slices of the request body ([`Members`]). The fields an event
//! needs are read from those slices with `from_record`'s rules, and the row
//! for the log is written by copying the slices in the exact form serde_json
//! would have written them ([`canonical`]): no whitespace, the same escapes,
//! the same number formatting. So the log holds the same bytes whichever
//! path a request took, and the compactor reads them back the same way into
//! Arrow columns (`tenure_import`'s [`EventColumns`], the builder bulk
//! import uses too) without a tree.
//!
//! The fast path never decides anything the reference path would decide
//! differently: whenever a message is not plainly valid and plainly
//! canonical (an error to report, a `screen` to map, an escape other than
//! the ones serde_json writes, a missing `messageId` whose content hash needs
//! the tree, a duplicate key...), it answers [`Unsure`] and the whole request
//! goes the reference way, which then gives the same answer and the same
//! messages as before. The unit tests check both paths give identical bytes.

use std::collections::HashMap;

use jiff::Timestamp;
use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
pub use tenure_import::{EventColumns, EventRow};
use tenure_model::UsageEventType;
use tenure_model::time::parse_timestamp;

/// The fast path cannot answer for this input; the reference path will.
#[derive(Debug, PartialEq, Eq)]
pub struct Unsure;

pub type Fast<T> = Result<T, Unsure>;

/// An object's members in order, their values unparsed slices of the input.
/// Keys with escapes and repeated keys are [`Unsure`] (serde_json's map
/// would merge a repeated key; that case is left to it).
#[derive(Debug, Default)]
pub struct Members<'a>(pub Vec<(&'a str, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(12));
                while let Some((k, v)) = map.next_entry::<&'de str, &'de RawValue>()? {
                    out.push((k, v));
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl<'a> Members<'a> {
    /// The members of a JSON object (`Unsure` for anything else).
    pub fn parse(raw: &'a str) -> Fast<Members<'a>> {
        if !raw.trim_start().starts_with('{') {
            return Err(Unsure);
        }
        let m: Members<'a> = serde_json::from_str(raw).map_err(|_| Unsure)?;
        for (i, (k, _)) in m.0.iter().enumerate() {
            if m.0[..i].iter().any(|(seen, _)| seen == k) {
                return Err(Unsure);
            }
        }
        Ok(m)
    }

    pub fn get(&self, name: &str) -> Option<&'a RawValue> {
        self.0.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }

    fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// `Record::raw`: the first of `names` present, not null and not a blank string.
    fn present(&self, names: &[&str]) -> Fast<Option<&'a RawValue>> {
        for name in names {
            let Some(v) = self.get(name) else { continue };
            let text = v.get();
            if text == "null" {
                continue;
            }
            if let Some(inner) = string_body(text)?
                && inner.trim().is_empty()
            {
                continue;
            }
            return Ok(Some(v));
        }
        Ok(None)
    }

    /// `Fields::opt_str`: the field as text (trimmed), numbers and booleans as written.
    fn text(&self, names: &[&str]) -> Fast<Option<&'a str>> {
        let Some(v) = self.present(names)? else { return Ok(None) };
        let raw = v.get();
        if let Some(inner) = string_body(raw)? {
            return Ok(Some(inner.trim()));
        }
        match raw.as_bytes()[0] {
            b't' | b'f' => Ok(Some(raw)),
            b'-' | b'0'..=b'9' if plain_integer(raw) => Ok(Some(raw)),
            // An object or array is an error; a float is written as serde_json formats it.
            _ => Err(Unsure),
        }
    }

    /// `Fields::opt_object`: an object member (a string holding JSON, or anything else, is `Unsure`).
    fn object(&self, name: &str) -> Fast<Option<&'a RawValue>> {
        match self.present(&[name])? {
            None => Ok(None),
            Some(v) if v.get().starts_with('{') => Ok(Some(v)),
            Some(_) => Err(Unsure),
        }
    }
}

/// The characters of a JSON string without its quotes, `None` for another
/// kind of value, `Unsure` for a string with escapes.
fn string_body(raw: &str) -> Fast<Option<&str>> {
    if !raw.starts_with('"') {
        return Ok(None);
    }
    let inner = &raw[1..raw.len() - 1];
    if inner.contains('\\') { Err(Unsure) } else { Ok(Some(inner)) }
}

/// An integer serde_json prints exactly as written: no sign on zero, at most 18 digits.
fn plain_integer(token: &str) -> bool {
    let digits = token.strip_prefix('-').unwrap_or(token);
    !digits.is_empty()
        && digits.len() <= 18
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !(token.starts_with('-') && digits == "0")
}

/// One event's fields, read with `UsageEvent::from_record`'s rules.
#[derive(Debug)]
pub struct EventView<'a> {
    pub kind: UsageEventType,
    pub message_id: Option<&'a str>,
    pub user_id: Option<&'a str>,
    pub anonymous_id: Option<&'a str>,
    pub event: Option<&'a str>,
    pub name: Option<&'a str>,
    /// `None`: the message has no time of its own (it gets `receivedAt`).
    pub timestamp: Option<Timestamp>,
    pub group_id: Option<&'a str>,
    pub properties: Option<&'a RawValue>,
    pub traits: Option<&'a RawValue>,
}

impl<'a> EventView<'a> {
    /// Read an event from its members and its context's members (`context`
    /// is the message's own `context` object, merged with a batch's).
    pub fn read(m: &Members<'a>, context: Option<&Members<'a>>) -> Fast<EventView<'a>> {
        // `Record::raw` looks a dotted name up as a literal key first.
        if m.0.iter().any(|(k, _)| k.contains('.')) {
            return Err(Unsure);
        }
        let kind = match m.text(&["type"])? {
            Some(t) => UsageEventType::NAMES.iter().position(|n| *n == t).map(|i| UsageEventType::ALL[i]),
            None => None,
        }
        .ok_or(Unsure)?;
        let user_id = m.text(&["userId", "user_id"])?;
        let anonymous_id = m.text(&["anonymousId", "anonymous_id"])?;
        let event = m.text(&["event"])?;
        let name = m.text(&["name"])?;
        if (user_id.is_none() && anonymous_id.is_none()) || (kind == UsageEventType::Track && event.is_none()) {
            return Err(Unsure);
        }
        let timestamp = match m.text(&["timestamp", "originalTimestamp", "receivedAt"])? {
            Some(t) => Some(parse_timestamp(t).map_err(|_| Unsure)?),
            None => None,
        };
        let message_id = m.text(&["messageId", "message_id"])?;
        let mut group_id = m.text(&["groupId", "group_id"])?;
        if group_id.is_none()
            && let Some(c) = context
        {
            group_id = c.text(&["groupId", "group_id"])?;
        }
        if kind == UsageEventType::Group && group_id.is_none() {
            return Err(Unsure);
        }
        let properties = m.object("properties")?;
        let traits = m.object("traits")?;
        if m.has("context") {
            m.object("context")?;
        }
        Ok(EventView { kind, message_id, user_id, anonymous_id, event, name, timestamp, group_id, properties, traits })
    }
}

/// Write `raw` (valid JSON) as serde_json writes the value it parses to
/// (no whitespace, the same escapes and numbers); returns how deeply it
/// nests, as `body::depth` counts. `keys` is scratch space, reused.
pub fn canonical<'a>(raw: &'a str, out: &mut Vec<u8>, keys: &mut Vec<&'a [u8]>) -> Fast<usize> {
    let b = raw.as_bytes();
    // (is an object, where its keys start in `keys`)
    let mut frames: Vec<(bool, usize)> = Vec::new();
    let mut depth = 0;
    let mut key_next = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            c @ (b'{' | b'[') => {
                frames.push((c == b'{', keys.len()));
                depth = depth.max(frames.len());
                key_next = c == b'{';
                out.push(c);
                i += 1;
            }
            c @ (b'}' | b']') => {
                let (_, start) = frames.pop().ok_or(Unsure)?;
                keys.truncate(start);
                key_next = false;
                out.push(c);
                i += 1;
            }
            b',' => {
                key_next = frames.last().is_some_and(|f| f.0);
                out.push(b',');
                i += 1;
            }
            b':' => {
                out.push(b':');
                i += 1;
            }
            b'"' => {
                let mut j = i + 1;
                while b[j] != b'"' {
                    if b[j] == b'\\' {
                        // serde_json writes these escapes and no others.
                        if !matches!(b[j + 1], b'"' | b'\\' | b'n' | b't' | b'r' | b'b' | b'f') {
                            return Err(Unsure);
                        }
                        j += 2;
                    } else {
                        j += 1;
                    }
                }
                let s = &b[i..=j];
                if key_next {
                    let start = frames.last().map_or(0, |f| f.1);
                    if keys[start..].contains(&s) {
                        return Err(Unsure);
                    }
                    keys.push(s);
                    key_next = false;
                }
                out.extend_from_slice(s);
                i = j + 1;
            }
            b't' | b'n' => {
                out.extend_from_slice(&b[i..i + 4]);
                i += 4;
            }
            b'f' => {
                out.extend_from_slice(&b[i..i + 5]);
                i += 5;
            }
            _ => {
                let start = i;
                while i < b.len() && matches!(b[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') {
                    i += 1;
                }
                let token = &raw[start..i];
                if token.is_empty() {
                    return Err(Unsure);
                }
                if plain_integer(token) {
                    out.extend_from_slice(token.as_bytes());
                } else {
                    let n: serde_json::Number = serde_json::from_str(token).map_err(|_| Unsure)?;
                    serde_json::to_writer(&mut *out, &n).map_err(|_| Unsure)?;
                }
            }
        }
    }
    Ok(depth)
}

/// The limits and state one request's events are checked against.
pub struct Batch<'g> {
    /// Messages are Segment's (batch context, `screen`/`alias`, traits under context).
    pub segment: bool,
    pub max_item_bytes: usize,
    pub max_depth: usize,
    /// The time a message without one gets as `receivedAt`.
    pub now: Timestamp,
    /// The account of a user's latest group call before this request.
    pub group_of: &'g (dyn Fn(&str) -> Option<String> + Sync),
}

/// The rows of a request the fast path accepted whole.
#[derive(Debug, Default)]
pub struct Accepted {
    /// The rows as JSON, comma-separated.
    pub rows_json: Vec<u8>,
    pub rows: usize,
    /// Group calls: (user, timestamp µs, groupId).
    pub groups: Vec<(String, i64, String)>,
}

impl Batch<'_> {
    /// Every message of `items` (raw JSON objects) as a log row, or `Unsure`.
    /// `context` is a Segment batch's shared context.
    pub fn accept(&self, items: &[&str], context: Option<&RawValue>, out: &mut Accepted) -> Fast<()> {
        let shared = match context {
            Some(c) if c.get().starts_with('{') => Some(Members::parse(c.get())?),
            _ => None,
        };
        let mut groups: HashMap<&str, String> = HashMap::new();
        let mut keys = Vec::new();
        let now = self.now.to_string();
        for raw in items {
            let m = Members::parse(raw)?;
            // A batch-level context fills in the message's missing context keys.
            let own = m.get("context");
            let merge = shared.is_some() && own.is_none_or(|c| c.get().starts_with('{'));
            let context = match own {
                Some(c) if c.get().starts_with('{') => Some(Members::parse(c.get())?),
                _ => None,
            };
            let context = match (&shared, merge) {
                (Some(shared), true) => {
                    let mut merged = context.unwrap_or_default();
                    for (k, v) in &shared.0 {
                        if !merged.has(k) {
                            merged.0.push((k, v));
                        }
                    }
                    Some(merged)
                }
                _ => context,
            };
            let view = EventView::read(&m, context.as_ref())?;
            if view.message_id.is_none() {
                // Its content hash is computed on the parsed tree.
                return Err(Unsure);
            }
            if self.segment && matches!(view.kind, UsageEventType::Identify | UsageEventType::Group) {
                // Segment's mapping moves context.traits to traits: left to it.
                let no_traits = m.get("traits").is_none_or(|t| t.get() == "null");
                if no_traits && context.as_ref().and_then(|c| c.get("traits")).is_some_and(|t| t.get() != "null") {
                    return Err(Unsure);
                }
            }

            let row_start = out.rows_json.len();
            if out.rows > 0 {
                out.rows_json.push(b',');
            }
            let body_start = out.rows_json.len();
            let row = &mut out.rows_json;
            row.push(b'{');
            let mut depth = write_members(row, &m, context.as_ref().filter(|_| merge), &mut keys)?;
            if merge && own.is_none() {
                row.push(b',');
                write_key(row, "context");
                depth = depth.max(write_object(row, context.as_ref().expect("merged"), &mut keys)?);
            }
            let mut timestamp = view.timestamp;
            if timestamp.is_none() {
                if ["timestamp", "originalTimestamp", "receivedAt"].iter().any(|k| m.has(k)) {
                    return Err(Unsure);
                }
                row.push(b',');
                write_key(row, "receivedAt");
                serde_json::to_writer(&mut *row, &now).expect("writes");
                timestamp = Some(self.now);
            }
            let user = view.user_id.or(view.anonymous_id).expect("checked");
            if view.group_id.is_none() {
                let group = groups.get(user).cloned().or_else(|| (self.group_of)(user));
                if let Some(group) = group {
                    if m.has("groupId") {
                        return Err(Unsure);
                    }
                    row.push(b',');
                    write_key(row, "groupId");
                    serde_json::to_writer(&mut *row, &group).expect("writes");
                }
            }
            row.push(b'}');
            if 1 + depth > self.max_depth || row.len() - body_start > self.max_item_bytes {
                out.rows_json.truncate(row_start);
                return Err(Unsure);
            }
            if let (UsageEventType::Group, Some(group)) = (view.kind, view.group_id) {
                let ts = timestamp.expect("set").as_microsecond();
                out.groups.push((user.to_string(), ts, group.to_string()));
                groups.insert(user, group.to_string());
            }
            out.rows += 1;
        }
        Ok(())
    }
}

fn write_key(out: &mut Vec<u8>, key: &str) {
    // A borrowed key has no escapes, and JSON text holds no raw quote or control character.
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

fn write_object<'a>(out: &mut Vec<u8>, m: &Members<'a>, keys: &mut Vec<&'a [u8]>) -> Fast<usize> {
    out.push(b'{');
    let depth = write_members(out, m, None, keys)?;
    out.push(b'}');
    Ok(1 + depth)
}

/// `m`'s members, comma-separated and canonical, without braces; returns how
/// deeply their values nest. With `context` (a batch context merged into the
/// message's own), a `context` member is written as that object instead.
fn write_members<'a>(
    out: &mut Vec<u8>,
    m: &Members<'a>,
    context: Option<&Members<'a>>,
    keys: &mut Vec<&'a [u8]>,
) -> Fast<usize> {
    let mut depth = 0;
    for (n, (k, v)) in m.0.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        write_key(out, k);
        depth = depth.max(match context {
            Some(c) if *k == "context" => write_object(out, c, keys)?,
            _ => canonical(v.get(), out, keys)?,
        });
    }
    Ok(depth)
}

/// One row of the ingest log, read as an event.
pub struct LoggedEvent<'a> {
    view: EventView<'a>,
    pub message_id: &'a str,
    /// Microseconds since the epoch.
    pub timestamp: i64,
    context: Option<&'a RawValue>,
}

impl<'a> LoggedEvent<'a> {
    /// Rows in the log are canonical JSON (written by serde_json or by
    /// [`Batch::accept`]), so an object member's text is what the store's
    /// `json_text` would write for it.
    pub fn read(row: &'a str) -> Fast<LoggedEvent<'a>> {
        let m = Members::parse(row)?;
        let context = m.object("context")?;
        let members = match context {
            Some(c) => Some(Members::parse(c.get())?),
            None => None,
        };
        let view = EventView::read(&m, members.as_ref())?;
        let (Some(message_id), Some(timestamp)) = (view.message_id, view.timestamp) else { return Err(Unsure) };
        Ok(LoggedEvent { view, message_id, timestamp: timestamp.as_microsecond(), context })
    }

    /// The row for the store's `events` table, built by the same
    /// [`EventColumns`] as a bulk import, so both store the same rows.
    pub fn row(&self) -> EventRow<'_> {
        let v = &self.view;
        EventRow {
            message_id: self.message_id,
            kind: v.kind.as_str(),
            user_id: v.user_id,
            anonymous_id: v.anonymous_id,
            event: v.event,
            name: v.name,
            timestamp: self.timestamp,
            group_id: v.group_id,
            properties: v.properties.map(RawValue::get),
            traits: v.traits.map(RawValue::get),
            context: self.context.map(RawValue::get),
        }
    }
}

#[cfg(test)]
mod tests;
