//! The ingest endpoints: Segment's API and the bulk entity endpoints.
//!
//! Every write goes the same way: authenticate (write scope), decode the body,
//! validate every item with the import pipeline's rules, then either reject
//! the request whole (400 listing each bad item's index, field and reason) or
//! log the valid rows, wait for the sync, and answer 200. `?partial=true`
//! accepts the valid items of a request with bad ones.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use tenure_import::Vendor;
use tenure_model::{Entity, Record, UsageEvent, UsageEventType};

use crate::AppState;
use crate::auth::{Authenticated, Write};
use crate::body::{self, Item};
use crate::error::ApiError;
use crate::events::{Accepted, Batch};
use crate::ingest::{IdempotentResponse, LogEntry};
use crate::openapi::ApiRoutes;
use crate::rows::rows_for;

/// The most rejected fields one error answer lists.
const MAX_LISTED: usize = 1000;
const SEGMENT_KINDS: &[&str] = &["track", "identify", "group", "page", "screen", "alias"];

pub(crate) fn routes() -> ApiRoutes {
    let mut r = ApiRoutes::new()
        .get("/healthz", healthz)
        .post("/v1/batch", segment_batch)
        .post("/v1/import", segment_batch)
        .post("/api/v1/batch", segment_batch)
        .post("/api/v1/sql", crate::sql::sql)
        .post("/api/v1/{entity}", bulk);
    for kind in SEGMENT_KINDS {
        r = r.post(&format!("/v1/{kind}"), segment_single);
        if !matches!(*kind, "screen" | "alias") {
            // Static paths win over /api/v1/{entity} in axum's router.
            r = r.post(&format!("/api/v1/{kind}"), segment_single);
        }
    }
    r
}

async fn healthz() -> Json<Value> {
    Json(serde_json::json!({"status": "ok"}))
}

#[derive(Deserialize, Default)]
struct WriteParams {
    #[serde(default)]
    partial: bool,
}

/// A write request as every ingest endpoint takes it: the key (write
/// scope, checked before the body is read), the path, `?partial=true`, the
/// headers (content type, encoding, Idempotency-Key) and the body.
pub(crate) struct WriteCall {
    state: AppState,
    auth: Authenticated<Write>,
    path: String,
    params: Result<Query<WriteParams>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
}

impl FromRequest<AppState> for WriteCall {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let (mut parts, body) = req.into_parts();
        let auth = Authenticated::<Write>::from_request_parts(&mut parts, state).await?;
        let params = Query::<WriteParams>::from_request_parts(&mut parts, state).await;
        let path = parts.uri.path().to_string();
        let headers = parts.headers.clone();
        let body = Bytes::from_request(Request::from_parts(parts, body), state).await;
        Ok(WriteCall { state: state.clone(), auth, path, params, headers, body })
    }
}

impl WriteCall {
    /// Decode the body (`segment`: Segment's lenient content type), let
    /// `prepare` validate its items, then log them (see [`Ingestion::run`]).
    async fn ingest(
        self,
        entity: &'static str,
        segment: bool,
        prepare: impl FnOnce(&Batch, body::Layout, &str) -> Result<Checked, ApiError>,
    ) -> Response {
        let state = &self.state;
        let result = async {
            let raw = read_body(self.body, state)?;
            let req = write_request(&self.auth, &self.path, &self.headers, self.params, &raw)?;
            Ingestion { state, entity, segment }
                .run(req, |batch| {
                    let (layout, decoded) = body::decode(&self.headers, raw, state.limits().max_body_bytes, segment)?;
                    prepare(batch, layout, std::str::from_utf8(&decoded).expect("checked in decode"))
                })
                .await
        }
        .await;
        result.unwrap_or_else(IntoResponse::into_response)
    }
}

/// What a write request says besides its items.
struct WriteRequest {
    key_id: String,
    partial: bool,
    idempotency_key: Option<String>,
    /// BLAKE3 of the path and the body as sent (with an Idempotency-Key only).
    fingerprint: String,
}

