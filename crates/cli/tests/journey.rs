//! Feature adoption, the funnel and `tenure feedback` end to end on a small
//! demo: the JSON shapes, adoption shares against DuckDB (Python) reading the
//! same Parquet files, and a known comment found by `--search`.

mod common;

use std::process::Command;

use common::Ws;
use serde_json::Value;

/// Adoption per feature, computed by DuckDB: active accounts = distinct
/// group_id with a track event; per event name the accounts, uses and users.
const ORACLE: &str = r#"
import duckdb, json, sys
from decimal import Decimal, ROUND_HALF_UP
root = sys.argv[1]
manifest = json.load(open(root + "/manifest.json"))
files = [root + "/" + f["path"] for f in manifest["tables"]["events"]["files"]]
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
con.execute(f"create view ev as select * from read_parquet({files!r}) where coalesce(user_id, anonymous_id) is not null and group_id is not null")
active = con.execute("select count(distinct group_id) from ev where type = 'track'").fetchone()[0]
rows = con.execute("""select event, count(distinct group_id), count(*), count(distinct coalesce(user_id, anonymous_id))
                      from ev where type = 'track' and event is not null group by 1""").fetchall()
def pct(a, b):
    return None if b == 0 else float((Decimal(a) * 100 / Decimal(b)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
out = {"active_accounts": active,
       "features": {e: {"accounts": a, "adoption_pct": pct(a, active), "uses": u, "users": us} for e, a, u, us in rows}}
print(json.dumps(out))
"#;

fn tenure_json(ws: &Ws, args: &[&str]) -> Value {
    ws.json(args)
}

/// Each step's count of a funnel document.
fn counts(f: &Value) -> Vec<u64> {
    f["steps"].as_array().unwrap().iter().map(|s| s["count"].as_u64().unwrap()).collect()
}

#[test]
fn adoption_funnel_and_feedback_on_a_small_demo() {
    let ws = Ws::uninitialised();
    ws.ok(&["demo", "--customers", "40", "--events", "20000"]);

    // Adoption: shape, then every feature against DuckDB.
    let a = tenure_json(&ws, &["metrics", "adoption", "--timezone", "UTC", "--json", "--list"]);
    assert_eq!(a["metric"], "adoption");
    for key in ["from", "to", "active_accounts", "features_used", "average_breadth", "median_breadth", "features"] {
        assert!(a.get(key).is_some(), "adoption JSON lacks {key}: {a}");
    }
    let out = Command::new("python3")
        .args(["-c", ORACLE, ws.data().to_str().unwrap()])
        .output()
        .expect("python3 runs (./scripts/test installs duckdb)");
    assert!(out.status.success(), "duckdb oracle failed: {}", String::from_utf8_lossy(&out.stderr));
    let duck: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(duck["active_accounts"].as_u64().unwrap() > 10, "the demo has active accounts: {duck}");
    assert_eq!(a["active_accounts"], duck["active_accounts"]);
    let features = a["features"].as_array().unwrap();
    assert_eq!(features.len(), duck["features"].as_object().unwrap().len());
    for f in features {
        let d = &duck["features"][f["feature"].as_str().unwrap()];
        for key in ["accounts", "adoption_pct", "uses", "users"] {
            assert_eq!(f[key], d[key], "{key} of {}", f["feature"]);
        }
        assert_eq!(f["account_ids"].as_array().unwrap().len() as u64, f["accounts"].as_u64().unwrap());
    }
    // Per account: breadth = number of features in depth; shares add up to about 100.
    let accounts = a["accounts"].as_array().unwrap();
    assert_eq!(accounts.len() as u64, a["active_accounts"].as_u64().unwrap());
    for acc in accounts {
        let depth = acc["depth"].as_object().unwrap();
        assert_eq!(acc["breadth"].as_u64().unwrap(), depth.len() as u64);
        let uses: u64 = depth.values().map(|v| v["uses"].as_u64().unwrap()).sum();
        assert_eq!(acc["total_uses"].as_u64().unwrap(), uses);
    }
    // A period with no events: no active account, null shares and breadth.
    let empty = tenure_json(&ws, &["metrics", "adoption", "--from", "2001-01-01", "--to", "2001-02-01", "--json"]);
    assert_eq!((empty["active_accounts"].as_u64(), &empty["average_breadth"]), (Some(0), &Value::Null));

    // Funnel: the default journey, four labelled steps, counts never rising.
    let f = tenure_json(&ws, &["metrics", "funnel", "--json"]);
    assert_eq!(f["metric"], "funnel");
    assert_eq!(f["window_seconds"], 14 * 86_400);
    let steps = f["steps"].as_array().unwrap();
    let labels: Vec<&str> = steps.iter().map(|s| s["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["signed_up", "first_use", "activated", "referred"]);
    assert!(f["entered"].as_u64().unwrap() > 0, "demo users sign up: {f}");
    assert_eq!(steps[0]["conversion_from_first_pct"], 100.0);
    assert_eq!(steps[0]["conversion_from_previous_pct"], Value::Null);
    for w in steps.windows(2) {
        assert!(w[1]["count"].as_u64() <= w[0]["count"].as_u64());
        assert_eq!(
            w[0]["count"].as_u64().unwrap() - w[1]["count"].as_u64().unwrap(),
            w[1]["dropped"].as_u64().unwrap()
        );
    }
    for key in ["median_time_to_convert_seconds", "average_time_to_convert_seconds"] {
        assert!(steps[1][key].is_number(), "{key}: {f}");
    }
    // Page steps read the page names; by account; a custom window.
    let f = tenure_json(
        &ws,
        &["metrics", "funnel", "--steps", "page:Home,Report Created", "--window", "30d", "--by", "account", "--json"],
    );
    assert_eq!(f["by"], "account");
    assert_eq!(f["steps"][0]["name"], "page:Home");
    assert!(f["steps"][0]["count"].as_u64().unwrap() > 0, "accounts view the Home page: {f}");
    assert!(ws.fails(&["metrics", "funnel", "--steps", "OnlyOne"]).contains("2 to 32"));
    assert!(ws.fails(&["metrics", "funnel", "--window", "3y"]).contains("unit"));

    // Feedback: a known comment from the table is found by a search on part of it.
    let known = ws.sql(
        "select comment, survey_id from survey_responses where comment is not null and rejected_reason is null \
         order by id limit 1",
    );
    let comment = known[0]["comment"].as_str().unwrap().to_string();
    let word = comment.split(' ').take(4).collect::<Vec<_>>().join(" ").to_uppercase();
    let fb = tenure_json(&ws, &["feedback", "--search", &word, "--json"]);
    let found = fb["comments"].as_array().unwrap();
    assert!(found.iter().any(|c| c["comment"] == comment.trim()), "{word:?} finds {comment:?}: {fb}");
    assert!(found.iter().all(|c| c["comment"].as_str().unwrap().to_uppercase().contains(&word)));
    for key in ["id", "survey_id", "score", "date", "customer_id", "themes", "comment"] {
        assert!(found[0].get(key).is_some(), "feedback item lacks {key}");
    }
    assert_eq!(fb["matched"].as_u64().unwrap() as usize, found.len());
    // A theme filter keeps only tagged comments; the theme table counts them.
    let fb = tenure_json(&ws, &["feedback", "--theme", "pricing", "--json"]);
    let items = fb["comments"].as_array().unwrap();
    assert!(!items.is_empty(), "the demo has pricing comments");
    assert!(items.iter().all(|c| c["themes"].as_array().unwrap().iter().any(|t| t == "pricing")));
    let pricing = fb["themes"].as_array().unwrap().iter().find(|t| t["theme"] == "pricing").unwrap();
    assert_eq!(pricing["comments"], fb["theme_comments"]);
    // The table form prints the comment and the theme counts.
    let text = ws.ok(&["feedback", "--search", &word]);
    assert!(text.contains(comment.trim()) && text.contains("Themes over"), "{text}");
    assert!(ws.fails(&["feedback", "--theme", "nope"]).contains("unknown theme"));
}

/// A visitor browses anonymously, then identifies: the funnel counts one person
/// (PostHog's merge), unless --no-identity-merge. Counts by hand.
#[test]
fn funnel_merges_anonymous_visitors_into_the_persons_they_identify_as() {
    let ws = Ws::new();
    // a1 views Pricing at 09:00, identifies as u1 at 09:30 (the call carries both ids), u1
    // creates a report at 10:00. a2 views Pricing and never signs up.
    let events = ws.file(
        "events.csv",
        "messageId,type,userId,anonymousId,event,name,timestamp,groupId\n\
         m1,page,,a1,,Pricing,2024-05-06T09:00:00Z,\n\
         m2,identify,u1,a1,,,2024-05-06T09:30:00Z,\n\
         m3,track,u1,,Report Created,,2024-05-06T10:00:00Z,acme\n\
         m4,page,,a2,,Pricing,2024-05-06T09:05:00Z,\n",
    );
    ws.ok(&["import", "events", &events]);
    let steps = ["metrics", "funnel", "--steps", "page:Pricing,$identify,Report Created", "--json", "--list"];
    let f = tenure_json(&ws, &steps);
    // Merged: u1 (was a1) and a2 enter; u1 signs up 1800 s later and reports 1800 s after that.
    assert_eq!((f["identity_merge"].as_bool(), f["merged_anonymous_ids"].as_u64()), (Some(true), Some(1)));
    assert_eq!(counts(&f), [2, 1, 1]);
    assert_eq!(f["steps"][0]["actors"], serde_json::json!(["a2", "u1"]));
    assert_eq!(f["steps"][1]["conversion_from_previous_pct"].as_f64(), Some(50.0));
    assert_eq!(f["steps"][1]["median_time_to_convert_seconds"].as_f64(), Some(1800.0));
    assert_eq!(f["steps"][2]["median_time_to_convert_seconds"].as_f64(), Some(1800.0));
    // Apart: a1 and a2 enter as visitors and neither is the person who signs up.
    let mut apart = steps.to_vec();
    apart.push("--no-identity-merge");
    let f = tenure_json(&ws, &apart);
    assert_eq!(counts(&f), [2, 0, 0]);
    assert_eq!(f["steps"][0]["actors"], serde_json::json!(["a1", "a2"]));
}

/// With --segment and identity merge, the steps before the sign-up (anonymous
/// page views, the identify call: no groupId) are in the segment of the
/// person's account, the first account the person used; without the merge
/// they stay in (none). Counts by hand.
#[test]
fn funnel_segments_follow_the_merged_persons_account() {
    let ws = Ws::new();
    let customers = ws.file("customers.csv", "id,plan_tier\nacme,pro\nglobex,basic\n");
    ws.ok(&["import", "customers", &customers]);
    // a1 -> u1 works in acme. a2 -> u2 works in globex first, later once in acme.
    // a3 only views Pricing.
    let events = ws.file(
        "events.csv",
        "messageId,type,userId,anonymousId,event,name,timestamp,groupId\n\
         m1,page,,a1,,Pricing,2024-05-06T09:00:00Z,\n\
         m2,identify,u1,a1,,,2024-05-06T09:30:00Z,\n\
         m3,track,u1,,Report Created,,2024-05-06T10:00:00Z,acme\n\
         m4,page,,a2,,Pricing,2024-05-06T11:00:00Z,\n\
         m5,identify,u2,a2,,,2024-05-06T11:10:00Z,\n\
         m6,track,u2,,Report Created,,2024-05-06T12:00:00Z,globex\n\
         m7,track,u2,,Report Created,,2024-05-07T12:00:00Z,acme\n\
         m8,page,,a3,,Pricing,2024-05-06T13:00:00Z,\n",
    );
    ws.ok(&["import", "events", &events]);
    let args = ["metrics", "funnel", "--steps", "page:Pricing,$identify,Report Created", "--segment", "plan_tier"];
    let by_segment = |extra: &[&str]| {
        let mut a = args.to_vec();
        a.extend_from_slice(extra);
        a.extend(["--json", "--list"]);
        let f = tenure_json(&ws, &a);
        f["segments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let steps = s["steps"].as_array().unwrap();
                let counts: Vec<u64> = steps.iter().map(|st| st["count"].as_u64().unwrap()).collect();
                (s["segment"].as_str().unwrap().to_string(), counts, steps[0]["actors"].clone())
            })
            .collect::<Vec<_>>()
    };
    let merged = by_segment(&[]);
    assert_eq!(
        merged,
        [
            ("(none)".to_string(), vec![1, 0, 0], serde_json::json!(["a3"])),
            // u2's report in acme is pro's, but u2 never entered there (its visit is basic's).
            ("basic".to_string(), vec![1, 1, 1], serde_json::json!(["u2"])),
            ("pro".to_string(), vec![1, 1, 1], serde_json::json!(["u1"])),
        ]
    );
    // Apart: every visit and sign-up has no account, so all of them are (none)'s.
    let apart = by_segment(&["--no-identity-merge"]);
    assert_eq!(apart[0], ("(none)".to_string(), vec![3, 0, 0], serde_json::json!(["a1", "a2", "a3"])));
    assert!(apart[1..].iter().all(|(_, counts, _)| counts == &[0, 0, 0]), "{apart:?}");
}

/// The default journey on events without an anonymous id (nothing to merge:
/// the funnel runs on the events table every metric shares) equals the one
/// on the table read apart with page names (--no-identity-merge), per person
/// and per account. Counts by hand.
#[test]
fn the_default_journey_without_anonymous_ids_counts_by_hand() {
    let ws = Ws::new();
    // u1 (acme) does the four steps. u2 (acme) creates a report before viewing the
    // dashboard, so it stops at step 2. u3 (globex) views the dashboard 14 days and
    // 1 s after signing up: outside the window. u4 (globex) never signs up.
    let events = ws.file(
        "events.csv",
        "messageId,type,userId,anonymousId,event,name,timestamp,groupId\n\
         m1,identify,u1,,,,2024-05-06T09:00:00Z,acme\n\
         m2,identify,u2,,,,2024-05-06T09:00:00Z,acme\n\
         m3,track,u2,,Report Created,,2024-05-06T09:05:00Z,acme\n\
         m4,track,u1,,Dashboard Viewed,,2024-05-06T09:10:00Z,acme\n\
         m5,page,u1,,,Home,2024-05-06T09:15:00Z,acme\n\
         m6,track,u1,,Report Created,,2024-05-06T09:20:00Z,acme\n\
         m7,track,u2,,Dashboard Viewed,,2024-05-06T09:30:00Z,acme\n\
         m8,track,u1,,Invite Sent,,2024-05-06T10:00:00Z,acme\n\
         m9,identify,u3,,,,2024-05-06T12:00:00Z,globex\n\
         m10,track,u4,,Dashboard Viewed,,2024-05-06T13:00:00Z,globex\n\
         m11,track,u3,,Dashboard Viewed,,2024-05-20T12:00:01Z,globex\n",
    );
    ws.ok(&["import", "events", &events]);
    let medians = |f: &Value| {
        f["steps"].as_array().unwrap().iter().map(|s| s["median_time_to_convert_seconds"].as_f64()).collect::<Vec<_>>()
    };
    let by_user = tenure_json(&ws, &["metrics", "funnel", "--json", "--list"]);
    assert_eq!(by_user["merged_anonymous_ids"], 0);
    // Entered u1, u2, u3; dashboard u1 (600 s), u2 (1800 s); report u1 (600 s); invite u1 (2400 s).
    assert_eq!(counts(&by_user), [3, 2, 1, 1]);
    assert_eq!(by_user["steps"][1]["actors"], serde_json::json!(["u1", "u2"]));
    assert_eq!(medians(&by_user), [None, Some(1200.0), Some(600.0), Some(2400.0)]);
    // Per account: acme enters at 09:00, dashboard 09:10, report 09:20 (the 09:05 one
    // precedes the dashboard), invite 10:00; globex enters at 12:00 and u4's dashboard
    // view at 13:00 is globex's step 2 (3600 s).
    let by_account = tenure_json(&ws, &["metrics", "funnel", "--by", "account", "--json", "--list"]);
    assert_eq!(counts(&by_account), [2, 2, 1, 1]);
    assert_eq!(medians(&by_account), [None, Some(2100.0), Some(600.0), Some(2400.0)]);
    for (by, merged) in [("user", &by_user), ("account", &by_account)] {
        let apart = tenure_json(&ws, &["metrics", "funnel", "--by", by, "--no-identity-merge", "--json", "--list"]);
        assert_eq!(apart["steps"], merged["steps"], "by {by}");
    }
}
