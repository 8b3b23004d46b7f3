//! `tenure clv` end to end: orders imported into a temporary workspace, the
//! RFM summary of a hand-computed customer, the fitted models' report, and
//! the errors a user can meet.

mod common;

use common::Ws;
use serde_json::{Value, json};
use tenure_models::{ParetoNbd, Rfm, customer_lifetime_value};

/// A small deterministic order book: 80 customers with 1-8 purchase days
/// spread over 2024, plus the hand-computed customer `hand`.
fn orders_csv() -> String {
    let mut csv = String::from("id,customer_id,date,amount_cents,currency\n");
    let mut n = 0;
    let mut state: u64 = 42;
    let mut next = || {
        // xorshift: reproducible without a dependency.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for c in 0..80 {
        let first = (next() % 120) as i64;
        let purchases = 1 + next() % 8;
        let mut day = first;
        for _ in 0..purchases {
            if day > 330 {
                break;
            }
            let date = jiff::civil::date(2024, 1, 1).checked_add(jiff::Span::new().days(day)).unwrap();
            n += 1;
            csv.push_str(&format!("o{n},c{c},{date},{},USD\n", 1000 + next() % 9000));
            day += 1 + (next() % 60) as i64;
        }
    }
    // hand: two orders on 1 Jan (one purchase of 15.00), repeats of 20.00 on
    // 15 Jan and 40.00 on 29 Jan.
    for (id, date, cents) in
        [("h1", "2024-01-01", 1000), ("h2", "2024-01-01", 500), ("h3", "2024-01-15", 2000), ("h4", "2024-01-29", 4000)]
    {
        csv.push_str(&format!("{id},hand,{date},{cents},USD\n"));
    }
    csv
}

fn clv_json(ws: &Ws, args: &[&str]) -> Value {
    let mut all = vec!["clv", "--json"];
    all.extend_from_slice(args);
    ws.json(&all)
}

#[test]
fn clv_fits_and_predicts_per_customer() {
    let ws = Ws::new();
    let file = ws.file("orders.csv", orders_csv());
    ws.ok(&["import", "orders", &file]);

    // As of 25 Mar 2024, in weeks: hand has frequency 2, recency 4, T 12, monetary 30.
    let doc = clv_json(&ws, &["--as-of", "2024-03-25"]);
    assert_eq!(doc["model"], "bgnbd");
    assert_eq!(doc["unit"], "week");
    assert_eq!(doc["as_of"], "2024-03-25");
    let fit = &doc["fit"];
    assert!(fit["log_likelihood"].as_f64().unwrap() < 0.0);
    assert!(fit["converged"].is_boolean());
    for p in ["r", "alpha", "a", "b"] {
        assert!(fit["params"][p].as_f64().unwrap() > 0.0, "{p}: {fit}");
    }
    assert!(doc["spend_fit"]["params"]["p"].as_f64().unwrap() > 0.0);
    let rows = doc["predictions"].as_array().unwrap();
    assert_eq!(rows.len(), doc["customers"].as_u64().unwrap() as usize);
    let hand = rows.iter().find(|r| r["customer_id"] == "hand").expect("hand is a customer");
    assert_eq!(hand["frequency"], 2);
    assert_eq!(hand["recency"].as_f64(), Some(4.0));
    assert_eq!(hand["T"].as_f64(), Some(12.0));
    assert_eq!(hand["monetary_value"].as_f64(), Some(30.0));
    let clvs: Vec<f64> = rows.iter().map(|r| r["clv"].as_f64().unwrap()).collect();
    assert!(clvs.windows(2).all(|w| w[0] >= w[1]), "sorted by CLV, highest first");
    for r in rows {
        let p = r["p_alive"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&p), "{r}");
        assert!(r["expected_purchases"].as_f64().unwrap() >= 0.0, "{r}");
    }

    // The table shows the parameters and the top customers.
    let table = ws.ok(&["clv", "--top", "5"]);
    assert!(table.contains("log-likelihood"), "{table}");
    assert!(table.contains("5 of "), "{table}");

    // Errors say what to do.
    let err = ws.fails(&["clv", "--as-of", "2000-01-01"]);
    assert!(err.contains("--as-of"), "{err}");
    let err = ws.fails(&["clv", "predict", "--model", "sbg"]);
    assert!(err.contains("bgnbd, paretonbd, simple"), "{err}");
    let err = ws.fails(&["clv", "fit", "--model", "sbg"]);
    assert!(err.contains("import subscription_events"), "{err}");
    let err = ws.fails(&["clv", "--calibration-end", "2024-03-25", "--as-of", "2024-03-01"]);
    assert!(err.contains("--calibration-end"), "{err}");
    let err = ws.fails(&["clv", "--margin", "80"]);
    assert!(err.contains("--margin"), "{err}");
    let empty = Ws::new();
    let err = empty.fails(&["clv"]);
    assert!(err.contains("import orders"), "{err}");
}

