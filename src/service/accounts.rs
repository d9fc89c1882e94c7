//! Accounts: the first admin, signing in and out, who a request acts for, API tokens, and
//! managing users.

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use conveyor_core::access::{
    is_account_name, NewToken, Principal, Role, Scope, TokenSummary, UserSummary,
    MIN_PASSWORD_CHARS,
};
use conveyor_core::audit::AuditAction;
use conveyor_core::definition::Problem;

use super::{ServiceError, ServiceResult};
use crate::auth::throttle::Throttle;
use crate::auth::{decoy_hash, digest, hash_password, new_token, password_matches, random_text};
use crate::store::{now_ms, Audit, Store, StoreError, UserRow};

/// How sessions end, and where the first admin's password is written.
#[derive(Debug, Clone)]
pub struct AccountSettings {
    /// A session unused this long has ended.
    pub session_idle: Duration,
    /// A session this old has ended, however much it is used.
    pub session_max: Duration,
    /// `DATA_DIR/initial-admin-password`.
    pub initial_password_file: PathBuf,
    /// Session cookies are `Secure` (the public URL is https).
    pub secure_cookies: bool,
    /// The OpenID Connect provider people may sign in with, besides passwords.
    pub oidc: Option<std::sync::Arc<crate::auth::oidc::Oidc>>,
}

/// How a request says who it is.
#[derive(Debug, Clone)]
pub enum Credential {
    /// A browser session's id, from its cookie.
    Session(String),
    /// An API token, from `Authorization: Bearer …`.
    Token(String),
}

/// The account that made the server's first admin.
pub const FIRST_ADMIN: &str = "admin";
/// Said for an unknown account and a wrong password alike.
const WRONG_SIGN_IN: &str = "wrong account name or password";

/// The account use cases: what the server and the `conveyor user` and `conveyor token`
/// commands do with accounts (the commands on the server's own shell, without a server).
pub struct Accounts {
    pub(super) store: Store,
    pub(super) settings: AccountSettings,
    throttle: Throttle,
}

impl Accounts {
    pub fn new(store: Store, settings: AccountSettings) -> Accounts {
        Accounts {
            store,
            settings,
            throttle: Throttle::default(),
        }
    }

    pub fn settings(&self) -> &AccountSettings {
        &self.settings
    }

    /// On a database without accounts: makes `admin` with a random password, written to
    /// the initial-password file (0600, readable by the server's user alone); the log says
    /// where, never the password.
    pub async fn ensure_first_admin(&self) -> ServiceResult<()> {
        if self.store.count_users().await? > 0 {
            return Ok(());
        }
        let password = random_text(15);
        let hash = hash_password(&password).map_err(StoreError::Corrupt)?;
        self.store
            .create_user(FIRST_ADMIN, Role::Admin, Some(&hash))
            .await?;
        let file = &self.settings.initial_password_file;
        write_private(file, &format!("{password}\n")).map_err(|err| {
            StoreError::Corrupt(format!(
                "could not write the first admin's password to {}: {err}",
                file.display()
            ))
        })?;
        tracing::warn!(
            account = FIRST_ADMIN,
            file = %file.display(),
            "created the first account: sign in with the password in the file, then change it (that removes the file)"
        );
        Ok(())
    }

    /// Who a credential stands for; `None` when it stands for nobody (unknown, ended,
    /// revoked, expired, or its account disabled).
    pub async fn authenticate(&self, credential: &Credential) -> ServiceResult<Option<Principal>> {
        Ok(match credential {
            Credential::Session(id) => {
                let now = now_ms();
                let idle_after = now - self.settings.session_idle.as_millis() as i64;
                let made_after = now - self.settings.session_max.as_millis() as i64;
                self.store
                    .session_user(&digest(id), idle_after, made_after)
                    .await?
            }
            Credential::Token(token) => self.store.token_user(&digest(token)).await?,
        })
    }

    /// Checks a name and password; a session id for the browser on success. Failed tries
    /// are slowed per account and per `address`.
    pub async fn sign_in(
        &self,
        name: &str,
        password: &str,
        address: &str,
    ) -> ServiceResult<(Principal, String)> {
        let keys = [format!("account:{name}"), format!("address:{address}")];
        if let Some(wait) = self.throttle.wait(&keys) {
            return Err(ServiceError::Throttled(wait.as_secs().max(1)));
        }
        let user = self.store.user(name).await?;
        let hash = user
            .as_ref()
            .and_then(|u| u.password_hash.as_deref())
            .unwrap_or(decoy_hash());
        let matches = password_matches(password, hash);
        let Some(user) = user.filter(|u| matches && !u.disabled && u.password_hash.is_some())
        else {
            self.throttle.failed(&keys);
            // The name as given, cut short: whatever someone types is not worth a page.
            let given: String = name.chars().take(64).collect();
            let entry = Audit::of(Some(&given), AuditAction::SignInFailed, &given).address(address);
            self.store.record_audit(entry).await?;
            return Err(ServiceError::Unauthorized(WRONG_SIGN_IN.into()));
        };
        self.throttle.succeeded(&keys);
        let session = random_text(32);
        self.store
            .create_session(&digest(&session), user.id)
            .await?;
        let entry = Audit::of(Some(name), AuditAction::SignIn, name).address(address);
        self.store.record_audit(entry).await?;
        Ok((principal(&user), session))
    }

