//! Feature adoption (SPEC 2.2): for a range of local days, the share of active
//! accounts that used each feature, and each account's breadth and depth.
//!
//! - A **feature** is a `track` event name.
//! - An account is **active** when it did a qualifying event
//!   ([`EventTable::active`], default any `track`) on a day of the range.
//!   Events without a `groupId` belong to no account and are left out.
//! - A feature's **accounts** are the active accounts with at least one use
//!   of it in the range; `adoption_pct` = accounts / active accounts x 100
//!   (null when no account is active). `uses` counts its events and `users`
//!   the distinct persons (of active accounts) behind them.
//! - An account's **breadth** is the number of distinct features it used,
//!   its **depth** the uses of each feature; `total_uses` their sum and
//!   `uses_per_feature` = total uses / breadth (2 decimals, null at breadth 0),
//!   and each feature's `share_pct` of the account's uses.
//!
//! This follows PostHog's "feature adoption" reading of trends: unique groups
//! doing an event over the unique groups active in the same period.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::events::{EventTable, NO_ACCOUNT, NO_EVENT, TRACK};
use crate::round;

/// One feature's adoption among the active accounts.
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureAdoption {
    pub feature: String,
    /// Active accounts that used it.
    pub accounts: u64,
    /// `accounts / active accounts x 100`, 2 decimals; `None` when no account is active.
    pub adoption_pct: Option<Decimal>,
    /// Its events (by active accounts).
    pub uses: u64,
    /// Distinct persons behind those events.
    pub users: u64,
    /// The accounts, sorted (drill-down).
    pub account_ids: Vec<String>,
}

