//! Signing in through the OpenID Connect provider: the person it vouches for is found by
//! subject (issuer and subject, never by name or e-mail, which people change and providers
//! reuse), or given an account on first sign-in; each sign-in sets the role the provider's
//! claim grants, so the provider stays the one place roles are given.

use conveyor_core::access::{Principal, Role};
use conveyor_core::audit::AuditAction;
use conveyor_core::sso::{account_name, SsoFailure};

use super::accounts::{principal, Accounts};
use crate::auth::oidc::{Identity, Oidc, OidcError};
use crate::auth::{digest, random_text};
use crate::store::{Audit, StoreError, UserRow};

/// A finished sign-in through the provider.
pub struct SsoSession {
    pub principal: Principal,
    /// The new session's id, for its cookie.
    pub session: String,
    /// Where the browser was going.
    pub next: String,
}

impl Accounts {
    /// The provider people may sign in with, when one is configured.
    pub fn provider(&self) -> Option<&Oidc> {
        self.settings.oidc.as_deref()
    }

    /// The provider's URL to send a browser to, and the state for its cookie.
    pub async fn sso_start(
        &self,
        origin: &str,
        next: &str,
    ) -> Result<(String, String), SsoFailure> {
        let provider = self.provider().ok_or(SsoFailure::Failed)?;
        provider.start(origin, next).await.map_err(|err| {
            tracing::warn!(error = %err, "could not start a sign-in through the provider");
            SsoFailure::Failed
        })
    }

    /// Ends a sign-in the provider sent back: a session for the person, or why not (said in
    /// the log and the audit log, and coarsely to the browser).
    pub async fn sso_finish(
        &self,
        cookie_state: Option<&str>,
        state: &str,
        code: &str,
        address: &str,
    ) -> Result<SsoSession, SsoFailure> {
        let provider = self.provider().ok_or(SsoFailure::Failed)?;
        let label = provider.label().to_owned();
        let (identity, next) = match provider.finish(cookie_state, state, code).await {
            Ok(done) => done,
            Err(err) => {
                tracing::warn!(error = %err, "a sign-in through {label} failed");
                // Unknown states cost a stranger nothing to send: the log has them, the
                // audit log only what got as far as the provider.
                if !matches!(err, OidcError::UnknownState) {
                    self.record_failure(None, &err.to_string(), address).await;
                }
                return Err(match err {
                    OidcError::UnknownState => SsoFailure::Expired,
                    _ => SsoFailure::Failed,
                });
            }
        };
        let user = self.provider_account(&identity, &label, address).await?;
        let session = random_text(32);
        let made = self.store.create_session(&digest(&session), user.id).await;
        self.check(made)?;
        let detail = format!("through {label}");
        let entry = Audit::of(Some(&user.name), AuditAction::SignIn, &user.name)
            .detail(&detail)
            .address(address);
        self.check(self.store.record_audit(entry).await)?;
        Ok(SsoSession {
            principal: principal(&user),
            session,
            next,
        })
    }

    /// The person's account, made on first sign-in, with the role the claim grants now.
    async fn provider_account(
        &self,
        identity: &Identity,
        label: &str,
        address: &str,
    ) -> Result<UserRow, SsoFailure> {
        let found = self.store.user_by_subject(&identity.subject).await;
        let existing = self.check(found)?;
        let who = existing
            .as_ref()
            .map(|u| u.name.clone())
            .unwrap_or_else(|| identity.bare_subject.clone());
        let Some(role) = identity.role else {
            let reason = format!("the provider's claim grants {who} no role here");
            tracing::warn!("a sign-in through {label} was refused: {reason}");
            self.record_failure(Some(&who), &reason, address).await;
            if let Some(user) = existing.as_ref().filter(|u| !u.disabled) {
                // The provider took the role away: so does Conveyor, with the account's
                // sessions (its tokens stop working while it is disabled).
                match self.store.update_user(user.id, user.role, true).await {
                    Err(StoreError::LastAdmin) => {
                        tracing::warn!(account = %user.name, "kept the last admin enabled");
                    }
                    other => {
                        self.check(other)?;
                        let detail = format!("disabled: {label} grants no role any more");
                        let entry =
                            Audit::of(None, AuditAction::UserUpdate, &user.name).detail(&detail);
                        self.check(self.store.record_audit(entry).await)?;
                    }
                }
            }
            return Err(SsoFailure::NoRole);
        };
        let Some(mut user) = existing else {
            return self.new_provider_account(identity, role, label).await;
        };
        if user.disabled {
            self.record_failure(Some(&user.name), "the account is disabled", address)
                .await;
            return Err(SsoFailure::Disabled);
        }
        if user.role != role {
            match self.store.update_user(user.id, role, false).await {
                // The provider would leave nobody able to administer: the account stays
                // an admin until another one is.
                Err(StoreError::LastAdmin) => {
                    tracing::warn!(account = %user.name, "kept the last admin an admin");
                }
                other => {
                    self.check(other)?;
                    let detail = format!("role {role} from {label}");
                    let entry =
                        Audit::of(None, AuditAction::UserUpdate, &user.name).detail(&detail);
                    self.check(self.store.record_audit(entry).await)?;
                    user.role = role;
                }
            }
        }
        Ok(user)
    }

    async fn new_provider_account(
        &self,
        identity: &Identity,
        role: Role,
        label: &str,
    ) -> Result<UserRow, SsoFailure> {
        let base = account_name(
            identity.preferred_name.as_deref(),
            identity.email.as_deref(),
            &identity.bare_subject,
        );
        // A name taken by someone else gets a number: never another person's account.
        let names: Vec<String> = std::iter::once(base.clone())
            .chain((2..=20).map(|n| format!("{base}-{n}")))
            .collect();
        let made = self
            .store
            .create_provider_user(&names, role, &identity.subject)
            .await;
        let user = self.check(made)?;
        let detail = format!("role {role}, first sign-in through {label}");
        let entry = Audit::of(None, AuditAction::UserAdd, &user.name).detail(&detail);
        self.check(self.store.record_audit(entry).await)?;
        Ok(user)
    }

    async fn record_failure(&self, who: Option<&str>, reason: &str, address: &str) {
        let target = who.unwrap_or("(provider)");
        let entry = Audit::of(who, AuditAction::SignInFailed, target)
            .detail(reason)
            .address(address);
        if let Err(err) = self.store.record_audit(entry).await {
            tracing::error!(error = %err, "could not record a failed sign-in");
        }
    }

    /// A store error during a provider sign-in: logged, and a failed sign-in to the browser.
    fn check<T>(&self, result: Result<T, StoreError>) -> Result<T, SsoFailure> {
        result.map_err(|err| {
            tracing::error!(error = %err, "a sign-in through the provider failed in the store");
            SsoFailure::Failed
        })
    }
}
