//! The shape of the code, checked like behaviour: within each crate no module imports one
//! that (through others) imports it back, and no source file outside tests runs much past
//! 500 lines.
//!
//! A module is a file; `use crate::…`, `crate::…` paths and `super::…` paths are its
//! imports, each resolved to the deepest module the path names. A module declaring and
//! re-exporting its own children is not an import: a child using its parent's items is.
//! Checked twice: between files, and between the crate's top-level modules (a file's
//! imports count for the module it is in), which a folder's re-exports cannot hide.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The crates' source folders, from the repository root.
const CRATES: [&str; 4] = ["core/src", "app/src", "src", "frontend/src"];
/// Lines a source file may have (tests aside).
const MAX_LINES: usize = 500;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("readable")
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `a::b` for `src/a/b.rs` or `src/a/b/mod.rs`; empty for the crate root.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).expect("inside the crate");
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// Test files: `tests.rs` modules and what `#[cfg(test)]` guards from its line on.
fn is_test_file(file: &Path) -> bool {
    file.file_name().is_some_and(|n| n == "tests.rs")
}

fn code_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .take_while(|line| !line.starts_with("#[cfg(test)]"))
        .filter(|line| {
            let line = line.trim_start();
            !line.starts_with("//")
        })
}

/// The module paths a file names: `crate::x::y`, `super::x` (made absolute), and each
/// item of a `crate::{x, y::z}` group.
fn imports(module: &[String], text: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    for line in code_lines(text) {
        for (start, _) in line
            .match_indices("crate::")
            .chain(line.match_indices("super::"))
        {
            let before = &line[..start];
            if before.ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let (mut base, mut rest) = match line[start..].strip_prefix("crate::") {
                Some(rest) => (Vec::new(), rest),
                None => (
                    module[..module.len().saturating_sub(1)].to_vec(),
                    &line[start + "super::".len()..],
                ),
            };
            while let Some(up) = rest.strip_prefix("super::") {
                base.pop();
                rest = up;
            }
            let items: Vec<&str> = match rest.strip_prefix('{') {
                Some(group) => group
                    .split('}')
                    .next()
                    .unwrap_or_default()
                    .split(',')
                    .collect(),
                None => vec![rest],
            };
            for item in items {
                let mut path = base.clone();
                for segment in item.trim().split("::") {
                    let ident: String = segment
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if ident.is_empty() {
                        break;
                    }
                    let whole = ident.len() == segment.len();
                    path.push(ident);
                    if !whole {
                        break;
                    }
                }
                found.push(path);
            }
        }
    }
    found
}

/// The module graph of one crate: each module and the modules it imports.
fn graph(src: &Path) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    // A binary's `main.rs` beside `lib.rs` is a crate of its own.
    let binary = |f: &Path| f.ends_with("main.rs") && src.join("lib.rs").exists();
    files.retain(|f| !is_test_file(f) && !binary(f));
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(src, f)).collect();
    let mut edges = BTreeMap::new();
    for file in &files {
        let module = module_of(src, file);
        let text = std::fs::read_to_string(file).expect("readable");
        let mut targets = BTreeSet::new();
        for path in imports(&module, &text) {
            // The deepest module the path names (the rest are items in it).
            let target = (0..=path.len())
                .rev()
                .map(|n| path[..n].to_vec())
                .find(|p| modules.contains(p));
            let Some(target) = target else { continue };
            let own_descendant = target.len() > module.len() && target.starts_with(&module);
            if target != module && !own_descendant {
                targets.insert(target);
            }
        }
        edges.insert(module, targets);
    }
    edges
}

/// The same graph between top-level modules (the crate root stays apart).
fn top_level(
    edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let top = |module: &Vec<String>| module.iter().take(1).cloned().collect::<Vec<String>>();
    let mut collapsed: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (from, targets) in edges {
        let entry = collapsed.entry(top(from)).or_default();
        entry.extend(
            targets
                .iter()
                .map(top)
                .filter(|to| *to != top(from) && !to.is_empty()),
        );
    }
    collapsed
}

fn find_cycle(edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Option<Vec<Vec<String>>> {
    fn visit(
        node: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        stack: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
    ) -> Option<Vec<Vec<String>>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.clone());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.clone());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node.clone());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|node| visit(node, edges, &mut Vec::new(), &mut done))
}

fn spell(module: &[String]) -> String {
    if module.is_empty() {
        "crate".into()
    } else {
        module.join("::")
    }
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    for krate in CRATES {
        let edges = graph(&root().join(krate));
        assert!(!edges.is_empty(), "{krate}: no modules found");
        for (what, edges) in [
            ("files", edges.clone()),
            ("top-level modules", top_level(&edges)),
        ] {
            if let Some(cycle) = find_cycle(&edges) {
                let spelled: Vec<String> = cycle.iter().map(|m| spell(m)).collect();
                panic!(
                    "{krate}: import circle between {what}: {}",
                    spelled.join(" -> ")
                );
            }
        }
    }
}

#[test]
fn the_checker_finds_a_circle() {
    let module = |path: &str| path.split("::").map(str::to_owned).collect::<Vec<_>>();
    let a = imports(
        &module("x::a"),
        "use crate::b::Thing;\nfn f() { super::c::g() }\nuse crate::{d, e::F};\n",
    );
    assert_eq!(
        a,
        [
            module("b::Thing"),
            module("x::c::g"),
            module("d"),
            module("e::F")
        ]
    );
    let edges = BTreeMap::from([
        (module("a"), BTreeSet::from([module("b")])),
        (module("b"), BTreeSet::from([module("c")])),
        (module("c"), BTreeSet::from([module("a")])),
    ]);
    assert_eq!(
        find_cycle(&edges),
        Some(vec![module("a"), module("b"), module("c"), module("a")])
    );
    // A circle through a folder's re-exports shows between top-level modules.
    let hidden = BTreeMap::from([
        (module("store::events"), BTreeSet::from([module("service")])),
        (module("service"), BTreeSet::from([module("store")])),
        (module("store"), BTreeSet::new()),
    ]);
    assert_eq!(find_cycle(&hidden), None);
    assert_eq!(
        find_cycle(&top_level(&hidden)),
        Some(vec![module("service"), module("store"), module("service")])
    );
}

#[test]
fn no_source_file_outside_tests_is_over_500_lines() {
    for krate in CRATES {
        let mut files = Vec::new();
        rust_files(&root().join(krate), &mut files);
        for file in files.iter().filter(|f| !is_test_file(f)) {
            let text = std::fs::read_to_string(file).expect("readable");
            let lines = text
                .lines()
                .take_while(|line| !line.starts_with("#[cfg(test)]"))
                .count();
            assert!(
                lines <= MAX_LINES,
                "{} has {lines} lines before its tests",
                file.display()
            );
        }
    }
}
