//! Transactional (non-subscription) revenue from orders (SPEC 2.1 last
//! bullets; purchases as in SPEC 2.6): repeat purchase ratio, purchase
//! frequency and average order value.
//!
//! - A **purchase** is all orders of one customer on one calendar day (SPEC
//!   2.6: their values summed).
//! - **Repeat purchase ratio** = customers with 2+ purchases / customers who
//!   purchased (ratio 0-1, 4 decimals).
//! - **Purchase frequency** = purchases / customers who purchased (a mean
//!   count, 4 decimals like a ratio: SPEC 2 has no convention for mean counts).
//! - **Average order value** = revenue / orders (every order row, as Shopify
//!   and most commerce tools count it); **average purchase value** = revenue /
//!   purchases is given beside it. Money in the reporting currency, each order
//!   converted at the rate of its month (SPEC 2.1 FX), exact until output.
//!
//! An empty set gives `null` for every ratio and mean (SPEC 2), never 0.

use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::Date;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tenure_model::{Money, Order};

use super::fx::{FxTable, month_idx};
use crate::round;

/// The figures of a set of orders, exact; rounded only by [`OrderMetrics::to_json`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrderMetrics {
    pub orders: u64,
    /// Distinct (customer, day) pairs.
    pub purchases: u64,
    /// Customers with at least one purchase.
    pub customers: u64,
    /// Customers with at least two purchases (on two different days).
    pub repeat_customers: u64,
    /// Sum of order amounts in the reporting currency.
    pub revenue: Money,
}

/// Summarise orders (already filtered to the period and segment wanted).
pub fn order_metrics<'a>(orders: impl IntoIterator<Item = &'a Order>, fx: &FxTable) -> Result<OrderMetrics, String> {
    let mut days: BTreeMap<&str, BTreeSet<Date>> = BTreeMap::new();
    let mut m = OrderMetrics::default();
    for o in orders {
        let currency = o.currency.unwrap_or_else(|| fx.reporting());
        m.revenue += fx.convert(Money::from_cents(o.amount_cents), currency, month_idx(o.date))?;
        m.orders += 1;
        days.entry(o.customer_id.as_str()).or_default().insert(o.date);
    }
    m.customers = days.len() as u64;
    m.purchases = days.values().map(|d| d.len() as u64).sum();
    m.repeat_customers = days.values().filter(|d| d.len() >= 2).count() as u64;
    Ok(m)
}

impl OrderMetrics {
    pub fn repeat_purchase_ratio(&self) -> Option<Decimal> {
        round::ratio(self.repeat_customers, self.customers)
    }

    pub fn purchase_frequency(&self) -> Option<Decimal> {
        (self.customers > 0).then(|| round::ratio_of(Decimal::from(self.purchases) / Decimal::from(self.customers)))
    }

    /// Exact revenue per order (rounded to cents only when printed).
    pub fn average_order_value(&self) -> Option<Money> {
        (self.orders > 0).then(|| self.revenue.div_int(self.orders as i64))
    }

    pub fn average_purchase_value(&self) -> Option<Money> {
        (self.purchases > 0).then(|| self.revenue.div_int(self.purchases as i64))
    }

    pub fn to_json(&self) -> Value {
        let money = |m: Option<Money>| m.map(Money::cents_f64);
        json!({
            "orders": self.orders,
            "purchases": self.purchases,
            "customers": self.customers,
            "repeat_customers": self.repeat_customers,
            "revenue_cents": self.revenue.cents_f64(),
            "repeat_purchase_ratio": round::json(self.repeat_purchase_ratio()),
            "purchase_frequency": round::json(self.purchase_frequency()),
            "average_order_value_cents": money(self.average_order_value()),
            "average_purchase_value_cents": money(self.average_purchase_value()),
        })
    }
}

#[cfg(test)]
mod tests {
    use tenure_model::{Currency, FxRate};

    use super::*;

    fn order(id: &str, customer: &str, date: &str, cents: i64, currency: Option<&str>) -> Order {
        Order {
            id: id.into(),
            customer_id: customer.into(),
            date: date.parse().unwrap(),
            amount_cents: cents,
            currency: currency.map(|c| c.parse().unwrap()),
            cost_cents: None,
        }
    }

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn usd() -> FxTable {
        FxTable::new("USD".parse().unwrap(), &[])
    }

