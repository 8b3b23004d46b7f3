//! Engagement metrics against an independent oracle: DuckDB (Python) reads
//! the Parquet files the manifest names and computes DAU for every day (in UTC
//! and in America/New_York, which has DST changes in the demo's range),
//! rolling MAU, sessions with the 30-minute rule, a weekly first-time
//! retention table and a monthly lifecycle; `tenure metrics ... --json` must give the same numbers.

mod common;

use std::process::Command;

use common::Ws;
use serde_json::Value;

const ORACLE: &str = r#"
import duckdb, json, sys, datetime
from fractions import Fraction
root = sys.argv[1]
manifest = json.load(open(root + "/manifest.json"))
files = [root + "/" + f["path"] for f in manifest["tables"]["events"]["files"]]
con = duckdb.connect()
con.execute(f"create view ev as select *, coalesce(user_id, anonymous_id) as actor from read_parquet({files!r}) where coalesce(user_id, anonymous_id) is not null")
out = {}

def dau(tz):
    con.execute(f"SET TimeZone = '{tz}'")
    rows = con.execute("select cast(timestamp as date) as d, count(distinct actor) from ev where type = 'track' group by 1 order by 1").fetchall()
    return {str(d): n for d, n in rows}
out["dau_new_york"] = dau("America/New_York")
out["dau_utc"] = dau("UTC")

first, last = con.execute("select min(cast(timestamp as date)), max(cast(timestamp as date)) from ev").fetchone()
out["first_day"], out["last_day"] = str(first), str(last)

# Rolling MAU (d-29..d) and WAU (d-6..d) on a few days, and the accounts' MAU.
days = [last - datetime.timedelta(days=k) for k in (0, 1, 45, 200)]
out["mau"], out["wau"], out["account_mau"] = {}, {}, {}
for d in days:
    q = "select count(distinct {a}) from ev where type = 'track' and cast(timestamp as date) between ?::date - {n} and ?::date"
    out["mau"][str(d)] = con.execute(q.format(a="actor", n=29), [d, d]).fetchone()[0]
    out["wau"][str(d)] = con.execute(q.format(a="actor", n=6), [d, d]).fetchone()[0]
    out["account_mau"][str(d)] = con.execute(q.format(a="group_id", n=29), [d, d]).fetchone()[0]

# Sessions: all events of a user; a new one where the gap is > 1800 s.
# Events at the same microsecond: only the first in lag()'s order can break, and the running
# sum must see that one first (order by t, brk desc), or DuckDB's order among ties can glue a
# later session onto an earlier one (a flaky > 24 h session).
s = con.execute("""
with g as (
  select actor, epoch_us(timestamp) as t,
         case when epoch_us(timestamp) - lag(epoch_us(timestamp)) over w > 1800 * 1000000 then 1 else 0 end as brk
  from ev window w as (partition by actor order by timestamp)
), s as (
  select actor, t, sum(brk) over (partition by actor order by t, brk desc rows unbounded preceding) as sid from g
), ss as (
  select actor, sid, max(t) - min(t) as dur, count(*) as n from s group by 1, 2
)
select count(*), sum(dur), sum(case when n = 1 then 1 else 0 end), max(dur) from ss
""").fetchone()
out["session_count"], out["session_total_us"], out["single_event_sessions"], out["max_session_us"] = [int(x) for x in s]

# Weekly first-time retention over whole Monday weeks covering the data.
start = first - datetime.timedelta(days=first.weekday())
end = last + datetime.timedelta(days=7 - last.weekday())
out["from"], out["to"] = str(start), str(end)
weeks = (end - start).days // 7
idx = lambda d: (d - start).days // 7
def pct(f):
    # half away from zero to 2 decimals, exactly
    x = f * 100 * 100
    n = int(x) + (1 if x - int(x) >= Fraction(1, 2) else 0)
    return n / 100
