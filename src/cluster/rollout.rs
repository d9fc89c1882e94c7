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

#[cfg(test)]
mod tests {
    use super::{rollout_state, Rollout};
    use k8s_openapi::api::apps::v1::Deployment;

    /// A Deployment of 3 replicas at `generation`, with the status fields given.
    fn deployment(generation: i64, status: serde_json::Value) -> Deployment {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "generation": generation},
            "spec": {"replicas": 3, "selector": {}, "template": {}},
            "status": status,
        }))
        .expect("a Deployment")
    }

    fn progressing(what: &str) -> Rollout {
        Rollout::Progressing(what.to_owned())
    }

    #[test]
    fn each_stage_of_a_rollout_reads_as_kubectl_says_it() {
        let settled = serde_json::json!({"observedGeneration": 2, "replicas": 3,
            "updatedReplicas": 3, "availableReplicas": 3});
        assert_eq!(
            rollout_state(&deployment(2, settled.clone())),
            Rollout::Complete
        );
        // The controller has not seen the new spec yet: the old status says nothing of it.
        assert_eq!(
            rollout_state(&deployment(3, settled)),
            progressing("waiting for the controller to see generation 3")
        );
        let at = |updated: i32, total: i32, available: i32| {
            rollout_state(&deployment(
                2,
                serde_json::json!({"observedGeneration": 2, "replicas": total,
                    "updatedReplicas": updated, "availableReplicas": available}),
            ))
        };
        assert_eq!(at(1, 4, 3), progressing("1 of 3 replicas updated"));
        assert_eq!(
            at(3, 4, 3),
            progressing("1 old replicas are pending termination")
        );
        assert_eq!(
            at(3, 3, 2),
            progressing("2 of 3 updated replicas available")
        );
        let stuck = deployment(
            2,
            serde_json::json!({"observedGeneration": 2, "replicas": 4, "updatedReplicas": 1,
                "conditions": [{"type": "Progressing", "status": "False",
                    "reason": "ProgressDeadlineExceeded",
                    "message": "ReplicaSet \"web-2\" has timed out progressing."}]}),
        );
        assert_eq!(
            rollout_state(&stuck),
            Rollout::Failed(
                "ProgressDeadlineExceeded: the rollout exceeded its progress deadline \
                 (ReplicaSet \"web-2\" has timed out progressing.)"
                    .into()
            )
        );
        let unseen: Deployment = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "generation": 1}, "spec": {"selector": {}, "template": {}}
        }))
        .expect("a Deployment");
        assert_eq!(
            rollout_state(&unseen),
            progressing("waiting for the controller to see the deployment")
        );
    }
}
