//! Format-preserving edits of YAML text: what lets the graph editor change one part of a
//! pipeline while every comment, blank line and key order elsewhere stays as the user wrote it.
//!
//! The text is read with a span-reporting parser (saphyr-parser) into a tree of byte ranges.
//! An edit (set or remove a key, append or remove a list item) becomes a splice of the lines
//! it concerns, indented like its neighbours; a flow collection (`[a, b]`, `{...}`) is
//! written again as a whole. Every result is checked: the edited text is parsed again and must
//! equal the old document with the edit applied. If it does not (anchors, odd layouts), the
//! whole document is written anew from that value and the edit says it was not lossless.

use serde_yaml::{Mapping, Value};

use splice::splice;
use tree::{Kind, Tree};

/// One step of a path into a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A change to a document, addressed by paths.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// Sets (or with `None` removes) `key` in the mapping at `map`.
    Set {
        map: Vec<Seg>,
        key: String,
        value: Option<Value>,
    },
    /// Appends to the sequence at `seq`.
    Push { seq: Vec<Seg>, value: Value },
    /// Removes item `index` of the sequence at `seq`.
    Remove { seq: Vec<Seg>, index: usize },
}

/// The text after an edit.
#[derive(Debug, Clone, PartialEq)]
pub struct Edited {
    pub text: String,
    /// False when the document had to be written anew (its comments are gone).
    pub lossless: bool,
}

/// Applies edits one after another.
pub fn apply(text: &str, edits: &[Edit]) -> Result<Edited, String> {
    let mut edited = Edited {
        text: text.to_owned(),
        lossless: true,
    };
    for edit in edits {
        let next = apply_one(&edited.text, edit)?;
        edited = Edited {
            text: next.text,
            lossless: edited.lossless && next.lossless,
        };
    }
    Ok(edited)
}

fn apply_one(text: &str, edit: &Edit) -> Result<Edited, String> {
    let before: Value =
        serde_yaml::from_str(text).map_err(|err| format!("the YAML does not parse: {err}"))?;
    let mut expected = before;
    change_value(&mut expected, edit)?;
    let spliced = Tree::read(text)
        .ok()
        .and_then(|tree| splice(text, &tree, edit, &expected));
    if let Some(candidate) = spliced {
        if serde_yaml::from_str::<Value>(&candidate).is_ok_and(|v| v == expected) {
            return Ok(Edited {
                text: candidate,
                lossless: true,
            });
        }
    }
    let text = serde_yaml::to_string(&expected).map_err(|err| err.to_string())?;
    Ok(Edited {
        text,
        lossless: false,
    })
}

/// The edit applied to the document's value: what the text must mean afterwards.
fn change_value(root: &mut Value, edit: &Edit) -> Result<(), String> {
    match edit {
        Edit::Set { map, key, value } => {
            let Value::Mapping(mapping) = value_at(root, map)? else {
                return Err(format!("{} is not a mapping", spell(map)));
            };
            match value {
                Some(value) => {
                    mapping.insert(Value::String(key.clone()), value.clone());
                }
                None => {
                    mapping.shift_remove(key.as_str());
                }
            }
        }
        Edit::Push { seq, value } => match value_at(root, seq)? {
            Value::Sequence(items) => items.push(value.clone()),
            slot @ Value::Null => *slot = Value::Sequence(vec![value.clone()]),
            _ => return Err(format!("{} is not a list", spell(seq))),
        },
        Edit::Remove { seq, index } => {
            let Value::Sequence(items) = value_at(root, seq)? else {
                return Err(format!("{} is not a list", spell(seq)));
            };
            if *index >= items.len() {
                return Err(format!("{} has no item {index}", spell(seq)));
            }
            items.remove(*index);
        }
    }
    Ok(())
}

fn value_at<'a>(root: &'a mut Value, path: &[Seg]) -> Result<&'a mut Value, String> {
    let mut here = root;
    for (depth, seg) in path.iter().enumerate() {
        let found = match (seg, here) {
            (Seg::Key(key), Value::Mapping(map)) => map.get_mut(key.as_str()),
            (Seg::Index(i), Value::Sequence(items)) => items.get_mut(*i),
            _ => None,
        };
        here = found.ok_or_else(|| format!("{} is not in the document", spell(&path[..=depth])))?;
    }
    Ok(here)
}

/// A path as the validator spells it: `stages[1].steps[0].needs`.
pub fn spell(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Reads a validator path (`stages[1].steps[0].needs`) back into segments.
pub fn parse_path(path: &str) -> Vec<Seg> {
    let mut segs = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, mut rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
        if !key.is_empty() {
            segs.push(Seg::Key(key.to_owned()));
        }
        while let Some((index, after)) = rest.split_once(']') {
            if let Ok(i) = index.parse() {
                segs.push(Seg::Index(i));
            }
            rest = after.strip_prefix('[').unwrap_or(after);
        }
    }
    segs
}

/// The 1-based line of the deepest node a path reaches (for a key, the key's line).
pub fn line_of(text: &str, path: &[Seg]) -> Option<usize> {
    let tree = Tree::read(text).ok()?;
    let mut node = &tree.root;
    let mut at = node.start;
    for seg in path {
        match (seg, &node.kind) {
            (Seg::Key(key), Kind::Map(entries)) => {
                match entries.iter().find(|(k, _)| k.is_key(key)) {
                    Some((k, v)) => {
                        at = k.start;
                        node = v;
                    }
                    None => break,
                }
            }
            (Seg::Index(i), Kind::Seq(items)) => match items.get(*i) {
                Some(item) => {
                    at = item.start;
                    node = item;
                }
                None => break,
            },
            _ => break,
        }
    }
    Some(text[..at].matches('\n').count() + 1)
}

// ---- The span tree ----

mod splice;
#[cfg(test)]
mod tests;
mod tree;

/// A new mapping with entries in the given order.
pub fn mapping(entries: impl IntoIterator<Item = (&'static str, Value)>) -> Value {
    let mut map = Mapping::new();
    for (key, value) in entries {
        map.insert(Value::String(key.to_owned()), value);
    }
    Value::Mapping(map)
}
