//! The server's use cases as the pages see them; the service layer implements this.

use std::sync::Arc;

use conveyor_core::access::{NewToken, Principal, Role, Scope, TokenSummary, UserSummary};
use conveyor_core::audit::{AuditPage, AuditQuery};
use conveyor_core::definition::Params;
use conveyor_core::dto::{
    DeliverySummary, LogLine, PipelineDetail, PipelineSummary, RunDetail, RunPage, RunSummary,
    RunsQuery, VersionComparison, WorkflowDetail,
};
use conveyor_core::run::Start;
use conveyor_core::secrets::SecretSummary;

/// What a server function needs to know of a failure: a message fit for the user.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct BackendError(pub String);

pub type BackendResult<T> = Result<T, BackendError>;

#[async_trait::async_trait]
pub trait Backend: Send + Sync {
    /// Signs in for the browser that sent `request`: the `Set-Cookie` of its new session.
    async fn sign_in(
        &self,
        request: &http::request::Parts,
        name: &str,
        password: &str,
    ) -> BackendResult<http::HeaderValue>;
    /// `who`'s account and tokens.
    async fn account(&self, who: &Principal) -> BackendResult<(UserSummary, Vec<TokenSummary>)>;
    /// Every account.
    async fn users(&self) -> BackendResult<Vec<UserSummary>>;
    /// A token of `who`'s, with a lifetime like `30d` (none: until revoked).
    async fn create_token(
        &self,
        who: &Principal,
        name: &str,
        scope: Scope,
        expires: Option<&str>,
    ) -> BackendResult<NewToken>;
    async fn revoke_token(&self, who: &Principal, id: i64) -> BackendResult<()>;
    async fn change_password(&self, who: &Principal, current: &str, new: &str)
        -> BackendResult<()>;
    /// Adds an account; without a password one is made and returned.
    async fn add_user(
        &self,
        who: &Principal,
        name: &str,
        role: Role,
        password: Option<String>,
    ) -> BackendResult<Option<String>>;
    async fn update_user(
        &self,
        who: &Principal,
        name: &str,
        role: Option<Role>,
        disabled: Option<bool>,
    ) -> BackendResult<()>;
    /// Every secret, by name (never a value).
    async fn secrets(&self) -> BackendResult<Vec<SecretSummary>>;
    /// Every version of every catalog action, with the pipelines that use it.
    async fn actions(&self) -> BackendResult<Vec<conveyor_core::catalog::ActionEntry>>;
    async fn set_secret(
        &self,
        who: &Principal,
        pipeline: Option<&str>,
        name: &str,
        value: &str,
    ) -> BackendResult<()>;
    async fn delete_secret(
        &self,
        who: &Principal,
        pipeline: Option<&str>,
        name: &str,
    ) -> BackendResult<()>;
    /// A page of the audit log.
    async fn audit_log(&self, query: &AuditQuery) -> BackendResult<AuditPage>;
    /// Ends the session `request` came with: the `Set-Cookie` that clears it.
    async fn sign_out(&self, request: &http::request::Parts) -> BackendResult<http::HeaderValue>;
    async fn list_pipelines(&self) -> BackendResult<Vec<PipelineSummary>>;
    async fn get_pipeline(&self, name: &str) -> BackendResult<PipelineDetail>;
    /// A pipeline's latest forge deliveries, newest first.
    async fn deliveries(&self, pipeline: &str, limit: i64) -> BackendResult<Vec<DeliverySummary>>;
    async fn create_pipeline(&self, source: &str, who: &Principal)
        -> BackendResult<PipelineDetail>;
    async fn update_pipeline(
        &self,
        name: &str,
        source: &str,
        who: &Principal,
    ) -> BackendResult<PipelineDetail>;
    /// Two saved versions of a pipeline and their diff (by default the latest two).
    async fn compare_versions(
        &self,
        name: &str,
        from: Option<i64>,
        to: Option<i64>,
    ) -> BackendResult<VersionComparison>;
    async fn start_run(
        &self,
        pipeline: &str,
        tag: &str,
        params: Params,
        start: Start,
    ) -> BackendResult<RunSummary>;
    async fn list_runs(&self, pipeline: Option<&str>, query: &RunsQuery) -> BackendResult<RunPage>;
    async fn get_run(&self, id: i64) -> BackendResult<RunDetail>;
    /// Log lines that contain a text, newest run first.
    async fn search(
        &self,
        query: &conveyor_core::search::SearchQuery,
    ) -> BackendResult<conveyor_core::search::SearchPage>;
    /// The last `limit` lines of a run's log, oldest first, numbered as the log viewer
    /// numbers them.
    async fn log_tail(&self, id: i64, limit: u32) -> BackendResult<Vec<LogLine>>;
    async fn cancel_run(&self, id: i64, who: &Principal) -> BackendResult<()>;
    /// Approves or refuses a waiting step, as `who` (the step may name its approvers).
    async fn decide_step(
        &self,
        id: i64,
        step: &str,
        approve: bool,
        who: &Principal,
    ) -> BackendResult<()>;
    /// Starts a finished run again: its pipeline's latest version, its tag and params.
    async fn rerun(&self, id: i64, who: &Principal) -> BackendResult<RunSummary>;
    /// Re-runs the steps of a finished run that did not succeed.
    async fn retry_failed(&self, id: i64, who: &Principal) -> BackendResult<RunSummary>;
    async fn get_workflow(&self, name: &str) -> BackendResult<WorkflowDetail>;
    async fn list_workflows(&self) -> BackendResult<Vec<conveyor_core::dto::WorkflowSummary>>;
    /// The dashboard's panel over the last `days` days, of every pipeline.
    async fn stats(&self, days: u32) -> BackendResult<conveyor_core::stats::Stats>;
    /// A workflow's releases, newest first.
    async fn releases(
        &self,
        name: &str,
        before: Option<i64>,
    ) -> BackendResult<conveyor_core::workflow::ReleasePage>;
    /// Deploys a release of a workflow again, by digest (a run with trigger `rollback`).
    async fn roll_back(
        &self,
        name: &str,
        release: i64,
        who: &Principal,
    ) -> BackendResult<RunSummary>;
    /// Deletes a pipeline (a workflow: admins only) with its runs.
    async fn delete_pipeline(&self, name: &str, who: &Principal) -> BackendResult<()>;
    /// Deletes a pipeline's runs (not those in flight); how many went.
    async fn delete_runs(&self, name: &str, who: &Principal) -> BackendResult<u64>;
    /// Updates the named workflow, or creates one when `existing` is `None`.
    async fn save_workflow(
        &self,
        existing: Option<&str>,
        source: &str,
        who: &Principal,
    ) -> BackendResult<WorkflowDetail>;
}

pub type SharedBackend = Arc<dyn Backend>;
