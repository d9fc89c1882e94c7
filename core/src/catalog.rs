//! The server's action catalog as the API and the actions page show it, and reading an
//! action document.

use serde::{Deserialize, Serialize};

use crate::definition::{Action, Problem};

/// A catalog action version as the API and the actions page show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActionEntry {
    #[serde(flatten)]
    pub action: Action,
    /// Unix milliseconds.
    pub created_at: i64,
    pub created_by: Option<String>,
    /// The pipelines whose latest version names it (it cannot be deleted while any does).
    pub used_by: Vec<String>,
}

/// Reads an action document (YAML or JSON): its shape only.
pub fn parse_action(source: &str) -> Result<Action, Vec<Problem>> {
    crate::yaml::typed(crate::yaml::read(source)?)
}
