//! Search results: a matching line with its matches marked.

use leptos::prelude::*;

/// `text` with the byte ranges `matches` in `<mark>` (ranges that do not fit are skipped).
pub fn marked(text: &str, matches: &[[usize; 2]]) -> impl IntoView {
    let mut parts = Vec::new();
    let mut at = 0;
    for &[start, end] in matches {
        let fits = at <= start
            && start < end
            && end <= text.len()
            && text.is_char_boundary(start)
            && text.is_char_boundary(end);
        if fits {
            parts.push((text[at..start].to_owned(), false));
            parts.push((text[start..end].to_owned(), true));
            at = end;
        }
    }
    parts.push((text[at..].to_owned(), false));
    parts
        .into_iter()
        .filter(|(part, _)| !part.is_empty())
        .map(|(part, hit)| {
            if hit {
                view! { <mark>{part}</mark> }.into_any()
            } else {
                part.into_any()
            }
        })
        .collect_view()
}
