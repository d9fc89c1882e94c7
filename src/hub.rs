//! What followers of a live run need to know: how far its stream is committed (the last
//! sequence number, and each step's log layout at that point). Followers read the lines and
//! events themselves from the store, at their own pace: one that falls behind holds back
//! neither the run nor the others, and nothing is copied per follower here. Besides, one
//! feed of "this run changed status" for live dashboards.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, watch};

use crate::store::logs::Layout;

/// How far a live run is committed.
#[derive(Debug, Default)]
pub struct Committed {
    /// Everything up to this sequence number is in the store.
    pub seq: i64,
    /// The sequence number of the last status event (step or run) in it.
    pub last_event: i64,
    /// Each step's committed log at that point.
    pub layout: Layout,
}

pub type Following = watch::Receiver<Arc<Committed>>;

pub struct Hub {
    runs: Mutex<HashMap<i64, watch::Sender<Arc<Committed>>>>,
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

    fn runs(&self) -> std::sync::MutexGuard<'_, HashMap<i64, watch::Sender<Arc<Committed>>>> {
        // The map stays consistent even if a holder panicked: every operation is one call.
        self.runs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Marks a run live; called before its first event is persisted. Until its supervisor
    /// publishes, followers see nothing committed and wait.
    pub fn open(&self, run_id: i64) {
        self.runs()
            .entry(run_id)
            .or_insert_with(|| watch::channel(Arc::default()).0);
    }

    /// How far the run is committed, as it changes; None when the run is not live.
    pub fn subscribe(&self, run_id: i64) -> Option<Following> {
        self.runs().get(&run_id).map(watch::Sender::subscribe)
    }

    /// Says that the run is committed up to here (`run_changed`: its status changed).
    pub fn publish(&self, run_id: i64, committed: Committed, run_changed: bool) {
        if let Some(sender) = self.runs().get(&run_id) {
            sender.send_replace(Arc::new(committed));
        }
        if run_changed {
            self.announce(run_id);
        }
    }

    /// Ends a run's fan-out; followers see the channel close after the last publication.
    pub fn close(&self, run_id: i64) {
        self.runs().remove(&run_id);
    }
}
