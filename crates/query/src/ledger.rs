//! The revenue inputs of a workspace, loaded once, and the MRR ledger built
//! from them under any rules: what `metrics revenue` and `reconcile` (which
//! builds one ledger per rule set it compares) both start from.

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
