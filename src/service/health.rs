//! Whether the server is ready (database writable, migrations applied, engines reachable),
//! and the metrics text with the gauges read at scrape time.

use serde::Serialize;

use super::{Service, ServiceResult};

/// One readiness check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Check {
    fn of(name: impl Into<String>, outcome: Result<(), String>) -> Check {
        Check {
            name: name.into(),
            ok: outcome.is_ok(),
            message: outcome.err(),
        }
    }
}

impl Service {
    /// Every readiness check, failed ones with their reason.
    pub async fn readiness(&self) -> Vec<Check> {
        let writable = self
            .store
            .check_writable()
            .await
            .map_err(|err| format!("the database takes no writes: {err:?}"));
        let migrations = match self.store.missing_migrations().await {
            Ok(missing) if missing.is_empty() => Ok(()),
            Ok(missing) => Err(format!("migrations not applied: {missing:?}")),
            Err(err) => Err(format!("cannot read the applied migrations: {err:?}")),
        };
        let mut checks = vec![
            Check::of("database", writable),
            Check::of("migrations", migrations),
        ];
        for engine in self.engines.iter() {
            let name = format!("engine {}", engine.kind().as_str());
            checks.push(Check::of(name, engine.ready().await));
        }
        checks
    }

    /// The metrics in the OpenMetrics text format.
    pub async fn metrics_text(&self) -> ServiceResult<String> {
        let queued = self.store.queued_count().await?;
        let database = self.store.database_bytes().await?;
        let index = self.store.search_index().size().await?;
        Ok(self.metrics.render(queued, database, index))
    }
}
