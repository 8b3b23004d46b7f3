//! Funnels / the customer journey (SPEC 2.2, seed 004): ordered steps, a
//! conversion window, counts and conversion per step, time to convert.
//!
//! Definition (PostHog's ordered, "sequential" funnel: steps in order, any
//! other events allowed between them, and a conversion window measured from
//! the first step; see PostHog's conversion-metric definitions, "Ordered:
//! steps happen in order; other events may occur between them", and
//! "conversion window: max elapsed time from step 1 to the final step"):
//!
//! - only events on local days of `[from, to)` take part;
//! - an actor **enters** at its first step-1 event in the range;
//! - step k (k >= 2) is reached by the actor's first step-k event that comes
//!   after the event that reached step k-1 (in the actor's time order; an
//!   event at the same instant but later in the data counts, the same event
//!   never fills two steps) and at most `window` after the entry (exactly at
//!   the window still converts); later steps need every earlier one;
//! - `conversion_from_previous_pct` = reached k / reached k-1 x 100,
//!   `conversion_from_first_pct` = reached k / entered x 100 (null over 0);
//! - time to convert to step k = time of step k - time of step k-1 for the
//!   actors who reached k: median (mean of the two middle values for an even
//!   count) and mean in seconds with 2 decimals.
//!
//! Identity merge (PostHog's `$identify`): a visitor browses under a Segment
//! `anonymousId`, then signs up and an `identify` call carries both the
//! `anonymousId` and the new `userId`; from then on the anonymous events are
//! the identified person's. [`identity_aliases`] maps each `anonymousId` to
//! the `userId` of the earliest call that carries both (as PostHog, an
//! anonymous id already merged into one person is not merged into a second);
//! the query layer loads the events with that map, so a funnel from an
//! anonymous page view to the sign-up counts one person.
//!
//! Steps: a `track` event name; `page:NAME` a page view with that name
//! (needs the `name` column, [`super::events::EVENT_COLUMNS_WITH_NAME`]);
//! `$pageview` any page view; `$identify` an identify call (a sign-up).

use std::collections::HashMap;
use std::fmt;

use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::events::{ActorKind, EventTable, IDENTIFY, NO_EVENT, PAGE, TRACK};
use crate::round;

/// `anonymousId` -> `userId` from calls carrying both, given as (instant,
/// anonymousId, userId): the earliest call decides (ties: the smaller userId,
/// so the result does not depend on the input order).
pub fn identity_aliases<'a>(calls: impl IntoIterator<Item = (i64, &'a str, &'a str)>) -> HashMap<String, String> {
    let mut first: HashMap<&str, (i64, &str)> = HashMap::new();
    for (at, anon, user) in calls {
        if anon == user {
            continue;
        }
        let e = first.entry(anon).or_insert((at, user));
        if (at, user) < *e {
            *e = (at, user);
        }
    }
    first.into_iter().map(|(a, (_, u))| (a.to_string(), u.to_string())).collect()
}

/// What one funnel step matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// A `track` call with this event name.
    Track(String),
    /// A `page` call with this name; `None`: any page call.
    Page(Option<String>),
    /// An `identify` call.
    Identify,
}

impl Step {
    /// `$identify`, `$pageview` (any page), `page:NAME`, else a track event name.
    pub fn parse(s: &str) -> Result<Step, String> {
        let s = s.trim();
        match s {
            "" => Err("an empty funnel step".into()),
            "$identify" => Ok(Step::Identify),
            "$pageview" | "page:*" => Ok(Step::Page(None)),
            _ => match s.strip_prefix("page:") {
                Some("") => Err("`page:` needs a page name (or use $pageview for any page)".into()),
                Some(name) => Ok(Step::Page(Some(name.to_string()))),
                None => Ok(Step::Track(s.to_string())),
            },
        }
    }

