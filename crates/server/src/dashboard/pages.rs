//! The metric pages: overview, revenue (and its explain view), engagement,
//! voice of the customer, support. Each reads the metric documents of
//! `tenure_query` with the page's filters and draws them; a document that
//! cannot be computed (no data of that kind imported yet) becomes a notice
//! saying what to import, not an error page.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::ToSpan;
use jiff::civil::Date;
use maud::{Markup, html};
use serde_json::{Value, json};
use tenure_model::Ticket;

use super::ui::{
    BAD, Better, Cell, Chart, Ctx, Filters, GOOD, Kpi, MUTED, NEUTRAL, Params, Series, Table, WARN, dec, duration,
    filters, heat, int, money, money_signed, notice, pct, ratio_pct,
};
use super::{Deadline, Guard, cached, fragment, metric, pending, respond};
use crate::AppState;

/// Movement types in display order, with their colours (good green, bad red).
const MOVEMENTS: &[(&str, &str, &str)] = &[
    ("new_business", "New business", "#1a9e5a"),
    ("expansion", "Expansion", "#6cc788"),
    ("reactivation", "Reactivation", "#3b6fd8"),
    ("contraction", "Contraction", "#f0a04b"),
    ("churn", "Churn", "#d64545"),
];

type Q = Query<Vec<(String, String)>>;

/// The revenue document's months, in order.
fn months(doc: &Value) -> Vec<(&String, &Value)> {
    doc["months"].as_object().map(|m| m.iter().collect()).unwrap_or_default()
}

fn series_of(ms: &[(&String, &Value)], key: &str, scale: f64) -> Vec<Option<f64>> {
    ms.iter().map(|(_, m)| m[key].as_f64().map(|x| x * scale)).collect()
}

/// The explain view of a month (and movement type), under the page's rules.
fn explain_href(month: &str, movement: Option<&str>, preset: Option<&str>) -> String {
    let mut p = Params(vec![("month".into(), month.into())]);
    if let Some(k) = movement {
        p.0.push(("movement".into(), k.into()));
    }
    if let Some(x) = preset {
        p.0.push(("preset".into(), x.into()));
    }
    format!("/revenue/explain{}", p.query())
}

/// The rule sets the revenue figures can follow: (name, label). `workspace`
/// is tenure.toml as configured (no `preset` parameter); the others are the
/// presets of docs/presets.md.
const RULE_SETS: &[(&str, &str)] = &[
    ("workspace", "Workspace settings"),
    ("chartmogul", "ChartMogul"),
    ("stripe", "Stripe"),
    ("profitwell", "ProfitWell"),
    ("baremetrics", "Baremetrics"),
];

/// "Stripe's rules", "the workspace's rules".
fn rules_phrase(preset: Option<&str>) -> String {
    match preset {
        Some(x) => format!("{}'s rules", rule_set_label(x)),
        None => "the workspace's rules".into(),
    }
}

fn rule_set_label(name: &str) -> &str {
    RULE_SETS.iter().find(|r| r.0 == name).map_or(name, |r| r.1)
}

/// The `preset` parameter, where `workspace` (or nothing) means no preset.
fn preset_of(p: &Params) -> Option<&str> {
    p.get("preset").filter(|x| *x != "workspace")
}

fn rule_set_select(name: &str, label: &str, current: &str) -> Markup {
    html! {
        label { (label)
            select name=(name) {
                @for (v, l) in RULE_SETS { option value=(v) selected[current == *v] { (l) } }
            }
        }
    }
}

/// The first day of a `YYYY-MM` month, and the first day after it.
fn month_days(m: &str) -> Option<(Date, Date)> {
    let d: Date = format!("{m}-01").parse().ok()?;
    Some((d, d.checked_add(1.month()).ok()?))
}

/// Date parameters (`from`/`to` as days, `to` exclusive) from the overview's months.
fn day_range(p: &Params) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some((a, _)) = p.get("from").and_then(month_days) {
        out.push(("from".into(), a.to_string()));
    }
    if let Some((_, b)) = p.get("to").and_then(month_days) {
        out.push(("to".into(), b.to_string()));
    }
    out
}

fn currency(doc: &Value) -> String {
    doc["reporting_currency"].as_str().unwrap_or("").to_string()
}

fn cents(x: f64) -> f64 {
    x / 100.0
}

// ---------------------------------------------------------------- overview

pub async fn overview(_: Guard, State(state): State<AppState>, Query(q): Q) -> Response {
    let p = Params(q);
    let mut ctx = Ctx::new("/", p.clone());
    let revenue = metric(&state, "revenue", p.pick(&["from", "to", "segment", "preset"])).await;
    let preset = preset_of(&p);
    let engagement = metric(&state, "engagement", day_range(&p)).await;
    let nps = metric(&state, "nps", day_range(&p)).await;
    let support = metric(&state, "support", day_range(&p)).await;
    let open_alerts =
        cached(&state, "tasks".into(), |ws| Ok(serde_json::to_value(tenure_query::health::tasks(ws.root())?)?)).await;

    let mut kpis: Vec<Markup> = Vec::new();
    let mut against = "the previous month".to_string();
    let mut body_charts = html! {};
    if let Ok(doc) = &revenue {
        let ms = months(doc);
        let cur = currency(doc);
        if let Some((last, m)) = ms.last() {
            if ms.len() >= 2 {
                against = ms[ms.len() - 2].0.clone();
            }
            let c2 = cur.clone();
            let money_change = move |d: f64| {
                format!("{}{} {}", if d >= 0.0 { "+" } else { "-" }, c2, super::ui::grouped(d.abs().round() as i64))
            };
            let pp = |d: f64| format!("{:+.2} pp", d);
            let link = explain_href(last, None, preset);
            kpis.push(
                Kpi::new("mrr", "MRR", money(&m["mrr_cents"], &cur))
                    .with_trend(series_of(&ms, "mrr_cents", 0.01), Better::Up, &money_change)
                    .link(link.clone())
                    .render(&against),
            );
            kpis.push(
                Kpi::new("arr", "ARR", money(&m["arr_cents"], &cur))
                    .with_trend(series_of(&ms, "arr_cents", 0.01), Better::Up, &money_change)
                    .link(link.clone())
                    .render(&against),
            );
            kpis.push(
                Kpi::new("net_new_mrr", "Net new MRR", money_signed(&m["net_new_mrr_cents"], &cur))
                    .with_trend(series_of(&ms, "net_new_mrr_cents", 0.01), Better::Up, &money_change)
                    .link(link.clone())
                    .render(&against),
            );
            kpis.push(
                Kpi::new("subscribers", "Customers", int(&m["subscribers"]))
                    .with_trend(series_of(&ms, "subscribers", 1.0), Better::Up, |d| format!("{d:+.0}"))
                    .link(link.clone())
                    .render(&against),
            );
            kpis.push(
                Kpi::new("arpa", "ARPA", money(&m["arpa_cents"], &cur))
                    .with_trend(series_of(&ms, "arpa_cents", 0.01), Better::Up, &money_change)
                    .render(&against),
            );
            kpis.push(
                Kpi::new("customer_churn_rate", "Customer churn", ratio_pct(&m["customer_churn_rate"]))
                    .with_trend(series_of(&ms, "customer_churn_rate", 100.0), Better::Down, pp)
                    .link(explain_href(last, Some("churn"), preset))
                    .render(&against),
            );
            kpis.push(
                Kpi::new("gross_mrr_churn_rate", "Revenue churn (gross)", ratio_pct(&m["gross_mrr_churn_rate"]))
                    .with_trend(series_of(&ms, "gross_mrr_churn_rate", 100.0), Better::Down, pp)
                    .link(explain_href(last, Some("churn"), preset))
                    .render(&against),
            );
            kpis.push(
                Kpi::new("nrr", "NRR (month)", ratio_pct(&m["nrr"]))
                    .with_trend(series_of(&ms, "nrr", 100.0), Better::Up, pp)
                    .note(format!("trailing 12 months {}", ratio_pct(&m["nrr_trailing_12m"])))
                    .render(&against),
            );
            kpis.push(
                Kpi::new("grr", "GRR (month)", ratio_pct(&m["grr"]))
                    .with_trend(series_of(&ms, "grr", 100.0), Better::Up, pp)
                    .note(format!("trailing 12 months {}", ratio_pct(&m["grr_trailing_12m"])))
                    .render(&against),
            );
            body_charts = html! {
                div.grid2 {
                    (mrr_chart(&ms, &cur))
                    (waterfall(last, m, ms.len().checked_sub(2).map(|i| ms[i].1), &cur, preset))
                }
                (movements_chart(&ms, &cur))
            };
        }
    }
    if let Ok(doc) = &engagement {
        let days = doc["days"].as_array().cloned().unwrap_or_default();
        // Month-end values, so the trend and change are month over month like the revenue cards.
        let ends: Vec<&Value> = days
            .iter()
            .enumerate()
            .filter(|(i, d)| {
                let next = days.get(i + 1).and_then(|n| n["date"].as_str());
                next.is_none_or(|n| n.get(..7) != d["date"].as_str().and_then(|s| s.get(..7)))
            })
            .map(|(_, d)| d)
            .collect();
        if let Some(last) = ends.last() {
            let mau: Vec<Option<f64>> = ends.iter().map(|d| d["mau"].as_f64()).collect();
            // As a percentage, as on the engagement page; the change in points.
            let ratio: Vec<Option<f64>> = ends.iter().map(|d| d["dau_mau_ratio"].as_f64().map(|r| r * 100.0)).collect();
            kpis.push(
                Kpi::new("mau", "Active users (30 days)", int(&last["mau"]))
                    .with_trend(mau, Better::Up, |d| format!("{d:+.0}"))
                    .note(format!("on {}", last["date"].as_str().unwrap_or("")))
                    .link("/engagement")
                    .render(&against),
            );
            kpis.push(
                Kpi::new("dau_mau", "DAU/MAU", ratio_pct(&last["dau_mau_ratio"]))
                    .with_trend(ratio, Better::Up, |d| format!("{d:+.2} pp"))
                    .link("/engagement")
                    .render(&against),
            );
        }
    }
    if let Ok(doc) = &nps {
        let o = &doc["overall"];
        let trend: Vec<Option<f64>> =
            doc["months"].as_array().into_iter().flatten().map(|m| m["nps"].as_f64()).collect();
        let last_month = doc["months"].as_array().and_then(|a| a.last()).and_then(|m| m["month"].as_str());
        kpis.push(
            Kpi::new("nps", "NPS", format!("{} ± {}", dec(&o["nps"], 1), dec(&o["margin_of_error"], 1)))
                .with_trend(trend, Better::Up, |d| format!("{d:+.1}"))
                .note(format!(
                    "n = {}, {}% confidence",
                    int(&o["n"]),
                    dec(&json!(o["confidence_level"].as_f64().map(|c| c * 100.0)), 0)
                ))
                .link(answers_href(&Params(day_range(&p)), "nps", &[]))
                .render(&format!("the survey month before {}", last_month.unwrap_or("the last"))),
        );
    }
    if let Ok(doc) = &support {
        let o = &doc["overall"];
        kpis.push(
            Kpi::new("frt", "Median first response", duration(&o["frt_from_creation_median_seconds"]))
                .note(format!("FCR {} · {} tickets", pct(&o["fcr_strict_rate_pct"]), int(&o["tickets"])))
                .link("/support")
                .render(&against),
        );
    }
    if let Ok(tasks) = &open_alerts {
        let open = tasks.as_array().into_iter().flatten().filter(|t| t["status"] != "closed").count();
        let mut k = Kpi::new("open_alerts", "Open alerts", open.to_string()).link("/alerts");
        k.note = Some(if open == 0 { "nothing needs attention".into() } else { "tasks from health alerts".into() });
        kpis.push(k.render(&against));
    }

    let segment_table = match (&revenue, p.get("segment")) {
        (Ok(doc), Some(attr)) => segment_breakdown(&mut ctx, doc, attr),
        _ => html! {},
    };
    let body = html! {
        (filters("/", &p, &Filters { kind: "month", segments: true, extra: html! {} }))
        @if let Err(e) = &revenue { (notice("Revenue", e)) }
        div.kpis { @for k in &kpis { (k) } }
        (body_charts)
        (segment_table)
    };
    respond("Overview", ctx, body)
}

