//! Names in definitions: DNS labels, step names (which may hold '.'), and the names
//! Kubernetes will give them.

use std::collections::HashMap;

use crate::definition::{step_path, Pipeline, Problem};

/// A step's name: a DNS label that may also hold '.' (seed 001 names steps `step1.1`).
pub(crate) fn check_step_name(path: &str, name: &str, problems: &mut Vec<Problem>) {
    if !is_dns_label(&crate::definition::kubernetes_name(name)) || name.contains("..") {
        problems.push(Problem::new(
            path,
            format!("\"{name}\" is not a valid step name: use 1-63 lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"),
        ));
    }
}

/// Two step names Kubernetes would take for one (`a.b` and `a-b`).
pub(crate) fn check_kubernetes_names(pipeline: &Pipeline, problems: &mut Vec<Problem>) {
    let mut seen: HashMap<String, (&str, String)> = HashMap::new();
    for (si, stage) in pipeline.stages.iter().enumerate() {
        for (ti, step) in stage.steps.iter().enumerate() {
            let path = step_path(si, ti);
            let key = crate::definition::kubernetes_name(&step.name);
            match seen.get(&key) {
                Some((first, at)) if *first != step.name => problems.push(Problem::new(
                    format!("{path}.name"),
                    format!(
                        "steps \"{first}\" (at {at}) and \"{}\" are one name to Kubernetes, where '.' becomes '-': rename one",
                        step.name
                    ),
                )),
                Some(_) => {}
                None => {
                    seen.insert(key, (&step.name, path));
                }
            }
        }
    }
}

/// True for a DNS label: 1–63 of `a-z0-9-`, starting and ending with a letter or digit.
pub fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

pub fn check_dns_label(path: &str, name: &str, problems: &mut Vec<Problem>) {
    if !is_dns_label(name) {
        problems.push(Problem::new(
            path,
            format!("\"{name}\" is not a valid name: use 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit"),
        ));
    }
}

/// ` (did you mean "x"?)` when a known name is close to the given one, else nothing.
pub fn did_you_mean<'a>(given: &str, known: impl Iterator<Item = &'a str>) -> String {
    known
        .map(|candidate| (strsim::damerau_levenshtein(given, candidate), candidate))
        .filter(|&(distance, candidate)| distance <= 2.max(candidate.len() / 3))
        .min()
        .map(|(_, candidate)| format!(" (did you mean \"{candidate}\"?)"))
        .unwrap_or_default()
}

/// An image reference as runtimes read it: no spaces, and nothing a command line would take
/// for an option (`-…`).
pub fn check_image(path: &str, image: &str, problems: &mut Vec<Problem>) {
    let readable = !image.is_empty()
        && image.len() <= 512
        && !image.starts_with(['-', ':', '/', '@'])
        && !image.chars().any(|c| c.is_whitespace() || c.is_control());
    if !readable {
        problems.push(Problem::new(
            path,
            format!("\"{image}\" is not an image reference (like alpine:3.20 or registry.example.com/team/app:1)"),
        ));
    }
}
