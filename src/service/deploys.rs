//! Workflow runs: a build that never replaces a tag the registry holds, a deploy recorded
//! as a release, and rollbacks that deploy an earlier release's image by digest without
//! building.

use std::path::PathBuf;
use std::sync::Arc;

use conveyor_core::definition::{Concurrency, EngineKind, Params, Pipeline, Problem};
use conveyor_core::dto::RunSummary;
use conveyor_core::plan::{plan, Plan};
use conveyor_core::run::{is_valid_tag, Start, Trigger};
use conveyor_core::workflow::{
    Credentials, Release, ReleasePage, Workflow, BUILD_STEP, DEPLOY_STEP,
};

use super::host::{find_builder, on_host};
use super::runs::Launch;
use super::{Service, ServiceError, ServiceResult};
use crate::cluster::objects::{deploy_manifest, docker_config_json, registry_secret_name};
use crate::engine::RegistryAccess;
use crate::registry::ImageLookup;
use crate::store::{PipelineRow, StoreError, VersionRow};
use crate::supervisor::ReleasePlan;

/// Most releases on one page.
const RELEASES_MAX: i64 = 200;

/// What a workflow run does: build (and deploy) a tag, or deploy an earlier release again.
enum Deploying<'a> {
    Build,
    Rollback(&'a Release),
}

impl Service {
    /// Starts a run: build `image.name:tag`, and with autoDeploy apply the Deployment with
    /// that image (its manifest is made now, for this tag, and passed as `MANIFEST`).
    pub async fn start_workflow_run(
        self: &Arc<Self>,
        name: &str,
        tag: &str,
        params: Params,
        start: Start,
    ) -> ServiceResult<RunSummary> {
        let (row, version, sealed) = self.workflow_row(name).await?;
        self.launch_workflow(&row, &version, &sealed, tag, params, start)
            .await
    }

    /// Starts a run of the workflow in `row`, whose credentials are `sealed`.
    pub(super) async fn launch_workflow(
        self: &Arc<Self>,
        row: &PipelineRow,
        version: &VersionRow,
        sealed: &[u8],
        tag: &str,
        params: Params,
        start: Start,
    ) -> ServiceResult<RunSummary> {
        self.launch_deploying(row, version, sealed, tag, params, start, Deploying::Build)
            .await
    }

    /// A workflow's releases, newest first (`before`: a release id, for older ones).
    pub async fn list_releases(
        &self,
        name: &str,
        before: Option<i64>,
        limit: Option<i64>,
    ) -> ServiceResult<ReleasePage> {
        let (row, _, _) = self.workflow_row(name).await?;
        let limit = limit.unwrap_or(50).clamp(1, RELEASES_MAX);
        let mut releases = self.store.releases(row.id, before, limit + 1).await?;
        let next_before = (releases.len() as i64 > limit).then(|| {
            releases.truncate(limit as usize);
            releases.last().map(|r| r.id)
        });
        Ok(ReleasePage {
            releases,
            next_before: next_before.flatten(),
        })
    }

    /// Deploys release `id` of the workflow again, by digest, without building: a run of
    /// the deploy step alone, with trigger `rollback`.
    pub async fn roll_back(
        self: &Arc<Self>,
        name: &str,
        id: i64,
        by: Option<&str>,
    ) -> ServiceResult<RunSummary> {
        let (row, version, sealed) = self.workflow_row(name).await?;
        let release = self.store.release(row.id, id).await?.ok_or_else(|| {
            ServiceError::NotFound(format!("workflow \"{name}\" has no release {id}"))
        })?;
        let refuse = |why: String| Err(ServiceError::Invalid(vec![Problem::new("release", why)]));
        if release.digest.is_none() {
            return refuse(format!(
                "release {id} ({}) has no recorded digest: its image cannot be deployed exactly as it was",
                release.tag
            ));
        }
        if release.outcome != conveyor_core::workflow::RolloutOutcome::RolledOut {
            return refuse(format!(
                "release {id} ({}) never rolled out: roll back to one that did",
                release.tag
            ));
        }
        let start = Start {
            trigger: conveyor_core::run::Trigger::Rollback,
            by: by.map(str::to_owned),
            commit: None,
        };
        let tag = release.tag.clone();
        let run = self
            .launch_deploying(
                &row,
                &version,
                &sealed,
                &tag,
                Params::new(),
                start,
                Deploying::Rollback(&release),
            )
            .await?;
        // The image it deploys, on record with the run (and for a re-run of it).
        self.store.set_run_image(run.id, &release.image).await?;
        Ok(run)
    }

