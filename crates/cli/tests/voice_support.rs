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
