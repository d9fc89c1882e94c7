//! The action catalog (seeds 001 and 004): versions saved once and never changed, listed
//! with the pipelines that use them, looked up when a pipeline is saved and when it runs.

use conveyor_core::audit::AuditAction;
use conveyor_core::catalog::{parse_action, ActionEntry};
use conveyor_core::check::check_action;
use conveyor_core::definition::{Pipeline, Problem};

use super::{Service, ServiceError, ServiceResult};
use crate::store::{ActionRow, Audit, StoreError, Undeletable};

fn entry(row: ActionRow) -> ActionEntry {
    ActionEntry {
        action: row.action,
        created_at: row.created_at,
        created_by: row.created_by,
        used_by: row.used_by,
    }
}

impl Service {
    /// Every version of every action, by name.
    pub async fn list_actions(&self) -> ServiceResult<Vec<ActionEntry>> {
        Ok(self
            .store
            .actions(None)
            .await?
            .into_iter()
            .map(entry)
            .collect())
    }

    /// The versions of one action, oldest first.
    pub async fn action_versions(&self, name: &str) -> ServiceResult<Vec<ActionEntry>> {
        let versions: Vec<ActionEntry> = self
            .store
            .actions(Some(name))
            .await?
            .into_iter()
            .map(entry)
            .collect();
        if versions.is_empty() {
            return Err(ServiceError::NotFound(format!(
                "no action named \"{name}\""
            )));
        }
        Ok(versions)
    }

    pub async fn get_action(&self, name: &str, version: &str) -> ServiceResult<ActionEntry> {
        self.action_versions(name)
            .await?
            .into_iter()
            .find(|e| e.action.version == version)
            .ok_or_else(|| {
                ServiceError::NotFound(format!("action \"{name}\" has no version \"{version}\""))
            })
    }

    /// Saves an action version from its document. `of`: the action it must be a new
    /// version of (which must exist).
    pub async fn create_action(
        &self,
        source: &str,
        of: Option<&str>,
        by: &str,
    ) -> ServiceResult<ActionEntry> {
        let action = parse_action(source).map_err(ServiceError::Invalid)?;
        let mut problems = Vec::new();
        check_action("", &action, &mut problems);
        for problem in &mut problems {
            problem.path = problem.path.trim_start_matches('.').to_owned();
        }
        if !problems.is_empty() {
            return Err(ServiceError::Invalid(problems));
        }
        if let Some(name) = of {
            if action.name != name {
                return Err(ServiceError::Invalid(vec![Problem::new(
                    "name",
                    format!(
                        "a new version of \"{name}\" must be named \"{name}\", not \"{}\"",
                        action.name
                    ),
                )]));
            }
            self.action_versions(name).await?;
        }
        match self.store.create_action(&action, by).await {
            Err(StoreError::ActionExists(reference)) => {
                return Err(ServiceError::Conflict(format!(
                    "action \"{reference}\" is saved already, and a version never changes: save it as a new version"
                )))
            }
            other => other?,
        }
        let reference = action.reference();
        self.audit(Audit::of(Some(by), AuditAction::ActionCreate, &reference))
            .await?;
        self.get_action(&action.name, &action.version).await
    }

    /// Deletes a version no pipeline's latest version names.
    pub async fn delete_action(&self, name: &str, version: &str, by: &str) -> ServiceResult<()> {
        match self.store.delete_action(name, version).await? {
            Ok(()) => {
                let reference = format!("{name}@{version}");
                self.audit(Audit::of(Some(by), AuditAction::ActionDelete, &reference))
                    .await
            }
            Err(Undeletable::Missing) => Err(ServiceError::NotFound(format!(
                "action \"{name}\" has no version \"{version}\""
            ))),
            Err(Undeletable::InUse(pipelines)) => Err(ServiceError::Conflict(format!(
                "action \"{name}@{version}\" is used by the latest version of {}: change them first",
                if pipelines.is_empty() {
                    "a pipeline saved just now".to_owned()
                } else {
                    pipelines.join(", ")
                }
            ))),
        }
    }

    /// Attaches the catalog's actions the pipeline's steps name (those not inline), so
    /// that checking and resolving see them; the references it found.
    pub(super) async fn attach_catalog(
        &self,
        pipeline: &mut Pipeline,
    ) -> ServiceResult<Vec<(String, String)>> {
        let wanted = pipeline.catalog_references();
        let mut found = Vec::new();
        let mut uses = Vec::new();
        for (name, version) in wanted {
            if let Some(action) = self.store.action(&name, &version).await? {
                found.push(action);
                uses.push((name, version));
            }
        }
        pipeline.catalog = Some(found);
        Ok(uses)
    }
}
