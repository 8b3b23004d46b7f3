//! The account pages: the list (health, band, MRR, churn risk, renewal,
//! owner; filtered on the server so the CSV matches what is shown), one
//! account's 360 view, and the alert tasks with acknowledge and close.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use super::session::urlencode;
use super::ui::{
    BAD, Better, Cell, Chart, Ctx, GOOD, Kpi, MUTED, NEUTRAL, Params, Series, Table, WARN, dec, duration, int, money,
    notice,
};
use super::{Body, Deadline, Guard, cached, deferred_page, respond};
use crate::AppState;

type Q = Query<Vec<(String, String)>>;

fn band_color(band: &str) -> &'static str {
    match band {
        "green" => GOOD,
        "yellow" | "amber" => WARN,
        "red" => BAD,
        _ => MUTED,
    }
}

fn band_cell(v: &Value) -> Cell {
    let b = v.as_str().unwrap_or("");
    let mut c = Cell::text(if b.is_empty() { "–" } else { b });
    if !b.is_empty() {
        c = c.class("band").style(format!("--band:{}", band_color(b)));
    }
    c
}

fn account_href(id: &str) -> String {
    format!("/accounts/{}", urlencode(id))
}

fn select(name: &str, label: &str, options: &[String], current: Option<&str>) -> Markup {
    html! {
        label { (label)
            select name=(name) {
                option value="" { "all" }
                @for o in options { option value=(o) selected[current == Some(o.as_str())] { (o) } }
            }
        }
    }
}

pub async fn list(_: Guard, State(state): State<AppState>, Query(q): Q) -> Response {
    let p = Params(q);
    let mut ctx = Ctx::new("/accounts", p.clone());
    let ready = Deadline::for_page(&p).within(list_body(&state, &p, &mut ctx)).await;
    deferred_page(ctx, ready, "Accounts", "Scoring every account's health")
}

