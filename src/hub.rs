//! Fan-out of a live run's events to its followers. Bounded: a follower that falls behind
//! is told it lagged and catches up from the store, so nothing is lost and nobody blocks
//! the supervisor.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use app::model::RunEvent;
use tokio::sync::broadcast;

const CAPACITY: usize = 4096;

#[derive(Default)]
pub struct Hub {
    runs: Mutex<HashMap<i64, broadcast::Sender<Arc<RunEvent>>>>,
}

impl Hub {
    fn runs(&self) -> std::sync::MutexGuard<'_, HashMap<i64, broadcast::Sender<Arc<RunEvent>>>> {
        // The map stays consistent even if a holder panicked: every operation is one call.
        self.runs.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Marks a run live; called before its first event is persisted.
    pub fn open(&self, run_id: i64) {
        self.runs().entry(run_id).or_insert_with(|| broadcast::channel(CAPACITY).0);
    }

    /// A receiver of events published from now on, or None when the run is not live.
    pub fn subscribe(&self, run_id: i64) -> Option<broadcast::Receiver<Arc<RunEvent>>> {
        self.runs().get(&run_id).map(|sender| sender.subscribe())
    }

    /// Publishes events already persisted.
    pub fn publish(&self, run_id: i64, events: impl IntoIterator<Item = RunEvent>) {
        if let Some(sender) = self.runs().get(&run_id) {
            for event in events {
                // No receivers is fine: nobody is watching.
                let _ = sender.send(Arc::new(event));
            }
        }
    }

    /// Ends a run's fan-out; receivers see the channel close after the last event.
    pub fn close(&self, run_id: i64) {
        self.runs().remove(&run_id);
    }
}
