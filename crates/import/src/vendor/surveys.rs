//! Survey tools onto `survey_responses`: Delighted and Typeform.
//!
//! Neither export says which Tenure survey a response belongs to, so the
//! survey id is fixed per tool and type (`delighted_nps`, `typeform_nps`)
//! unless a column or hidden field named `survey_id` gives one.

use serde_json::{Map, Value};
use tenure_model::Record;

use super::{Columns, Mapped, get, id_of, int, record, text, text_at, timestamp_text};

/// Columns (or Delighted person properties, Typeform hidden fields) that
/// name the account a respondent belongs to.
const CUSTOMER_COLUMNS: &[&str] = &["customer_id", "account_id", "company_id"];

// ------------------------------------------------------------------ Delighted

/// A Delighted response: a row of the dashboard's CSV export, or a survey
/// response object of its API (GET /v1/survey_responses.json).
pub(super) fn delighted(rec: Record) -> Mapped {
    let c = Columns::new(&rec.fields);
    let properties = c.value(&["person_properties"]).and_then(Value::as_object);
    let customer = c.text(CUSTOMER_COLUMNS).or_else(|| properties.and_then(|p| Columns::new(p).text(CUSTOMER_COLUMNS)));
    // The API's `person` is an id, or the person when expanded.
    let respondent = c
        .text(&["person_id"])
        .or_else(|| c.value(&["person"]).and_then(id_of))
        .or_else(|| c.text(&["email", "person_email"]))
        .or_else(|| c.value(&["person"]).and_then(|p| text_at(p, "email")));
    let (survey_type, scale) = delighted_type(c.text(&["survey_type"]).as_deref());
    let survey_id = c.text(&["survey_id"]).unwrap_or_else(|| format!("delighted_{survey_type}"));
    let out = record(
        rec.line,
        vec![
            ("id", c.value(&["response_id", "id"]).cloned()),
            ("survey_id", Some(Value::from(survey_id))),
            ("survey_type", Some(Value::from(survey_type))),
            ("scale_min", scale.map(|s| Value::from(s.0))),
            ("scale_max", scale.map(|s| Value::from(s.1))),
            ("respondent_id", respondent.map(Value::from)),
            ("customer_id", customer.map(Value::from)),
            (
                "submitted_at",
                c.value(&["created_at", "response_timestamp", "responded_at", "submitted_at", "timestamp", "date"])
                    .and_then(timestamp_text),
            ),
            ("score", c.value(&["score"]).cloned()),
            ("comment", c.value(&["comment"]).cloned()),
        ],
    );
    Ok(vec![out])
}

/// Delighted's survey types as the data contract's, with the scale when it
/// is not that type's default. Delighted's CES is the 1-7 agreement scale,
/// the contract's default CES variant.
fn delighted_type(t: Option<&str>) -> (&'static str, Option<(i64, i64)>) {
    match t.map(str::to_ascii_lowercase).as_deref() {
        None | Some("nps") | Some("enps") => ("nps", None),
        Some("csat") | Some("smileys") | Some("five_star") => ("csat", None),
        Some("ces") => ("ces", None),
        Some("thumbs") => ("custom", Some((0, 1))),
        Some(_) => ("custom", None),
    }
}

// ------------------------------------------------------------------ Typeform

/// A Typeform response with an NPS question: a row of the results CSV
/// (Results > Responses > Download), or an item of the Responses API.
pub(super) fn typeform(rec: Record) -> Mapped {
    if rec.fields.contains_key("answers") || rec.fields.contains_key("landed_at") {
        return typeform_api(rec);
    }
    let c = Columns::new(&rec.fields);
    let (score, comment) = typeform_answers(&rec.fields)?;
    let out = record(
        rec.line,
        vec![
            ("id", c.value(&["#", "response_id", "token"]).cloned()),
            ("survey_id", Some(Value::from(c.text(&["survey_id"]).unwrap_or_else(|| "typeform_nps".into())))),
            ("survey_type", Some(Value::from("nps"))),
            // Identifying hidden fields first; the network id only tells
            // devices apart, but is all an anonymous form has.
            ("respondent_id", c.text(&["respondent_id", "user_id", "email", "network_id"]).map(Value::from)),
            ("customer_id", c.text(CUSTOMER_COLUMNS).map(Value::from)),
            // Landing on the form is when the survey reached the respondent.
            ("sent_at", c.value(&["start_date_utc", "start_date"]).and_then(timestamp_text)),
            ("submitted_at", c.value(&["submit_date_utc", "submit_date"]).and_then(timestamp_text)),
            ("score", score),
            ("comment", comment),
        ],
    );
    Ok(vec![out])
}

/// Typeform's own columns, never answers.
const TYPEFORM_META: &[&str] = &[
    "#",
    "response_type",
    "start_date_utc",
    "stage_date_utc",
    "submit_date_utc",
    "network_id",
    "tags",
    "ending",
    "score",
    "nps",
    "survey_id",
    "respondent_id",
    "user_id",
    "email",
    "customer_id",
    "account_id",
    "company_id",
];

