//! Sealed secrets, by scope (`''`: global; else a pipeline's name) and name.

use sqlx::Row;

use super::{now_ms, Store, StoreResult};

/// A secret as listed: never its value.
#[derive(Debug, Clone, PartialEq)]
pub struct SecretRow {
    pub scope: String,
    pub name: String,
    pub updated_at: i64,
    pub updated_by: Option<String>,
}

impl Store {
    /// Creates or replaces a secret.
    pub async fn set_secret(
        &self,
        scope: &str,
        name: &str,
        sealed: &[u8],
        by: Option<&str>,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO secrets (scope, name, sealed, updated_at, updated_by) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (scope, name) DO UPDATE SET sealed = excluded.sealed, \
             updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        )
        .bind(scope)
        .bind(name)
        .bind(sealed)
        .bind(now_ms())
        .bind(by)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Removes a secret; false when there was none.
    pub async fn delete_secret(&self, scope: &str, name: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM secrets WHERE scope = ? AND name = ?")
            .bind(scope)
            .bind(name)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Removes every secret of a scope (a pipeline deleted).
    pub async fn delete_scope_secrets(&self, scope: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM secrets WHERE scope = ?")
            .bind(scope)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Secrets by scope then name: one scope's, or every one.
    pub async fn secrets(&self, scope: Option<&str>) -> StoreResult<Vec<SecretRow>> {
        let rows = sqlx::query(
            "SELECT scope, name, updated_at, updated_by FROM secrets \
             WHERE ?1 IS NULL OR scope = ?1 ORDER BY scope, name",
        )
        .bind(scope)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(SecretRow {
                    scope: row.try_get("scope")?,
                    name: row.try_get("name")?,
                    updated_at: row.try_get("updated_at")?,
                    updated_by: row.try_get("updated_by")?,
                })
            })
            .collect()
    }

    /// The sealed value of a secret of `scope`, or else the global one of that name: with
    /// the scope it was found in.
    pub async fn sealed_secret(
        &self,
        scope: &str,
        name: &str,
    ) -> StoreResult<Option<(String, Vec<u8>)>> {
        let row = sqlx::query(
            "SELECT scope, sealed FROM secrets WHERE name = ? AND scope IN (?, '') \
             ORDER BY scope = '' LIMIT 1",
        )
        .bind(name)
        .bind(scope)
        .fetch_optional(&self.reader)
        .await?;
        row.map(|row| Ok((row.try_get("scope")?, row.try_get("sealed")?)))
            .transpose()
    }
}
