//! The Leptos side of the server: pages, server functions and the built site's files,
//! with the service behind `app::api::Backend`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use app::api::{Backend, BackendError, BackendResult, SharedBackend};
use app::{shell, App};
use axum::extract::ConnectInfo;
use axum::http;
use axum::Router;
use conveyor_core::access::{NewToken, Principal, Role, Scope, TokenSummary, UserSummary};
use conveyor_core::audit::{AuditPage, AuditQuery};
use conveyor_core::definition::Params;
use conveyor_core::dto::{
    DeliverySummary, LogLine, PipelineDetail, PipelineSummary, RunDetail, RunPage, RunSummary,
    RunsQuery, VersionComparison, WorkflowDetail,
};
use conveyor_core::run::Start;
use conveyor_core::secrets::SecretSummary;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::services::ServeDir;

use super::guard::SessionId;
use crate::service::{token_lifetime, Service, ServiceError};

/// The service as the pages' server functions see it: each method is one service call.
struct ServiceBackend(Arc<Service>);

fn to_backend(err: ServiceError) -> BackendError {
    match err {
        internal @ (ServiceError::Store(_) | ServiceError::Engine(_)) => {
            tracing::error!(error = ?internal, "server function failed");
            BackendError("internal error; the server log has details".into())
        }
        other => BackendError(other.to_string()),
    }
}

