//! What every metric group filters by: a half-open date range in the
//! workspace time zone, and a customer attribute to cut by (segments).

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, Result, bail};
use clap::Args;
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde_json::{Value, json};
use tenure_model::Customer;
use tenure_store::Workspace;

/// Filters shared by the survey, support and order metrics.
#[derive(Args, Clone, Debug, Default)]
pub struct Filter {
    /// First day included (YYYY-MM-DD, workspace time zone).
    #[arg(long, value_name = "DATE")]
    pub from: Option<Date>,
    /// First day excluded (YYYY-MM-DD, exclusive end).
    #[arg(long, value_name = "DATE")]
    pub to: Option<Date>,
    /// Also cut by this customer attribute (segment, plan_tier, country, owner, or any extra attribute).
    #[arg(long, value_name = "ATTR")]
    pub segment: Option<String>,
}

impl Filter {
    /// `--to` must come after `--from` (the end is exclusive).
    pub fn check(&self) -> Result<()> {
        if let (Some(a), Some(b)) = (self.from, self.to)
            && b <= a
        {
            bail!("--to {b} must be after --from {a} (the end is exclusive)");
        }
        Ok(())
    }
}

/// A half-open instant range from the date filters.
pub struct Period {
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

impl Period {
    pub fn new(ws: &Workspace, f: &Filter) -> Result<(Period, TimeZone)> {
        let tzname = &ws.settings().workspace.timezone;
        let tz = TimeZone::get(tzname).with_context(|| format!("time zone {tzname}"))?;
        f.check()?;
        let at = |d: Date| -> Result<Timestamp> { Ok(d.to_zoned(tz.clone())?.timestamp()) };
        Ok((Period { from: f.from.map(at).transpose()?, to: f.to.map(at).transpose()? }, tz))
    }

    pub fn is_all(&self) -> bool {
        self.from.is_none() && self.to.is_none()
    }

    /// Whether an instant is in the period; an absent instant only when the
    /// period is unbounded.
    pub fn contains(&self, t: Option<Timestamp>) -> bool {
        match t {
            None => self.is_all(),
            Some(t) => self.from.is_none_or(|a| t >= a) && self.to.is_none_or(|b| t < b),
        }
    }

    pub fn to_json(&self) -> Value {
        json!({"from": self.from.map(|t| t.to_string()), "to": self.to.map(|t| t.to_string())})
    }
}

/// A customer attribute's value as text: the named fields first, then the
/// extra attributes.
pub fn attribute(c: &Customer, attr: &str) -> Option<String> {
    let named = match attr {
        "id" => Some(c.id.clone()),
        "name" => c.name.clone(),
        "email" => c.email.clone(),
        "company" => c.company.clone(),
        "country" => c.country.clone(),
        "segment" => c.segment.clone(),
        "plan_tier" => c.plan_tier.clone(),
        "owner" => c.owner.clone(),
        _ => None,
    };
    named.or_else(|| match c.attributes.get(attr)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        v => Some(v.to_string()),
    })
}

/// The segment of customers without the attribute.
pub const NONE: &str = "(none)";

/// The segment value of each customer id (`(none)` when absent).
pub fn segments_of(ws: &Workspace, attr: &str) -> Result<HashMap<String, String>> {
    let customers = tenure_store::load::<Customer>(ws)?;
    Ok(customers.iter().map(|c| (c.id.clone(), attribute(c, attr).unwrap_or_else(|| NONE.into()))).collect())
}

/// Group items by the segment of their customer id.
pub fn group_by_segment<'a, T>(
    items: &[&'a T],
    customer: impl Fn(&T) -> Option<&str>,
    seg: &HashMap<String, String>,
) -> BTreeMap<String, Vec<&'a T>> {
    let mut out: BTreeMap<String, Vec<&T>> = BTreeMap::new();
    for it in items {
        let s = customer(it).and_then(|c| seg.get(c)).cloned().unwrap_or_else(|| NONE.into());
        out.entry(s).or_default().push(*it);
    }
    out
}

/// Merge an object's keys into another (a non-object goes under `variants`).
pub fn merge(into: &mut Value, from: Value) {
    match (into.as_object_mut(), from) {
        (Some(o), Value::Object(m)) => o.extend(m),
        (Some(o), v) => {
            o.insert("variants".into(), v);
        }
        _ => {}
    }
}