/// `tenure clv fit` for each model on the RFM summary, and `predict --csv`.
#[test]
fn clv_fit_and_predict_commands() {
    let ws = Ws::new();
    let file = ws.file("orders.csv", orders_csv());
    ws.ok(&["import", "orders", &file]);
    // Up to 25 Mar: on the whole year this made-up order book has no
    // interior Pareto/NBD optimum (β runs to its bound) and the fit is slow.
    let as_of = ["--as-of", "2024-03-25"];
    let summary = clv_json(&ws, &as_of);
    for (model, params) in [
        ("bgnbd", &["r", "alpha", "a", "b"][..]),
        ("paretonbd", &["r", "alpha", "s", "beta"]),
        ("gammagamma", &["p", "q", "gamma"]),
    ] {
        let doc = ws.json(&["clv", "fit", "--model", model, "--json", as_of[0], as_of[1]]);
        assert_eq!(doc["model"], model);
        let fit = &doc["fit"];
        assert!(fit["log_likelihood"].as_f64().unwrap() < 0.0, "{fit}");
        assert!(fit["seconds"].as_f64().unwrap() >= 0.0);
        assert!(fit["converged"].is_boolean() && fit["evaluations"].as_u64().unwrap() > 0);
        for p in params {
            assert!(fit["params"][p].as_f64().unwrap() > 0.0, "{model} {p}: {fit}");
        }
        // The same fit as the summary's.
        let key = if model == "gammagamma" { "spend_fit" } else { "fit" };
        if model != "paretonbd" {
            assert_eq!(fit["params"], summary[key]["params"], "{model}");
        }
    }

    // predict: one CSV row per customer, highest CLV first, and the same
    // numbers as the summary's JSON.
    let csv = ws.ok(&["clv", "predict", "--horizon", "12", "--discount-rate", "0.1", "--csv", as_of[0], as_of[1]]);
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header[..3], ["customer_id", "frequency", "recency"]);
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), summary["customers"].as_u64().unwrap() as usize);
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let first = &summary["predictions"][0];
    assert_eq!(rows[0][0], first["customer_id"].as_str().unwrap());
    let clv: f64 = rows[0][col("clv")].parse().unwrap();
    assert!((clv - first["clv"].as_f64().unwrap()).abs() < 1e-9 * clv);
    // --months is the old name of --horizon.
    assert_eq!(clv_json(&ws, &["--months", "7", as_of[0], as_of[1]])["horizon_months"], 7);
}

/// Simple CLV (seed 004) for the hand-computed customer: purchases of 15, 20
/// and 40 on 1, 15 and 29 Jan 2024, observed to 25 Mar 2024 (84 days).
#[test]
fn simple_clv_by_hand() {
    let ws = Ws::new();
    let file = ws.file("orders.csv", orders_csv());
    ws.ok(&["import", "orders", &file]);
    let hand = |args: &[&str]| {
        let mut all = vec!["--model", "simple", "--as-of", "2024-03-25"];
        all.extend_from_slice(args);
        let doc = clv_json(&ws, &all);
        assert!(doc.get("fit").is_none());
        doc["predictions"].as_array().unwrap().iter().find(|r| r["customer_id"] == "hand").unwrap().clone()
    };
    // Average purchase value 25, 3 purchases in 84 / 30.4375 months, 12 months
    // of lifespan, margin 0.5, no discounting.
    let per_month = 3.0 / (84.0 / 30.4375);
    let undiscounted = 25.0 * per_month * 12.0 * 0.5;
    let r = hand(&["--discount-rate", "0", "--margin", "0.5"]);
    assert!((r["average_purchase_value"].as_f64().unwrap() - 25.0).abs() < 1e-12);
    assert!((r["purchases_per_month"].as_f64().unwrap() - per_month).abs() < 1e-12);
    assert!((r["clv"].as_f64().unwrap() - undiscounted).abs() < 1e-9, "{r}");
    // 10% a year: month i is discounted by 1.1^(i/12).
    let factor: f64 = (1..=12).map(|i| 1.1f64.powf(-f64::from(i) / 12.0)).sum::<f64>() / 12.0;
    let r = hand(&["--discount-rate", "0.1", "--margin", "0.5"]);
    assert!((r["clv"].as_f64().unwrap() - undiscounted * factor).abs() < 1e-9, "{r}");
}