    /// Ends a session (`who` signed in with it, when it was still good).
    pub async fn sign_out(&self, session: &str, who: Option<&str>) -> ServiceResult<()> {
        self.store.end_session(&digest(session)).await?;
        if let Some(who) = who {
            self.store
                .record_audit(Audit::of(Some(who), AuditAction::SignOut, who))
                .await?;
        }
        Ok(())
    }

    /// Makes an API token for the caller (or, for an admin, for `owner`), with a scope no
    /// wider than its owner's role; its value is shown this once.
    pub async fn create_token(
        &self,
        actor: &Principal,
        owner: Option<&str>,
        name: &str,
        scope: Scope,
        expires_in: Option<Duration>,
    ) -> ServiceResult<NewToken> {
        let owner = match owner.filter(|o| *o != actor.name) {
            Some(other) if actor.may(conveyor_core::access::Action::Admin) => {
                self.account(other).await?
            }
            Some(_) => {
                return Err(ServiceError::Forbidden(
                    "only an admin makes tokens for other accounts".into(),
                ))
            }
            None => self.account(&actor.name).await?,
        };
        let mut problems = Vec::new();
        if name.trim().is_empty() || name.len() > 100 {
            problems.push(Problem::new(
                "name",
                "a token needs a name of 1 to 100 characters",
            ));
        }
        if !scope.fits(owner.role) {
            problems.push(Problem::new(
                "scope",
                format!(
                    "a {} cannot hold a {scope} token; the widest it can is {}",
                    owner.role,
                    widest(owner.role)
                ),
            ));
        }
        if !problems.is_empty() {
            return Err(ServiceError::Invalid(problems));
        }
        let (token, hash) = new_token();
        let expires_at = expires_in.map(|d| now_ms() + d.as_millis() as i64);
        let new = crate::store::NewToken {
            user_id: owner.id,
            name: name.trim(),
            hash: &hash,
            scope,
            expires_at,
        };
        let id = self.store.create_token(&new).await?;
        let detail = format!("{scope} token \"{}\"", name.trim());
        let target = format!("token {id} of {}", owner.name);
        let entry = Audit::of(Some(&actor.name), AuditAction::TokenCreate, &target).detail(&detail);
        self.store.record_audit(entry).await?;
        let summary = self
            .store
            .tokens(Some(owner.id))
            .await?
            .into_iter()
            .find(|t| t.id == id)
            .ok_or_else(|| StoreError::Corrupt(format!("token {id} is gone")))?;
        Ok(NewToken { token, summary })
    }

    /// The caller's tokens; an admin's `all` lists everybody's.
    pub async fn tokens(&self, actor: &Principal, all: bool) -> ServiceResult<Vec<TokenSummary>> {
        let everyone = all && actor.may(conveyor_core::access::Action::Admin);
        Ok(self
            .store
            .tokens((!everyone).then_some(actor.user_id))
            .await?)
    }

    /// Revokes one of the caller's tokens (an admin: anybody's).
    pub async fn revoke_token(&self, actor: &Principal, id: i64) -> ServiceResult<()> {
        let owner = (!actor.may(conveyor_core::access::Action::Admin)).then_some(actor.user_id);
        if self.store.revoke_token(id, owner).await? {
            let target = format!("token {id}");
            let entry = Audit::of(Some(&actor.name), AuditAction::TokenRevoke, &target);
            Ok(self.store.record_audit(entry).await?)
        } else {
            Err(ServiceError::NotFound(format!("no token {id} of yours")))
        }
    }

    pub async fn users(&self) -> ServiceResult<Vec<UserSummary>> {
        Ok(self.store.users().await?)
    }

    /// A new account that signs in with `password`, made by `actor` (none: on the server's
    /// shell).
    pub async fn add_user(
        &self,
        actor: Option<&str>,
        name: &str,
        role: Role,
        password: &str,
    ) -> ServiceResult<UserSummary> {
        let mut problems = Vec::new();
        if !is_account_name(name) {
            problems.push(Problem::new(
                "name",
                format!("\"{name}\" is not an account name: 1-64 letters, digits, '.', '_', '-' or '@', starting with a letter or digit"),
            ));
        }
        check_password(password, &mut problems);
        if !problems.is_empty() {
            return Err(ServiceError::Invalid(problems));
        }
        let hash = hash_password(password).map_err(StoreError::Corrupt)?;
        match self.store.create_user(name, role, Some(&hash)).await {
            Err(StoreError::UserExists(name)) => {
                return Err(ServiceError::Conflict(format!(
                    "an account named \"{name}\" already exists"
                )));
            }
            other => other?,
        };
        let detail = format!("role {role}");
        self.store
            .record_audit(Audit::of(actor, AuditAction::UserAdd, name).detail(&detail))
            .await?;
        self.user_summary(name).await
    }

