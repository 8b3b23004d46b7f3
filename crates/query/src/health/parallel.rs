//! Scoring every account on every core: the accounts are scored a chunk at a
//! time, each chunk shared out between the cores ([`par_map`]) and its results
//! handed out in order, so that one chunk's rows are all that is held (never
//! a million accounts'); and `tenure health --json`'s rows are serialised by
//! the thread that computed them (on one core, writing the rows took about as
//! long as computing them).

use anyhow::Result;
use serde_json::Value;
use serde_json::value::RawValue;
use tenure_model::par_map;

/// How many accounts are scored at a time: enough to keep every core busy
/// (a tenth of a second of work), few enough that one chunk's rows are
/// little next to the loaded data (2048 rows as `serde_json::Value`s held
/// for the table, 4096 raised its peak by 28 MB at 100,000 customers).
pub(super) const ACCOUNTS_AT_ONCE: usize = 2048;

/// `f` of each item in order, computed [`ACCOUNTS_AT_ONCE`] at a time on
/// every core as the results are asked for.
pub(super) fn par_chunks<'a, T: Sync, R: Send + 'a>(
    items: &'a [T],
    f: impl Fn(&T) -> R + Sync + 'a,
) -> impl Iterator<Item = R> + 'a {
    items.chunks(ACCOUNTS_AT_ONCE).flat_map(move |chunk| par_map(chunk, &f))
}

/// A row of the document's `accounts` as the pretty document holds it: two
/// levels deep, so every line after its first is indented 4 more spaces (a
/// line break inside a JSON string is always escaped, so every one in the
/// text is layout). Written as it is by `serde_json`'s pretty serialiser.
pub(super) fn nested_row(row: &Value) -> Result<Box<RawValue>> {
    let mut text = Vec::with_capacity(4096);
    serde_json::to_writer_pretty(&mut text, row)?;
    Ok(RawValue::from_string(String::from_utf8(text)?.replace('\n', "\n    "))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::{HealthQuery, HealthReport, health_doc};
    use serde_json::json;
    use tenure_model::Customer;
    use tenure_store::Workspace;

    #[test]
    fn chunks_on_every_core_keep_the_order() {
        // Three chunks, the last one short.
        let items: Vec<u64> = (0..2 * ACCOUNTS_AT_ONCE as u64 + 700).collect();
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let got: Vec<u64> = par_chunks(&items, |x| {
            calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            x * x + 1
        })
        .collect();
        assert_eq!(got, items.iter().map(|x| x * x + 1).collect::<Vec<_>>());
        assert_eq!(calls.into_inner(), items.len(), "each item once");
        assert_eq!(par_chunks(&[] as &[u64], |x| *x).count(), 0);
        // Only what is asked for is computed: the first chunk.
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let first: Vec<u64> = par_chunks(&items, |x| {
            calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            *x
        })
        .take(3)
        .collect();
        assert_eq!((first, calls.into_inner()), (vec![0, 1, 2], ACCOUNTS_AT_ONCE));
    }

    #[test]
    fn nested_rows_are_the_pretty_document_byte_for_byte() {
        let rows = [
            json!({"account": "a\nb \"q\"", "score": 61.25, "groups": {"x": null, "y": [1, {"z": []}]}, "e": {}}),
            json!({"account": "c", "measures": [], "top_mover": {"value": -0.5, "inputs": {"k": "v"}}}),
        ];
        let doc = json!({"metric": "health", "accounts": rows, "after": {"n": 1}});
        let nested: Vec<Box<RawValue>> = rows.iter().map(|r| nested_row(r).unwrap()).collect();
        let streamed = json!({"metric": "health", "accounts": nested, "after": {"n": 1}});
        assert_eq!(serde_json::to_string_pretty(&streamed).unwrap(), serde_json::to_string_pretty(&doc).unwrap());
    }

    /// More accounts than a chunk, scored with ties (shared ranks) and
    /// missing inputs, on every core and one at a time.
    #[test]
    fn rows_on_every_core_are_the_rows_one_at_a_time() {
        let (_dir, w) = crate::testing::workspace();
        let root = w.root().to_path_buf();
        let settings = "[health]\n[[health.groups]]\nname = \"pulse\"\nweight = 3\n  [[health.groups.measures]]\n  \
                        input = \"csm_pulse\"\n  identity = true\n[[health.groups]]\nname = \"plan\"\nweight = 1\n  \
                        [[health.groups.measures]]\n  input = \"plan_tier\"\n  tiers = { enterprise = 100, starter = 20 }\n";
        std::fs::write(root.join(tenure_store::SETTINGS_FILE), settings).unwrap();
        let n = ACCOUNTS_AT_ONCE + 1500;
        let customers: Vec<Value> = (0..n)
            .map(|i| {
                let mut v = json!({"id": format!("c{i:05}"), "name": format!("Customer {i}")});
                if i % 7 != 0 {
                    v["csm_pulse"] = json!((i * 37) % 101);
                }
                if i % 3 != 0 {
                    v["plan_tier"] = json!(if i % 2 == 0 { "enterprise" } else { "starter" });
                }
                v
            })
            .collect();
        let customers: Vec<Customer> = crate::testing::rows(&customers);
        let mut w = Workspace::open(&root).unwrap();
        {
            let mut wr = w.writer().unwrap();
            wr.upsert(&customers).unwrap();
            wr.commit().unwrap();
        }
        w = Workspace::open(&root).unwrap();
        let report = HealthReport::new(&w, &HealthQuery::default()).unwrap();
        let rows: Vec<Value> = report.rows().collect::<Result<_>>().unwrap();
        assert_eq!(rows.len(), n);
        let now = report.data.day(&report.card, report.as_of).unwrap();
        let then = report.data.day(&report.card, report.look_back).unwrap();
        let one_at_a_time: Vec<Value> =
            report.order.iter().map(|(rank, a)| report.row(&now, &then, a, *rank).unwrap()).collect();
        assert_eq!(rows, one_at_a_time);
        assert_eq!(rows[0]["rank"], 1);
        assert!(rows.windows(2).all(|w| w[0]["overall_score"].as_f64() >= w[1]["overall_score"].as_f64()));
        // What `tenure health --json` writes is the whole document, pretty.
        let streamed = report.streamed().unwrap();
        let mut written = Vec::new();
        streamed.finish(serde_json::to_writer_pretty(&mut written, &streamed)).unwrap();
        let doc = health_doc(&w, &HealthQuery::default()).unwrap();
        assert_eq!(String::from_utf8(written).unwrap(), serde_json::to_string_pretty(&doc).unwrap());
    }
}
