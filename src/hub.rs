//! Fan-out of a live run's events to its followers. Bounded: a follower that falls behind
//! is told it lagged and catches up from the store, so nothing is lost and nobody blocks
//! the supervisor. Besides, one feed of "this run changed status" for live dashboards.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use conveyor_core::run::{Event, EventBody};
use tokio::sync::broadcast;

const CAPACITY: usize = 4096;

pub struct Hub {
    runs: Mutex<HashMap<i64, broadcast::Sender<Arc<Event>>>>,
    /// Ids of runs whose status changed; `None` once the server is shutting down.
    changes: Mutex<Option<broadcast::Sender<i64>>>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub {
            runs: Mutex::default(),
            changes: Mutex::new(Some(broadcast::channel(1024).0)),
        }
    }
}

impl Hub {
    fn changes(&self) -> std::sync::MutexGuard<'_, Option<broadcast::Sender<i64>>> {
        self.changes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Tells dashboards that a run was created or changed status (it is on record).
    pub fn announce(&self, run_id: i64) {
        if let Some(sender) = self.changes().as_ref() {
            let _ = sender.send(run_id);
        }
    }

    /// Run ids announced from now on; `None` while shutting down.
    pub fn watch_changes(&self) -> Option<broadcast::Receiver<i64>> {
        self.changes().as_ref().map(broadcast::Sender::subscribe)
    }

    /// Ends every dashboard feed (at shutdown).
    pub fn close_changes(&self) {
        self.changes().take();
    }

    fn runs(&self) -> std::sync::MutexGuard<'_, HashMap<i64, broadcast::Sender<Arc<Event>>>> {
        // The map stays consistent even if a holder panicked: every operation is one call.
        self.runs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Marks a run live; called before its first event is persisted.
    pub fn open(&self, run_id: i64) {
        self.runs()
            .entry(run_id)
            .or_insert_with(|| broadcast::channel(CAPACITY).0);
    }

    /// A receiver of events published from now on, or None when the run is not live.
    pub fn subscribe(&self, run_id: i64) -> Option<broadcast::Receiver<Arc<Event>>> {
        self.runs().get(&run_id).map(|sender| sender.subscribe())
    }

    /// Publishes events already persisted.
    pub fn publish(&self, run_id: i64, events: impl IntoIterator<Item = Event>) {
        let mut changed = false;
        if let Some(sender) = self.runs().get(&run_id) {
            for event in events {
                changed |= matches!(event.body, EventBody::Run { .. });
                // No receivers is fine: nobody is watching.
                let _ = sender.send(Arc::new(event));
            }
        }
        if changed {
            self.announce(run_id);
        }
    }

    /// Ends a run's fan-out; receivers see the channel close after the last event.
    pub fn close(&self, run_id: i64) {
        self.runs().remove(&run_id);
    }
}
