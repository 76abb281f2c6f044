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
        Ok(first) => into.push(first),
        Err(_) => return false,
    }
    while into.len() < max {
        match rx.try_recv() {
            Ok(item) => into.push(item),
            Err(_) => break,
        }
    }
    true
}
