//! Zendesk Support tickets onto `tickets`: the CSV export (Admin Center >
//! Account > Tools > Reports > Export), and also ticket objects from the
//! API (`{"tickets": [...]}`, optionally with a nested `metric_set`).
//!
//! The CSV has no first-reply timestamp, only "First reply time in
//! minutes" (calendar minutes from creation to the first public agent
//! comment), so `first_reply_at` = `created_at` + those minutes. Zendesk
//! writes CSV times in the account's time zone without an offset: they are
//! read as UTC, so set the account to UTC before exporting (or shift them).

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use tenure_model::Record;

use super::{Columns, Mapped, get, instant, record, text, timestamp_text};

pub(super) fn map(rec: Record) -> Mapped {
    let c = Columns::new(&rec.fields);
    // API tickets can carry their metrics nested (metric_set sideloaded).
    let metrics = c.value(&["metric_set"]);
    let metric = |csv: &[&str], api: &str| c.value(csv).or_else(|| metrics.and_then(|m| get(m, api)));

    let created_at = c.value(&["created_at"]).and_then(timestamp_text);
    let created = created_at.as_ref().and_then(Value::as_str).and_then(instant);
    let first_reply_at = metric(&["first_reply_time_in_minutes"], "reply_time_in_minutes.calendar")
        .and_then(|m| reply_after(created?, m));
    let out = record(
        rec.line,
        vec![
            ("id", c.value(&["id", "ticket_id"]).cloned()),
            // The account is the organization; without one, the requester.
            (
                "customer_id",
                c.text(&["organization", "organization_id", "requester_email", "requester_id", "requester"])
                    .map(Value::from),
            ),
            ("created_at", created_at),
            ("first_reply_at", first_reply_at),
            ("solved_at", metric(&["solved_at"], "solved_at").and_then(timestamp_text)),
            ("status", c.text(&["status"]).map(|s| Value::from(status(&s)))),
            ("replies", metric(&["replies"], "replies").cloned()),
            ("reopens", metric(&["reopens"], "reopens").cloned()),
            ("channel", channel(c.value(&["via"]))),
            ("satisfaction", satisfaction(c.value(&["satisfaction_score", "satisfaction_rating"]))),
        ],
    );
    Ok(vec![out])
}

/// `created + minutes`, or the raw minutes if they are not a number (the
/// row is then rejected under `first_reply_at`, naming the value).
fn reply_after(created: Timestamp, minutes: &Value) -> Option<Value> {
    let raw = text(minutes)?;
    Some(match raw.parse::<f64>() {
        Ok(m) if m.is_finite() && m >= 0.0 => {
            let at = created.checked_add(SignedDuration::from_secs((m * 60.0).round() as i64)).ok()?;
            Value::from(at.to_string())
        }
        _ => Value::from(format!("{raw} minutes after created_at")),
    })
}

/// Zendesk's statuses, lowercased; "On-hold" waits on a third party, which
/// the data contract counts as pending.
fn status(s: &str) -> String {
    let s = s.trim().to_ascii_lowercase();
    match s.as_str() {
        "hold" | "on-hold" | "on hold" | "on_hold" => "pending".to_string(),
        _ => s,
    }
}

/// "Web form" -> `web_form`; the API's `via` is an object with a `channel`.
fn channel(v: Option<&Value>) -> Option<Value> {
    let v = v?;
    let raw = match v {
        Value::Object(_) => get(v, "channel").and_then(text)?,
        other => text(other)?,
    };
    Some(Value::from(raw.trim().to_lowercase().replace([' ', '-'], "_")))
}

