//! The OpenAPI 3 document, generated from the handlers' annotations.

use axum::Json;
use utoipa::OpenApi;

use super::{
    accounts, actions, audit, events, hooks, pipelines, runs, search, secrets, stats, workflows,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "Conveyor API", version = "1", description = "Pipelines, runs, live events and logs."),
    modifiers(&BearerAuth),
    security(("bearer" = []), ("session" = [])),
    paths(
        accounts::sign_in, accounts::sign_out, accounts::whoami, accounts::list_tokens, accounts::create_token,
        accounts::revoke_token, accounts::change_password, accounts::list_users, accounts::add_user,
        accounts::update_user, audit::audit_log,
        secrets::list_secrets, secrets::set_global_secret, secrets::delete_global_secret,
        secrets::list_pipeline_secrets, secrets::set_pipeline_secret, secrets::delete_pipeline_secret,
        pipelines::list_pipelines, pipelines::create_pipeline, pipelines::get_pipeline,
        pipelines::update_pipeline, pipelines::delete_pipeline, pipelines::list_versions,
        pipelines::get_version, pipelines::compare_versions, pipelines::validate,
        runs::create_run, runs::list_pipeline_runs, runs::delete_runs, runs::list_runs, runs::get_run,
        runs::cancel_run, runs::rerun, runs::retry_run, runs::approve_step, runs::refuse_step, runs::run_log,
        search::search, stats::stats, events::run_events, events::run_changes,
        workflows::list_workflows, workflows::create_workflow, workflows::get_workflow,
        workflows::update_workflow, workflows::delete_workflow, workflows::create_workflow_run,
        workflows::list_releases, workflows::roll_back,
        hooks::receive, hooks::list_deliveries,
        actions::list_actions, actions::create_action, actions::action_versions,
        actions::create_action_version, actions::get_action, actions::delete_action
    ),
    // The event stream's other `data:` (step, run and end events).
    components(schemas(conveyor_core::run::RunEvent)),
    tags((name = "accounts", description = "Signing in, API tokens, users and the audit log"),
         (name = "pipelines", description = "Definitions and their versions"),
         (name = "workflows", description = "Build → push → deploy workflows (seed 000)"),
         (name = "runs", description = "Runs, approvals, logs and live events"),
         (name = "actions", description = "The action catalog: versioned step templates (seeds 001 and 004)"),
         (name = "secrets", description = "Secrets steps get: set and removed by admins, never shown"),
         (name = "triggers", description = "Forge deliveries that start runs, and what each did"))
)]
pub struct ApiDoc;

pub(super) async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// How a caller says who it is: an API token, or the session cookie of a browser.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::auth::SESSION_COOKIE,
            ))),
        );
    }
}
