//! The source documents' own examples, read from `../shared/seeds` as they are written.

use std::path::PathBuf;

/// The first fenced YAML block of seed `number` (`"002"`) that contains `marker`.
pub fn seed_yaml(number: &str, marker: &str) -> String {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/seeds");
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("the seeds at {}: {err}", dir.display()));
    let path = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with(&format!("{number}_")))
        })
        .unwrap_or_else(|| panic!("no seed {number} in {}", dir.display()));
    let text = std::fs::read_to_string(&path).expect("seed text");
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line.trim_start()) {
            (None, fence) if fence.starts_with("```yaml") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
        .into_iter()
        .find(|block| block.contains(marker))
        .unwrap_or_else(|| panic!("no YAML block with {marker:?} in {}", path.display()))
}
