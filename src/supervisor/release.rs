//! At a workflow run's end: the image it pushed, recorded by digest, and its deploy,
//! recorded as a release with the rollout's outcome.

use conveyor_core::run::LogStream;
use conveyor_core::workflow::RolloutOutcome;

use super::{RunState, Supervision, DIGEST_TIMEOUT};
use crate::engine::EngineEvent;
use crate::store::NewRelease;

impl Supervision {
    /// Asks the registry for the digest of the image the run pushed and records it, with a
    /// line in the pushing step's log.
    pub(super) async fn record_pushed(&self, state: &mut RunState) {
        let Some((step, lookup)) = state.pushed_image() else {
            return;
        };
        // A registry that stops answering must not hold the run's end.
        let asked = tokio::time::timeout(DIGEST_TIMEOUT, lookup.digest()).await;
        let found =
            asked.unwrap_or_else(|_| Err(format!("no answer in {} s", DIGEST_TIMEOUT.as_secs())));
        let text = match found {
            Ok(digest) => {
                let pinned = lookup.pinned(&digest);
                match self.store.set_run_image(state.run_id, &pinned).await {
                    Ok(()) => {
                        state.pushed = Some(digest);
                        format!("pushed {pinned}")
                    }
                    Err(err) => format!("could not record the pushed image {pinned}: {err}"),
                }
            }
            Err(err) => {
                format!("could not read the pushed image's digest from its registry: {err}")
            }
        };
        state.apply(EngineEvent::Log {
            step,
            stream: LogStream::System,
            text,
            partial: false,
        });
    }

    /// Records the run's deploy as a release, once its deploy step has ended.
    pub(super) async fn record_release(&self, state: &mut RunState) {
        let (Some(plan), Some((rolled_out, said))) =
            (state.release.clone(), state.deploy_outcome())
        else {
            return;
        };
        let (image, digest, rollback_of) = match (&plan.rollback, &state.pushed, &state.image) {
            (Some((of, digest)), _, _) => (plan.image.clone(), Some(digest.clone()), Some(*of)),
            (None, Some(digest), Some(lookup)) => {
                (lookup.pinned(digest), Some(digest.clone()), None)
            }
            (None, _, _) => (plan.image.clone(), None, None),
        };
        let outcome = if rolled_out {
            RolloutOutcome::RolledOut
        } else {
            RolloutOutcome::Failed
        };
        // The deploy step's last words, without the program's name (`conveyor
        // deploy-manifest: …` on this host).
        let reason = (!rolled_out).then(|| match said {
            Some(line) => line
                .strip_prefix("conveyor deploy-manifest: ")
                .unwrap_or(&line)
                .to_owned(),
            None => "the deploy step failed".to_owned(),
        });
        let new = NewRelease {
            run_id: state.run_id,
            image: &image,
            digest: digest.as_deref(),
            outcome,
            reason: reason.as_deref(),
            rollback_of,
        };
        if let Err(err) = self.store.record_release(&new).await {
            tracing::warn!(run = state.run_id, error = %err, "could not record the release");
        }
    }
}