fn mrr_chart(ms: &[(&String, &Value)], cur: &str) -> Markup {
    Chart::new("mrr", "MRR", ms.iter().map(|m| m.0.clone()).collect(), cur)
        .series(Series::line("MRR", series_of(ms, "mrr_cents", 0.01), NEUTRAL))
        .render()
}

fn movements_chart(ms: &[(&String, &Value)], cur: &str) -> Markup {
    let mut c =
        Chart::new("movements", "MRR movements by type", ms.iter().map(|m| m.0.clone()).collect(), cur).stacked();
    for (k, label, color) in MOVEMENTS {
        c = c.series(Series::bar(
            label,
            ms.iter().map(|(_, m)| m["movements"][k].as_f64().map(cents)).collect(),
            color,
        ));
    }
    c.series(Series::line("Net new MRR", series_of(ms, "net_new_mrr_cents", 0.01), "#1d2433")).render()
}

/// The month's MRR bridge, from the previous month's MRR to this month's:
/// each movement a step (green up, red down), FX and other changes last.
fn waterfall(month: &str, m: &Value, prev: Option<&Value>, cur: &str, preset: Option<&str>) -> Markup {
    let end = m["mrr_cents"].as_f64().unwrap_or(0.0) / 100.0;
    let start = prev.and_then(|p| p["mrr_cents"].as_f64()).unwrap_or(0.0) / 100.0;
    let mut steps: Vec<(String, f64, &str, Option<String>)> = Vec::new();
    let mut sum = 0.0;
    for (k, label, color) in MOVEMENTS {
        let v = m["movements"][k].as_f64().unwrap_or(0.0) / 100.0;
        sum += v;
        steps.push((label.to_string(), v, color, Some(explain_href(month, Some(k), preset))));
    }
    let other = end - start - sum;
    if other.abs() >= 0.5 {
        steps.push(("FX & other".into(), other, MUTED, None));
    }
    // Running levels for the bars.
    let mut bars: Vec<(String, f64, f64, &str, Option<String>)> = vec![("Start".into(), 0.0, start, NEUTRAL, None)];
    let mut level = start;
    for (label, v, color, href) in steps {
        bars.push((label, level, level + v, color, href));
        level += v;
    }
    bars.push(("End".into(), 0.0, end, NEUTRAL, Some(explain_href(month, None, preset))));
    let hi = bars.iter().map(|b| b.1.max(b.2)).fold(0.0, f64::max).max(1.0);
    // The axis starts just under the lowest running level (not at zero), so
    // that movements of a few percent of MRR are visible steps.
    let steps = &bars[1..bars.len() - 1];
    let lowest = steps.iter().map(|b| b.1.min(b.2)).chain([start, end]).fold(f64::INFINITY, f64::min);
    let floor = if lowest > 0.0 { (lowest - (hi - lowest) * 0.5).max(0.0) } else { lowest.min(0.0) };
    let (w, h, pad_l, pad_b, pad_t) = (640.0, 250.0, 8.0, 42.0, 22.0);
    let bw = (w - pad_l) / bars.len() as f64;
    let y = |v: f64| pad_t + (hi - v.max(floor)) / (hi - floor).max(1e-9) * (h - pad_b - pad_t);
    html! {
        section.card.chart-card {
            h3 { "MRR bridge, " (month) " (" (cur) ")" }
            svg.waterfall viewBox=(format!("0 0 {w} {h}")) role="img" aria-label=(format!("MRR waterfall for {month}")) {
                @for (i, (label, a, b, color, href)) in bars.iter().enumerate() {
                    @let x = pad_l + i as f64 * bw + bw * 0.15;
                    @let top = y(a.max(*b));
                    @let height = (y(a.min(*b)) - top).max(1.0);
                    @let value = if i == 0 || i == bars.len() - 1 { *b } else { b - a };
                    @let text = format!("{}{}", if i > 0 && i < bars.len() - 1 && value > 0.0 { "+" } else { "" }, super::ui::grouped(value.round() as i64));
                    g.step {
                        @if let Some(h) = href {
                            a href=(h) {
                                rect x=(format!("{x:.1}")) y=(format!("{top:.1}")) width=(format!("{:.1}", bw * 0.7)) height=(format!("{height:.1}")) fill=(color) {
                                    title { (label) ": " (text) }
                                }
                            }
                        } @else {
                            rect x=(format!("{x:.1}")) y=(format!("{top:.1}")) width=(format!("{:.1}", bw * 0.7)) height=(format!("{height:.1}")) fill=(color) {
                                title { (label) ": " (text) }
                            }
                        }
                        text.v x=(format!("{:.1}", x + bw * 0.35)) y=(format!("{:.1}", top - 5.0)) text-anchor="middle" { (text) }
                        text.l x=(format!("{:.1}", x + bw * 0.35)) y=(format!("{:.1}", h - pad_b + 16.0)) text-anchor="middle" { (label) }
                    }
                }
                line x1="0" x2=(w) y1=(format!("{:.1}", h - pad_b)) y2=(format!("{:.1}", h - pad_b)) stroke="#c9d0dc" {}
            }
            @if floor > 0.0 { p.hint { "Bars start at " (cur) " " (super::ui::grouped(floor.round() as i64)) " so that small movements show." } }
        }
    }
}

/// The last month of each segment of a revenue document cut by an attribute.
fn segment_breakdown(ctx: &mut Ctx, doc: &Value, attr: &str) -> Markup {
    let cur = currency(doc);
    let mut t = Table::new(
        "segments",
        &format!("By {}, last month", attr.replace('_', " ")),
        &[
            "value",
            "MRR",
            "customers",
            "ARPA",
            "customer churn",
            "NRR (month)",
            "NRR (12 months)",
            "GRR (12 months)",
            "net MRR renewal rate",
        ],
    )
    .empty("No customers carry this attribute.");
    for (value, seg) in doc["segments"].as_object().into_iter().flatten() {
        let Some((_, m)) = months(seg).last().copied() else { continue };
        t.rows.push(vec![
            Cell::text(value.clone()),
            Cell::num(&m["mrr_cents"], money(&m["mrr_cents"], &cur)),
            Cell::num(&m["subscribers"], int(&m["subscribers"])),
            Cell::num(&m["arpa_cents"], money(&m["arpa_cents"], &cur)),
            Cell::num(&m["customer_churn_rate"], ratio_pct(&m["customer_churn_rate"])),
            Cell::num(&m["nrr"], ratio_pct(&m["nrr"])),
            Cell::num(&m["nrr_trailing_12m"], ratio_pct(&m["nrr_trailing_12m"])),
            Cell::num(&m["grr_trailing_12m"], ratio_pct(&m["grr_trailing_12m"])),
            Cell::num(&m["net_mrr_renewal_rate"], ratio_pct(&m["net_mrr_renewal_rate"])),
        ]);
    }
    ctx.table(t)
}

// ---------------------------------------------------------------- revenue

