//! The independent oracle of issue 4: `scripts/oracle/revenue.py` computes,
//! with DuckDB SQL over the raw Parquet files the manifest names and from the
//! SPEC 2.1 definitions alone (default settings), every month's MRR,
//! subscribers, active subscriptions, past-due subscribers, the five MRR
//! movements, their customer counts, net new MRR and FX impact. `tenure
//! metrics revenue --json` must agree to the cent (two decimals) on demo data
//! that has discounts (forever, repeating, once), trials, seat changes,
//! past-due, cancels with `ends_at`, reactivations, same-day cancel + start
//! switches and three currencies. Also renewals (terms due, renewed, lapsed,
//! cancelled; renewal, gross and net MRR renewal rates), and MRR from invoices
//! for customers without subscription events (a demo workspace re-imported
//! with half of the customers' subscription events left out).

mod common;

use std::path::Path;
use std::process::Command;

use common::Ws;
use serde_json::Value;

const KINDS: [&str; 5] = ["new_business", "expansion", "contraction", "churn", "reactivation"];
const MONEY: [&str; 4] = ["mrr_cents", "net_new_mrr_cents", "fx_impact_cents", "arpa_cents"];
const RATES: [&str; 10] = [
    "renewal_rate",
    "gross_mrr_renewal_rate",
    "net_mrr_renewal_rate",
    "customer_churn_rate",
    "gross_mrr_churn_rate",
    "net_mrr_churn_rate",
    "nrr",
    "grr",
    "quick_ratio",
    "quick_ratio_incl_reactivation",
];
const COUNTS: [&str; 11] = [
    "renewals_due",
    "renewals_renewed",
    "renewals_lapsed",
    "renewals_cancelled",
    "subscribers",
    "subscribers_start",
    "active_subscriptions",
    "past_due_subscribers",
    "new_business_customers",
    "reactivated_customers",
    "churned_customers",
];

fn oracle(ws: &Ws) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/oracle/revenue.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(ws.data())
        .output()
        .expect("python3 runs (./scripts/test installs duckdb)");
    assert!(out.status.success(), "revenue oracle failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("oracle JSON")
}

/// Tenure's JSON number as the oracle writes it: `decimals` places (money in
/// cents: 2, rates: 4), or null as null.
fn fixed(v: &Value, decimals: usize) -> Value {
    if v.is_null() {
        return Value::Null;
    }
    let s = format!("{:.*}", decimals, v.as_f64().unwrap_or_else(|| panic!("not a number: {v}")));
    Value::from(if s.trim_start_matches(['-', '0', '.']).is_empty() {
        s.trim_start_matches('-').to_string()
    } else {
        s
    })
}

fn cents(v: &Value) -> Value {
    fixed(v, 2)
}

/// Compare every month; returns the mismatches as readable lines.
fn compare(duck: &Value, tenure: &Value) -> Vec<String> {
    let mut bad = Vec::new();
    let months = duck["months"].as_object().expect("oracle months");
    assert_eq!(months.len(), tenure["months"].as_object().expect("tenure months").len(), "same months");
    for (month, o) in months {
        let t = &tenure["months"][month];
        assert!(t.is_object(), "tenure has no month {month}");
        for k in MONEY {
            if o[k] != cents(&t[k]) {
                bad.push(format!("{month} {k}: oracle {} tenure {}", o[k], t[k]));
            }
        }
        for k in RATES {
            if o[k] != fixed(&t[k], 4) {
                bad.push(format!("{month} {k}: oracle {} tenure {}", o[k], t[k]));
            }
        }
        for k in KINDS {
            if o["movements"][k] != cents(&t["movements"][k]) {
                bad.push(format!("{month} {k}: oracle {} tenure {}", o["movements"][k], t["movements"][k]));
            }
        }
        for k in COUNTS {
            if o[k] != t[k] {
                bad.push(format!("{month} {k}: oracle {} tenure {}", o[k], t[k]));
            }
        }
    }
    let cohorts = duck["cohorts"].as_object().expect("oracle cohorts");
    assert_eq!(cohorts.len(), tenure["cohorts"].as_object().expect("tenure cohorts").len(), "same cohorts");
    for (cm, o) in cohorts {
        let t = &tenure["cohorts"][cm];
        if o["size"] != t["size"] || o["cohort_value_cents"] != cents(&t["cohort_value_cents"]) {
            bad.push(format!(
                "cohort {cm}: oracle {} {} tenure {} {}",
                o["size"], o["cohort_value_cents"], t["size"], t["cohort_value_cents"]
            ));
        }
        for k in ["customer_retention", "net_mrr_retention"] {
            let ours: Vec<Value> = t[k].as_array().expect("array").iter().map(|v| fixed(v, 4)).collect();
            if o[k].as_array() != Some(&ours) {
                bad.push(format!("cohort {cm} {k}: oracle {} tenure {}", o[k], t[k]));
            }
        }
    }
    bad
}