#[path = "../../models/tests/lifetimes_oracle/mod.rs"]
mod lifetimes_oracle;

/// On the demo's orders, end to end: every customer's expected purchases,
/// P(alive), expected spend and CLV from `tenure clv --json` agree with the
/// `lifetimes` package to 1e-6 relative when it is given the parameters
/// Tenure fitted, and lifetimes' own fit finds no higher likelihood.
///
/// The demo's add-on buyers drop out after purchases (a BG/NBD process), so
/// Pareto/NBD's dropout heterogeneity is not identified and its fit ends on
/// the cap of s (reported as `boundary`). lifetimes cannot evaluate its
/// formulas there (scipy's 2F1 overflows to NaN at s = 10^4), so Pareto/NBD's
/// formulas are compared at the parameters lifetimes fitted instead.
#[test]
fn clv_on_the_demo_matches_lifetimes() {
    let ws = Ws::new();
    ws.ok(&["demo", "--customers", "600", "--events", "20000", "--seed", "5"]);
    // 10% a year is lifetimes' monthly rate 1.1^(1/12) - 1.
    let (months, rate) = (6, 1.1f64.powf(1.0 / 12.0) - 1.0);
    let t = f64::from(months) * 4.345;
    for model in ["bgnbd", "paretonbd"] {
        let doc = clv_json(&ws, &["--model", model, "--horizon", &months.to_string(), "--discount-rate", "0.1"]);
        assert!((doc["monthly_discount_rate"].as_f64().unwrap() - rate).abs() < 1e-15);
        let rows = doc["predictions"].as_array().unwrap();
        assert!(rows.len() > 60, "{} customers", rows.len());
        let rfm: Vec<Rfm> = rows
            .iter()
            .map(|r| {
                let f = |k: &str| r[k].as_f64().unwrap();
                Rfm::new(f("frequency") as u32, f("recency"), f("T"), f("monetary_value"))
            })
            .collect();
        let request = |params: &Value, fit: bool| {
            json!({
                "customers": rfm.iter().map(|c| [c.x(), c.recency, c.t, c.monetary_value]).collect::<Vec<_>>(),
                "t": t, "months": months, "discount_rate": rate, "freq": "W",
                model: params, "gammagamma": doc["spend_fit"]["params"],
                "fit": if fit { vec![model] } else { vec![] },
            })
        };
        let theirs = lifetimes_oracle::run(&request(&doc["fit"]["params"], true));
        let fitted = &theirs["fitted"][model];
        let ours_ll = doc["fit"]["log_likelihood"].as_f64().unwrap();
        let their_ll = fitted["log_likelihood"].as_f64().unwrap();
        eprintln!(
            "{model}: LL ours {ours_ll} lifetimes {their_ll}; params ours {} lifetimes {}",
            doc["fit"]["params"], fitted["params"]
        );
        assert_eq!(doc["fit"]["converged"], true, "{}", doc["fit"]);
        assert!(ours_ll >= their_ll - 1e-6, "{model}: our log-likelihood {ours_ll} below lifetimes' {their_ll}");
        let spend = |k: &str| -> Vec<f64> { rows.iter().map(|r| r[k].as_f64().unwrap()).collect() };
        lifetimes_oracle::assert_all_close(
            "expected spend",
            &spend("expected_spend"),
            &theirs["gammagamma"]["expected_spend"],
            1e-6,
        );

        let (ours, theirs) = if doc["fit"]["boundary"].is_null() {
            let col = |k: &str| -> Vec<f64> { rows.iter().map(|r| r[k].as_f64().unwrap()).collect() };
            ([col("expected_purchases"), col("p_alive"), col("clv")], theirs)
        } else {
            assert_eq!(model, "paretonbd", "{}", doc["fit"]);
            let p = |k: &str| fitted["params"][k].as_f64().unwrap();
            let m = ParetoNbd { r: p("r"), alpha: p("alpha"), s: p("s"), beta: p("beta") };
            let spend = spend("expected_spend");
            let ours = [
                rfm.iter().map(|c| m.conditional_expected_purchases(t, c)).collect(),
                rfm.iter().map(|c| m.p_alive(c)).collect(),
                rfm.iter().zip(&spend).map(|(c, s)| customer_lifetime_value(&m, c, *s, months, rate, 4.345)).collect(),
            ];
            (ours, lifetimes_oracle::run(&request(&fitted["params"], false)))
        };
        for (what, ours, key) in
            [("expected purchases", &ours[0], "expected"), ("P(alive)", &ours[1], "p_alive"), ("CLV", &ours[2], "clv")]
        {
            lifetimes_oracle::assert_all_close(&format!("{model} {what}"), ours, &theirs[model][key], 1e-6);
        }
    }
}

