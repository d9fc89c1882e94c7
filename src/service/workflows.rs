//! Seed 000 workflows: build → push → deploy. A workflow is stored as a pipeline (the
//! document with passwords masked, and the pipeline it runs), so runs, logs and history are
//! the pipelines' own; its credentials are sealed with the server's key; its Kubernetes
//! objects (secrets, service account, role binding) follow it on the cluster.

use conveyor_core::audit::AuditAction;
use conveyor_core::check::problems_text;
use conveyor_core::definition::Problem;
use conveyor_core::dto::{WorkflowDetail, WorkflowSummary};
use conveyor_core::plan::plan;
use conveyor_core::workflow::{parse_workflow, Credentials, Workflow, KEPT_SECRET};

use super::{stored, to_json, Service, ServiceError, ServiceResult};
use crate::cluster::objects::workflow_objects;
use crate::cluster::ClusterError;
use crate::store::{Audit, NewVersion, PipelineRow, StoreError, VersionRow};

impl From<ClusterError> for ServiceError {
    fn from(err: ClusterError) -> Self {
        ServiceError::Cluster(err.to_string())
    }
}

impl Service {
    /// A pipeline that is a workflow is edited and deleted as one (its credentials and
    /// cluster objects go with it).
    pub(super) async fn refuse_workflow(&self, row: &PipelineRow, what: &str) -> ServiceResult<()> {
        if self.store.is_workflow(row.id).await? {
            return Err(ServiceError::Conflict(format!(
                "\"{}\" is a workflow; {what} it under /api/v1/workflows/{}",
                row.name, row.name
            )));
        }
        Ok(())
    }

    /// A workflow, its latest version and its sealed credentials; 404 when there is none
    /// of that name.
    pub(super) async fn workflow_row(
        &self,
        name: &str,
    ) -> ServiceResult<(PipelineRow, VersionRow, Vec<u8>)> {
        let missing = || ServiceError::NotFound(format!("no workflow named \"{name}\""));
        let (row, version) = self.store.pipeline(name).await?.ok_or_else(missing)?;
        let sealed = self
            .store
            .workflow_credentials(row.id)
            .await?
            .ok_or_else(missing)?;
        Ok((row, version, sealed))
    }

    /// The workflow document a version holds (its passwords masked).
    pub(super) fn stored_workflow(name: &str, version: &VersionRow) -> ServiceResult<Workflow> {
        parse_workflow(&version.source).map_err(|problems| {
            StoreError::Corrupt(format!(
                "stored workflow {name}: {}",
                problems_text(&problems)
            ))
            .into()
        })
    }

    /// The pipeline a workflow runs, planned once (as a new version stores it), as JSON.
    fn planned_pipeline(workflow: &Workflow) -> ServiceResult<(String, String)> {
        let pipeline = workflow.pipeline();
        let plan = plan(&pipeline).map_err(|problems| {
            StoreError::Corrupt(format!("workflow pipeline: {}", problems_text(&problems)))
        })?;
        Ok((to_json(&pipeline)?, to_json(&plan)?))
    }

    pub(super) fn open_credentials(&self, name: &str, sealed: &[u8]) -> ServiceResult<Credentials> {
        let bytes = self
            .workflows
            .secrets
            .open(sealed, name)
            .map_err(|err| StoreError::Corrupt(err.to_string()))?;
        serde_json::from_slice(&bytes)
            .map_err(|err| StoreError::Corrupt(format!("credentials of {name}: {err}")).into())
    }

    fn seal_credentials(&self, name: &str, credentials: &Credentials) -> ServiceResult<Vec<u8>> {
        let bytes =
            serde_json::to_vec(credentials).map_err(|err| StoreError::Corrupt(err.to_string()))?;
        self.workflows
            .secrets
            .seal(&bytes, name)
            .map_err(|err| StoreError::Corrupt(err.to_string()).into())
    }

    /// The namespace a workflow deploys to: its own, or the cluster's.
    pub(super) fn deploy_namespace(&self, workflow: &Workflow) -> String {
        workflow
            .namespace
            .clone()
            .or_else(|| {
                self.workflows
                    .cluster
                    .as_ref()
                    .map(|c| c.namespace().to_owned())
            })
            .unwrap_or_else(|| "default".to_owned())
    }