/// The oracle's figures and Tenure's over the oracle's months, which must agree.
fn agree(ws: &Ws, what: &str) -> Value {
    let duck = oracle(ws);
    let (from, to) = (duck["from"].as_str().unwrap(), duck["to"].as_str().unwrap());
    let out = ws.ok(&["metrics", "revenue", "--from", from, "--to", to, "--json"]);
    let tenure: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("bad JSON {e}: {out}"));
    let bad = compare(&duck, &tenure);
    assert!(bad.is_empty(), "{what}: {} differences:\n{}", bad.len(), bad.join("\n"));
    duck
}

fn check_seed(seed: &str) {
    let ws = Ws::uninitialised();
    ws.ok(&["demo", "--customers", "150", "--events", "20000", "--seed", seed]);
    let duck = agree(&ws, &format!("seed {seed}"));

    // The comparison is not vacuous: every movement type, FX effects and
    // past-due subscribers occur in the data.
    let months: Vec<&Value> = duck["months"].as_object().unwrap().values().collect();
    for k in KINDS {
        assert!(months.iter().any(|m| m["movements"][k] != "0.00"), "seed {seed}: no {k} in the demo");
    }
    assert!(months.iter().any(|m| m["fx_impact_cents"] != "0.00"), "seed {seed}: no FX impact");
    assert!(months.iter().any(|m| m["past_due_subscribers"] != 0), "seed {seed}: no past-due subscriber");
    assert!(months.iter().any(|m| m["subscribers"].as_u64() > Some(50)), "seed {seed}: too few subscribers");
    assert!(months.iter().any(|m| m["nrr"].as_str().is_some_and(|r| r != "1.0000")), "seed {seed}: NRR always 1");
    assert!(months.iter().any(|m| m["customer_churn_rate"].as_str() > Some("0.0000")), "seed {seed}: no churn rate");
    assert!(duck["cohorts"].as_object().unwrap().len() > 6, "seed {seed}: too few cohorts");
    assert!(months.iter().any(|m| m["renewals_cancelled"] != 0), "seed {seed}: no cancelled renewal");
    assert!(
        months.iter().any(|m| m["net_mrr_renewal_rate"] != m["gross_mrr_renewal_rate"]),
        "seed {seed}: no expansion at renewal"
    );
}

#[test]
fn revenue_matches_the_duckdb_oracle_seed_1() {
    // Seed 1 has two same-day cancel + start plan switches.
    check_seed("1");
}

#[test]
fn revenue_matches_the_duckdb_oracle_seed_7() {
    check_seed("7");
}

