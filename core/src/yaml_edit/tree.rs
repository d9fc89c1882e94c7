//! The text read as a tree of byte ranges, with the line arithmetic splices need.

use saphyr_parser::{Event, Marker, Parser};

use super::Seg;

#[derive(Debug)]
pub(super) struct Node {
    /// Byte range of the node's own text (a block collection ends where its last child ends).
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) flow: bool,
    pub(super) kind: Kind,
}

#[derive(Debug)]
pub(super) enum Kind {
    Scalar(String),
    Alias,
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    pub(super) fn is_key(&self, key: &str) -> bool {
        matches!(&self.kind, Kind::Scalar(text) if text == key)
    }
}

pub(super) struct Tree {
    pub(super) root: Node,
}

pub(super) struct Open {
    pub(super) start: usize,
    pub(super) flow: bool,
    pub(super) map: bool,
    pub(super) children: Vec<Node>,
}

impl Tree {
    pub(super) fn read(text: &str) -> Result<Tree, String> {
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

    pub(super) fn at(&self, path: &[Seg]) -> Option<&Node> {
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

pub(super) fn line_start(text: &str, at: usize) -> usize {
    text[..at].rfind('\n').map_or(0, |i| i + 1)
}

/// Just past the line break ending the line `at` is on (or the end of the text).
pub(super) fn next_line(text: &str, at: usize) -> usize {
    text[at..].find('\n').map_or(text.len(), |i| at + i + 1)
}

pub(super) fn column(text: &str, at: usize) -> usize {
    at - line_start(text, at)
}

pub(super) fn blank(text: &str) -> bool {
    text.chars().all(|c| c == ' ' || c == '\t')
}