/// The NPS answer and the free-text "why" of one CSV row. The NPS column
/// is the one whose header mentions "recommend" (Typeform's NPS question
/// reads "How likely are you to recommend..."), else a column named `score`
/// or `nps`, else the only question answered with a whole number 0-10.
/// A skipped answer leaves its cell empty, so the row has no score.
fn typeform_answers(fields: &Map<String, Value>) -> Result<(Option<Value>, Option<Value>), super::MapError> {
    let is_meta = |k: &str| TYPEFORM_META.iter().any(|m| super::norm(m) == super::norm(k));
    let named = fields
        .iter()
        .find(|(k, _)| k.to_lowercase().contains("recommend"))
        .or_else(|| fields.iter().find(|(k, _)| matches!(super::norm(k).as_str(), "score" | "nps" | "npsscore")));
    let (score_col, score) = match named {
        Some((k, v)) => (Some(k.as_str()), Some(v.clone())),
        None => {
            let candidates: Vec<(&String, &Value)> = fields
                .iter()
                .filter(|(k, v)| !is_meta(k) && k.contains(' ') && int(v).is_some_and(|n| (0..=10).contains(&n)))
                .collect();
            match candidates.as_slice() {
                [] => (None, None),
                [(k, v)] => (Some(k.as_str()), Some((*v).clone())),
                many => {
                    let names: Vec<&str> = many.iter().map(|(k, _)| k.as_str()).collect();
                    return super::fail(
                        "score",
                        format!(
                            "several questions hold a 0-10 answer ({}): put \"recommend\" in the NPS question or name its column score",
                            names.join("; ")
                        ),
                    );
                }
            }
        }
    };
    let comment = fields
        .iter()
        .filter(|(k, _)| Some(k.as_str()) != score_col && !is_meta(k))
        .find(|(k, _)| {
            let k = k.to_lowercase();
            ["why", "reason", "comment", "feedback", "improve", "tell us"].iter().any(|w| k.contains(w))
        })
        .map(|(_, v)| v.clone());
    Ok((score, comment))
}