def retention(col):
    cohort = dict(con.execute(f"select {col}, cast(date_trunc('week', min(cast(timestamp as date))) as date) from ev where type = 'track' and {col} is not null group by 1").fetchall())
    returns = con.execute(f"select distinct {col}, cast(date_trunc('week', cast(timestamp as date)) as date) from ev where type = 'track' and {col} is not null").fetchall()
    table = [[0] * (weeks - i) for i in range(weeks)]
    for a, w in cohort.items():
        table[idx(w)][0] += 1
    for a, w in returns:
        i, j = idx(cohort[a]), idx(w)
        if j > i:
            table[i][j - i] += 1
    r = {"retained": table, "weighted": [], "simple": []}
    r["retained_pct"] = [[None if row[0] == 0 else pct(Fraction(c, row[0])) for c in row] for row in table]
    for k in range(weeks):
        rows = [row for row in table if row[0] > 0 and len(row) > k]
        r["weighted"].append(pct(Fraction(sum(row[k] for row in rows), sum(row[0] for row in rows))) if rows else None)
        r["simple"].append(pct(sum(Fraction(row[k], row[0]) for row in rows) / len(rows)) if rows else None)
    return r
out["retention_user"] = retention("actor")
out["retention_account"] = retention("group_id")

# Monthly lifecycle for 2025: created = identify traits' created_at, else the first event.
con.execute("SET TimeZone = 'UTC'")
created = dict(con.execute("select actor, min(timestamp) from ev group by 1").fetchall())
for a, c in con.execute("select actor, min(cast(json_extract_string(traits, '$.created_at') as timestamptz)) from ev where type = 'identify' group by 1").fetchall():
    if c is not None:
        created[a] = c
month = lambda d: (d.year, d.month)
created = {a: month(c) for a, c in created.items()}
active = {}
for a, m in con.execute("select distinct actor, cast(date_trunc('month', cast(timestamp as date)) as date) from ev where type = 'track'").fetchall():
    active.setdefault(month(m), set()).add(a)
out["lifecycle_2025"] = []
for mo in range(1, 13):
    cur, prev = active.get((2025, mo), set()), active.get((2025, mo - 1) if mo > 1 else (2024, 12), set())
    new = {a for a in cur if created[a] == (2025, mo)}
    ret = {a for a in cur - new if a in prev}
    out["lifecycle_2025"].append({"date": f"2025-{mo:02d}-01", "new": len(new), "returning": len(ret),
        "resurrecting": len(cur - new - ret), "dormant": len(prev - cur)})
print(json.dumps(out))
"#;

fn tenure_json(ws: &Ws, args: &[&str]) -> Value {
    ws.json(args)
}