/// Zendesk's binary CSAT as a score: Good = 1, Bad = 0. "Offered" and "Not
/// Offered" are not ratings (no score). A number is kept as is.
fn satisfaction(v: Option<&Value>) -> Option<Value> {
    let v = v?;
    let raw = match v {
        Value::Object(_) => get(v, "score").and_then(text)?,
        other => text(other)?,
    };
    let lower = raw.to_ascii_lowercase();
    if lower.starts_with("good") {
        Some(Value::from(1))
    } else if lower.starts_with("bad") {
        Some(Value::from(0))
    } else if matches!(lower.as_str(), "offered" | "not offered" | "unoffered" | "not_offered") {
        None
    } else {
        Some(Value::from(raw))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tenure_model::{Entity, Ticket};

    use super::*;
    use crate::vendor::Vendor;
    use crate::vendor::test_util::map_example;

    #[test]
    fn csv_export_maps_and_parses() {
        let recs = map_example(Vendor::Zendesk, "tickets", "zendesk-tickets.csv");
        let ts: Vec<Ticket> = recs.iter().map(|r| Ticket::from_record(r).unwrap_or_else(|e| panic!("{e:?}"))).collect();
        assert_eq!(ts.len(), 5);
        let t = &ts[0];
        assert_eq!((t.id.as_str(), t.customer_id.as_deref()), ("10481", Some("Analytical Engines Ltd")));
        assert_eq!(t.created_at.to_string(), "2024-03-04T09:00:00Z");
        assert_eq!(t.first_reply_at.unwrap().to_string(), "2024-03-04T09:20:00Z");
        assert_eq!(t.solved_at.unwrap().to_string(), "2024-03-04T11:00:00Z");
        assert_eq!((t.status.as_str(), t.channel.as_deref()), ("solved", Some("web_form")));
        assert_eq!((t.replies, t.reopens, t.satisfaction), (Some(1), Some(0), Some(1.0)));

        let statuses: Vec<&str> = ts.iter().map(|t| t.status.as_str()).collect();
        assert_eq!(statuses, ["solved", "closed", "open", "pending", "new"]);
        assert_eq!(ts[1].satisfaction, Some(0.0));
        // Offered but not rated, and no organization: the requester's email.
        assert_eq!(ts[2].satisfaction, None);
        assert_eq!(ts[2].customer_id.as_deref(), Some("kj@orbit.example"));
        assert_eq!(ts[2].first_reply_at.unwrap().to_string(), "2024-03-06T22:07:00Z");
        assert_eq!(ts[4].first_reply_at, None);
    }

    #[test]
    fn api_tickets_with_metric_set() {
        let t = json!({"id": 35436, "created_at": "2024-03-04T09:00:00Z", "status": "hold", "organization_id": 509974,
            "requester_id": 20978392, "via": {"channel": "email", "source": {}},
            "satisfaction_rating": {"score": "good"},
            "metric_set": {"reply_time_in_minutes": {"calendar": 90, "business": 30}, "replies": 2, "reopens": 0}});
        let r = map(Record::new(1, t.as_object().unwrap().clone())).unwrap();
        let tk = Ticket::from_record(&r[0]).unwrap();
        assert_eq!(
            (tk.id.as_str(), tk.customer_id.as_deref(), tk.status.as_str()),
            ("35436", Some("509974"), "pending")
        );
        assert_eq!(tk.first_reply_at.unwrap().to_string(), "2024-03-04T10:30:00Z");
        assert_eq!((tk.channel.as_deref(), tk.satisfaction, tk.replies), (Some("email"), Some(1.0), Some(2)));
    }

    #[test]
    fn unreadable_values_are_reported_under_canonical_fields() {
        let t = json!({"Id": "7", "Created at": "04/03/2024 09:00", "First reply time in minutes": "5",
            "Satisfaction Score": "Great"});
        let r = map(Record::new(9, t.as_object().unwrap().clone())).unwrap();
        let errs: Vec<String> = Ticket::from_record(&r[0]).unwrap_err().iter().map(|e| e.to_string()).collect();
        assert_eq!(errs.len(), 2);
        assert!(errs[0].starts_with("created_at: \"04/03/2024 09:00\" is not an RFC 3339 timestamp"));
        assert_eq!(errs[1], "satisfaction: \"Great\" is not a number");
    }
}