fn write_request(
    auth: &Authenticated<Write>,
    path: &str,
    headers: &HeaderMap,
    params: Result<Query<WriteParams>, QueryRejection>,
    raw: &Bytes,
) -> Result<WriteRequest, ApiError> {
    let params =
        params.map_err(|e| ApiError::bad_request(format!("bad query string: {e} (expected ?partial=true)")))?;
    let idempotency_key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => {
            let k = v.to_str().ok().filter(|k| !k.is_empty() && k.len() <= 255).ok_or_else(|| {
                ApiError::bad_request("Idempotency-Key must be 1 to 255 visible ASCII characters (a UUID, say)")
            })?;
            Some(k.to_string())
        }
    };
    // Only a retry needs the fingerprint: no hash of every body.
    let fingerprint = idempotency_key.as_ref().map_or_else(String::new, |_| {
        let mut hasher = blake3::Hasher::new();
        hasher.update(path.as_bytes());
        hasher.update(&[0]);
        hasher.update(raw);
        hasher.finalize().to_hex().to_string()
    });
    Ok(WriteRequest { key_id: auth.key.id.clone(), partial: params.0.partial, idempotency_key, fingerprint })
}

pub(crate) fn read_body(body: Result<Bytes, BytesRejection>, state: &AppState) -> Result<Bytes, ApiError> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            body::too_large(state.limits().max_body_bytes)
        } else {
            ApiError::new(e.status(), format!("could not read the request body: {e}"))
        }
    })
}

/// `POST /v1/batch`, `/api/v1/batch`: `{"batch": [messages], "context": {...}}`.
async fn segment_batch(call: WriteCall) -> Response {
    call.ingest("events", true, |batch, _, text| {
        if let Some(accepted) = fast_segment_batch(batch, text) {
            return Ok(accepted);
        }
        Ok(check_items("events", batch, segment_items(body::parse_document(text.as_bytes())?)?))
    })
    .await
}

/// The messages of a Segment batch document, each with the batch's context.
pub(crate) fn segment_items(document: Value) -> Result<Vec<Item>, ApiError> {
    let (messages, context) = match document {
        Value::Object(mut m) => match m.remove("batch") {
            Some(Value::Array(batch)) => (batch, m.remove("context")),
            _ => return Err(ApiError::bad_request("expected {\"batch\": [messages]}: no \"batch\" array")),
        },
        Value::Array(batch) => (batch, None),
        other => {
            return Err(ApiError::bad_request(format!(
                "expected {{\"batch\": [messages]}}, got {}",
                tenure_model::record::json_kind(&other)
            )));
        }
    };
    let mut items = body::numbered(messages);
    if let Some(Value::Object(shared)) = context {
        // A batch-level context applies to every message (theirs wins).
        for item in &mut items {
            if let Ok(Value::Object(m)) = &mut item.value {
                let own = m.entry("context").or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(own) = own {
                    for (k, v) in &shared {
                        own.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                }
            }
        }
    }
    Ok(items)
}

/// A Segment batch through the fast path (see `events`), or `None` when
/// the reference path must decide.
pub(crate) fn fast_segment_batch(batch: &Batch, text: &str) -> Option<Checked> {
    #[derive(Deserialize)]
    struct Body<'a> {
        #[serde(borrow)]
        batch: Vec<&'a RawValue>,
        #[serde(borrow, default)]
        context: Option<&'a RawValue>,
    }
    let body: Body = serde_json::from_str(text).ok()?;
    let items: Vec<&str> = body.batch.iter().map(|r| r.get()).collect();
    fast_accept(batch, &items, body.context)
}

/// Bulk events (a JSON array, one object, or JSON Lines) through the fast path.
pub(crate) fn fast_bulk_events(batch: &Batch, layout: body::Layout, text: &str) -> Option<Checked> {
    let items: Vec<&str> = match layout {
        body::Layout::Json if text.trim_start().starts_with('[') => {
            serde_json::from_str::<Vec<&RawValue>>(text).ok()?.into_iter().map(RawValue::get).collect()
        }
        body::Layout::Json => vec![serde_json::from_str::<&RawValue>(text).ok()?.get()],
        body::Layout::JsonLines => text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str::<&RawValue>(l).ok().map(RawValue::get))
            .collect::<Option<_>>()?,
    };
    fast_accept(batch, &items, None)
}

