//! Moments in pages.

use conveyor_core::format::{format_time, iso_time};
use leptos::prelude::*;

/// A moment: the exact time (UTC) in the text and on hover; `/ui.js` turns the text into
/// "5 min ago" and keeps it fresh.
#[component]
pub fn Time(ms: i64) -> impl IntoView {
    let exact = format_time(ms);
    let title = exact.clone();
    let iso = iso_time(ms);
    view! { <time datetime=iso data-ms=ms.to_string() title=title>{exact}</time> }
}
