//! Pipelines: create, save new versions, read, compare versions, delete. A definition is
//! checked and planned once, when it is saved; both are stored with the version.

use conveyor_core::audit::AuditAction;
use conveyor_core::definition::Pipeline;
use conveyor_core::definition::Problem;
use conveyor_core::diff::compare_versions;
use conveyor_core::document::parse_document;
use conveyor_core::dto::{
    PipelineDetail, PipelineSummary, PipelineVersion, RunSummary, RunsQuery, Validation,
    VersionComparison, RECENT_RUNS,
};
use conveyor_core::plan::{plan, Plan};
use conveyor_core::resolve::ResolvedRun;
use conveyor_core::triggers::repository_key;

/// The pipeline's schedules parse (the problems, where not); whether it has any.
fn check_schedules(pipeline: &conveyor_core::definition::Pipeline) -> ServiceResult<bool> {
    let problems = crate::triggers::schedule::check_schedules(pipeline);
    if !problems.is_empty() {
        return Err(ServiceError::Invalid(problems));
    }
    Ok(pipeline
        .on
        .as_ref()
        .is_some_and(|on| !on.schedule.is_empty()))
}

use super::{stored, to_json, Service, ServiceError, ServiceResult};
use crate::store::{Audit, NewVersion, PipelineRow, StoreError, VersionRow};

impl Service {
    /// What the pipeline's engine can never do is refused when it is saved (a pipeline
    /// asking for an engine this server lacks is refused when it runs).
    fn check_saved_for_engine(
        &self,
        pipeline: &conveyor_core::definition::Pipeline,
        plan: &conveyor_core::plan::Plan,
    ) -> ServiceResult<()> {
        let Ok(engine) = self.engine_for(pipeline) else {
            return Ok(());
        };
        let run = ResolvedRun::resolve(pipeline, plan.clone(), "latest", &Default::default());
        Self::check_engine(engine.as_ref(), pipeline, &run, false)
    }

    pub fn validate(&self, source: &str) -> Validation {
        Validation::of(source)
    }

    pub async fn list_pipelines(&self) -> ServiceResult<Vec<PipelineSummary>> {
        let mut recent = self.store.recent_runs(RECENT_RUNS as u32).await?;
        Ok(self
            .store
            .pipelines()
            .await?
            .into_iter()
            .map(|(row, latest_run)| PipelineSummary {
                recent: recent.remove(&row.id).unwrap_or_default(),
                name: row.name,
                description: row.description,
                version: row.version,
                updated_at: row.updated_at,
                latest_run,
            })
            .collect())
    }

