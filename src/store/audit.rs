//! The audit log's rows.

use std::str::FromStr;

use conveyor_core::audit::{AuditAction, AuditEntry, AuditPage, AuditQuery};
use sqlx::{QueryBuilder, Row, Sqlite};

use super::{corrupt, now_ms, Store, StoreResult};

/// An entry about to be recorded.
#[derive(Debug, Clone, Copy)]
pub struct Audit<'a> {
    pub actor: Option<&'a str>,
    pub action: AuditAction,
    pub target: &'a str,
    pub detail: Option<&'a str>,
    pub address: Option<&'a str>,
}

impl<'a> Audit<'a> {
    /// `actor` did `action` to `target`.
    pub fn of(actor: Option<&'a str>, action: AuditAction, target: &'a str) -> Audit<'a> {
        Audit {
            actor,
            action,
            target,
            detail: None,
            address: None,
        }
    }

    pub fn detail(self, detail: &'a str) -> Audit<'a> {
        Audit {
            detail: Some(detail),
            ..self
        }
    }

    pub fn address(self, address: &'a str) -> Audit<'a> {
        Audit {
            address: Some(address).filter(|a| !a.is_empty()),
            ..self
        }
    }
}

impl Store {
    pub async fn record_audit(&self, entry: Audit<'_>) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_log (at, actor, action, target, detail, address) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(now_ms())
        .bind(entry.actor)
        .bind(entry.action.as_str())
        .bind(entry.target)
        .bind(entry.detail)
        .bind(entry.address)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// A page of entries, newest first.
    pub async fn audit(&self, query: &AuditQuery) -> StoreResult<AuditPage> {
        let size = query.page_size();
        let mut select: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT id, at, actor, action, target, detail, address FROM audit_log WHERE 1 = 1",
        );
        if let Some(actor) = &query.actor {
            select.push(" AND actor = ").push_bind(actor);
        }
        if let Some(action) = query.action {
            select.push(" AND action = ").push_bind(action.as_str());
        }
        if let Some(target) = &query.target {
            select.push(" AND target = ").push_bind(target);
        }
        if let Some(before) = query.before {
            select.push(" AND id < ").push_bind(before);
        }
        select
            .push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(size) + 1);
        let rows = select.build().fetch_all(&self.reader).await?;
        let mut entries = rows
            .iter()
            .map(|row| {
                Ok(AuditEntry {
                    id: row.try_get("id")?,
                    at: row.try_get("at")?,
                    actor: row.try_get("actor")?,
                    action: AuditAction::from_str(row.try_get::<&str, _>("action")?)
                        .map_err(corrupt)?,
                    target: row.try_get("target")?,
                    detail: row.try_get("detail")?,
                    address: row.try_get("address")?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let next_before = (entries.len() > size as usize).then(|| {
            entries.truncate(size as usize);
            entries.last().map(|e| e.id)
        });
        Ok(AuditPage {
            entries,
            next_before: next_before.flatten(),
        })
    }
}
