//! The revenue inputs of a workspace, loaded once, and the MRR ledger built
//! from them under any rules: what `metrics revenue` and `reconcile` (which
//! builds one ledger per rule set it compares) both start from.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use anyhow::{Result, anyhow};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Date32Type, Int32Type, Int64Type, TimestampMicrosecondType};
use jiff::civil::Date;
use tenure_metrics::revenue::{self, FxTable, Ledger, Rules};
use tenure_model::{
    Cancellation, Cost, Currency, FxRate, Invoice, LineItem, LineItemType, Plan, SubscriptionEvent, Transaction,
    TransactionType,
};
use tenure_store::Workspace;
use tenure_store::schema::{KEY, days_to_date, micros_to_ts};

/// Everything the revenue engine reads from a workspace.
#[derive(Clone, Debug, Default)]
pub struct RevenueData {
    pub events: Vec<SubscriptionEvent>,
    pub plans: Vec<Plan>,
    pub rates: Vec<FxRate>,
    pub invoices: Vec<Invoice>,
    pub cancellations: Vec<Cancellation>,
    pub costs: Vec<Cost>,
    /// The first and last invoice date when `invoices` holds only the
    /// invoices that can change a revenue figure ([`RevenueData::load_for_revenue`]).
    pub invoice_dates: Option<(Date, Date)>,
}

impl RevenueData {
    pub fn load(ws: &Workspace) -> Result<RevenueData> {
        Ok(RevenueData {
            events: tenure_store::load::<SubscriptionEvent>(ws)?,
            plans: tenure_store::load::<Plan>(ws)?,
            rates: tenure_store::load::<FxRate>(ws)?,
            invoices: tenure_store::load::<Invoice>(ws)?,
            cancellations: tenure_store::load::<Cancellation>(ws)?,
            costs: tenure_store::load::<Cost>(ws)?,
            invoice_dates: None,
        })
    }

    /// The same figures as [`RevenueData::load`] for the revenue engine, read
    /// faster: of the invoices (often the biggest tables, one row per customer
    /// per month) only the parts that can change a revenue figure are built:
    /// subscription and trial lines of subscriptions without events (invoice-
    /// derived MRR) and successful refunds. Only the columns needed are read, the
    /// subscription events on one core while the invoice tables are scanned on
    /// the other.
    pub fn load_for_revenue(ws: &Workspace) -> Result<RevenueData> {
        let (events, scan) = std::thread::scope(|s| {
            let events = s.spawn(|| tenure_store::load::<SubscriptionEvent>(ws));
            let scan = InvoiceScan::read(ws);
            (events.join().expect("loading subscription events panicked"), scan)
        });
        let events = events?;
        let scan = scan?;
        let dates = scan.dates;
        // Lines of subscriptions that have events never count (their events win).
        let with_events: HashSet<&str> = events.iter().map(|e| e.subscription_id.as_str()).collect();
        let invoices = scan.finish(ws, &with_events)?;
        Ok(RevenueData {
            events,
            plans: tenure_store::load::<Plan>(ws)?,
            rates: tenure_store::load::<FxRate>(ws)?,
            invoices,
            cancellations: tenure_store::load::<Cancellation>(ws)?,
            costs: tenure_store::load::<Cost>(ws)?,
            invoice_dates: dates,
        })
    }

    /// [`RevenueData::load`], shared per workspace state ([`crate::cache`]).
    pub fn shared(ws: &Workspace) -> Result<Arc<RevenueData>> {
        crate::cache::shared(ws, "revenue-data", || RevenueData::load(ws))
    }

    /// [`RevenueData::load_for_revenue`], shared per workspace state: what the
    /// revenue report reads (a one-shot command reads only this; the server
    /// keeps it beside the full data the account pages need).
    pub fn shared_for_revenue(ws: &Workspace) -> Result<Arc<RevenueData>> {
        crate::cache::shared(ws, "revenue-data/for-revenue", || RevenueData::load_for_revenue(ws))
    }