pub async fn revenue(_: Guard, State(state): State<AppState>, Query(q): Q) -> Response {
    let p = Params(q);
    let mut ctx = Ctx::new("/revenue", p.clone());
    let preset = preset_of(&p);
    let doc = metric(&state, "revenue", p.pick(&["from", "to", "segment", "as_of", "preset"])).await;
    let f = filters(
        "/revenue",
        &p,
        &Filters {
            kind: "month",
            segments: true,
            extra: rule_set_select("preset", "Rules", preset.unwrap_or("workspace")),
        },
    );
    let doc = match doc {
        Ok(d) => d,
        Err(e) => return respond("Revenue", ctx, html! { (f) (notice("No revenue figures", &e)) }),
    };
    let rules_note = rules_note(&state, preset).await;
    let cur = currency(&doc);
    let ms = months(&doc);
    let x: Vec<String> = ms.iter().map(|m| m.0.clone()).collect();

    let mut monthly = Table::new(
        "months",
        "Month by month (click a month for its customers)",
        &[
            "month",
            "MRR",
            "new business",
            "expansion",
            "reactivation",
            "contraction",
            "churn",
            "net new MRR",
            "customers",
            "customer churn",
            "NRR",
            "GRR",
            "quick ratio",
        ],
    );
    for (month, m) in ms.iter().rev() {
        let mut row = vec![
            Cell::text(month.as_str()).link(explain_href(month, None, preset)),
            Cell::num(&m["mrr_cents"], money(&m["mrr_cents"], &cur)).link(explain_href(month, None, preset)),
        ];
        for (k, _, _) in MOVEMENTS {
            let v = &m["movements"][k];
            row.push(Cell::num(v, money(v, &cur)).link(explain_href(month, Some(k), preset)));
        }
        row.extend([
            Cell::num(&m["net_new_mrr_cents"], money_signed(&m["net_new_mrr_cents"], &cur)),
            Cell::num(&m["subscribers"], int(&m["subscribers"])),
            Cell::num(&m["customer_churn_rate"], ratio_pct(&m["customer_churn_rate"])),
            Cell::num(&m["nrr"], ratio_pct(&m["nrr"])),
            Cell::num(&m["grr"], ratio_pct(&m["grr"])),
            Cell::num(&m["quick_ratio"], dec(&m["quick_ratio"], 2)),
        ]);
        monthly.rows.push(row);
    }

    let mut renewals = Table::new(
        "renewals",
        "Renewals due by month",
        &["month", "due", "renewed", "lapsed", "cancelled", "renewal rate", "gross MRR renewal", "net MRR renewal"],
    )
    .empty("No subscription term ended in these months.");
    for (month, m) in ms.iter().rev().filter(|(_, m)| m["renewals_due"].as_u64().unwrap_or(0) > 0) {
        renewals.rows.push(vec![
            Cell::text(month.as_str()),
            Cell::num(&m["renewals_due"], int(&m["renewals_due"])),
            Cell::num(&m["renewals_renewed"], int(&m["renewals_renewed"])),
            Cell::num(&m["renewals_lapsed"], int(&m["renewals_lapsed"])),
            Cell::num(&m["renewals_cancelled"], int(&m["renewals_cancelled"])),
            Cell::num(&m["renewal_rate"], ratio_pct(&m["renewal_rate"])),
            Cell::num(&m["gross_mrr_renewal_rate"], ratio_pct(&m["gross_mrr_renewal_rate"])),
            Cell::num(&m["net_mrr_renewal_rate"], ratio_pct(&m["net_mrr_renewal_rate"])),
        ]);
    }

    let mut unit = Table::new(
        "unit_economics",
        "Acquisition and lifetime value",
        &[
            "month",
            "trials started",
            "trial→paid",
            "new customers",
            "CAC",
            "new-business ARPA",
            "CAC payback (months)",
            "LTV",
            "LTV (gross margin)",
        ],
    );
    for (month, m) in ms.iter().rev() {
        unit.rows.push(vec![
            Cell::text(month.as_str()),
            Cell::num(&m["trials_started"], int(&m["trials_started"])),
            Cell::num(&m["trial_to_paid_conversion_rate"], ratio_pct(&m["trial_to_paid_conversion_rate"])),
            Cell::num(&m["new_business_customers"], int(&m["new_business_customers"])),
            Cell::num(&m["cac_cents"], money(&m["cac_cents"], &cur)),
            Cell::num(&m["new_business_arpa_cents"], money(&m["new_business_arpa_cents"], &cur)),
            Cell::num(&m["cac_payback_months"], dec(&m["cac_payback_months"], 1)),
            Cell::num(&m["ltv_simple_cents"], money(&m["ltv_simple_cents"], &cur)),
            Cell::num(&m["ltv_gross_margin_cents"], money(&m["ltv_gross_margin_cents"], &cur)),
        ]);
    }

    let segments = match p.get("segment") {
        Some(attr) => {
            let mut c = Chart::new("segment_mrr", "MRR by segment", x.clone(), &cur);
            let palette = [NEUTRAL, GOOD, WARN, BAD, "#8e5bd8", "#2bb3c0", MUTED, "#b5651d"];
            for (i, (v, seg)) in doc["segments"].as_object().into_iter().flatten().enumerate() {
                let sm = months(seg);
                let by: std::collections::HashMap<&str, Option<f64>> =
                    sm.iter().map(|(k, m)| (k.as_str(), m["mrr_cents"].as_f64().map(cents))).collect();
                let vals = x.iter().map(|k| by.get(k.as_str()).copied().flatten()).collect();
                c = c.series(Series {
                    label: v.clone(),
                    values: vals,
                    color: palette[i % palette.len()],
                    kind: "line",
                });
            }
            html! { (c.render()) (segment_breakdown(&mut ctx, &doc, attr)) }
        }
        None => html! {
            p.hint { "Choose " b { "Break down by" } " above to compare segments (net renewal, churn and MRR by segment, plan or owner)." }
        },
    };

    let reconciliation = reconciliation(&state, &mut ctx, &p, ms.last().map(|m| m.0.as_str()), &cur).await;
    let body = html! {
        (f)
        (rules_note)
        div.grid2 {
            (movements_chart(&ms, &cur))
            (Chart::new("retention_rates", "Net and gross MRR retention (month)", x.clone(), "%")
                .series(Series::line("NRR", series_of(&ms, "nrr", 100.0), GOOD))
                .series(Series::line("GRR", series_of(&ms, "grr", 100.0), NEUTRAL))
                .series(Series::line("NRR, trailing 12 months", series_of(&ms, "nrr_trailing_12m", 100.0), "#6cc788"))
                .render())
        }
        (segments)
        (ctx.table(monthly))
        div.grid2 {
            (Chart::new("trial_conversion", "Trial to paid conversion", x.clone(), "%")
                .series(Series::line("trial→paid", series_of(&ms, "trial_to_paid_conversion_rate", 100.0), GOOD))
                .empty("No trials in these months.")
                .render())
            (Chart::new("cac_payback", "CAC payback", x.clone(), "months")
                .series(Series::line("payback", series_of(&ms, "cac_payback_months", 1.0), WARN))
                .empty("No sales & marketing costs imported: `tenure import costs FILE`.")
                .render())
        }
        (ctx.table(renewals))
        (ctx.table(unit))
        (cohort_heatmap(&mut ctx, &doc, "customer_retention", "cohort_customers", "Cohort retention: customers still subscribed"))
        (cohort_heatmap(&mut ctx, &doc, "net_mrr_retention", "cohort_mrr", "Cohort retention: net MRR"))
        (reconciliation)
    };
    respond("Revenue", ctx, body)
}

/// Which rules the figures follow, said above them.
async fn rules_note(state: &AppState, preset: Option<&str>) -> Markup {
    let given = cached(state, "revenue-rules-given".into(), |ws| Ok(json!(ws.settings().revenue.given))).await;
    let given: Vec<String> = given.ok().and_then(|g| serde_json::from_value((*g).clone()).ok()).unwrap_or_default();
    html! {
        p.hint.rules {
            @match preset {
                Some(x) => {
                    "Every figure on this page follows " b { (rule_set_label(x)) "'s rules" } " (docs/presets.md), as "
                    code { "tenure metrics revenue --preset " (x) } " does"
                    @if !given.is_empty() {
                        "; the rules tenure.toml writes explicitly still win: " (given.join(", "))
                    }
                    ". The customers behind each figure follow them too."
                }
                None => {
                    "Figures follow the workspace's rules (tenure.toml). Choose "
                    b { "Rules" } " above to see them as ChartMogul, Stripe, ProfitWell or Baremetrics count them."
                }
            }
        }
    }
}

/// Money with cents, for differences that can be small: `+USD 12.34`.
fn money_exact(v: &Value, cur: &str) -> String {
    match v.as_f64() {
        Some(c) => {
            let r = c.abs().round() as i64;
            let sign = if r == 0 {
                ""
            } else if c > 0.0 {
                "+"
            } else {
                "-"
            };
            format!("{sign}{cur} {}.{:02}", super::ui::grouped(r / 100), r % 100)
        }
        None => "–".into(),
    }
}

/// The reconciliation of two rule sets for one month (`tenure reconcile
/// --month M --a A --b B`): the figures under each, the rules that differ,
/// and each customer's difference with the rule causing it.
async fn reconciliation(state: &AppState, ctx: &mut Ctx, p: &Params, last_month: Option<&str>, cur: &str) -> Markup {
    let Some(month) = p.get("month").or(last_month).map(str::to_string) else { return html! {} };
    let a = p.get("a").unwrap_or("workspace").to_string();
    let b = p.get("b").or(preset_of(p)).unwrap_or("stripe").to_string();
    let keep = p.without(&["month", "a", "b", "csv"]);
    let form = html! {
        form.filters method="get" action="/revenue#reconcile" {
            @for (k, v) in &keep.0 { input type="hidden" name=(k) value=(v); }
            label { "Month" input type="month" name="month" value=(month) required; }
            (rule_set_select("a", "Compare", &a))
            (rule_set_select("b", "with", &b))
            button type="submit" { "Reconcile" }
        }
    };
    let head = html! {
        h2 id="reconcile" { "Why the numbers differ: " (rule_set_label(&a)) " → " (rule_set_label(&b)) ", " (month) }
        (form)
    };
    if a == b {
        return html! { (head) p.hint { "Choose two different rule sets to compare." } };
    }
    let key = format!("reconcile/{month}/{a}/{b}");
    let (m2, a2, b2) = (month.clone(), a.clone(), b.clone());
    let doc = match cached(state, key, move |ws| tenure_query::reconcile::rules_doc(ws, &m2, &a2, &b2)).await {
        Ok(d) => d,
        Err(e) => return html! { (head) (notice("Cannot reconcile", &e)) },
    };
    let kinds: Vec<(&str, &str)> = MOVEMENTS.iter().map(|(k, l, _)| (*k, *l)).collect();
    let (fa, fb, fd) = (&doc["a"]["figures"], &doc["b"]["figures"], &doc["difference"]);
    let mut totals = Table::new(
        "reconcile_totals",
        &format!("{month}: {} and {}", rule_set_label(&a), rule_set_label(&b)),
        &["figure", rule_set_label(&a), rule_set_label(&b), "difference"],
    );
    totals.rows.push(vec![
        Cell::text("MRR"),
        Cell::num(&fa["mrr_cents"], money_exact(&fa["mrr_cents"], cur).trim_start_matches('+').to_string()),
        Cell::num(&fb["mrr_cents"], money_exact(&fb["mrr_cents"], cur).trim_start_matches('+').to_string()),
        Cell::num(&fd["mrr_cents"], money_exact(&fd["mrr_cents"], cur)),
    ]);
    totals.rows.push(vec![
        Cell::text("subscribers"),
        Cell::num(&fa["subscribers"], int(&fa["subscribers"])),
        Cell::num(&fb["subscribers"], int(&fb["subscribers"])),
        Cell::num(&fd["subscribers"], format!("{:+}", fd["subscribers"].as_i64().unwrap_or(0))),
    ]);
    for (k, label) in &kinds {
        let v = |f: &Value| f["movements"][*k].clone();
        totals.rows.push(vec![
            Cell::text(*label),
            Cell::num(&v(fa), money_exact(&v(fa), cur)),
            Cell::num(&v(fb), money_exact(&v(fb), cur)),
            Cell::num(&v(fd), money_exact(&v(fd), cur)),
        ]);
    }
    let mut cols = vec!["customer", "rule", "MRR", "subscribers"];
    cols.extend(kinds.iter().map(|k| k.1));
    cols.push("why");
    let rows = doc["customers"].as_array().cloned().unwrap_or_default();
    let mut t = Table::new(
        "reconcile",
        &format!("By customer and rule, largest first ({} rows; they add up to the differences)", rows.len()),
        &cols,
    )
    .empty("The two rule sets count every customer alike this month.");
    let mut sums = vec![0.0; 2 + kinds.len()];
    for r in &rows {
        let id = r["customer_id"].as_str().unwrap_or("");
        let mut row = vec![
            Cell::text(id).link(format!("/accounts/{}", super::session::urlencode(id))),
            Cell::text(r["rule"].as_str().unwrap_or("")),
            Cell::num(&r["mrr_cents"], money_exact(&r["mrr_cents"], cur)),
            Cell::num(&r["subscribers"], format!("{:+}", r["subscribers"].as_i64().unwrap_or(0))),
        ];
        sums[0] += r["mrr_cents"].as_f64().unwrap_or(0.0);
        sums[1] += r["subscribers"].as_f64().unwrap_or(0.0);
        for (i, (k, _)) in kinds.iter().enumerate() {
            let v = &r["movements"][*k];
            sums[2 + i] += v.as_f64().unwrap_or(0.0);
            row.push(Cell::num(v, if v.as_f64() == Some(0.0) { String::new() } else { money_exact(v, cur) }));
        }
        row.push(Cell::text(r["explanation"].as_str().unwrap_or("")).class("why"));
        t.rows.push(row);
    }
    if !rows.is_empty() {
        let mut foot = vec![
            Cell::text(format!("total of {} rows", rows.len())),
            Cell::text(""),
            Cell::num(&json!(sums[0]), money_exact(&json!(sums[0]), cur)),
            Cell::num(&json!(sums[1]), format!("{:+}", sums[1])),
        ];
        foot.extend(sums[2..].iter().map(|x| Cell::num(&json!(x), money_exact(&json!(x), cur))));
        foot.push(Cell::text(""));
        t.foot = Some(foot);
    }
    let switched = doc["rules_switched"].as_array().cloned().unwrap_or_default();
    html! {
        (head)
        @if switched.is_empty() {
            p.hint { "The two rule sets agree on every contested rule: nothing differs." }
        } @else {
            p.hint { "Rules that differ, switched one at a time in this order (each customer's change is put on the rule switched):" }
            ul.rules {
                @for r in &switched {
                    li { code { (r["rule"].as_str().unwrap_or("")) } ": " (r["a"].as_str().unwrap_or("")) " → " b { (r["b"].as_str().unwrap_or("")) } " (" (r["b_means"].as_str().unwrap_or("")) ")" }
                }
            }
        }
        div.grid2.reconcile {
            (ctx.table(totals))
            div {}
        }
        (ctx.table(t))
    }
}