fn fast_accept(batch: &Batch, items: &[&str], context: Option<&RawValue>) -> Option<Checked> {
    let mut accepted =
        Accepted { rows_json: Vec::with_capacity(items.iter().map(|i| i.len() + 64).sum()), ..Default::default() };
    batch.accept(items, context, &mut accepted).ok()?;
    Some(Checked {
        rows_json: accepted.rows_json,
        rows: accepted.rows,
        items: items.len(),
        accepted_items: items.len(),
        groups: accepted.groups,
        ..Default::default()
    })
}

/// `POST /v1/track` and its siblings: one message; the path gives its type.
async fn segment_single(call: WriteCall) -> Response {
    let kind = call.path.rsplit('/').next().unwrap_or_default().to_string();
    call.ingest("events", true, |batch, _, text| match fast_segment_single(batch, &kind, text) {
        Some(accepted) => Ok(accepted),
        None => segment_single_items(batch, &kind, text),
    })
    .await
}

/// The reference path of one message sent to `/v1/{kind}`.
pub(crate) fn segment_single_items(batch: &Batch, kind: &str, text: &str) -> Result<Checked, ApiError> {
    let Value::Object(mut message) = body::parse_document(text.as_bytes())? else {
        return Err(ApiError::bad_request(format!("expected one {kind} message (a JSON object)")));
    };
    let said = message.get("type").and_then(Value::as_str).map(str::to_ascii_lowercase);
    match said {
        None => {
            message.insert("type".into(), Value::from(kind));
        }
        Some(t) if t == kind => {}
        Some(t) => {
            return Err(ApiError::bad_request(format!(
                "type: the message says {t:?} but was sent to /{kind}; send it to /v1/batch or /v1/{t}"
            )));
        }
    }
    Ok(check_items("events", batch, body::numbered(vec![Value::Object(message)])))
}

/// One message sent to `/v1/{kind}` through the fast path: it says that
/// type, or none (then it gets `"type"` as the last member, where the
/// reference path's map insert puts it), or `None` for the reference path.
pub(crate) fn fast_segment_single(batch: &Batch, kind: &str, text: &str) -> Option<Checked> {
    let message: &RawValue = serde_json::from_str(text).ok()?;
    let members = crate::events::Members::parse(message.get()).ok()?;
    match members.get("type") {
        Some(t) if t.get().strip_prefix('"').and_then(|t| t.strip_suffix('"')) == Some(kind) => {
            fast_accept(batch, &[message.get()], None)
        }
        Some(_) => None,
        None if members.0.is_empty() => None,
        None => {
            let body = message.get().trim_end().strip_suffix('}')?;
            let typed = format!("{body},\"type\":\"{kind}\"}}");
            fast_accept(batch, &[typed.as_str()], None)
        }
    }
}

/// `POST /api/v1/{entity}`: a JSON array of rows (or one row), or JSON Lines,
/// in the shape `tenure import` reads.
async fn bulk(Path(entity): Path<String>, call: WriteCall) -> Response {
    let Some(entity) = tenure_model::ENTITY_NAMES.iter().copied().find(|e| *e == entity) else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            format!("unknown entity {entity:?}; expected one of: {}", tenure_model::ENTITY_NAMES.join(", ")),
        )
        .into_response();
    };
    call.ingest(entity, false, |batch, layout, text| {
        if entity == "events"
            && let Some(accepted) = fast_bulk_events(batch, layout, text)
        {
            return Ok(accepted);
        }
        Ok(check_items(entity, batch, body::bulk_items(layout, text.as_bytes())?))
    })
    .await
}

/// One write request's way through validation and the log.
struct Ingestion<'s> {
    state: &'s AppState,
    entity: &'static str,
    /// Items are Segment messages (mapped like `tenure import --from segment`).
    segment: bool,
}

/// The validated rows of a request.
#[derive(Default)]
pub(crate) struct Checked {
    /// The rows as JSON, comma-separated, ready for the log entry.
    pub(crate) rows_json: Vec<u8>,
    pub(crate) rows: usize,
    pub(crate) items: usize,
    pub(crate) accepted_items: usize,
    pub(crate) rejected: Vec<Value>,
    pub(crate) rejected_items: usize,
    /// Group calls: (user, timestamp µs, groupId).
    pub(crate) groups: Vec<(String, i64, String)>,
}