    /// A re-run of a rollback: the same release deployed again (never a build of its tag).
    pub(super) async fn roll_back_again(
        self: &Arc<Self>,
        run: &RunSummary,
        by: Option<&str>,
    ) -> ServiceResult<RunSummary> {
        let (row, _) = self.pipeline_row(&run.pipeline).await?;
        let image = self.store.run_image(run.id).await?;
        let release = match image {
            Some(image) => self.store.release_with_image(row.id, &image).await?,
            None => None,
        };
        let Some(release) = release else {
            return Err(ServiceError::Invalid(vec![Problem::new(
                "run",
                format!(
                    "run #{} rolled back to a release no longer on record: roll back from the releases",
                    run.number
                ),
            )]));
        };
        self.roll_back(&run.pipeline, release, by).await
    }

    /// A workflow run's deploy as planned when it started (for a server that resumes it).
    pub(super) async fn resumed_release(
        &self,
        run: &RunSummary,
    ) -> ServiceResult<Option<ReleasePlan>> {
        let Some(json) = self.store.run_release_plan(run.id).await? else {
            return Ok(None);
        };
        let plan = serde_json::from_str(&json)
            .map_err(|err| StoreError::Corrupt(format!("run {}'s release plan: {err}", run.id)))?;
        Ok(Some(plan))
    }

    /// The image a workflow run that a restarted server resumes pushes (its digest is asked
    /// for when the run ends); none for a rollback, which builds nothing.
    pub(super) async fn resumed_image(
        &self,
        run: &RunSummary,
        pipeline_id: i64,
    ) -> ServiceResult<Option<ImageLookup>> {
        if run.trigger == Trigger::Rollback {
            return Ok(None);
        }
        let Some(sealed) = self.store.workflow_credentials(pipeline_id).await? else {
            return Ok(None);
        };
        let version = self
            .store
            .version(pipeline_id, run.version)
            .await?
            .ok_or_else(|| {
                StoreError::Corrupt(format!("run {}'s version {} is gone", run.id, run.version))
            })?;
        let workflow = Self::stored_workflow(&run.pipeline, &version)?;
        let credentials = self.open_credentials(&run.pipeline, &sealed)?;
        Ok(Some(pushed_image(&workflow, &run.tag, &credentials)))
    }

    #[allow(clippy::too_many_arguments)]
    async fn launch_deploying(
        self: &Arc<Self>,
        row: &PipelineRow,
        version: &VersionRow,
        sealed: &[u8],
        tag: &str,
        mut params: Params,
        start: Start,
        deploying: Deploying<'_>,
    ) -> ServiceResult<RunSummary> {
        let workflow = Self::stored_workflow(&row.name, version)?;
        let credentials = self.open_credentials(&row.name, sealed)?;
        let image = pushed_image(&workflow, tag, &credentials);
        let namespace = self.deploy_namespace(&workflow);
        let (deployed, rollback) = match deploying {
            Deploying::Build => {
                if is_valid_tag(tag) && !workflow.image.overwrite_tags {
                    refuse_existing_tag(&image).await?;
                }
                (workflow.image_ref(tag), None)
            }
            Deploying::Rollback(release) => {
                if workflow.deploy.is_none() {
                    return Err(ServiceError::Invalid(vec![Problem::new(
                        "deploy",
                        "the workflow has no `deploy` section to roll back",
                    )]));
                }
                let digest = release.digest.clone().unwrap_or_default();
                (release.image.clone(), Some((release.id, digest)))
            }
        };
        let deploys = rollback.is_some() || workflow.auto_deploy;
        if deploys && is_valid_tag(tag) {
            if let Some(manifest) = deploy_manifest(&workflow, &deployed, &namespace) {
                params.insert("MANIFEST".into(), manifest.to_string());
                params.insert("NAMESPACE".into(), namespace.clone());
            }
        }
        let rolling_back = rollback.is_some();
        let (definition, plan) = self.workflow_definition(&workflow, rolling_back)?;
        let release = (deploys && workflow.deploy.is_some()).then(|| ReleasePlan {
            step: DEPLOY_STEP.to_owned(),
            image: deployed,
            rollback,
        });
        // A rollback builds and pushes nothing: no registry credentials in its run.
        let registry = (!rolling_back).then(|| RegistryAccess {
            steps: vec![BUILD_STEP.to_owned()],
            secret: registry_secret_name(&workflow),
            docker_config: docker_config_json(&workflow, &credentials),
            image: Some(image),
        });
        let launch = Launch {
            row,
            version: version.version,
            pipeline: &definition,
            plan,
            tag,
            params,
            start,
            service_account: Some(workflow.name.clone()),
            registry,
            release,
            retry: None,
            // Seed 000: a workflow refuses a run while one is pending or running.
            concurrency: Concurrency::Refuse,
        };
        self.launch(launch).await
    }

