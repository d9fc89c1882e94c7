//! The dashboard's panel: a window of days over one pipeline or all.

use conveyor_core::stats::Stats;

use super::{Service, ServiceResult};
use crate::store::now_ms;

impl Service {
    /// The panel over the last `days` UTC days (today included), of `pipeline` or of all.
    pub async fn stats(&self, pipeline: Option<&str>, days: u32) -> ServiceResult<Stats> {
        let pipeline_id = match pipeline {
            Some(name) => Some(self.pipeline_row(name).await?.0.id),
            None => None,
        };
        Ok(self.store.stats(pipeline_id, days, now_ms()).await?)
    }
}
