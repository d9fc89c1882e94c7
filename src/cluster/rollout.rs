//! Waiting for a Deployment to roll out, as `kubectl rollout status` does: the controller
//! has observed the new generation, every replica is updated and available, no old replica
//! is left, and the rollout has not passed its progress deadline.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::{Api, Client};

/// How often the Deployment is read while it rolls out.
const POLL: Duration = Duration::from_millis(500);
/// However close the deadline, a read gets this long to answer, so that the verdict (and
/// how far the rollout got) comes from the Deployment as it is, not from a slow API.
const READ_GRACE: Duration = Duration::from_secs(5);

/// Where a rollout stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollout {
    /// Still going, and what it waits for.
    Progressing(String),
    Complete,
    /// It will not complete: the reason, in the controller's words.
    Failed(String),
}

/// Where the rollout of `deployment` stands.
pub fn rollout_state(deployment: &Deployment) -> Rollout {
    let generation = deployment.metadata.generation.unwrap_or(0);
    let Some(status) = &deployment.status else {
        return Rollout::Progressing("waiting for the controller to see the deployment".into());
    };
    if status.observed_generation.unwrap_or(0) < generation {
        return Rollout::Progressing(format!(
            "waiting for the controller to see generation {generation}"
        ));
    }
    let deadline = status.conditions.iter().flatten().find(|c| {
        c.type_ == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    });
    if let Some(condition) = deadline {
        let message = condition.message.clone().unwrap_or_default();
        return Rollout::Failed(format!(
            "ProgressDeadlineExceeded: the rollout exceeded its progress deadline{}",
            if message.is_empty() {
                String::new()
            } else {
                format!(" ({message})")
            }
        ));
    }
    let wanted = deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    let updated = status.updated_replicas.unwrap_or(0);
    let total = status.replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    if updated < wanted {
        Rollout::Progressing(format!("{updated} of {wanted} replicas updated"))
    } else if total > updated {
        Rollout::Progressing(format!(
            "{} old replicas are pending termination",
            total - updated
        ))
    } else if available < updated {
        Rollout::Progressing(format!(
            "{available} of {updated} updated replicas available"
        ))
    } else {
        Rollout::Complete
    }
}

/// Waits until Deployment `namespace/name` has rolled out, saying each new stage through
/// `say`; fails with the reason when it cannot, or when `timeout` passes first.
pub async fn wait_for_rollout(
    client: Client,
    namespace: &str,
    name: &str,
    timeout: Duration,
    mut say: impl FnMut(&str),
) -> Result<(), String> {
    let api: Api<Deployment> = Api::namespaced(client, namespace);
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = String::new();
    loop {
        // A read that fails (or does not answer) is tried again until the deadline.
        let answer_by = deadline.max(tokio::time::Instant::now() + READ_GRACE);
        let read = tokio::time::timeout_at(answer_by, api.get(name)).await;
        let state = match read {
            Ok(Ok(deployment)) => rollout_state(&deployment),
            Ok(Err(kube::Error::Api(status))) if status.is_not_found() => {
                return Err(format!("Deployment {namespace}/{name} is gone"));
            }
            Ok(Err(err)) => Rollout::Progressing(format!("could not read it: {err}")),
            Err(_) => Rollout::Progressing(last.clone()),
        };
        match state {
            Rollout::Complete => {
                say(&format!("Deployment {namespace}/{name} rolled out"));
                return Ok(());
            }
            Rollout::Failed(reason) => {
                return Err(format!(
                    "Deployment {namespace}/{name} did not roll out: {reason}"
                ))
            }
            Rollout::Progressing(what) => {
                if what != last {
                    say(&format!("Deployment {namespace}/{name}: {what}"));
                    last = what;
                }
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "Deployment {namespace}/{name} did not roll out within {}: {last}",
                humantime::format_duration(timeout)
            ));
        }
        tokio::time::sleep(POLL.min(deadline - tokio::time::Instant::now())).await;
    }
}
