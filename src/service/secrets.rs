//! Pipeline secrets: set, replaced and removed by admins, sealed at rest with the server's
//! key, listed by name only, and opened only to hand a run's steps their values.

use std::collections::BTreeMap;

use conveyor_core::audit::AuditAction;
use conveyor_core::definition::{Pipeline, Problem};
use conveyor_core::resolve::ResolvedRun;
use conveyor_core::secrets::{
    check_secret_name, check_secret_value, SecretSummary, MAX_SECRET_BYTES,
};

use super::{ServiceError, ServiceResult};
use crate::engine::RunSecrets;
use crate::secrets::SecretBox;
use crate::store::{Audit, SecretRow, Store, StoreError};

/// The secrets store: what the API, the pages and the server's shell set, list and remove,
/// and what runs take their steps' values from.
pub struct Secrets {
    store: Store,
    sealer: SecretBox,
}

/// What a secret's sealed value is bound to: a value sealed for one scope and name does
/// not open as another's.
fn owner(scope: &str, name: &str) -> String {
    format!("secret:{scope}/{name}")
}

fn summary(row: SecretRow) -> SecretSummary {
    SecretSummary {
        name: row.name,
        pipeline: Some(row.scope).filter(|s| !s.is_empty()),
        updated_at: row.updated_at,
        updated_by: row.updated_by,
    }
}

impl Secrets {
    pub fn new(store: Store, sealer: SecretBox) -> Secrets {
        Secrets { store, sealer }
    }

    /// Creates or replaces a secret: global, or of one pipeline.
    pub async fn set(
        &self,
        pipeline: Option<&str>,
        name: &str,
        value: &str,
        by: Option<&str>,
    ) -> ServiceResult<SecretSummary> {
        if let Some(problem) = check_secret_name("name", name) {
            return Err(ServiceError::Invalid(vec![problem]));
        }
        if value.len() > MAX_SECRET_BYTES {
            return Err(ServiceError::TooLarge(format!(
                "secret {name}: a secret holds at most {} KiB",
                MAX_SECRET_BYTES / 1024
            )));
        }
        check_secret_value(value)
            .map_err(|message| ServiceError::Invalid(vec![Problem::new("value", message)]))?;
        let scope = self.secret_scope(pipeline).await?;
        let sealed = self
            .sealer
            .seal(value.as_bytes(), &owner(&scope, name))
            .map_err(|err| StoreError::Corrupt(err.to_string()))?;
        self.store.set_secret(&scope, name, &sealed, by).await?;
        let target = format!("{}{name}", scope_prefix(&scope));
        self.store
            .record_audit(Audit::of(by, AuditAction::SecretSet, &target))
            .await?;
        let row = self
            .store
            .secrets(Some(&scope))
            .await?
            .into_iter()
            .find(|r| r.name == name);
        row.map(summary)
            .ok_or_else(|| StoreError::Corrupt(format!("secret {name} is gone")).into())
    }

    pub async fn delete(
        &self,
        pipeline: Option<&str>,
        name: &str,
        by: Option<&str>,
    ) -> ServiceResult<()> {
        let scope = self.secret_scope(pipeline).await?;
        if !self.store.delete_secret(&scope, name).await? {
            return Err(ServiceError::NotFound(format!(
                "no secret {}{name}",
                scope_prefix(&scope)
            )));
        }
        let target = format!("{}{name}", scope_prefix(&scope));
        Ok(self
            .store
            .record_audit(Audit::of(by, AuditAction::SecretDelete, &target))
            .await?)
    }

    /// Secrets by name: a pipeline's own, the global ones, or (neither given) every one.
    pub async fn list(&self, pipeline: Option<&str>) -> ServiceResult<Vec<SecretSummary>> {
        let scope = match pipeline {
            Some(name) => Some(self.secret_scope(Some(name)).await?),
            None => None,
        };
        Ok(self
            .store
            .secrets(scope.as_deref())
            .await?
            .into_iter()
            .map(summary)
            .collect())
    }