/// `--calibration-end`: the calibration RFM summary and the holdout purchases
/// per customer equal lifetimes' `calibration_and_holdout_data` (given the
/// orders summed per customer and day, SPEC 2.6's purchases), and the
/// holdout comparison adds up the rows.
#[test]
fn calibration_and_holdout_match_lifetimes() {
    let ws = Ws::new();
    let csv = orders_csv();
    let file = ws.file("orders.csv", &csv);
    ws.ok(&["import", "orders", &file]);
    let (cal, end) = ("2024-06-30", "2024-10-31");
    let doc = ws.json(&["clv", "predict", "--unit", "day", "--calibration-end", cal, "--as-of", end, "--json"]);
    let rows = doc["predictions"].as_array().unwrap();

    let mut days: std::collections::BTreeMap<(String, String), f64> = Default::default();
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        *days.entry((f[1].to_string(), f[2].to_string())).or_default() += f[3].parse::<f64>().unwrap() / 100.0;
    }
    let transactions: Vec<Value> = days.into_iter().map(|((c, d), v)| json!([c, d, v])).collect();
    let theirs = lifetimes_oracle::run_script(
        "lifetimes_holdout.py",
        &json!({"transactions": transactions, "calibration_end": cal, "observation_end": end, "freq": "D"}),
    );
    let theirs = theirs.as_object().unwrap();
    assert_eq!(rows.len(), theirs.len(), "calibration customers");
    let mut with_holdout = 0;
    for r in rows {
        let id = r["customer_id"].as_str().unwrap();
        let t = &theirs[id];
        for (ours, their) in [
            ("frequency", "frequency_cal"),
            ("recency", "recency_cal"),
            ("T", "T_cal"),
            ("monetary_value", "monetary_value_cal"),
            ("frequency_holdout", "frequency_holdout"),
            ("monetary_value_holdout", "monetary_value_holdout"),
            ("duration_holdout", "duration_holdout"),
        ] {
            let (a, b) = (r[ours].as_f64().unwrap(), t[their].as_f64().unwrap());
            assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{id} {ours}: ours {a} vs lifetimes {b}");
        }
        with_holdout += usize::from(r["frequency_holdout"].as_u64().unwrap() > 0);
    }
    assert!(with_holdout > 10, "{with_holdout} customers bought in the holdout period");

    let h = &doc["holdout"];
    let sum = |k: &str| rows.iter().map(|r| r[k].as_f64().unwrap()).sum::<f64>();
    assert_eq!(h["actual_purchases"].as_f64(), Some(sum("frequency_holdout")));
    assert!((h["predicted_purchases"].as_f64().unwrap() - sum("predicted_holdout_purchases")).abs() < 1e-9);
    let groups = h["by_calibration_frequency"].as_array().unwrap();
    assert_eq!(groups.iter().map(|g| g["customers"].as_u64().unwrap()).sum::<u64>(), rows.len() as u64);
    // The summary shows the comparison.
    let text = ws.ok(&["clv", "--calibration-end", cal, "--as-of", end]);
    assert!(text.contains("Holdout") && text.contains("mean predicted"), "{text}");
}

