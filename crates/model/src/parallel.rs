//! Work on every core: the machine's core count, looked up once, and an
//! ordered map over items that shares the items out as the cores free up.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The machine's cores, looked up once: `available_parallelism` reads the
/// cgroup files on every call (about 20 system calls, 0.1-0.4 ms here).
pub fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |t| t.get()))
}

/// `f` of every item, on every core; the results in the items' order.
///
/// Items are handed out in small chunks from a shared counter (about 16 per
/// core), so that items of very different cost keep every core busy to the
/// end: a day file of 10 events beside one of 200,000 at import, a customer
/// with 3 subscriptions beside one with 300 in the revenue ledger. Even
/// chunks decided up front left one core idle while the other finished.
/// A panic in `f` is raised again on the calling thread.
pub fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let n = items.len();
    let workers = cores().min(n);
    if workers < 2 {
        return items.iter().map(f).collect();
    }
    let chunk = (n / (workers * 16)).max(1);
    let chunks = n.div_ceil(chunk);
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let c = next.fetch_add(1, Ordering::Relaxed);
            if c >= chunks {
                return done;
            }
            let part = &items[c * chunk..((c + 1) * chunk).min(n)];
            done.push((c, part.iter().map(&f).collect::<Vec<R>>()));
        }
    };
    let mut parts: Vec<Option<Vec<R>>> = std::iter::repeat_with(|| None).take(chunks).collect();
    std::thread::scope(|s| {
        let others: Vec<_> = (1..workers).map(|_| s.spawn(work)).collect();
        let mine = work();
        let theirs = others.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        for (c, results) in std::iter::once(mine).chain(theirs).flatten() {
            parts[c] = Some(results);
        }
    });
    let mut out = Vec::with_capacity(n);
    for p in parts {
        out.extend(p.expect("every chunk was done"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_in_the_items_order_whatever_their_cost() {
        for n in [0usize, 1, 2, 3, 31, 32, 33, 1000, 12_345] {
            let items: Vec<u64> = (0..n as u64).collect();
            // Uneven work: every seventh item is far slower than the others.
            let got = par_map(&items, |&i| {
                if i % 7 == 0 {
                    std::thread::sleep(std::time::Duration::from_micros(50));
                }
                i * i + 1
            });
            assert_eq!(got, items.iter().map(|i| i * i + 1).collect::<Vec<_>>(), "n = {n}");
        }
    }

    #[test]
    fn both_cores_take_items_when_there_are_two() {
        if cores() < 2 {
            return;
        }
        let items: Vec<u32> = (0..64).collect();
        let threads = par_map(&items, |_| {
            std::thread::sleep(std::time::Duration::from_millis(2));
            std::thread::current().id()
        });
        let distinct: std::collections::HashSet<_> = threads.into_iter().collect();
        assert!(distinct.len() >= 2, "work spread over {} thread(s)", distinct.len());
    }

    #[test]
    #[should_panic(expected = "item 40")]
    fn a_panic_reaches_the_caller() {
        let items: Vec<u32> = (0..100).collect();
        par_map(&items, |&i| if i == 40 { panic!("item {i}") } else { i });
    }
}
