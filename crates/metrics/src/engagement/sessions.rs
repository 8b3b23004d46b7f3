//! Sessions (SPEC 2.2). A user's events, in time order, are split where the
//! gap to the previous event is strictly greater than the timeout (default
//! 1800 s), and where an event comes more than the maximum length (default
//! 86,400 s) after the session's first event (an event exactly at the limit
//! stays in). Duration = last event - first event; a single-event session
//! lasts 0 s, counts, and enters the averages.
//!
//! Which events: all events of the user, whatever the active-event setting
//! (track, page, identify, group), as PostHog does: its sessions end after 30
//! minutes without *any* activity or at 24 hours
//! (<https://posthog.com/manual/sessions>). Sessions belong to users
//! (`userId`, else `anonymousId`); with `--by account` they are grouped by the
//! account (`groupId`) of the session's first event.
//!
//! Timestamps keep their microseconds, so a gap of 1800.5 s splits; durations
//! of single sessions are reported in whole seconds (rounded half away from
//! zero), totals and means are computed from the exact values.

use rust_decimal::Decimal;
use serde_json::{Value, json};

use arrow::array::{Array, RecordBatch};
use jiff::tz::TimeZone;

use super::daily::{Ids, timestamps};
use super::events::{ActorKind, EventTable, EventsError, Interner, LocalDays, NO_ACCOUNT, date_to_day, day_to_date};
use crate::round;

const US: i64 = 1_000_000;

