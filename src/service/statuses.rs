//! Runs of code report back to their forge: `pending` when made, then `success`, `failure`
//! or `error` (cancelled) on the commit, linking to the run page, through the GitHub, Gitea
//! (and Forgejo) or GitLab status API with the repository's `status_token`. The calls go
//! out as webhook calls do: off the run's path, retried, and each outcome kept with the run.

use conveyor_core::dto::RunSummary;
use conveyor_core::run::RunStatus;
use conveyor_core::triggers::{repository_key, Repository};
use serde_json::json;

use super::{stored, Service, ServiceResult};
use crate::notify::{AuthHeader, Notice};
use crate::triggers::forge::Forge;

/// The step name a status call is listed under on the run page.
pub const STATUS_CALL: &str = "commit status";

/// A run's state as forges say it: GitHub's and Gitea's word, and GitLab's.
fn states(status: RunStatus) -> (&'static str, &'static str) {
    match status {
        RunStatus::Succeeded => ("success", "success"),
        RunStatus::Failed | RunStatus::Refused => ("failure", "failed"),
        RunStatus::Cancelled => ("error", "canceled"),
        RunStatus::Running | RunStatus::WaitingApproval | RunStatus::Cancelling => {
            ("pending", "running")
        }
        RunStatus::Queued | RunStatus::Pending => ("pending", "pending"),
    }
}

/// The forge's API root: the repository's `api_url`, else where the forge keeps it.
fn api_root(forge: Forge, repo: &Repository, host: &str) -> String {
    if let Some(api) = &repo.api_url {
        return api.trim_end_matches('/').to_owned();
    }
    let scheme = if repo.url.starts_with("http://") {
        "http"
    } else {
        "https"
    };
    match forge {
        Forge::GitHub if host == "github.com" => "https://api.github.com".to_owned(),
        Forge::GitHub => format!("{scheme}://{host}/api/v3"),
        Forge::Gitea => format!("{scheme}://{host}/api/v1"),
        Forge::GitLab => format!("{scheme}://{host}/api/v4"),
    }
}

impl Service {
    /// Reports a run's state on its commit, when a forge's event started it and its
    /// pipeline names a status token. Failing here never fails the run: it is logged.
    pub(super) async fn report_commit_status(&self, run_id: i64) {
        if let Err(err) = self.try_report(run_id).await {
            tracing::warn!(run = run_id, error = %err, "could not report the commit status");
        }
    }

    async fn try_report(&self, run_id: i64) -> ServiceResult<()> {
        let run: RunSummary = self.run_summary(run_id).await?;
        let Some(commit) = &run.commit else {
            return Ok(());
        };
        let Some(forge) = commit.forge.as_deref().and_then(Forge::from_path) else {
            return Ok(());
        };
        let (_, version) = self.pipeline_row(&run.pipeline).await?;
        let (pipeline, _) = stored(&version)?;
        let Some(repo) = pipeline.repository else {
            return Ok(());
        };
        let Some(secret) = &repo.status_token else {
            return Ok(());
        };
        let Some(token) = self.secrets.value(&run.pipeline, secret).await? else {
            tracing::warn!(run = run_id, secret = %secret, "the status token's secret is gone");
            return Ok(());
        };
        let Some(key) = repository_key(&repo.url) else {
            return Ok(());
        };
        let Some((host, path)) = key.split_once('/') else {
            return Ok(());
        };
        let api = api_root(forge, &repo, host);
        let (state, gitlab_state) = states(run.status);
        let target_url = format!("{}/runs/{}", self.public_url(), run.id);
        let context = format!("conveyor/{}", run.pipeline);
        let description = format!(
            "run #{} {}",
            run.number,
            run.status.as_str().replace('_', " ")
        );
        let sha = &commit.sha;
        let (url, payload, authorization) = match forge {
            Forge::GitHub | Forge::Gitea => (
                format!("{api}/repos/{path}/statuses/{sha}"),
                json!({"state": state, "target_url": target_url, "description": description, "context": context}),
                AuthHeader {
                    name: "authorization",
                    value: match forge {
                        Forge::GitHub => format!("Bearer {token}"),
                        _ => format!("token {token}"),
                    },
                },
            ),
            Forge::GitLab => {
                let project: String =
                    url::form_urlencoded::byte_serialize(path.as_bytes()).collect();
                (
                    format!("{api}/projects/{project}/statuses/{sha}"),
                    json!({"state": gitlab_state, "target_url": target_url, "description": description, "name": context}),
                    AuthHeader {
                        name: "private-token",
                        value: token,
                    },
                )
            }
        };
        self.webhooks.notify(Notice {
            run_id,
            step: STATUS_CALL.to_owned(),
            event: state,
            // A commit's statuses of one pipeline land in the order they were sent.
            in_order: Some(format!("{url} {context}")),
            url,
            payload,
            signing_key: None,
            authorization: Some(authorization),
        });
        Ok(())
    }
}
