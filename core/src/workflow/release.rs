//! Releases: what each deploy of a workflow put on the cluster (by digest), and how its
//! rollout ended; an earlier release can be deployed again without building.

use serde::{Deserialize, Serialize};

use std::fmt;
use std::str::FromStr;

use crate::run::{status_enum, Trigger};

/// One deploy of a workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Release {
    pub id: i64,
    pub workflow: String,
    /// The run that deployed it (none once retention deleted that run) and its number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<i64>,
    pub run_number: i64,
    /// The tag the image was built under.
    pub tag: String,
    /// The image deployed, pinned by digest (`name@sha256:…`) when the registry told it.
    pub image: String,
    /// `sha256:…`; none when the registry could not be asked (such a release cannot be
    /// rolled back to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// `ui`, `api`, `push`… or `rollback`.
    pub trigger: Trigger,
    /// The account that started the run (none: the server itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_by: Option<String>,
    /// Unix milliseconds: when the deploy ended.
    pub created_at: i64,
    pub outcome: RolloutOutcome,
    /// Why the rollout failed, in the deploy step's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The release a rollback deployed again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<i64>,
    /// The release running now: the newest that rolled out.
    #[serde(default)]
    pub live: bool,
}

status_enum!(
    /// How a deploy's rollout ended.
    RolloutOutcome ("rollout outcome") {
        RolledOut = "rolled_out",
        Failed = "failed",
    }
);

/// Releases of a workflow, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReleasePage {
    pub releases: Vec<Release>,
    /// Pass as `before` for older releases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_before: Option<i64>,
}

impl Release {
    /// Whether "Roll back to this" applies: it rolled out, its digest is known, and it is
    /// not what runs now.
    pub fn can_roll_back_to(&self) -> bool {
        self.outcome == RolloutOutcome::RolledOut && self.digest.is_some() && !self.live
    }
}
