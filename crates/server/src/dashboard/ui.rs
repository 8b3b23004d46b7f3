//! The dashboard's building blocks: the page frame (navigation, filters),
//! KPI cards with trend and change, charts (a JSON spec drawn by uPlot in
//! `assets/dashboard.js`), tables that download as CSV, heat maps, and the
//! number formats of SPEC 2 (money from cents, percentages, ratios).

use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde_json::{Value, json};

use super::session::urlencode;

/// Good is green, bad is red, everywhere (cards, bands, movements).
pub const GOOD: &str = "#1a9e5a";
pub const BAD: &str = "#d64545";
pub const WARN: &str = "#e0a526";
pub const NEUTRAL: &str = "#3b6fd8";
pub const MUTED: &str = "#8a94a6";

/// The pages of the navigation bar: (path, label).
pub const NAV: &[(&str, &str)] = &[
    ("/", "Overview"),
    ("/revenue", "Revenue"),
    ("/engagement", "Engagement"),
    ("/voice", "Voice of customer"),
    ("/support", "Support"),
    ("/accounts", "Accounts"),
    ("/alerts", "Alerts"),
];

/// The query parameters of a page request, in order (they are the same
/// parameters as the read API's).
#[derive(Clone, Debug, Default)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(a, v)| a == k && !v.is_empty()).map(|(_, v)| v.as_str())
    }

    /// The parameters without `drop` (for links that replace one).
    pub fn without(&self, drop: &[&str]) -> Params {
        Params(self.0.iter().filter(|(k, v)| !drop.contains(&k.as_str()) && !v.is_empty()).cloned().collect())
    }

    pub fn with(&self, k: &str, v: &str) -> Params {
        let mut p = self.without(&[k]);
        p.0.push((k.to_string(), v.to_string()));
        p
    }

    pub fn query(&self) -> String {
        let q: Vec<String> = self.0.iter().map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v))).collect();
        if q.is_empty() { String::new() } else { format!("?{}", q.join("&")) }
    }

    /// Only the named parameters that are set, as metric-query pairs.
    pub fn pick(&self, names: &[&str]) -> Vec<(String, String)> {
        names.iter().filter_map(|n| self.get(n).map(|v| (n.to_string(), v.to_string()))).collect()
    }
}

/// What a page rendering collects besides its HTML: its tables (for CSV).
pub struct Ctx {
    /// The page's path (CSV links point back to it).
    pub path: String,
    pub params: Params,
    pub tables: Vec<Table>,
}

impl Ctx {
    pub fn new(path: impl Into<String>, params: Params) -> Ctx {
        Ctx { path: path.into(), params, tables: Vec::new() }
    }

    /// Render a table and keep it for `?csv=<id>`.
    pub fn table(&mut self, t: Table) -> Markup {
        let m = t.render(&self.path, &self.params);
        self.tables.push(t);
        m
    }
}

/// One cell: what is shown, what goes in the CSV, an optional link and class.
#[derive(Clone, Debug, Default)]
pub struct Cell {
    pub text: String,
    pub raw: String,
    pub href: Option<String>,
    pub class: Option<&'static str>,
    /// Background colour (heat maps, bands).
    pub style: Option<String>,
}

impl Cell {
    pub fn text(s: impl Into<String>) -> Cell {
        let s = s.into();
        Cell { raw: s.clone(), text: s, ..Cell::default() }
    }

    /// A number shown formatted, exported raw, and sorted numerically.
    pub fn num(v: &Value, shown: String) -> Cell {
        Cell { text: shown, raw: raw(v), class: Some("num"), ..Cell::default() }
    }

    pub fn link(mut self, href: impl Into<String>) -> Cell {
        self.href = Some(href.into());
        self
    }

    pub fn class(mut self, c: &'static str) -> Cell {
        self.class = Some(c);
        self
    }

    pub fn style(mut self, s: String) -> Cell {
        self.style = Some(s);
        self
    }
}