async fn list_body(state: &AppState, p: &Params, ctx: &mut Ctx) -> Body {
    let doc = match cached(state, "accounts".into(), tenure_query::account::accounts_doc).await {
        Ok(d) => d,
        Err(e) => return Body::ok("Accounts", notice("No accounts to score", &e)),
    };
    let cur = doc["reporting_currency"].as_str().unwrap_or("").to_string();
    let all: Vec<&Value> = doc["accounts"].as_array().into_iter().flatten().collect();
    let distinct = |k: &str| {
        let mut v: Vec<String> = all.iter().filter_map(|a| a[k].as_str().map(str::to_string)).collect();
        v.sort();
        v.dedup();
        v
    };
    let (owners, segments) = (distinct("owner"), distinct("segment"));
    let bands: Vec<String> =
        doc["bands"].as_array().into_iter().flatten().filter_map(|b| b.as_str().map(str::to_string)).collect();
    let min_risk: Option<f64> = p.get("min_risk").and_then(|v| v.parse().ok());
    let renewal_within: Option<f64> = p.get("renewal_within").and_then(|v| v.parse().ok());
    let needle = p.get("q").map(str::to_lowercase);
    let shown: Vec<&Value> = all
        .iter()
        .copied()
        .filter(|a| p.get("band").is_none_or(|b| a["color"] == b))
        .filter(|a| p.get("owner").is_none_or(|o| a["owner"] == o))
        .filter(|a| p.get("segment").is_none_or(|s| a["segment"] == s))
        .filter(|a| min_risk.is_none_or(|r| a["churn_probability"].as_f64().is_some_and(|x| x * 100.0 >= r)))
        .filter(|a| renewal_within.is_none_or(|d| a["days_to_renewal"].as_f64().is_some_and(|x| x <= d)))
        .filter(|a| {
            needle.as_ref().is_none_or(|n| {
                [&a["account_id"], &a["name"]].iter().any(|v| v.as_str().is_some_and(|s| s.to_lowercase().contains(n)))
            })
        })
        .collect();

    let mut t = Table::new(
        "accounts",
        &format!("{} of {} accounts (click a column to sort)", shown.len(), all.len()),
        &[
            "account",
            "name",
            "health",
            "band",
            "trend",
            "MRR",
            "churn risk",
            "renewal",
            "owner",
            "segment",
            "plan",
            "open tasks",
        ],
    )
    .empty("No account matches these filters.");
    for a in &shown {
        let id = a["account_id"].as_str().unwrap_or("");
        let risk = &a["churn_probability"];
        t.rows.push(vec![
            Cell::text(id).link(account_href(id)),
            Cell::text(a["name"].as_str().unwrap_or("")).link(account_href(id)),
            Cell::num(&a["overall_score"], dec(&a["overall_score"], 0)),
            band_cell(&a["color"]),
            Cell::text(match a["trend"].as_str() {
                Some("up") => "▲ up",
                Some("down") => "▼ down",
                Some("same") => "→ same",
                _ => "",
            })
            .class(match a["trend"].as_str() {
                Some("up") => "good",
                Some("down") => "bad",
                _ => "flat",
            }),
            Cell::num(&a["mrr_cents"], money(&a["mrr_cents"], &cur)),
            Cell::num(risk, risk.as_f64().map_or("–".into(), |r| format!("{:.0}%", r * 100.0)))
                .class(if risk.as_f64().is_some_and(|r| r >= 0.5) { "num bad" } else { "num" }),
            Cell::text(a["renewal_date"].as_str().unwrap_or("")),
            Cell::text(a["owner"].as_str().unwrap_or("")),
            Cell::text(a["segment"].as_str().unwrap_or("")),
            Cell::text(a["plan_tier"].as_str().unwrap_or("")),
            Cell::num(&a["open_tasks"], int(&a["open_tasks"])),
        ]);
    }
    let by_band = html! {
        div.chips {
            @for b in &bands {
                @let n = all.iter().filter(|a| a["color"] == b.as_str()).count();
                a.chip href=(format!("/accounts{}", p.with("band", b).query())) style=(format!("--band:{}", band_color(b))) {
                    span.dot {} (b) " " b { (n) }
                }
            }
        }
    };
    let form = html! {
        form.filters method="get" action="/accounts" {
            label { "Search" input type="search" name="q" value=[p.get("q")] placeholder="name or id"; }
            (select("band", "Band", &bands, p.get("band")))
            (select("owner", "Owner", &owners, p.get("owner")))
            (select("segment", "Segment", &segments, p.get("segment")))
            label { "Churn risk ≥ %" input type="number" name="min_risk" min="0" max="100" value=[p.get("min_risk")]; }
            label { "Renewal within (days)" input type="number" name="renewal_within" min="0" value=[p.get("renewal_within")]; }
            button type="submit" { "Apply" }
            a.reset href="/accounts" { "Reset" }
        }
    };
    let body = html! {
        (form)
        p.hint { "Health as of " (doc["as_of"].as_str().unwrap_or("")) " (scorecard: " (doc["scorecard"].as_str().unwrap_or("")) ")." }
        @if let Some(n) = doc["churn_note"].as_str() { p.hint { "Churn risk is not shown: " (churn_note(n)) } }
        (by_band)
        (ctx.table(t))
    };
    Body::ok("Accounts", body)
}

pub async fn one(session: Guard, State(state): State<AppState>, Path(id): Path<String>, Query(q): Q) -> Response {
    let p = Params(q);
    let mut ctx = Ctx::new(account_href(&id), p.clone());
    let ready = Deadline::for_page(&p).within(account_body(&session, &state, &id, &mut ctx)).await;
    deferred_page(ctx, ready, &format!("Account {id}"), "Scoring this account's health")
}