    /// Every secret a definition names (for its steps, or to sign their webhook calls) must
    /// exist, the pipeline's own or a global one: a problem at each that does not.
    pub async fn check_exist(&self, pipeline: &Pipeline) -> ServiceResult<()> {
        let mut problems = Vec::new();
        for (si, stage) in pipeline.stages.iter().enumerate() {
            for (ti, step) in stage.steps.iter().enumerate() {
                let uses = step.secrets.iter().enumerate();
                let uses = uses.map(|(ui, use_)| (format!("secrets[{ui}]"), &use_.name));
                let signs = step.webhooks.iter().enumerate().filter_map(|(wi, hook)| {
                    Some((format!("webhooks[{wi}].secret"), hook.secret.as_ref()?))
                });
                let pulls = step
                    .pull_secret
                    .as_ref()
                    .map(|name| ("pull_secret".to_owned(), name));
                for (place, name) in uses.chain(signs).chain(pulls) {
                    if self
                        .store
                        .sealed_secret(&pipeline.name, name)
                        .await?
                        .is_none()
                    {
                        problems.push(Problem::new(
                            format!("stages[{si}].steps[{ti}].{place}"),
                            format!(
                                "step \"{}\" needs secret {name}, which does not exist (neither the pipeline's nor a global one)",
                                step.name
                            ),
                        ));
                    }
                }
            }
        }
        if let Some(name) = &pipeline.pull_secret {
            if self
                .store
                .sealed_secret(&pipeline.name, name)
                .await?
                .is_none()
            {
                problems.push(Problem::new(
                    "pull_secret",
                    format!(
                        "secret {name} does not exist (neither the pipeline's nor a global one)"
                    ),
                ));
            }
        }
        if let Some(repo) = &pipeline.repository {
            let named = [
                ("credentials", &repo.credentials),
                ("webhook_secret", &repo.webhook_secret),
                ("status_token", &repo.status_token),
            ];
            for (field, name) in named {
                let Some(name) = name else { continue };
                if self
                    .store
                    .sealed_secret(&pipeline.name, name)
                    .await?
                    .is_none()
                {
                    problems.push(Problem::new(
                        format!("repository.{field}"),
                        format!("secret {name} does not exist (neither the pipeline's nor a global one)"),
                    ));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ServiceError::Invalid(problems))
        }
    }

    /// The values of the secrets a run uses (its steps', and those signing their webhook
    /// calls), opened now for its engine and its webhooks.
    pub async fn for_run(&self, resolved: &ResolvedRun) -> ServiceResult<RunSecrets> {
        let mut values = BTreeMap::new();
        let mut problems = Vec::new();
        for (planned, step) in resolved.plan.steps.iter().zip(&resolved.steps) {
            let names = step.secrets.iter().map(|use_| &use_.name);
            let names = names.chain(step.webhooks.iter().filter_map(|hook| hook.secret.as_ref()));
            let names = names.chain(step.pull_secret.as_ref());
            for name in names {
                if values.contains_key(name) {
                    continue;
                }
                match self.value(&resolved.pipeline, name).await? {
                    Some(value) => {
                        values.insert(name.clone(), value);
                    }
                    None => problems.push(Problem::new(
                        "secrets",
                        format!(
                            "step \"{}\" needs secret {name}, which no longer exists",
                            planned.name
                        ),
                    )),
                }
            }
        }
        if problems.is_empty() {
            Ok(RunSecrets::new(values))
        } else {
            Err(ServiceError::Invalid(problems))
        }
    }

    /// A secret's value as a pipeline sees it (its own, else the global one), opened now;
    /// `None` when there is neither.
    pub async fn value(&self, pipeline: &str, name: &str) -> ServiceResult<Option<String>> {
        let Some((scope, sealed)) = self.store.sealed_secret(pipeline, name).await? else {
            return Ok(None);
        };
        let opened = self
            .sealer
            .open(&sealed, &owner(&scope, name))
            .map_err(|err| StoreError::Corrupt(format!("secret {name}: {err}")))?;
        let value = String::from_utf8(opened)
            .map_err(|_| StoreError::Corrupt(format!("secret {name} is not text")))?;
        Ok(Some(value))
    }

    /// The scope of a pipeline's secrets (it must exist), or the global one.
    async fn secret_scope(&self, pipeline: Option<&str>) -> ServiceResult<String> {
        match pipeline {
            None => Ok(String::new()),
            Some(name) => match self.store.pipeline(name).await? {
                Some((row, _)) => Ok(row.name),
                None => Err(ServiceError::NotFound(format!(
                    "no pipeline named \"{name}\""
                ))),
            },
        }
    }
}

fn scope_prefix(scope: &str) -> String {
    if scope.is_empty() {
        String::new()
    } else {
        format!("{scope}/")
    }
}
