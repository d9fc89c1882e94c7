//! Statuses as pills.

use leptos::prelude::*;

/// A run or step status as a coloured pill (its class is the status name).
pub fn status_badge(status: impl std::fmt::Display) -> impl IntoView {
    let name = status.to_string();
    view! { <span class=format!("badge {name}")>{name.replace('_', " ")}</span> }
}