fn raw(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[derive(Clone, Debug)]
pub struct Table {
    pub id: String,
    pub title: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
    /// What an empty table means and how to fill it.
    pub empty: String,
    /// A totals row under the rows (shown, not part of the CSV).
    pub foot: Option<Vec<Cell>>,
}

impl Table {
    pub fn new(id: &str, title: &str, columns: &[&str]) -> Table {
        Table {
            id: id.into(),
            title: title.into(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: Vec::new(),
            empty: "No rows for these filters.".into(),
            foot: None,
        }
    }

    pub fn empty(mut self, why: &str) -> Table {
        self.empty = why.into();
        self
    }

    pub fn render(&self, path: &str, params: &Params) -> Markup {
        let csv = format!("{path}{}", params.with("csv", &self.id).query());
        html! {
            section.card.table-card id=(format!("t-{}", self.id)) {
                div.card-head {
                    h3 { (self.title) }
                    @if !self.rows.is_empty() {
                        a.csv href=(csv) download=(format!("{}.csv", self.id)) title="Download this table as CSV" { "CSV" }
                    }
                }
                @if self.rows.is_empty() {
                    p.empty { (self.empty) }
                } @else {
                    div.scroll {
                        table.data.sortable data-table=(self.id) {
                            thead { tr { @for c in &self.columns { th { (c) } } } }
                            tbody {
                                @for r in &self.rows {
                                    tr {
                                        @for c in r {
                                            td class=[c.class] style=[c.style.as_deref()] data-v=(c.raw) {
                                                @if let Some(h) = &c.href { a href=(h) { (c.text) } } @else { (c.text) }
                                            }
                                        }
                                    }
                                }
                            }
                            @if let Some(foot) = &self.foot {
                                tfoot {
                                    tr {
                                        @for c in foot {
                                            td class=[c.class] data-v=(c.raw) { (c.text) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// RFC 4180 CSV of the raw values.
    pub fn csv(&self) -> String {
        fn field(s: &str) -> String {
            if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
        }
        let mut out = self.columns.iter().map(|c| field(c)).collect::<Vec<_>>().join(",");
        out.push_str("\r\n");
        for r in &self.rows {
            out.push_str(&r.iter().map(|c| field(&c.raw)).collect::<Vec<_>>().join(","));
            out.push_str("\r\n");
        }
        out
    }
}

// ---------------------------------------------------------------- formats

pub fn f(v: &Value) -> Option<f64> {
    v.as_f64()
}

/// Thousands separators.
pub fn grouped(n: i64) -> String {
    let s = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// Money from (fractional) cents, whole units: `USD 181,152`.
pub fn money(v: &Value, currency: &str) -> String {
    match f(v) {
        Some(c) => format!("{currency} {}", grouped((c / 100.0).round() as i64)),
        None => "–".into(),
    }
}

/// A signed amount: `+USD 9,071`.
pub fn money_signed(v: &Value, currency: &str) -> String {
    match f(v) {
        Some(c) if c > 0.0 => format!("+{}", money(v, currency)),
        _ => money(v, currency),
    }
}

/// A ratio 0-1 as a percentage: `99.47%`.
pub fn ratio_pct(v: &Value) -> String {
    f(v).map_or("–".into(), |x| format!("{:.2}%", x * 100.0))
}

/// A percentage 0-100: `50.16%`.
pub fn pct(v: &Value) -> String {
    f(v).map_or("–".into(), |x| format!("{x:.2}%"))
}

pub fn int(v: &Value) -> String {
    f(v).map_or("–".into(), |x| grouped(x.round() as i64))
}

pub fn dec(v: &Value, places: usize) -> String {
    f(v).map_or("–".into(), |x| format!("{x:.places$}"))
}

/// A duration in seconds, in the largest unit that keeps it readable.
pub fn duration(v: &Value) -> String {
    let Some(s) = f(v) else { return "–".into() };
    if s < 90.0 {
        format!("{s:.0} s")
    } else if s < 90.0 * 60.0 {
        format!("{:.0} min", s / 60.0)
    } else if s < 48.0 * 3600.0 {
        format!("{:.1} h", s / 3600.0)
    } else {
        format!("{:.1} d", s / 86400.0)
    }
}

/// A background for a 0-100 value of a heat map (white to green).
pub fn heat(pct: Option<f64>) -> Option<String> {
    let p = pct?.clamp(0.0, 100.0);
    let light = 97.0 - p * 0.55;
    let text = if p > 60.0 { "#fff" } else { "#1d2433" };
    Some(format!("background:hsl(152,55%,{light:.0}%);color:{text}"))
}

// ---------------------------------------------------------------- cards

/// Whether up is good for a KPI (churn: no).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Up,
    Down,
    Neither,
}

/// A KPI: its value, change against the previous period and trend line.
pub struct Kpi<'a> {
    pub id: &'a str,
    pub label: &'a str,
    pub value: String,
    /// Shown under the value: what the change is against.
    pub change: Option<(f64, String)>,
    pub better: Better,
    pub trend: Vec<Option<f64>>,
    pub href: Option<String>,
    pub note: Option<String>,
}

impl<'a> Kpi<'a> {
    pub fn new(id: &'a str, label: &'a str, value: String) -> Kpi<'a> {
        Kpi { id, label, value, change: None, better: Better::Up, trend: Vec::new(), href: None, note: None }
    }

    /// The change from the previous to the last value of `trend`, shown by `show`.
    pub fn with_trend(mut self, trend: Vec<Option<f64>>, better: Better, show: impl Fn(f64) -> String) -> Kpi<'a> {
        if trend.len() >= 2
            && let (Some(Some(last)), Some(Some(prev))) = (trend.last(), trend.get(trend.len() - 2))
        {
            let d = last - prev;
            self.change = Some((d, show(d)));
        }
        self.trend = trend;
        self.better = better;
        self
    }

    pub fn link(mut self, href: impl Into<String>) -> Kpi<'a> {
        self.href = Some(href.into());
        self
    }

    pub fn note(mut self, n: impl Into<String>) -> Kpi<'a> {
        self.note = Some(n.into());
        self
    }

    pub fn render(&self, against: &str) -> Markup {
        let (cls, arrow) = match self.change {
            Some((d, _)) if d.abs() < 1e-9 => ("flat", "→"),
            Some((d, _)) => {
                let good = match self.better {
                    Better::Up => d > 0.0,
                    Better::Down => d < 0.0,
                    Better::Neither => true,
                };
                (
                    if self.better == Better::Neither {
                        "flat"
                    } else if good {
                        "good"
                    } else {
                        "bad"
                    },
                    if d > 0.0 { "▲" } else { "▼" },
                )
            }
            None => ("flat", ""),
        };
        html! {
            div.kpi data-kpi=(self.id) {
                div.kpi-label { (self.label) }
                div.kpi-value {
                    @if let Some(h) = &self.href { a href=(h) title="Show the customers behind this number" { (self.value) } }
                    @else { (self.value) }
                }
                @if let Some((_, text)) = &self.change {
                    div class=(format!("kpi-change {cls}")) { (arrow) " " (text) span.against { " vs " (against) } }
                } @else if !self.trend.is_empty() {
                    div.kpi-change.flat { "no earlier period" }
                }
                @if let Some(n) = &self.note { div.kpi-note { (n) } }
                (sparkline(&self.trend, match cls { "bad" => BAD, "good" => GOOD, _ => NEUTRAL }))
            }
        }
    }
}

/// A small inline SVG trend line (no script needed).
pub fn sparkline(values: &[Option<f64>], color: &str) -> Markup {
    let pts: Vec<(usize, f64)> = values.iter().enumerate().filter_map(|(i, v)| v.map(|v| (i, v))).collect();
    if pts.len() < 2 {
        return html! {};
    }
    let (w, h) = (160.0, 32.0);
    let lo = pts.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let hi = pts.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    let span = if hi > lo { hi - lo } else { 1.0 };
    let n = (values.len() - 1).max(1) as f64;
    let path: Vec<String> = pts
        .iter()
        .map(|(i, v)| format!("{:.1},{:.1}", *i as f64 / n * w, h - 2.0 - (v - lo) / span * (h - 4.0)))
        .collect();
    html! {
        svg.spark viewBox=(format!("0 0 {w} {h}")) preserveAspectRatio="none" aria-hidden="true" {
            polyline points=(path.join(" ")) fill="none" stroke=(color) stroke-width="1.6" {}
        }
    }
}

// ---------------------------------------------------------------- charts

/// One series of a chart.
pub struct Series {
    pub label: String,
    pub values: Vec<Option<f64>>,
    pub color: &'static str,
    /// `line` (default), `bar`, or `band` (drawn as a shaded area between this
    /// series and the next).
    pub kind: &'static str,
}

impl Series {
    pub fn line(label: &str, values: Vec<Option<f64>>, color: &'static str) -> Series {
        Series { label: label.into(), values, color, kind: "line" }
    }

    pub fn bar(label: &str, values: Vec<Option<f64>>, color: &'static str) -> Series {
        Series { label: label.into(), values, color, kind: "bar" }
    }
}

/// A chart: x values (dates as `YYYY-MM-DD` or `YYYY-MM`), series, the y unit.
pub struct Chart<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub x: Vec<String>,
    pub series: Vec<Series>,
    /// Axis label and tick format: `USD`, `%`, `users`, `ratio`, ...
    pub unit: &'a str,
    /// Bars stacked (positive above, negative below zero).
    pub stacked: bool,
    pub empty: &'a str,
}

impl<'a> Chart<'a> {
    pub fn new(id: &'a str, title: &'a str, x: Vec<String>, unit: &'a str) -> Chart<'a> {
        Chart { id, title, x, series: Vec::new(), unit, stacked: false, empty: "No data for these filters." }
    }

    pub fn series(mut self, s: Series) -> Chart<'a> {
        self.series.push(s);
        self
    }

    pub fn stacked(mut self) -> Chart<'a> {
        self.stacked = true;
        self
    }

    pub fn empty(mut self, why: &'a str) -> Chart<'a> {
        self.empty = why;
        self
    }

    pub fn render(&self) -> Markup {
        let has_data = !self.x.is_empty() && self.series.iter().any(|s| s.values.iter().any(Option::is_some));
        let spec = json!({
            "id": self.id,
            "x": self.x,
            "unit": self.unit,
            "stacked": self.stacked,
            "series": self.series.iter().map(|s| json!({
                "label": s.label, "values": s.values, "color": s.color, "kind": s.kind,
            })).collect::<Vec<_>>(),
        });
        html! {
            section.card.chart-card {
                h3 { (self.title) }
                @if has_data {
                    div.chart id=(format!("c-{}", self.id)) data-series=(self.series.len()) {}
                    script type="application/json" data-chart-for=(format!("c-{}", self.id)) {
                        (PreEscaped(spec.to_string().replace("</", "<\\/")))
                    }
                } @else {
                    p.empty { (self.empty) }
                }
            }
        }
    }
}

// ---------------------------------------------------------------- frame

/// The filter bar: date range and segment attribute (the API's parameters).
pub struct Filters {
    /// `month` (revenue: YYYY-MM) or `date` (YYYY-MM-DD, exclusive end).
    pub kind: &'static str,
    pub segments: bool,
    pub extra: Markup,
}

pub const SEGMENT_ATTRS: &[&str] = &["segment", "plan_tier", "country", "owner"];

pub fn filters(path: &str, params: &Params, f: &Filters) -> Markup {
    let (from_label, to_label) =
        if f.kind == "month" { ("From month", "To month (included)") } else { ("From", "To (excluded)") };
    html! {
        form.filters method="get" action=(path) {
            label { (from_label) input type=(f.kind) name="from" value=[params.get("from")]; }
            label { (to_label) input type=(f.kind) name="to" value=[params.get("to")]; }
            @if f.segments {
                label { "Break down by"
                    select name="segment" {
                        option value="" { "(none)" }
                        @for a in SEGMENT_ATTRS {
                            option value=(a) selected[params.get("segment") == Some(a)] { (a.replace('_', " ")) }
                        }
                    }
                }
            }
            (f.extra)
            button type="submit" { "Apply" }
            @if params.get("from").is_some() || params.get("to").is_some() || params.get("segment").is_some() {
                a.reset href=(path) { "Reset" }
            }
        }
    }
}

/// The whole page: head, navigation, title, body.
pub fn page(title: &str, active: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Tenure" }
                link rel="stylesheet" href="/assets/uplot.min.css";
                link rel="stylesheet" href="/assets/dashboard.css";
                link rel="icon" href="data:,";
            }
            body {
                header.top {
                    a.brand href="/" { "Tenure" }
                    nav {
                        @for (href, label) in NAV {
                            a href=(href) class=[(*href == active || (*href != "/" && active.starts_with(href))).then_some("active")] { (label) }
                        }
                    }
                    form.logout method="post" action="/logout" { button type="submit" { "Log out" } }
                }
                main {
                    h1 { (title) }
                    (body)
                }
                script src="/assets/uplot.min.js" {}
                script src="/assets/dashboard.js" {}
            }
        }
    }
}

/// A notice in place of a section that cannot be shown, saying why.
pub fn notice(title: &str, why: &str) -> Markup {
    html! { section.card.notice { h3 { (title) } p.empty { (why) } } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_follow_the_output_conventions() {
        assert_eq!(money(&json!(18115187.08), "USD"), "USD 181,152");
        assert_eq!(money(&json!(-81067.65), "EUR"), "EUR -811");
        assert_eq!(money(&Value::Null, "USD"), "–");
        assert_eq!(ratio_pct(&json!(0.9947)), "99.47%");
        assert_eq!(pct(&json!(50.16)), "50.16%");
        assert_eq!(grouped(1234567), "1,234,567");
        assert_eq!(grouped(-999), "-999");
        assert_eq!(duration(&json!(1945.0)), "32 min");
        assert_eq!(duration(&json!(31942.8)), "8.9 h");
        assert_eq!(duration(&json!(45)), "45 s");
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let mut t = Table::new("x", "X", &["a", "b"]);
        t.rows.push(vec![Cell::text("plain"), Cell::text("with, comma \"q\"")]);
        t.rows.push(vec![Cell::num(&json!(1.5), "1.50".into()), Cell::num(&Value::Null, "–".into())]);
        assert_eq!(t.csv(), "a,b\r\nplain,\"with, comma \"\"q\"\"\"\r\n1.5,\r\n");
    }

    #[test]
    fn params_round_trip_through_links() {
        let p = Params(vec![("from".into(), "2026-01".into()), ("segment".into(), "".into())]);
        assert_eq!(p.with("csv", "months").query(), "?from=2026-01&csv=months");
        assert_eq!(p.get("segment"), None, "an empty field is no filter");
        assert_eq!(Params(vec![("q".into(), "a b&c".into())]).query(), "?q=a%20b%26c");
    }
}
