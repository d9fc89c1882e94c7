//! The secrets page's server functions: names for everyone, setting and removing for
//! admins. A value goes one way only, into the store.

use conveyor_core::secrets::SecretSummary;
use leptos::prelude::*;

use super::codec::TextJson;

#[server(prefix = "/_sfn", endpoint = "list_secrets", output = TextJson)]
pub async fn list_secrets() -> Result<Vec<SecretSummary>, ServerFnError> {
    super::backend()?.secrets().await.map_err(super::fail)
}

/// Sets (`value` given) or removes (`remove`) a secret, global or of `pipeline`.
#[server(prefix = "/_sfn", endpoint = "secret_control", output = TextJson)]
pub async fn secret_control(
    name: String,
    pipeline: Option<String>,
    value: Option<String>,
    remove: Option<String>,
) -> Result<(), ServerFnError> {
    let who = super::caller()?;
    let backend = super::backend()?;
    let pipeline = pipeline.filter(|p| !p.is_empty());
    if remove.is_some() {
        return backend
            .delete_secret(&who, pipeline.as_deref(), &name)
            .await
            .map_err(super::fail);
    }
    let value = value.unwrap_or_default();
    backend
        .set_secret(&who, pipeline.as_deref(), &name, &value)
        .await
        .map_err(super::fail)
}
