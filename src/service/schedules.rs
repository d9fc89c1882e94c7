//! Schedules: at each minute the scheduler asks every scheduled pipeline which of its slots
//! is due, takes it (once, across restarts) and starts a run with trigger `schedule`. A slot
//! missed while the server was down runs once when it is back, unless `catch_up: false`.
//! The time is always given, so tests drive a clock of their own.

use std::sync::{Arc, Weak};

use chrono::{DateTime, TimeZone, Utc};
use conveyor_core::definition::Pipeline;
use conveyor_core::run::{Start, Trigger};

use super::{stored, Service, ServiceResult};
use crate::triggers::schedule::{due, upcoming};

impl Service {
    /// Starts the runs the schedules ask for at `now`; their ids. One pipeline that cannot
    /// be read does not hold the others back.
    pub async fn tick_schedules(self: &Arc<Self>, now: DateTime<Utc>) -> ServiceResult<Vec<i64>> {
        let mut started = Vec::new();
        for name in self.store.scheduled_pipelines().await? {
            if self.stopping.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
            match self.tick_pipeline(&name, now).await {
                Ok(runs) => started.extend(runs),
                Err(err) => {
                    tracing::error!(pipeline = %name, error = %err, "could not tick its schedules")
                }
            }
        }
        Ok(started)
    }

    async fn tick_pipeline(
        self: &Arc<Self>,
        name: &str,
        now: DateTime<Utc>,
    ) -> ServiceResult<Vec<i64>> {
        let mut started = Vec::new();
        // One pipeline's schedules, each slot taken before its run starts.
        {
            let (row, version) = self.pipeline_row(name).await?;
            let (pipeline, _) = stored(&version)?;
            let schedules = pipeline.on.map(|on| on.schedule).unwrap_or_default();
            for schedule in schedules {
                let key = schedule.key();
                // A schedule is due from the version that made it, never before.
                let since = match self.store.last_slot(row.id, &key).await? {
                    Some(slot) => slot,
                    None => version.created_at,
                };
                let since = Utc.timestamp_millis_opt(since).single().unwrap_or(now);
                let Some((slot, late)) = due(&schedule, since, now) else {
                    continue;
                };
                if !self
                    .store
                    .take_slot(row.id, &key, slot.timestamp_millis())
                    .await?
                {
                    continue;
                }
                if late && schedule.catch_up == Some(false) {
                    tracing::info!(pipeline = %name, slot = %slot, "skipped a slot missed while the server was down (catch_up: false)");
                    continue;
                }
                let tag = format!("scheduled-{}", slot.format("%Y%m%d%H%M"));
                let start = Start {
                    trigger: Trigger::Schedule,
                    by: None,
                    commit: None,
                };
                match self.start_run(name, &tag, Default::default(), start).await {
                    Ok(run) => started.push(run.id),
                    Err(err) => {
                        tracing::warn!(pipeline = %name, slot = %slot, error = %err, "a scheduled run could not start")
                    }
                }
            }
        }
        Ok(started)
    }

    /// The pipeline's next `count` scheduled times (Unix milliseconds), soonest first.
    pub(super) fn upcoming_runs(&self, pipeline: &Pipeline, count: usize) -> Vec<i64> {
        let now = Utc::now();
        let Some(on) = &pipeline.on else {
            return Vec::new();
        };
        let mut times: Vec<i64> = on
            .schedule
            .iter()
            .flat_map(|schedule| upcoming(schedule, now, count))
            .map(|time| time.timestamp_millis())
            .collect();
        times.sort_unstable();
        times.dedup();
        times.truncate(count);
        times
    }

    /// Ticks the schedules at every minute of the real clock, from now on (and at once, for
    /// slots missed while the server was down), for as long as the service lives.
    pub fn keep_schedules(self: &Arc<Self>) {
        let service: Weak<Service> = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(live) = service.upgrade() else {
                    break;
                };
                if live.stopping.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                if let Err(err) = live.tick_schedules(Utc::now()).await {
                    tracing::error!(error = %err, "the scheduler could not tick");
                }
                drop(live);
                // Wake just after the next minute starts.
                let now = Utc::now();
                let into_minute = now.timestamp_millis().rem_euclid(60_000);
                let wait = 60_000 - into_minute + 200;
                tokio::time::sleep(std::time::Duration::from_millis(wait as u64)).await;
            }
        });
    }
}