/// A demo workspace re-imported without the subscription events of the
/// customers whose id ends in an odd digit: their MRR comes from invoices
/// (with prorated upgrade lines, trial lines, one-time fees, tax, refunds)
/// and cancellations. Writes subscription_events.parquet and invoices.jsonl
/// (nested line items and transactions) into OUT; prints what the invoices
/// alone must carry, so that the comparison is not vacuous.
const INVOICES_ONLY: &str = r#"
import duckdb, json, sys
src, out = sys.argv[1], sys.argv[2]
manifest = json.load(open(src + "/manifest.json"))
files = lambda t: [src + "/" + f["path"] for f in manifest["tables"][t]["files"]]
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
con.execute(f"create table se as select * exclude (_key) from read_parquet({files('subscription_events')!r}) where right(customer_id, 1) not in ('1', '3', '5', '7', '9')")
con.execute(f"copy se to '{out}/subscription_events.parquet' (format parquet)")
con.execute(f"create table li as select * from read_parquet({files('invoice_line_items')!r})")
con.execute(f"create table tx as select * from read_parquet({files('invoice_transactions')!r})")
con.execute(f"""copy (
  select i.external_id, i.customer_id, i.date, i.currency,
    (select list(struct_pack(type := l.type, subscription_id := l.subscription_id, plan_id := l.plan_id,
        service_period_start := l.service_period_start, service_period_end := l.service_period_end,
        amount_cents := l.amount_cents, tax_cents := l.tax_cents, discount_cents := l.discount_cents,
        quantity := l.quantity, prorated := l.prorated) order by l.line_number)
     from li l where l.invoice_external_id = i.external_id) as line_items,
    (select list(struct_pack(type := t.type, date := strftime(t.date, '%Y-%m-%dT%H:%M:%SZ'),
        amount_cents := t.amount_cents, result := t.result) order by t.line_number)
     from tx t where t.invoice_external_id = i.external_id) as transactions
  from read_parquet({files('invoices')!r}) i) to '{out}/invoices.jsonl' (format json)""")
subs, prorated, trials = con.execute("""select count(distinct subscription_id), count(*) filter (where prorated),
  count(*) filter (where type = 'trial') from li where subscription_id not in (select subscription_id from se)""").fetchone()
cancelled = con.execute(f"select count(*) from read_parquet({files('cancellations')!r}) where subscription_id not in (select subscription_id from se)").fetchone()[0]
print(json.dumps({"subscriptions": subs, "prorated_lines": prorated, "trial_lines": trials, "cancelled": cancelled}))
"#;

#[test]
fn mrr_from_invoices_matches_the_duckdb_oracle() {
    let demo = Ws::uninitialised();
    demo.ok(&["demo", "--customers", "150", "--events", "2000", "--seed", "1"]);
    let ws = Ws::new();
    let out = Command::new("python3")
        .args(["-c", INVOICES_ONLY, demo.data().to_str().unwrap(), ws.path("").to_str().unwrap()])
        .output()
        .expect("python3 runs (./scripts/test installs duckdb)");
    assert!(out.status.success(), "deriving the workspace failed: {}", String::from_utf8_lossy(&out.stderr));
    let only: Value = serde_json::from_slice(&out.stdout).unwrap();
    for table in ["customers", "plans", "fx_rates", "cancellations"] {
        let files = demo.data().join("tables").join(table);
        let parts: Vec<String> =
            std::fs::read_dir(&files).unwrap().map(|f| f.unwrap().path().to_string_lossy().into_owned()).collect();
        let mut args = vec!["import", table];
        args.extend(parts.iter().map(String::as_str));
        ws.ok(&args);
    }
    let events = ws.path("subscription_events.parquet");
    ws.ok(&["import", "subscription_events", events.to_str().unwrap()]);
    let invoices = ws.path("invoices.jsonl");
    ws.ok(&["import", "invoices", invoices.to_str().unwrap()]);
    let duck = agree(&ws, "invoices only");
    // Not vacuous: many subscriptions known only from invoices, with prorated
    // lines, trials and cancellations; their renewals are counted too.
    for (k, at_least) in [("subscriptions", 40), ("prorated_lines", 5), ("trial_lines", 5), ("cancelled", 2)] {
        assert!(only[k].as_u64() >= Some(at_least), "invoice-only {k}: {}", only[k]);
    }
    let months: Vec<&Value> = duck["months"].as_object().unwrap().values().collect();
    assert!(months.iter().any(|m| m["movements"]["churn"] != "0.00"));
    assert!(months.iter().any(|m| m["renewals_due"].as_u64() > Some(20)));
}

