//! Accounts, their browser sessions and their API tokens. Sessions and tokens are kept as
//! hashes only; a disabled account's sessions and tokens stop working at once.

use std::str::FromStr;

use conveyor_core::access::{Principal, Role, Scope};
use conveyor_core::access::{TokenSummary, UserSummary};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::{corrupt, is_unique_violation, now_ms, Store, StoreError, StoreResult};

/// An account as sign-in needs it.
#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub password_hash: Option<String>,
    pub disabled: bool,
}

/// A new API token: its hash is what is kept.
pub struct NewToken<'a> {
    pub user_id: i64,
    pub name: &'a str,
    pub hash: &'a [u8],
    pub scope: Scope,
    pub expires_at: Option<i64>,
}

fn role(row: &SqliteRow) -> StoreResult<Role> {
    Role::from_str(row.try_get::<&str, _>("role")?).map_err(corrupt)
}

fn user_row(row: &SqliteRow) -> StoreResult<UserRow> {
    Ok(UserRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        role: role(row)?,
        password_hash: row.try_get("password_hash")?,
        disabled: row.try_get("disabled")?,
    })
}

impl Store {
    pub async fn count_users(&self) -> StoreResult<i64> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM users")
            .fetch_one(&self.writer)
            .await?
            .try_get("n")?)
    }

    /// A new account; [`StoreError::UserExists`] when the name is taken.
    pub async fn create_user(
        &self,
        name: &str,
        role: Role,
        password_hash: Option<&str>,
    ) -> StoreResult<i64> {
        let now = now_ms();
        let inserted = sqlx::query(
            "INSERT INTO users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?) RETURNING id",
        )
        .bind(name)
        .bind(role.as_str())
        .bind(password_hash)
        .bind(now)
        .fetch_one(&self.writer)
        .await;
        match inserted {
            Ok(row) => Ok(row.try_get("id")?),
            Err(err) if is_unique_violation(&err) => Err(StoreError::UserExists(name.to_owned())),
            Err(err) => Err(err.into()),
        }
    }

    pub async fn user(&self, name: &str) -> StoreResult<Option<UserRow>> {
        let row =
            sqlx::query("SELECT id, name, role, password_hash, disabled FROM users WHERE name = ?")
                .bind(name)
                .fetch_optional(&self.writer)
                .await?;
        row.as_ref().map(user_row).transpose()
    }

    /// The account a sign-in provider's person (`issuer subject`) has here.
    pub async fn user_by_subject(&self, subject: &str) -> StoreResult<Option<UserRow>> {
        let row = sqlx::query(
            "SELECT id, name, role, password_hash, disabled FROM users WHERE oidc_subject = ?",
        )
        .bind(subject)
        .fetch_optional(&self.writer)
        .await?;
        row.as_ref().map(user_row).transpose()
    }

    /// A new account for a sign-in provider's person, without a password; the first of
    /// `names` that is free. [`StoreError::UserExists`] when none is.
    pub async fn create_provider_user(
        &self,
        names: &[String],
        role: Role,
        subject: &str,
    ) -> StoreResult<UserRow> {
        for name in names {
            let inserted = sqlx::query(
                "INSERT INTO users (name, role, oidc_subject, created_at) VALUES (?, ?, ?, ?) \
                 RETURNING id",
            )
            .bind(name)
            .bind(role.as_str())
            .bind(subject)
            .bind(now_ms())
            .fetch_one(&self.writer)
            .await;
            match inserted {
                Ok(row) => {
                    return Ok(UserRow {
                        id: row.try_get("id")?,
                        name: name.clone(),
                        role,
                        password_hash: None,
                        disabled: false,
                    })
                }
                Err(err) if is_unique_violation(&err) => continue,
                Err(err) => return Err(err.into()),
            }
        }
        Err(StoreError::UserExists(names.join(", ")))
    }

    pub async fn users(&self) -> StoreResult<Vec<UserSummary>> {
        let rows = sqlx::query(
            "SELECT name, role, disabled, created_at, password_hash IS NOT NULL AS has_password \
             FROM users ORDER BY name",
        )
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(UserSummary {
                    name: row.try_get("name")?,
                    role: role(row)?,
                    disabled: row.try_get("disabled")?,
                    created_at: row.try_get("created_at")?,
                    password: row.try_get("has_password")?,
                })
            })
            .collect()
    }

    /// Sets a new password hash; ends the account's sessions (other browsers must sign in
    /// again).
    pub async fn set_password(&self, user_id: i64, password_hash: &str) -> StoreResult<()> {
        let mut tx = self.writer.begin().await?;
        sqlx::query("UPDATE users SET password_hash = ?, password_changed_at = ? WHERE id = ?")
            .bind(password_hash)
            .bind(now_ms())
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = ?")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Changes an account's role or whether it is disabled; disabling ends its sessions.
    /// The last admin who can sign in cannot be demoted or disabled.
    pub async fn update_user(&self, user_id: i64, role: Role, disabled: bool) -> StoreResult<()> {
        let mut tx = self.writer.begin().await?;
        sqlx::query("UPDATE users SET role = ?, disabled = ? WHERE id = ?")
            .bind(role.as_str())
            .bind(disabled)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let admins: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM users WHERE role = 'admin' AND disabled = 0")
                .fetch_one(&mut *tx)
                .await?
                .try_get("n")?;
        if admins == 0 {
            return Err(StoreError::LastAdmin);
        }
        if disabled {
            sqlx::query("DELETE FROM sessions WHERE user_id = ?")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn create_session(&self, id_hash: &[u8], user_id: i64) -> StoreResult<()> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at) VALUES (?, ?, ?, ?)",
        )
        .bind(id_hash)
        .bind(user_id)
        .bind(now)
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// The account of a live session, its idle and absolute age checked: a session idle
    /// since before `idle_after` or made before `made_after` (Unix ms) has ended, and is
    /// deleted. Marks the session as seen now.
    pub async fn session_user(
        &self,
        id_hash: &[u8],
        idle_after: i64,
        made_after: i64,
    ) -> StoreResult<Option<Principal>> {
        let row = sqlx::query(
            "SELECT u.id, u.name, u.role, s.created_at, s.last_seen_at FROM sessions s \
             JOIN users u ON u.id = s.user_id WHERE s.id_hash = ? AND u.disabled = 0",
        )
        .bind(id_hash)
        .fetch_optional(&self.reader)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let (created, seen): (i64, i64) =
            (row.try_get("created_at")?, row.try_get("last_seen_at")?);
        if seen < idle_after || created < made_after {
            self.end_session(id_hash).await?;
            return Ok(None);
        }
        // Seen again: written at most once a minute, not on every request.
        if now_ms() - seen > 60_000 {
            sqlx::query("UPDATE sessions SET last_seen_at = ? WHERE id_hash = ?")
                .bind(now_ms())
                .bind(id_hash)
                .execute(&self.writer)
                .await?;
        }
        Ok(Some(Principal {
            user_id: row.try_get("id")?,
            name: row.try_get("name")?,
            role: role(&row)?,
            scope: None,
        }))
    }

    pub async fn end_session(&self, id_hash: &[u8]) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = ?")
            .bind(id_hash)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    pub async fn create_token(&self, token: &NewToken<'_>) -> StoreResult<i64> {
        let row = sqlx::query(
            "INSERT INTO api_tokens (user_id, name, hash, scope, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(token.user_id)
        .bind(token.name)
        .bind(token.hash)
        .bind(token.scope.as_str())
        .bind(now_ms())
        .bind(token.expires_at)
        .fetch_one(&self.writer)
        .await?;
        Ok(row.try_get("id")?)
    }

    /// The account of a live token (not revoked, not expired, its owner not disabled);
    /// records its use.
    pub async fn token_user(&self, hash: &[u8]) -> StoreResult<Option<Principal>> {
        let now = now_ms();
        let row = sqlx::query(
            "SELECT t.id AS token_id, t.scope, t.last_used_at, u.id, u.name, u.role FROM api_tokens t \
             JOIN users u ON u.id = t.user_id \
             WHERE t.hash = ? AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > ?) \
               AND u.disabled = 0",
        )
        .bind(hash)
        .bind(now)
        .fetch_optional(&self.reader)
        .await?;
        let Some(row) = row else { return Ok(None) };
        // Last use to the minute: a script's every request is no write of its own.
        let last_used: Option<i64> = row.try_get("last_used_at")?;
        if last_used.is_none_or(|at| now - at >= 60_000) {
            sqlx::query("UPDATE api_tokens SET last_used_at = ? WHERE id = ?")
                .bind(now)
                .bind(row.try_get::<i64, _>("token_id")?)
                .execute(&self.writer)
                .await?;
        }
        let scope = Scope::from_str(row.try_get::<&str, _>("scope")?).map_err(corrupt)?;
        Ok(Some(Principal {
            user_id: row.try_get("id")?,
            name: row.try_get("name")?,
            role: role(&row)?,
            scope: Some(scope),
        }))
    }

    /// Tokens, newest first: one account's, or everybody's.
    pub async fn tokens(&self, user_id: Option<i64>) -> StoreResult<Vec<TokenSummary>> {
        let rows = sqlx::query(
            "SELECT t.id, u.name AS owner, t.name, t.scope, t.created_at, t.expires_at, t.last_used_at, t.revoked_at \
             FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE ?1 IS NULL OR t.user_id = ?1 ORDER BY t.id DESC",
        )
        .bind(user_id)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(TokenSummary {
                    id: row.try_get("id")?,
                    owner: row.try_get("owner")?,
                    name: row.try_get("name")?,
                    scope: Scope::from_str(row.try_get::<&str, _>("scope")?).map_err(corrupt)?,
                    created_at: row.try_get("created_at")?,
                    expires_at: row.try_get("expires_at")?,
                    last_used_at: row.try_get("last_used_at")?,
                    revoked_at: row.try_get("revoked_at")?,
                })
            })
            .collect()
    }

    /// Revokes a token (of `user_id`, when given); false when there is no such token.
    pub async fn revoke_token(&self, id: i64, user_id: Option<i64>) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?1) WHERE id = ?2 AND (?3 IS NULL OR user_id = ?3)",
        )
        .bind(now_ms())
        .bind(id)
        .bind(user_id)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}