    /// Puts the workflow's secrets, account and binding on the cluster (replacing any).
    async fn apply_objects(
        &self,
        workflow: &Workflow,
        credentials: &Credentials,
    ) -> ServiceResult<()> {
        let Some(cluster) = &self.workflows.cluster else {
            return Ok(());
        };
        let objects = workflow_objects(
            workflow,
            credentials,
            cluster.namespace(),
            &self.deploy_namespace(workflow),
        );
        Ok(cluster.apply(&objects).await?)
    }

    pub async fn create_workflow(&self, source: &str, by: &str) -> ServiceResult<WorkflowDetail> {
        let workflow = parse_workflow(source).map_err(ServiceError::Invalid)?;
        let (shown, credentials) = workflow.split_credentials();
        let mut problems = Vec::new();
        if credentials.registry_password == KEPT_SECRET {
            problems.push(Problem::new(
                "image.password",
                "give the password (\"********\" keeps a stored one, on update only)",
            ));
        }
        if credentials.git_password.as_deref() == Some(KEPT_SECRET) {
            problems.push(Problem::new(
                "git.password",
                "give the password (\"********\" keeps a stored one, on update only)",
            ));
        }
        if !problems.is_empty() {
            return Err(ServiceError::Invalid(problems));
        }
        if self.store.pipeline(&shown.name).await?.is_some() {
            return Err(ServiceError::Conflict(format!(
                "a workflow or pipeline named \"{}\" already exists; update it instead",
                shown.name
            )));
        }
        if let Some(cluster) = &self.workflows.cluster {
            let namespace = self.deploy_namespace(&shown);
            let exists = cluster.deployment_exists(&namespace, &shown.name).await?;
            if exists {
                return Err(ServiceError::Conflict(format!(
                    "a Deployment named \"{}\" already exists in namespace \"{namespace}\"; \
                     a workflow never takes over what it did not create: choose another name",
                    shown.name
                )));
            }
        }
        let (definition, plan) = Self::planned_pipeline(&shown)?;
        let sealed = self.seal_credentials(&shown.name, &credentials)?;
        let masked = shown.to_yaml();
        // Cluster first: if it refuses, nothing is recorded here.
        self.apply_objects(&shown, &credentials).await?;
        let first = NewVersion {
            description: shown.description.as_deref(),
            source: &masked,
            definition: &definition,
            plan: &plan,
            repository: None,
            scheduled: false,
            watching: false,
            actions: &[],
        };
        let created = self
            .store
            .create_pipeline(&shown.name, &first, Some(&sealed))
            .await;
        match created {
            Ok(_) => {
                self.audit(Audit::of(
                    Some(by),
                    AuditAction::WorkflowCreate,
                    &shown.name,
                ))
                .await?;
                self.get_workflow(&shown.name).await
            }
            Err(err) => {
                if let Some(cluster) = &self.workflows.cluster {
                    if let Err(cleanup) = cluster
                        .remove_workflow(&shown.name, &self.deploy_namespace(&shown))
                        .await
                    {
                        tracing::warn!(workflow = shown.name, error = %cleanup, "could not remove the objects of a workflow that failed to save");
                    }
                }
                Err(match err {
                    StoreError::PipelineExists(name) => ServiceError::Conflict(format!(
                        "a workflow or pipeline named \"{name}\" already exists; update it instead"
                    )),
                    other => other.into(),
                })
            }
        }
    }

