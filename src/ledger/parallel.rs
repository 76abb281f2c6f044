//! Data parallelism over this machine's cores with scoped threads (pure computation, no I/O).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// This machine's cores (1 if it cannot tell), asked once: the standard library opens and
/// reads the cgroup's quota files at each call, and the intake asked at each round (over
/// HTTP with `wrk`, a seventh of what the server did besides verifying).
pub fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Apply `f` to consecutive chunks of `items` on every core, and return the results in the
/// order of `items`. The chunks are small (`min_chunk` long, or a sixteenth of a core's share
/// if that is longer) and each core takes the next one as soon as it is done: a core slowed
/// by other work (the sequencer, the server) takes fewer, instead of the others waiting at
/// the end for its half. The calling thread is one of the workers.
pub fn par_chunks<T: Sync, R: Send>(
    items: &[T],
    min_chunk: usize,
    f: impl Fn(&[T]) -> Vec<R> + Sync,
) -> Vec<R> {
    let threads = cores();
    let chunk = (items.len() / (threads * 16)).max(min_chunk).max(1);
    if threads == 1 || items.len() <= chunk {
        return f(items);
    }
    let parts: Vec<&[T]> = items.chunks(chunk).collect();
    let done: Vec<Mutex<Vec<R>>> = parts.iter().map(|_| Mutex::new(Vec::new())).collect();
    let next = AtomicUsize::new(0);
    let work = || loop {
        let k = next.fetch_add(1, Ordering::Relaxed);
        let Some(part) = parts.get(k) else { break };
        *done[k].lock().expect("result lock") = f(part);
    };
    std::thread::scope(|s| {
        for _ in 1..threads.min(parts.len()) {
            s.spawn(work);
        }
        work();
    });
    done.into_iter()
        .flat_map(|m| m.into_inner().expect("result lock"))
        .collect()
}

/// [`par_chunks`] over owned items: each is moved into `f` on whichever core takes it, and
/// the results come back in the order of `items`.
pub fn par_map_owned<T: Send, R: Send>(
    items: Vec<T>,
    min_chunk: usize,
    f: impl Fn(T) -> R + Sync,
) -> Vec<R> {
    let slots: Vec<Mutex<Option<T>>> = items.into_iter().map(|t| Mutex::new(Some(t))).collect();
    par_chunks(&slots, min_chunk, |part| {
        part.iter()
            .map(|slot| f(slot.lock().expect("item lock").take().expect("taken once")))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In order, each item once, whatever the chunking, and the same as one call over all.
    #[test]
    fn results_come_back_in_the_order_of_the_items() {
        let items: Vec<u64> = (0..10_007).collect();
        for min in [1, 16, 64, 5_000, 20_000] {
            let got = par_chunks(&items, min, |part| part.iter().map(|i| i * 3).collect());
            assert_eq!(
                got,
                items.iter().map(|i| i * 3).collect::<Vec<_>>(),
                "chunks of {min}"
            );
        }
        assert!(par_chunks(&items[..0], 16, |p| p.to_vec()).is_empty());
        let owned: Vec<String> = items.iter().map(u64::to_string).collect();
        let got = par_map_owned(owned.clone(), 16, |s| s + "!");
        assert_eq!(
            got,
            owned.iter().map(|s| format!("{s}!")).collect::<Vec<_>>()
        );
    }
}
