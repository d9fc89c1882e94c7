//! Workflows: a pipeline row plus the workflow's sealed credentials.

use sqlx::Row;

use super::{Store, StoreResult};

impl Store {
    /// A workflow's sealed credentials; `None` when the pipeline is not a workflow.
    pub async fn workflow_credentials(&self, pipeline_id: i64) -> StoreResult<Option<Vec<u8>>> {
        let row = sqlx::query("SELECT credentials FROM workflows WHERE pipeline_id = ?")
            .bind(pipeline_id)
            .fetch_optional(&self.reader)
            .await?;
        row.map(|row| row.try_get("credentials"))
            .transpose()
            .map_err(Into::into)
    }

    /// Whether the pipeline is a workflow (without reading its sealed credentials).
    pub async fn is_workflow(&self, pipeline_id: i64) -> StoreResult<bool> {
        let row = sqlx::query("SELECT 1 FROM workflows WHERE pipeline_id = ?")
            .bind(pipeline_id)
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.is_some())
    }

    /// Names of the pipelines that are workflows.
    pub async fn workflow_names(&self) -> StoreResult<Vec<String>> {
        let rows = sqlx::query("SELECT p.name FROM workflows w JOIN pipelines p ON p.id = w.pipeline_id ORDER BY p.name")
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(|row| Ok(row.try_get("name")?)).collect()
    }
}
