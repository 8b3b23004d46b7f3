//! Validated rows of one entity, on their way into the store.
//!
//! The API validates with the entities' own `from_record` (the function every
//! `tenure import` row goes through) and the import crate's per-entity rules
//! ([`EntityExtras`]): within one request, a repeated id must carry the same
//! values (flattened invoice rows merge), exactly as within one imported file.
//! Across requests a later row replaces an earlier one, like a later import.
//! The compactor uses the same type to turn the log back into entities.

use std::collections::HashMap;

use tenure_import::EntityExtras;
use tenure_model::{
    Cancellation, Cost, Customer, Entity, FieldError, FxRate, Invoice, Order, Plan, Record, SubscriptionEvent,
    SurveyResponse, Ticket, UsageEvent,
};
use tenure_store::{StoreError, Stored, Writer};

/// Rows of one entity collected from one or more requests.
pub trait Rows: Send {
    /// Validate one canonical record and keep it. `request` tells requests
    /// apart (see the module documentation).
    fn push(&mut self, rec: &Record, request: u64) -> Result<(), Vec<FieldError>>;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Write everything kept so far (the caller commits).
    fn write(&mut self, writer: &mut Writer) -> Result<(), StoreError>;
}

/// The rows of `entity` (one of [`tenure_model::ENTITY_NAMES`]), or `None` for an unknown name.
pub fn rows_for(entity: &str) -> Option<Box<dyn Rows>> {
    Some(match entity {
        "customers" => Box::new(Keyed::<Customer>::default()),
        "plans" => Box::new(Keyed::<Plan>::default()),
        "subscription_events" => Box::new(Keyed::<SubscriptionEvent>::default()),
        "invoices" => Box::new(Keyed::<Invoice>::default()),
        "orders" => Box::new(Keyed::<Order>::default()),
        "events" => Box::new(Events::default()),
        "survey_responses" => Box::new(Keyed::<SurveyResponse>::default()),
        "tickets" => Box::new(Keyed::<Ticket>::default()),
        "cancellations" => Box::new(Keyed::<Cancellation>::default()),
        "costs" => Box::new(Keyed::<Cost>::default()),
        "fx_rates" => Box::new(Keyed::<FxRate>::default()),
        _ => return None,
    })
}

struct Keyed<E> {
    rows: Vec<E>,
    /// key -> (index in rows, request, item line)
    at: HashMap<String, (usize, u64, u64)>,
}

impl<E> Default for Keyed<E> {
    fn default() -> Self {
        Keyed { rows: Vec::new(), at: HashMap::new() }
    }
}

impl<E: Stored + EntityExtras + PartialEq + Clone + Send> Rows for Keyed<E> {
    fn push(&mut self, rec: &Record, request: u64) -> Result<(), Vec<FieldError>> {
        let entity = E::from_record(rec)?;
        let key = entity.key();
        match self.at.get(&key).copied() {
            None => {
                self.at.insert(key, (self.rows.len(), request, rec.line));
                self.rows.push(entity);
            }
            Some((i, r, _)) if r != request => {
                // A later request replaces the row; the store's upsert keeps the last one.
                self.rows[i] = entity;
                self.at.insert(key, (i, request, rec.line));
            }
            Some((i, _, first)) => {
                if E::MERGES_ROWS {
                    let mut merged = self.rows[i].clone();
                    merged.merge_row(entity).map_err(|e| vec![e])?;
                    self.rows[i] = merged;
                } else if self.rows[i] != entity {
                    let reason =
                        format!("duplicate {} {key:?} with different values (first at item {first})", E::KEY_FIELD);
                    return Err(vec![FieldError::new(E::KEY_FIELD, reason)]);
                }
            }
        }
        Ok(())
    }

    fn len(&self) -> usize {
        self.rows.len()
    }

    fn write(&mut self, writer: &mut Writer) -> Result<(), StoreError> {
        writer.upsert(&std::mem::take(&mut self.rows))?;
        self.at.clear();
        Ok(())
    }
}

/// Usage events only append; the store drops a `messageId` it already has.
#[derive(Default)]
struct Events {
    rows: Vec<UsageEvent>,
}

impl Rows for Events {
    fn push(&mut self, rec: &Record, _request: u64) -> Result<(), Vec<FieldError>> {
        self.rows.push(UsageEvent::from_record(rec)?);
        Ok(())
    }

    fn len(&self) -> usize {
        self.rows.len()
    }

    fn write(&mut self, writer: &mut Writer) -> Result<(), StoreError> {
        writer.append_events(&std::mem::take(&mut self.rows))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rec(line: u64, v: serde_json::Value) -> Record {
        Record::new(line, v.as_object().unwrap().clone())
    }

    #[test]
    fn a_repeated_id_must_agree_within_a_request_and_replaces_across_requests() {
        let mut rows = rows_for("customers").unwrap();
        rows.push(&rec(0, json!({"id": "c1", "name": "Acme"})), 1).unwrap();
        rows.push(&rec(1, json!({"id": "c1", "name": "Acme"})), 1).unwrap();
        let err = rows.push(&rec(2, json!({"id": "c1", "name": "Acme Inc"})), 1).unwrap_err();
        assert_eq!(err[0].field, "id");
        assert!(err[0].reason.contains("first at item 0"), "{}", err[0].reason);
        rows.push(&rec(0, json!({"id": "c1", "name": "Acme Inc"})), 2).unwrap();
        assert_eq!(rows.len(), 1);
        let err = rows.push(&rec(3, json!({"name": "no id"})), 2).unwrap_err();
        assert_eq!(err[0].field, "id");
    }

    #[test]
    fn flattened_invoice_rows_merge_within_a_request() {
        let mut rows = rows_for("invoices").unwrap();
        let line = |amount: i64| {
            json!({"external_id": "in_1", "customer_id": "c1", "date": "2024-01-01", "currency": "USD",
                "line_items": [{"type": "one_time", "amount_cents": amount}]})
        };
        rows.push(&rec(0, line(100)), 1).unwrap();
        rows.push(&rec(1, line(200)), 1).unwrap();
        assert_eq!(rows.len(), 1);
        assert!(rows_for("accounts").is_none());
        for name in tenure_model::ENTITY_NAMES {
            assert!(rows_for(name).is_some(), "{name}");
        }
    }
}