/// Microseconds to whole seconds, rounded half away from zero.
pub fn whole_seconds(us: i128) -> i64 {
    let (q, r) = (us / US as i128, us % US as i128);
    (if r.abs() * 2 >= US as i128 { q + us.signum() } else { q }) as i64
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionRules {
    pub timeout_seconds: i64,
    pub max_length_seconds: i64,
}

impl Default for SessionRules {
    fn default() -> Self {
        SessionRules { timeout_seconds: 1800, max_length_seconds: 86_400 }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub user: u32,
    /// The account of the session's first event ([`NO_ACCOUNT`] if none).
    pub account: u32,
    pub start_us: i64,
    pub end_us: i64,
    pub event_count: u32,
    /// Local day of the session's start.
    pub day: i32,
}

impl Session {
    pub fn duration_us(&self) -> i64 {
        self.end_us - self.start_us
    }
}

/// Split every user's events whose local day is in `[from, to)` (all events
/// when `days` is `None`) into sessions, in (user, start) order.
pub fn sessions(t: &EventTable, rules: SessionRules, days: Option<(i32, i32)>) -> Vec<Session> {
    let timeout = rules.timeout_seconds * US;
    let max_len = rules.max_length_seconds * US;
    let mut out: Vec<Session> = Vec::new();
    let mut cur: Option<Session> = None;
    for i in 0..t.len() {
        if let Some((from, to)) = days
            && (t.day[i] < from || t.day[i] >= to)
        {
            continue;
        }
        let (user, ts) = (t.user[i], t.ts_us[i]);
        if let Some(s) = cur.as_mut()
            && s.user == user
            && ts - s.end_us <= timeout
            && ts - s.start_us <= max_len
        {
            s.end_us = ts;
            s.event_count += 1;
            continue;
        }
        out.extend(cur.take());
        cur = Some(Session { user, account: t.account[i], start_us: ts, end_us: ts, event_count: 1, day: t.day[i] });
    }
    out.extend(cur);
    out
}

/// Totals over a set of sessions.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SessionSummary {
    pub session_count: u64,
    pub single_event_sessions: u64,
    pub total_time_us: i128,
}

impl SessionSummary {
    pub fn add(&mut self, s: &Session) {
        self.session_count += 1;
        self.single_event_sessions += (s.event_count == 1) as u64;
        self.total_time_us += s.duration_us() as i128;
    }

    pub fn of(sessions: &[Session]) -> SessionSummary {
        let mut m = SessionSummary::default();
        sessions.iter().for_each(|s| m.add(s));
        m
    }

    /// Whole seconds, rounded half away from zero.
    pub fn total_time_seconds(&self) -> i64 {
        whole_seconds(self.total_time_us)
    }

    /// 2 decimals; `None` without sessions.
    pub fn average_session_duration_seconds(&self) -> Option<Decimal> {
        (self.session_count > 0).then(|| {
            round::round_dp(Decimal::from_i128_with_scale(self.total_time_us, 6) / Decimal::from(self.session_count), 2)
        })
    }

    pub fn to_json(&self) -> Value {
        json!({
            "session_count": self.session_count,
            "average_session_duration_seconds": round::json(self.average_session_duration_seconds()),
            "total_time_seconds": self.total_time_seconds(),
            "single_event_sessions": self.single_event_sessions,
        })
    }
}

/// Session totals in one pass over events in time order, keeping per user
/// only its open session, not its events: memory grows with users, not
/// events. The same sessions as [`sessions`] (a user's events split by the
/// same rules in the same order), for the summary alone.
///
/// Events come in partitions (the files of one UTC day): a partition's rows
/// may be in any order ([`SessionStream::push_batch`], then
/// [`SessionStream::end_partition`] sorts them), but every row of a partition
/// must be at or after every row of the partitions before it;
/// `end_partition` reports when that does not hold, and the caller then
/// falls back to [`sessions`] over the whole table.
pub struct SessionStream {
    timeout_us: i64,
    max_len_us: i64,
    /// Local days kept: `[from, to)`, either side open.
    from: Option<i32>,
    to: Option<i32>,
    days: LocalDays,
    users: Interner,
    /// Per user: its open session (`events == 0`: none).
    open: Vec<OpenSession>,
    pending: Vec<(i64, u32)>,
    span: Option<(i32, i32)>,
    summary: SessionSummary,
    last_us: i64,
}

#[derive(Clone, Copy, Default)]
struct OpenSession {
    start_us: i64,
    end_us: i64,
    events: u32,
}

impl OpenSession {
    /// An event at `us` (not before the session's last) stays in the session.
    fn joins(&self, us: i64, timeout_us: i64, max_len_us: i64) -> bool {
        us - self.end_us <= timeout_us && us - self.start_us <= max_len_us
    }

    fn edge(&self) -> Edge {
        Edge { start_us: self.start_us, end_us: self.end_us, single: self.events == 1 }
    }
}

/// The rows of `batch` with an actor (`userId`, else `anonymousId`) and a
/// timestamp that `keep` accepts, as (instant, actor interned in `into`).
fn actor_rows(
    batch: &RecordBatch,
    into: &mut Interner,
    out: &mut Vec<(i64, u32)>,
    mut keep: impl FnMut(i64) -> bool,
) -> Result<(), EventsError> {
    let mut users = Ids::of(batch, "user_id")?;
    let mut anonymous = Ids::of(batch, "anonymous_id")?;
    let ts = timestamps(batch)?;
    for i in 0..batch.num_rows() {
        let has_user = !users.is_null(i);
        if (!has_user && anonymous.is_null(i)) || ts.is_null(i) || !keep(ts.value(i)) {
            continue;
        }
        let user = if has_user { users.get(i, into) } else { anonymous.get(i, into) };
        out.push((ts.value(i), user));
    }
    Ok(())
}

impl SessionStream {
    pub fn new(rules: SessionRules, tz: TimeZone, from: Option<i32>, to: Option<i32>) -> SessionStream {
        SessionStream {
            timeout_us: rules.timeout_seconds * US,
            max_len_us: rules.max_length_seconds * US,
            from,
            to,
            days: LocalDays::new(tz),
            users: Interner::default(),
            open: Vec::new(),
            pending: Vec::new(),
            span: None,
            summary: SessionSummary::default(),
            last_us: i64::MIN,
        }
    }

    /// Add the rows of one batch of the current partition (columns `user_id`,
    /// `anonymous_id`, `timestamp`; ids may be dictionaries). The actor is
    /// `userId`, else `anonymousId`; rows with neither are left out, as in
    /// the event table.
    pub fn push_batch(&mut self, batch: &RecordBatch) -> Result<(), EventsError> {
        let SessionStream { days, span, from, to, users, pending, .. } = self;
        actor_rows(batch, users, pending, |us| {
            let day = days.day_of(us);
            *span = Some(span.map_or((day, day), |(a, b)| (a.min(day), b.max(day))));
            !(from.is_some_and(|f| day < f) || to.is_some_and(|t| day >= t))
        })
    }

    /// Sessionize the partition's rows in time order. `false` (and nothing
    /// counted) if a row comes before a row of an earlier partition.
    #[must_use]
    pub fn end_partition(&mut self) -> bool {
        let mut rows = std::mem::take(&mut self.pending);
        if !rows.is_sorted_by_key(|r| r.0) {
            rows.sort_unstable_by_key(|r| r.0);
        }
        if rows.first().is_some_and(|r| r.0 < self.last_us) {
            return false;
        }
        if self.open.len() < self.users.len() {
            self.open.resize(self.users.len(), OpenSession::default());
        }
        for &(us, user) in &rows {
            let s = &mut self.open[user as usize];
            if s.events > 0 && s.joins(us, self.timeout_us, self.max_len_us) {
                s.end_us = us;
                s.events += 1;
                continue;
            }
            if s.events > 0 {
                Self::close(&mut self.summary, s);
            }
            *s = OpenSession { start_us: us, end_us: us, events: 1 };
        }
        if let Some(r) = rows.last() {
            self.last_us = r.0;
        }
        self.pending = rows;
        self.pending.clear();
        true
    }

    fn close(summary: &mut SessionSummary, s: &OpenSession) {
        summary.session_count += 1;
        summary.single_event_sessions += (s.events == 1) as u64;
        summary.total_time_us += (s.end_us - s.start_us) as i128;
    }

    /// The totals (every open session closed) and the first and last local
    /// day of any event with an actor.
    pub fn finish(mut self) -> (SessionSummary, Option<(i32, i32)>) {
        for s in self.open.iter().filter(|s| s.events > 0) {
            Self::close(&mut self.summary, s);
        }
        (self.summary, self.span)
    }
}

/// The first or last session of an actor within a partition, as the
/// stitching of partitions needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edge {
    pub start_us: i64,
    pub end_us: i64,
    /// One event only.
    pub single: bool,
}