    /// Changes an account's role, whether it is disabled, or its password (each when given).
    pub async fn update_user(
        &self,
        actor: Option<&str>,
        name: &str,
        role: Option<Role>,
        disabled: Option<bool>,
        password: Option<&str>,
    ) -> ServiceResult<UserSummary> {
        let user = self.account(name).await?;
        let changes: Vec<String> = [
            role.map(|r| format!("role {r}")),
            disabled.map(|d| if d { "disabled" } else { "enabled" }.to_owned()),
            password.map(|_| "new password".to_owned()),
        ]
        .into_iter()
        .flatten()
        .collect();
        if let Some(password) = password {
            self.set_password(&user, password).await?;
        }
        if role.is_some() || disabled.is_some() {
            let (role, disabled) = (role.unwrap_or(user.role), disabled.unwrap_or(user.disabled));
            match self.store.update_user(user.id, role, disabled).await {
                Err(StoreError::LastAdmin) => {
                    return Err(ServiceError::Conflict(StoreError::LastAdmin.to_string()));
                }
                other => other?,
            }
        }
        let detail = changes.join(", ");
        self.store
            .record_audit(Audit::of(actor, AuditAction::UserUpdate, name).detail(&detail))
            .await?;
        self.user_summary(name).await
    }

    /// The caller changes their own password, giving the current one.
    pub async fn change_password(
        &self,
        actor: &Principal,
        current: &str,
        new: &str,
    ) -> ServiceResult<()> {
        let user = self.account(&actor.name).await?;
        if !user
            .password_hash
            .as_deref()
            .is_some_and(|hash| password_matches(current, hash))
        {
            return Err(ServiceError::Invalid(vec![Problem::new(
                "current",
                "that is not your current password",
            )]));
        }
        self.set_password(&user, new).await?;
        let entry = Audit::of(Some(&actor.name), AuditAction::PasswordChange, &actor.name);
        Ok(self.store.record_audit(entry).await?)
    }

    async fn set_password(&self, user: &UserRow, password: &str) -> ServiceResult<()> {
        let mut problems = Vec::new();
        check_password(password, &mut problems);
        if !problems.is_empty() {
            return Err(ServiceError::Invalid(problems));
        }
        let hash = hash_password(password).map_err(StoreError::Corrupt)?;
        self.store.set_password(user.id, &hash).await?;
        if user.name == FIRST_ADMIN {
            // The first password has served its purpose.
            let _ = std::fs::remove_file(&self.settings.initial_password_file);
        }
        Ok(())
    }

    /// An account as sign-in knows it; 404 when there is none of that name.
    pub async fn account(&self, name: &str) -> ServiceResult<UserRow> {
        self.store
            .user(name)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no account named \"{name}\"")))
    }

    pub async fn user_summary(&self, name: &str) -> ServiceResult<UserSummary> {
        self.store
            .users()
            .await?
            .into_iter()
            .find(|u| u.name == name)
            .ok_or_else(|| ServiceError::NotFound(format!("no account named \"{name}\"")))
    }
}

/// The account acting for itself (not through a token).
/// A token's lifetime as people write it (`12h`, `30d`); none or empty: until revoked.
pub fn token_lifetime(text: Option<&str>) -> ServiceResult<Option<Duration>> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    match humantime::parse_duration(text) {
        Ok(lifetime) if !lifetime.is_zero() => Ok(Some(lifetime)),
        _ => Err(ServiceError::Invalid(vec![Problem::new(
            "expires_in",
            format!("\"{text}\" is not a lifetime (examples: 12h, 30d)"),
        )])),
    }
}

/// Where the first admin's password waits in a data directory, until it is changed.
pub fn initial_password_file(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("initial-admin-password")
}

pub fn principal(user: &UserRow) -> Principal {
    Principal {
        user_id: user.id,
        name: user.name.clone(),
        role: user.role,
        scope: None,
    }
}

fn widest(role: Role) -> Scope {
    Scope::ALL
        .into_iter()
        .filter(|s| s.fits(role))
        .max()
        .unwrap_or(Scope::Read)
}

fn check_password(password: &str, problems: &mut Vec<Problem>) {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        problems.push(Problem::new(
            "password",
            format!("a password has at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if password.len() > 1024 {
        problems.push(Problem::new(
            "password",
            "a password has at most 1024 bytes",
        ));
    }
}

/// Writes `text` to a new file only its owner can read.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}