/// Orders (transactional revenue) by DuckDB: a purchase is a customer's
/// orders of one day (SPEC 2.6); each order converted at its month's rate
/// (the latest month <= the order's month; 1 for the reporting currency USD).
/// Money is exact (rate x 10^12 as HUGEINT) and rounded half away from zero
/// to two decimals only at the end, in Python.
const ORDERS_ORACLE: &str = r#"
import duckdb, json, sys
from fractions import Fraction
root = sys.argv[1]
manifest = json.load(open(root + "/manifest.json"))
files = lambda t: [root + "/" + f["path"] for f in manifest["tables"][t]["files"]]
con = duckdb.connect()
con.execute(f"create table o as select * from read_parquet({files('orders')!r})")
con.execute(f"create table fx as select currency, date_trunc('month', month)::date as m, cast(rate_to_reporting * 1000000000000 as hugeint) as r12 from read_parquet({files('fx_rates')!r})")
orders, purchases, customers, repeat, revenue = con.execute("""
  with conv as (
    select o.*, cast(o.amount_cents as hugeint) * case when coalesce(o.currency, 'USD') = 'USD' then 1000000000000::hugeint
      else (select f.r12 from fx f where f.currency = o.currency and f.m <= date_trunc('month', o.date)
            order by f.m desc limit 1) end as v
    from o),
  days as (select customer_id, count(distinct date) as n from o group by 1)
  select (select count(*) from o), (select sum(n) from days), (select count(*) from days),
         (select count(*) from days where n >= 2), (select sum(v) from conv)
""").fetchone()
def half_away(q):
    r = (abs(q) + Fraction(1, 2)).__floor__()
    return r if q >= 0 else -r
def cents(total, n=1):
    return half_away(Fraction(int(total) * 100, 10**12 * n)) / 100
def ratio(a, b):
    return half_away(Fraction(int(a), int(b)) * 10**4) / 10**4
print(json.dumps({"orders": orders, "purchases": int(purchases), "customers": customers,
  "repeat_customers": repeat, "revenue_cents": cents(revenue),
  "repeat_purchase_ratio": ratio(repeat, customers), "purchase_frequency": ratio(purchases, customers),
  "average_order_value_cents": cents(revenue, orders),
  "average_purchase_value_cents": cents(revenue, int(purchases))}))
"#;

#[test]
fn orders_match_duckdb() {
    let ws = Ws::uninitialised();
    ws.ok(&["demo", "--customers", "150", "--events", "20000", "--seed", "1"]);
    let out = Command::new("python3")
        .args(["-c", ORDERS_ORACLE, ws.data().to_str().unwrap()])
        .output()
        .expect("python3 runs (./scripts/test installs duckdb)");
    assert!(out.status.success(), "orders oracle failed: {}", String::from_utf8_lossy(&out.stderr));
    let duck: Value = serde_json::from_slice(&out.stdout).unwrap();
    let tenure: Value = serde_json::from_str(&ws.ok(&["metrics", "orders", "--json"])).unwrap();
    let t = &tenure["overall"];
    for (k, v) in duck.as_object().unwrap() {
        assert_eq!(&t[k], v, "{k}");
    }
    // Not vacuous: three currencies, same-day orders and repeat buyers.
    assert!(duck["purchases"].as_u64() < duck["orders"].as_u64());
    assert!(duck["repeat_customers"].as_u64() > Some(0));

    // Customer retention rate (SPEC 2.1 seed formula) over a quarter, a buyer
    // counting as a customer for 60 days after an order.
    let out = Command::new("python3")
        .args(["-c", RETENTION_ORACLE, ws.data().to_str().unwrap(), "2026-04-01", "2026-07-01", "60"])
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "retention oracle failed: {}", String::from_utf8_lossy(&out.stderr));
    let duck: Value = serde_json::from_slice(&out.stdout).unwrap();
    let args = ["metrics", "orders", "--from", "2026-04-01", "--to", "2026-07-01", "--active-days", "60", "--json"];
    let tenure: Value = serde_json::from_str(&ws.ok(&args)).unwrap();
    for (k, v) in duck.as_object().unwrap() {
        assert_eq!(&tenure["overall"][k], v, "{k}");
    }
    // Not vacuous: customers kept, lost, new and returning all occur.
    let n = |k: &str| duck[k].as_u64().unwrap();
    assert!(n("new_customers") > 0 && n("reactivated_customers") > 0, "{duck}");
    let kept = n("customers_end") - n("new_customers") - n("reactivated_customers");
    assert!(kept > 0 && kept < n("customers_start"), "{duck}");
}

