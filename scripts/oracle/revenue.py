#!/usr/bin/env python3
"""Independent oracle for `tenure metrics revenue` (SPEC 2.1, default settings).

Written from SPEC 2.1 alone, not from the Rust engine: DuckDB SQL over the raw
Parquet files that manifest.json names computes, for every month, MRR in the
reporting currency, subscribers, and the five MRR movements with counts.

Usage: revenue.py WORKSPACE [FROM_MONTH TO_MONTH]
Prints JSON {"from", "to", "months": {"YYYY-MM": {...}}}; money in cents as
strings with two decimals (rounded half away from zero from exact values).

Exactness: every money figure is an integer (HUGEINT) in units of
1 / (1e8 x 332640 x 1e12) cent: 1e8 carries percent discounts (6 decimals),
332640 = 12 x 27720 makes the normalisation to a month exact for interval
counts up to 12, 1e12 carries the FX rate's 12 decimals.

Rules, each from SPEC 2.1 (defaults: churn at_end, discount_policy all, free
plan active, no auto-churn, no reactivation window, same-month both):
- terms: `start` sets full terms (quantity 1 and interval_count 1 when absent;
  no discount when absent); `change` overrides only the fields it gives (a
  change with a discount replaces the discount).
- MRR of a live subscription = (unit x quantity - discount per interval,
  floored at 0) / months in the interval (week x 52/12, day x 365/12).
  forever: always; repeating: before its exclusive ends_at; once: the first
  billing interval from the event that set it. Expiry changes MRR that day.
- live (active or past-due) from a `start` until the `ends_at` of a later
  cancel (first day without service; the event date if absent); a trial is
  not live. Past-due changes nothing by default.
- a customer's MRR and liveness are taken after all events of a day, per day:
  same-day changes are netted into one movement.
- customer status: lead -> active on the first day it is live with MRR > 0
  (New Business; Reactivation if it was active before) -> churned the day it
  is no longer live (its last subscription ended). A paying customer that goes
  to 0 MRR while live stays active (contraction). (ChartMogul: trials, free
  plans and 100%-discount starts are not subscribers until they pay.)
- movement = the change in original-currency MRR x the rate of the month the
  movement is dated in; MRR(M) = original MRR at the end of M x rate of M;
  rate of M = the currency's rate of the latest month <= M (1 for the
  reporting currency).
- subscribers(M) = customers active at the end of M; active subscriptions =
  live subscriptions of those customers (SPEC says "subscriptions active or
  past-due, trials excluded"; a lead's free-plan subscription is not active
  under the ChartMogul rule above, as in the engine's documented choice);
  past-due subscribers = subscribers with a live subscription whose latest
  payment status is past_due with no cancel requested since.
- fx_impact(M) = MRR(M) - MRR(M-1) - sum of movements(M), from exact values.
- from invoices (subscriptions without any subscription event): each
  `subscription` line gives the terms for its service period from
  service_period_start on: amount / months in the plan's interval; a prorated
  line is first scaled to a full interval (amount x days in one full interval
  from service_period_start / days in the service period). Lines of one
  subscription for the same period add up; a `trial` line alone makes it
  trialing (not live). Tax, `one_time` and `usage` lines and refunds are never
  read. A subscription stays live until a cancellation (cancelled_at, the
  first day without service) ends it: a missing invoice is not churn. Lines
  whose period starts on or after cancelled_at are ignored.
- renewals: a subscription's terms run from an anchor (each `start`; for
  event subscriptions also a day whose interval or interval count differs from
  the day before; for invoice subscriptions the first paid period and each
  period whose interval differs) in steps of the interval, counted from the
  anchor, until the next anchor (a term may end on it, not after it) and only
  while the subscription is live on the term's start day. A term is due in
  the month of its exclusive end; renewed if the subscription is live on the
  end day (after that day's events), else cancelled (lapsed needs auto-churn,
  never under the defaults). MRR before = the subscription's MRR on the last
  day before the end on which it was live; after = its MRR on the end day
  (0 unless live); both at the rate of the end's month. Renewal rate =
  renewed / due; net MRR renewal rate = sum after / sum before; gross = sum of
  min(after, before) / sum before.
"""

import json
import sys
import tomllib
from fractions import Fraction

import duckdb