    /// Only one customer's rows (its subscription events, invoices and their
    /// subscriptions' cancellations; every plan and rate): its ledger is the
    /// same as its part of the whole ledger, built in a fraction of the time.
    pub fn for_customer(&self, id: &str) -> RevenueData {
        let events: Vec<SubscriptionEvent> = self.events.iter().filter(|e| e.customer_id == id).cloned().collect();
        let invoices: Vec<Invoice> = self.invoices.iter().filter(|i| i.customer_id == id).cloned().collect();
        let subs: HashSet<&str> = events
            .iter()
            .map(|e| e.subscription_id.as_str())
            .chain(invoices.iter().flat_map(|i| i.line_items.iter().filter_map(|l| l.subscription_id.as_deref())))
            .collect();
        let cancellations = self
            .cancellations
            .iter()
            .filter(|c| c.customer_id.as_deref() == Some(id) || subs.contains(c.subscription_id.as_str()))
            .cloned()
            .collect();
        RevenueData {
            events,
            plans: self.plans.clone(),
            rates: self.rates.clone(),
            invoices,
            cancellations,
            costs: Vec::new(),
            invoice_dates: self.invoice_dates,
        }
    }

    /// Monthly rates to the reporting currency.
    pub fn fx(&self, reporting: Currency) -> FxTable {
        FxTable::new(reporting, &self.rates)
    }

    /// The ledger from subscription events and, for subscriptions without
    /// events, invoices and cancellations.
    pub fn ledger(&self, rules: &Rules, fx: &FxTable) -> Result<Ledger> {
        revenue::build_all(&self.events, &self.invoices, &self.cancellations, &self.plans, rules, fx)
            .map_err(|e| anyhow!("{e}"))
    }

    /// The first and last day of the data (subscription events and invoices).
    pub fn date_range(&self) -> Option<(jiff::civil::Date, jiff::civil::Date)> {
        let spans = self.invoice_dates.into_iter().flat_map(|(a, b)| [a, b]);
        let dates =
            || self.events.iter().map(|e| e.date).chain(self.invoices.iter().map(|i| i.date)).chain(spans.clone());
        dates().min().zip(dates().max())
    }
}

/// Read `columns` of every file of `table`.
fn read(ws: &Workspace, table: &str, columns: &[&str]) -> Result<Vec<RecordBatch>> {
    let mut out = Vec::new();
    for path in ws.table_paths(table) {
        out.extend(tenure_store::read_parquet(&path, Some(columns))?);
    }
    Ok(out)
}

/// Rows of `batches` where `keep(batch, row)` holds, as (batch, row) pairs.
fn select(batches: &[RecordBatch], keep: impl Fn(&RecordBatch, usize) -> bool) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (b, batch) in batches.iter().enumerate() {
        out.extend((0..batch.num_rows()).filter(|&i| keep(batch, i)).map(|i| (b, i)));
    }
    out
}

fn col<'a>(b: &'a RecordBatch, name: &str) -> &'a dyn Array {
    b.column_by_name(name).unwrap_or_else(|| panic!("stored column {name}")).as_ref()
}

fn opt_str(b: &RecordBatch, name: &str, i: usize) -> Option<String> {
    let a = col(b, name).as_string::<i32>();
    a.is_valid(i).then(|| a.value(i).to_string())
}

fn opt_date(b: &RecordBatch, name: &str, i: usize) -> Option<Date> {
    let a = col(b, name).as_primitive::<Date32Type>();
    a.is_valid(i).then(|| days_to_date(a.value(i)))
}

fn opt_i64(b: &RecordBatch, name: &str, i: usize) -> Option<i64> {
    let a = col(b, name).as_primitive::<Int64Type>();
    a.is_valid(i).then(|| a.value(i))
}

/// The narrow first pass over the invoice tables: every invoice's date, each
/// line's type and subscription, and which transactions are successful refunds.
struct InvoiceScan {
    dates: Option<(Date, Date)>,
    line_kinds: Vec<RecordBatch>,
    refunds: Vec<(usize, usize)>,
}