/// One actor's sessions within one partition, split afresh (nothing carried
/// in from earlier partitions): its first session, and its last when it has
/// more than one. The sessions between them never meet another partition's,
/// so only the partition's totals keep them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActorEdges {
    pub actor: u32,
    pub first: Edge,
    pub last: Option<Edge>,
}

/// The sessions of one partition (the files of one UTC day), each actor's
/// split afresh: what a session rollup keeps per partition, so that the
/// totals over every partition need one [`ActorEdges`] per actor and
/// partition ([`SessionStitch`]) instead of the events.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PartitionSessions {
    /// First and last instant of its rows with an actor.
    pub span_us: Option<(i64, i64)>,
    /// Every session of the partition, as if no session came in from before.
    pub summary: SessionSummary,
    /// By actor id, ascending.
    pub edges: Vec<ActorEdges>,
}

/// Splits one partition at a time into [`PartitionSessions`]; the scratch
/// space (per actor: its open session, its first) is kept across partitions.
pub struct PartitionBuilder {
    timeout_us: i64,
    max_len_us: i64,
    rows: Vec<(i64, u32)>,
    slots: Vec<(OpenSession, Option<Edge>)>,
    touched: Vec<u32>,
}

impl PartitionBuilder {
    pub fn new(rules: SessionRules) -> PartitionBuilder {
        PartitionBuilder {
            timeout_us: rules.timeout_seconds * US,
            max_len_us: rules.max_length_seconds * US,
            rows: Vec::new(),
            slots: Vec::new(),
            touched: Vec::new(),
        }
    }

    /// Add the rows of one batch of the current partition, actors interned in
    /// `actors` (columns and rules as [`SessionStream::push_batch`]).
    pub fn push_batch(&mut self, batch: &RecordBatch, actors: &mut Interner) -> Result<(), EventsError> {
        actor_rows(batch, actors, &mut self.rows, |_| true)
    }

    /// Split the partition's rows (in any order) into sessions; ready for the next partition.
    pub fn finish_partition(&mut self) -> PartitionSessions {
        let mut rows = std::mem::take(&mut self.rows);
        if !rows.is_sorted_by_key(|r| r.0) {
            rows.sort_unstable_by_key(|r| r.0);
        }
        let mut out = PartitionSessions {
            span_us: rows.first().zip(rows.last()).map(|(a, b)| (a.0, b.0)),
            ..PartitionSessions::default()
        };
        if let Some(top) = rows.iter().map(|r| r.1).max()
            && self.slots.len() <= top as usize
        {
            self.slots.resize(top as usize + 1, Default::default());
        }
        for &(us, actor) in &rows {
            let (open, first) = &mut self.slots[actor as usize];
            if open.events == 0 {
                self.touched.push(actor);
            } else if open.joins(us, self.timeout_us, self.max_len_us) {
                open.end_us = us;
                open.events += 1;
                continue;
            } else {
                SessionStream::close(&mut out.summary, open);
                first.get_or_insert(open.edge());
            }
            *open = OpenSession { start_us: us, end_us: us, events: 1 };
        }
        self.touched.sort_unstable();
        for &actor in &self.touched {
            let (open, first) = std::mem::take(&mut self.slots[actor as usize]);
            SessionStream::close(&mut out.summary, &open);
            let last = open.edge();
            out.edges.push(ActorEdges { actor, first: first.unwrap_or(last), last: first.map(|_| last) });
        }
        self.touched.clear();
        rows.clear();
        self.rows = rows;
        out
    }
}

