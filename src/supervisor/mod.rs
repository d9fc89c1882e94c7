//! The one owner of run state. A supervisor task per run takes its engine's events, applies
//! them through the pure transitions ([`RunState`]), persists each batch, then publishes it
//! and hands the step changes webhooks listen for to delivery.

mod hooks;
mod release;
mod state;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;

use crate::engine::{Control, EngineEvent};
use crate::hub::{Committed, Hub};
use crate::metrics::Metrics;
use crate::notify::Webhooks;
use crate::store::logs::RunLog;
use crate::store::{Store, StoreResult};

pub use hooks::RunHooks;
pub use state::{ReleasePlan, RunState};

/// Most events and lines persisted in one transaction.
const BATCH_MAX: usize = 16 * 1024;
/// Why a run ends when its engine stops reporting before it finished.
const ENGINE_GONE: &str = "the engine stopped reporting on this run";
/// How long a batch gathers events before it is written: the most a live log lags.
const COMMIT_WINDOW: Duration = Duration::from_millis(4);

/// The control channels of the runs in flight, by run id.
#[derive(Default)]
pub struct Controls(Mutex<HashMap<i64, mpsc::Sender<Control>>>);

impl Controls {
    fn map(&self) -> MutexGuard<'_, HashMap<i64, mpsc::Sender<Control>>> {
        // Every operation is one call, so the map stays consistent even after a panic.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn insert(&self, run_id: i64, control: mpsc::Sender<Control>) {
        self.map().insert(run_id, control);
    }

    pub fn get(&self, run_id: i64) -> Option<mpsc::Sender<Control>> {
        self.map().get(&run_id).cloned()
    }

    pub fn all(&self) -> Vec<mpsc::Sender<Control>> {
        self.map().values().cloned().collect()
    }

    fn remove(&self, run_id: i64) {
        self.map().remove(&run_id);
    }
}

/// What supervisors need, shared by all of them.
/// How long the registry has to say which digest a run pushed.
const DIGEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Clone)]
pub struct Supervision {
    store: Store,
    hub: Arc<Hub>,
    webhooks: Webhooks,
    controls: Arc<Controls>,
    tasks: TaskTracker,
    /// Hears of every run that ended on record (its pipeline's queue moves on).
    ended: mpsc::UnboundedSender<i64>,
    metrics: Arc<Metrics>,
}

impl Supervision {
    /// `ended` hears the id of each run that ends on record.
    pub fn new(
        store: Store,
        hub: Arc<Hub>,
        webhooks: Webhooks,
        controls: Arc<Controls>,
        ended: mpsc::UnboundedSender<i64>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Supervision {
            store,
            hub,
            webhooks,
            controls,
            tasks: TaskTracker::new(),
            ended,
            metrics,
        }
    }

    /// Says that a run has ended on record.
    pub fn ended(&self, run_id: i64) {
        let _ = self.ended.send(run_id);
    }

    /// Supervises a run whose engine took it (`control` steers it) until it ends or the
    /// engine lets go of it.
    pub fn spawn(
        &self,
        state: RunState,
        control: mpsc::Sender<Control>,
        events: mpsc::Receiver<EngineEvent>,
    ) {
        self.controls.insert(state.run_id, control);
        let supervision = self.clone();
        self.tasks
            .spawn(async move { supervision.supervise(state, events).await });
    }

    /// Stops taking new supervisors and waits for those running to end.
    pub async fn wait(&self) {
        self.tasks.close();
        self.tasks.wait().await;
    }

    async fn supervise(self, mut state: RunState, mut events: mpsc::Receiver<EngineEvent>) {
        let run_id = state.run_id;
        let mut log = match self.store.open_run_log(run_id).await {
            Ok(log) => log,
            Err(err) => {
                // Without its log the run cannot be recorded: stop it, and end it on record.
                tracing::error!(run = run_id, error = %err, "could not open the run's log; cancelling the run");
                if let Some(control) = self.controls.get(run_id) {
                    let _ = control.send(Control::Cancel).await;
                }
                state.abandon(&format!("could not open the run's log: {err}"));
                state.batch.lines.clear();
                if let Err(err) = self.commit_unstarted(&mut state).await {
                    tracing::error!(run = run_id, error = %err, "could not end the run on record");
                }
                self.controls.remove(run_id);
                self.hub.close(run_id);
                self.ended(run_id);
                return;
            }
        };
        // Followers of a resumed run start from what is on record.
        self.publish(&state, &log, false);
        loop {
            match events.recv().await {
                None => state.abandon(ENGINE_GONE),
                Some(event) => {
                    self.apply(&mut state, event).await;
                    // Group commit: gather what arrives within a short window, so that a
                    // burst of small events costs one transaction instead of one each. The
                    // run's end and a full batch are written at once.
                    let deadline = tokio::time::Instant::now() + COMMIT_WINDOW;
                    while !state.finished && !state.detached && state.batch.len() < BATCH_MAX {
                        let next = match events.try_recv() {
                            Ok(event) => Some(event),
                            Err(mpsc::error::TryRecvError::Disconnected) => None,
                            Err(mpsc::error::TryRecvError::Empty) => tokio::select! {
                                next = events.recv() => next,
                                _ = tokio::time::sleep_until(deadline) => break,
                            },
                        };
                        match next {
                            Some(event) => self.apply(&mut state, event).await,
                            None => {
                                state.abandon(ENGINE_GONE);
                                break;
                            }
                        }
                    }
                }
            }
            if let Err(err) = self.commit(&mut state, &mut log).await {
                // The run cannot be recorded any more; stop it rather than run unrecorded.
                tracing::error!(run = run_id, error = %err, "could not persist run events; cancelling the run");
                if let Some(control) = self.controls.get(run_id) {
                    let _ = control.send(Control::Cancel).await;
                }
            }
            if state.finished || state.detached {
                break;
            }
        }
        self.controls.remove(run_id);
        self.hub.close(run_id);
        if state.finished {
            self.ended(run_id);
            self.pack(run_id);
            self.count_end(run_id).await;
        }
    }