impl Ingestion<'_> {
    async fn run(
        &self,
        req: WriteRequest,
        prepare: impl FnOnce(&Batch) -> Result<Checked, ApiError>,
    ) -> Result<Response, ApiError> {
        let ingest = self.state.ingest();
        let claim = match &req.idempotency_key {
            None => None,
            Some(key) => match ingest.claim_idempotent(&req.key_id, key, &req.fingerprint) {
                Ok(None) => Some(Claim { state: self.state, scope: req.key_id.clone(), key: key.clone() }),
                Ok(Some(earlier)) => {
                    let mut response =
                        (StatusCode::from_u16(earlier.status).unwrap_or(StatusCode::OK), Json(earlier.response))
                            .into_response();
                    response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
                    return Ok(response);
                }
                Err((status, message)) => {
                    return Err(ApiError::new(StatusCode::from_u16(status).expect("valid status"), message));
                }
            },
        };
        let checked = {
            let group_of = |user: &str| ingest.group_of(user);
            let batch = Batch {
                segment: self.segment,
                max_item_bytes: self.state.limits().max_item_bytes,
                max_depth: body::MAX_DEPTH,
                now: jiff::Timestamp::now(),
                group_of: &group_of,
            };
            prepare(&batch)?
        };
        if checked.rejected_items > 0 && !req.partial {
            return Err(ApiError::bad_request(format!(
                "{} of {} item(s) rejected; nothing was written (fix them, or send ?partial=true to accept the valid ones)",
                checked.rejected_items, checked.items
            ))
            .with("accepted", 0)
            .with("rejected", checked.rejected));
        }
        let response = serde_json::json!({
            "success": true,
            "accepted": checked.accepted_items,
            "rejected": checked.rejected,
        });
        let idempotency = claim.as_ref().map(|c| IdempotentResponse {
            scope: c.scope.clone(),
            key: c.key.clone(),
            fingerprint: req.fingerprint.clone(),
            status: 200,
            response: response.clone(),
            at: jiff::Timestamp::now().as_second(),
        });
        if checked.rows > 0 || idempotency.is_some() {
            let entry =
                LogEntry { entity: self.entity.to_string(), idempotency: idempotency.clone(), rows: Vec::new() };
            let mut payload = serde_json::to_vec(&entry).expect("serialises");
            // Splice the already-serialised rows into `"rows":[]`.
            let tail = payload.split_off(payload.len() - 2);
            debug_assert_eq!(tail, b"]}");
            payload.extend_from_slice(&checked.rows_json);
            payload.extend_from_slice(&tail);
            let mut frame = Vec::with_capacity(payload.len() + 8);
            tenure_store::log::frame(&payload, &mut frame);
            ingest.append(frame).await?;
        }
        ingest.learn_groups(checked.groups);
        if let (Some(claim), Some(done)) = (claim, idempotency) {
            claim.finish(done);
        }
        Ok((StatusCode::OK, Json(response)).into_response())
    }
}

/// The reference path: validate every item of a parsed body; keep the rows of the good ones.
pub(crate) fn check_items(entity: &str, batch: &Batch, items: Vec<Item>) -> Checked {
    let mut out = Checked { items: items.len(), ..Default::default() };
    let mut keyed = (entity != "events").then(|| rows_for(entity).expect("known entity"));
    // Group calls earlier in this request attribute later events.
    let mut groups: HashMap<String, String> = HashMap::new();
    let max_item = batch.max_item_bytes;
    for item in items {
        let mut errors: Vec<(String, String)> = Vec::new();
        let mut rows: Vec<Vec<u8>> = Vec::new();
        let mut item_groups = Vec::new();
        match records(batch, entity, item.value, item.index) {
            Err(e) => errors.push(e),
            Ok(records) => {
                for mut rec in records {
                    let checked = match keyed.as_mut() {
                        Some(rows) => rows.push(&rec, 0).map(|()| None),
                        None => attribute(batch, &mut rec, &groups).map(Some),
                    };
                    match checked {
                        Err(field_errors) => errors.extend(field_errors.into_iter().map(|e| (e.field, e.reason))),
                        Ok(group_call) => {
                            let json = serde_json::to_vec(&rec.fields).expect("serialises");
                            if json.len() > max_item {
                                errors.push((
                                    String::new(),
                                    format!("the item is {} bytes of JSON; the limit is {max_item}", json.len()),
                                ));
                            }
                            rows.push(json);
                            item_groups.extend(group_call.flatten());
                        }
                    }
                }
            }
        }
        if errors.is_empty() {
            out.accepted_items += 1;
            for (user, ts, group) in item_groups {
                groups.insert(user.clone(), group.clone());
                out.groups.push((user, ts, group));
            }
            for row in rows {
                if out.rows > 0 {
                    out.rows_json.push(b',');
                }
                out.rows_json.extend_from_slice(&row);
                out.rows += 1;
            }
        } else {
            out.rejected_items += 1;
            for (field, reason) in errors {
                if out.rejected.len() < MAX_LISTED {
                    let mut e = serde_json::json!({"index": item.index, "field": field, "reason": reason});
                    if let Some(line) = item.line {
                        e["line"] = Value::from(line);
                    }
                    out.rejected.push(e);
                }
            }
        }
    }
    out
}

