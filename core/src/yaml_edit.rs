//! Format-preserving edits of YAML text: what lets the graph editor change one part of a
//! pipeline while every comment, blank line and key order elsewhere stays as the user wrote it.
//!
//! The text is read with a span-reporting parser (saphyr-parser) into a tree of byte ranges.
//! An edit (set or remove a key, append or remove a list item) becomes a splice of the lines
//! it concerns, indented like its neighbours; a flow collection (`[a, b]`, `{...}`) is
//! written again as a whole. Every result is checked: the edited text is parsed again and must
//! equal the old document with the edit applied. If it does not (anchors, odd layouts), the
//! whole document is written anew from that value and the edit says it was not lossless.

use saphyr_parser::{Event, Marker, Parser};
use serde_yaml::{Mapping, Value};

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

#[derive(Debug)]
struct Node {
    /// Byte range of the node's own text (a block collection ends where its last child ends).
    start: usize,
    end: usize,
    flow: bool,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Scalar(String),
    Alias,
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    fn is_key(&self, key: &str) -> bool {
        matches!(&self.kind, Kind::Scalar(text) if text == key)
    }
}

struct Tree {
    root: Node,
}

struct Open {
    start: usize,
    flow: bool,
    map: bool,
    children: Vec<Node>,
}

impl Tree {
    fn read(text: &str) -> Result<Tree, String> {
        let offsets: Vec<usize> = text
            .char_indices()
            .map(|(b, _)| b)
            .chain(std::iter::once(text.len()))
            .collect();
        let byte = |m: Marker| offsets.get(m.index()).copied().unwrap_or(text.len());
        let mut stack: Vec<Open> = Vec::new();
        let mut root = None;
        let mut documents = 0;
        for event in Parser::new_from_str(text) {
            let (event, span) = event.map_err(|err| err.to_string())?;
            let node = match event {
                Event::DocumentStart(_) => {
                    documents += 1;
                    if documents > 1 {
                        return Err("more than one document".into());
                    }
                    None
                }
                Event::Scalar(value, ..) => {
                    let (mut start, mut end) = (byte(span.start), byte(span.end));
                    if start == end {
                        // An empty value: place it right after what precedes it.
                        let after = stack
                            .last()
                            .and_then(|open| open.children.last())
                            .map(|n| n.end);
                        if let Some(after) = after {
                            (start, end) = (after, after);
                        }
                    } else {
                        // Block scalars end after their line breaks; keep the content only.
                        end = start + text[start..end].trim_end().len();
                    }
                    Some(Node {
                        start,
                        end,
                        flow: false,
                        kind: Kind::Scalar(value.into_owned()),
                    })
                }
                Event::Alias(_) => {
                    let (start, end) = (byte(span.start), byte(span.end));
                    Some(Node {
                        start,
                        end,
                        flow: false,
                        kind: Kind::Alias,
                    })
                }
                Event::SequenceStart(..) | Event::MappingStart(..) => {
                    let start = byte(span.start);
                    let flow = text[start..].starts_with(['[', '{']);
                    stack.push(Open {
                        start,
                        flow,
                        map: matches!(event, Event::MappingStart(..)),
                        children: Vec::new(),
                    });
                    None
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    let open = stack.pop().ok_or("unbalanced collection")?;
                    let end = if open.flow {
                        byte(span.end)
                    } else {
                        open.children.last().map_or(open.start, |c| c.end)
                    };
                    let kind = if open.map {
                        let mut entries = Vec::with_capacity(open.children.len() / 2);
                        let mut children = open.children.into_iter();
                        while let (Some(k), Some(v)) = (children.next(), children.next()) {
                            entries.push((k, v));
                        }
                        Kind::Map(entries)
                    } else {
                        Kind::Seq(open.children)
                    };
                    Some(Node {
                        start: open.start,
                        end,
                        flow: open.flow,
                        kind,
                    })
                }
                _ => None,
            };
            if let Some(node) = node {
                match stack.last_mut() {
                    Some(open) => open.children.push(node),
                    None => root = Some(node),
                }
            }
        }
        Ok(Tree {
            root: root.ok_or("empty document")?,
        })
    }

    fn at(&self, path: &[Seg]) -> Option<&Node> {
        let mut node = &self.root;
        for seg in path {
            node = match (seg, &node.kind) {
                (Seg::Key(key), Kind::Map(entries)) => {
                    &entries.iter().find(|(k, _)| k.is_key(key))?.1
                }
                (Seg::Index(i), Kind::Seq(items)) => items.get(*i)?,
                _ => return None,
            };
        }
        Some(node)
    }
}

// ---- Splicing ----

fn line_start(text: &str, at: usize) -> usize {
    text[..at].rfind('\n').map_or(0, |i| i + 1)
}

/// Just past the line break ending the line `at` is on (or the end of the text).
fn next_line(text: &str, at: usize) -> usize {
    text[at..].find('\n').map_or(text.len(), |i| at + i + 1)
}

fn column(text: &str, at: usize) -> usize {
    at - line_start(text, at)
}