    /// Counts a run that ended, with its steps' durations.
    async fn count_end(&self, run_id: i64) {
        match (self.store.run(run_id).await, self.store.steps(run_id).await) {
            (Ok(Some(run)), Ok(steps)) => self.metrics.run_ended(&run, &steps),
            (Err(err), _) | (_, Err(err)) => {
                tracing::warn!(run = run_id, error = %err, "could not count the run's end");
            }
            (Ok(None), _) => {}
        }
    }

    /// Compresses the log of a run that has ended (its lines no longer grow), in the
    /// background.
    pub fn pack(&self, run_id: i64) {
        let store = self.store.clone();
        self.tasks.spawn(async move {
            if let Err(err) = store.pack_run(run_id).await {
                tracing::warn!(run = run_id, error = %err, "could not compress the run's log");
            }
        });
    }

    fn publish(&self, state: &RunState, log: &RunLog, run_changed: bool) {
        let committed = Committed {
            // Every entry of the batch not yet written took one number.
            seq: state.seq() - state.batch.len() as i64,
            last_event: state.last_event,
            layout: log.layout().clone(),
        };
        self.hub.publish(state.run_id, committed, run_changed);
    }

    /// Folds an engine's event in. Before a run's end, the image it pushed is looked up in
    /// its registry and recorded by digest, and its deploy recorded as a release.
    async fn apply(&self, state: &mut RunState, event: EngineEvent) {
        if event == EngineEvent::Finished {
            self.record_pushed(state).await;
            self.record_release(state).await;
        }
        state.apply(event);
    }

    /// Persists the status changes of a run no engine runs (it never started, or its
    /// supervisor is gone): no log lines, nothing published to followers (they read what
    /// is on record once the run's fan-out closes).
    pub async fn commit_unstarted(&self, state: &mut RunState) -> StoreResult<()> {
        let batch = std::mem::take(&mut state.batch);
        self.store
            .append(&mut RunLog::unopened(state.run_id), &batch)
            .await?;
        if batch.changes_run() {
            self.count_ended(state).await;
            if state.ended() {
                // Never started, refused, cancelled in the queue, settled after a restart:
                // ended all the same, for /metrics too.
                self.count_end(state.run_id).await;
            }
            self.hub.announce(state.run_id);
        }
        self.notify(state);
        Ok(())
    }

    /// Persists what the run gathered, then publishes it; webhooks only hear of changes
    /// that are on record.
    async fn commit(&self, state: &mut RunState, log: &mut RunLog) -> StoreResult<()> {
        let batch = std::mem::take(&mut state.batch);
        if batch.is_empty() {
            return Ok(());
        }
        self.store.append(log, &batch).await?;
        let bytes = batch
            .lines
            .iter()
            .map(|(_, line)| line.text.len() as u64)
            .sum();
        self.metrics.lines(batch.lines.len() as u64, bytes);
        if let Some(last) = batch.events.last() {
            state.last_event = last.seq;
        }
        let run_changed = batch.changes_run();
        if run_changed {
            self.count_ended(state).await;
        }
        self.publish(state, log, run_changed);
        self.notify(state);
        Ok(())
    }

    /// Once a run's end is on record, it joins the dashboard's daily aggregates (before
    /// anyone hears of the end, so whoever reads the panel then finds it counted).
    async fn count_ended(&self, state: &RunState) {
        if !state.ended() {
            return;
        }
        if let Err(err) = self.store.count_ended_runs().await {
            tracing::warn!(run = state.run_id, error = %err, "could not count the run in the dashboard's aggregates");
        }
    }

    fn notify(&self, state: &mut RunState) {
        for change in std::mem::take(&mut state.notices) {
            for notice in state.hooks.notices(state.run_id, change) {
                self.webhooks.notify(notice);
            }
        }
    }
}
