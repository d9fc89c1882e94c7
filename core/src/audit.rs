//! The audit log: who did what, and when. Sign-ins (and failed ones), changes to pipelines,
//! workflows, accounts, tokens and secrets, and what was done to runs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::run::status_enum;

status_enum!(
    /// What an audit entry records.
    AuditAction ("audit action") {
        SignIn = "sign_in",
        SignInFailed = "sign_in_failed",
        SignOut = "sign_out",
        PasswordChange = "password_change",
        UserAdd = "user_add",
        UserUpdate = "user_update",
        TokenCreate = "token_create",
        TokenRevoke = "token_revoke",
        PipelineCreate = "pipeline_create",
        PipelineUpdate = "pipeline_update",
        PipelineDelete = "pipeline_delete",
        WorkflowCreate = "workflow_create",
        WorkflowUpdate = "workflow_update",
        WorkflowDelete = "workflow_delete",
        RunStart = "run_start",
        RunCancel = "run_cancel",
        RunApprove = "run_approve",
        RunRefuse = "run_refuse",
        RunsDelete = "runs_delete",
        RunsPrune = "runs_prune",
        SecretSet = "secret_set",
        SecretDelete = "secret_delete",
        ActionCreate = "action_create",
        ActionDelete = "action_delete",
    }
);

/// One thing someone did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    pub id: i64,
    /// Unix milliseconds.
    pub at: i64,
    /// The account that acted (for a failed sign-in: the name given); none: the server.
    pub actor: Option<String>,
    pub action: AuditAction,
    /// What it acted on: a pipeline, `run 42`, an account, a token, a secret.
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The address a sign-in came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// A page of the audit log, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    pub next_before: Option<i64>,
}

/// Which entries to list; every filter is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only what this account did.
    #[serde(default)]
    pub actor: Option<String>,
    /// Only this kind of action.
    #[serde(default)]
    pub action: Option<AuditAction>,
    /// Only what was done to this (a pipeline name, `run 42`, an account…).
    #[serde(default)]
    pub target: Option<String>,
    /// Entries older than this id (keyset pagination).
    #[serde(default)]
    pub before: Option<i64>,
    /// 1 to 500; default 50.
    #[serde(default)]
    pub limit: Option<u32>,
}

impl AuditQuery {
    pub fn page_size(&self) -> u32 {
        self.limit.unwrap_or(50).clamp(1, 500)
    }
}
