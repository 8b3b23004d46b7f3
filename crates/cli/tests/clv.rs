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

    // The simple model needs no fit.
    let simple = clv_json(&ws, &["--model", "simple", "--unit", "day"]);
    assert!(simple.get("fit").is_none());
    assert!(simple["predictions"][0]["clv"].as_f64().unwrap() > 0.0);

    // Errors say what to do.
    let err = ws.fails(&["clv", "--as-of", "2000-01-01"]);
    assert!(err.contains("--as-of"), "{err}");
    let empty = Ws::new();
    let err = empty.fails(&["clv"]);
    assert!(err.contains("import orders"), "{err}");
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
    let (months, rate) = (6, 0.02);
    let t = f64::from(months) * 4.345;
    for model in ["bgnbd", "paretonbd"] {
        let doc = clv_json(&ws, &["--model", model, "--months", &months.to_string(), "--discount-rate", "0.02"]);
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