SCALE = 10**8 * 332640 * 10**12


def cents(v):
    """Exact value (in SCALE units) -> cents with 2 decimals, half away from zero."""
    q = Fraction(v) * 100 / SCALE
    sign = -1 if q < 0 else 1
    r = (abs(q) + Fraction(1, 2)).__floor__()
    r = sign * r
    return f"{'-' if r < 0 else ''}{abs(r) // 100}.{abs(r) % 100:02d}"


def ratio(num, den):
    """An exact ratio rounded half away from zero to 4 decimals, as a string; None if den is 0."""
    if den == 0:
        return None
    q = Fraction(int(num), int(den))
    r = (abs(q) * 10**4 + Fraction(1, 2)).__floor__()
    r = r if q >= 0 else -r
    return f"{'-' if r < 0 else ''}{abs(r) // 10**4}.{abs(r) % 10**4:04d}"


# Per-interval price (1e-8 cent) -> MRR in SCALE / 1e12 units: x 332640 / months in the interval.
MONTHLY = """case {ivl} when 'month' then 332640 // {n} when 'year' then 27720 // {n}
    when 'week' then 27720 * 52 // {n} when 'day' then 27720 * 365 // {n} end"""

# `d` plus `k` intervals, counted from `d` (months clamp to the month's last day).
PLUS = """(case {ivl} when 'month' then {d} + to_months({k}) when 'year' then {d} + to_months(12 * {k})
    when 'week' then {d} + to_days(7 * {k}) when 'day' then {d} + to_days({k}) end)::date"""


def invoice_lines(con, files):
    """Subscriptions from invoices: inv_points (a state from each day on) and inv_anchors."""
    def table(name, cols):
        f = files(name)
        if f:
            con.execute(f"create table {name} as select * from read_parquet({f!r})")
        else:
            con.execute(f"create table {name} ({cols})")
    table("invoices", "external_id varchar, customer_id varchar, date date, currency varchar")
    table("invoice_line_items", "invoice_external_id varchar, type varchar, subscription_id varchar, "
          "plan_id varchar, service_period_start date, service_period_end date, amount_cents bigint, "
          "prorated boolean")
    table("plans", "id varchar, interval varchar, interval_count integer")
    table("cancellations", "subscription_id varchar, cancelled_at date")
    con.execute(
        f"""create table inv_lines as
        select l.subscription_id, i.customer_id, i.currency, l.type = 'trial' as trial,
          l.service_period_start as d, cast(l.amount_cents as hugeint) as amount, coalesce(l.prorated, false) as prorated,
          case when l.service_period_end > l.service_period_start
               then datediff('day', l.service_period_start, l.service_period_end) end as days,
          p.interval as ivl, coalesce(p.interval_count, 1) as cnt
        from invoice_line_items l join invoices i on i.external_id = l.invoice_external_id
          left join plans p on p.id = l.plan_id
        where l.type in ('subscription', 'trial') and l.subscription_id is not null
          and l.service_period_start is not null
          and l.subscription_id not in (select subscription_id from se)"""
    )
    bad = con.execute("select count(*) from inv_lines where ivl is null and not trial").fetchone()[0]
    assert bad == 0, "an invoice subscription line without a plan interval (not covered by this oracle)"
    # A prorated line is scaled to a full interval from its service period
    # start (rounded half up at 1 / (1e8 x 332640) cent, far below output).
    full = PLUS.format(ivl="ivl", d="d", k="cnt")
    con.execute(
        f"""create table inv_days as
        with priced as (
          select *, case when trial then 0::hugeint
            when prorated and days is not null then
              (2 * amount * 100000000 * ({MONTHLY.format(ivl='ivl', n='cnt')}) * datediff('day', d, {full}) + days)
                // (2 * days)
            else amount * 100000000 * ({MONTHLY.format(ivl='ivl', n='cnt')}) end as mrr
          from inv_lines)
        select subscription_id, any_value(customer_id) as customer_id, any_value(currency) as currency, d,
          bool_or(not trial) as paid,
          coalesce(sum(mrr) filter (where not trial), 0::hugeint) as mrr,
          min(struct_pack(i := ivl, c := cnt, m := mrr)) filter (where not trial) as key
        from priced group by subscription_id, d"""
    )
    # Periods from the cancellation day on are ignored; the cancellation ends the subscription.
    con.execute(
        """create table inv_kept as
        select x.* from inv_days x left join cancellations c using (subscription_id)
        where c.cancelled_at is null or x.d < c.cancelled_at"""
    )
    con.execute(
        """create table inv_points as
        select subscription_id, customer_id, currency, d, paid as live, case when paid then mrr else 0::hugeint end as mrr
        from inv_kept
        union all
        select c.subscription_id, any_value(k.customer_id), any_value(k.currency), c.cancelled_at, false, 0::hugeint
        from cancellations c join inv_kept k using (subscription_id) group by c.subscription_id, c.cancelled_at"""
    )
    con.execute(
        """create table inv_anchors as
        select subscription_id, d as a, key.i as ivl, key.c as cnt from (
          select *, lag(key) over (partition by subscription_id order by d) as prev from inv_kept where paid)
        where prev is null or (prev.i, prev.c) <> (key.i, key.c)"""
    )


