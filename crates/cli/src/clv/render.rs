//! Text and CSV output of the `tenure clv` documents (JSON is the document itself).

use serde_json::Value;

use crate::metrics::csv_field;
use crate::output::{self, table};

fn num(v: &Value, dp: usize) -> String {
    match v.as_f64() {
        Some(x) => format!("{x:.dp$}"),
        None => "-".into(),
    }
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// The summary: the settings, the fits, the top customers, the holdout
/// comparison, the segments and the subscription LTV.
pub(super) fn summary(doc: &Value, top: usize) {
    output::line(format!(
        "CLV ({} model, {} customers ({} with repeat purchases), as of {}{}, times in {}s, amounts in {})",
        text(&doc["model"]),
        doc["customers"],
        doc["repeat_customers"],
        text(&doc["as_of"]),
        doc["calibration_end"].as_str().map(|d| format!(", calibration to {d}")).unwrap_or_default(),
        text(&doc["unit"]),
        text(&doc["reporting_currency"]),
    ));
    fit_lines(doc);
    output::line(format!(
        "  horizon {} months, discount rate {} a year ({:.4}% a month), margin {}",
        doc["horizon_months"],
        doc["annual_discount_rate"],
        doc["monthly_discount_rate"].as_f64().unwrap_or(0.0) * 100.0,
        doc["margin"],
    ));
    predictions(doc, top);
    let clvs: Vec<f64> =
        doc["predictions"].as_array().into_iter().flatten().filter_map(|r| r["clv"].as_f64()).collect();
    if !clvs.is_empty() {
        let total: f64 = clvs.iter().sum();
        output::line(format!("Total CLV {total:.2}, mean {:.2} per customer", total / clvs.len() as f64));
    }
    holdout(&doc["holdout"], text(&doc["unit"]));
    segments(doc);
    subscriptions(&doc["subscriptions"]);
}

fn fit_lines(doc: &Value) {
    for (label, key) in [("purchases", "fit"), ("spend (Gamma-Gamma)", "spend_fit")] {
        let f = &doc[key];
        if f.is_null() {
            continue;
        }
        let params: Vec<String> = f["params"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| format!("{k} = {}", num(v, 4))).collect())
            .unwrap_or_default();
        output::line(format!(
            "  {label}: {}; log-likelihood {}; {} after {} evaluations ({:.3} s)",
            params.join(", "),
            num(&f["log_likelihood"], 2),
            if f["converged"].as_bool() == Some(true) { "converged" } else { "NOT converged" },
            f["evaluations"],
            f["seconds"].as_f64().unwrap_or(0.0),
        ));
        if let Some(b) = f["boundary"].as_str() {
            output::line(format!("    note: {b}"));
        }
    }
    if let Some(note) = doc["spend_note"].as_str() {
        output::line(format!("  {note}"));
    }
}

/// The per-customer table, highest CLV first.
pub(super) fn predictions(doc: &Value, top: usize) {
    let holdout = !doc["holdout"].is_null() || doc["calibration_end"].is_string();
    let mut header =
        vec!["customer", "frequency", "recency", "T", "P(alive)", "expected purchases", "expected spend", "CLV"];
    if holdout {
        header.extend(["holdout purchases", "predicted"]);
    }
    let rows: Vec<Vec<String>> = doc["predictions"]
        .as_array()
        .into_iter()
        .flatten()
        .take(top)
        .map(|r| {
            let mut row = vec![
                text(&r["customer_id"]).to_string(),
                r["frequency"].to_string(),
                num(&r["recency"], 2),
                num(&r["T"], 2),
                num(&r["p_alive"], 4),
                num(&r["expected_purchases"], 4),
                num(&r["expected_spend"], 2),
                num(&r["clv"], 2),
            ];
            if holdout {
                row.extend([r["frequency_holdout"].to_string(), num(&r["predicted_holdout_purchases"], 4)]);
            }
            row
        })
        .collect();
    table(&header, &rows);
    let total = doc["predictions"].as_array().map_or(0, |a| a.len());
    if total > top {
        output::line(format!(
            "({top} of {total} customers shown, highest CLV first; --top N, --csv or --json for all)"
        ));
    }
}

fn holdout(h: &Value, unit: &str) {
    if h.is_null() {
        return;
    }
    output::line(format!(
        "\nHoldout ({} {unit}s after the calibration end, {} customers): actual {} purchases, predicted {}; \
         mean absolute error {} per customer",
        num(&h["duration"], 2),
        h["customers"],
        num(&h["actual_purchases"], 0),
        num(&h["predicted_purchases"], 1),
        num(&h["mean_absolute_error"], 3),
    ));
    let rows: Vec<Vec<String>> = h["by_calibration_frequency"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| {
            vec![
                g["frequency"].to_string().trim_matches('"').to_string(),
                g["customers"].to_string(),
                num(&g["mean_actual"], 3),
                num(&g["mean_predicted"], 3),
            ]
        })
        .collect();
    table(&["calibration frequency", "customers", "mean actual", "mean predicted"], &rows);
}

fn segments(doc: &Value) {
    let Some(segs) = doc["segments"].as_array() else { return };
    output::line(format!("\nBy {}", text(&doc["segment_attribute"])));
    let rows: Vec<Vec<String>> = segs
        .iter()
        .map(|s| {
            vec![
                text(&s["segment"]).to_string(),
                s["customers"].to_string(),
                num(&s["total_clv"], 2),
                num(&s["mean_clv"], 2),
            ]
        })
        .collect();
    table(&["segment", "customers", "total CLV", "mean CLV"], &rows);
}

