//! Segment messages (a `{"batch": [...]}` file, or JSON Lines of messages as
//! Segment's archives and warehouses write them) onto `events`.
//!
//! Tenure's events already are Segment's shape, so most messages pass
//! through unchanged. The differences handled here:
//! - `screen` (mobile) is a `page` view: its `name` and `properties` are kept;
//! - `alias` merges two user ids and is not activity: skipped;
//! - some libraries send identify traits in `context.traits` rather than
//!   `traits`: they are moved to `traits`, where person `created_at` is read.

use serde_json::Value;
use tenure_model::Record;

use super::{Mapped, get};

pub(super) fn map(mut rec: Record) -> Mapped {
    let kind = rec.fields.get("type").and_then(Value::as_str).map(str::to_ascii_lowercase);
    match kind.as_deref() {
        Some("alias") => return Ok(Vec::new()),
        Some("screen") => {
            rec.fields.insert("type".into(), Value::from("page"));
        }
        _ => {}
    }
    let has_traits = rec.fields.get("traits").is_some_and(|t| !t.is_null());
    if matches!(kind.as_deref(), Some("identify") | Some("group")) && !has_traits {
        let traits = rec.fields.get("context").and_then(|c| get(c, "traits")).cloned();
        if let Some(t) = traits {
            rec.fields.insert("traits".into(), t);
        }
    }
    // Anything else (an unknown type, a missing userId) goes to validation as is.
    Ok(vec![rec])
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tenure_model::{Entity, UsageEvent, UsageEventType};

    use super::*;
    use crate::vendor::Vendor;
    use crate::vendor::test_util::{field, map_example};

    fn one(v: Value) -> Vec<Record> {
        map(Record::new(1, v.as_object().unwrap().clone())).unwrap()
    }

    #[test]
    fn batch_example_maps_and_parses() {
        let recs = map_example(Vendor::Segment, "events", "segment-batch.json");
        // Seven messages, one of them an alias.
        assert_eq!(recs.len(), 6);
        let events: Vec<UsageEvent> = recs.iter().map(|r| UsageEvent::from_record(r).unwrap()).collect();
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["identify", "group", "track", "page", "page", "track"]);

        // Traits sent under context.traits land in traits.
        let identify = &events[0];
        assert_eq!(identify.traits.as_ref().unwrap()["created_at"], "2024-01-03T09:00:00Z");
        // A screen is a page view with its name.
        assert_eq!(events[4].name.as_deref(), Some("Dashboard"));
        assert_eq!(field(&recs[4], "type"), "\"page\"");
        // The account comes from context.groupId.
        assert_eq!(events[2].group_id.as_deref(), Some("cus_001"));
        assert_eq!(events[2].message_id, "ajs-next-3f1c0a1e");
        assert!(events.iter().all(|e| e.kind != UsageEventType::Group || e.group_id.is_some()));
    }

    #[test]
    fn alias_is_skipped_and_top_level_traits_win() {
        assert!(one(json!({"type": "alias", "userId": "u1", "previousId": "a1"})).is_empty());
        let r = one(json!({"type": "identify", "userId": "u1", "traits": {"plan": "pro"},
            "context": {"traits": {"plan": "free"}}, "timestamp": "2024-03-01T00:00:00Z"}));
        assert_eq!(r[0].fields["traits"], json!({"plan": "pro"}));
        assert_eq!(r[0].fields["context"], json!({"traits": {"plan": "free"}}));
    }

    #[test]
    fn unknown_types_reach_validation() {
        let r = one(json!({"type": "flush", "userId": "u1", "timestamp": "2024-03-01T00:00:00Z"}));
        let errs = UsageEvent::from_record(&r[0]).unwrap_err();
        assert!(errs[0].to_string().starts_with("type: \"flush\" is not one of"));
    }
}
