//! The customers health reads, packed: every field's text in one string and
//! a few numbers per customer, rebuilt into a [`Customer`] when one is asked
//! for. At 1,000,000 customers the `Customer` rows (ten strings and a JSON
//! map each) and an id map took ~1 GiB of the ~4 GiB health held; packed
//! they take ~0.2 GiB.

use anyhow::{Context, Result, bail};
use arrow::array::{Array, AsArray};
use arrow::datatypes::TimestampMicrosecondType;
use serde_json::{Map, Value};
use tenure_model::Customer;
use tenure_store::Workspace;
use tenure_store::schema::micros_to_ts;

/// The text columns kept, in the order of each customer's spans.
const FIELDS: [&str; 9] = ["id", "name", "email", "company", "country", "segment", "plan_tier", "owner", "attributes"];
const ID: usize = 0;
const ATTRIBUTES: usize = 8;

pub(crate) struct CustomerBook {
    /// Every field's text, customer after customer.
    text: String,
    /// Where each customer's fields end in `text`: customer `i`'s field `f`
    /// is `text[ends[i * 9 + f - 1]..ends[i * 9 + f]]` (the first starts at 0).
    ends: Vec<u32>,
    /// Which fields are not null, a bit per field.
    present: Vec<u16>,
    /// `created_at` in microseconds (`i64::MIN`: none).
    created_us: Vec<i64>,
    /// Customers by id.
    by_id: Vec<u32>,
}

impl CustomerBook {
    pub fn read(ws: &Workspace) -> Result<CustomerBook> {
        let mut book = CustomerBook {
            text: String::new(),
            ends: vec![0],
            present: Vec::new(),
            created_us: Vec::new(),
            by_id: vec![],
        };
        let mut columns = FIELDS.to_vec();
        columns.push("created_at");
        for path in ws.table_paths("customers") {
            for b in tenure_store::read_parquet(&path, Some(&columns))? {
                let text = |name: &str| {
                    b.column_by_name(name)
                        .and_then(|c| c.as_string_opt::<i32>())
                        .with_context(|| format!("{}: no text column `{name}`", path.display()))
                };
                let cols = FIELDS.iter().map(|f| text(f)).collect::<Result<Vec<_>>>()?;
                let created = b
                    .column_by_name("created_at")
                    .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
                    .with_context(|| format!("{}: no timestamp column `created_at`", path.display()))?;
                for i in 0..b.num_rows() {
                    let mut present = 0u16;
                    for (f, col) in cols.iter().enumerate() {
                        if col.is_valid(i) {
                            present |= 1 << f;
                            book.text.push_str(col.value(i));
                        }
                        let Ok(end) = u32::try_from(book.text.len()) else {
                            bail!("the customers' names and attributes exceed 4 GiB of text");
                        };
                        book.ends.push(end);
                    }
                    book.present.push(present);
                    book.created_us.push(if created.is_valid(i) { created.value(i) } else { i64::MIN });
                }
            }
        }
        book.text.shrink_to_fit();
        let mut by_id: Vec<u32> = (0..book.len() as u32).collect();
        by_id.sort_by(|&a, &b| book.field(a as usize, ID).cmp(&book.field(b as usize, ID)));
        book.by_id = by_id;
        Ok(book)
    }

    pub fn len(&self) -> usize {
        self.present.len()
    }

    fn field(&self, i: usize, f: usize) -> Option<&str> {
        let k = i * FIELDS.len() + f;
        (self.present[i] & (1 << f) != 0).then(|| &self.text[self.ends[k] as usize..self.ends[k + 1] as usize])
    }

    /// The customers' ids, in stored order.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).map(|i| self.field(i, ID).unwrap_or_default())
    }

    /// The position of the customer with this id.
    pub fn position(&self, id: &str) -> Option<usize> {
        let found = self.by_id.binary_search_by(|&i| self.field(i as usize, ID).unwrap_or_default().cmp(id));
        found.ok().map(|k| self.by_id[k] as usize)
    }

    /// The customer at `i`, as [`tenure_store::load`] gives it.
    pub fn customer(&self, i: usize) -> Customer {
        let s = |f: usize| self.field(i, f).map(str::to_string);
        let attributes = self.field(i, ATTRIBUTES).map_or_else(Map::new, |t| match serde_json::from_str(t) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        });
        let created = self.created_us[i];
        Customer {
            id: s(ID).unwrap_or_default(),
            name: s(1),
            email: s(2),
            company: s(3),
            country: s(4),
            segment: s(5),
            plan_tier: s(6),
            owner: s(7),
            created_at: (created != i64::MIN).then(|| micros_to_ts(created)),
            attributes,
        }
    }

    /// The customer with this id.
    pub fn get(&self, id: &str) -> Option<Customer> {
        self.position(id).map(|i| self.customer(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{rows, workspace};

    #[test]
    fn every_customer_comes_back_as_stored() {
        let (_dir, mut ws) = workspace();
        let customers: Vec<Customer> = rows(&[
            serde_json::json!({"id": "c2", "name": "Ada", "email": "ada@x.io", "company": "", "segment": "smb",
                               "created_at": "2024-01-01T10:00:00Z", "seats": 12, "region": "EU", "pulse": 3.5}),
            serde_json::json!({"id": "c1"}),
            serde_json::json!({"id": "c10", "country": "FR", "plan_tier": "pro", "owner": "Bo", "vip": true, "note": null}),
        ]);
        {
            let mut w = ws.writer().unwrap();
            w.upsert(&customers).unwrap();
            w.commit().unwrap();
        }
        ws = Workspace::open(ws.root()).unwrap();
        let book = CustomerBook::read(&ws).unwrap();
        let stored = tenure_store::load::<Customer>(&ws).unwrap();
        assert_eq!(book.len(), 3);
        assert_eq!(book.ids().collect::<Vec<_>>(), stored.iter().map(|c| c.id.as_str()).collect::<Vec<_>>());
        for c in &stored {
            assert_eq!(book.get(&c.id).as_ref(), Some(c));
        }
        let ada = book.get("c2").unwrap();
        assert_eq!(
            (ada.name.as_deref(), ada.email.as_deref(), ada.country.as_deref()),
            (Some("Ada"), Some("ada@x.io"), None)
        );
        assert!(ada.created_at.is_some() && book.get("c1").unwrap().created_at.is_none());
        assert_eq!(ada.attributes["seats"], serde_json::json!(12));
        assert_eq!(book.get("c3"), None);
        assert_eq!(book.get(""), None);
    }
}
