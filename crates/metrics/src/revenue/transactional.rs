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
//! - **Customer retention rate** (SPEC 2.1, the seed formula) = (customers at
//!   the end - new customers during the period) / customers at the start. With
//!   orders there is no subscription to end, so a buyer is a customer on a day
//!   while it has an order in the `active_days` days before it (365 by default:
//!   the "12-month active buyers" of retail): customers at the start of
//!   `[from, to)` have an order in `[from - active_days, from)`, at the end in
//!   `[to - active_days, to)`. "New" are the customers at the end who were not
//!   customers at the start: first-time buyers of the period and lapsed buyers
//!   who came back (reported apart), as the subscription engine counts a
//!   Reactivation as new; so the rate is the share of the start's customers
//!   still customers at the end, 0-1.
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

/// Customer retention of a transactional business over `[from, to)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrderRetention {
    pub active_days: u32,
    /// Customers with an order in the `active_days` before `from`.
    pub customers_start: u64,
    /// Customers with an order in the `active_days` before `to`.
    pub customers_end: u64,
    /// Customers at the end whose first order is in the period.
    pub new_customers: u64,
    /// Customers at the end, not at the start, who had ordered before the period.
    pub reactivated_customers: u64,
}

/// Customer retention over `[from, to)` from all of the customers' orders
/// (not only those of the period: earlier orders decide who was a customer).
pub fn order_retention<'a>(
    orders: impl IntoIterator<Item = &'a Order>,
    from: Date,
    to: Date,
    active_days: u32,
) -> OrderRetention {
    let back = |d: Date| d.checked_sub(jiff::Span::new().days(active_days as i64)).unwrap_or(Date::MIN);
    let (start_window, end_window) = ((back(from), from), (back(to), to));
    let within = |d: Date, (a, b): (Date, Date)| a <= d && d < b;
    // Per customer: (first order day, a customer at the start, at the end).
    let mut customers: BTreeMap<&str, (Date, bool, bool)> = BTreeMap::new();
    for o in orders {
        let c = customers.entry(o.customer_id.as_str()).or_insert((o.date, false, false));
        c.0 = c.0.min(o.date);
        c.1 |= within(o.date, start_window);
        c.2 |= within(o.date, end_window);
    }
    let mut r = OrderRetention { active_days, ..OrderRetention::default() };
    for (first, start, end) in customers.into_values() {
        r.customers_start += start as u64;
        r.customers_end += end as u64;
        if end && !start {
            if first >= from { r.new_customers += 1 } else { r.reactivated_customers += 1 }
        }
    }
    r
}

impl OrderRetention {
    /// (customers at the end - new customers) / customers at the start.
    pub fn customer_retention_rate(&self) -> Option<Decimal> {
        let kept = self.customers_end - self.new_customers - self.reactivated_customers;
        round::ratio(kept, self.customers_start)
    }

    pub fn to_json(&self) -> Value {
        json!({
            "active_days": self.active_days,
            "customers_start": self.customers_start,
            "customers_end": self.customers_end,
            "new_customers": self.new_customers,
            "reactivated_customers": self.reactivated_customers,
            "customer_retention_rate": round::json(self.customer_retention_rate()),
        })
    }
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
    fn customer_retention_by_the_seed_formula() {
        // Period [2024-04-01, 2024-07-01), customers active for 90 days after an order:
        // at the start: an order in [2024-01-02, 2024-04-01); at the end: in [2024-04-02, 2024-07-01).
        // a: 2024-03-10 and 2024-05-01 => start and end (retained).
        // b: 2024-02-01 only => start, not end (lost).
        // c: 2024-03-31 and 2024-04-01 => start; 04-01 is before 04-02 => lost.
        // d: 2024-06-30 first ever => new.
        // e: 2023-06-01 and 2024-06-01 => end, not start, ordered before: reactivated.
        // f: 2023-12-01 only => neither.
        // Start 3 (a, b, c), end 3 (a, d, e), new 1 + reactivated 1 => (3 - 2) / 3 = 0.3333.
        let orders = [
            order("1", "a", "2024-03-10", 100, None),
            order("2", "a", "2024-05-01", 100, None),
            order("3", "b", "2024-02-01", 100, None),
            order("4", "c", "2024-03-31", 100, None),
            order("5", "c", "2024-04-01", 100, None),
            order("6", "d", "2024-06-30", 100, None),
            order("7", "e", "2023-06-01", 100, None),
            order("8", "e", "2024-06-01", 100, None),
            order("9", "f", "2023-12-01", 100, None),
        ];
        let day = |s: &str| s.parse::<Date>().unwrap();
        let r = order_retention(&orders, day("2024-04-01"), day("2024-07-01"), 90);
        assert_eq!((r.customers_start, r.customers_end, r.new_customers, r.reactivated_customers), (3, 3, 1, 1));
        assert_eq!(r.customer_retention_rate(), Some(d("0.3333")));
        // A 365-day window (2024 is a leap year): at the start [2023-04-02, 2024-04-01): a, b, c,
        // e (2023-06-01), f = 5; at the end [2023-07-02, 2024-07-01): a, b, c, d, e (2024-06-01), f = 6;
        // new: d; e was a customer at the start => (6 - 1) / 5 = 1.0.
        let r = order_retention(&orders, day("2024-04-01"), day("2024-07-01"), 365);
        assert_eq!((r.customers_start, r.customers_end, r.new_customers, r.reactivated_customers), (5, 6, 1, 0));
        assert_eq!(r.customer_retention_rate(), Some(d("1")));
        // Nobody at the start: null, not 0.
        let r = order_retention(&orders, day("2020-01-01"), day("2020-02-01"), 90);
        assert_eq!(r.customer_retention_rate(), None);
        assert_eq!(r.to_json()["customer_retention_rate"], Value::Null);
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
