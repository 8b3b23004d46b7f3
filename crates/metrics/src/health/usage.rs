//! Per-account usage figures for health scores, as of a local day D, from the
//! active events (the [`EventTable`]'s qualifying events, default any `track`)
//! of each account's persons:
//!
//! - `active_users_30d`: distinct persons active on D-29..D (the account's MAU);
//! - `dau_mau_ratio`: the mean over those 30 days of the persons active each
//!   day, divided by `active_users_30d` (4 decimals). One day's DAU/MAU (SPEC
//!   2.2) swings with weekends for a small account; the 30-day mean of DAU is
//!   the same ratio without that noise. 0 when nobody was active: for a health
//!   score an account without activity is disengaged, not of unknown engagement;
//! - `usage_trend_pct`: active person-days on D-29..D against D-59..D-30, as a
//!   % change (2 decimals; null when the earlier window had none).

use std::collections::HashMap;

use rust_decimal::Decimal;

use crate::engagement::events::{EventTable, NO_ACCOUNT};
use crate::round::{ratio_of, round_dp};

/// Every account's distinct (day, person) pairs with activity, sorted.
pub struct AccountActivity {
    by_account: HashMap<String, Vec<(i32, u32)>>,
}

/// One account's usage as of a day.
#[derive(Clone, Debug, PartialEq)]
pub struct AccountUsage {
    pub active_users_30d: u64,
    pub dau_mau_ratio: Decimal,
    pub usage_trend_pct: Option<Decimal>,
}

impl AccountActivity {
    pub fn build(t: &EventTable) -> AccountActivity {
        let mut pairs: HashMap<u32, Vec<(i32, u32)>> = HashMap::new();
        for i in 0..t.len() {
            if t.active[i] && t.account[i] != NO_ACCOUNT {
                pairs.entry(t.account[i]).or_default().push((t.day[i], t.user[i]));
            }
        }
        let by_account = pairs
            .into_iter()
            .map(|(a, mut v)| {
                v.sort_unstable();
                v.dedup();
                (t.accounts.name(a).to_string(), v)
            })
            .collect();
        AccountActivity { by_account }
    }

    /// The account's usage as of local day `day` (`None`: no events ever).
    pub fn as_of(&self, account: &str, day: i32) -> Option<AccountUsage> {
        let v = self.by_account.get(account)?;
        let window = |from: i32, to: i32| {
            let a = v.partition_point(|p| p.0 < from);
            let b = v.partition_point(|p| p.0 <= to);
            &v[a..b]
        };
        let current = window(day - 29, day);
        let earlier = window(day - 59, day - 30);
        let mut users: Vec<u32> = current.iter().map(|p| p.1).collect();
        users.sort_unstable();
        users.dedup();
        let mau = users.len() as u64;
        let person_days = current.len() as u64;
        let dau_mau_ratio = if mau == 0 {
            Decimal::ZERO
        } else {
            ratio_of(Decimal::from(person_days) / Decimal::from(30) / Decimal::from(mau))
        };
        let before = earlier.len() as u64;
        let usage_trend_pct = (before > 0).then(|| {
            round_dp(
                (Decimal::from(person_days) - Decimal::from(before)) * Decimal::ONE_HUNDRED / Decimal::from(before),
                2,
            )
        });
        Some(AccountUsage { active_users_30d: mau, dau_mau_ratio, usage_trend_pct })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engagement::events::{ActiveEvent, EventTableBuilder, date_to_day};
    use jiff::civil::date;
    use jiff::tz::TimeZone;

    #[test]
    fn thirty_day_usage_by_hand() {
        let mut b = EventTableBuilder::new(TimeZone::UTC, ActiveEvent::AnyTrack);
        let ts = |d: jiff::civil::Date, h: i8| d.at(h, 0, 0, 0).to_zoned(TimeZone::UTC).unwrap().timestamp();
        let day = date(2025, 3, 31);
        // Account a: u1 active on 10 days of the last 30 (twice on one of
        // them), u2 on 5; 5 person-days in the 30 days before.
        for k in 0..10 {
            b.push(
                "track",
                Some("Report Viewed"),
                "u1",
                Some("a"),
                ts(day.checked_sub(jiff::Span::new().days(k)).unwrap(), 9),
            );
        }
        b.push("track", Some("Report Viewed"), "u1", Some("a"), ts(day, 17));
        for k in 0..5 {
            b.push(
                "track",
                Some("Export Run"),
                "u2",
                Some("a"),
                ts(day.checked_sub(jiff::Span::new().days(k)).unwrap(), 9),
            );
            b.push(
                "track",
                Some("Export Run"),
                "u2",
                Some("a"),
                ts(day.checked_sub(jiff::Span::new().days(30 + k)).unwrap(), 9),
            );
        }
        // A page view is not active; an event without an account is no account's.
        b.push("page", None, "u3", Some("a"), ts(day, 9));
        b.push("track", Some("Report Viewed"), "u4", None, ts(day, 9));
        // Account b: only before the windows.
        b.push("track", Some("Report Viewed"), "u5", Some("b"), ts(date(2024, 1, 1), 9));
        let t = b.finish();
        let act = AccountActivity::build(&t);
        let u = act.as_of("a", date_to_day(day)).unwrap();
        // 15 person-days / 30 days / 2 persons = 0.25; (15 - 5) / 5 = +200 %.
        assert_eq!(u.active_users_30d, 2);
        assert_eq!(u.dau_mau_ratio, "0.25".parse::<Decimal>().unwrap());
        assert_eq!(u.usage_trend_pct, Some("200".parse().unwrap()));
        let u = act.as_of("b", date_to_day(day)).unwrap();
        assert_eq!((u.active_users_30d, u.dau_mau_ratio, u.usage_trend_pct), (0, Decimal::ZERO, None));
        assert!(act.as_of("zzz", date_to_day(day)).is_none());
    }
}