/// An item of GET /forms/{id}/responses: the NPS answer is the answer to an
/// `nps` field (else the only whole-number answer 0-10), the comment the
/// first text answer.
fn typeform_api(rec: Record) -> Mapped {
    let v = Value::Object(rec.fields);
    let answers: &[Value] = match get(&v, "answers") {
        Some(Value::Array(a)) => a,
        _ => &[],
    };
    let number = |a: &Value| get(a, "number").and_then(int).filter(|n| (0..=10).contains(n));
    let nps =
        answers.iter().find(|a| text_at(a, "field.type").as_deref() == Some("nps")).and_then(|a| get(a, "number"));
    let nps = nps.cloned().or_else(|| {
        let numeric: Vec<i64> = answers.iter().filter_map(number).collect();
        if numeric.len() == 1 { Some(Value::from(numeric[0])) } else { None }
    });
    let comment = answers.iter().find(|a| text_at(a, "type").as_deref() == Some("text")).and_then(|a| get(a, "text"));
    let hidden = get(&v, "hidden").and_then(Value::as_object);
    let hidden_text = |names: &[&str]| hidden.and_then(|h| Columns::new(h).text(names));
    let out = record(
        rec.line,
        vec![
            ("id", get(&v, "response_id").or(get(&v, "token")).cloned()),
            ("survey_id", Some(Value::from(hidden_text(&["survey_id"]).unwrap_or_else(|| "typeform_nps".into())))),
            ("survey_type", Some(Value::from("nps"))),
            (
                "respondent_id",
                hidden_text(&["respondent_id", "user_id", "email"])
                    .or(text_at(&v, "metadata.network_id"))
                    .map(Value::from),
            ),
            ("customer_id", hidden_text(CUSTOMER_COLUMNS).map(Value::from)),
            ("sent_at", get(&v, "landed_at").and_then(timestamp_text)),
            ("submitted_at", get(&v, "submitted_at").and_then(timestamp_text)),
            ("score", nps),
            ("comment", comment.and_then(text).map(Value::from)),
        ],
    );
    Ok(vec![out])
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tenure_model::{Entity, SurveyResponse, SurveyType};

    use super::*;
    use crate::vendor::Vendor;
    use crate::vendor::test_util::map_example;

    fn parse(recs: &[Record]) -> Vec<SurveyResponse> {
        recs.iter().map(|r| SurveyResponse::from_record(r).unwrap_or_else(|e| panic!("{r:?}: {e:?}"))).collect()
    }

    #[test]
    fn delighted_csv_maps_and_parses() {
        let rs = parse(&map_example(Vendor::Delighted, "survey_responses", "delighted-nps.csv"));
        assert_eq!(rs.len(), 4);
        let r = &rs[0];
        assert_eq!(
            (r.id.as_str(), r.survey_id.as_str(), r.survey_type),
            ("184632001", "delighted_nps", SurveyType::Nps)
        );
        assert_eq!((r.respondent_id.as_deref(), r.customer_id.as_deref()), (Some("88120311"), Some("cus_001")));
        assert_eq!(r.submitted_at.unwrap().to_string(), "2024-03-01T12:00:00Z");
        assert_eq!((r.score, r.comment.as_deref()), (Some(10.0), Some("Reporting saves us hours every week")));
        assert_eq!((rs[1].score, rs[1].rejected_reason.as_deref()), (Some(6.0), None));
        // No person id: the email identifies the respondent.
        assert_eq!(rs[3].respondent_id.as_deref(), Some("emilie@lumiere.example"));
        assert!(rs.iter().all(|r| r.sent_at.is_none()));
    }

    #[test]
    fn delighted_api_objects() {
        let v = json!({"id": "2", "person": "10", "survey_type": "csat", "score": 4, "comment": null,
            "created_at": 1713497396, "person_properties": {"Customer ID": "cus_009", "country": "USA"}});
        let r = delighted(Record::new(2, v.as_object().unwrap().clone())).unwrap();
        let s = SurveyResponse::from_record(&r[0]).unwrap();
        assert_eq!(
            (s.survey_id.as_str(), s.survey_type, s.scale_min, s.scale_max),
            ("delighted_csat", SurveyType::Csat, 1, 5)
        );
        assert_eq!((s.respondent_id.as_deref(), s.customer_id.as_deref()), (Some("10"), Some("cus_009")));
        assert_eq!(s.submitted_at.unwrap().to_string(), "2024-04-19T03:29:56Z");
    }

    #[test]
    fn typeform_csv_maps_and_parses() {
        let rs = parse(&map_example(Vendor::Typeform, "survey_responses", "typeform-nps.csv"));
        assert_eq!(rs.len(), 5);
        let r = &rs[0];
        assert_eq!((r.id.as_str(), r.survey_id.as_str()), ("w1ps8k2q0c4o9f1x7w1ps8kbl2d3r0aa", "typeform_nps"));
        assert_eq!(
            (r.respondent_id.as_deref(), r.customer_id.as_deref()),
            (Some("ada@analytical.example"), Some("cus_001"))
        );
        assert_eq!(r.sent_at.unwrap().to_string(), "2024-03-01T12:00:05Z");
        assert_eq!(r.submitted_at.unwrap().to_string(), "2024-03-01T12:01:41Z");
        assert_eq!((r.score, r.comment.as_deref()), (Some(10.0), Some("Reporting saves us hours every week")));
        let scores: Vec<Option<f64>> = rs.iter().map(|r| r.score).collect();
        assert_eq!(scores, [Some(10.0), Some(4.0), Some(8.0), None, None]);
        // Submitted with the NPS question skipped: a skipped answer.
        assert!(rs[3].submitted_at.is_some());
        // Started and abandoned: reached the respondent, never answered.
        assert!(rs[4].submitted_at.is_none() && rs[4].sent_at.is_some());
        // Anonymous: the network id is all there is.
        assert_eq!(rs[4].respondent_id.as_deref(), Some("b3c6f1d2e9"));
    }

    #[test]
    fn typeform_column_detection() {
        let row = |v: Value| typeform_answers(v.as_object().unwrap());
        let (s, _) = row(json!({"#": "t1", "On a scale of 0 to 10, how satisfied?": "7", "Network ID": "5"})).unwrap();
        assert_eq!(s, Some(json!("7")));
        let e = row(json!({"#": "t1", "How many seats do you use?": "3", "Rate us 0-10": "9"})).unwrap_err();
        assert!(e.reason.starts_with("several questions hold a 0-10 answer"));
        let (s, c) = row(json!({"#": "t1", "Seats?": "3", "Would you recommend us?": "9", "Why?": "fast"})).unwrap();
        assert_eq!((s, c), (Some(json!("9")), Some(json!("fast"))));
    }

    #[test]
    fn typeform_api_items() {
        let v = json!({"landing_id": "l1", "token": "l1", "response_id": "l1", "landed_at": "2024-03-01T12:00:05Z",
            "submitted_at": "2024-03-01T12:01:41Z", "metadata": {"network_id": "9f8e7d6c5b"},
            "hidden": {"customer_id": "cus_004"},
            "answers": [{"field": {"id": "f1", "type": "nps", "ref": "nps"}, "type": "number", "number": 9},
                        {"field": {"id": "f2", "type": "long_text"}, "type": "text", "text": "Great support"}]});
        let r = typeform(Record::new(1, v.as_object().unwrap().clone())).unwrap();
        let s = SurveyResponse::from_record(&r[0]).unwrap();
        assert_eq!((s.id.as_str(), s.score, s.comment.as_deref()), ("l1", Some(9.0), Some("Great support")));
        assert_eq!((s.customer_id.as_deref(), s.respondent_id.as_deref()), (Some("cus_004"), Some("9f8e7d6c5b")));
    }
}