fn subscriptions(s: &Value) {
    if s.is_null() {
        return;
    }
    let cents = |v: &Value| v.as_f64().map(|c| format!("{:.2}", c / 100.0)).unwrap_or_else(|| "-".into());
    let line = |label: &str, m: &Value| {
        vec![
            label.to_string(),
            text(&m["month"]).to_string(),
            cents(&m["arpa_cents"]),
            num(&m["customer_churn_rate"], 4),
            cents(&m["ltv_simple_cents"]),
            cents(&m["ltv_gross_margin_cents"]),
        ]
    };
    output::line("\nSubscriptions: LTV = ARPA / customer churn rate (x gross margin), as tenure metrics revenue");
    let mut rows = vec![line("all", s)];
    if let Some(segs) = s["segments"].as_object() {
        rows.extend(segs.iter().map(|(k, m)| line(k, m)));
    }
    table(&["customers", "month", "ARPA", "churn rate", "LTV", "LTV x gross margin"], &rows);
}

/// CSV, one row per customer (the segment and holdout columns when present).
pub(super) fn csv(doc: &Value) {
    let rows = doc["predictions"].as_array().cloned().unwrap_or_default();
    let mut cols = vec![
        "customer_id",
        "frequency",
        "recency",
        "T",
        "monetary_value",
        "p_alive",
        "expected_purchases",
        "expected_spend",
        "clv",
    ];
    for extra in
        ["segment", "frequency_holdout", "monetary_value_holdout", "duration_holdout", "predicted_holdout_purchases"]
    {
        if rows.first().is_some_and(|r| r.get(extra).is_some()) {
            cols.push(extra);
        }
    }
    output::line(cols.join(","));
    for r in &rows {
        let cells: Vec<String> = cols
            .iter()
            .map(|c| match &r[*c] {
                Value::Null => String::new(),
                Value::String(s) => csv_field(s),
                v => v.to_string(),
            })
            .collect();
        output::line(cells.join(","));
    }
}

/// `tenure clv fit`: the parameters and how the fit went (sBG: the projection).
pub(super) fn fit(doc: &Value) {
    let f = &doc["fit"];
    let what = match text(&doc["model"]) {
        "sbg" => format!(
            "sBG on {} monthly subscription cohorts ({} to {}), {} customers",
            doc["cohorts"],
            text(&doc["first_cohort"]),
            text(&doc["last_cohort"]),
            f["observations"]
        ),
        m => format!(
            "{m} on {} customers ({} with repeat purchases), as of {}{}, times in {}s",
            doc["customers"],
            doc["repeat_customers"],
            text(&doc["as_of"]),
            doc["calibration_end"].as_str().map(|d| format!(", calibration to {d}")).unwrap_or_default(),
            text(&doc["unit"])
        ),
    };
    output::line(what);
    let rows: Vec<Vec<String>> =
        f["params"].as_object().into_iter().flatten().map(|(k, v)| vec![k.clone(), num(v, 6)]).collect();
    table(&["parameter", "value"], &rows);
    output::line(format!("log-likelihood  {}", num(&f["log_likelihood"], 4)));
    output::line(format!(
        "convergence     {} ({} iterations, {} evaluations, {} starting points)",
        if f["converged"].as_bool() == Some(true) { "converged" } else { "NOT converged" },
        f["iterations"],
        f["evaluations"],
        f["starts"]
    ));
    if let Some(b) = f["boundary"].as_str() {
        output::line(format!("note            {b}"));
    }
    output::line(format!("fit time        {:.4} s", f["seconds"].as_f64().unwrap_or(0.0)));
    if let Some(p) = doc["projection"].as_array() {
        output::line(format!(
            "\nProjected retention (discount rate {} a year): discounted expected lifetime of a new customer {} months",
            doc["annual_discount_rate"],
            num(&doc["discounted_expected_lifetime_months"], 2)
        ));
        let rows: Vec<Vec<String>> = p
            .iter()
            .map(|r| {
                vec![
                    r["month"].to_string(),
                    num(&r["survival"], 4),
                    num(&r["retention_rate"], 4),
                    num(&r["observed_survival"], 4),
                ]
            })
            .collect();
        table(&["month", "survival", "retention rate", "observed survival"], &rows);
        let rows: Vec<Vec<String>> = doc["discounted_expected_residual_lifetime_months"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| vec![r["renewals"].to_string(), num(&r["months"], 2)])
            .collect();
        output::line("\nDiscounted expected residual lifetime of a customer about to renew");
        table(&["renewals so far", "months"], &rows);
    }
}

/// One line for `tenure demo`'s headline.
pub(super) fn headline(doc: &Value) -> String {
    let rows = doc["predictions"].as_array().map(Vec::as_slice).unwrap_or_default();
    let total: f64 = rows.iter().filter_map(|r| r["clv"].as_f64()).sum();
    let alive: f64 = rows.iter().filter_map(|r| r["p_alive"].as_f64()).sum();
    format!(
        "{total:.0} {cur} in total, {:.2} {cur} mean over {} buyers, {alive:.0} expected still active \
         (BG/NBD + Gamma-Gamma, 10% a year)",
        total / rows.len().max(1) as f64,
        rows.len(),
        cur = text(&doc["reporting_currency"]),
    )
}