/// On a small demo: sBG on the subscription cohorts, CLV per segment, and the
/// subscription LTV, which is the revenue engine's own figure.
#[test]
fn cohorts_segments_and_subscription_ltv_on_the_demo() {
    let ws = Ws::new();
    ws.ok(&["demo", "--customers", "300", "--events", "3000", "--seed", "3"]);

    let sbg = ws.json(&["clv", "fit", "--model", "sbg", "--horizon", "24", "--json"]);
    let fit = &sbg["fit"];
    assert!(fit["params"]["alpha"].as_f64().unwrap() > 0.0 && fit["params"]["beta"].as_f64().unwrap() > 0.0);
    assert_eq!(fit["converged"], true, "{fit}");
    assert!(sbg["cohorts"].as_u64().unwrap() > 3);
    let projection = sbg["projection"].as_array().unwrap();
    assert!(projection.len() >= 25);
    assert_eq!(projection[0]["survival"].as_f64(), Some(1.0));
    assert_eq!(projection[0]["observed_survival"].as_f64(), Some(1.0));
    assert!(projection.windows(2).all(|w| w[1]["survival"].as_f64() <= w[0]["survival"].as_f64()));
    let derl = sbg["discounted_expected_residual_lifetime_months"].as_array().unwrap();
    assert!(derl.iter().all(|d| d["months"].as_f64().unwrap() > 1.0), "{derl:?}");
    let text = ws.ok(&["clv", "fit", "--model", "sbg"]);
    assert!(text.contains("Projected retention") && text.contains("residual lifetime"), "{text}");

    // Segments: every customer in exactly one, totals adding up.
    let doc = clv_json(&ws, &["--model", "simple", "--segment", "segment", "--margin", "0.8"]);
    let rows = doc["predictions"].as_array().unwrap();
    let segs = doc["segments"].as_array().unwrap();
    assert!(segs.len() > 1, "{segs:?}");
    assert_eq!(segs.iter().map(|s| s["customers"].as_u64().unwrap()).sum::<u64>(), rows.len() as u64);
    let total: f64 = rows.iter().map(|r| r["clv"].as_f64().unwrap()).sum();
    let by_seg: f64 = segs.iter().map(|s| s["total_clv"].as_f64().unwrap()).sum();
    assert!((total - by_seg).abs() < 1e-9 * total);
    assert!(rows.iter().all(|r| r["segment"].is_string()));

    // Subscriptions: ARPA x gross margin / churn is `tenure metrics revenue`'s
    // ltv_gross_margin_cents (one definition), overall and per segment.
    let revenue = ws.json(&["metrics", "revenue", "--json", "--set", "gross_margin=0.8", "--segment", "segment"]);
    let (month, m) = revenue["months"].as_object().unwrap().iter().next_back().unwrap();
    let s = &doc["subscriptions"];
    assert_eq!(s["month"], month.as_str());
    assert_eq!(s["ltv_gross_margin_cents"], m["ltv_gross_margin_cents"]);
    let ltv = s["ltv_gross_margin_cents"].as_f64().expect("the demo's last month has churn");
    let by_hand = m["arpa_cents"].as_f64().unwrap() * 0.8 / m["customer_churn_rate"].as_f64().unwrap();
    // The churn rate in the JSON is rounded; the LTV was computed before rounding.
    assert!((ltv - by_hand).abs() < 1e-3 * ltv, "{ltv} vs {by_hand}");
    for (seg, r) in revenue["segments"].as_object().unwrap() {
        let last = r["months"].as_object().unwrap().values().next_back().unwrap();
        assert_eq!(s["segments"][seg]["ltv_gross_margin_cents"], last["ltv_gross_margin_cents"], "{seg}");
    }
    let text = ws.ok(&["clv", "--model", "simple", "--segment", "segment"]);
    assert!(text.contains("By segment") && text.contains("LTV x gross margin"), "{text}");
}