    #[test]
    fn same_day_orders_are_one_purchase() {
        // c1: 2024-01-05 twice (1000 + 500) and 2024-02-01 (3000) => 2 purchases, 3 orders.
        // c2: 2024-01-05 twice (200 + 300) => 1 purchase, 2 orders.
        // c3: 2024-03-01 (1000) => 1 purchase.
        // Customers 3; repeat (2+ purchases): c1 only => 1/3 = 0.3333.
        // Purchases 2 + 1 + 1 = 4 => frequency 4/3 = 1.3333.
        // Revenue 1000+500+3000+200+300+1000 = 6000; AOV 6000/6 = 1000.00;
        // per purchase 6000/4 = 1500.00.
        let orders = [
            order("o1", "c1", "2024-01-05", 1_000, None),
            order("o2", "c1", "2024-01-05", 500, None),
            order("o3", "c1", "2024-02-01", 3_000, Some("USD")),
            order("o4", "c2", "2024-01-05", 200, None),
            order("o5", "c2", "2024-01-05", 300, None),
            order("o6", "c3", "2024-03-01", 1_000, None),
        ];
        let m = order_metrics(&orders, &usd()).unwrap();
        assert_eq!((m.orders, m.purchases, m.customers, m.repeat_customers), (6, 4, 3, 1));
        assert_eq!(m.repeat_purchase_ratio(), Some(d("0.3333")));
        assert_eq!(m.purchase_frequency(), Some(d("1.3333")));
        assert_eq!(m.average_order_value(), Some(Money::from_cents(1_000)));
        assert_eq!(m.average_purchase_value(), Some(Money::from_cents(1_500)));
        let j = m.to_json();
        assert_eq!(j["repeat_purchase_ratio"], json!(0.3333));
        assert_eq!(j["average_order_value_cents"], json!(1000.0));
        assert_eq!(j["revenue_cents"], json!(6000.0));
    }

    #[test]
    fn average_order_value_keeps_sub_cents_until_output() {
        // 100 + 100 + 101 = 301 cents over 3 orders = 100.333... => 100.33;
        // 3 purchases by one customer on 3 days => ratio 1/1, frequency 3.
        // 200 over 3 = 66.666... => 66.67 (half away from zero at output only).
        let orders = [
            order("a", "c1", "2024-01-01", 100, None),
            order("b", "c1", "2024-01-02", 100, None),
            order("c", "c1", "2024-01-03", 101, None),
        ];
        let m = order_metrics(&orders, &usd()).unwrap();
        assert_eq!(m.average_order_value().unwrap().cents_string(), "100.33");
        assert_eq!(m.repeat_purchase_ratio(), Some(d("1")));
        assert_eq!(m.purchase_frequency(), Some(d("3")));
        let orders = [
            order("a", "c1", "2024-01-01", 100, None),
            order("b", "c2", "2024-01-01", 100, None),
            order("c", "c3", "2024-01-01", 0, None),
        ];
        let m = order_metrics(&orders, &usd()).unwrap();
        assert_eq!(m.average_order_value().unwrap().cents_string(), "66.67");
        assert_eq!(m.repeat_purchase_ratio(), Some(d("0")));
    }

    #[test]
    fn orders_convert_at_their_months_rate() {
        // EUR rate 1.10 in January, none in February (carried: 1.10), 1.20 in March.
        // 1000 EUR-cents in Jan => 1100; in Feb => 1100; in Mar => 1200; 500 USD.
        // Revenue 1100 + 1100 + 1200 + 500 = 3900; 4 orders => AOV 975.00.
        let eur: Currency = "EUR".parse().unwrap();
        let rates = [
            FxRate { currency: eur, month: "2024-01-01".parse().unwrap(), rate_to_reporting: d("1.10") },
            FxRate { currency: eur, month: "2024-03-01".parse().unwrap(), rate_to_reporting: d("1.20") },
        ];
        let fx = FxTable::new("USD".parse().unwrap(), &rates);
        let orders = [
            order("a", "c1", "2024-01-31", 1_000, Some("EUR")),
            order("b", "c1", "2024-02-15", 1_000, Some("EUR")),
            order("c", "c2", "2024-03-01", 1_000, Some("EUR")),
            order("d", "c3", "2024-03-01", 500, Some("USD")),
        ];
        let m = order_metrics(&orders, &fx).unwrap();
        assert_eq!(m.revenue, Money::from_cents(3_900));
        assert_eq!(m.average_order_value(), Some(Money::from_cents(975)));
        // A currency without any rate on or before the order's month is an error.
        let gbp = [order("e", "c4", "2024-03-01", 1, Some("GBP"))];
        assert!(order_metrics(&gbp, &fx).unwrap_err().contains("GBP"));
    }

    #[test]
    fn no_orders_gives_nulls_not_zeros() {
        let m = order_metrics(&[], &usd()).unwrap();
        assert_eq!(m.repeat_purchase_ratio(), None);
        assert_eq!(m.purchase_frequency(), None);
        assert_eq!(m.average_order_value(), None);
        let j = m.to_json();
        assert_eq!(j["repeat_purchase_ratio"], Value::Null);
        assert_eq!(j["average_order_value_cents"], Value::Null);
        assert_eq!(j["orders"], json!(0));
    }
}