/// One active account's breadth and depth.
#[derive(Clone, Debug, PartialEq)]
pub struct AccountAdoption {
    pub account: String,
    /// Distinct features used.
    pub breadth: u64,
    pub total_uses: u64,
    /// `total_uses / breadth`, 2 decimals; `None` at breadth 0.
    pub uses_per_feature: Option<Decimal>,
    /// Uses per feature, by name.
    pub depth: BTreeMap<String, u64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Adoption {
    pub active_accounts: u64,
    /// Distinct features used by active accounts in the range.
    pub features_used: u64,
    /// By number of accounts (descending), then name.
    pub features: Vec<FeatureAdoption>,
    /// By account id.
    pub accounts: Vec<AccountAdoption>,
}

/// Adoption over the local days `[from, to)`.
pub fn adoption(t: &EventTable, from: i32, to: i32) -> Adoption {
    let n_acc = t.accounts.len();
    let mut active = vec![false; n_acc];
    for i in 0..t.len() {
        if t.active[i] && t.account[i] != NO_ACCOUNT && t.day[i] >= from && t.day[i] < to {
            active[t.account[i] as usize] = true;
        }
    }
    // Uses per (account, feature) and the persons per feature.
    let mut uses: BTreeMap<(u32, u32), u64> = BTreeMap::new();
    let mut users: BTreeMap<u32, std::collections::BTreeSet<u32>> = BTreeMap::new();
    for i in 0..t.len() {
        let a = t.account[i];
        if a == NO_ACCOUNT || !active[a as usize] || t.kind[i] != TRACK || t.event[i] == NO_EVENT {
            continue;
        }
        if t.day[i] < from || t.day[i] >= to {
            continue;
        }
        *uses.entry((a, t.event[i])).or_default() += 1;
        users.entry(t.event[i]).or_default().insert(t.user[i]);
    }
    let active_accounts = active.iter().filter(|&&a| a).count() as u64;

    let mut per_feature: BTreeMap<u32, (u64, u64, Vec<String>)> = BTreeMap::new();
    let mut per_account: BTreeMap<String, AccountAdoption> = BTreeMap::new();
    for (a, _) in active.iter().enumerate().filter(|(_, on)| **on) {
        let name = t.accounts.name(a as u32).to_string();
        per_account.insert(
            name.clone(),
            AccountAdoption {
                account: name,
                breadth: 0,
                total_uses: 0,
                uses_per_feature: None,
                depth: BTreeMap::new(),
            },
        );
    }
    for (&(a, e), &n) in &uses {
        let acc = t.accounts.name(a).to_string();
        let f = per_feature.entry(e).or_default();
        f.0 += 1;
        f.1 += n;
        f.2.push(acc.clone());
        let row = per_account.get_mut(&acc).expect("active account");
        row.breadth += 1;
        row.total_uses += n;
        row.depth.insert(t.event_names.name(e).to_string(), n);
    }
    for row in per_account.values_mut() {
        row.uses_per_feature =
            (row.breadth > 0).then(|| round::round_dp(Decimal::from(row.total_uses) / Decimal::from(row.breadth), 2));
    }
    let mut features: Vec<FeatureAdoption> = per_feature
        .into_iter()
        .map(|(e, (accounts, n, mut ids))| {
            ids.sort();
            FeatureAdoption {
                feature: t.event_names.name(e).to_string(),
                accounts,
                adoption_pct: round::pct(accounts, active_accounts),
                uses: n,
                users: users.get(&e).map_or(0, |s| s.len() as u64),
                account_ids: ids,
            }
        })
        .collect();
    features.sort_by(|a, b| b.accounts.cmp(&a.accounts).then_with(|| a.feature.cmp(&b.feature)));
    Adoption {
        active_accounts,
        features_used: features.len() as u64,
        features,
        accounts: per_account.into_values().collect(),
    }
}

/// What an account's adoption breadth needs of [`adoption`] over `[from,
/// to)`: the features used by active accounts and each account's breadth,
/// the same numbers without the per-feature and per-account tables (a map of
/// feature names per account: at 700,000 accounts ~0.7 GiB per day asked for).
pub struct Breadth {
    pub features_used: u64,
    /// By account id of the table the breadth was computed from.
    by_account: Vec<u32>,
}

impl Breadth {
    /// The breadth of the account with id `account` in that table (0 if inactive).
    pub fn of(&self, account: u32) -> u64 {
        self.by_account.get(account as usize).map_or(0, |&b| b as u64)
    }
}

/// Each account's distinct (local day, feature) uses, by account id of the
/// table they come from: what [`Breadth`] needs of the events, for any range,
/// in a fraction of the table's room (a health score keeps this, not the
/// events: 12 bytes per event against 8 per account-day-feature).
pub struct AccountFeatures {
    /// `uses[start[a]..start[a + 1]]` are account `a`'s, sorted.
    start: Vec<usize>,
    uses: Vec<(i32, u32)>,
    features: usize,
}

impl AccountFeatures {
    /// The features (named track events) each account used on each day.
    pub fn build(t: &EventTable) -> AccountFeatures {
        let mut uses: Vec<(u32, i32, u32)> = (0..t.len())
            .filter(|&i| t.account[i] != NO_ACCOUNT && t.kind[i] == TRACK && t.event[i] != NO_EVENT)
            .map(|i| (t.account[i], t.day[i], t.event[i]))
            .collect();
        uses.sort_unstable();
        uses.dedup();
        let mut start = vec![0; t.accounts.len() + 1];
        for u in &uses {
            start[u.0 as usize + 1] += 1;
        }
        for a in 0..t.accounts.len() {
            start[a + 1] += start[a];
        }
        AccountFeatures { start, uses: uses.into_iter().map(|u| (u.1, u.2)).collect(), features: t.event_names.len() }
    }