#[async_trait::async_trait]
impl Backend for ServiceBackend {
    async fn sign_in(
        &self,
        request: &http::request::Parts,
        name: &str,
        password: &str,
    ) -> BackendResult<http::HeaderValue> {
        let address = request
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(String::new, |peer| peer.0.ip().to_string());
        let (_, session) = self
            .0
            .accounts()
            .sign_in(name, password, &address)
            .await
            .map_err(to_backend)?;
        Ok(super::accounts::session_cookie(&self.0, &session))
    }
    async fn sign_out(&self, request: &http::request::Parts) -> BackendResult<http::HeaderValue> {
        if let Some(SessionId(id)) = request.extensions.get::<SessionId>() {
            let who = request
                .extensions
                .get::<Principal>()
                .map(|p| p.name.as_str());
            self.0
                .accounts()
                .sign_out(id, who)
                .await
                .map_err(to_backend)?;
        }
        Ok(super::accounts::ended_cookie())
    }
    async fn account(&self, who: &Principal) -> BackendResult<(UserSummary, Vec<TokenSummary>)> {
        let accounts = self.0.accounts();
        let me = accounts.user_summary(&who.name).await.map_err(to_backend)?;
        let tokens = accounts.tokens(who, false).await.map_err(to_backend)?;
        Ok((me, tokens))
    }
    async fn users(&self) -> BackendResult<Vec<UserSummary>> {
        self.0.accounts().users().await.map_err(to_backend)
    }
    async fn create_token(
        &self,
        who: &Principal,
        name: &str,
        scope: Scope,
        expires: Option<&str>,
    ) -> BackendResult<NewToken> {
        let lifetime = token_lifetime(expires).map_err(to_backend)?;
        self.0
            .accounts()
            .create_token(who, None, name, scope, lifetime)
            .await
            .map_err(to_backend)
    }
    async fn revoke_token(&self, who: &Principal, id: i64) -> BackendResult<()> {
        self.0
            .accounts()
            .revoke_token(who, id)
            .await
            .map_err(to_backend)
    }
    async fn change_password(
        &self,
        who: &Principal,
        current: &str,
        new: &str,
    ) -> BackendResult<()> {
        self.0
            .accounts()
            .change_password(who, current, new)
            .await
            .map_err(to_backend)
    }
    async fn add_user(
        &self,
        who: &Principal,
        name: &str,
        role: Role,
        password: Option<String>,
    ) -> BackendResult<Option<String>> {
        let made = password.is_none().then(|| crate::auth::random_text(15));
        let password = password.or_else(|| made.clone()).unwrap_or_default();
        self.0
            .accounts()
            .add_user(Some(&who.name), name, role, &password)
            .await
            .map_err(to_backend)?;
        Ok(made)
    }
    async fn update_user(
        &self,
        who: &Principal,
        name: &str,
        role: Option<Role>,
        disabled: Option<bool>,
    ) -> BackendResult<()> {
        self.0
            .accounts()
            .update_user(Some(&who.name), name, role, disabled, None)
            .await
            .map(|_| ())
            .map_err(to_backend)
    }
    async fn secrets(&self) -> BackendResult<Vec<SecretSummary>> {
        self.0.secrets().list(None).await.map_err(to_backend)
    }
    async fn actions(&self) -> BackendResult<Vec<conveyor_core::catalog::ActionEntry>> {
        self.0.list_actions().await.map_err(to_backend)
    }
    async fn set_secret(
        &self,
        who: &Principal,
        pipeline: Option<&str>,
        name: &str,
        value: &str,
    ) -> BackendResult<()> {
        self.0
            .secrets()
            .set(pipeline, name, value, Some(&who.name))
            .await
            .map(|_| ())
            .map_err(to_backend)
    }
    async fn delete_secret(
        &self,
        who: &Principal,
        pipeline: Option<&str>,
        name: &str,
    ) -> BackendResult<()> {
        self.0
            .secrets()
            .delete(pipeline, name, Some(&who.name))
            .await
            .map_err(to_backend)
    }
    async fn audit_log(&self, query: &AuditQuery) -> BackendResult<AuditPage> {
        self.0.audit_log(query).await.map_err(to_backend)
    }
    async fn list_pipelines(&self) -> BackendResult<Vec<PipelineSummary>> {
        self.0.list_pipelines().await.map_err(to_backend)
    }
    async fn get_pipeline(&self, name: &str) -> BackendResult<PipelineDetail> {
        self.0.get_pipeline(name).await.map_err(to_backend)
    }
    async fn deliveries(&self, pipeline: &str, limit: i64) -> BackendResult<Vec<DeliverySummary>> {
        self.0.deliveries(pipeline, limit).await.map_err(to_backend)
    }
    async fn create_pipeline(
        &self,
        source: &str,
        who: &Principal,
    ) -> BackendResult<PipelineDetail> {
        self.0
            .create_pipeline(source, &who.name)
            .await
            .map_err(to_backend)
    }
    async fn update_pipeline(
        &self,
        name: &str,
        source: &str,
        who: &Principal,
    ) -> BackendResult<PipelineDetail> {
        self.0
            .update_pipeline(name, source, &who.name)
            .await
            .map_err(to_backend)
    }
    async fn compare_versions(
        &self,
        name: &str,
        from: Option<i64>,
        to: Option<i64>,
    ) -> BackendResult<VersionComparison> {
        self.0
            .compare_versions(name, from, to)
            .await
            .map_err(to_backend)
    }
    async fn start_run(
        &self,
        pipeline: &str,
        tag: &str,
        params: Params,
        start: Start,
    ) -> BackendResult<RunSummary> {
        self.0
            .start_run(pipeline, tag, params, start)
            .await
            .map_err(to_backend)
    }
    async fn list_runs(&self, pipeline: Option<&str>, query: &RunsQuery) -> BackendResult<RunPage> {
        self.0.list_runs(pipeline, query).await.map_err(to_backend)
    }
    async fn get_run(&self, id: i64) -> BackendResult<RunDetail> {
        self.0.get_run(id).await.map_err(to_backend)
    }
    async fn search(
        &self,
        query: &conveyor_core::search::SearchQuery,
    ) -> BackendResult<conveyor_core::search::SearchPage> {
        self.0.search(query).await.map_err(to_backend)
    }
    async fn log_tail(&self, id: i64, limit: u32) -> BackendResult<Vec<LogLine>> {
        self.0.log_tail(id, limit).await.map_err(to_backend)
    }
    async fn cancel_run(&self, id: i64, who: &Principal) -> BackendResult<()> {
        self.0.cancel_run(id, &who.name).await.map_err(to_backend)
    }
    async fn decide_step(
        &self,
        id: i64,
        step: &str,
        approve: bool,
        who: &Principal,
    ) -> BackendResult<()> {
        self.0
            .decide_step(id, step, approve, who)
            .await
            .map_err(to_backend)
    }
    async fn rerun(&self, id: i64, who: &Principal) -> BackendResult<RunSummary> {
        self.0.rerun(id, Some(&who.name)).await.map_err(to_backend)
    }
    async fn retry_failed(&self, id: i64, who: &Principal) -> BackendResult<RunSummary> {
        self.0
            .retry_failed(id, Some(&who.name))
            .await
            .map_err(to_backend)
    }
    async fn get_workflow(&self, name: &str) -> BackendResult<WorkflowDetail> {
        self.0.get_workflow(name).await.map_err(to_backend)
    }
    async fn stats(&self, days: u32) -> BackendResult<conveyor_core::stats::Stats> {
        self.0.stats(None, days).await.map_err(to_backend)
    }
    async fn list_workflows(&self) -> BackendResult<Vec<conveyor_core::dto::WorkflowSummary>> {
        self.0.list_workflows().await.map_err(to_backend)
    }
    async fn releases(
        &self,
        name: &str,
        before: Option<i64>,
    ) -> BackendResult<conveyor_core::workflow::ReleasePage> {
        self.0
            .list_releases(name, before, None)
            .await
            .map_err(to_backend)
    }
    async fn roll_back(
        &self,
        name: &str,
        release: i64,
        who: &Principal,
    ) -> BackendResult<RunSummary> {
        self.0
            .roll_back(name, release, Some(&who.name))
            .await
            .map_err(to_backend)
    }
    async fn delete_pipeline(&self, name: &str, who: &Principal) -> BackendResult<()> {
        self.0
            .delete_pipeline_or_workflow(name, who)
            .await
            .map_err(to_backend)
    }
    async fn delete_runs(&self, name: &str, who: &Principal) -> BackendResult<u64> {
        self.0
            .delete_runs(name, &who.name)
            .await
            .map_err(to_backend)
    }
    async fn save_workflow(
        &self,
        existing: Option<&str>,
        source: &str,
        who: &Principal,
    ) -> BackendResult<WorkflowDetail> {
        match existing {
            Some(name) => self.0.update_workflow(name, source, &who.name).await,
            None => self.0.create_workflow(source, &who.name).await,
        }
        .map_err(to_backend)
    }
}

/// The app's routes, listed once per process. Listing renders the route tree with resource
/// loading switched off by a process-wide flag, so a second listing (a second server in the
/// same process, as in the tests) would stall the resources of pages another server renders
/// meanwhile: they would never load.
pub fn route_list() -> Vec<leptos_axum::AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<leptos_axum::AxumRouteListing>> =
        std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

pub fn router(service: Arc<Service>, site_root: &Path, addr: SocketAddr) -> Router {
    let options = LeptosOptions::builder()
        .output_name("conveyor")
        .site_root(site_root.to_string_lossy().as_ref())
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .build();
    let backend: SharedBackend = Arc::new(ServiceBackend(service));
    let routes = route_list();
    let shell_options = options.clone();
    Router::new()
        .leptos_routes_with_context(&options, routes, move || provide_context(backend.clone()), move || {
            shell(shell_options.clone())
        })
        // The WASM, JS and CSS: `.br` or `.gz` siblings (written by `cargo leptos build
        // --release --precompress`) go out to browsers that accept them, the plain files to
        // the rest.
        .nest_service("/pkg", ServeDir::new(site_root.join("pkg")).precompressed_br().precompressed_gzip())
        .fallback(leptos_axum::file_and_error_handler(shell))
        .with_state(options)
}
