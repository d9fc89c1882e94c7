//! The pipeline a workflow runs, the image a run pushes and deploys, and what of a workflow
//! may be stored in clear.

use super::{Credentials, DeploySpec, ImageChange, Workflow, KEPT_SECRET};
use super::{BUILD_IMAGE, BUILD_STEP, CLONE_IMAGE, DEPLOY_IMAGE, DEPLOY_STEP, INSECURE_FLAG};
use crate::definition::{Concurrency, Params, Pipeline, Runner, Stage, Step};

/// Clones `GIT_URL` (at `GIT_REVISION`, if set) into `src` of the run's workspace. The
/// values arrive as environment variables, never in the script's text.
const CLONE_SCRIPT: &str = r#"rm -rf src
git clone --quiet "$GIT_URL" src
if [ -n "${GIT_REVISION:-}" ]; then git -C src checkout --quiet "$GIT_REVISION"; fi
git -C src log -1 --format='cloned %H %s'"#;

/// Applies the manifest the run was given (the Deployment with the new image), then waits
/// for the Deployment to roll out (`kubectl rollout status` fails on
/// `ProgressDeadlineExceeded` and at the timeout, with the reason).
const DEPLOY_SCRIPT: &str = r#"printf '%s\n' "$MANIFEST" | kubectl apply -f -
kubectl rollout status "deployment/$DEPLOYMENT" --namespace "$NAMESPACE" --timeout "$ROLLOUT_TIMEOUT""#;

impl Workflow {
    /// The pipeline a workflow runs: stage `build` (clone, then build the top-level
    /// `Dockerfile` and push `image.name:TAG`) and, with `autoDeploy`, stage `deploy`
    /// (apply the Deployment, its run param `MANIFEST`, with the new image).
    pub fn pipeline(&self) -> Pipeline {
        let step = |name: &str, image: &str| Step {
            name: name.to_owned(),
            image: Some(image.to_owned()),
            script: None,
            command: Vec::new(),
            args: Vec::new(),
            action: None,
            with: Params::new(),
            env: Params::new(),
            secrets: Vec::new(),
            needs: None,
            parallel: false,
            timeout: None,
            approval: false,
            approval_params: Params::new(),
            webhooks: Vec::new(),
            node_selector: Params::new(),
            ..Step::default()
        };
        let mut with = Params::from([
            ("GIT_URL".to_owned(), self.git.url.clone()),
            ("IMAGE".to_owned(), self.image.name.clone()),
        ]);
        if let Some(revision) = &self.git.revision {
            with.insert("GIT_REVISION".into(), revision.clone());
        }
        let clone = Step {
            script: Some(CLONE_SCRIPT.to_owned()),
            ..step("clone", CLONE_IMAGE)
        };
        let mut args = vec![
            "--context=dir://$(workspaces.workspace.path)/src".to_owned(),
            "--dockerfile=Dockerfile".to_owned(),
            "--destination=$(params.IMAGE):$(params.TAG)".to_owned(),
        ];
        if self.image.insecure {
            // Plain HTTP to the registry, and no certificate to check.
            args.extend([INSECURE_FLAG.to_owned(), "--skip-tls-verify".to_owned()]);
        }
        let build = Step {
            command: vec!["/kaniko/executor".into()],
            args,
            ..step(BUILD_STEP, BUILD_IMAGE)
        };
        let mut stages = vec![Stage {
            id: None,
            name: "build".into(),
            needs: None,
            steps: vec![clone, build],
        }];
        if self.auto_deploy {
            stages.extend(self.deploy_stage());
        }
        let summary = if self.auto_deploy {
            "build, push and deploy"
        } else {
            "build and push"
        };
        Pipeline {
            name: self.name.clone(),
            description: Some(
                self.description
                    .clone()
                    .unwrap_or_else(|| format!("Workflow: {summary} {}", self.image.name)),
            ),
            tags: vec!["workflow".into()],
            with,
            actions: Vec::new(),
            // The server's default: Tekton runs the steps above; the local engine runs the
            // host's git, image builder and `conveyor deploy-manifest` in their place.
            engine: None,
            // Seed 000: a workflow refuses a run while one is pending or running.
            concurrency: Some(Concurrency::Refuse),
            // On the local engine the host's own tools do the work (they drive the
            // container runtime themselves).
            runner: Some(Runner::Host),
            stages,
            ..Pipeline::default()
        }
    }

    /// The pipeline of a rollback: the deploy stage alone (an image already in the registry
    /// is deployed again, nothing is built).
    pub fn rollback_pipeline(&self) -> Pipeline {
        let mut pipeline = self.pipeline();
        pipeline.stages = self.deploy_stage().into_iter().collect();
        pipeline.description = Some(format!("Roll back {} to an earlier release", self.name));
        pipeline
    }

    /// Stage `deploy`: apply the run's `MANIFEST`, wait for the rollout.
    fn deploy_stage(&self) -> Option<Stage> {
        let deploy = self.deploy.as_ref()?;
        let env = Params::from([
            ("DEPLOYMENT".to_owned(), self.name.clone()),
            (
                "ROLLOUT_TIMEOUT".to_owned(),
                format!("{}s", deploy.rollout_timeout().as_secs()),
            ),
        ]);
        let step = Step {
            name: DEPLOY_STEP.to_owned(),
            image: Some(DEPLOY_IMAGE.to_owned()),
            script: Some(DEPLOY_SCRIPT.to_owned()),
            env,
            ..Step::default()
        };
        Some(Stage {
            id: None,
            name: "deploy".into(),
            needs: None,
            steps: vec![step],
        })
    }

    /// The document as YAML (what is stored and shown, once passwords are masked).
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(self).unwrap_or_default()
    }

    /// The image a run with `tag` pushes.
    pub fn image_ref(&self, tag: &str) -> String {
        format!("{}:{tag}", self.image.name)
    }

    /// Seed 000's rule: every deploy container whose image contains the workflow's image
    /// name runs `image.name:tag`; the others are left as they are.
    pub fn deploy_for_tag(&self, tag: &str) -> Option<(DeploySpec, Vec<ImageChange>)> {
        self.deploy_for_image(&self.image_ref(tag))
    }

    /// The same rule for an image given whole (a release's `name@sha256:…`).
    pub fn deploy_for_image(&self, to: &str) -> Option<(DeploySpec, Vec<ImageChange>)> {
        let mut deploy = self.deploy.clone()?;
        let to = to.to_owned();
        let mut changes = Vec::new();
        for container in &mut deploy.containers {
            if takes_new_image(&container.image, &self.image.name) {
                changes.push(ImageChange {
                    container: container.name.clone(),
                    from: container.image.clone(),
                    to: to.clone(),
                });
                container.image = to.clone();
            }
        }
        Some((deploy, changes))
    }

    /// Splits off the credentials; what is left (passwords replaced by [`KEPT_SECRET`]) may
    /// be stored and shown.
    pub fn split_credentials(&self) -> (Workflow, Credentials) {
        let credentials = Credentials {
            registry_username: self.image.username.clone(),
            registry_password: self.image.password.clone(),
            git_username: self.git.username.clone(),
            git_password: self.git.password.clone(),
        };
        let mut shown = self.clone();
        shown.image.password = KEPT_SECRET.to_owned();
        if shown.git.password.is_some() {
            shown.git.password = Some(KEPT_SECRET.to_owned());
        }
        (shown, credentials)
    }
}

/// Seed 000's substitution rule: a deploy container runs the new image when its image
/// names the workflow's repository.
pub fn takes_new_image(container_image: &str, repository: &str) -> bool {
    !repository.is_empty() && container_image.contains(repository)
}