/// Customer retention of a transactional business over [FROM, TO) by DuckDB,
/// from SPEC 2.1's seed formula: (customers at the end - new customers) /
/// customers at the start; a customer on a day = a buyer with an order in the
/// DAYS before it; new = at the end but not at the start (split into
/// first-time buyers and returning ones).
const RETENTION_ORACLE: &str = r#"
import duckdb, json, sys
from fractions import Fraction
root, start, end, days = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
manifest = json.load(open(root + "/manifest.json"))
files = [root + "/" + f["path"] for f in manifest["tables"]["orders"]["files"]]
s, e, new, back = duckdb.connect().execute(f"""
  with c as (
    select customer_id, min(date) as first,
      bool_or(date >= date '{start}' - {days} and date < date '{start}') as at_start,
      bool_or(date >= date '{end}' - {days} and date < date '{end}') as at_end
    from read_parquet({files!r}) group by customer_id)
  select count(*) filter (where at_start), count(*) filter (where at_end),
    count(*) filter (where at_end and not at_start and first >= date '{start}'),
    count(*) filter (where at_end and not at_start and first < date '{start}')
  from c""").fetchone()
rate = None
if s:
    q = Fraction(e - new - back, s) * 10**4
    rate = int(q + Fraction(1, 2)) / 10**4
print(json.dumps({"customers_start": s, "customers_end": e, "new_customers": new,
  "reactivated_customers": back, "customer_retention_rate": rate, "active_days": days}))
"#;

/// c1: 2024-01-05 two orders (10.00 + 5.00: one purchase) and 2024-02-01 30.00;
/// c2: 2024-01-20 20.00 EUR at 1.10 => 22.00; c3: 2024-03-01 (outside --to).
/// From 2024-01-01 to 2024-03-01 (exclusive): orders 4, purchases 3,
/// customers 2, repeat 1 => ratio 0.5, frequency 1.5; revenue 1000 + 500 +
/// 3000 + 2200 = 6700 => AOV 6700 / 4 = 1675.00, per purchase 6700 / 3 =
/// 2233.33.
#[test]
fn orders_by_hand() {
    let ws = Ws::new();
    let orders = ws.file(
        "orders.csv",
        "id,customer_id,date,amount_cents,currency\n\
         o1,c1,2024-01-05,1000,USD\n\
         o2,c1,2024-01-05,500,USD\n\
         o3,c1,2024-02-01,3000,USD\n\
         o4,c2,2024-01-20,2000,EUR\n\
         o5,c3,2024-03-01,9900,USD\n",
    );
    ws.ok(&["import", "orders", &orders]);
    let fx = ws.file("fx.csv", "currency,month,rate_to_reporting\nEUR,2024-01,1.10\n");
    ws.ok(&["import", "fx_rates", &fx]);
    let out = ws.ok(&["metrics", "orders", "--from", "2024-01-01", "--to", "2024-03-01", "--json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    let o = &v["overall"];
    assert_eq!(o["orders"], 4);
    assert_eq!(o["purchases"], 3);
    assert_eq!(o["customers"], 2);
    assert_eq!(o["repeat_customers"], 1);
    assert_eq!(o["repeat_purchase_ratio"], 0.5);
    assert_eq!(o["purchase_frequency"], 1.5);
    assert_eq!(o["revenue_cents"], 6700.0);
    assert_eq!(o["average_order_value_cents"], 1675.0);
    assert_eq!(o["average_purchase_value_cents"], 2233.33);
    // The table names every figure; an empty period gives nulls, not zeros.
    let table = ws.ok(&["metrics", "orders", "--from", "2024-01-01", "--to", "2024-03-01"]);
    assert!(table.contains("repeat purchase ratio") && table.contains("0.5000"), "{table}");
    let empty: Value = serde_json::from_str(&ws.ok(&["metrics", "orders", "--from", "2030-01-01", "--json"])).unwrap();
    assert_eq!(empty["overall"]["repeat_purchase_ratio"], Value::Null);
    assert_eq!(empty["overall"]["average_order_value_cents"], Value::Null);
}