/// Cohorts by month of first New Business, retention by months since.
fn cohort_heatmap(ctx: &mut Ctx, doc: &Value, key: &str, id: &str, title: &str) -> Markup {
    let cohorts: Vec<(&String, &Value)> = doc["cohorts"].as_object().map(|m| m.iter().collect()).unwrap_or_default();
    let width = cohorts.iter().map(|(_, c)| c[key].as_array().map_or(0, Vec::len)).max().unwrap_or(0).min(13);
    let mut cols = vec!["cohort".to_string(), "size".to_string()];
    cols.extend((0..width).map(|i| format!("M{i}")));
    let mut t = Table::new(id, title, &[]).empty("No new customers in these months.");
    t.columns = cols;
    for (month, c) in cohorts.iter().rev() {
        let mut row = vec![Cell::text(month.as_str()), Cell::num(&c["size"], int(&c["size"]))];
        let vals = c[key].as_array().cloned().unwrap_or_default();
        for i in 0..width {
            let v = vals.get(i).cloned().unwrap_or(Value::Null);
            let p = v.as_f64().map(|x| x * 100.0);
            let mut cell = Cell::num(&v, p.map_or(String::new(), |p| format!("{p:.0}%"))).class("heat");
            if let Some(s) = heat(p.map(|p| p.min(100.0))) {
                cell = cell.style(s);
            }
            row.push(cell);
        }
        t.rows.push(row);
    }
    ctx.table(t)
}

pub async fn explain(_: Guard, State(state): State<AppState>, Query(q): Q) -> Response {
    let p = Params(q);
    let mut ctx = Ctx::new("/revenue/explain", p.clone());
    let Some(month) = p.get("month").map(str::to_string) else {
        return respond(
            "Explain",
            ctx,
            notice("Which month?", "Open this page from a revenue figure, or add ?month=YYYY-MM."),
        );
    };
    let preset = preset_of(&p);
    let mut params = vec![("explain".to_string(), month.clone())];
    if let Some(k) = p.get("movement") {
        params.push(("movement".into(), k.into()));
    }
    if let Some(x) = preset {
        params.push(("preset".into(), x.into()));
    }
    let doc = match metric(&state, "revenue", params).await {
        Ok(d) => d,
        Err(e) => return respond("Explain", ctx, notice("Cannot explain this month", &e)),
    };
    let cur = state_currency(&state).await;
    let mut mv = Table::new("movements", "Movements", &["customer", "date", "type", "amount"])
        .empty("No movement of this type in this month.");
    let mut total = 0.0;
    for m in doc["movements"].as_array().into_iter().flatten() {
        let id = m["customer_id"].as_str().unwrap_or("");
        total += m["amount_cents"].as_f64().unwrap_or(0.0);
        mv.rows.push(vec![
            Cell::text(id).link(format!("/accounts/{}", super::session::urlencode(id))),
            Cell::text(m["date"].as_str().unwrap_or("")),
            Cell::text(m["type"].as_str().unwrap_or("").replace('_', " ")),
            Cell::num(&m["amount_cents"], money_signed(&m["amount_cents"], &cur)),
        ]);
    }
    let list = |id: &str, title: &str, key: &str| {
        let mut t = Table::new(id, title, &["customer"]);
        for c in doc[key].as_array().into_iter().flatten().filter_map(Value::as_str) {
            t.rows.push(vec![Cell::text(c).link(format!("/accounts/{}", super::session::urlencode(c)))]);
        }
        t
    };
    let kinds = html! {
        nav.chips {
            a href=(explain_href(&month, None, preset)) class=[p.get("movement").is_none().then_some("active")] { "all" }
            @for (k, label, _) in MOVEMENTS {
                a href=(explain_href(&month, Some(k), preset)) class=[(p.get("movement") == Some(k)).then_some("active")] { (label) }
            }
        }
    };
    let body = html! {
        p { "The customers behind the revenue figures of " b { (month) } " under " (rules_phrase(preset)) ". Total of these movements: " b { (money_signed(&json!(total), &cur)) } "." }
        (kinds)
        (ctx.table(mv))
        div.grid2 {
            (ctx.table(list("subscribers_start", "Customers at the start of the month", "subscribers_start")))
            (ctx.table(list("subscribers_end", "Customers at the end of the month", "subscribers")))
        }
        (ctx.table(list("past_due", "Past due at the end of the month", "past_due_subscribers")))
    };
    respond(&format!("Revenue explained: {month}"), ctx, body)
}