impl InvoiceScan {
    fn read(ws: &Workspace) -> Result<InvoiceScan> {
        let mut dates: Option<(Date, Date)> = None;
        for b in &read(ws, "invoices", &["date"])? {
            let a = col(b, "date").as_primitive::<Date32Type>();
            if let (Some(lo), Some(hi)) = (arrow::compute::min(a), arrow::compute::max(a)) {
                let (lo, hi) = (days_to_date(lo), days_to_date(hi));
                dates = Some(dates.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
            }
        }
        if dates.is_none() {
            return Ok(InvoiceScan { dates, line_kinds: Vec::new(), refunds: Vec::new() });
        }
        let line_kinds = read(ws, "invoice_line_items", &["type", "subscription_id"])?;
        let kinds = read(ws, "invoice_transactions", &["type", "result"])?;
        let refunds = select(&kinds, |b, i| {
            col(b, "type").as_string::<i32>().value(i) == "refund"
                && col(b, "result").as_string::<i32>().value(i) == "successful"
        });
        Ok(InvoiceScan { dates, line_kinds, refunds })
    }

    /// The invoices with their subscription and trial lines of subscriptions
    /// not in `with_events` and their successful refunds, leaving out invoices
    /// with neither: only those rows are read in full.
    fn finish(self, ws: &Workspace, with_events: &HashSet<&str>) -> Result<Vec<Invoice>> {
        let wanted_lines = select(&self.line_kinds, |b, i| {
            let (t, sub) = (col(b, "type").as_string::<i32>(), col(b, "subscription_id").as_string::<i32>());
            matches!(t.value(i), "subscription" | "trial") && sub.is_valid(i) && !with_events.contains(sub.value(i))
        });
        let wanted_txns = self.refunds;
        let mut lines: HashMap<String, Vec<(i32, LineItem)>> = HashMap::new();
        if !wanted_lines.is_empty() {
            let full = read(
                ws,
                "invoice_line_items",
                &[
                    KEY,
                    "line_number",
                    "type",
                    "subscription_id",
                    "plan_id",
                    "service_period_start",
                    "service_period_end",
                    "amount_cents",
                    "tax_cents",
                    "discount_cents",
                    "quantity",
                    "prorated",
                ],
            )?;
            for (b, i) in wanted_lines {
                let b = &full[b];
                let kind = LineItemType::parse(col(b, "type").as_string::<i32>().value(i)).expect("stored line types");
                let line = LineItem {
                    kind,
                    subscription_id: opt_str(b, "subscription_id", i),
                    plan_id: opt_str(b, "plan_id", i),
                    service_period_start: opt_date(b, "service_period_start", i),
                    service_period_end: opt_date(b, "service_period_end", i),
                    amount_cents: col(b, "amount_cents").as_primitive::<Int64Type>().value(i),
                    tax_cents: opt_i64(b, "tax_cents", i),
                    discount_cents: opt_i64(b, "discount_cents", i),
                    quantity: opt_i64(b, "quantity", i),
                    prorated: col(b, "prorated").as_boolean().value(i),
                };
                let n = col(b, "line_number").as_primitive::<Int32Type>().value(i);
                lines.entry(col(b, KEY).as_string::<i32>().value(i).to_string()).or_default().push((n, line));
            }
        }
        let mut txns: HashMap<String, Vec<(i32, Transaction)>> = HashMap::new();
        if !wanted_txns.is_empty() {
            let full = read(ws, "invoice_transactions", &[KEY, "line_number", "date", "amount_cents"])?;
            for (b, i) in wanted_txns {
                let b = &full[b];
                let txn = Transaction {
                    kind: TransactionType::Refund,
                    date: micros_to_ts(col(b, "date").as_primitive::<TimestampMicrosecondType>().value(i)),
                    amount_cents: col(b, "amount_cents").as_primitive::<Int64Type>().value(i),
                    result: "successful".to_string(),
                };
                let n = col(b, "line_number").as_primitive::<Int32Type>().value(i);
                txns.entry(col(b, KEY).as_string::<i32>().value(i).to_string()).or_default().push((n, txn));
            }
        }
        let mut invoices = Vec::new();
        if !lines.is_empty() || !txns.is_empty() {
            for b in read(ws, "invoices", &[KEY, "external_id", "customer_id", "date", "currency"])? {
                let keys = col(&b, KEY).as_string::<i32>();
                for i in 0..b.num_rows() {
                    let key = keys.value(i);
                    let (l, t) = (lines.remove(key), txns.remove(key));
                    if l.is_none() && t.is_none() {
                        continue;
                    }

                    invoices.push(Invoice {
                        external_id: col(&b, "external_id").as_string::<i32>().value(i).to_string(),
                        customer_id: col(&b, "customer_id").as_string::<i32>().value(i).to_string(),
                        date: opt_date(&b, "date", i).expect("required date"),
                        currency: col(&b, "currency").as_string::<i32>().value(i).parse().expect("stored currencies"),
                        line_items: l.map(by_line_number).unwrap_or_default(),
                        transactions: t.map(by_line_number).unwrap_or_default(),
                    });
                }
            }
        }
        Ok(invoices)
    }
}

/// Items in their line order (as [`tenure_store::load`] gives them).
fn by_line_number<T>(mut v: Vec<(i32, T)>) -> Vec<T> {
    v.sort_by_key(|(n, _)| *n);
    v.into_iter().map(|(_, x)| x).collect()
}
