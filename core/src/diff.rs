//! The line diff between two saved versions of a pipeline.

use crate::dto::{DiffLine, PipelineVersion, VersionComparison};

/// Compares two of a pipeline's `versions`: `to` (by default the latest) against `from` (by
/// default the one before `to`). `Err` names a version the pipeline does not have.
pub fn compare_versions(
    mut versions: Vec<PipelineVersion>,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<VersionComparison, i64> {
    versions.sort_by_key(|v| std::cmp::Reverse(v.version));
    let latest = versions.first().map_or(1, |v| v.version);
    let to = to.unwrap_or(latest);
    let from = from.unwrap_or((to - 1).max(1));
    let source = |number: i64| {
        versions
            .iter()
            .find(|v| v.version == number)
            .map(|v| v.source.as_str())
            .ok_or(number)
    };
    // The version asked for first; `from` may only be its default.
    let new = source(to)?;
    let old = source(from)?;
    let lines = similar::TextDiff::from_lines(old, new)
        .iter_all_changes()
        .map(|change| DiffLine {
            kind: match change.tag() {
                similar::ChangeTag::Equal => "same",
                similar::ChangeTag::Insert => "added",
                similar::ChangeTag::Delete => "removed",
            }
            .to_owned(),
            old: change.old_index().map(|i| i + 1),
            new: change.new_index().map(|i| i + 1),
            text: change.value().trim_end_matches('\n').to_owned(),
        })
        .collect();
    Ok(VersionComparison {
        versions: versions.iter().map(|v| (v.version, v.created_at)).collect(),
        from,
        to,
        lines,
    })
}
