//! An independent oracle for the survey and support metrics: DuckDB (Python)
//! computes NPS and the support ratios straight from the workspace's Parquet
//! files with SQL, and `tenure metrics ... --json` must give the same numbers.

mod common;

use std::process::Command;

use common::Ws;
use serde_json::Value;

const ORACLE: &str = r#"
import duckdb, json, sys
from decimal import Decimal, ROUND_HALF_UP
root, frm, to = sys.argv[1], sys.argv[2], sys.argv[3]
manifest = json.load(open(root + "/manifest.json"))
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
def files(t):
    return [root + "/" + f["path"] for f in manifest["tables"][t]["files"]]
def r2(x):
    return None if x is None else float(Decimal(str(x)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
def pct(a, b):
    return None if b == 0 else float((Decimal(a) * 100 / Decimal(b)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
out = {}
con.execute(f"create view s as select * from read_parquet({files('survey_responses')!r})")
n, p, pa, d, skipped, rejected = con.execute("""
  select
    coalesce(sum(count) filter (where score is not null and rejected_reason is null), 0),
    coalesce(sum(count) filter (where score >= 9 and rejected_reason is null), 0),
    coalesce(sum(count) filter (where score in (7, 8) and rejected_reason is null), 0),
    coalesce(sum(count) filter (where score <= 6 and rejected_reason is null), 0),
    coalesce(sum(count) filter (where score is null and submitted_at is not null), 0),
    coalesce(sum(count) filter (where score is not null and rejected_reason is not null), 0)
  from s where survey_type = 'nps'""").fetchone()
nps = pct(p - d, n)
import math
pf, df = p / n, d / n
se = 100 * math.sqrt(((pf + df) - (pf - df) ** 2) / n)
out["nps"] = dict(n=int(n), promoters=int(p), passives=int(pa), detractors=int(d), nps=nps,
                  skipped=int(skipped), rejected=int(rejected), standard_error=r2(se), low_sample=bool(n < 30))
cn, cs, csum, cskip, crej, sent, answered = con.execute("""
  select
    coalesce(sum(count) filter (where score is not null and rejected_reason is null), 0),
    coalesce(sum(count) filter (where score >= scale_max - 1 and rejected_reason is null), 0),
    coalesce(sum(score * count) filter (where score is not null and rejected_reason is null), 0)::bigint,
    coalesce(sum(count) filter (where score is null and submitted_at is not null), 0),
    coalesce(sum(count) filter (where score is not null and rejected_reason is not null), 0),
    coalesce(sum(count) filter (where sent_at is not null), 0),
    coalesce(sum(count) filter (where sent_at is not null and submitted_at is not null), 0)
  from s where survey_type = 'csat' and scale_min = 1 and scale_max = 5""").fetchone()
out["csat"] = dict(n=int(cn), satisfied=int(cs), csat_pct=pct(cs, cn), skipped=int(cskip), rejected=int(crej),
                   average=float((Decimal(csum) / Decimal(cn)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)),
                   response_rate_pct=pct(answered, sent))
en, agree, dis, neu = con.execute("""select
    sum(count) filter (where score is not null and rejected_reason is null),
    coalesce(sum(count) filter (where score >= 5 and rejected_reason is null), 0),
    coalesce(sum(count) filter (where score <= 3 and rejected_reason is null), 0),
    coalesce(sum(count) filter (where score = 4 and rejected_reason is null), 0)
  from s where survey_type = 'ces' and ces_variant = 'ces2_agreement_1_7'""").fetchone()
out["ces"] = dict(n=int(en), agree_pct=pct(agree, en), disagree_pct=pct(dis, en), neutral_count=int(neu),
                  direction="higher_is_better")
out["nps_rejected_sql"] = con.execute("select count(*) from s where rejected_reason is not null").fetchone()[0]

def support(where):
    con.execute(f"""create or replace view t as select *,
        coalesce(customer_replies, 0) as cr, coalesce(reopens, 0) as ro, coalesce(replies, 0) as rp,
        status in ('solved', 'closed') as resolved,
        floor((epoch_us(first_reply_at) - epoch_us(created_at)) / 1000000)::bigint as frt,
        floor((epoch_us(first_reply_at) - epoch_us(coalesce(bot_handoff_at, created_at))) / 1000000)::bigint as frt_h
      from read_parquet({files('tickets')!r}) where {where}""")
    resolved = con.execute("select count(*) from t where resolved").fetchone()[0]
    ids = lambda cond: sorted(r[0] for r in con.execute(f"select id from t where resolved and {cond}").fetchall())
    strict, fresh, reop, one = ids("cr = 0 and ro = 0"), ids("cr = 0"), ids("ro > 0"), ids("rp = 1")
    replied, unreplied, mean, med, p90, med_h = con.execute("""select count(frt), count(*) - count(frt),
        avg(frt), median(frt), quantile_cont(frt, 0.9), median(frt_h) from t""").fetchone()
    mean_exact = con.execute("select sum(frt)::hugeint, count(frt) from t").fetchone()
    sat_sum, sat_n = con.execute("select sum(satisfaction::bigint), count(satisfaction) from t").fetchone()
    return dict(resolved_tickets=resolved,
                fcr_strict_rate_pct=pct(len(strict), resolved), fcr_strict_tickets=strict,
                fcr_freshservice_rate_pct=pct(len(fresh), resolved), fcr_freshservice_tickets=fresh,
                reopen_rate_pct=pct(len(reop), resolved), reopened_tickets=reop,
                one_touch_rate_pct=pct(len(one), resolved), one_touch_tickets=one,
                replied_count=replied, unreplied_count=unreplied,
                frt_from_creation_mean_seconds=None if mean_exact[1] == 0 else float((Decimal(mean_exact[0]) / Decimal(mean_exact[1])).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)),
                frt_from_creation_median_seconds=r2(med),
                frt_from_creation_p90_seconds=r2(p90),
                frt_from_handoff_median_seconds=r2(med_h),
                satisfaction_rated=sat_n,
                satisfaction_average=None if sat_n == 0 else float((Decimal(sat_sum) / Decimal(sat_n)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)))
out["support"] = support("true")
out["support_period"] = support(f"created_at >= TIMESTAMPTZ '{frm} 00:00:00+00' and created_at < TIMESTAMPTZ '{to} 00:00:00+00'")
print(json.dumps(out))
"#;

fn metrics_json(ws: &Ws, args: &[&str]) -> Value {
    let mut all = vec!["metrics"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = ws.ok(&all);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("bad json {e}: {out}"))
}

fn sorted(v: &Value) -> Vec<String> {
    let mut ids: Vec<String> = v.as_array().expect("id list").iter().map(|x| x.as_str().unwrap().to_string()).collect();
    ids.sort();
    ids
}

fn compare(got: &Value, want: &Value, what: &str) {
    for (k, w) in want.as_object().unwrap() {
        let g = &got[k];
        if k.ends_with("_tickets") && w.is_array() {
            assert_eq!(sorted(g), sorted(w), "{what}.{k}");
        } else if let (Some(a), Some(b)) = (g.as_f64(), w.as_f64()) {
            assert_eq!(a, b, "{what}.{k}");
        } else {
            assert_eq!(g, w, "{what}.{k}");
        }
    }
}

#[test]
fn duckdb_oracle_agrees_on_nps_and_support() {
    let ws = Ws::uninitialised();
    ws.ok(&["demo", "--customers", "80", "--events", "20000"]);
    let (from, to) = ("2026-01-01", "2026-07-01");
    let out = Command::new("python3")
        .args(["-c", ORACLE, ws.data().to_str().unwrap(), from, to])
        .output()
        .expect("python3 runs (./scripts/test installs duckdb)");
    assert!(out.status.success(), "duckdb oracle failed: {}", String::from_utf8_lossy(&out.stderr));
    let duck: Value = serde_json::from_slice(&out.stdout).unwrap();

    let nps = metrics_json(&ws, &["nps"]);
    compare(&nps["overall"], &duck["nps"], "nps");
    assert!(duck["nps"]["n"].as_u64().unwrap() > 30, "the demo should have NPS answers: {duck}");
    // The per-survey n add up to the overall n.
    let sum: u64 = nps["surveys"].as_array().unwrap().iter().map(|s| s["n"].as_u64().unwrap()).sum();
    assert_eq!(sum, duck["nps"]["n"].as_u64().unwrap());

    // The demo has one CSAT survey, on 1-5, and one CES 2.0 survey.
    let csat = metrics_json(&ws, &["csat"]);
    compare(&csat["overall"], &duck["csat"], "csat");
    assert!(duck["csat"]["n"].as_u64().unwrap() > 0);
    let ces = metrics_json(&ws, &["ces"]);
    assert_eq!(ces["overall"].as_array().unwrap().len(), 1, "{ces}");
    compare(&ces["overall"][0], &duck["ces"], "ces");

    let support = metrics_json(&ws, &["support"]);
    compare(&support["overall"], &duck["support"], "support");
    assert!(duck["support"]["resolved_tickets"].as_u64().unwrap() > 50);
    // Strict FCR is a subset of Freshservice FCR.
    let strict = sorted(&support["overall"]["fcr_strict_tickets"]);
    let fresh = sorted(&support["overall"]["fcr_freshservice_tickets"]);
    assert!(strict.iter().all(|t| fresh.contains(t)));

    // The workspace time zone is UTC, so the period's ends are UTC midnights.
    let period = metrics_json(&ws, &["support", "--from", from, "--to", to]);
    compare(&period["overall"], &duck["support_period"], "support (period)");
}

#[test]
fn tables_and_segments_print() {
    let ws = Ws::uninitialised();
    ws.ok(&["demo", "--customers", "30", "--events", "3000", "--seed", "5"]);
    for cmd in [
        &["metrics", "nps", "--segment", "segment", "--themes"][..],
        &["metrics", "csat", "--from", "2025-01-01", "--to", "2027-01-01"],
        &["metrics", "ces"],
        &["metrics", "support", "--segment", "plan_tier", "--list"],
    ] {
        let out = ws.ok(cmd);
        assert!(out.lines().count() > 3, "{cmd:?}: {out}");
    }
    // Segments partition the overall figures.
    let nps = metrics_json(&ws, &["nps", "--segment", "segment"]);
    let seg_n: u64 = nps["segments"].as_array().unwrap().iter().map(|s| s["n"].as_u64().unwrap()).sum();
    assert_eq!(seg_n, nps["overall"]["n"].as_u64().unwrap());
    let err = ws.fails(&["metrics", "nps", "--from", "2026-02-01", "--to", "2026-01-01"]);
    assert!(err.contains("must be after"), "{err}");
    let err = ws.fails(&["metrics", "nps", "--survey", "nope"]);
    assert!(err.contains("no survey"), "{err}");
}

/// Business hours in Europe/Paris across the spring DST change and a holiday,
/// SLA targets, and the same document per segment. All figures by hand.
#[test]
fn business_hours_sla_targets_and_segments() {
    let ws = Ws::new();
    // The workspace reports in UTC; the support team works Mon-Fri 09:00-17:00 in Paris,
    // closed on Easter Monday 2024-04-01. Paris moves to CEST on Sunday 2024-03-31.
    std::fs::write(
        ws.data().join("tenure.toml"),
        "[support]\ntimezone = \"Europe/Paris\"\nhours = \"09:00-17:00\"\nholidays = [\"2024-04-01\"]\n",
    )
    .unwrap();
    let customers = ws.file("customers.csv", "id,plan_tier\na,pro\nb,basic\n");
    ws.ok(&["import", "customers", &customers]);
    // t1: Fri 16:00 CET -> reply Tue 10:00 CEST, solved Tue 15:00 CEST.
    // t2: Tue 08:00 CEST (before opening) -> reply 09:30 CEST, open.
    // t3: Wed 16:00 CEST, no reply, open.
    let tickets = ws.file(
        "tickets.csv",
        "id,customer_id,created_at,first_reply_at,solved_at,status\n\
         t1,a,2024-03-29T15:00:00Z,2024-04-02T08:00:00Z,2024-04-02T13:00:00Z,solved\n\
         t2,a,2024-04-02T06:00:00Z,2024-04-02T07:30:00Z,,open\n\
         t3,b,2024-04-03T14:00:00Z,,,open\n",
    );
    ws.ok(&["import", "tickets", &tickets]);
    let args = ["support", "--from", "2024-03-25", "--to", "2024-04-04", "--first-response-target", "1h"];
    let mut with_bh = args.to_vec();
    with_bh.extend(["--business-hours", "--resolution-target", "8h", "--segment", "plan_tier"]);
    let doc = metrics_json(&ws, &with_bh);
    let o = &doc["overall"];
    // Calendar: t1 2024-03-29T15:00Z -> 04-02T08:00Z = 3 d 17 h = 320400 s; t2 1.5 h = 5400 s.
    assert_eq!(o["frt_from_creation_seconds"], serde_json::json!({"t1": 320_400, "t2": 5400}));
    // Business: t1 Fri 16-17 (1 h) + weekend and Easter Monday closed + Tue 09-10 CEST (1 h)
    // = 7200 s; t2 counts from the 09:00 opening: 1800 s. Mean and median (7200 + 1800)/2 = 4500.
    let bh = &o["business_hours"];
    assert_eq!(bh["frt_from_creation_seconds"], serde_json::json!({"t1": 7200, "t2": 1800}));
    assert_eq!(bh["frt_from_creation_mean_seconds"].as_f64(), Some(4500.0));
    assert_eq!(bh["frt_from_creation_median_seconds"].as_f64(), Some(4500.0));
    // Resolution of t1: 1 h Friday + Tue 09:00-15:00 (6 h) = 25200 s (calendar 94 h = 338400 s).
    assert_eq!(bh["time_to_resolution_seconds"]["t1"], 25_200);
    assert_eq!(o["time_to_resolution_seconds"]["t1"], 338_400);
    // Targets evaluated at --to = 2024-04-04T00:00Z (Thu 02:00 CEST), in business time.
    // First reply, 1 h: t1 7200 breached; t2 1800 achieved; t3 has waited Wed 16-17 = 3600 s,
    // exactly the target: pending. Breach rate 1 / 2 = 50 %.
    let sla = &o["sla"];
    assert_eq!(sla["clock"], "business");
    assert_eq!(sla["as_of"], "2024-04-04T00:00:00Z");
    assert_eq!(sla["first_response_breached_tickets"], serde_json::json!(["t1"]));
    assert_eq!(
        (sla["first_response_achieved_count"].as_u64(), sla["first_response_pending_count"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(sla["first_response_breach_rate_pct"].as_f64(), Some(50.0));
    // Resolution, 8 h: t1 25200 achieved; t2 open since Tue 09:00: Tue 8 h + Wed 8 h = 16 h
    // breached; t3 1 h pending. 1 / 2 = 50 %.
    assert_eq!(sla["resolution_breached_tickets"], serde_json::json!(["t2"]));
    assert_eq!(sla["resolution_breach_rate_pct"].as_f64(), Some(50.0));
    assert_eq!(doc["schedule"]["timezone"], "Europe/Paris");
    assert_eq!(doc["schedule"]["holidays"], serde_json::json!(["2024-04-01"]));

    // Per segment, the same shape: pro = {t1, t2}, basic = {t3} (no reply: null means).
    let seg = |name: &str| doc["segments"].as_array().unwrap().iter().find(|s| s["segment"] == name).unwrap().clone();
    assert_eq!(seg("pro")["business_hours"]["frt_from_creation_mean_seconds"].as_f64(), Some(4500.0));
    assert_eq!(seg("basic")["business_hours"]["frt_from_creation_mean_seconds"], Value::Null);
    assert_eq!(seg("basic")["sla"]["first_response_pending_count"], 1);

    // Calendar clock: t1 320400 and t2 5400 exceed 1 h; t3 has waited Wed 14:00Z -> Thu 00:00Z
    // = 10 h: all 3 breached, 100 %; no business figures.
    let cal = metrics_json(&ws, &args);
    assert_eq!(cal["overall"]["sla"]["clock"], "calendar");
    assert_eq!(cal["overall"]["sla"]["first_response_breached_count"], 3);
    assert_eq!(cal["overall"]["sla"]["first_response_breach_rate_pct"].as_f64(), Some(100.0));
    assert_eq!(cal["overall"]["business_hours"], Value::Null);
    // Tables print the business rows and the slow ticket list.
    let mut table = vec!["metrics"];
    table.extend(&with_bh);
    table.push("--list");
    let out = ws.ok(&table);
    assert!(out.contains("business FRT from creation mean s") && out.contains("slow first replies (1): t1"), "{out}");

    // Mistakes in [support] and in the flags name what is wrong.
    let e = ws.fails(&["metrics", "support", "--first-response-target", "soon"]);
    assert!(e.contains("--first-response-target"), "{e}");
    std::fs::write(ws.data().join("tenure.toml"), "[support]\nhours = \"22:00-06:00\"\n").unwrap();
    let e = ws.fails(&["metrics", "support"]);
    assert!(e.contains("tenure.toml") && e.contains("support.hours") && e.contains("midnight"), "{e}");
}

/// Feedback themes from `[feedback.themes]` replace the defaults (or extend
/// them), and are counted per segment, in `nps --themes` and `tenure feedback`.
#[test]
fn configured_feedback_themes_per_segment() {
    let ws = Ws::new();
    let config = "[feedback.themes]\npricing = [\"price\", \"expensive\"]\nmobile = [\"ios\", \"android\"]\n";
    std::fs::write(ws.data().join("tenure.toml"), config).unwrap();
    let customers = ws.file("customers.csv", "id,plan_tier\na,pro\nb,basic\n");
    ws.ok(&["import", "customers", &customers]);
    let answers = ws.file(
        "answers.csv",
        "id,survey_id,survey_type,customer_id,submitted_at,score,comment\n\
         r1,s,nps,a,2024-05-01T10:00:00Z,10,Love the iOS app\n\
         r2,s,nps,a,2024-05-02T10:00:00Z,3,Too expensive for us\n\
         r3,s,nps,b,2024-05-03T10:00:00Z,6,Android app crashes\n\
         r4,s,nps,b,2024-05-04T10:00:00Z,9,Great value\n",
    );
    ws.ok(&["import", "survey_responses", &answers]);
    let nps = metrics_json(&ws, &["nps", "--themes", "--segment", "plan_tier"]);
    let theme = |v: &Value, name: &str| v["themes"].as_array().unwrap().iter().find(|t| t["theme"] == name).cloned();
    // Only the configured themes (name order): "crashes" is no longer a bug.
    let names: Vec<&str> = nps["themes"].as_array().unwrap().iter().map(|t| t["theme"].as_str().unwrap()).collect();
    assert_eq!(names, ["mobile", "pricing"]);
    // 4 comments; mobile r1 (promoter, 10) and r3 (detractor, 6) = 2 = 50 %; pricing r2 = 25 %.
    assert_eq!(nps["comments"], 4);
    let mobile = theme(&nps, "mobile").unwrap();
    assert_eq!((mobile["comments"].as_u64(), mobile["comments_pct"].as_f64()), (Some(2), Some(50.0)));
    assert_eq!(mobile["by_group"], serde_json::json!({"promoter": 1, "detractor": 1}));
    assert_eq!(theme(&nps, "pricing").unwrap()["comments_pct"].as_f64(), Some(25.0));
    // Per segment: pro = r1, r2 (mobile 1, pricing 1); basic = r3, r4 (mobile 1, pricing 0).
    let seg = |doc: &Value, name: &str| {
        doc["segments"].as_array().unwrap().iter().find(|s| s["segment"] == name).cloned().unwrap()
    };
    assert_eq!(theme(&seg(&nps, "pro"), "pricing").unwrap()["comments"], 1);
    assert_eq!(theme(&seg(&nps, "basic"), "pricing").unwrap()["comments"], 0);
    assert_eq!(theme(&seg(&nps, "basic"), "mobile").unwrap()["comments_pct"].as_f64(), Some(50.0));

    // tenure feedback: the same rules, per segment, and --theme checks against them.
    let fb = ws.json(&["feedback", "--segment", "plan_tier", "--json"]);
    assert_eq!(fb["theme_comments"], 4);
    assert_eq!(theme(&seg(&fb, "pro"), "mobile").unwrap()["comments"], 1);
    let mobile = ws.json(&["feedback", "--theme", "mobile", "--json"]);
    assert_eq!(mobile["matched"], 2);
    let e = ws.fails(&["feedback", "--theme", "bugs"]);
    assert!(e.contains("unknown theme") && e.contains("mobile, pricing"), "{e}");
    let text = ws.ok(&["feedback", "--segment", "plan_tier"]);
    assert!(text.contains("Comments per theme and plan_tier"), "{text}");

    // keep_default_themes: the 7 defaults with pricing replaced, plus mobile; "crashes" is a bug again.
    std::fs::write(ws.data().join("tenure.toml"), format!("[feedback]\nkeep_default_themes = true\n{config}")).unwrap();
    let nps = metrics_json(&ws, &["nps", "--themes"]);
    assert_eq!(nps["themes"].as_array().unwrap().len(), 8);
    assert_eq!(theme(&nps, "bugs").unwrap()["comments"], 1);
    // A theme without keywords is a settings error naming it.
    std::fs::write(ws.data().join("tenure.toml"), "[feedback.themes]\nempty = []\n").unwrap();
    let e = ws.fails(&["feedback"]);
    assert!(e.contains("feedback.themes") && e.contains("empty"), "{e}");
}