fn blank(text: &str) -> bool {
    text.chars().all(|c| c == ' ' || c == '\t')
}

/// A value as YAML text without its final line break; short lists of plain words in flow
/// style (`[build, test]`), the way people write `needs`.
fn render(value: &Value) -> Option<String> {
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
fn placed(value: &Value, col: usize) -> Option<String> {
    let text = render(value)?;
    Some(indent_after_first(&text, col))
}

fn indent_after_first(text: &str, by: usize) -> String {
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
fn after_key(value: &Value, key_col: usize) -> Option<String> {
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

fn replace(text: &str, from: usize, to: usize, with: &str) -> String {
    let mut out = String::with_capacity(text.len() + with.len());
    out.push_str(&text[..from]);
    out.push_str(with);
    out.push_str(&text[to..]);
    out
}

/// Inserts whole lines after the line `after` ends on.
fn insert_lines(text: &str, after: usize, lines: &str) -> String {
    let at = next_line(text, after);
    if at == text.len() && !text.ends_with('\n') {
        replace(text, at, at, &format!("\n{lines}\n"))
    } else {
        replace(text, at, at, &format!("{lines}\n"))
    }
}

/// The edit as a splice of the text, or `None` when only a rewrite will do.
fn splice(text: &str, tree: &Tree, edit: &Edit, expected: &Value) -> Option<String> {
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
fn dash_before(text: &str, item: usize) -> Option<usize> {
    let before = text[..item].trim_end_matches([' ', '\t', '\n', '\r']);
    before.ends_with('-').then(|| before.len() - 1)
}

/// Replaces the value of a block mapping entry.
fn replace_value(text: &str, (key, old): &(Node, Node), value: &Value) -> Option<String> {
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
fn rewrite(text: &str, tree: &Tree, path: &[Seg], expected: &Value) -> Option<String> {
    let (last, parent_path) = path.split_last()?;
    let mut value = &*expected;
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

/// A new mapping with entries in the given order.
pub fn mapping(entries: impl IntoIterator<Item = (&'static str, Value)>) -> Value {
    let mut map = Mapping::new();
    for (key, value) in entries {
        map.insert(Value::String(key.to_owned()), value);
    }
    Value::Mapping(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> Seg {
        Seg::Key(k.into())
    }

    const DOC: &str = "# the demo pipeline
name: demo   # keep me
stages:
  - name: build
    # compile first
    steps:
      - name: compile
        script: |
          make all
          make check

      - name: package # inline
        script: tar czf out.tgz .
  - name: test
    needs: [build]
    steps:
      - name: unit
        script: cargo test
";

    fn stage_steps(stage: usize) -> Vec<Seg> {
        vec![key("stages"), Seg::Index(stage), key("steps")]
    }

    fn check(edit: Edit) -> String {
        let edited = apply(DOC, &[edit]).unwrap();
        assert!(edited.lossless, "not lossless:\n{}", edited.text);
        for comment in [
            "# the demo pipeline",
            "# keep me",
            "# compile first",
            "# inline",
        ] {
            assert!(
                edited.text.contains(comment),
                "lost {comment}:\n{}",
                edited.text
            );
        }
        edited.text
    }

    #[test]
    fn push_step_keeps_comments_and_indentation() {
        let step = mapping([("name", "lint".into()), ("script", "echo lint".into())]);
        let text = check(Edit::Push {
            seq: stage_steps(1),
            value: step,
        });
        assert!(text.ends_with("      - name: unit\n        script: cargo test\n      - name: lint\n        script: echo lint\n"), "{text}");
    }

    #[test]
    fn push_after_block_scalar_lands_after_its_last_line() {
        let mut doc: Value = serde_yaml::from_str(DOC).unwrap();
        let text = check(Edit::Push {
            seq: stage_steps(0),
            value: mapping([("name", "x".into())]),
        });
        let seq = value_at(&mut doc, &stage_steps(0)).unwrap();
        let Value::Sequence(items) = seq else {
            panic!()
        };
        items.push(mapping([("name", "x".into())]));
        assert_eq!(serde_yaml::from_str::<Value>(&text).unwrap(), doc);
        assert!(
            text.contains("        script: tar czf out.tgz .\n      - name: x\n  - name: test"),
            "{text}"
        );
    }

    #[test]
    fn set_replaces_and_adds_keys_in_place() {
        let step = vec![key("stages"), Seg::Index(0), key("steps"), Seg::Index(1)];
        let text = check(Edit::Set {
            map: step.clone(),
            key: "name".into(),
            value: Some("bundle".into()),
        });
        assert!(text.contains("      - name: bundle # inline\n"), "{text}");
        let text = check(Edit::Set {
            map: step.clone(),
            key: "timeout".into(),
            value: Some("5m".into()),
        });
        assert!(
            text.contains("        script: tar czf out.tgz .\n        timeout: 5m\n  - name: test"),
            "{text}"
        );
        let text = check(Edit::Set {
            map: step,
            key: "script".into(),
            value: Some("one\ntwo\n".into()),
        });
        assert!(
            text.contains("        script: |\n          one\n          two\n  - name: test"),
            "{text}"
        );
    }

    #[test]
    fn flow_lists_are_rewritten_in_flow_style() {
        let stage = vec![key("stages"), Seg::Index(1)];
        let needs = Value::Sequence(vec!["build".into(), "lint".into()]);
        let text = check(Edit::Set {
            map: stage.clone(),
            key: "needs".into(),
            value: Some(needs),
        });
        assert!(text.contains("    needs: [build, lint]\n"), "{text}");
        let text = check(Edit::Push {
            seq: vec![key("stages"), Seg::Index(1), key("needs")],
            value: "lint".into(),
        });
        assert!(text.contains("    needs: [build, lint]\n"), "{text}");
    }

    #[test]
    fn remove_items_and_keys() {
        let text = check(Edit::Remove {
            seq: stage_steps(0),
            index: 0,
        });
        // The blank line after the removed item is the user's; it stays.
        assert!(
            text.contains("    steps:\n\n      - name: package # inline\n"),
            "{text}"
        );
        assert!(!text.contains("make all"));
        let text = check(Edit::Remove {
            seq: vec![key("stages")],
            index: 1,
        });
        assert!(
            !text.contains("cargo test") && text.ends_with("tar czf out.tgz .\n"),
            "{text}"
        );
        // The first key of an item leaves its place on the `- ` line to the next key.
        let step = vec![key("stages"), Seg::Index(1), key("steps"), Seg::Index(0)];
        let text = check(Edit::Set {
            map: step,
            key: "name".into(),
            value: None,
        });
        assert!(text.contains("      - script: cargo test\n"), "{text}");
        let stage = vec![key("stages"), Seg::Index(1)];
        let text = check(Edit::Set {
            map: stage,
            key: "needs".into(),
            value: None,
        });
        assert!(text.contains("  - name: test\n    steps:\n"), "{text}");
    }

    #[test]
    fn last_item_removed_leaves_an_empty_flow_list_and_a_push_fills_it() {
        let text = check(Edit::Remove {
            seq: stage_steps(1),
            index: 0,
        });
        assert!(
            text.contains("  - name: test\n    needs: [build]\n    steps: []\n"),
            "{text}"
        );
        let step = mapping([("name", "again".into()), ("script", "true".into())]);
        let again = apply(
            &text,
            &[Edit::Push {
                seq: stage_steps(1),
                value: step,
            }],
        )
        .unwrap();
        assert!(again.lossless);
        assert!(
            again
                .text
                .contains("    steps:\n      - name: again\n        script: 'true'\n"),
            "{}",
            again.text
        );
    }

    #[test]
    fn json_documents_become_yaml_without_losing_content() {
        let json = r#"{"name": "j", "stages": [{"name": "a", "steps": [{"name": "s", "script": "true"}]}]}"#;
        let edited = apply(
            json,
            &[Edit::Push {
                seq: vec![key("stages")],
                value: mapping([("name", "b".into())]),
            }],
        )
        .unwrap();
        let value: Value = serde_yaml::from_str(&edited.text).unwrap();
        assert_eq!(value["stages"][1]["name"], Value::from("b"));
        assert_eq!(
            value["stages"][0]["steps"][0]["script"],
            Value::from("true")
        );
    }

    #[test]
    fn anchors_fall_back_to_a_rewrite_that_keeps_the_meaning() {
        let doc = "base: &b {x: 1}\nother: *b\n";
        let edited = apply(
            doc,
            &[Edit::Set {
                map: vec![key("other")],
                key: "y".into(),
                value: Some(2.into()),
            }],
        )
        .unwrap();
        let value: Value = serde_yaml::from_str(&edited.text).unwrap();
        assert_eq!(value["other"]["y"], Value::from(2));
        assert_eq!(value["base"]["x"], Value::from(1));
    }

    #[test]
    fn bad_paths_are_errors() {
        let err = apply(
            DOC,
            &[Edit::Remove {
                seq: stage_steps(7),
                index: 0,
            }],
        )
        .unwrap_err();
        assert_eq!(err, "stages[7] is not in the document");
        let err = apply(
            DOC,
            &[Edit::Remove {
                seq: stage_steps(0),
                index: 9,
            }],
        )
        .unwrap_err();
        assert_eq!(err, "stages[0].steps has no item 9");
    }

    #[test]
    fn paths_locate_lines() {
        assert_eq!(
            parse_path("stages[1].steps[0].needs"),
            vec![
                key("stages"),
                Seg::Index(1),
                key("steps"),
                Seg::Index(0),
                key("needs")
            ]
        );
        assert_eq!(line_of(DOC, &parse_path("stages[1].needs")), Some(15));
        assert_eq!(line_of(DOC, &parse_path("stages[0].steps[1]")), Some(12));
        // A path that goes past the document stops at the deepest node it reaches.
        assert_eq!(
            line_of(DOC, &parse_path("stages[1].steps[0].timeout")),
            Some(17)
        );
        assert_eq!(line_of(DOC, &parse_path("name")), Some(2));
    }
}