async fn state_currency(state: &AppState) -> String {
    cached(state, "currency".into(), |ws| Ok(json!(ws.settings().workspace.reporting_currency.as_str())))
        .await
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

// ---------------------------------------------------------------- engagement

fn by_select(p: &Params) -> Markup {
    html! {
        label { "Count"
            select name="by" {
                option value="user" selected[p.get("by") != Some("account")] { "people" }
                option value="account" selected[p.get("by") == Some("account")] { "accounts" }
            }
        }
    }
}

/// The engagement page's parts that read every usage event (the others come
/// from the per-day rollups at once): shown when ready within the page's
/// deadline, else as a placeholder the browser fills (see [`super::pending`]).
const ENGAGEMENT_PARTS: [(&str, &str); 4] = [
    ("sessions", "Sessions and time on platform"),
    ("lifecycle", "Lifecycle"),
    ("adoption", "Feature adoption"),
    ("funnel", "Customer journey"),
];

pub async fn engagement(_: Guard, State(state): State<AppState>, Query(q): Q) -> Response {
    let p = Params(q);
    let mut ctx = Ctx::new("/engagement", p.clone());
    let who = if p.get("by") == Some("account") { "accounts" } else { "users" };
    if let Some(part) = p.get("part").map(str::to_string) {
        return match ENGAGEMENT_PARTS.iter().find(|(n, _)| *n == part) {
            Some(_) => fragment(engagement_part(&state, &p, &mut ctx, &part, who).await),
            None => (StatusCode::NOT_FOUND, format!("the engagement page has no part {part:?}")).into_response(),
        };
    }
    let deadline = Deadline::for_page(&p);
    let base = p.pick(&["from", "to", "by"]);
    let f = filters("/engagement", &p, &Filters { kind: "date", segments: false, extra: by_select(&p) });
    let active = match metric(&state, "engagement", base.clone()).await {
        Ok(d) => d,
        Err(e) => return respond("Engagement", ctx, html! { (f) (notice("No usage figures", &e)) }),
    };
    // Stickiness over the last four weeks of the range unless a range is chosen.
    let mut stick_params = base.clone();
    if p.get("from").is_none()
        && let Some(to) = active["to"].as_str().and_then(|s| s.parse::<Date>().ok())
        && let Ok(from) = to.checked_sub(28.days())
    {
        stick_params.push(("from".into(), from.to_string()));
        stick_params.retain(|(k, _)| k != "to");
        stick_params.push(("to".into(), to.to_string()));
    }
    let mut retention_params = base.clone();
    retention_params.push(("period".into(), "month".into()));
    let (stick, retention) =
        (metric(&state, "stickiness", stick_params).await, metric(&state, "retention", retention_params).await);
    let mut parts = Vec::new();
    for (name, what) in ENGAGEMENT_PARTS {
        let ready = deadline.within(engagement_part(&state, &p, &mut ctx, name, who)).await;
        parts.push(ready.unwrap_or_else(|| pending(&ctx, name, what, name == "sessions")));
    }
    let [sessions_part, lifecycle_part, adoption_part, funnel_part] = parts.try_into().expect("four parts");

    let days = active["days"].as_array().cloned().unwrap_or_default();
    let x: Vec<String> = days.iter().map(|d| d["date"].as_str().unwrap_or("").to_string()).collect();
    let col = |k: &str| days.iter().map(|d| d[k].as_f64()).collect::<Vec<_>>();
    let last = days.last().cloned().unwrap_or(Value::Null);

    let labels = [format!("Daily active {who}"), format!("Weekly active {who}"), format!("Monthly active {who}")];
    let kpis = [
        Kpi::new("dau", &labels[0], int(&last["dau"])).note(format!("on {}", last["date"].as_str().unwrap_or(""))),
        Kpi::new("wau", &labels[1], int(&last["wau"])).note("7 days to that day"),
        Kpi::new("mau", &labels[2], int(&last["mau"])).note("30 days to that day"),
        Kpi::new("dau_mau", "Stickiness (DAU/MAU)", ratio_pct(&last["dau_mau_ratio"]))
            .note("share of the month's actives active that day"),
    ];

    let stick_chart = match &stick {
        Ok(s) => {
            let n: Vec<String> = s["intervals"].as_array().into_iter().flatten().map(|v| v.to_string()).collect();
            Chart::new(
                "stickiness",
                &format!(
                    "Stickiness: {who} by number of active days ({} to {})",
                    s["from"].as_str().unwrap_or(""),
                    s["to"].as_str().unwrap_or("")
                ),
                n.iter().map(|d| format!("{d} d")).collect(),
                who,
            )
            .series(Series::bar(
                who,
                s["actors"].as_array().into_iter().flatten().map(Value::as_f64).collect(),
                NEUTRAL,
            ))
            .render()
        }
        Err(e) => notice("Stickiness", e),
    };
    let retention_table = match &retention {
        Ok(r) => {
            let cohorts = r["cohorts"].as_array().cloned().unwrap_or_default();
            let width =
                cohorts.iter().map(|c| c["retained_pct"].as_array().map_or(0, Vec::len)).max().unwrap_or(0).min(13);
            let mut t = Table::new("retention", &format!("Retention of {who} by monthly cohort (first-time)"), &[]);
            t.columns =
                ["cohort", "size"].iter().map(|s| s.to_string()).chain((0..width).map(|i| format!("M{i}"))).collect();
            for c in cohorts.iter().rev() {
                let mut row = vec![
                    Cell::text(c["cohort_date"].as_str().unwrap_or("")),
                    Cell::num(&c["cohort_size"], int(&c["cohort_size"])),
                ];
                let vals = c["retained_pct"].as_array().cloned().unwrap_or_default();
                for i in 0..width {
                    let v = vals.get(i).cloned().unwrap_or(Value::Null);
                    let mut cell =
                        Cell::num(&v, v.as_f64().map_or(String::new(), |x| format!("{x:.0}%"))).class("heat");
                    if let Some(s) = heat(v.as_f64()) {
                        cell = cell.style(s);
                    }
                    row.push(cell);
                }
                t.rows.push(row);
            }
            ctx.table(t)
        }
        Err(e) => notice("Retention", e),
    };

    let body = html! {
        (f)
        div.kpis.seven { @for k in &kpis { (k.render("")) } (sessions_part) }
        (Chart::new("active", &format!("Active {who}: daily, weekly, monthly"), x.clone(), who)
            .series(Series::line("DAU", col("dau"), NEUTRAL))
            .series(Series::line("WAU", col("wau"), GOOD))
            .series(Series::line("MAU", col("mau"), "#8e5bd8"))
            .render())
        div.grid2 {
            (Chart::new("ratios", "DAU/MAU and WAU/MAU (share of monthly actives)", x.clone(), "%")
                .series(Series::line("DAU/MAU", col("dau_mau_ratio").into_iter().map(|v| v.map(|r| r * 100.0)).collect(), NEUTRAL))
                .series(Series::line("WAU/MAU", col("wau_mau_ratio").into_iter().map(|v| v.map(|r| r * 100.0)).collect(), GOOD))
                .render())
            (stick_chart)
        }
        (lifecycle_part)
        (retention_table)
        div.grid2 { (adoption_part) (funnel_part) }
    };
    respond("Engagement", ctx, body)
}

/// One of [`ENGAGEMENT_PARTS`], computed (waiting as long as it takes) and drawn.
async fn engagement_part(state: &AppState, p: &Params, ctx: &mut Ctx, name: &str, who: &str) -> Markup {
    let base = p.pick(&["from", "to", "by"]);
    match name {
        "sessions" => match metric(state, "sessions", base).await {
            Ok(s) => html! {
                div.kpis-part {
                    (Kpi::new("sessions", "Sessions", int(&s["session_count"]))
                        .note(format!("{} single-event", int(&s["single_event_sessions"])))
                        .render(""))
                    (Kpi::new("session_length", "Average session", duration(&s["average_session_duration_seconds"]))
                        .note("first to last event, 30 min idle splits")
                        .render(""))
                    (Kpi::new("time_on_platform", "Time on platform", duration(&s["total_time_seconds"]))
                        .note(format!("all {who}, the whole range"))
                        .render(""))
                }
            },
            Err(e) => notice("Sessions", &e),
        },
        "lifecycle" => {
            let mut params = base;
            params.push(("period".into(), "week".into()));
            match metric(state, "lifecycle", params).await {
                Ok(l) => {
                    let iv = l["intervals"].as_array().cloned().unwrap_or_default();
                    let xs = iv.iter().map(|i| i["date"].as_str().unwrap_or("").to_string()).collect();
                    let get =
                        |k: &str, sign: f64| iv.iter().map(|i| i[k].as_f64().map(|v| v * sign)).collect::<Vec<_>>();
                    Chart::new("lifecycle", &format!("Lifecycle of {who} by week (dormant shown below zero)"), xs, who)
                        .stacked()
                        .series(Series::bar("new", get("new", 1.0), GOOD))
                        .series(Series::bar("returning", get("returning", 1.0), NEUTRAL))
                        .series(Series::bar("resurrecting", get("resurrecting", 1.0), "#8e5bd8"))
                        .series(Series::bar("dormant", get("dormant", -1.0), BAD))
                        .render()
                }
                Err(e) => notice("Lifecycle", &e),
            }
        }
        "adoption" => match metric(state, "adoption", p.pick(&["from", "to"])).await {
            Ok(a) => {
                let feats = a["features"].as_array().cloned().unwrap_or_default();
                let mut t = Table::new(
                    "adoption",
                    "Feature adoption (share of active accounts)",
                    &["feature", "accounts", "adoption", "uses", "people"],
                )
                .empty("No track events with a groupId: adoption is counted per account.");
                for ft in &feats {
                    t.rows.push(vec![
                        Cell::text(ft["feature"].as_str().unwrap_or("")),
                        Cell::num(&ft["accounts"], int(&ft["accounts"])),
                        Cell::num(&ft["adoption_pct"], pct(&ft["adoption_pct"])),
                        Cell::num(&ft["uses"], int(&ft["uses"])),
                        Cell::num(&ft["users"], int(&ft["users"])),
                    ]);
                }
                let c = Chart::new(
                    "adoption",
                    "Feature adoption (% of active accounts)",
                    feats.iter().map(|f| f["feature"].as_str().unwrap_or("").to_string()).collect(),
                    "%",
                )
                .series(Series::bar(
                    "adoption",
                    feats.iter().map(|f| f["adoption_pct"].as_f64()).collect(),
                    GOOD,
                ));
                html! { div { (c.render()) (ctx.table(t)) } }
            }
            Err(e) => notice("Feature adoption", &e),
        },
        _ => match metric(state, "funnel", base).await {
            Ok(fu) => {
                let steps = fu["steps"].as_array().cloned().unwrap_or_default();
                let name = |s: &Value| s["label"].as_str().or(s["name"].as_str()).unwrap_or("").replace('_', " ");
                let mut t = Table::new(
                    "funnel",
                    &format!("Customer journey ({}% convert end to end)", dec(&fu["overall_conversion_pct"], 2)),
                    &["step", "event", "reached", "from previous", "from first", "dropped", "median time to convert"],
                );
                for s in &steps {
                    t.rows.push(vec![
                        Cell::text(name(s)),
                        Cell::text(s["name"].as_str().unwrap_or("")),
                        Cell::num(&s["count"], int(&s["count"])),
                        Cell::num(&s["conversion_from_previous_pct"], pct(&s["conversion_from_previous_pct"])),
                        Cell::num(&s["conversion_from_first_pct"], pct(&s["conversion_from_first_pct"])),
                        Cell::num(&s["dropped"], int(&s["dropped"])),
                        Cell::num(&s["median_time_to_convert_seconds"], duration(&s["median_time_to_convert_seconds"])),
                    ]);
                }
                let title = format!("Customer journey: {who} reaching each step");
                let c = Chart::new("funnel", &title, steps.iter().map(name).collect(), who).series(Series::bar(
                    "reached",
                    steps.iter().map(|s| s["count"].as_f64()).collect(),
                    NEUTRAL,
                ));
                html! { div { (c.render()) (ctx.table(t)) } }
            }
            Err(e) => notice("Customer journey", &e),
        },
    }
}

// ---------------------------------------------------------------- voice

pub async fn voice(_: Guard, State(state): State<AppState>, Query(q): Q) -> Response {
    let p = Params(q);
    let mut ctx = Ctx::new("/voice", p.clone());
    let base = p.pick(&["from", "to", "segment"]);
    let f = filters("/voice", &p, &Filters { kind: "date", segments: true, extra: html! {} });
    let mut nps_params = base.clone();
    nps_params.push(("themes".into(), "true".into()));
    let (nps, csat, ces) = (
        metric(&state, "nps", nps_params).await,
        metric(&state, "csat", base.clone()).await,
        metric(&state, "ces", base).await,
    );

    let mut kpis = Vec::new();
    let mut parts = Vec::new();
    match &nps {
        Ok(d) => {
            let o = &d["overall"];
            kpis.push(
                Kpi::new("nps", "NPS", format!("{} ± {}", dec(&o["nps"], 1), dec(&o["margin_of_error"], 1)))
                    .note(format!(
                        "{}–{} at {}% confidence · n = {}",
                        dec(&o["ci_low"], 1),
                        dec(&o["ci_high"], 1),
                        dec(&json!(o["confidence_level"].as_f64().map(|c| c * 100.0)), 0),
                        int(&o["n"])
                    ))
                    .link(answers_href(&p, "nps", &[]))
                    .render(""),
            );
            kpis.push(
                Kpi::new("promoters", "Promoters", pct(&o["promoters_pct"]))
                    .note(format!("{} of {} answers (9-10)", int(&o["promoters"]), int(&o["n"])))
                    .link(answers_href(&p, "nps", &[("group", "promoter")]))
                    .render(""),
            );
            kpis.push(
                Kpi::new("detractors", "Detractors", pct(&o["detractors_pct"]))
                    .note(format!(
                        "{} of {} answers (0-{}) · passives {}",
                        int(&o["detractors"]),
                        int(&o["n"]),
                        o["detractor_max"].as_i64().unwrap_or(6),
                        pct(&o["passives_pct"])
                    ))
                    .link(answers_href(&p, "nps", &[("group", "detractor")]))
                    .render(""),
            );
            let ms = d["months"].as_array().cloned().unwrap_or_default();
            let x: Vec<String> = ms.iter().map(|m| m["month"].as_str().unwrap_or("").to_string()).collect();
            let col = |k: &str, sign: f64| ms.iter().map(|m| m[k].as_f64().map(|v| v * sign)).collect::<Vec<_>>();
            parts.push(html! {
                div.grid2 {
                    (Chart::new("nps", "NPS by month, with its confidence interval", x.clone(), "NPS")
                        .series(Series::line("NPS", col("nps", 1.0), NEUTRAL))
                        .series(Series { label: "CI high".into(), values: col("ci_high", 1.0), color: NEUTRAL, kind: "band" })
                        .series(Series { label: "CI low".into(), values: col("ci_low", 1.0), color: NEUTRAL, kind: "band" })
                        .render())
                    (Chart::new("nps_mix", "Answers by month (detractors below zero)", x, "answers")
                        .stacked()
                        .series(Series::bar("promoters", col("promoters", 1.0), GOOD))
                        .series(Series::bar("passives", col("passives", 1.0), MUTED))
                        .series(Series::bar("detractors", col("detractors", -1.0), BAD))
                        .render())
                }
            });
            let mut months = Table::new(
                "nps_months",
                "NPS by month",
                &["month", "n", "NPS", "margin", "promoters", "passives", "detractors", "change", "significant"],
            );
            for m in ms.iter().rev() {
                let month = m["month"].as_str().unwrap_or("");
                let href = |group: Option<&str>| {
                    let mut extra = vec![("month", month)];
                    extra.extend(group.map(|g| ("group", g)));
                    answers_href(&p, "nps", &extra)
                };
                months.rows.push(vec![
                    Cell::text(month).link(href(None)),
                    Cell::num(&m["n"], int(&m["n"])).link(href(None)),
                    Cell::num(&m["nps"], dec(&m["nps"], 1)).class(if m["low_sample"] == true {
                        "num low"
                    } else {
                        "num"
                    }),
                    Cell::num(&m["margin_of_error"], format!("± {}", dec(&m["margin_of_error"], 1))),
                    Cell::num(&m["promoters"], int(&m["promoters"])).link(href(Some("promoter"))),
                    Cell::num(&m["passives"], int(&m["passives"])).link(href(Some("passive"))),
                    Cell::num(&m["detractors"], int(&m["detractors"])).link(href(Some("detractor"))),
                    Cell::num(&m["change"], dec(&m["change"], 1)),
                    Cell::text(match m["change_significant"].as_bool() {
                        Some(true) => "yes",
                        Some(false) => "no",
                        None => "",
                    }),
                ]);
            }
            parts.push(ctx.table(months));
            let mut themes = Table::new(
                "themes",
                "Feedback themes (NPS comments)",
                &["theme", "comments", "share", "detractors", "passives", "promoters", "what customers say"],
            )
            .empty("No comments in these answers.");
            for t in d["themes"].as_array().into_iter().flatten() {
                let quotes: Vec<String> = t["examples"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(|q| format!("“{q}”"))
                    .collect();
                themes.rows.push(vec![
                    Cell::text(t["theme"].as_str().unwrap_or("")),
                    Cell::num(&t["comments"], int(&t["comments"])),
                    Cell::num(&t["comments_pct"], pct(&t["comments_pct"])),
                    Cell::num(&t["by_group"]["detractor"], int(&t["by_group"]["detractor"])),
                    Cell::num(&t["by_group"]["passive"], int(&t["by_group"]["passive"])),
                    Cell::num(&t["by_group"]["promoter"], int(&t["by_group"]["promoter"])),
                    Cell::text(quotes.join(" ")).class("quote"),
                ]);
            }
            parts.push(ctx.table(themes));
            if let Some(segs) = d["segments"].as_array() {
                let mut t = Table::new(
                    "nps_segments",
                    &format!("NPS by {}", d["segment_attribute"].as_str().unwrap_or("segment")),
                    &["value", "n", "NPS", "margin", "promoters", "detractors"],
                );
                for s in segs {
                    let v = s["segment"].as_str().unwrap_or("");
                    let href = answers_href(&p, "nps", &[("value", v)]);
                    t.rows.push(vec![
                        Cell::text(v).link(href.clone()),
                        Cell::num(&s["n"], int(&s["n"])).link(href),
                        Cell::num(&s["nps"], dec(&s["nps"], 1)),
                        Cell::num(&s["margin_of_error"], format!("± {}", dec(&s["margin_of_error"], 1))),
                        Cell::num(&s["promoters_pct"], pct(&s["promoters_pct"])),
                        Cell::num(&s["detractors_pct"], pct(&s["detractors_pct"])),
                    ]);
                }
                parts.push(ctx.table(t));
            }
        }
        Err(e) => parts.push(notice("NPS", e)),
    }
    match &csat {
        Ok(d) => {
            let o = &d["overall"];
            kpis.push(
                Kpi::new("csat", "CSAT", pct(&o["csat_pct"]))
                    .note(format!("average {} · response rate {}", dec(&o["average"], 2), pct(&o["response_rate_pct"])))
                    .link(answers_href(&p, "csat", &[]))
                    .render(""),
            );
            let dist: Vec<(&String, &Value)> =
                o["distribution"].as_object().map(|m| m.iter().collect()).unwrap_or_default();
            parts.push(
                Chart::new(
                    "csat_distribution",
                    "CSAT score distribution",
                    dist.iter().map(|d| d.0.clone()).collect(),
                    "answers",
                )
                .series(Series::bar("answers", dist.iter().map(|d| d.1.as_f64()).collect(), GOOD))
                .render(),
            );
        }
        Err(e) => parts.push(notice("CSAT", e)),
    }
    match &ces {
        Ok(d) => {
            for v in d["overall"].as_array().into_iter().flatten() {
                kpis.push(
                    Kpi::new("ces", "CES", dec(&v["average"], 2))
                        .note(format!(
                            "{} · agree {} · {}",
                            v["ces_variant"].as_str().unwrap_or(""),
                            pct(&v["agree_pct"]),
                            v["direction"].as_str().unwrap_or("").replace('_', " ")
                        ))
                        .link(answers_href(&p, "ces", &[]))
                        .render(""),
                );
            }
        }
        Err(e) => parts.push(notice("CES", e)),
    }
    let body = html! {
        (f)
        div.kpis { @for k in &kpis { (k) } }
        @for part in &parts { (part) }
    };
    respond("Voice of the customer", ctx, body)
}

/// The answers behind a survey figure: `/voice/answers` with the page's
/// range and segment attribute, and `extra` (`month`, `group`, `value`).
fn answers_href(p: &Params, kind: &str, extra: &[(&str, &str)]) -> String {
    let mut q = Params(p.pick(&["from", "to", "segment"]));
    q.0.push(("type".into(), kind.into()));
    for (k, v) in extra {
        q = q.with(k, v);
    }
    format!("/voice/answers{}", q.query())
}

/// The `from`/`to` days of a page narrowed to one `month` (YYYY-MM) when given.
fn range_with_month(p: &Params) -> Vec<(String, String)> {
    match p.get("month").and_then(month_days) {
        Some((a, b)) => vec![("from".into(), a.to_string()), ("to".into(), b.to_string())],
        None => p.pick(&["from", "to"]),
    }
}

/// Customer -> value of a segment attribute (`(none)` when missing).
async fn segment_values(state: &AppState, attr: &str) -> Result<std::sync::Arc<Value>, String> {
    let a = attr.to_string();
    cached(state, format!("segment-values/{attr}"), move |ws| Ok(json!(tenure_query::filter::segments_of(ws, &a)?)))
        .await
}

/// A human title for what a list is narrowed to.
fn narrowed(p: &Params) -> String {
    let mut parts = Vec::new();
    if let Some(m) = p.get("month") {
        parts.push(m.to_string());
    } else if p.get("from").is_some() || p.get("to").is_some() {
        parts.push(format!(
            "{} to {} (excluded)",
            p.get("from").unwrap_or("the start"),
            p.get("to").unwrap_or("the end")
        ));
    }
    if let (Some(a), Some(v)) = (p.get("segment"), p.get("value")) {
        parts.push(format!("{} = {v}", a.replace('_', " ")));
    }
    if parts.is_empty() { "all time".into() } else { parts.join(", ") }
}

pub async fn answers(_: Guard, State(state): State<AppState>, Query(q): Q) -> Response {
    let p = Params(q);
    let mut ctx = Ctx::new("/voice/answers", p.clone());
    let kind = p.get("type").unwrap_or("nps").to_string();
    if !["nps", "csat", "ces"].contains(&kind.as_str()) {
        return respond("Survey answers", ctx, notice("Which survey type?", "type is nps, csat or ces."));
    }
    let mut params = range_with_month(&p);
    params.push(("list".into(), "true".into()));
    let doc = match metric(&state, &kind, params).await {
        Ok(d) => d,
        Err(e) => return respond("Survey answers", ctx, notice("No survey answers", &e)),
    };
    let seg = match (p.get("segment"), p.get("value")) {
        (Some(attr), Some(_)) => match segment_values(&state, attr).await {
            Ok(m) => Some(m),
            Err(e) => return respond("Survey answers", ctx, notice("Unknown segment attribute", &e)),
        },
        _ => None,
    };
    let group = p.get("group");
    let shown: Vec<&Value> = doc["answers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| group.is_none_or(|g| a["group"] == g))
        .filter(|a| match (&seg, p.get("value")) {
            (Some(m), Some(v)) => {
                let c = a["customer_id"].as_str().unwrap_or("");
                m[c].as_str().unwrap_or(tenure_query::filter::NONE) == v
            }
            _ => true,
        })
        .collect();
    let mut t = Table::new(
        "answers",
        &format!("{} answers", shown.len()),
        &["date", "survey", "respondent", "customer", "score", "counts as", "comment"],
    )
    .empty("No answers match.");
    for a in &shown {
        let c = a["customer_id"].as_str().unwrap_or("");
        let g = a["group"].as_str().unwrap_or("");
        t.rows.push(vec![
            Cell::text(a["date"].as_str().unwrap_or("")),
            Cell::text(a["survey_id"].as_str().unwrap_or("")),
            Cell::text(a["respondent_id"].as_str().unwrap_or("")),
            if c.is_empty() {
                Cell::text("")
            } else {
                Cell::text(c).link(format!("/accounts/{}", super::session::urlencode(c)))
            },
            Cell::num(&a["score"], dec(&a["score"], 0)),
            Cell::text(g).class(match g {
                "promoter" => "good",
                "detractor" => "bad",
                _ => "flat",
            }),
            Cell::text(a["comment"].as_str().unwrap_or("")).class("quote"),
        ]);
    }
    let groups: &[&str] =
        if kind == "nps" { &["promoter", "passive", "detractor", "skipped"] } else { &["answered", "skipped"] };
    let body = html! {
        p { "The answers behind the " (kind.to_uppercase()) " figures of " b { (narrowed(&p)) } "." }
        nav.chips {
            a href=(format!("/voice/answers{}", p.without(&["group"]).query())) class=[group.is_none().then_some("active")] { "all" }
            @for g in groups {
                a href=(format!("/voice/answers{}", p.with("group", g).query())) class=[(group == Some(*g)).then_some("active")] { (g) }
            }
        }
        (ctx.table(t))
    };
    respond(&format!("{} answers", kind.to_uppercase()), ctx, body)
}

// ---------------------------------------------------------------- support

pub async fn support(_: Guard, State(state): State<AppState>, Query(q): Q) -> Response {
    let p = Params(q);
    let mut ctx = Ctx::new("/support", p.clone());
    let base = p.pick(&["from", "to", "segment"]);
    let f = filters("/support", &p, &Filters { kind: "date", segments: true, extra: html! {} });
    let doc = match metric(&state, "support", base).await {
        Ok(d) => d,
        Err(e) => return respond("Support", ctx, html! { (f) (notice("No support figures", &e)) }),
    };
    let range = p.pick(&["from", "to", "segment"]);
    let key = format!("support-monthly{}", Params(range.clone()).query());
    let monthly = cached(&state, key, move |ws| support_by_month(ws, &range)).await;
    let o = &doc["overall"];
    let tickets = |what: &str| tickets_href(&p, &[("what", what)]);
    let kpis = [
        Kpi::new("frt_median", "Median first response", duration(&o["frt_from_creation_median_seconds"]))
            .note(format!("p90 {}", duration(&o["frt_from_creation_p90_seconds"])))
            .link(tickets("replied")),
        Kpi::new("fcr", "First contact resolution", pct(&o["fcr_strict_rate_pct"]))
            .note(format!("Freshservice definition {}", pct(&o["fcr_freshservice_rate_pct"])))
            .link(tickets("fcr")),
        Kpi::new("one_touch", "One-touch", pct(&o["one_touch_rate_pct"]))
            .note(format!("zero-touch {}", pct(&o["zero_touch_rate_pct"])))
            .link(tickets("one_touch")),
        Kpi::new("reopen", "Reopen rate", pct(&o["reopen_rate_pct"]))
            .note(format!("{} reopened", int(&json!(o["reopened_tickets"].as_array().map(Vec::len)))))
            .link(tickets("reopened")),
        Kpi::new("resolution", "Median time to resolution", duration(&o["time_to_resolution_median_seconds"]))
            .link(tickets("resolved")),
        Kpi::new("tickets", "Tickets", int(&o["tickets"]))
            .note(format!(
                "{} per account · {} unreplied",
                dec(&o["tickets_per_account"], 2),
                int(&o["unreplied_count"])
            ))
            .link(tickets("all")),
    ];
    let trend = match &monthly {
        Ok(m) => {
            let rows = m.as_array().cloned().unwrap_or_default();
            let x: Vec<String> = rows.iter().map(|r| r["month"].as_str().unwrap_or("").to_string()).collect();
            let col = |k: &str, scale: f64| rows.iter().map(|r| r[k].as_f64().map(|v| v * scale)).collect::<Vec<_>>();
            let mut t = Table::new(
                "support_months",
                "By month of ticket creation",
                &[
                    "month",
                    "tickets",
                    "median first response",
                    "p90 first response",
                    "FCR",
                    "reopen rate",
                    "median resolution",
                ],
            );
            let mut by_segment = Table::new(
                "support_month_segments",
                &format!("By month and {}", p.get("segment").unwrap_or("segment").replace('_', " ")),
                &["month", "value", "tickets", "median first response", "FCR", "reopen rate"],
            );
            let mut seg_values: Vec<String> = Vec::new();
            for r in rows.iter().rev() {
                let month = r["month"].as_str().unwrap_or("");
                let href = |what: &str| tickets_href(&p, &[("month", month), ("what", what)]);
                t.rows.push(vec![
                    Cell::text(month).link(href("all")),
                    Cell::num(&r["tickets"], int(&r["tickets"])).link(href("all")),
                    Cell::num(&r["frt_from_creation_median_seconds"], duration(&r["frt_from_creation_median_seconds"]))
                        .link(href("replied")),
                    Cell::num(&r["frt_from_creation_p90_seconds"], duration(&r["frt_from_creation_p90_seconds"])),
                    Cell::num(&r["fcr_strict_rate_pct"], pct(&r["fcr_strict_rate_pct"])).link(href("fcr")),
                    Cell::num(&r["reopen_rate_pct"], pct(&r["reopen_rate_pct"])).link(href("reopened")),
                    Cell::num(
                        &r["time_to_resolution_median_seconds"],
                        duration(&r["time_to_resolution_median_seconds"]),
                    )
                    .link(href("resolved")),
                ]);
                for s in r["segments"].as_array().into_iter().flatten() {
                    let v = s["segment"].as_str().unwrap_or("");
                    if !seg_values.iter().any(|x| x == v) {
                        seg_values.push(v.to_string());
                    }
                    let href = |what: &str| tickets_href(&p, &[("month", month), ("value", v), ("what", what)]);
                    by_segment.rows.push(vec![
                        Cell::text(month),
                        Cell::text(v).link(href("all")),
                        Cell::num(&s["tickets"], int(&s["tickets"])).link(href("all")),
                        Cell::num(
                            &s["frt_from_creation_median_seconds"],
                            duration(&s["frt_from_creation_median_seconds"]),
                        )
                        .link(href("replied")),
                        Cell::num(&s["fcr_strict_rate_pct"], pct(&s["fcr_strict_rate_pct"])).link(href("fcr")),
                        Cell::num(&s["reopen_rate_pct"], pct(&s["reopen_rate_pct"])).link(href("reopened")),
                    ]);
                }
            }
            seg_values.sort();
            let palette = [NEUTRAL, GOOD, WARN, BAD, "#8e5bd8", "#2bb3c0", MUTED, "#b5651d"];
            let seg_col = |v: &str, k: &str, scale: f64| {
                rows.iter()
                    .map(|r| {
                        r["segments"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .find(|s| s["segment"] == v)
                            .and_then(|s| s[k].as_f64())
                            .map(|x| x * scale)
                    })
                    .collect::<Vec<_>>()
            };
            let per_segment = if p.get("segment").is_some() {
                let mut volume =
                    Chart::new("segment_volume", "Tickets by month and segment", x.clone(), "tickets").stacked();
                let mut frt = Chart::new("segment_frt", "Median first response by segment", x.clone(), "hours");
                for (i, v) in seg_values.iter().enumerate() {
                    let color = palette[i % palette.len()];
                    volume = volume.series(Series::bar(v, seg_col(v, "tickets", 1.0), color));
                    frt = frt.series(Series::line(
                        v,
                        seg_col(v, "frt_from_creation_median_seconds", 1.0 / 3600.0),
                        color,
                    ));
                }
                html! { div.grid2 { (volume.render()) (frt.render()) } (ctx.table(by_segment)) }
            } else {
                html! {}
            };
            html! {
                div.grid2 {
                    (Chart::new("frt", "First response time by month", x.clone(), "hours")
                        .series(Series::line("median", col("frt_from_creation_median_seconds", 1.0 / 3600.0), NEUTRAL))
                        .series(Series::line("p90", col("frt_from_creation_p90_seconds", 1.0 / 3600.0), WARN))
                        .render())
                    (Chart::new("support_rates", "FCR and reopen rate by month", x.clone(), "%")
                        .series(Series::line("FCR", col("fcr_strict_rate_pct", 1.0), GOOD))
                        .series(Series::line("reopen rate", col("reopen_rate_pct", 1.0), BAD))
                        .render())
                }
                (Chart::new("volume", "Ticket volume by month", x, "tickets")
                    .series(Series::bar("tickets", col("tickets", 1.0), NEUTRAL))
                    .render())
                (ctx.table(t))
                (per_segment)
            }
        }
        Err(e) => notice("Support by month", e),
    };
    let mut by_account: Vec<(&String, &Value)> =
        o["tickets_by_account"].as_object().map(|m| m.iter().collect()).unwrap_or_default();
    by_account.sort_by(|a, b| {
        b.1.as_f64().partial_cmp(&a.1.as_f64()).unwrap_or(std::cmp::Ordering::Equal).then(a.0.cmp(b.0))
    });
    let mut volume = Table::new("tickets_by_account", "Ticket volume per account", &["account", "tickets"]);
    for (id, n) in by_account {
        volume.rows.push(vec![
            Cell::text(id.as_str()).link(format!("/accounts/{}", super::session::urlencode(id))),
            Cell::num(n, int(n)).link(tickets_href(&p, &[("account", id), ("what", "all")])),
        ]);
    }
    let segments = match doc["segments"].as_array() {
        Some(segs) => {
            let mut t = Table::new(
                "support_segments",
                &format!("By {}", doc["segment_attribute"].as_str().unwrap_or("segment")),
                &["value", "tickets", "median first response", "FCR", "reopen rate", "tickets per account"],
            );
            for s in segs {
                let v = s["segment"].as_str().unwrap_or("");
                let href = |what: &str| tickets_href(&p, &[("value", v), ("what", what)]);
                t.rows.push(vec![
                    Cell::text(v).link(href("all")),
                    Cell::num(&s["tickets"], int(&s["tickets"])).link(href("all")),
                    Cell::num(&s["frt_from_creation_median_seconds"], duration(&s["frt_from_creation_median_seconds"]))
                        .link(href("replied")),
                    Cell::num(&s["fcr_strict_rate_pct"], pct(&s["fcr_strict_rate_pct"])).link(href("fcr")),
                    Cell::num(&s["reopen_rate_pct"], pct(&s["reopen_rate_pct"])).link(href("reopened")),
                    Cell::num(&s["tickets_per_account"], dec(&s["tickets_per_account"], 2)),
                ]);
            }
            ctx.table(t)
        }
        None => html! {},
    };
    let hours = business_hours_part(&state, &p).await;
    let body = html! {
        (f)
        div.kpis { @for k in &kpis { (k.render("")) } }
        (hours)
        (trend)
        (segments)
        (ctx.table(volume))
    };
    respond("Support", ctx, body)
}

/// Whether `tenure.toml` has a `[support]` table: the business hours the
/// team set (without it the schedule is only the built-in default, which
/// says nothing about this team, so no business-hours figures are shown).
fn business_hours_set(ws: &tenure_store::Workspace) -> bool {
    std::fs::read_to_string(ws.root().join(tenure_store::SETTINGS_FILE))
        .ok()
        .and_then(|text| text.parse::<toml::Table>().ok())
        .is_some_and(|t| t.contains_key("support"))
}

/// Response and resolution times in business hours, and the SLA targets
/// (`tenure metrics support --business-hours`, docs/support.md), when the
/// workspace sets its business hours; else why they are not shown.
async fn business_hours_part(state: &AppState, p: &Params) -> Markup {
    let set = cached(state, "support-hours-set".into(), |ws| Ok(json!(business_hours_set(ws)))).await;
    if !matches!(set.as_deref(), Ok(Value::Bool(true))) {
        return html! {
            section.card.notice {
                h3 { "Business hours and SLA targets" }
                p.empty {
                    "Not shown: no business hours are set. Add a " code { "[support]" } " table to "
                    code { "tenure.toml" } " (opening days, " code { "hours = \"09:00-17:00\"" } ", holidays, "
                    code { "first_response_target = \"24h\"" } ", " code { "resolution_target" }
                    ") to see first response and resolution in business time and the share of tickets within target."
                }
            }
        };
    }
    let mut params = p.pick(&["from", "to"]);
    params.push(("business_hours".into(), "true".into()));
    let doc = match metric(state, "support", params).await {
        Ok(d) => d,
        Err(e) => return notice("Business hours and SLA targets", &e),
    };
    let (b, sla, schedule) = (&doc["overall"]["business_hours"], &doc["overall"]["sla"], &doc["schedule"]);
    // Days with the same hours together: "mon, tue, wed, thu, fri 09:00-17:00".
    let mut open: Vec<(Vec<&str>, String)> = Vec::new();
    for (day, iv) in schedule["week"].as_object().into_iter().flatten() {
        let hours: Vec<&str> = iv.as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        if hours.is_empty() {
            continue;
        }
        let hours = hours.join(", ");
        match open.iter_mut().find(|(_, h)| *h == hours) {
            Some((days, _)) => days.push(day),
            None => open.push((vec![day], hours)),
        }
    }
    let open: Vec<String> = open.iter().map(|(days, hours)| format!("{} {hours}", days.join(", "))).collect();
    let target = |k: &str| match sla[k].as_f64() {
        Some(t) => format!("target {}", duration(&json!(t))),
        None => "no target set".into(),
    };
    let breach = |prefix: &str| {
        let rate = &sla[format!("{prefix}_breach_rate_pct").as_str()];
        let breached = int(&sla[format!("{prefix}_breached_count").as_str()]);
        let achieved = int(&sla[format!("{prefix}_achieved_count").as_str()]);
        let within = rate.as_f64().map(|r| json!(100.0 - r));
        (pct(within.as_ref().unwrap_or(&Value::Null)), format!("{achieved} within, {breached} breached"))
    };
    let (frt_within, frt_note) = breach("first_response");
    let mut kpis = vec![
        Kpi::new("bh_frt_median", "Median first response (business)", duration(&b["frt_from_creation_median_seconds"]))
            .note(format!(
                "p90 {} · a reply before opening time takes none",
                duration(&b["frt_from_creation_p90_seconds"])
            )),
        Kpi::new(
            "bh_resolution_median",
            "Median resolution (business)",
            duration(&b["time_to_resolution_median_seconds"]),
        )
        .note(format!("p90 {}", duration(&b["time_to_resolution_p90_seconds"]))),
        Kpi::new("sla_first_response", "First replies within target", frt_within)
            .note(format!("{} · {frt_note}", target("first_response_target_seconds")))
            .link(tickets_href(p, &[("what", "slow_first_response")])),
    ];
    if sla["resolution_target_seconds"].is_number() {
        let (within, note) = breach("resolution");
        kpis.push(
            Kpi::new("sla_resolution", "Resolutions within target", within)
                .note(format!("{} · {note}", target("resolution_target_seconds")))
                .link(tickets_href(p, &[("what", "slow_resolution")])),
        );
    } else {
        kpis.push(
            Kpi::new("sla_resolution", "Resolutions within target", "–".into())
                .note("no resolution_target in [support]"),
        );
    }
    html! {
        section.card {
            div.card-head {
                h3 { "Business hours and SLA targets" }
                span.hint { "Open " (open.join("; ")) " (" (schedule["timezone"].as_str().unwrap_or("")) ")"
                    @if let Some(h) = schedule["holidays"].as_array().filter(|h| !h.is_empty()) { ", " (h.len()) " holidays" } }
            }
            div.kpis.inner { @for k in &kpis { (k.render("")) } }
            p.hint { "Only open hours count; targets are counted in business time. A reply not yet sent counts as breached once its target has passed (docs/support.md)." }
        }
    }
}

/// The support document of each month of ticket creation in the range
/// (summary figures only, and per segment when `range` has `segment`),
/// computed by the same query as the API's.
fn support_by_month(ws: &tenure_store::Workspace, range: &[(String, String)]) -> anyhow::Result<Value> {
    let tickets = tenure_store::load::<Ticket>(ws)?;
    let tz = jiff::tz::TimeZone::get(&ws.settings().workspace.timezone)?;
    let day = |k: &str| range.iter().find(|(a, _)| a == k).and_then(|(_, v)| v.parse::<Date>().ok());
    let dates: Vec<Date> = tickets.iter().map(|t| t.created_at.to_zoned(tz.clone()).date()).collect();
    let (Some(first), Some(last)) =
        (day("from").or(dates.iter().min().copied()), day("to").or(dates.iter().max().copied()))
    else {
        return Ok(json!([]));
    };
    let mut out = Vec::new();
    let mut m = first.first_of_month();
    while m <= last {
        let next = m.checked_add(1.month())?;
        let from = m.max(first);
        let to = if day("to").is_some() { next.min(last) } else { next };
        if from < to {
            let mut params = vec![("from".to_string(), from.to_string()), ("to".to_string(), to.to_string())];
            params.extend(range.iter().filter(|(k, _)| k == "segment").cloned());
            let q = tenure_query::MetricQuery::from_params("support", &params).map_err(anyhow::Error::msg)?;
            let d = tenure_query::compute(ws, &q)?;
            let summary = |o: &Value| {
                json!({
                    "tickets": o["tickets"],
                    "frt_from_creation_median_seconds": o["frt_from_creation_median_seconds"],
                    "frt_from_creation_p90_seconds": o["frt_from_creation_p90_seconds"],
                    "fcr_strict_rate_pct": o["fcr_strict_rate_pct"],
                    "reopen_rate_pct": o["reopen_rate_pct"],
                    "time_to_resolution_median_seconds": o["time_to_resolution_median_seconds"],
                })
            };
            let mut row = summary(&d["overall"]);
            row["month"] = json!(m.strftime("%Y-%m").to_string());
            if let Some(segs) = d["segments"].as_array() {
                row["segments"] = segs
                    .iter()
                    .map(|s| {
                        let mut v = summary(s);
                        v["segment"] = s["segment"].clone();
                        v
                    })
                    .collect();
            }
            out.push(row);
        }
        m = next;
    }
    Ok(Value::from(out))
}

/// The tickets behind a support figure: `/support/tickets` with the page's
/// range and segment attribute, and `extra` (`what`, `month`, `value`, `account`).
fn tickets_href(p: &Params, extra: &[(&str, &str)]) -> String {
    let mut q = Params(p.pick(&["from", "to", "segment"]));
    for (k, v) in extra {
        q = q.with(k, v);
    }
    format!("/support/tickets{}", q.query())
}

/// What a support figure counts, as the ticket ids of its document part:
/// (parameter, label, ids).
fn ticket_ids(what: &str, part: &Value) -> Option<(&'static str, Vec<String>)> {
    let list = |k: &str| part[k].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_string));
    let keys = |k: &str| part[k].as_object().into_iter().flat_map(|m| m.keys().cloned());
    Some(match what {
        "all" => ("all tickets", keys("frt_from_creation_seconds").chain(list("unreplied_tickets")).collect()),
        "replied" => ("tickets with a first response", keys("frt_from_creation_seconds").collect()),
        "unreplied" => ("tickets without a reply", list("unreplied_tickets").collect()),
        "fcr" => ("resolved at first contact", list("fcr_strict_tickets").collect()),
        "one_touch" => ("one-touch tickets", list("one_touch_tickets").collect()),
        "zero_touch" => ("zero-touch tickets", list("zero_touch_tickets").collect()),
        "reopened" => ("reopened tickets", list("reopened_tickets").collect()),
        "resolved" => ("resolved tickets", keys("time_to_resolution_seconds").collect()),
        "slow_first_response" => (
            "first replies later than the target",
            part["sla"]["first_response_breached_tickets"]
                .as_array()?
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
        ),
        "slow_resolution" => (
            "resolutions later than the target",
            part["sla"]["resolution_breached_tickets"]
                .as_array()?
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
        ),
        _ => return None,
    })
}

pub async fn support_tickets(_: Guard, State(state): State<AppState>, Query(q): Q) -> Response {
    let p = Params(q);
    let mut ctx = Ctx::new("/support/tickets", p.clone());
    let mut params = range_with_month(&p);
    if p.get("value").is_some() {
        params.extend(p.pick(&["segment"]));
    }
    // The slow tickets are those of the business-hours targets.
    if p.get("what").is_some_and(|w| w.starts_with("slow_")) {
        params.push(("business_hours".into(), "true".into()));
    }
    let doc = match metric(&state, "support", params).await {
        Ok(d) => d,
        Err(e) => return respond("Tickets", ctx, notice("No support figures", &e)),
    };
    let part = match p.get("value") {
        Some(v) => doc["segments"].as_array().into_iter().flatten().find(|s| s["segment"] == v).cloned(),
        None => Some(doc["overall"].clone()),
    };
    let what = p.get("what").unwrap_or("all");
    let Some((label, ids)) = part.as_ref().and_then(|part| ticket_ids(what, part)) else {
        return respond(
            "Tickets",
            ctx,
            notice(
                "Nothing to list",
                "what is all, replied, unreplied, fcr, one_touch, zero_touch, reopened, resolved, slow_first_response or slow_resolution; value a segment value of the page.",
            ),
        );
    };
    let key = format!("tickets/{}", blake3::hash(ids.join("\n").as_bytes()).to_hex());
    let wanted = ids.clone();
    let rows = match cached(&state, key, move |ws| {
        let wanted: std::collections::HashSet<&str> = wanted.iter().map(String::as_str).collect();
        let mut out: Vec<Value> = tenure_store::load::<Ticket>(ws)?
            .iter()
            .filter(|t| wanted.contains(t.id.as_str()))
            .map(|t| {
                json!({
                    "id": t.id, "customer_id": t.customer_id, "created_at": t.created_at.to_string(),
                    "status": t.status, "channel": t.channel, "reopens": t.reopens,
                    "first_response_seconds": t.first_reply_at.map(|r| r.as_second() - t.created_at.as_second()),
                    "resolution_seconds": t.solved_at.map(|r| r.as_second() - t.created_at.as_second()),
                })
            })
            .collect();
        out.sort_by(|a, b| b["created_at"].as_str().cmp(&a["created_at"].as_str()));
        Ok(Value::from(out))
    })
    .await
    {
        Ok(r) => r,
        Err(e) => return respond("Tickets", ctx, notice("Cannot read the tickets", &e)),
    };
    let account = p.get("account");
    let shown: Vec<&Value> =
        rows.as_array().into_iter().flatten().filter(|t| account.is_none_or(|a| t["customer_id"] == a)).collect();
    let mut t = Table::new(
        "tickets",
        &format!("{} {label}", shown.len()),
        &["ticket", "customer", "created", "status", "channel", "first response", "resolution", "reopens"],
    )
    .empty("No tickets match.");
    for r in &shown {
        let c = r["customer_id"].as_str().unwrap_or("");
        t.rows.push(vec![
            Cell::text(r["id"].as_str().unwrap_or("")),
            if c.is_empty() {
                Cell::text("")
            } else {
                Cell::text(c).link(format!("/accounts/{}", super::session::urlencode(c)))
            },
            Cell::text(r["created_at"].as_str().unwrap_or("").get(..16).unwrap_or("").replace('T', " ")),
            Cell::text(r["status"].as_str().unwrap_or("")),
            Cell::text(r["channel"].as_str().unwrap_or("")),
            Cell::num(&r["first_response_seconds"], duration(&r["first_response_seconds"])),
            Cell::num(&r["resolution_seconds"], duration(&r["resolution_seconds"])),
            Cell::num(&r["reopens"], int(&r["reopens"])),
        ]);
    }
    let kinds = [
        ("all", "all"),
        ("replied", "replied"),
        ("unreplied", "unreplied"),
        ("fcr", "first contact resolution"),
        ("one_touch", "one-touch"),
        ("zero_touch", "zero-touch"),
        ("reopened", "reopened"),
        ("resolved", "resolved"),
    ];
    let mut scope = narrowed(&p);
    if let Some(a) = account {
        scope = format!("{scope}, account {a}");
    }
    let body = html! {
        p { "The tickets behind the support figures of " b { (scope) } " (by day of creation)." }
        nav.chips {
            @for (k, l) in kinds {
                a href=(format!("/support/tickets{}", p.with("what", k).query())) class=[(what == k).then_some("active")] { (l) }
            }
        }
        (ctx.table(t))
    };
    respond("Support tickets", ctx, body)
}