    /// A pipeline and its latest version; 404 when there is none of that name.
    pub(super) async fn pipeline_row(
        &self,
        name: &str,
    ) -> ServiceResult<(PipelineRow, VersionRow)> {
        self.store
            .pipeline(name)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no pipeline named \"{name}\"")))
    }

    pub async fn get_pipeline(&self, name: &str) -> ServiceResult<PipelineDetail> {
        let (row, version) = self.pipeline_row(name).await?;
        let (definition, plan) = stored(&version)?;
        let latest_run = self.latest_run(row.id).await?;
        let workflow = self.store.is_workflow(row.id).await?;
        let next_runs = self.upcoming_runs(&definition, 3);
        Ok(PipelineDetail {
            next_runs,
            workflow,
            name: row.name,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
            source: version.source,
            engine: definition
                .engine
                .unwrap_or(self.default_engine())
                .as_str()
                .to_owned(),
            definition,
            plan,
            latest_run,
        })
    }

    pub(super) async fn latest_run(&self, pipeline_id: i64) -> ServiceResult<Option<RunSummary>> {
        let query = RunsQuery {
            limit: Some(1),
            ..Default::default()
        };
        Ok(self
            .store
            .runs(Some(pipeline_id), &query)
            .await?
            .0
            .into_iter()
            .next())
    }

    /// Reads a document, looks the actions its steps name up in the catalog, then checks
    /// and plans it; the catalog actions it uses.
    async fn check_with_catalog(
        &self,
        source: &str,
    ) -> ServiceResult<(Pipeline, Plan, Vec<(String, String)>)> {
        let mut pipeline = parse_document(source).map_err(ServiceError::Invalid)?;
        let uses = self.attach_catalog(&mut pipeline).await?;
        let plan = plan(&pipeline).map_err(ServiceError::Invalid)?;
        Ok((pipeline, plan, uses))
    }

    pub async fn create_pipeline(&self, source: &str, by: &str) -> ServiceResult<PipelineDetail> {
        let (pipeline, plan, uses) = self.check_with_catalog(source).await?;
        self.secrets.check_exist(&pipeline).await?;
        crate::triggers::check_patterns(&pipeline).map_err(ServiceError::Invalid)?;
        self.check_saved_for_engine(&pipeline, &plan)?;
        let scheduled = check_schedules(&pipeline)?;
        let watching = self.check_watches(&pipeline)?;
        let repository = pipeline
            .repository
            .as_ref()
            .and_then(|r| repository_key(&r.url));
        let (definition, plan) = (to_json(&pipeline)?, to_json(&plan)?);
        let first = NewVersion {
            description: pipeline.description.as_deref(),
            source,
            definition: &definition,
            plan: &plan,
            repository: repository.as_deref(),
            scheduled,
            watching,
            actions: &uses,
        };
        match self
            .store
            .create_pipeline(&pipeline.name, &first, None)
            .await
        {
            Ok(_) => {
                self.refresh_watches().await?;
                self.audit(Audit::of(
                    Some(by),
                    AuditAction::PipelineCreate,
                    &pipeline.name,
                ))
                .await?;
                self.get_pipeline(&pipeline.name).await
            }
            Err(StoreError::PipelineExists(name)) => Err(ServiceError::Conflict(format!(
                "a pipeline named \"{name}\" already exists; save a new version of it instead"
            ))),
            Err(err @ StoreError::ActionMissing(_)) => Err(ServiceError::Conflict(err.to_string())),
            Err(err) => Err(err.into()),
        }
    }

    /// Saves a new version; the name in the document must be the pipeline's own.
    pub async fn update_pipeline(
        &self,
        name: &str,
        source: &str,
        by: &str,
    ) -> ServiceResult<PipelineDetail> {
        let (row, _) = self.pipeline_row(name).await?;
        self.refuse_workflow(&row, "edit").await?;
        let (pipeline, plan, uses) = self.check_with_catalog(source).await?;
        if pipeline.name != row.name {
            return Err(ServiceError::Invalid(vec![Problem::new(
                "name",
                format!(
                    "a pipeline's name cannot change: this is \"{}\", the document says \"{}\"",
                    row.name, pipeline.name
                ),
            )]));
        }
        self.secrets.check_exist(&pipeline).await?;
        crate::triggers::check_patterns(&pipeline).map_err(ServiceError::Invalid)?;
        self.check_saved_for_engine(&pipeline, &plan)?;
        let scheduled = check_schedules(&pipeline)?;
        let watching = self.check_watches(&pipeline)?;
        let repository = pipeline
            .repository
            .as_ref()
            .and_then(|r| repository_key(&r.url));
        let (definition, plan) = (to_json(&pipeline)?, to_json(&plan)?);
        let next = NewVersion {
            description: pipeline.description.as_deref(),
            source,
            definition: &definition,
            plan: &plan,
            repository: repository.as_deref(),
            scheduled,
            watching,
            actions: &uses,
        };
        self.store
            .add_version(row.id, &next, None)
            .await
            .map_err(|err| match err {
                StoreError::ActionMissing(_) => ServiceError::Conflict(err.to_string()),
                other => other.into(),
            })?;
        self.refresh_watches().await?;
        let detail = self.get_pipeline(name).await?;
        let version = format!("version {}", detail.version);
        let entry = Audit::of(Some(by), AuditAction::PipelineUpdate, name).detail(&version);
        self.audit(entry).await?;
        Ok(detail)
    }

    pub async fn delete_pipeline(&self, name: &str, by: &str) -> ServiceResult<()> {
        let (row, _) = self.pipeline_row(name).await?;
        self.refuse_workflow(&row, "delete").await?;
        match self.store.delete_pipeline(row.id).await {
            Err(StoreError::ActiveRun) => Err(ServiceError::Conflict(format!(
                "pipeline \"{name}\" has a run in flight; cancel it before deleting the pipeline"
            ))),
            other => {
                other?;
                self.store.delete_scope_secrets(name).await?;
                self.refresh_watches().await?;
                self.audit(Audit::of(Some(by), AuditAction::PipelineDelete, name))
                    .await
            }
        }
    }

    pub async fn versions(&self, name: &str) -> ServiceResult<Vec<PipelineVersion>> {
        let (row, _) = self.pipeline_row(name).await?;
        Ok(self
            .store
            .versions(row.id)
            .await?
            .into_iter()
            .map(version_of)
            .collect())
    }

    pub async fn version(&self, name: &str, version: i64) -> ServiceResult<PipelineVersion> {
        let (row, _) = self.pipeline_row(name).await?;
        let v = self.store.version(row.id, version).await?.ok_or_else(|| {
            ServiceError::NotFound(format!("pipeline \"{name}\" has no version {version}"))
        })?;
        Ok(version_of(v))
    }

    /// Two saved versions of a pipeline and their line diff: `to` (by default the latest)
    /// against `from` (by default the one before `to`).
    pub async fn compare_versions(
        &self,
        name: &str,
        from: Option<i64>,
        to: Option<i64>,
    ) -> ServiceResult<VersionComparison> {
        let versions = self.versions(name).await?;
        compare_versions(versions, from, to).map_err(|missing| {
            ServiceError::NotFound(format!("pipeline \"{name}\" has no version {missing}"))
        })
    }
}

fn version_of(v: VersionRow) -> PipelineVersion {
    PipelineVersion {
        version: v.version,
        created_at: v.created_at,
        source: v.source,
    }
}