/// Session totals over partitions in time order from their
/// [`PartitionSessions`] alone: an actor's open session joins the first
/// session of its next partition when the gap is within the timeout, which
/// adds the gap to the total time and makes two sessions one. The same
/// totals as [`SessionStream`] over the same events, or a refusal (`false`)
/// when the edges cannot tell: a partition starts before the previous one
/// ended, or the maximum length would cut a joined session inside the
/// partition's first session (which event is cut needs the events).
///
/// Only sessions that ended within the timeout of the latest event can still
/// be joined, so only those are carried (a few percent of a day's actors),
/// sorted by actor and merged with each partition's ascending actors: no
/// state per actor, no random access.
pub struct SessionStitch {
    timeout_us: i64,
    max_len_us: i64,
    /// Open sessions (start of the whole joined session) that later events
    /// may still join, by actor, as of the partition before the current one.
    carried: Vec<(u32, Edge)>,
    /// The next of `carried` to meet.
    at: usize,
    /// Open sessions as of the current partition, by actor.
    next: Vec<(u32, Edge)>,
    /// Sessions ending before this cannot be joined any more.
    keep_from: i64,
    /// The last actor of the current partition (actors must ascend).
    last_actor: Option<u32>,
    summary: SessionSummary,
    span_us: Option<(i64, i64)>,
}

impl SessionStitch {
    pub fn new(rules: SessionRules) -> SessionStitch {
        SessionStitch {
            timeout_us: rules.timeout_seconds * US,
            max_len_us: rules.max_length_seconds * US,
            carried: Vec::new(),
            at: 0,
            next: Vec::new(),
            keep_from: i64::MIN,
            last_actor: None,
            summary: SessionSummary::default(),
            span_us: None,
        }
    }

    /// Carry the sessions of actors up to `actor` (excluded) not met in the
    /// current partition, if they may still be joined.
    fn carry_until(&mut self, actor: Option<u32>) {
        while let Some(&(a, e)) = self.carried.get(self.at) {
            if actor.is_some_and(|x| a >= x) {
                break;
            }
            if e.end_us >= self.keep_from {
                self.next.push((a, e));
            }
            self.at += 1;
        }
    }

    /// Start the next partition (its span and totals); `false` if it starts
    /// before the previous one ended.
    #[must_use]
    pub fn begin(&mut self, span_us: Option<(i64, i64)>, summary: &SessionSummary) -> bool {
        let Some((lo, hi)) = span_us else { return true };
        if self.span_us.is_some_and(|s| lo < s.1) {
            return false;
        }
        self.carry_until(None);
        std::mem::swap(&mut self.carried, &mut self.next);
        self.next.clear();
        (self.at, self.keep_from, self.last_actor) = (0, hi.saturating_sub(self.timeout_us), None);
        self.span_us = Some((self.span_us.map_or(lo, |s| s.0), hi));
        self.summary.session_count += summary.session_count;
        self.summary.single_event_sessions += summary.single_event_sessions;
        self.summary.total_time_us += summary.total_time_us;
        true
    }

    /// One actor's sessions of the current partition, actors ascending;
    /// `false` when the edges cannot tell the answer (the maximum length
    /// falls inside the first) or actors do not ascend.
    #[must_use]
    pub fn actor(&mut self, a: &ActorEdges) -> bool {
        if self.last_actor.is_some_and(|x| a.actor <= x) {
            return false;
        }
        self.last_actor = Some(a.actor);
        self.carry_until(Some(a.actor));
        let mut open = a.last.unwrap_or(a.first);
        if let Some(&(x, o)) = self.carried.get(self.at)
            && x == a.actor
        {
            self.at += 1;
            if a.first.start_us - o.end_us <= self.timeout_us && a.first.start_us - o.start_us <= self.max_len_us {
                if a.first.end_us - o.start_us > self.max_len_us {
                    return false;
                }
                // One session instead of two; the gap between them is session time.
                self.summary.session_count -= 1;
                self.summary.single_event_sessions -= o.single as u64 + a.first.single as u64;
                self.summary.total_time_us += (a.first.start_us - o.end_us) as i128;
                if a.last.is_none() {
                    open = Edge { start_us: o.start_us, end_us: a.first.end_us, single: false };
                }
            }
        }
        if open.end_us >= self.keep_from {
            self.next.push((a.actor, open));
        }
        true
    }

    #[must_use]
    pub fn add(&mut self, p: &PartitionSessions) -> bool {
        self.begin(p.span_us, &p.summary) && p.edges.iter().all(|a| self.actor(a))
    }

    /// The totals and the first and last instant of any event with an actor.
    pub fn finish(self) -> (SessionSummary, Option<(i64, i64)>) {
        (self.summary, self.span_us)
    }
}