    /// The pipeline a workflow run runs (the deploy stage alone for a rollback), made from
    /// the stored workflow document by this build's rules (a version saved by an earlier
    /// one gets today's steps, such as waiting for the rollout), and on the local engine
    /// with the host's tools in place of the cluster's images.
    fn workflow_definition(
        &self,
        workflow: &Workflow,
        rollback: bool,
    ) -> ServiceResult<(Pipeline, Plan)> {
        let pipeline = if rollback {
            workflow.rollback_pipeline()
        } else {
            workflow.pipeline()
        };
        let plan = plan(&pipeline).map_err(ServiceError::Invalid)?;
        if self.engine_for(&pipeline)?.kind() != EngineKind::Local {
            return Ok((pipeline, plan));
        }
        let tools = &self.workflows.host;
        let builder = if rollback {
            // Nothing is built: any name of a builder will do.
            PathBuf::from("podman")
        } else {
            find_builder(tools.builder.as_deref())
                .map_err(|message| ServiceError::Invalid(vec![Problem::new("build", message)]))?
        };
        let deploys = rollback || workflow.auto_deploy;
        let kubeconfig = match (&tools.kubeconfig, deploys) {
            (Some(path), _) => path.clone(),
            (None, false) => PathBuf::new(),
            (None, true) => {
                return Err(ServiceError::Invalid(vec![Problem::new(
                    "deploy",
                    "autoDeploy needs a cluster to deploy to: start the server with --kubeconfig (or set KUBECONFIG)",
                )]))
            }
        };
        let host = on_host(&pipeline, &builder, tools, &kubeconfig)
            .map_err(|message| ServiceError::Invalid(vec![Problem::new("build", message)]))?;
        Ok((host, plan))
    }
}

/// The image a workflow's build pushes for a tag, and how to ask its registry about it.
fn pushed_image(workflow: &Workflow, tag: &str, credentials: &Credentials) -> ImageLookup {
    ImageLookup {
        image: workflow.image_ref(tag),
        step: BUILD_STEP.to_owned(),
        insecure: workflow.image.insecure,
        username: credentials.registry_username.clone(),
        password: credentials.registry_password.clone(),
    }
}

/// Refuses a build whose tag the registry already holds (it would replace that image). A
/// registry that cannot be asked does not stop the build: the push itself will say more.
async fn refuse_existing_tag(image: &ImageLookup) -> ServiceResult<()> {
    let asked = tokio::time::timeout(std::time::Duration::from_secs(10), image.existing_digest());
    match asked.await {
        Ok(Ok(Some(digest))) => Err(ServiceError::Conflict(format!(
            "{} is already in the registry ({digest}); a build would replace it. Push a new tag, \
             roll back to its release to deploy it again, or set image.overwriteTags to allow replacing tags",
            image.image
        ))),
        Ok(Ok(None)) => Ok(()),
        Ok(Err(err)) => {
            tracing::warn!(image = image.image, error = %err, "could not ask the registry whether the tag exists");
            Ok(())
        }
        Err(_) => {
            tracing::warn!(image = image.image, "the registry did not say in 10 s whether the tag exists");
            Ok(())
        }
    }
}
