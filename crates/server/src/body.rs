//! Request bodies: content type, gzip, size limits, and the items a body holds.
//! Every way a body can be wrong is a 4xx with a sentence, never a panic.

use std::io::Read;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use serde_json::Value;

use crate::error::ApiError;

/// Values nested deeper than this in one item are rejected (serde_json
/// itself refuses documents deeper than 128).
pub const MAX_DEPTH: usize = 32;

/// How a body is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// One JSON document.
    Json,
    /// JSON Lines: one object per line.
    JsonLines,
}

/// One item of a request, numbered for error messages: its 0-based index
/// and, for JSON Lines, its line.
#[derive(Debug)]
pub struct Item {
    pub index: usize,
    pub line: Option<u64>,
    pub value: Result<Value, String>,
}

/// Check the content type and encoding, decompress, enforce the size limit.
/// `text/plain` is accepted where `lenient_type` (Segment's browser library
/// sends JSON as text/plain to avoid a CORS preflight).
pub fn decode(
    headers: &HeaderMap,
    body: Bytes,
    max_bytes: usize,
    lenient_type: bool,
) -> Result<(Layout, Bytes), ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap_or("?").to_ascii_lowercase());
    let mime = content_type.as_deref().map(|t| t.split(';').next().unwrap_or("").trim().to_string());
    let layout = match mime.as_deref() {
        None | Some("application/json") => Layout::Json,
        Some("text/plain") if lenient_type => Layout::Json,
        Some(t) if t.starts_with("application/") && t.ends_with("+json") => Layout::Json,
        Some("application/x-ndjson" | "application/jsonl" | "application/json-lines" | "application/x-jsonlines") => {
            Layout::JsonLines
        }
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "Content-Type {other:?} is not supported: send application/json (or application/x-ndjson for JSON Lines)"
                ),
            ));
        }
    };
    let encoding = headers.get(header::CONTENT_ENCODING).map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase());
    let body = match encoding.as_deref() {
        None | Some("" | "identity") => body,
        Some("gzip" | "x-gzip") => gunzip(&body, max_bytes)?,
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("Content-Encoding {other:?} is not supported: send the body as is, or gzip it"),
            ));
        }
    };
    if body.len() > max_bytes {
        return Err(too_large(max_bytes));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    if let Err(e) = std::str::from_utf8(&body) {
        return Err(ApiError::bad_request(format!(
            "the request body is not valid UTF-8 (at byte {}); JSON must be UTF-8",
            e.valid_up_to()
        )));
    }
    Ok((layout, body))
}

pub fn too_large(max_bytes: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the request body is larger than {max_bytes} bytes (after decompression): send smaller batches"),
    )
}

/// Decompress at most `max_bytes`, so that a small gzip bomb cannot fill memory.
fn gunzip(body: &[u8], max_bytes: usize) -> Result<Bytes, ApiError> {
    let mut out = Vec::new();
    let mut decoder = flate2::read::MultiGzDecoder::new(body).take(max_bytes as u64 + 1);
    decoder.read_to_end(&mut out).map_err(|e| {
        ApiError::bad_request(format!("the body is marked Content-Encoding: gzip but is not valid gzip ({e})"))
    })?;
    if out.len() > max_bytes {
        return Err(too_large(max_bytes));
    }
    Ok(Bytes::from(out))
}

/// Parse one JSON document, explaining what is wrong with a malformed one.
pub fn parse_document(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        let hint = if e.to_string().contains("recursion limit") { " (nested more than 128 levels deep)" } else { "" };
        ApiError::bad_request(format!("the body is not valid JSON: {e}{hint}"))
    })
}

/// The items of a bulk body: a JSON array of objects, one object, or JSON Lines.
pub fn bulk_items(layout: Layout, body: &[u8]) -> Result<Vec<Item>, ApiError> {
    match layout {
        Layout::JsonLines => {
            let text = std::str::from_utf8(body).expect("checked in decode");
            let mut items = Vec::new();
            for (n, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let value = serde_json::from_str(line).map_err(|e| format!("not valid JSON: {e}"));
                items.push(Item { index: items.len(), line: Some(n as u64 + 1), value });
            }
            Ok(items)
        }
        Layout::Json => match parse_document(body)? {
            Value::Array(values) => Ok(numbered(values)),
            v @ Value::Object(_) => Ok(numbered(vec![v])),
            other => Err(ApiError::bad_request(format!(
                "expected a JSON array of objects (or one object, or JSON Lines), got {}",
                tenure_model::record::json_kind(&other)
            ))),
        },
    }
}