def renewal_rows(con, lo, hi):
    """Per month of lo..hi: terms due, renewed, and the sums of MRR before, after and min(after, before)."""
    con.execute(
        """create table anchors as
        with ranked as (
          select subscription_id, date as d, ivl, ivl_count as cnt,
            bool_or(rk = 1) over (partition by subscription_id, date) as has_start,
            row_number() over (partition by subscription_id, date order by rk desc, rn desc) as r
          from terms),
        days as (
          select *, lag(ivl) over w as pivl, lag(cnt) over w as pcnt,
            bool_or(has_start) over (w rows between unbounded preceding and current row) as started
          from ranked where r = 1
          window w as (partition by subscription_id order by d))
        select subscription_id, d as a, ivl, cnt from days
        where has_start or (started and (ivl, cnt) is distinct from (pivl, pcnt))
        union all select subscription_id, a, ivl, cnt from inv_anchors"""
    )
    end_k = PLUS.format(ivl="ivl", d="a", k="cnt * k")
    start_k = PLUS.format(ivl="ivl", d="a", k="cnt * (k - 1)")
    con.execute(
        f"""create table term_ends as
        with a as (
          select *, lead(a) over (partition by subscription_id order by a) as next_a,
            datediff('day', a, date '{hi}-01' + interval 1 month)
              // (cnt * case ivl when 'day' then 1 when 'week' then 7 when 'month' then 28 else 365 end) + 2 as bound
          from anchors),
        k as (select * exclude (bound), unnest(range(1, bound)) as k from a),
        t as (
          select subscription_id, a, k, {start_k} as s, {end_k} as e, next_a from k),
        live_at_start as (
          select t.*, coalesce(st.live, false) as live
          from t asof left join sub_state st on st.subscription_id = t.subscription_id and t.s >= st.d
          where t.e < date '{hi}-01' + interval 1 month and (t.next_a is null or t.e <= t.next_a)),
        counted as (
          select *, min(k) filter (where not live) over (partition by subscription_id, a) as stop
          from live_at_start)
        select subscription_id, e from counted
        where (stop is null or k < stop) and e >= date '{lo}-01'"""
    )
    return con.execute(
        """with b as (
          select t.subscription_id, t.e, coalesce(x.mrr * r.r12, 0::hugeint) as before
          from term_ends t
            asof left join (select * from sub_state where live) x
              on x.subscription_id = t.subscription_id and t.e - 1 >= x.d
            left join month_rate r on r.currency = x.currency and r.m = date_trunc('month', t.e)),
        a as (
          select t.subscription_id, t.e, coalesce(y.live, false) as renewed,
            case when y.live then y.mrr * r.r12 else 0::hugeint end as after
          from term_ends t
            asof left join sub_state y on y.subscription_id = t.subscription_id and t.e >= y.d
            left join month_rate r on r.currency = y.currency and r.m = date_trunc('month', t.e))
        select strftime(date_trunc('month', e), '%Y-%m'), count(*), count(*) filter (where renewed),
          sum(before), sum(after), sum(least(before, after))
        from b join a using (subscription_id, e) group by 1"""
    ).fetchall()