/// An item's records: itself, or what the Segment mapping makes of it.
fn records(
    batch: &Batch,
    entity: &str,
    value: Result<Value, String>,
    index: usize,
) -> Result<Vec<Record>, (String, String)> {
    let value = value.map_err(|reason| (String::new(), reason))?;
    if body::depth(&value, body::MAX_DEPTH) > body::MAX_DEPTH {
        return Err((String::new(), format!("values are nested more than {} levels deep", body::MAX_DEPTH)));
    }
    let Value::Object(fields) = value else {
        return Err((
            String::new(),
            format!("expected a JSON object, got {}", tenure_model::record::json_kind(&value)),
        ));
    };
    let rec = Record::new(index as u64, fields);
    if !batch.segment {
        return Ok(vec![rec]);
    }
    Vendor::Segment.map(entity, "request", rec).into_iter().map(|r| r.map_err(|e| (e.field, e.reason))).collect()
}

/// Validate an event and complete it as stored: its `messageId` (a
/// content hash when it has none, fixed before attribution changes the
/// content) and its account (`groupId`, `context.groupId`, else the
/// user's latest group call). Returns the group call it is, if it is one.
fn attribute(
    batch: &Batch,
    rec: &mut Record,
    groups: &HashMap<String, String>,
) -> Result<Option<(String, i64, String)>, Vec<tenure_model::FieldError>> {
    if rec.raw(&["timestamp", "originalTimestamp", "receivedAt"]).is_none() {
        // Segment stamps what it receives; so do we.
        rec.fields.insert("receivedAt".into(), Value::from(batch.now.to_string()));
    }
    let event = UsageEvent::from_record(rec)?;
    if rec.raw(&["messageId", "message_id"]).is_none() {
        rec.fields.insert("messageId".into(), Value::from(event.message_id.clone()));
    }
    let Some(user) = event.user_id.as_ref().or(event.anonymous_id.as_ref()) else { return Ok(None) };
    match (&event.group_id, event.kind) {
        (Some(group), UsageEventType::Group) => {
            Ok(Some((user.clone(), event.timestamp.as_microsecond(), group.clone())))
        }
        (Some(_), _) => Ok(None),
        (None, _) => {
            let group = groups.get(user).cloned().or_else(|| (batch.group_of)(user));
            if let Some(group) = group {
                rec.fields.insert("groupId".into(), Value::from(group));
            }
            Ok(None)
        }
    }
}

/// An Idempotency-Key being processed; released if the request fails.
struct Claim<'s> {
    state: &'s AppState,
    scope: String,
    key: String,
}

impl Claim<'_> {
    fn finish(self, response: IdempotentResponse) {
        self.state.ingest().finish_idempotent(response);
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        // After finish() the key is Done and this does nothing.
        self.state.ingest().release_idempotent(&self.scope, &self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_segment_kind_maps_to_a_type_the_events_accept() {
        for kind in SEGMENT_KINDS {
            let mapped = Vendor::Segment.map(
                "events",
                "t",
                Record::new(0, serde_json::json!({"type": kind, "userId": "u"}).as_object().unwrap().clone()),
            );
            for r in mapped {
                let t = r.unwrap().fields["type"].as_str().unwrap().to_string();
                assert!(UsageEventType::NAMES.contains(&t.as_str()), "{kind} -> {t}");
            }
        }
    }
}