    fn matches(&self, kind: u8, name: Option<&str>) -> bool {
        match self {
            Step::Track(n) => kind == TRACK && name == Some(n.as_str()),
            Step::Page(None) => kind == PAGE,
            Step::Page(Some(n)) => kind == PAGE && name == Some(n.as_str()),
            Step::Identify => kind == IDENTIFY,
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Track(n) => f.write_str(n),
            Step::Page(None) => f.write_str("$pageview"),
            Step::Page(Some(n)) => write!(f, "page:{n}"),
            Step::Identify => f.write_str("$identify"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct FunnelQuery {
    pub steps: Vec<Step>,
    /// Conversion window from the entry, in microseconds.
    pub window_us: i64,
    pub kind: ActorKind,
    /// Local days `[from, to)`.
    pub from: i32,
    pub to: i32,
}

/// One step's result.
#[derive(Clone, Debug, PartialEq)]
pub struct FunnelStep {
    pub step: Step,
    /// Actors who reached it.
    pub count: u64,
    pub conversion_from_previous_pct: Option<Decimal>,
    pub conversion_from_first_pct: Option<Decimal>,
    /// Reached the previous step but not this one (0 for step 1).
    pub dropped: u64,
    /// From the previous step, seconds (2 decimals); `None` for step 1 or nobody.
    pub median_time_to_convert_seconds: Option<Decimal>,
    pub average_time_to_convert_seconds: Option<Decimal>,
    /// The actors who reached it, sorted (drill-down).
    pub actors: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Funnel {
    pub steps: Vec<FunnelStep>,
}

const MAX_STEPS: usize = 32;

/// Run a funnel. Panics on more than 32 steps or none (the CLI checks).
pub fn funnel(t: &EventTable, q: &FunnelQuery) -> Funnel {
    let n = q.steps.len();
    assert!((1..=MAX_STEPS).contains(&n), "1 to {MAX_STEPS} funnel steps");
    // Which steps each distinct (kind, name) matches, decided once per name.
    let kinds = [TRACK, PAGE, IDENTIFY];
    let mask_of = |kind: u8, name: Option<&str>| -> u32 {
        q.steps.iter().enumerate().filter(|(_, s)| s.matches(kind, name)).fold(0u32, |m, (k, _)| m | 1u32 << k)
    };
    let by_name: Vec<[u32; 3]> =
        (0..t.event_names.len() as u32).map(|e| kinds.map(|k| mask_of(k, Some(t.event_names.name(e))))).collect();
    let unnamed = kinds.map(|k| mask_of(k, None));

    // (actor, instant, row) of every matching event in range, in time order per actor.
    let mut rows: Vec<(u32, i64, u32, u32)> = Vec::new();
    for i in 0..t.len() {
        if t.day[i] < q.from || t.day[i] >= q.to {
            continue;
        }
        let Some(k) = kinds.iter().position(|&k| k == t.kind[i]) else { continue };
        let m = if t.event[i] == NO_EVENT { unnamed[k] } else { by_name[t.event[i] as usize][k] };
        if m == 0 {
            continue;
        }
        if let Some(a) = t.actor(q.kind, i) {
            rows.push((a, t.ts_us[i], i as u32, m));
        }
    }
    rows.sort_unstable();

    let mut reached: Vec<Vec<u32>> = vec![Vec::new(); n];
    let mut gaps: Vec<Vec<i64>> = vec![Vec::new(); n];
    let mut times = [0i64; MAX_STEPS];
    let mut s = 0;
    while s < rows.len() {
        let actor = rows[s].0;
        let mut e = s;
        while e < rows.len() && rows[e].0 == actor {
            e += 1;
        }
        let run = &rows[s..e];
        s = e;
        let Some(entry) = run.iter().position(|r| r.3 & 1 != 0) else { continue };
        let t1 = run[entry].1;
        times[0] = t1;
        reached[0].push(actor);
        let mut cur = 1;
        for r in &run[entry + 1..] {
            if cur == n || r.1 - t1 > q.window_us {
                break;
            }
            if r.3 & (1 << cur) != 0 {
                times[cur] = r.1;
                reached[cur].push(actor);
                gaps[cur].push(r.1 - times[cur - 1]);
                cur += 1;
            }
        }
    }

    let first = reached[0].len() as u64;
    let steps = (0..n)
        .map(|k| {
            let count = reached[k].len() as u64;
            let prev = if k == 0 { None } else { Some(reached[k - 1].len() as u64) };
            let mut g = std::mem::take(&mut gaps[k]);
            g.sort_unstable();
            let secs = |us: Decimal| round::round_dp(us / Decimal::from(1_000_000), 2);
            let mut actors: Vec<String> = reached[k].iter().map(|&a| t.actor_name(q.kind, a).to_string()).collect();
            actors.sort();
            FunnelStep {
                step: q.steps[k].clone(),
                count,
                conversion_from_previous_pct: prev.and_then(|p| round::pct(count, p)),
                conversion_from_first_pct: round::pct(count, first),
                dropped: prev.map_or(0, |p| p - count),
                median_time_to_convert_seconds: round::median_sorted(&g).map(secs),
                average_time_to_convert_seconds: (!g.is_empty())
                    .then(|| secs(Decimal::from(g.iter().map(|&x| x as i128).sum::<i128>()) / Decimal::from(g.len()))),
                actors,
            }
        })
        .collect();
    Funnel { steps }
}

impl FunnelStep {
    pub fn to_json(&self, index: usize, list: bool) -> Value {
        let mut v = json!({
            "step": index + 1,
            "name": self.step.to_string(),
            "count": self.count,
            "conversion_from_previous_pct": round::json(self.conversion_from_previous_pct),
            "conversion_from_first_pct": round::json(self.conversion_from_first_pct),
            "dropped": self.dropped,
            "median_time_to_convert_seconds": round::json(self.median_time_to_convert_seconds),
            "average_time_to_convert_seconds": round::json(self.average_time_to_convert_seconds),
        });
        if list {
            v["actors"] = json!(self.actors);
        }
        v
    }
}

impl Funnel {
    /// Entered -> last step, % (null when nobody entered).
    pub fn overall_conversion_pct(&self) -> Option<Decimal> {
        self.steps.last().and_then(|s| s.conversion_from_first_pct)
    }

    pub fn to_json(&self, list: bool) -> Value {
        json!({
            "entered": self.steps.first().map_or(0, |s| s.count),
            "overall_conversion_pct": round::json(self.overall_conversion_pct()),
            "steps": self.steps.iter().enumerate().map(|(i, s)| s.to_json(i, list)).collect::<Vec<_>>(),
        })
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
    const DAY_US: i64 = 86_400 * 1_000_000;

    fn query(steps: &[&str], window_days: i64, kind: ActorKind) -> FunnelQuery {
        FunnelQuery {
            steps: steps.iter().map(|s| Step::parse(s).unwrap()).collect(),
            window_us: window_days * DAY_US,
            kind,
            from: date_to_day(Date::constant(2024, 1, 1)),
            to: date_to_day(Date::constant(2024, 3, 1)),
        }
    }

    /// Steps: $identify -> page:Pricing -> Report Created.
    /// a: all three: 01-01 00:00, +1 h, +3 h          -> 3 steps; gaps 3600 s, 7200 s.
    /// b: identify 01-01, Report 01-02 (skips the page), page 01-03
    ///    -> the page comes after the report, so step 2 at 01-03 and step 3 never (no Report after it).
    /// c: identify 01-01, page +10 min, Report exactly 14 days after entry -> converts (window inclusive);
    ///    gaps 600 s and 14 d - 600 s = 1 209 000 s.
    /// d: identify 01-01, page +1 h, Report 14 days + 1 s after entry -> step 3 is outside the window.
    /// e: Report then page, no identify: never enters.
    /// f: identify on 2023-12-31 (before the range), page and report in range: never enters.
    /// g: identify twice; enters at the first (01-05), page +2 h -> 2 steps, gap 7200 s.
    fn table() -> EventTable {
        let mut b = EventTableBuilder::new(TimeZone::UTC, ActiveEvent::AnyTrack);
        let mut p = |kind: &str, ev: Option<&str>, u: &str, acc: &str, t: &str| b.push(kind, ev, u, Some(acc), ts(t));
        p("identify", None, "a", "x", "2024-01-01T00:00:00Z");
        p("page", Some("Pricing"), "a", "x", "2024-01-01T01:00:00Z");
        p("track", Some("Report Created"), "a", "x", "2024-01-01T03:00:00Z");
        p("identify", None, "b", "x", "2024-01-01T00:00:00Z");
        p("track", Some("Report Created"), "b", "x", "2024-01-02T00:00:00Z");
        p("page", Some("Pricing"), "b", "x", "2024-01-03T00:00:00Z");
        p("identify", None, "c", "y", "2024-01-01T00:00:00Z");
        p("page", Some("Pricing"), "c", "y", "2024-01-01T00:10:00Z");
        p("track", Some("Report Created"), "c", "y", "2024-01-15T00:00:00Z");
        p("identify", None, "d", "y", "2024-01-01T00:00:00Z");
        p("page", Some("Pricing"), "d", "y", "2024-01-01T01:00:00Z");
        p("track", Some("Report Created"), "d", "y", "2024-01-15T00:00:01Z");
        p("track", Some("Report Created"), "e", "z", "2024-01-01T00:00:00Z");
        p("page", Some("Pricing"), "e", "z", "2024-01-01T01:00:00Z");
        p("identify", None, "f", "z", "2023-12-31T00:00:00Z");
        p("page", Some("Pricing"), "f", "z", "2024-01-01T01:00:00Z");
        p("track", Some("Report Created"), "f", "z", "2024-01-01T02:00:00Z");
        p("identify", None, "g", "w", "2024-01-05T00:00:00Z");
        p("identify", None, "g", "w", "2024-01-06T00:00:00Z");
        p("page", Some("Home"), "g", "w", "2024-01-05T01:00:00Z");
        p("page", Some("Pricing"), "g", "w", "2024-01-05T02:00:00Z");
        b.finish()
    }

    #[test]
    fn order_window_and_skipped_steps_per_user() {
        let f = funnel(&table(), &query(&["$identify", "page:Pricing", "Report Created"], 14, ActorKind::User));
        let s = &f.steps;
        // Entered: a, b, c, d, g = 5 (e never identifies; f's identify is before the range).
        assert_eq!(s[0].count, 5);
        assert_eq!(s[0].actors, vec!["a", "b", "c", "d", "g"]);
        assert_eq!((s[0].conversion_from_first_pct, s[0].conversion_from_previous_pct), (Some(d("100")), None));
        // Step 2 (page:Pricing after identify): a, b, c, d, g = 5 -> 100 %.
        // Gaps: a 3600, b 172800 (2 days), c 600, d 3600, g 7200 -> sorted 600, 3600, 3600, 7200, 172800;
        // median 3600; mean (600 + 3600 + 3600 + 7200 + 172800)/5 = 187800/5 = 37560.
        assert_eq!(s[1].count, 5);
        assert_eq!(s[1].median_time_to_convert_seconds, Some(d("3600")));
        assert_eq!(s[1].average_time_to_convert_seconds, Some(d("37560")));
        // Step 3 (Report after the page, within 14 days of entry): a, c = 2
        // (b's report precedes its page; d's is 1 s past the window).
        assert_eq!(s[2].count, 2);
        assert_eq!(s[2].actors, vec!["a", "c"]);
        assert_eq!(s[2].dropped, 3);
        // 2/5 = 40 % from both the previous step and the first.
        assert_eq!(s[2].conversion_from_previous_pct, Some(d("40")));
        assert_eq!(s[2].conversion_from_first_pct, Some(d("40")));
        // Gaps a 7200, c 14 d - 600 s = 1209600 - 600 = 1209000; median of an even count =
        // (7200 + 1209000)/2 = 608100.
        assert_eq!(s[2].median_time_to_convert_seconds, Some(d("608100")));
        assert_eq!(f.overall_conversion_pct(), Some(d("40")));
    }

    #[test]
    fn a_shorter_window_and_a_range_that_cuts_events() {
        // 1-day window: step 3 only for a (c's and d's reports are 14 days later).
        let f = funnel(&table(), &query(&["$identify", "page:Pricing", "Report Created"], 1, ActorKind::User));
        assert_eq!(f.steps.iter().map(|s| s.count).collect::<Vec<_>>(), vec![5, 4, 1]);
        // b's page is 2 days after entry: out of a 1-day window -> 4 at step 2: 4/5 = 80 %,
        // then 1/4 = 25 % from previous, 1/5 = 20 % from first.
        assert_eq!(f.steps[2].conversion_from_previous_pct, Some(d("25")));
        assert_eq!(f.steps[2].conversion_from_first_pct, Some(d("20")));
        // Range from 2024-01-02: only g identifies in it.
        let mut q = query(&["$identify", "$pageview"], 14, ActorKind::User);
        q.from = date_to_day(Date::constant(2024, 1, 2));
        let f = funnel(&table(), &q);
        // g: identify 01-05 00:00, first page of any name 01:00 -> 3600 s.
        assert_eq!((f.steps[0].count, f.steps[1].count), (1, 1));
        assert_eq!(f.steps[1].median_time_to_convert_seconds, Some(d("3600")));
    }

    #[test]
    fn the_same_event_twice_needs_two_events_and_accounts_merge_their_users() {
        // identify -> identify: only g identified twice (a day apart: 86400 s).
        let f = funnel(&table(), &query(&["$identify", "$identify"], 14, ActorKind::User));
        assert_eq!((f.steps[0].count, f.steps[1].count), (5, 1));
        assert_eq!(f.steps[1].median_time_to_convert_seconds, Some(d("86400")));
        // By account: x = {a, b}, y = {c, d}, z = {e, f}, w = {g}.
        // x enters at 01-01 00:00 (a and b); page 01:00 (a); report 03:00 (a) -> 3 steps.
        // y: identify 00:00, page 00:10 (c), report 01-15 00:00 (c, exactly 14 days) -> 3.
        // z: identify only on 2023-12-31 (outside): never enters. w: 2 steps.
        let f = funnel(&table(), &query(&["$identify", "page:Pricing", "Report Created"], 14, ActorKind::Account));
        assert_eq!(f.steps.iter().map(|s| s.count).collect::<Vec<_>>(), vec![3, 3, 2]);
        // Step-3 gaps: x 7200, y 1209000 -> median 608100 (as for the users a and c).
        assert_eq!(f.steps[2].median_time_to_convert_seconds, Some(d("608100")));
    }

    #[test]
    fn anonymous_events_count_for_the_person_they_identify_as() {
        // anon-1 is identified as u1 at 10:00 and, later, as u2 at 12:00 (a shared
        // device): the earliest call wins (PostHog merges an anonymous id once).
        // anon-2 is identified as u3 at 09:00 and at 09:00 again as u0: same instant,
        // the smaller id (u0) wins whatever the order. A call with anon = user is no alias.
        let calls =
            [(10, "anon-1", "u1"), (12, "anon-1", "u2"), (9, "anon-2", "u3"), (9, "anon-2", "u0"), (5, "u9", "u9")];
        let a = identity_aliases(calls);
        assert_eq!(a.len(), 2);
        assert_eq!((a["anon-1"].as_str(), a["anon-2"].as_str()), ("u1", "u0"));

        // A funnel page:Pricing -> $identify -> Report Created. The visitor's page view is
        // anonymous (anon-1) at 09:00; it identifies as u1 at 10:00 and reports at 11:00.
        // Merged (the table built with the alias, as the query layer does): one person
        // passes all 3 steps; gaps 3600 s and 3600 s.
        let build = |merge: bool| {
            let mut b = EventTableBuilder::new(TimeZone::UTC, ActiveEvent::AnyTrack);
            let who = |anon: &str| {
                if merge { a.get(anon).map_or(anon, String::as_str).to_string() } else { anon.to_string() }
            };
            b.push("page", Some("Pricing"), &who("anon-1"), None, ts("2024-01-02T09:00:00Z"));
            b.push("identify", None, "u1", None, ts("2024-01-02T10:00:00Z"));
            b.push("track", Some("Report Created"), "u1", None, ts("2024-01-02T11:00:00Z"));
            b.finish()
        };
        let q = query(&["page:Pricing", "$identify", "Report Created"], 14, ActorKind::User);
        let f = funnel(&build(true), &q);
        assert_eq!(f.steps.iter().map(|s| s.count).collect::<Vec<_>>(), vec![1, 1, 1]);
        assert_eq!(f.steps[0].actors, vec!["u1"]);
        assert_eq!(f.steps[1].median_time_to_convert_seconds, Some(d("3600")));
        // Unmerged, the visitor anon-1 never signs up and u1 never visited: 1 enters, 0 convert.
        let f = funnel(&build(false), &q);
        assert_eq!(f.steps.iter().map(|s| s.count).collect::<Vec<_>>(), vec![1, 0, 0]);
        assert_eq!(f.steps[0].actors, vec!["anon-1"]);
    }

    #[test]
    fn nobody_entering_gives_nulls_and_steps_parse() {
        let f = funnel(&table(), &query(&["Nope", "$identify"], 14, ActorKind::User));
        assert_eq!(f.steps[0].count, 0);
        assert_eq!(f.steps[0].conversion_from_first_pct, None);
        assert_eq!(f.steps[1].conversion_from_previous_pct, None);
        assert_eq!(f.steps[1].median_time_to_convert_seconds, None);
        assert_eq!(f.overall_conversion_pct(), None);
        assert_eq!(Step::parse("page:Home"), Ok(Step::Page(Some("Home".into()))));
        assert_eq!(Step::parse("$pageview"), Ok(Step::Page(None)));
        assert_eq!(Step::parse(" Export Run "), Ok(Step::Track("Export Run".into())));
        assert!(Step::parse("page:").is_err());
        assert_eq!(Step::parse("page:Home").unwrap().to_string(), "page:Home");
    }
}