#[test]
fn engagement_metrics_match_duckdb_on_the_demo_events() {
    let ws = Ws::uninitialised();
    ws.ok(&["demo", "--customers", "80", "--events", "30000"]);
    let out = Command::new("python3")
        .args(["-c", ORACLE, ws.data().to_str().unwrap()])
        .output()
        .expect("python3 runs (./scripts/test installs duckdb)");
    assert!(out.status.success(), "duckdb oracle failed: {}", String::from_utf8_lossy(&out.stderr));
    let duck: Value = serde_json::from_slice(&out.stdout).unwrap();

    // DAU for every day, in UTC and in New York (DST days are 23 and 25 hours long there).
    for (tz, key) in [("UTC", "dau_utc"), ("America/New_York", "dau_new_york")] {
        let e = tenure_json(&ws, &["metrics", "engagement", "--timezone", tz, "--json"]);
        let expected = duck[key].as_object().unwrap();
        let days = e["days"].as_array().unwrap();
        let mut nonzero = 0;
        for d in days {
            let date = d["date"].as_str().unwrap();
            let want = expected.get(date).and_then(|v| v.as_u64()).unwrap_or(0);
            assert_eq!(d["dau"].as_u64().unwrap(), want, "DAU on {date} in {tz}");
            nonzero += (want > 0) as usize;
        }
        assert_eq!(nonzero, expected.len(), "every day DuckDB has is in tenure's range ({tz})");
        assert!(nonzero > 300, "the demo has a year or more of activity");
    }

    // Rolling WAU/MAU on single days (--as-of), per user and per account.
    for (day, mau) in duck["mau"].as_object().unwrap() {
        let e = tenure_json(&ws, &["metrics", "engagement", "--as-of", day, "--timezone", "UTC", "--json"]);
        let d = &e["days"][0];
        assert_eq!(&d["mau"], mau, "MAU on {day}");
        assert_eq!(d["wau"], duck["wau"][day], "WAU on {day}");
        let a = tenure_json(
            &ws,
            &["metrics", "engagement", "--as-of", day, "--by", "account", "--timezone", "UTC", "--json"],
        );
        assert_eq!(a["days"][0]["mau"], duck["account_mau"][day], "account MAU on {day}");
    }

    // Sessions with the 30-minute rule (no demo session reaches the 24-hour cap,
    // so SQL without the cap is the same definition here).
    assert!(duck["max_session_us"].as_i64().unwrap() <= 86_400 * 1_000_000);
    let s = tenure_json(&ws, &["metrics", "sessions", "--timezone", "UTC", "--json"]);
    assert_eq!(s["session_count"], duck["session_count"]);
    assert_eq!(s["single_event_sessions"], duck["single_event_sessions"]);
    let total_us = duck["session_total_us"].as_i64().unwrap();
    assert_eq!(total_us % 1_000_000, 0, "demo timestamps are whole seconds");
    assert_eq!(s["total_time_seconds"].as_i64().unwrap(), total_us / 1_000_000);
    assert!(s["session_count"].as_u64().unwrap() > 1000);
    // The totals stream file by file (state per user); --breakdown builds the
    // events table: both give the same totals, over all days and over a range
    // whose local days cut through the UTC-day files (New York).
    for extra in [&[][..], &["--from", "2025-03-01", "--to", "2025-04-15", "--timeout", "600"][..]] {
        for tz in ["UTC", "America/New_York"] {
            let args = [&["metrics", "sessions", "--timezone", tz, "--json"][..], extra].concat();
            let streamed = tenure_json(&ws, &args);
            let table = tenure_json(&ws, &[&args[..], &["--breakdown"]].concat());
            assert!(streamed.get("by_day").is_none() && table.get("by_day").is_some());
            for key in [
                "session_count",
                "single_event_sessions",
                "total_time_seconds",
                "average_session_duration_seconds",
                "from",
                "to",
            ] {
                assert_eq!(streamed[key], table[key], "{key} {tz} {extra:?}");
            }
            assert!(streamed["session_count"].as_u64().unwrap() > 100, "{tz} {extra:?}");
        }
    }

    // Weekly first-time retention over whole Monday weeks, per user and per account.
    let (from, to) = (duck["from"].as_str().unwrap(), duck["to"].as_str().unwrap());
    for by in ["user", "account"] {
        let d = &duck[format!("retention_{by}").as_str()];
        let r = tenure_json(
            &ws,
            &[
                "metrics",
                "retention",
                "--period",
                "week",
                "--from",
                from,
                "--to",
                to,
                "--by",
                by,
                "--timezone",
                "UTC",
                "--json",
            ],
        );
        let cohorts = r["cohorts"].as_array().unwrap();
        let retained = d["retained"].as_array().unwrap();
        assert_eq!(cohorts.len(), retained.len());
        for (i, c) in cohorts.iter().enumerate() {
            assert_eq!(c["retained"], retained[i], "{by}: retained of cohort {i} ({})", c["cohort_date"]);
            assert_eq!(c["cohort_size"], retained[i][0]);
            assert_eq!(c["retained_pct"], d["retained_pct"][i], "{by}: retained_pct of cohort {i}");
            assert_eq!(c["cohort_users"].as_array().unwrap().len() as u64, c["cohort_size"].as_u64().unwrap());
        }
        assert_eq!(cohorts[0]["cohort_date"].as_str().unwrap(), from);
        assert_eq!(r["mean_retained_pct_weighted"], d["weighted"], "{by}");
        assert_eq!(r["mean_retained_pct_simple"], d["simple"], "{by}");
        let sizes: u64 = cohorts.iter().map(|c| c["cohort_size"].as_u64().unwrap()).sum();
        assert!(sizes >= 50, "the demo's {by}s form cohorts ({sizes})");
    }

    // Monthly lifecycle over 2025.
    let l = tenure_json(
        &ws,
        &[
            "metrics",
            "lifecycle",
            "--period",
            "month",
            "--from",
            "2025-01-01",
            "--to",
            "2026-01-01",
            "--timezone",
            "UTC",
            "--json",
        ],
    );
    assert_eq!(l["intervals"], duck["lifecycle_2025"]);

    // --csv prints the same rows as --json (DAU per day; the retention table
    // with one column per period), and the format flag may come first.
    let csv = ws.ok(&["metrics", "--csv", "engagement", "--timezone", "UTC"]);
    let mut lines = csv.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(&head[..4], ["date", "dau", "wau", "mau"]);
    let e = tenure_json(&ws, &["metrics", "engagement", "--timezone", "UTC", "--json"]);
    let days = e["days"].as_array().unwrap();
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), days.len());
    for (row, d) in rows.iter().zip(days) {
        let cells: Vec<&str> = row.split(',').collect();
        assert_eq!((cells[0], cells[1]), (d["date"].as_str().unwrap(), d["dau"].to_string().as_str()));
    }
    let r = tenure_json(&ws, &["metrics", "retention", "--timezone", "UTC", "--json"]);
    let csv = ws.ok(&["metrics", "retention", "--timezone", "UTC", "--csv"]);
    let head = csv.lines().next().unwrap();
    assert!(head.contains("cohort_size") && head.contains("retained_pct_0"), "{head}");
    assert_eq!(csv.lines().count(), 1 + r["cohorts"].as_array().unwrap().len());
}

