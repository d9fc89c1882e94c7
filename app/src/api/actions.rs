//! The actions page's server function: the catalog, for everyone who may read.

use conveyor_core::catalog::ActionEntry;
use leptos::prelude::*;

use super::codec::TextJson;

#[server(prefix = "/_sfn", endpoint = "list_actions", output = TextJson)]
pub async fn list_actions() -> Result<Vec<ActionEntry>, ServerFnError> {
    super::backend()?.actions().await.map_err(super::fail)
}
