//! The action catalog: versions of actions, immutable once saved, and which pipelines'
//! latest versions name each.

use sqlx::Row;

use super::{corrupt, is_unique_violation, now_ms, Store, StoreError, StoreResult};
use conveyor_core::definition::Action;

/// An action version as stored, with who saved it and the pipelines that use it.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionRow {
    pub action: Action,
    pub created_at: i64,
    pub created_by: Option<String>,
    /// Pipelines whose latest version names it.
    pub used_by: Vec<String>,
}

/// Why an action version could not be deleted.
pub enum Undeletable {
    Missing,
    InUse(Vec<String>),
}

impl Store {
    /// Saves a new action version; [`StoreError::ActionExists`] when it is there already.
    pub async fn create_action(&self, action: &Action, by: &str) -> StoreResult<()> {
        let definition = serde_json::to_string(action).map_err(corrupt)?;
        let inserted = sqlx::query(
            "INSERT INTO actions (name, version, definition, created_at, created_by) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&action.name)
        .bind(&action.version)
        .bind(definition)
        .bind(now_ms())
        .bind(by)
        .execute(&self.writer)
        .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(err) if is_unique_violation(&err) => {
                Err(StoreError::ActionExists(action.reference()))
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Every version (of one action, or of all), by name then save order.
    pub async fn actions(&self, name: Option<&str>) -> StoreResult<Vec<ActionRow>> {
        let rows = sqlx::query(
            "SELECT a.definition, a.created_at, a.created_by, \
             (SELECT group_concat(p.name, char(10)) FROM action_uses u JOIN pipelines p ON p.id = u.pipeline_id \
              WHERE u.action_id = a.id) AS used_by \
             FROM actions a WHERE ?1 IS NULL OR a.name = ?1 ORDER BY a.name, a.id",
        )
        .bind(name)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                let definition: String = row.try_get("definition")?;
                let used: Option<String> = row.try_get("used_by")?;
                let mut used_by: Vec<String> = used
                    .as_deref()
                    .unwrap_or_default()
                    .lines()
                    .map(str::to_owned)
                    .collect();
                used_by.sort();
                Ok(ActionRow {
                    action: serde_json::from_str(&definition).map_err(corrupt)?,
                    created_at: row.try_get("created_at")?,
                    created_by: row.try_get("created_by")?,
                    used_by,
                })
            })
            .collect()
    }

    /// The catalog's `name@version`, if saved.
    pub async fn action(&self, name: &str, version: &str) -> StoreResult<Option<Action>> {
        let row = sqlx::query("SELECT definition FROM actions WHERE name = ? AND version = ?")
            .bind(name)
            .bind(version)
            .fetch_optional(&self.reader)
            .await?;
        row.map(|row| {
            let definition: String = row.try_get("definition")?;
            serde_json::from_str(&definition).map_err(corrupt)
        })
        .transpose()
    }

    /// Deletes an action version no pipeline's latest version names.
    pub async fn delete_action(
        &self,
        name: &str,
        version: &str,
    ) -> StoreResult<Result<(), Undeletable>> {
        let found = self.actions(Some(name)).await?;
        let Some(row) = found.iter().find(|r| r.action.version == version) else {
            return Ok(Err(Undeletable::Missing));
        };
        if !row.used_by.is_empty() {
            return Ok(Err(Undeletable::InUse(row.used_by.clone())));
        }
        let deleted = sqlx::query("DELETE FROM actions WHERE name = ? AND version = ?")
            .bind(name)
            .bind(version)
            .execute(&self.writer)
            .await;
        match deleted {
            Ok(_) => Ok(Ok(())),
            // A pipeline named it since: the uses' RESTRICT keeps it.
            Err(sqlx::Error::Database(err)) if err.is_foreign_key_violation() => {
                Ok(Err(Undeletable::InUse(Vec::new())))
            }
            Err(err) => Err(err.into()),
        }
    }
}

/// Records which catalog actions (`name`, `version`) a pipeline's latest version names, in
/// the transaction that saves the version.
pub(super) async fn set_uses(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    pipeline_id: i64,
    uses: &[(String, String)],
) -> StoreResult<()> {
    sqlx::query("DELETE FROM action_uses WHERE pipeline_id = ?")
        .bind(pipeline_id)
        .execute(&mut **tx)
        .await?;
    for (name, version) in uses {
        let done = sqlx::query(
            "INSERT INTO action_uses (pipeline_id, action_id) \
             SELECT ?, id FROM actions WHERE name = ? AND version = ?",
        )
        .bind(pipeline_id)
        .bind(name)
        .bind(version)
        .execute(&mut **tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::ActionMissing(format!("{name}@{version}")));
        }
    }
    Ok(())
}