pub fn numbered(values: Vec<Value>) -> Vec<Item> {
    values.into_iter().enumerate().map(|(index, v)| Item { index, line: None, value: Ok(v) }).collect()
}

/// How deeply a value nests (a scalar is 0), stopping once past `limit`.
pub fn depth(v: &Value, limit: usize) -> usize {
    fn go(v: &Value, at: usize, limit: usize) -> usize {
        if at > limit {
            return at;
        }
        match v {
            Value::Array(a) => a.iter().map(|x| go(x, at + 1, limit)).max().unwrap_or(at + 1),
            Value::Object(m) => m.values().map(|x| go(x, at + 1, limit)).max().unwrap_or(at + 1),
            _ => at,
        }
    }
    go(v, 0, limit)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), v.parse().unwrap());
        }
        h
    }

    #[test]
    fn content_types_encodings_and_limits() {
        let json = headers(&[(header::CONTENT_TYPE, "application/json; charset=utf-8")]);
        assert_eq!(decode(&json, Bytes::from_static(b"[]"), 10, false).unwrap().0, Layout::Json);
        let ndjson = headers(&[(header::CONTENT_TYPE, "application/x-ndjson")]);
        assert_eq!(decode(&ndjson, Bytes::from_static(b"{}"), 10, false).unwrap().0, Layout::JsonLines);
        let text = headers(&[(header::CONTENT_TYPE, "text/plain")]);
        assert!(decode(&text, Bytes::from_static(b"{}"), 10, true).is_ok());
        assert_eq!(decode(&text, Bytes::from_static(b"{}"), 10, false).unwrap_err().status, 415);
        let form = headers(&[(header::CONTENT_TYPE, "application/x-www-form-urlencoded")]);
        assert_eq!(decode(&form, Bytes::from_static(b"a=b"), 10, false).unwrap_err().status, 415);
        assert_eq!(decode(&json, Bytes::from_static(b"[1,2,3,4,5,6]"), 10, false).unwrap_err().status, 413);
        assert_eq!(decode(&json, Bytes::from_static(b"  "), 10, false).unwrap_err().status, 400);
        let err = decode(&json, Bytes::from_static(b"[\"\xff\"]"), 10, false).unwrap_err();
        assert!(err.message.contains("UTF-8 (at byte 2)"), "{}", err.message);

        // gzip: decompressed, limited after decompression, and checked.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&[b' '; 1000]).unwrap();
        gz.write_all(b"[]").unwrap();
        let gz = Bytes::from(gz.finish().unwrap());
        let gzipped = headers(&[(header::CONTENT_ENCODING, "gzip")]);
        assert_eq!(decode(&gzipped, gz.clone(), 2000, false).unwrap().1.len(), 1002);
        assert_eq!(decode(&gzipped, gz, 1001, false).unwrap_err().status, 413);
        assert_eq!(decode(&gzipped, Bytes::from_static(b"[]"), 10, false).unwrap_err().status, 400);
        let br = headers(&[(header::CONTENT_ENCODING, "br")]);
        assert_eq!(decode(&br, Bytes::from_static(b"[]"), 10, false).unwrap_err().status, 415);
    }

    #[test]
    fn items_and_depth() {
        let items = bulk_items(Layout::JsonLines, b"{\"a\":1}\n\n{bad\n{\"b\":2}\n").unwrap();
        assert_eq!(
            items.iter().map(|i| (i.index, i.line)).collect::<Vec<_>>(),
            [(0, Some(1)), (1, Some(3)), (2, Some(4))]
        );
        assert!(items[1].value.as_ref().unwrap_err().starts_with("not valid JSON"));
        assert_eq!(bulk_items(Layout::Json, b"{\"a\":1}").unwrap().len(), 1);
        assert!(bulk_items(Layout::Json, b"42").unwrap_err().message.contains("got a number"));
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        assert!(parse_document(deep.as_bytes()).unwrap_err().message.contains("nested more than 128"));
        let v: Value = serde_json::from_str(r#"{"a": {"b": [1, {"c": 2}]}}"#).unwrap();
        assert_eq!(depth(&v, 10), 4);
        assert_eq!(depth(&Value::from(1), 10), 0);
    }
}
