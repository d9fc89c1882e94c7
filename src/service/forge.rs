//! Forge deliveries: a push, a tag or a pull request starts the pipelines of its repository
//! whose `on` asks for it. Nothing in a delivery is believed before its signature (or token)
//! is found to be made with a repository's webhook secret.

use std::sync::Arc;

use axum::http::HeaderMap;
use conveyor_core::dto::DeliverySummary;
use conveyor_core::run::{is_valid_tag, Commit, Start, Trigger};
use conveyor_core::triggers::repository_key;

use super::{stored, Service, ServiceError, ServiceResult};
use crate::store::{NewDelivery, StoreError};
use crate::triggers::forge::{parse, repository_urls, Delivery, Forge, Parsed};
use crate::triggers::{wanted, CodeEvent, EventKind};

/// What a delivery did.
#[derive(Debug)]
pub struct Received {
    /// It was received before: nothing new started.
    pub duplicate: bool,
    /// Understood and not built (a ping, a deleted branch, an event Conveyor does not
    /// handle): why.
    pub ignored: Option<String>,
    /// For each pipeline of the repository: the run it started, or why none.
    pub results: Vec<DeliverySummary>,
}

impl Service {
    /// Takes a delivery from a forge: verifies it against the webhook secret of each
    /// pipeline that builds its repository, records it once, and starts the runs its
    /// event asks for.
    pub async fn receive_delivery(
        self: &Arc<Self>,
        forge: Forge,
        headers: &HeaderMap,
        body: &[u8],
    ) -> ServiceResult<Received> {
        let delivery = Delivery::of(forge, headers).map_err(ServiceError::BadRequest)?;
        let urls = repository_urls(forge, body).map_err(ServiceError::BadRequest)?;
        let keys: Vec<String> = urls.iter().filter_map(|u| repository_key(u)).collect();
        let candidates = self.store.pipelines_of_repository(&keys).await?;
        // Which repositories Conveyor builds is nobody's business before they prove a
        // secret: an unknown repository is refused as a wrong signature is.
        let mut proven = Vec::new();
        for name in candidates {
            let (_, version) = self.pipeline_row(&name).await?;
            let (pipeline, _) = stored(&version)?;
            let Some(secret) = pipeline
                .repository
                .as_ref()
                .and_then(|r| r.webhook_secret.clone())
            else {
                continue;
            };
            let Some(key) = self.secrets.value(&name, &secret).await? else {
                continue;
            };
            if delivery.proves(forge, key.as_bytes(), body) {
                proven.push(pipeline);
            }
        }
        if proven.is_empty() {
            return Err(ServiceError::Unauthorized(
                "the delivery's signature (or token) is missing, or not made with the webhook secret of any pipeline of its repository".into(),
            ));
        }
        let parsed = parse(forge, &delivery.event, body).map_err(ServiceError::BadRequest)?;
        let event = match &parsed {
            Parsed::Code(event) => Some(event.as_ref()),
            Parsed::Ignored(_) => None,
        };
        let fingerprint = {
            use sha2::{Digest, Sha256};
            let mut hash = Sha256::new();
            hash.update(forge.as_str().as_bytes());
            hash.update([0]);
            hash.update(body);
            for pipeline in &proven {
                hash.update([0]);
                hash.update(pipeline.name.as_bytes());
            }
            hash.finalize().to_vec()
        };
        let new = NewDelivery {
            fingerprint: &fingerprint,
            forge: forge.as_str(),
            delivery: &delivery.id,
            event: match event {
                Some(event) => event.name(),
                None => delivery.event.as_str(),
            },
            git_ref: event.map(|e| e.git_ref.as_str()),
            commit_sha: event.map(|e| e.sha.as_str()),
        };
        let delivery_id = match self.store.record_forge_delivery(&new).await {
            Ok(id) => id,
            Err(StoreError::DuplicateDelivery(first)) => {
                return Ok(Received {
                    duplicate: true,
                    ignored: None,
                    results: self.store.delivery_results(first).await?,
                });
            }
            Err(err) => return Err(err.into()),
        };
        let ignored = match &parsed {
            Parsed::Ignored(reason) => Some(reason.clone()),
            Parsed::Code(_) => None,
        };
        for pipeline in &proven {
            let (run, reason) = match (&parsed, event) {
                (_, Some(event)) => match wanted(pipeline.on.as_ref(), event) {
                    Err(reason) => (None, Some(reason)),
                    Ok(()) => match self.start_for_code(forge, &pipeline.name, event).await {
                        Ok(run) => (Some(run), None),
                        Err(err) => (None, Some(format!("the run was refused: {err}"))),
                    },
                },
                (Parsed::Ignored(reason), None) => (None, Some(reason.clone())),
                (Parsed::Code(_), None) => (None, None),
            };
            self.store
                .record_delivery_result(delivery_id, &pipeline.name, run, reason.as_deref())
                .await?;
        }
        Ok(Received {
            duplicate: false,
            ignored,
            results: self.store.delivery_results(delivery_id).await?,
        })
    }

    /// Starts a run of the pipeline for a commit; its id.
    async fn start_for_code(
        self: &Arc<Self>,
        forge: Forge,
        pipeline: &str,
        event: &CodeEvent,
    ) -> ServiceResult<i64> {
        let tag = match &event.kind {
            EventKind::Tag(tag) if is_valid_tag(tag) => tag.clone(),
            _ => event.sha.chars().take(12).collect(),
        };
        let trigger = match event.kind {
            EventKind::PullRequest { .. } => Trigger::PullRequest,
            _ => Trigger::Push,
        };
        let start = Start {
            trigger,
            by: None,
            commit: Some(Commit {
                sha: event.sha.clone(),
                git_ref: event.git_ref.clone(),
                branch: event.branch.clone(),
                author: event.author.clone(),
                message: event.message.clone(),
                pull_request: event.pull_request(),
                url: event.url.clone(),
                forge: Some(forge.as_str().to_owned()),
                from_fork: event.from_fork,
            }),
        };
        let run = self
            .start_run(pipeline, &tag, Default::default(), start)
            .await?;
        Ok(run.id)
    }

    /// A pipeline's latest forge deliveries, newest first.
    pub async fn deliveries(
        &self,
        pipeline: &str,
        limit: i64,
    ) -> ServiceResult<Vec<DeliverySummary>> {
        let (row, _) = self.pipeline_row(pipeline).await?;
        Ok(self
            .store
            .deliveries_of(row.id, limit.clamp(1, 200))
            .await?)
    }
}
