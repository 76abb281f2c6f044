//! A pipeline stage: one named thread draining a bounded queue. Stopping closes the queue, lets
//! the thread finish what it holds, and waits for it.

use crossbeam_channel::{Receiver, Sender, TrySendError};
use std::sync::Mutex;
use std::thread::JoinHandle;

pub(super) struct Stage<T> {
    tx: Mutex<Option<Sender<T>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl<T: Send + 'static> Stage<T> {
    /// A stage whose queue holds at most `bound` items (at least one).
    pub fn spawn(name: &str, bound: usize, run: impl FnOnce(Receiver<T>) + Send + 'static) -> Self {
        let (tx, rx) = crossbeam_channel::bounded::<T>(bound.max(1));
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || run(rx))
            .unwrap_or_else(|e| panic!("cannot start the {name} thread: {e}"));
        Stage {
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        }
    }

    fn sender(&self) -> Option<Sender<T>> {
        self.tx.lock().expect("stage lock").clone()
    }

    /// Queue `item`, waiting while the queue is full; gives it back if the stage has stopped.
    pub fn send(&self, item: T) -> Result<(), T> {
        match self.sender() {
            Some(tx) => tx.send(item).map_err(|e| e.into_inner()),
            None => Err(item),
        }
    }

    /// Queue `item` if there is room now; else give it back, saying whether the queue was full
    /// (`Full`) or the stage stopped (`Stopped`).
    pub fn try_send(&self, item: T) -> Result<(), (T, Refused)> {
        match self.sender() {
            Some(tx) => tx.try_send(item).map_err(|e| match e {
                TrySendError::Full(item) => (item, Refused::Full),
                TrySendError::Disconnected(item) => (item, Refused::Stopped),
            }),
            None => Err((item, Refused::Stopped)),
        }
    }

    pub fn stop(&self) {
        self.tx.lock().expect("stage lock").take();
        if let Some(t) = self.thread.lock().expect("stage lock").take() {
            let _ = t.join();
        }
    }
}

impl<T> Drop for Stage<T> {
    fn drop(&mut self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        if let Some(t) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = t.join();
        }
    }
}

/// Why a stage did not take an item.
pub(super) enum Refused {
    Full,
    Stopped,
}

/// Block for the first item, then take whatever else is already waiting, up to `max` in all.
pub(super) fn drain<T>(rx: &Receiver<T>, max: usize, into: &mut Vec<T>) -> bool {
    match rx.recv() {
        Ok(first) => gather(first, rx, max, into),
        Err(_) => return false,
    }
    true
}

/// Take `first` (already received), then whatever else is already waiting, up to `max` in all.
pub(super) fn gather<T>(first: T, rx: &Receiver<T>, max: usize, into: &mut Vec<T>) {
    into.push(first);
    while into.len() < max {
        match rx.try_recv() {
            Ok(item) => into.push(item),
            Err(_) => break,
        }
    }
}

/// How much lower [`beside_the_serial_stage`] sets a thread's priority (a nice increment).
const BESIDE_THE_SERIAL_STAGE: i32 = 10;

/// Lower the calling thread's priority (nice +10, Linux only) for the rest of its life: for
/// the threads that work beside the one thread every other waits for (the sequencer, an
/// audit's checker), checking signatures, reading or handing on. On 2 cores, three runnable
/// threads get two thirds of a core each; the serial thread, at a higher priority, keeps its
/// core, and the others take what it leaves. Threads started from this one inherit the
/// priority.
pub(super) fn beside_the_serial_stage() {
    #[cfg(target_os = "linux")]
    // SAFETY: nice() changes only the calling thread's scheduling priority (on Linux it is a
    // per-thread attribute); a failure leaves it as it was, which is harmless.
    unsafe {
        libc::nice(BESIDE_THE_SERIAL_STAGE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checking threads yield to the serial stage, not the serial stage to them: the
    /// priority is lowered for the thread that asks (and the threads it starts), never for the
    /// process, whose sequencer would then lose its core with them.
    #[cfg(target_os = "linux")]
    #[test]
    fn only_the_thread_that_asks_runs_at_a_lower_priority() {
        // getpriority(PRIO_PROCESS, 0) is the calling thread's nice value on Linux.
        fn nice() -> i32 {
            unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }
        }
        let serial = nice();
        let (worker, started_by_it) = std::thread::spawn(|| {
            beside_the_serial_stage();
            (nice(), std::thread::spawn(nice).join().expect("thread"))
        })
        .join()
        .expect("thread");
        assert_eq!(worker, (serial + BESIDE_THE_SERIAL_STAGE).min(19));
        assert_eq!(started_by_it, worker);
        assert_eq!(nice(), serial, "the calling thread's priority changed");
        assert_eq!(
            std::thread::spawn(nice).join().expect("thread"),
            serial,
            "a thread started afterwards by the serial stage"
        );
    }
}