async fn account_body(session: &Guard, state: &AppState, id: &str, ctx: &mut Ctx) -> Body {
    let key = format!("account/{id}");
    let lookup = id.to_string();
    let doc =
        match cached(state, key, move |ws| Ok(tenure_query::account::account_doc(ws, &lookup)?.unwrap_or(Value::Null)))
            .await
        {
            Ok(d) if d.is_null() => {
                let why = format!("No customer has the id {id:?}.");
                return Body {
                    title: "Unknown account".into(),
                    status: StatusCode::NOT_FOUND,
                    markup: notice("Unknown account", &why),
                };
            }
            Ok(d) => d,
            Err(e) => return Body::ok("Account", notice("Cannot show this account", &e)),
        };
    let cur = doc["reporting_currency"].as_str().unwrap_or("").to_string();
    let attrs = &doc["attributes"];
    let name = attrs["name"].as_str().or(attrs["company"].as_str()).unwrap_or(id).to_string();
    let h = &doc["health"];
    let churn = &doc["churn"];

    let mrr = doc["mrr_history"].as_array().cloned().unwrap_or_default();
    let mrr_x: Vec<String> = mrr.iter().map(|m| m["month"].as_str().unwrap_or("").to_string()).collect();
    let mrr_v: Vec<Option<f64>> = mrr.iter().map(|m| m["mrr_cents"].as_f64().map(|c| c / 100.0)).collect();
    let weeks = doc["usage"]["weeks"].as_array().cloned().unwrap_or_default();
    let history = h["history"].as_array().cloned().unwrap_or_default();

    let mut kpis = vec![
        Kpi::new("mrr", "MRR", money(&doc["mrr_cents"], &cur))
            .with_trend(mrr_v.clone(), Better::Up, |d| super::ui::money_signed(&json!(d * 100.0), &cur))
            .render("the month before"),
    ];
    let mut health_kpi = Kpi::new(
        "health",
        "Health",
        if h.is_null() {
            "–".into()
        } else {
            format!("{} · {}", dec(&h["overall_score"], 0), h["color"].as_str().unwrap_or(""))
        },
    );
    health_kpi.note = Some(if h.is_null() {
        doc["health_note"].as_str().unwrap_or("").to_string()
    } else {
        format!(
            "grade {} · rank {} · trend {}",
            h["grade"].as_str().unwrap_or("–"),
            int(&h["rank"]),
            h["trend"].as_str().unwrap_or("–")
        )
    });
    kpis.push(health_kpi.render(""));
    let mut risk = Kpi::new(
        "churn",
        "Churn risk",
        churn["churn_probability"].as_f64().map_or("–".into(), |p| format!("{:.0}%", p * 100.0)),
    );
    risk.note = Some(if churn.is_null() {
        churn_note(doc["churn_note"].as_str().unwrap_or(""))
    } else {
        format!("within {} days · model AUC {}", int(&churn["horizon_days"]), dec(&churn["holdout_auc"], 2))
    });
    kpis.push(risk.render(""));
    let mut usage = Kpi::new("active_people", "People active (all time)", int(&doc["usage"]["people"]));
    usage.note = Some(format!("last seen {}", doc["usage"]["last_seen"].as_str().unwrap_or("never")));
    kpis.push(usage.render(""));
    let open_tickets = doc["tickets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| !matches!(t["status"].as_str(), Some("solved" | "closed")))
        .count();
    kpis.push(
        Kpi::new("tickets", "Tickets", int(&json!(doc["tickets"].as_array().map(Vec::len))))
            .note(format!("{open_tickets} open"))
            .render(""),
    );

    let mut measures =
        Table::new("health_measures", "Health breakdown", &["group", "measure", "value", "score", "weight"])
            .empty("Not scored.");
    for m in h["measures"].as_array().into_iter().flatten() {
        let score = m["score"].as_f64();
        let mut c = Cell::num(&m["score"], dec(&m["score"], 0));
        if let Some(s) = score {
            c = c.class(if s > 75.0 {
                "num good"
            } else if s > 50.0 {
                "num warn"
            } else {
                "num bad"
            });
        }
        measures.rows.push(vec![
            Cell::text(m["group"].as_str().unwrap_or("")),
            Cell::text(m["measure"].as_str().unwrap_or("")),
            Cell::num(
                &m["value"],
                match &m["value"] {
                    Value::Null => "missing".into(),
                    Value::Number(n) => format!("{:.2}", n.as_f64().unwrap_or(0.0))
                        .trim_end_matches('0')
                        .trim_end_matches('.')
                        .to_string(),
                    v => v.as_str().map_or_else(|| v.to_string(), str::to_string),
                },
            ),
            c,
            Cell::num(&m["effective_weight_pct"], format!("{}%", dec(&m["effective_weight_pct"], 0))),
        ]);
    }
    let missing: Vec<&str> = h["missing_inputs"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();

    let mut drivers = Table::new("churn_drivers", "What drives the churn risk", &["feature", "value", "contribution"])
        .empty("No churn prediction for this account.");
    for d in churn["drivers"].as_array().into_iter().flatten() {
        let c = d["contribution"].as_f64().unwrap_or(0.0);
        drivers.rows.push(vec![
            Cell::text(d["feature"].as_str().unwrap_or("")),
            Cell::num(&d["value"], dec(&d["value"], 2)),
            Cell::num(&d["contribution"], format!("{c:+.3}")).class(if c > 0.0 { "num bad" } else { "num good" }),
        ]);
    }
    let mut tickets = Table::new(
        "tickets",
        "Support tickets",
        &["ticket", "created", "status", "channel", "first response", "solved", "reopens", "satisfaction"],
    )
    .empty("No tickets from this account.");
    for t in doc["tickets"].as_array().into_iter().flatten().rev() {
        tickets.rows.push(vec![
            Cell::text(t["id"].as_str().unwrap_or("")),
            Cell::text(t["created_at"].as_str().unwrap_or("").get(..16).unwrap_or("").replace('T', " ")),
            Cell::text(t["status"].as_str().unwrap_or("")),
            Cell::text(t["channel"].as_str().unwrap_or("")),
            Cell::num(&t["first_response_seconds"], duration(&t["first_response_seconds"])),
            Cell::text(t["solved_at"].as_str().unwrap_or("").get(..10).unwrap_or("")),
            Cell::num(&t["reopens"], int(&t["reopens"])),
            Cell::num(&t["satisfaction"], dec(&t["satisfaction"], 0)),
        ]);
    }
    let mut answers = Table::new(
        "survey_answers",
        "Survey answers and comments",
        &["submitted", "survey", "type", "person", "score", "comment"],
    )
    .empty("No survey answers from this account.");
    for s in doc["survey_answers"].as_array().into_iter().flatten().rev() {
        let score = s["score"].as_f64();
        let class = match (s["survey_type"].as_str(), score) {
            (Some("nps"), Some(x)) if x >= 9.0 => "num good",
            (Some("nps"), Some(x)) if x <= 6.0 => "num bad",
            _ => "num",
        };
        answers.rows.push(vec![
            Cell::text(s["submitted_at"].as_str().unwrap_or("").get(..10).unwrap_or("")),
            Cell::text(s["survey_id"].as_str().unwrap_or("")),
            Cell::text(s["survey_type"].as_str().unwrap_or("")),
            Cell::text(s["respondent_id"].as_str().unwrap_or("")),
            Cell::num(&s["score"], if score.is_none() { "skipped".into() } else { dec(&s["score"], 0) }).class(class),
            Cell::text(s["comment"].as_str().unwrap_or("")).class("quote"),
        ]);
    }
    let mut billing = Table::new(
        "billing",
        "Billing history",
        &["date", "event", "subscription", "plan", "quantity", "unit price", "MRR movement"],
    )
    .empty("No subscription events.");
    let mut events: Vec<Value> = doc["subscription_events"].as_array().cloned().unwrap_or_default();
    for m in doc["movements"].as_array().into_iter().flatten() {
        events.push(json!({"date": m["date"], "movement": m}));
    }
    events.sort_by(|a, b| b["date"].as_str().cmp(&a["date"].as_str()));
    for e in &events {
        let date = e["date"].as_str().unwrap_or("");
        if let Some(m) = e.get("movement") {
            let month = date.get(..7).unwrap_or("");
            billing.rows.push(vec![
                Cell::text(date),
                Cell::text(m["type"].as_str().unwrap_or("").replace('_', " ")).class("movement"),
                Cell::text(""),
                Cell::text(""),
                Cell::text(""),
                Cell::text(""),
                Cell::num(&m["amount_cents"], super::ui::money_signed(&m["amount_cents"], &cur))
                    .link(format!("/revenue/explain?month={month}")),
            ]);
        } else {
            let unit = e["unit_amount_cents"]
                .as_f64()
                .map(|c| format!("{} {:.2}", e["currency"].as_str().unwrap_or(""), c / 100.0));
            billing.rows.push(vec![
                Cell::text(date),
                Cell::text(e["type"].as_str().unwrap_or("").replace('_', " ")),
                Cell::text(e["subscription_id"].as_str().unwrap_or("")),
                Cell::text(e["plan_id"].as_str().unwrap_or("")),
                Cell::num(&e["quantity"], int(&e["quantity"])),
                Cell::num(&e["unit_amount_cents"], unit.unwrap_or_default()),
                Cell::text(""),
            ]);
        }
    }
    let task_table = tasks_table(ctx, doc["tasks"].as_array().map(Vec::as_slice).unwrap_or(&[]), false);
    let override_form = override_section(id, h, super::session::may_change(state, session));

    let skip = ["id", "name"];
    let body = html! {
        dl.attrs {
            @for (k, v) in attrs.as_object().into_iter().flatten().filter(|(k, v)| !skip.contains(&k.as_str()) && !v.is_null()) {
                div { dt { (k.replace('_', " ")) } dd { (attribute_text(k, v)) } }
            }
        }
        div.kpis { @for k in &kpis { (k) } }
        div.grid2 {
            (Chart::new("account_mrr", "MRR by month", mrr_x, &cur)
                .series(Series::line("MRR", mrr_v, NEUTRAL))
                .empty("No billing history.")
                .render())
            (Chart::new("account_health", "Health score, daily", history.iter().map(|d| d["date"].as_str().unwrap_or("").to_string()).collect(), "score")
                .series(Series::line("health", history.iter().map(|d| d["overall_score"].as_f64()).collect(), GOOD))
                .empty(doc["health_note"].as_str().unwrap_or("Not scored."))
                .render())
        }
        (Chart::new("account_usage", "Weekly active people", weeks.iter().map(|w| w["week"].as_str().unwrap_or("").to_string()).collect(), "people")
            .series(Series::bar("active people", weeks.iter().map(|w| w["active_users"].as_f64()).collect(), NEUTRAL))
            .empty("No product usage from this account (events need a groupId).")
            .render())
        div.grid2 {
            div {
                (ctx.table(measures))
                @if !missing.is_empty() { p.hint { "Missing inputs (re-weighted away): " (missing.join(", ")) } }
            }
            (ctx.table(drivers))
        }
        (override_form)
        (task_table)
        (ctx.table(answers))
        (ctx.table(tickets))
        (ctx.table(billing))
    };
    Body::ok(format!("{name} ({id})"), body)
}

fn tasks_table(ctx: &mut Ctx, tasks: &[Value], with_account: bool) -> Markup {
    let mut cols = vec!["task", "created", "rule", "message", "status", "note", "action"];
    if with_account {
        cols.insert(1, "account");
    }
    let mut t = Table::new("tasks", "Alerts and tasks", &cols).empty(
        "No alert tasks: a task is opened when an account meets one of the health alert rules \
         (`tenure alerts` evaluates them; docs/health.md). None has fired here yet.",
    );
    let mut forms: Vec<Markup> = Vec::new();
    for task in tasks {
        let id = task["id"].as_u64().unwrap_or(0);
        let status = task["status"].as_str().unwrap_or("");
        let mut row = vec![
            Cell::num(&task["id"], format!("#{id}")),
            Cell::text(task["created_at"].as_str().unwrap_or("").get(..10).unwrap_or("")),
            Cell::text(task["rule"].as_str().unwrap_or("")),
            Cell::text(task["message"].as_str().unwrap_or("")),
            Cell::text(status).class(match status {
                "open" => "bad",
                "acknowledged" => "warn",
                _ => "good",
            }),
            Cell::text(task["note"].as_str().unwrap_or("")),
            Cell::text(if status == "closed" { "" } else { "see below" }).link(format!("#task-{id}")),
        ];
        if with_account {
            let a = task["account"].as_str().unwrap_or("");
            row.insert(1, Cell::text(a).link(account_href(a)));
        }
        t.rows.push(row);
        if status != "closed" {
            forms.push(html! {
                div.task-actions id=(format!("task-{id}")) {
                    span { "#" (id) " " (task["message"].as_str().unwrap_or("")) }
                    @if status == "open" {
                        form method="post" action=(format!("/alerts/{id}")) {
                            input type="hidden" name="action" value="ack";
                            button type="submit" { "Acknowledge" }
                        }
                    }
                    form method="post" action=(format!("/alerts/{id}")) {
                        input type="hidden" name="action" value="close";
                        input type="text" name="note" required placeholder="How was it resolved?";
                        button type="submit" { "Close" }
                    }
                }
            });
        }
    }
    html! { (ctx.table(t)) @for f in &forms { (f) } }
}

pub async fn alerts(_: Guard, State(state): State<AppState>, Query(q): Q) -> Response {
    let p = Params(q);
    let mut ctx = Ctx::new("/alerts", p.clone());
    let tasks =
        match cached(&state, "tasks".into(), |ws| Ok(serde_json::to_value(tenure_query::health::tasks(ws.root())?)?))
            .await
        {
            Ok(t) => t,
            Err(e) => return respond("Alerts", ctx, notice("Cannot read the alert tasks", &e)),
        };
    let show = p.get("status").unwrap_or("active");
    let all: Vec<Value> = tasks.as_array().cloned().unwrap_or_default();
    let mut shown: Vec<Value> = all
        .into_iter()
        .filter(|t| match show {
            "all" => true,
            "active" => t["status"] != "closed",
            s => t["status"] == s,
        })
        .collect();
    shown.reverse();
    let body = html! {
        nav.chips {
            @for (s, label) in [("active", "open and acknowledged"), ("open", "open"), ("acknowledged", "acknowledged"), ("closed", "closed"), ("all", "all")] {
                a href=(format!("/alerts?status={s}")) class=[(show == s).then_some("active")] { (label) }
            }
        }
        @if shown.is_empty() && show == "active" {
            p.hint { "Nothing needs attention. Alert rules of the scorecard create tasks when `tenure alerts evaluate` runs (or after an import)." }
        }
        (tasks_table(&mut ctx, &shown, true))
    };
    respond("Alerts", ctx, body)
}

#[derive(Deserialize)]
pub struct TaskForm {
    action: String,
    note: Option<String>,
}

pub async fn update_alert(
    _: Guard,
    State(state): State<AppState>,
    Path(id): Path<u64>,
    parts: Parts,
    Form(form): Form<TaskForm>,
) -> Response {
    if !super::session::same_origin(&parts) {
        return super::session::cross_site();
    }
    let note = match form.action.as_str() {
        "ack" => None,
        "close" => Some(form.note.unwrap_or_default()),
        other => return (StatusCode::BAD_REQUEST, format!("unknown action {other:?}: ack or close")).into_response(),
    };
    let root = state.workspace().to_path_buf();
    let done = tokio::task::spawn_blocking(move || tenure_query::health::update_task(&root, id, note.as_deref())).await;
    match done {
        Ok(Ok(_)) => Redirect::to(&format!("/alerts?status=all#task-{id}")).into_response(),
        Ok(Err(e)) => (StatusCode::BAD_REQUEST, format!("{e:#}")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// The manual health override of an account (`tenure health override`):
/// the one in force, and a form to set or remove it. Only sessions that may
/// change what everyone sees get a working form ([`super::session::may_change`]).
fn override_section(id: &str, health: &Value, allowed: bool) -> Markup {
    let current = &health["override"];
    let as_of = health["as_of"]
        .as_str()
        .or(health["history"].as_array().and_then(|h| h.last()).and_then(|d| d["date"].as_str()));
    let from: Option<jiff::civil::Date> = as_of.and_then(|d| d.parse().ok());
    let today = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
    let from = from.unwrap_or(today);
    let expires = from.checked_add(jiff::ToSpan::days(30)).unwrap_or(from);
    let action = format!("{}/override", account_href(id));
    html! {
        section.card id="override" {
            h3 { "Manual health override" }
            @if current.is_null() {
                p.hint { "No override: the score is the scorecard's. An override replaces it (for a known reason the data cannot see) until it expires." }
            } @else {
                p {
                    "Overridden to " b { (dec(&current["score"], 0)) } " from " (current["set_on"].as_str().unwrap_or(""))
                    " until " (current["expires"].as_str().unwrap_or("")) " (excluded): "
                    i { (current["reason"].as_str().unwrap_or("")) }
                    " (the scorecard says " (dec(&health["computed_score"], 0)) ")."
                }
            }
            @if health.is_null() {
                p.hint { "This account is not scored, so there is nothing to override." }
            } @else if !allowed {
                p.hint { "Overrides change the score everyone sees: log in with an " b { "admin" } " key (or the login link "
                    code { "tenure serve" } " printed) to set one. A read key only looks." }
            } @else {
                form.filters.override method="post" action=(action) {
                    input type="hidden" name="action" value="set";
                    label { "Score (0-100)" input type="number" name="score" min="0" max="100" step="1" required; }
                    label.wide { "Reason" input type="text" name="reason" required placeholder="e.g. exec sponsor left; renewal call booked"; }
                    label { "From" input type="date" name="from" value=(from.to_string()) required; }
                    label { "Until (excluded)" input type="date" name="expires" value=(expires.to_string()) required; }
                    button type="submit" { "Set override" }
                }
                @if !current.is_null() {
                    form method="post" action=(action) {
                        input type="hidden" name="action" value="clear";
                        button type="submit" { "Remove the override" }
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct OverrideForm {
    action: String,
    score: Option<String>,
    reason: Option<String>,
    from: Option<String>,
    expires: Option<String>,
}

/// Set or remove an account's override, with the checks of `tenure health override`.
pub async fn override_score(
    session: Guard,
    State(state): State<AppState>,
    Path(id): Path<String>,
    parts: Parts,
    Form(form): Form<OverrideForm>,
) -> Response {
    if !super::session::same_origin(&parts) {
        return super::session::cross_site();
    }
    if !super::session::may_change(&state, &session) {
        return (StatusCode::FORBIDDEN, "overrides need an admin key's session (or the login link)").into_response();
    }
    let root = state.workspace().to_path_buf();
    let account = id.clone();
    let done = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let ws = tenure_store::Workspace::open(&root)?;
        if !tenure_store::load::<tenure_model::Customer>(&ws)?.iter().any(|c| c.id == account) {
            anyhow::bail!("no customer with id {account:?} in the workspace");
        }
        match form.action.as_str() {
            "clear" => {
                tenure_query::health::clear_override(&root, &account)?;
            }
            "set" => {
                let date = |name: &str, v: &Option<String>| -> anyhow::Result<jiff::civil::Date> {
                    let v = v.as_deref().unwrap_or("");
                    v.parse().map_err(|e| anyhow::anyhow!("{name} {v:?} is not a date (YYYY-MM-DD): {e}"))
                };
                let score_text = form.score.as_deref().unwrap_or("").trim().to_string();
                let score: f64 = score_text
                    .parse()
                    .map_err(|_| anyhow::anyhow!("score {score_text:?} is not a number from 0 to 100"))?;
                let o = tenure_query::health::Override {
                    account: account.clone(),
                    score,
                    reason: form.reason.clone().unwrap_or_default(),
                    set_on: date("from", &form.from)?,
                    expires: date("expires", &form.expires)?,
                };
                tenure_query::health::set_override(&root, o)?;
            }
            other => anyhow::bail!("unknown action {other:?}: set or clear"),
        }
        Ok(())
    })
    .await;
    match done {
        Ok(Ok(())) => Redirect::to(&format!("{}#override", account_href(&id))).into_response(),
        Ok(Err(e)) => (StatusCode::BAD_REQUEST, format!("{e:#}")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// Why there is no churn risk, without the workspace's path in it.
fn churn_note(note: &str) -> String {
    if note.starts_with("no churn model") {
        "no churn model yet: train one with `tenure churn train`.".into()
    } else {
        note.to_string()
    }
}

/// An attribute as shown: instants as their day, strings bare.
fn attribute_text(key: &str, v: &Value) -> String {
    match v.as_str() {
        Some(s) if key.ends_with("_at") && s.len() > 10 && s.as_bytes()[10] == b'T' => s[..10].to_string(),
        Some(s) => s.to_string(),
        None => v.to_string(),
    }
}