    /// Saves a new version. Passwords given as "********" keep the stored ones; the cluster
    /// objects are applied again, so changed credentials replace the old secrets.
    pub async fn update_workflow(
        &self,
        name: &str,
        source: &str,
        by: &str,
    ) -> ServiceResult<WorkflowDetail> {
        let (row, _, sealed) = self.workflow_row(name).await?;
        let workflow = parse_workflow(source).map_err(ServiceError::Invalid)?;
        if workflow.name != row.name {
            return Err(ServiceError::Invalid(vec![Problem::new(
                "name",
                format!(
                    "a workflow's name cannot change: this is \"{}\", the document says \"{}\"",
                    row.name, workflow.name
                ),
            )]));
        }
        let (shown, mut credentials) = workflow.split_credentials();
        credentials.keep_unchanged(&self.open_credentials(name, &sealed)?);
        let (definition, plan) = Self::planned_pipeline(&shown)?;
        let resealed = self.seal_credentials(name, &credentials)?;
        let masked = shown.to_yaml();
        self.apply_objects(&shown, &credentials).await?;
        let next = NewVersion {
            description: shown.description.as_deref(),
            source: &masked,
            definition: &definition,
            plan: &plan,
            repository: None,
            scheduled: false,
            watching: false,
            actions: &[],
        };
        self.store
            .add_version(row.id, &next, Some(&resealed))
            .await?;
        let detail = self.get_workflow(name).await?;
        let version = format!("version {}", detail.version);
        let entry = Audit::of(Some(by), AuditAction::WorkflowUpdate, name).detail(&version);
        self.audit(entry).await?;
        Ok(detail)
    }

    pub async fn get_workflow(&self, name: &str) -> ServiceResult<WorkflowDetail> {
        let (row, version, _) = self.workflow_row(name).await?;
        let workflow = Self::stored_workflow(name, &version)?;
        let (pipeline, plan) = stored(&version)?;
        let latest_run = self.latest_run(row.id).await?;
        let steps = match &latest_run {
            Some(run) => self.store.steps(run.id).await?,
            None => Vec::new(),
        };
        Ok(WorkflowDetail {
            name: row.name,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
            engine: pipeline
                .engine
                .unwrap_or(self.default_engine())
                .as_str()
                .to_owned(),
            workflow,
            plan,
            latest_run,
            steps,
        })
    }

    pub async fn list_workflows(&self) -> ServiceResult<Vec<WorkflowSummary>> {
        let mut out = Vec::new();
        for name in self.store.workflow_names().await? {
            // Known to be a workflow: its sealed credentials are not needed here.
            let (row, version) = self.pipeline_row(&name).await?;
            let workflow = Self::stored_workflow(&name, &version)?;
            out.push(WorkflowSummary {
                name,
                image: workflow.image.name.clone(),
                auto_deploy: workflow.auto_deploy,
                latest_run: self.latest_run(row.id).await?,
            });
        }
        Ok(out)
    }

    /// Deletes a pipeline, or a workflow (its cluster objects too) when it is one. A workflow
    /// carries credentials: only an admin deletes it, as only an admin saves one.
    pub async fn delete_pipeline_or_workflow(
        &self,
        name: &str,
        who: &conveyor_core::access::Principal,
    ) -> ServiceResult<()> {
        let (row, _) = self.pipeline_row(name).await?;
        if !self.store.is_workflow(row.id).await? {
            return self.delete_pipeline(name, &who.name).await;
        }
        if !who.may(conveyor_core::access::Action::Admin) {
            return Err(ServiceError::Forbidden(format!(
                "\"{name}\" is a workflow: deleting it needs the admin role"
            )));
        }
        self.delete_workflow(name, &who.name).await
    }

    /// Removes the workflow's objects from the cluster, then the workflow and its runs.
    pub async fn delete_workflow(&self, name: &str, by: &str) -> ServiceResult<()> {
        let (row, version, _) = self.workflow_row(name).await?;
        let workflow = Self::stored_workflow(name, &version)?;
        if self
            .latest_run(row.id)
            .await?
            .is_some_and(|run| !run.status.is_terminal())
        {
            return Err(ServiceError::Conflict(format!(
                "workflow \"{name}\" has a run in flight; cancel it before deleting the workflow"
            )));
        }
        if let Some(cluster) = &self.workflows.cluster {
            cluster
                .remove_workflow(name, &self.deploy_namespace(&workflow))
                .await?;
        }
        match self.store.delete_pipeline(row.id).await {
            Err(StoreError::ActiveRun) => Err(ServiceError::Conflict(format!(
                "workflow \"{name}\" has a run in flight; cancel it before deleting the workflow"
            ))),
            other => {
                other?;
                self.audit(Audit::of(Some(by), AuditAction::WorkflowDelete, name))
                    .await
            }
        }
    }
}