/// The first and last local day in `tz` of instants between `span_us`'s ends,
/// from the ends alone; `None` when the zone moves the date backwards in
/// between (a transition back across midnight), where the ends do not tell.
pub fn local_day_span(tz: &TimeZone, span_us: (i64, i64)) -> Option<(i32, i32)> {
    // Each instant on its own: `LocalDays` keeps the last day's bounds, which
    // assumes dates never go back.
    let day = |us: i64| Some(date_to_day(jiff::Timestamp::from_microsecond(us).ok()?.to_zoned(tz.clone()).date()));
    let (lo, hi) = span_us;
    for t in tz.following(jiff::Timestamp::from_microsecond(lo).ok()?) {
        let us = t.timestamp().as_microsecond();
        if us > hi {
            break;
        }
        if day(us - 1)? > day(us)? {
            return None;
        }
    }
    Some((day(lo)?, day(hi)?))
}

/// One summary per actor (user, or the account of each session's first event;
/// sessions without an account are left out of the account breakdown), sorted
/// by actor name.
pub fn summary_by(t: &EventTable, sessions: &[Session], kind: ActorKind) -> Vec<(String, SessionSummary)> {
    let n = t.actor_count(kind);
    let mut by: Vec<SessionSummary> = vec![SessionSummary::default(); n];
    for s in sessions {
        let a = match kind {
            ActorKind::User => s.user,
            ActorKind::Account if s.account == NO_ACCOUNT => continue,
            ActorKind::Account => s.account,
        };
        by[a as usize].add(s);
    }
    let mut out: Vec<(String, SessionSummary)> = by
        .into_iter()
        .enumerate()
        .filter(|(_, m)| m.session_count > 0)
        .map(|(a, m)| (t.actor_name(kind, a as u32).to_string(), m))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Time on platform per local day of the session's start.
pub fn summary_by_day(sessions: &[Session]) -> Vec<(i32, SessionSummary)> {
    let mut by: std::collections::BTreeMap<i32, SessionSummary> = Default::default();
    for s in sessions {
        by.entry(s.day).or_default().add(s);
    }
    by.into_iter().collect()
}

pub fn session_json(t: &EventTable, s: &Session) -> Value {
    let iso = |us: i64| jiff::Timestamp::from_microsecond(us).expect("timestamp").to_string();
    json!({
        "user_id": t.users.name(s.user),
        "account_id": (s.account != NO_ACCOUNT).then(|| t.accounts.name(s.account)),
        "date": day_to_date(s.day).to_string(),
        "start": iso(s.start_us),
        "end": iso(s.end_us),
        "event_count": s.event_count,
        "duration_seconds": whole_seconds(s.duration_us() as i128),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engagement::events::{ActiveEvent, EventTableBuilder};
    use jiff::tz::TimeZone;
    use jiff::{SignedDuration, Timestamp};

    const T0: &str = "2024-05-01T08:00:00Z";

    /// Events of user `u` at `T0 + offset` seconds.
    fn table(events: &[(&str, i64)]) -> EventTable {
        let t0: Timestamp = T0.parse().unwrap();
        let mut b = EventTableBuilder::new(TimeZone::UTC, ActiveEvent::AnyTrack);
        for &(u, off) in events {
            // Page views count toward sessions too (all events of the user).
            let kind = if off % 2 == 0 { "track" } else { "page" };
            b.push(kind, None, u, Some("acme"), t0 + SignedDuration::from_secs(off));
        }
        b.finish()
    }

    /// (user, anonymous id, seconds after T0).
    type Row = (Option<&'static str>, Option<&'static str>, i64);

    /// A batch of rows, ids as dictionaries.
    fn batch(rows: &[Row]) -> RecordBatch {
        use arrow::array::{ArrayRef, DictionaryArray, TimestampMicrosecondArray};
        use arrow::datatypes::Int32Type;
        use std::sync::Arc;
        let t0 = T0.parse::<Timestamp>().unwrap().as_microsecond();
        let ids = |f: fn(&Row) -> Option<&'static str>| {
            Arc::new(rows.iter().map(f).collect::<DictionaryArray<Int32Type>>()) as ArrayRef
        };
        let ts: Vec<i64> = rows.iter().map(|r| t0 + r.2 * US).collect();
        RecordBatch::try_from_iter(vec![
            ("user_id", ids(|r| r.0)),
            ("anonymous_id", ids(|r| r.1)),
            ("timestamp", Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")) as ArrayRef),
        ])
        .unwrap()
    }

    #[test]
    fn the_stream_finds_the_sessions_of_the_whole_table() {
        // Three users over three "days" (partitions), rows shuffled within a
        // partition; gaps around the 1800 s timeout and a 2-hour max length.
        let mut rows: Vec<Row> = Vec::new();
        let mut x: u64 = 7;
        let mut at = [0i64; 3];
        for _ in 0..600 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let u = (x >> 33) as usize % 3;
            at[u] += [0, 60, 1799, 1800, 1801, 5000][(x >> 40) as usize % 6];
            let (user, anon) = match u {
                0 => (Some("u0"), None),
                1 => (Some("u1"), Some("a1")),
                _ => (None, Some("a2")),
            };
            rows.push((user, anon, at[u]));
        }
        rows.push((None, None, 10)); // no actor: left out
        let rules = SessionRules { timeout_seconds: 1800, max_length_seconds: 7200 };
        let t = {
            let t0: Timestamp = T0.parse().unwrap();
            let mut b = EventTableBuilder::new(TimeZone::UTC, ActiveEvent::AnyEvent);
            for &(user, anon, off) in &rows {
                if let Some(actor) = user.or(anon) {
                    b.push("page", None, actor, None, t0 + SignedDuration::from_secs(off));
                }
            }
            b.finish()
        };
        let want = SessionSummary::of(&sessions(&t, rules, None));
        assert!(want.session_count > 50 && want.single_event_sessions > 0);
        // Partitions by time, each shuffled (reversed) and cut in two batches.
        let mut sorted = rows.clone();
        sorted.sort_by_key(|r| r.2);
        let mut stream = SessionStream::new(rules, TimeZone::UTC, None, None);
        for part in sorted.chunks(150) {
            let mut part = part.to_vec();
            part.reverse();
            let (a, b) = part.split_at(40.min(part.len()));
            stream.push_batch(&batch(a)).unwrap();
            stream.push_batch(&batch(b)).unwrap();
            assert!(stream.end_partition());
        }
        let (got, span) = stream.finish();
        assert_eq!(got, want);
        assert_eq!(span, t.day_span());
        // A partition that starts before the previous one ended is refused.
        let mut stream = SessionStream::new(rules, TimeZone::UTC, None, None);
        stream.push_batch(&batch(&[(Some("u0"), None, 100)])).unwrap();
        assert!(stream.end_partition());
        stream.push_batch(&batch(&[(Some("u1"), None, 99)])).unwrap();
        assert!(!stream.end_partition());
    }

    /// Rows split into partitions at the given offsets (seconds after T0),
    /// each partition's sessions built afresh and stitched in order.
    fn stitched(rows: &[Row], cuts: &[i64], rules: SessionRules) -> Option<SessionSummary> {
        let mut sorted = rows.to_vec();
        sorted.sort_by_key(|r| r.2);
        let (mut names, mut b, mut st) = (Interner::default(), PartitionBuilder::new(rules), SessionStitch::new(rules));
        let mut bounds = cuts.to_vec();
        bounds.push(i64::MAX);
        let mut at = 0;
        for end in bounds {
            let n = sorted[at..].iter().take_while(|r| r.2 < end).count();
            let mut part = sorted[at..at + n].to_vec();
            at += n;
            part.reverse(); // any order within a partition
            if !part.is_empty() {
                b.push_batch(&batch(&part), &mut names).unwrap();
            }
            if !st.add(&b.finish_partition()) {
                return None;
            }
        }
        Some(st.finish().0)
    }

    fn whole(rows: &[Row], rules: SessionRules) -> SessionSummary {
        let mut stream = SessionStream::new(rules, TimeZone::UTC, None, None);
        stream.push_batch(&batch(rows)).unwrap();
        assert!(stream.end_partition());
        stream.finish().0
    }

    #[test]
    fn stitched_partitions_give_the_totals_of_the_whole() {
        // Hand-made, partitions cut at 10,000 s and 20,000 s ("midnights"):
        // u: 9,000 and 10,500 (gap 1,500 across the cut: one session of 1,500 s);
        // v: 8,200 and 10,000 (gap exactly 1,800 across the cut: one session, 1,800 s),
        //    then 12,000 (gap 2,000: a single-event session);
        // w: 19,999 alone before the cut, 21,800 after (gap 1,801: two single sessions);
        // a: anonymous 5,000 then identified as u2 at 5,010: two actors, two single sessions.
        let rows: Vec<Row> = vec![
            (Some("u"), None, 9_000),
            (Some("u"), None, 10_500),
            (Some("v"), None, 8_200),
            (Some("v"), None, 10_000),
            (Some("v"), None, 12_000),
            (Some("w"), None, 19_999),
            (Some("w"), None, 21_800),
            (None, Some("a"), 5_000),
            (Some("u2"), Some("a"), 5_010),
        ];
        let got = stitched(&rows, &[10_000, 20_000], SessionRules::default()).unwrap();
        // Sessions: u 1,500 s; v 1,800 s; v single; w single x2; a single; u2 single.
        let want = SessionSummary { session_count: 7, single_event_sessions: 5, total_time_us: 3_300 * US as i128 };
        assert_eq!(got, want);
        assert_eq!(whole(&rows, SessionRules::default()), want);
    }

    #[test]
    fn stitching_equals_the_stream_or_refuses_when_the_cap_falls_inside() {
        // Random events of 5 actors, gaps around the timeout, partitions every 3 hours;
        // a 2-hour cap makes long chains cross partitions, the default cap never binds.
        let mut x: u64 = 11;
        let mut at = [0i64; 5];
        let mut rows: Vec<Row> = Vec::new();
        const NAMES: [&str; 5] = ["a", "b", "c", "d", "e"];
        for _ in 0..3000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let u = (x >> 33) as usize % 5;
            at[u] += [0, 30, 600, 1799, 1800, 1801, 4000][(x >> 40) as usize % 7];
            rows.push((Some(NAMES[u]), None, at[u]));
        }
        let span = rows.iter().map(|r| r.2).max().unwrap();
        let cuts: Vec<i64> = (1..=span / 10_800).map(|k| k * 10_800).collect();
        let rules = SessionRules::default();
        let got = stitched(&rows, &cuts, rules).expect("the default cap never binds here");
        assert_eq!(got, whole(&rows, rules));
        assert!(got.session_count > 100 && got.single_event_sessions > 0);
        // A cap of 2 h: every answer given is exact; some partitionings must refuse.
        let rules = SessionRules { timeout_seconds: 1800, max_length_seconds: 7200 };
        let (mut answered, mut refused) = (0, 0);
        for width in [3_000, 7_000, 10_800, 40_000, 150_000, 400_000] {
            let cuts: Vec<i64> = (1..=span / width).map(|k| k * width).collect();
            match stitched(&rows, &cuts, rules) {
                Some(got) => {
                    assert_eq!(got, whole(&rows, rules), "partitions of {width} s");
                    answered += 1;
                }
                None => refused += 1,
            }
        }
        assert!(refused > 0, "a cap inside a joined session must be detected");
        // One partition: nothing to stitch, always exact.
        assert_eq!(stitched(&rows, &[], rules), Some(whole(&rows, rules)));
        assert!(answered > 0, "stitching answers where the cap does not fall inside");
    }

    #[test]
    fn a_chain_longer_than_the_cap_across_partitions() {
        // Events every 1,800 s for 30 h, partitions cut at each 86,400 s "midnight":
        // 0 .. 86,400 is the first capped session (49 events); 88,200 starts the next.
        let rows: Vec<Row> = (0..=60).map(|k| (Some("u"), None, k * 1800)).collect();
        let want = whole(&rows, SessionRules::default());
        assert_eq!((want.session_count, want.total_time_us), (2, (86_400 + 11 * 1800) * US as i128));
        // Cut at 43,200 s: the partition after the cut carries the cap inside its first session.
        assert_eq!(stitched(&rows, &[43_200], SessionRules::default()), None);
        // Cut at 88,200: the cap falls exactly at the partition's first event: exact.
        assert_eq!(stitched(&rows, &[88_200], SessionRules::default()), Some(want));
    }

    #[test]
    fn local_day_span_is_refused_where_the_date_goes_back() {
        let day = |s: &str| s.parse::<Timestamp>().unwrap().as_microsecond();
        let utc = local_day_span(&TimeZone::UTC, (day("2024-05-01T00:00:00Z"), day("2024-05-03T23:59:59Z")));
        assert_eq!(
            utc.map(|(a, b)| (day_to_date(a).to_string(), day_to_date(b).to_string())),
            Some(("2024-05-01".into(), "2024-05-03".into()))
        );
        // New York: DST ends at 02:00 local, the date never goes back.
        let ny = TimeZone::get("America/New_York").unwrap();
        let got = local_day_span(&ny, (day("2024-11-01T12:00:00Z"), day("2024-11-05T03:00:00Z"))).unwrap();
        assert_eq!(day_to_date(got.1).to_string(), "2024-11-04");
        // Sitka, October 1867: Alaska moved from Russian to American time, the clocks went
        // back about a day, so a date came again after the next one.
        let sitka = TimeZone::get("America/Sitka").unwrap();
        assert_eq!(local_day_span(&sitka, (day("1867-10-10T12:00:00Z"), day("1867-10-25T12:00:00Z"))), None);
    }

    fn shape(s: &[Session]) -> Vec<(u32, i64, u32)> {
        s.iter().map(|s| (s.user, s.duration_us() / US, s.event_count)).collect()
    }

    #[test]
    fn a_gap_of_exactly_the_timeout_does_not_split_one_more_second_does() {
        // 0, 1800 (gap 1800 = timeout: same session), 3601 (gap 1801 > 1800: new session).
        let t = table(&[("u", 0), ("u", 1800), ("u", 3601)]);
        let s = sessions(&t, SessionRules::default(), None);
        assert_eq!(shape(&s), vec![(0, 1800, 2), (0, 0, 1)]);
        let m = SessionSummary::of(&s);
        // 2 sessions, 1800 + 0 = 1800 s total, mean 900.00 s, one single-event session.
        assert_eq!(
            m.to_json(),
            json!({"session_count": 2, "average_session_duration_seconds": 900.0,
            "total_time_seconds": 1800, "single_event_sessions": 1})
        );
    }

    #[test]
    fn sub_second_gap_above_the_timeout_splits() {
        let t0: Timestamp = T0.parse().unwrap();
        let mut b = EventTableBuilder::new(TimeZone::UTC, ActiveEvent::AnyTrack);
        b.push("track", None, "u", None, t0);
        b.push("track", None, "u", None, t0 + SignedDuration::from_millis(1_800_001)); // 1800.001 s > 1800
        let s = sessions(&b.finish(), SessionRules::default(), None);
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn the_24_hour_cap_keeps_an_event_exactly_at_the_limit() {
        // Events every 1800 s never time out. With the cap at 86,400 s:
        // 0, 1800, ..., 86400 (= 48 x 1800: exactly at the limit, stays in: 49 events, 86,400 s),
        // then 88200 (88,200 > 86,400 after the first: starts session 2), 90000 (gap 1800: joins it).
        let offs: Vec<i64> = (0..=50).map(|k| k * 1800).collect();
        let ev: Vec<(&str, i64)> = offs.iter().map(|&o| ("u", o)).collect();
        let t = table(&ev);
        let s = sessions(&t, SessionRules::default(), None);
        assert_eq!(shape(&s), vec![(0, 86_400, 49), (0, 1800, 2)]);
        // A smaller cap from the settings: 3600 s -> 0,1800,3600 | 5400,7200,9000 | ...
        let s = sessions(&t, SessionRules { timeout_seconds: 1800, max_length_seconds: 3600 }, None);
        assert_eq!(s.len(), 17); // 51 events in sessions of 3
        assert!(s.iter().all(|s| s.event_count == 3 && s.duration_us() == 3600 * US));
    }

    #[test]
    fn single_event_sessions_count_and_users_never_share_a_session() {
        // a: one event -> one 0 s session. b: 10 s after a's event, but another user: own session,
        // then 100 s later (b: 0 -> 100 s). c: two events 5000 s apart -> two single-event sessions.
        let t = table(&[("a", 0), ("b", 10), ("b", 110), ("c", 0), ("c", 5000)]);
        let s = sessions(&t, SessionRules::default(), None);
        assert_eq!(shape(&s), vec![(0, 0, 1), (1, 100, 2), (2, 0, 1), (2, 0, 1)]);
        let m = SessionSummary::of(&s);
        // 4 sessions, total 100 s, mean 100 / 4 = 25.00, 3 single-event sessions.
        assert_eq!((m.session_count, m.single_event_sessions), (4, 3));
        assert_eq!(m.average_session_duration_seconds().unwrap().to_string(), "25.00");
        let by = summary_by(&t, &s, ActorKind::User);
        assert_eq!(
            by.iter().map(|(n, m)| (n.as_str(), m.session_count)).collect::<Vec<_>>(),
            [("a", 1), ("b", 1), ("c", 2)]
        );
        let acct = summary_by(&t, &s, ActorKind::Account);
        assert_eq!(acct.len(), 1);
        assert_eq!(acct[0].1.session_count, 4);
        // Mean of three sessions 1, 1 and 0 s: 2 / 3 = 0.666.. -> 0.67.
        let t = table(&[("a", 0), ("a", 1), ("b", 0), ("b", 1), ("c", 0)]);
        let m = SessionSummary::of(&sessions(&t, SessionRules::default(), None));
        assert_eq!(m.average_session_duration_seconds().unwrap().to_string(), "0.67");
        assert_eq!(SessionSummary::default().average_session_duration_seconds(), None);
    }

    #[test]
    fn session_json_has_the_spec_keys() {
        let t = table(&[("a", 0), ("a", 61)]);
        let s = sessions(&t, SessionRules::default(), None);
        let j = session_json(&t, &s[0]);
        assert_eq!(j["user_id"], "a");
        assert_eq!(j["start"], "2024-05-01T08:00:00Z");
        assert_eq!(j["end"], "2024-05-01T08:01:01Z");
        assert_eq!(j["event_count"], 2);
        assert_eq!(j["duration_seconds"], 61);
        assert_eq!((whole_seconds(1_500_000), whole_seconds(1_499_999), whole_seconds(-1_500_000)), (2, 1, -2));
    }
}