def main():
    root = sys.argv[1]
    manifest = json.load(open(root + "/manifest.json"))
    try:
        settings = tomllib.load(open(root + "/tenure.toml", "rb"))
    except FileNotFoundError:
        settings = {}
    reporting = settings.get("workspace", {}).get("reporting_currency", "USD")

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")

    def files(table):
        t = manifest["tables"].get(table)
        return [root + "/" + f["path"] for f in t["files"]] if t else []

    con.execute(
        f"""create table se as
        select *,
          case type when 'trial_start' then 0 when 'start' then 1 when 'change' then 2
                    when 'past_due' then 3 when 'payment_recovered' then 4 else 5 end as rk,
          row_number() over () as rn
        from read_parquet({files('subscription_events')!r})"""
    )
    fx_files = files("fx_rates")
    if fx_files:
        con.execute(
            f"""create table fx as select currency, date_trunc('month', month)::date as m,
                cast(rate_to_reporting * 1000000000000 as hugeint) as r12
            from read_parquet({fx_files!r})"""
        )
    else:
        con.execute("create table fx (currency varchar, m date, r12 hugeint)")
    invoice_lines(con, files)

    # Terms after each start/change event (change = partial override).
    con.execute(
        """create table terms as
        select subscription_id, customer_id, date, rk, rn,
          last_value(currency ignore nulls) over w as currency,
          last_value(interval ignore nulls) over w as ivl,
          last_value(case when type = 'start' then coalesce(interval_count, 1) else interval_count end
                     ignore nulls) over w as ivl_count,
          last_value(unit_amount_cents ignore nulls) over w as unit,
          last_value(case when type = 'start' then coalesce(quantity, 1) else quantity end
                     ignore nulls) over w as qty,
          last_value(case when type = 'start' or discount_duration is not null then rn end
                     ignore nulls) over w as disc_rn
        from se where type in ('start', 'change')
        window w as (partition by subscription_id order by date, rk, rn
                     rows between unbounded preceding and current row)"""
    )
    # The discount each terms row carries, with its exclusive end date.
    con.execute(
        """create table disc as
        select t.rn as disc_rn, d.discount_duration as duration,
          cast(d.discount_percent_off * 1000000 as hugeint) as pct_micro,
          d.discount_amount_off_cents as amount_off,
          case d.discount_duration
            when 'forever' then null
            when 'repeating' then d.discount_ends_at
            when 'once' then case t.ivl
              when 'month' then (d.date + to_months(t.ivl_count))::date
              when 'year' then (d.date + to_months(12 * t.ivl_count))::date
              when 'week' then (d.date + to_days(7 * t.ivl_count))::date
              when 'day' then (d.date + to_days(t.ivl_count))::date end
          end as disc_end
        from terms t join se d on d.rn = t.rn
        where d.discount_duration is not null"""
    )
    # Every day a customer's MRR or status may change.
    con.execute(
        """create table points as
        select distinct customer_id, d from (
          select customer_id, date as d from se
          union all select customer_id, coalesce(ends_at, date) from se where type = 'cancel'
          union all select t.customer_id, x.disc_end from terms t join disc x on x.disc_rn = t.rn
            where x.disc_end is not null
          union all select customer_id, d from inv_points)"""
    )
    con.execute("create table subs as select distinct customer_id, subscription_id from se")
    # Each subscription's state after all events of each of its customer's days.
    con.execute(
        """create table sub_state as
        with grid as (
          select p.customer_id, p.d, s.subscription_id from points p join subs s using (customer_id)),
        last_terms as (
          select g.customer_id, g.d, g.subscription_id, t.* exclude (customer_id, subscription_id, date, rk, rn)
          from grid g join terms t on t.subscription_id = g.subscription_id and t.date <= g.d
          qualify row_number() over (partition by g.subscription_id, g.d order by t.date desc, t.rk desc, t.rn desc) = 1),
        life as (
          select g.customer_id, g.d, g.subscription_id,
            (select max(s.date) from se s where s.subscription_id = g.subscription_id
               and s.type = 'start' and s.date <= g.d) as last_start
          from grid g),
        live as (
          select l.*, l.last_start is not null and not exists (
              select 1 from se c where c.subscription_id = l.subscription_id and c.type = 'cancel'
                and c.date >= l.last_start and coalesce(c.ends_at, c.date) <= l.d) as live
          from life l)
        select v.customer_id, v.d, v.subscription_id, v.live, t.currency,
          v.live and coalesce((
            select s.type = 'past_due' and not exists (
                select 1 from se c where c.subscription_id = s.subscription_id and c.type = 'cancel'
                  and (c.date, c.rk, c.rn) > (s.date, s.rk, s.rn) and c.date <= v.d)
            from se s where s.subscription_id = v.subscription_id
              and s.type in ('start', 'past_due', 'payment_recovered') and s.date <= v.d
            order by s.date desc, s.rk desc, s.rn desc limit 1), false) as past_due,
          case when not v.live or t.unit is null then 0::hugeint else
            greatest(0::hugeint,
              cast(t.unit as hugeint) * t.qty * 100000000
              - case when x.duration is null or (x.disc_end is not null and v.d >= x.disc_end) then 0::hugeint
                     when x.pct_micro is not null then cast(t.unit as hugeint) * t.qty * x.pct_micro
                     else cast(coalesce(x.amount_off, 0) as hugeint) * 100000000 end)
            * case t.ivl when 'month' then 332640 // t.ivl_count
                         when 'year' then 27720 // t.ivl_count
                         when 'week' then 27720 * 52 // t.ivl_count
                         when 'day' then 27720 * 365 // t.ivl_count end
          end as mrr
        from live v left join last_terms t using (customer_id, d, subscription_id)
        left join disc x on x.disc_rn = t.disc_rn"""
    )
    # Invoice subscriptions: the state of the latest point on or before each day.
    con.execute(
        """insert into sub_state
        with grid as (
          select p.customer_id, p.d, s.subscription_id
          from points p join (select distinct customer_id, subscription_id from inv_points) s using (customer_id))
        select g.customer_id, g.d, g.subscription_id, coalesce(i.live, false), i.currency, false,
          coalesce(case when i.live then i.mrr end, 0::hugeint)
        from grid g asof left join inv_points i on i.subscription_id = g.subscription_id and g.d >= i.d"""
    )
    bad = con.execute(
        "select count(*) from sub_state where live and (currency is null or mrr is null)"
    ).fetchone()[0]
    assert bad == 0, "a live subscription without full terms"

    # Rate of (currency, month): the latest month <= M; 1 for the reporting currency.
    lo, hi = con.execute(
        "select strftime(min(d), '%Y-%m'), strftime(max(d), '%Y-%m') from points"
    ).fetchone()
    if len(sys.argv) >= 4:
        lo, hi = sys.argv[2], sys.argv[3]
    # Rate of (currency, month) for every month the figures touch: the latest
    # month <= M (1 for the reporting currency), looked up once per month.
    con.execute(
        f"""create table month_rate as
        with span as (
          select least(min(date_trunc('month', d)), date '{lo}-01' - interval 1 month) as a,
                 greatest(max(date_trunc('month', d)), date '{hi}-01') as b from points),
        cur as (select distinct coalesce(currency, '{reporting}') as currency
                from (select currency from se union all select currency from inv_points))
        select cur.currency, r.m::date as m,
          case when cur.currency = '{reporting}' then 1000000000000::hugeint else
            (select f.r12 from fx f where f.currency = cur.currency and f.m <= r.m order by f.m desc limit 1) end as r12
        from cur, span, range(span.a, span.b + interval 1 day, interval 1 month) r(m)"""
    )

    # Customer per day: per-currency MRR, live, positive; movement amount.
    con.execute(
        f"""create table cust_cur as
        select customer_id, d, currency, sum(mrr) as mrr
        from (select customer_id, d, coalesce(currency, '{reporting}') as currency,
                     case when live then mrr else 0 end as mrr from sub_state)
        group by all"""
    )
    con.execute(
        f"""create table cust_day as
        with deltas as (
          select customer_id, d, currency, mrr,
            mrr - coalesce(lag(mrr) over (partition by customer_id, currency order by d), 0) as delta
          from cust_cur),
        conv as (
          select customer_id, d, sum(mrr) as mrr_orig_sum,
            sum(case when delta = 0 then 0::hugeint else delta * r.r12 end) as move
          from deltas join month_rate r on r.currency = deltas.currency and r.m = date_trunc('month', deltas.d)
          group by all),
        flags as (
          select customer_id, d, bool_or(live) as live from sub_state group by all),
        runs as (
          select c.customer_id, c.d, c.move, c.mrr_orig_sum > 0 as pos, f.live,
            sum(case when f.live then 0 else 1 end) over (partition by c.customer_id order by c.d) as run
          from conv c join flags f using (customer_id, d)),
        act as (
          select *, live and bool_or(pos) over (partition by customer_id, run order by d
                                                rows between unbounded preceding and current row) as active
          from runs)
        select *,
          coalesce(lag(active) over (partition by customer_id order by d), false) as prev_active,
          coalesce(bool_or(active) over (partition by customer_id order by d
                     rows between unbounded preceding and 1 preceding), false) as was_active
        from act"""
    )
    con.execute(
        """create table moves as
        select customer_id, d, move,
          case when active and not prev_active then
                 case when was_active then 'reactivation' else 'new_business' end
               when active and prev_active and move > 0 then 'expansion'
               when active and prev_active and move < 0 then 'contraction'
               when not active and prev_active then 'churn' end as kind
        from cust_day"""
    )
    stray = con.execute(
        "select count(*) from moves where kind is null and move <> 0"
    ).fetchone()[0]
    assert stray == 0, "an MRR change outside any movement"

    con.execute(
        f"""create table months as
        select m::date as m, (m + interval 1 month - interval 1 day)::date as last_day
        from range(date '{lo}-01' - interval 1 month, date '{hi}-01' + interval 1 day, interval 1 month) t(m)"""
    )
    # Each customer's state at the end of every month: active (a subscriber) and
    # its MRR converted at the month's rate.
    con.execute(
        """create table at_end as
        select mo.m, c.customer_id, c.active, c.d
        from months mo join cust_day c on c.d <= mo.last_day
        qualify row_number() over (partition by mo.m, c.customer_id order by c.d desc) = 1"""
    )
    con.execute(
        f"""create table cust_mrr as
        select a.m, a.customer_id, a.active,
          coalesce(sum(case when a.active then cc.mrr * r.r12 end), 0::hugeint) as mrr
        from at_end a join cust_cur cc using (customer_id, d)
          join month_rate r on r.currency = cc.currency and r.m = a.m
        group by all"""
    )
    ends = con.execute(
        """select strftime(mo.m, '%Y-%m'),
          (select coalesce(sum(mrr), 0::hugeint) from cust_mrr c where c.m = mo.m),
          (select count(*) from at_end a where a.m = mo.m and a.active),
          (select count(*) from at_end a join sub_state s using (customer_id, d)
            where a.m = mo.m and a.active and s.live),
          (select count(distinct a.customer_id) from at_end a join sub_state s using (customer_id, d)
            where a.m = mo.m and a.active and s.past_due)
        from months mo order by mo.m"""
    ).fetchall()
    mv = con.execute(
        """select strftime(date_trunc('month', d), '%Y-%m'), kind, sum(move), count(distinct customer_id)
        from moves where kind is not null group by all"""
    ).fetchall()
    # Customers churned in M whose New Business was not also in M (SPEC 2.1
    # customer churn rate), and the expansion, contraction and churn of the
    # customers who were subscribers at the end of M - 1 (NRR, GRR).
    churned_for_rate = dict(con.execute(
        """select strftime(date_trunc('month', c.d), '%Y-%m'), count(distinct c.customer_id)
        from moves c where c.kind = 'churn' and not exists (
          select 1 from moves n where n.customer_id = c.customer_id and n.kind = 'new_business'
            and date_trunc('month', n.d) = date_trunc('month', c.d))
        group by 1"""
    ).fetchall())
    kept = {}
    for month, kind, total in con.execute(
        """select strftime(date_trunc('month', x.d), '%Y-%m'), x.kind, sum(x.move)
        from moves x join cust_mrr p on p.customer_id = x.customer_id
          and p.m = date_trunc('month', x.d) - interval 1 month and p.active
        where x.kind in ('expansion', 'contraction', 'churn') group by all"""
    ).fetchall():
        kept.setdefault(month, {})[kind] = int(total)
    # Cohorts: the month of a customer's first New Business; size, value (that
    # New Business), and per month C + k the cohort's subscribers and MRR.
    renewals = {r[0]: r[1:] for r in renewal_rows(con, lo, hi)}
    cohort_rows = con.execute(
        """with first_nb as (
          select customer_id, d, move from moves where kind = 'new_business'
          qualify row_number() over (partition by customer_id order by d) = 1),
        cohort as (
          select date_trunc('month', d)::date as cm, count(*) as size, sum(move) as value
          from first_nb group by 1)
        select strftime(co.cm, '%Y-%m'), co.size, co.value, strftime(c.m, '%Y-%m'),
          count(*) filter (where c.active), coalesce(sum(c.mrr), 0::hugeint)
        from first_nb f join cohort co on co.cm = date_trunc('month', f.d)
          join cust_mrr c on c.customer_id = f.customer_id and c.m >= co.cm
        group by all order by 1, 4"""
    ).fetchall()
    moved = {}
    for month, kind, total, n in mv:
        moved[month] = moved.get(month, 0) + int(total)
    out = {}
    prev = None
    for month, mrr, subscribers, subs_live, past_due in ends:
        if prev is None:
            prev = (int(mrr), int(subscribers))
            continue
        out[month] = {
            "mrr_cents": cents(mrr),
            "arpa_cents": cents(Fraction(int(mrr), int(subscribers))) if subscribers else None,
            "subscribers": int(subscribers),
            "subscribers_start": prev[1],
            "active_subscriptions": int(subs_live),
            "past_due_subscribers": int(past_due),
            "net_new_mrr_cents": cents(moved.get(month, 0)),
            "fx_impact_cents": cents(int(mrr) - prev[0] - moved.get(month, 0)),
            "movements": {
                k: 0
                for k in ["new_business", "expansion", "contraction", "churn", "reactivation"]
            },
            "new_business_customers": 0,
            "reactivated_customers": 0,
            "churned_customers": 0,
            "_start_mrr": prev[0],
        }
        due, renewed, before, after, kept_mrr = renewals.get(month, (0, 0, 0, 0, 0))
        out[month].update({
            "renewals_due": int(due),
            "renewals_renewed": int(renewed),
            "renewals_lapsed": 0,
            "renewals_cancelled": int(due) - int(renewed),
            "renewal_rate": ratio(renewed, due),
            "gross_mrr_renewal_rate": ratio(kept_mrr, before),
            "net_mrr_renewal_rate": ratio(after, before),
        })
        prev = (int(mrr), int(subscribers))
    counts = {"new_business": "new_business_customers", "reactivation": "reactivated_customers",
              "churn": "churned_customers"}
    for month, kind, total, n in mv:
        if month in out:
            out[month]["movements"][kind] = int(total)
            if kind in counts:
                out[month][counts[kind]] = int(n)
    for month, o in out.items():
        mvs = o["movements"]
        start = o.pop("_start_mrr")
        nb, exp, con_, churn, react = (mvs[k] for k in
                                       ["new_business", "expansion", "contraction", "churn", "reactivation"])
        k = kept.get(month, {})
        o["customer_churn_rate"] = ratio(churned_for_rate.get(month, 0), o["subscribers_start"])
        o["gross_mrr_churn_rate"] = ratio(-(churn + con_), start)
        o["net_mrr_churn_rate"] = ratio(-(churn + con_ + exp + react), start)
        o["nrr"] = ratio(start + sum(k.values()), start)
        o["grr"] = ratio(start + k.get("contraction", 0) + k.get("churn", 0), start)
        o["quick_ratio"] = ratio(nb + exp, -(con_ + churn))
        o["quick_ratio_incl_reactivation"] = ratio(nb + exp + react, -(con_ + churn))
        o["movements"] = {kind: cents(v) for kind, v in mvs.items()}
    cohorts = {}
    for cm, size, value, m, active, mrr in cohort_rows:
        if not (lo <= cm <= hi) or m > hi:
            continue
        c = cohorts.setdefault(cm, {"size": int(size), "cohort_value_cents": cents(value),
                                    "customer_retention": [], "net_mrr_retention": []})
        c["customer_retention"].append(ratio(active, size))
        c["net_mrr_retention"].append(ratio(mrr, value))
    print(json.dumps({"from": lo, "to": hi, "months": out, "cohorts": cohorts}, indent=1))


if __name__ == "__main__":
    main()
