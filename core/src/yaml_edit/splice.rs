//! An edit made as a splice of the lines it concerns, or the document written anew.

use serde_yaml::Value;

use super::tree::{blank, column, line_start, next_line, Kind, Node, Tree};
use super::{Edit, Seg};

/// A value as YAML text without its final line break; short lists of plain words in flow
/// style (`[build, test]`), the way people write `needs`.
pub(super) fn render(value: &Value) -> Option<String> {
    if let Value::Sequence(items) = value {
        let words: Option<Vec<&str>> = items
            .iter()
            .map(|item| match item {
                Value::String(s)
                    if !s.is_empty()
                        && s.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-_.@/".contains(c))
                        && serde_yaml::to_string(item).ok()?.trim_end() == s =>
                {
                    Some(s.as_str())
                }
                _ => None,
            })
            .collect();
        if let Some(words) = words.filter(|w| !w.is_empty()) {
            return Some(format!("[{}]", words.join(", ")));
        }
    }
    let text = serde_yaml::to_string(value).ok()?;
    Some(text.strip_suffix('\n').unwrap_or(&text).to_owned())
}

/// Text for a value that starts at `col` on a line: its first line as is, the rest indented
/// to `col` (collections line up under the first line; a block scalar's content lands
/// deeper, as serde_yaml indents it).
pub(super) fn placed(value: &Value, col: usize) -> Option<String> {
    let text = render(value)?;
    Some(indent_after_first(&text, col))
}

pub(super) fn indent_after_first(text: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
            if !line.is_empty() {
                out.push_str(&pad);
            }
        }
        out.push_str(line);
    }
    out
}

/// Text after `key:` for a value whose key sits at `key_col`.
pub(super) fn after_key(value: &Value, key_col: usize) -> Option<String> {
    let text = render(value)?;
    if !text.contains('\n') {
        return Some(format!(" {text}"));
    }
    Some(match value {
        Value::Mapping(_) | Value::Sequence(_) | Value::Tagged(_) => {
            format!(
                "\n{}{}",
                " ".repeat(key_col + 2),
                indent_after_first(&text, key_col + 2)
            )
        }
        _ => format!(" {}", indent_after_first(&text, key_col)),
    })
}

pub(super) fn replace(text: &str, from: usize, to: usize, with: &str) -> String {
    let mut out = String::with_capacity(text.len() + with.len());
    out.push_str(&text[..from]);
    out.push_str(with);
    out.push_str(&text[to..]);
    out
}

/// Inserts whole lines after the line `after` ends on.
pub(super) fn insert_lines(text: &str, after: usize, lines: &str) -> String {
    let at = next_line(text, after);
    if at == text.len() && !text.ends_with('\n') {
        replace(text, at, at, &format!("\n{lines}\n"))
    } else {
        replace(text, at, at, &format!("{lines}\n"))
    }
}

/// The edit as a splice of the text, or `None` when only a rewrite will do.
pub(super) fn splice(text: &str, tree: &Tree, edit: &Edit, expected: &Value) -> Option<String> {
    match edit {
        Edit::Set { map, key, value } => {
            let node = tree.at(map)?;
            let Kind::Map(entries) = &node.kind else {
                return None;
            };
            if node.flow || entries.is_empty() {
                return rewrite(text, tree, map, expected);
            }
            let position = entries.iter().position(|(k, _)| k.is_key(key));
            match (position, value) {
                (Some(i), Some(value)) => replace_value(text, &entries[i], value),
                (None, Some(value)) => {
                    let indent = column(text, entries[0].0.start);
                    let last = entries.last()?.1.end;
                    let key_text = render(&Value::String(key.clone()))?;
                    let line = format!(
                        "{}{key_text}:{}",
                        " ".repeat(indent),
                        after_key(value, indent)?
                    );
                    Some(insert_lines(text, last, &line))
                }
                (Some(_), None) if entries.len() == 1 => rewrite(text, tree, map, expected),
                (Some(i), None) => {
                    let (k, v) = &entries[i];
                    let from = line_start(text, k.start);
                    if blank(&text[from..k.start]) {
                        Some(replace(text, from, next_line(text, v.end.max(k.end)), ""))
                    } else {
                        // The first key on a `- ` line: the next key moves up in its place.
                        let next = entries.get(i + 1)?.0.start;
                        Some(replace(text, k.start, next, ""))
                    }
                }
                (None, None) => Some(text.to_owned()),
            }
        }
        Edit::Push { seq, value } => {
            let node = tree.at(seq)?;
            let Kind::Seq(items) = &node.kind else {
                return rewrite(text, tree, seq, expected);
            };
            if node.flow || items.is_empty() {
                return rewrite(text, tree, seq, expected);
            }
            let dash = dash_before(text, items[0].start)?;
            let col = column(text, dash);
            let line = format!("{}- {}", " ".repeat(col), placed(value, col + 2)?);
            Some(insert_lines(text, items.last()?.end, &line))
        }
        Edit::Remove { seq, index } => {
            let node = tree.at(seq)?;
            let Kind::Seq(items) = &node.kind else {
                return None;
            };
            if node.flow || items.len() < 2 {
                return rewrite(text, tree, seq, expected);
            }
            let item = items.get(*index)?;
            let dash = dash_before(text, item.start)?;
            let from = line_start(text, dash);
            if !blank(&text[from..dash]) {
                return None;
            }
            Some(replace(text, from, next_line(text, item.end), ""))
        }
    }
}

/// The `-` that introduces a block sequence item starting at `item`.
pub(super) fn dash_before(text: &str, item: usize) -> Option<usize> {
    let before = text[..item].trim_end_matches([' ', '\t', '\n', '\r']);
    before.ends_with('-').then(|| before.len() - 1)
}

/// Replaces the value of a block mapping entry.
pub(super) fn replace_value(
    text: &str,
    (key, old): &(Node, Node),
    value: &Value,
) -> Option<String> {
    let colon = key.end + text[key.end..].find(':')?;
    let end = old.end.max(colon + 1);
    let with = after_key(value, column(text, key.start))?;
    // Keep a comment that sits between the colon and a value on a later line.
    let from = if text[colon + 1..end]
        .trim_start_matches([' ', '\t'])
        .starts_with('#')
        && with.starts_with('\n')
    {
        next_line(text, colon) - 1
    } else {
        colon + 1
    };
    Some(replace(text, from, end, &with))
}

/// Writes the node at `path` again from its expected value (for flow and empty
/// collections, which cannot take a line splice).
pub(super) fn rewrite(text: &str, tree: &Tree, path: &[Seg], expected: &Value) -> Option<String> {
    let (last, parent_path) = path.split_last()?;
    let mut value = expected;
    for seg in path {
        value = match (seg, value) {
            (Seg::Key(key), Value::Mapping(map)) => map.get(key.as_str())?,
            (Seg::Index(i), Value::Sequence(items)) => items.get(*i)?,
            _ => return None,
        };
    }
    let parent = tree.at(parent_path)?;
    if parent.flow {
        return rewrite(text, tree, parent_path, expected);
    }
    match (last, &parent.kind) {
        (Seg::Key(key), Kind::Map(entries)) => {
            let entry = entries.iter().find(|(k, _)| k.is_key(key))?;
            replace_value(text, entry, value)
        }
        (Seg::Index(i), Kind::Seq(items)) => {
            let item = items.get(*i)?;
            let with = placed(value, column(text, item.start))?;
            Some(replace(text, item.start, item.end, &with))
        }
        _ => None,
    }
}
