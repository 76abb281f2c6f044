//! A pipeline stage: one named thread draining a queue. Stopping closes the queue, lets the
//! thread finish what it holds, and waits for it.

use crossbeam_channel::{Receiver, Sender};
use std::sync::Mutex;
use std::thread::JoinHandle;

pub(super) struct Stage<T> {
    tx: Mutex<Option<Sender<T>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl<T: Send + 'static> Stage<T> {
    pub fn spawn(name: &str, run: impl FnOnce(Receiver<T>) + Send + 'static) -> Self {
        let (tx, rx) = crossbeam_channel::unbounded::<T>();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || run(rx))
            .unwrap_or_else(|e| panic!("cannot start the {name} thread: {e}"));
        Stage {
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        }
    }

    /// Queue `item`; gives it back if the stage has stopped.
    pub fn send(&self, item: T) -> Result<(), T> {
        let tx = self.tx.lock().expect("stage lock").clone();
        match tx {
            Some(tx) => tx.send(item).map_err(|e| e.into_inner()),
            None => Err(item),
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