    /// [`adoption`]'s `features_used` and per-account `breadth` over the local
    /// days `[from, to)`, for a table whose active events are any track (as
    /// the events [`AccountFeatures::build`] was given): an account is then
    /// active in the range exactly when it used a feature in it.
    pub fn breadth(&self, from: i32, to: i32) -> Breadth {
        let mut by_account = vec![0u32; self.start.len() - 1];
        let mut used = vec![false; self.features];
        let mut seen = Vec::new();
        for (a, b) in by_account.iter_mut().enumerate() {
            let uses = &self.uses[self.start[a]..self.start[a + 1]];
            let lo = uses.partition_point(|u| u.0 < from);
            let hi = uses.partition_point(|u| u.0 < to);
            seen.clear();
            seen.extend(uses[lo..hi].iter().map(|u| u.1));
            seen.sort_unstable();
            seen.dedup();
            *b = seen.len() as u32;
            seen.iter().for_each(|&e| used[e as usize] = true);
        }
        Breadth { features_used: used.iter().filter(|&&u| u).count() as u64, by_account }
    }
}

impl FeatureAdoption {
    pub fn to_json(&self, list: bool) -> Value {
        let mut v = json!({
            "feature": self.feature,
            "accounts": self.accounts,
            "adoption_pct": round::json(self.adoption_pct),
            "uses": self.uses,
            "users": self.users,
        });
        if list {
            v["account_ids"] = json!(self.account_ids);
        }
        v
    }
}

impl AccountAdoption {
    pub fn to_json(&self) -> Value {
        let depth: serde_json::Map<String, Value> = self
            .depth
            .iter()
            .map(|(f, &n)| {
                let share = round::pct(n, self.total_uses);
                (f.clone(), json!({"uses": n, "share_pct": round::json(share)}))
            })
            .collect();
        json!({
            "account": self.account,
            "breadth": self.breadth,
            "total_uses": self.total_uses,
            "uses_per_feature": round::json(self.uses_per_feature),
            "depth": depth,
        })
    }
}

impl Adoption {
    /// Mean breadth over active accounts (2 decimals; `None` with none active).
    pub fn average_breadth(&self) -> Option<Decimal> {
        let n = self.accounts.len() as u64;
        let sum: u64 = self.accounts.iter().map(|a| a.breadth).sum();
        (n > 0).then(|| round::round_dp(Decimal::from(sum) / Decimal::from(n), 2))
    }

    /// Median breadth over active accounts.
    pub fn median_breadth(&self) -> Option<Decimal> {
        let mut b: Vec<i64> = self.accounts.iter().map(|a| a.breadth as i64).collect();
        b.sort_unstable();
        round::median_sorted(&b)
    }

