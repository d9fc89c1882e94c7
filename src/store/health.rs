//! What readiness and the metrics ask of the store.

use super::{Store, StoreResult};

impl Store {
    /// Whether the database takes writes: a table made in a transaction that is rolled
    /// back, so nothing is left.
    pub async fn check_writable(&self) -> StoreResult<()> {
        let mut tx = self.writer.begin().await?;
        sqlx::query("CREATE TABLE readiness_probe (x)")
            .execute(&mut *tx)
            .await?;
        tx.rollback().await?;
        Ok(())
    }

    /// The migrations this build has that the database has not applied.
    pub async fn missing_migrations(&self) -> StoreResult<Vec<i64>> {
        let applied: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success = 1")
                .fetch_all(&self.reader)
                .await?;
        Ok(sqlx::migrate!("./migrations")
            .iter()
            .map(|migration| migration.version)
            .filter(|version| !applied.contains(version))
            .collect())
    }

    /// Runs waiting for an earlier run of their pipeline.
    pub async fn queued_count(&self) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM runs WHERE status = 'queued'")
                .fetch_one(&self.reader)
                .await?,
        )
    }

    /// Size of the database in bytes (its pages).
    pub async fn database_bytes(&self) -> StoreResult<u64> {
        super::file_bytes(&self.reader).await
    }
}