#[test]
fn engagement_arguments_are_checked_with_clear_errors() {
    let ws = Ws::new();
    let err = ws.fails(&["metrics", "engagement", "--timezone", "Mars/Olympus"]);
    assert!(err.contains("not an IANA time zone"), "{err}");
    let err = ws.fails(&["metrics", "retention", "--from", "2025-02-01", "--to", "2025-01-01"]);
    assert!(err.contains("must be after --from"), "{err}");
    // An empty workspace: no days, no sessions (null mean), no cohorts.
    let s: Value = serde_json::from_str(&ws.ok(&["metrics", "sessions", "--json"])).unwrap();
    assert_eq!((s["session_count"].as_u64(), &s["average_session_duration_seconds"]), (Some(0), &Value::Null));
    let r: Value =
        serde_json::from_str(&ws.ok(&["metrics", "retention", "--from", "2025-01-06", "--to", "2025-01-20", "--json"]))
            .unwrap();
    assert_eq!(r["cohorts"][1]["cohort_size"], 0);
    assert_eq!(r["cohorts"][1]["retained_pct"], serde_json::json!([null]));
    assert_eq!(r["mean_retained_pct_weighted"], serde_json::json!([null, null]));
}

/// `--segment ATTR` on hand-made events: each segment's figures come from the
/// events of its accounts (groupId), over the same days, in the same shape.
#[test]
fn segments_cut_engagement_by_the_account_attribute() {
    let ws = Ws::new();
    let customers = ws.file("customers.csv", "id,plan_tier\nacme,pro\nbeta,basic\n");
    ws.ok(&["import", "customers", &customers]);
    // u3 is active in both accounts on 05-07; u4 has no account.
    let events = ws.file(
        "events.csv",
        "messageId,type,userId,event,timestamp,groupId\n\
         m1,track,u1,login,2024-05-06T10:00:00Z,acme\n\
         m2,track,u1,login,2024-05-07T10:00:00Z,acme\n\
         m3,track,u2,login,2024-05-06T11:00:00Z,beta\n\
         m4,track,u3,login,2024-05-07T09:00:00Z,acme\n\
         m5,track,u3,login,2024-05-07T09:10:00Z,beta\n\
         m6,track,u4,login,2024-05-07T12:00:00Z,\n",
    );
    ws.ok(&["import", "events", &events]);
    let range = ["--from", "2024-05-06", "--to", "2024-05-08", "--timezone", "UTC", "--segment", "plan_tier", "--json"];
    let run = |cmd: &str, extra: &[&str]| {
        let mut args = vec!["metrics", cmd];
        args.extend(range);
        args.extend(extra);
        tenure_json(&ws, &args)
    };
    let e = run("engagement", &[]);
    assert_eq!(e["segment_attribute"], "plan_tier");
    let dau = |v: &Value| v["days"].as_array().unwrap().iter().map(|d| d["dau"].as_u64().unwrap()).collect::<Vec<_>>();
    let seg = |doc: &Value, name: &str| {
        doc["segments"].as_array().unwrap().iter().find(|s| s["segment"] == name).cloned().unwrap_or(Value::Null)
    };
    // Overall: 05-06 u1, u2 = 2; 05-07 u1, u3, u4 = 3.
    assert_eq!(dau(&e), [2, 3]);
    // pro (acme): 05-06 u1; 05-07 u1, u3. basic (beta): u2; u3. (none): -; u4.
    assert_eq!(dau(&seg(&e, "pro")), [1, 2]);
    assert_eq!(dau(&seg(&e, "basic")), [1, 1]);
    assert_eq!(dau(&seg(&e, "(none)")), [0, 1]);
    // basic's WAU on 05-07: u2 (05-06) and u3 = 2; MAU the same; ratio 1/2.
    let basic_07 = &seg(&e, "basic")["days"][1];
    assert_eq!((basic_07["wau"].as_u64(), basic_07["dau_mau_ratio"].as_f64()), (Some(2), Some(0.5)));
    // u3 counts in both segments: the segments' DAU (2 + 1 + 1 = 4) exceed the overall 3.
    // By account: acme and beta each active on both days; (none) has no account actor.
    let by_account = run("engagement", &["--by", "account"]);
    assert_eq!(dau(&seg(&by_account, "pro")), [1, 1]);
    assert_eq!(dau(&seg(&by_account, "(none)")), [0, 0]);

    // Sessions (timeout 1800 s): overall u3's 09:00 and 09:10 are one 600 s session
    // (u1 2, u2 1, u3 1, u4 1 = 5 sessions, 600 s in all); per segment u3's events are
    // apart: pro u1 2 + u3 1 = 3 single-event sessions of 0 s.
    let s = run("sessions", &[]);
    assert_eq!((s["session_count"].as_u64(), s["total_time_seconds"].as_f64()), (Some(5), Some(600.0)));
    let pro = seg(&s, "pro");
    assert_eq!((pro["session_count"].as_u64(), pro["single_event_sessions"].as_u64()), (Some(3), Some(3)));

    // Stickiness, retention, lifecycle and adoption carry the same keys per segment.
    for (cmd, key) in [("stickiness", "actors"), ("retention", "cohorts"), ("lifecycle", "intervals")] {
        let doc = run(cmd, &[]);
        for s in doc["segments"].as_array().unwrap() {
            assert!(s[key].is_array(), "{cmd} segment {} lacks {key}: {doc}", s["segment"]);
        }
    }
    // Stickiness by day: pro has u1 on 2 days, u3 on 1 -> actors [1, 1].
    assert_eq!(seg(&run("stickiness", &[]), "pro")["actors"], serde_json::json!([1, 1]));
    let adoption = tenure_json(
        &ws,
        &["metrics", "adoption", "--from", "2024-05-06", "--to", "2024-05-08", "--segment", "plan_tier", "--json"],
    );
    assert_eq!(seg(&adoption, "pro")["active_accounts"], 1);
    assert_eq!(adoption["active_accounts"], 2);
    // The table form prints one block per segment.
    let text =
        ws.ok(&["metrics", "engagement", "--from", "2024-05-06", "--to", "2024-05-08", "--segment", "plan_tier"]);
    assert!(text.contains("Segment plan_tier = pro") && text.contains("Segment plan_tier = basic"), "{text}");
}
