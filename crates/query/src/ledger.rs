//! The revenue inputs of a workspace, loaded once, and the MRR ledger built
//! from them under any rules: what `metrics revenue` and `reconcile` (which
//! builds one ledger per rule set it compares) both start from.

use std::collections::HashSet;
use std::sync::Arc;

use anyhow::{Result, anyhow};
use tenure_metrics::revenue::{self, FxTable, Ledger, Rules};
use tenure_model::{Cancellation, Cost, Currency, FxRate, Invoice, Plan, SubscriptionEvent};
use tenure_store::Workspace;

/// Everything the revenue engine reads from a workspace.
#[derive(Clone, Debug, Default)]
pub struct RevenueData {
    pub events: Vec<SubscriptionEvent>,
    pub plans: Vec<Plan>,
    pub rates: Vec<FxRate>,
    pub invoices: Vec<Invoice>,
    pub cancellations: Vec<Cancellation>,
    pub costs: Vec<Cost>,
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
        })
    }

    /// [`RevenueData::load`], shared per workspace state ([`crate::cache`]).
    pub fn shared(ws: &Workspace) -> Result<Arc<RevenueData>> {
        crate::cache::shared(ws, "revenue-data", || RevenueData::load(ws))
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
        let dates = || self.events.iter().map(|e| e.date).chain(self.invoices.iter().map(|i| i.date));
        dates().min().zip(dates().max())
    }
}