    pub fn to_json(&self, list: bool) -> Value {
        let mut v = json!({
            "active_accounts": self.active_accounts,
            "features_used": self.features_used,
            "average_breadth": round::json(self.average_breadth()),
            "median_breadth": round::json(self.median_breadth()),
            "features": self.features.iter().map(|f| f.to_json(list)).collect::<Vec<_>>(),
        });
        if list {
            v["accounts"] = self.accounts.iter().map(|a| a.to_json()).collect();
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engagement::events::{ActiveEvent, EventTableBuilder, date_to_day};
    use jiff::Timestamp;
    use jiff::civil::Date;
    use jiff::tz::TimeZone;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }
    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    /// acme: u1 Export x2, Report x1; u2 Export x1 (all 2024-01-02).
    /// beta: u3 Report x1 (2024-01-03).
    /// gamma: only page views: not active (default: any track), not in any denominator.
    /// delta: a track on 2024-01-10, outside the range [01-01, 01-08): not active.
    /// u9 has no account: left out.
    fn table(active: ActiveEvent) -> EventTable {
        let mut b = EventTableBuilder::new(TimeZone::UTC, active);
        b.push("track", Some("Export"), "u1", Some("acme"), ts("2024-01-02T10:00:00Z"));
        b.push("track", Some("Export"), "u1", Some("acme"), ts("2024-01-02T10:01:00Z"));
        b.push("track", Some("Report"), "u1", Some("acme"), ts("2024-01-02T10:02:00Z"));
        b.push("track", Some("Export"), "u2", Some("acme"), ts("2024-01-02T11:00:00Z"));
        b.push("track", Some("Report"), "u3", Some("beta"), ts("2024-01-03T09:00:00Z"));
        b.push("page", Some("Home"), "u4", Some("gamma"), ts("2024-01-03T09:00:00Z"));
        b.push("track", Some("Export"), "u5", Some("delta"), ts("2024-01-10T09:00:00Z"));
        b.push("track", Some("Export"), "u9", None, ts("2024-01-03T09:00:00Z"));
        b.finish()
    }

    fn range() -> (i32, i32) {
        (date_to_day(Date::constant(2024, 1, 1)), date_to_day(Date::constant(2024, 1, 8)))
    }

    #[test]
    fn shares_are_over_active_accounts_only() {
        let (from, to) = range();
        let a = adoption(&table(ActiveEvent::AnyTrack), from, to);
        // Active: acme, beta (gamma only viewed pages, delta is outside the range).
        assert_eq!(a.active_accounts, 2);
        // Export: acme only -> 1/2 = 50.00 %; 3 uses (u1 x2, u2 x1) by 2 users.
        // Report: acme and beta -> 2/2 = 100.00 %; 2 uses by u1, u3.
        // Sorted by accounts: Report (2) before Export (1).
        assert_eq!(a.features.len(), 2);
        let r = &a.features[0];
        assert_eq!(
            (r.feature.as_str(), r.accounts, r.adoption_pct, r.uses, r.users),
            ("Report", 2, Some(d("100")), 2, 2)
        );
        assert_eq!(r.account_ids, vec!["acme", "beta"]);
        let e = &a.features[1];
        assert_eq!(
            (e.feature.as_str(), e.accounts, e.adoption_pct, e.uses, e.users),
            ("Export", 1, Some(d("50")), 3, 2)
        );
        // acme: breadth 2, 4 uses, 4/2 = 2.00 per feature; Export 3/4 = 75 %, Report 1/4 = 25 %.
        let acme = &a.accounts[0];
        assert_eq!((acme.breadth, acme.total_uses, acme.uses_per_feature), (2, 4, Some(d("2"))));
        let j = acme.to_json();
        assert_eq!(j["depth"]["Export"]["share_pct"], json!(75.0));
        assert_eq!(j["depth"]["Report"]["share_pct"], json!(25.0));
        // beta: breadth 1, 1 use. Mean breadth (2 + 1)/2 = 1.5; median of {1, 2} = 1.5.
        assert_eq!((a.accounts[1].breadth, a.accounts[1].total_uses), (1, 1));
        assert_eq!((a.average_breadth(), a.median_breadth()), (Some(d("1.5")), Some(d("1.5"))));
    }

    #[test]
    fn an_active_account_with_no_feature_has_breadth_zero_and_null_depth() {
        // Any event qualifies: gamma (pages only) becomes active, with no feature.
        let (from, to) = range();
        let a = adoption(&table(ActiveEvent::AnyEvent), from, to);
        assert_eq!(a.active_accounts, 3);
        // Report: 2/3 = 66.666.. -> 66.67 %; Export 1/3 = 33.33 %.
        assert_eq!(a.features[0].adoption_pct, Some(d("66.67")));
        assert_eq!(a.features[1].adoption_pct, Some(d("33.33")));
        let gamma = a.accounts.iter().find(|x| x.account == "gamma").unwrap();
        assert_eq!((gamma.breadth, gamma.total_uses, gamma.uses_per_feature), (0, 0, None));
        // Mean breadth (2 + 1 + 0)/3 = 1.00; median of {0, 1, 2} = 1.
        assert_eq!((a.average_breadth(), a.median_breadth()), (Some(d("1")), Some(d("1"))));
    }

    #[test]
    fn breadth_is_adoptions_breadth() {
        let (from, to) = range();
        let t = table(ActiveEvent::AnyTrack);
        let features = AccountFeatures::build(&t);
        for (from, to) in [(from, to), (0, 1), (from, from + 2), (from + 2, to + 10), (from - 5, to + 30)] {
            let (a, b) = (adoption(&t, from, to), features.breadth(from, to));
            assert_eq!(a.features_used, b.features_used, "{from}..{to}");
            for id in 0..t.accounts.len() as u32 {
                let name = t.accounts.name(id);
                let want = a.accounts.iter().find(|x| x.account == name).map_or(0, |x| x.breadth);
                assert_eq!((name, b.of(id)), (name, want), "{from}..{to}");
            }
        }
        // Counted by hand: acme uses Export and Report, beta Report; delta is outside the range.
        let b = features.breadth(from, to);
        let of = |n: &str| b.of(t.accounts.get(n).unwrap());
        assert_eq!((b.features_used, of("acme"), of("beta"), of("delta"), of("gamma")), (2, 2, 1, 0, 0));
        // Through 2024-01-10 delta's Export counts too; Export and Report are still the two features.
        let b = features.breadth(from, to + 3);
        assert_eq!((b.features_used, b.of(t.accounts.get("delta").unwrap())), (2, 1));
    }

    #[test]
    fn no_active_account_gives_nulls() {
        let a = adoption(&table(ActiveEvent::AnyTrack), 0, 1);
        assert_eq!((a.active_accounts, a.features.len()), (0, 0));
        assert_eq!((a.average_breadth(), a.median_breadth()), (None, None));
        let j = a.to_json(true);
        assert_eq!(j["average_breadth"], Value::Null);
        assert_eq!(j["accounts"], json!([]));
    }
}
