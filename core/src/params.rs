//! Params: where a step's variables come from, and how forms write them.

use crate::definition::{Params, Pipeline, Problem, Step};

/// A run's params as steps see them: those given when it started, plus the image `TAG`.
pub fn run_params(params: &Params, tag: &str) -> Params {
    let mut run_params = params.clone();
    run_params.insert("TAG".into(), tag.to_owned());
    run_params
}

/// The environment parameters of a step, by the seeds' precedence (highest first): the
/// step's `with`, run-time params, the pipeline's `with`, the action's defaults.
pub fn merge_params(pipeline: &Pipeline, step: &Step, run_params: &Params) -> Params {
    let mut merged = Params::new();
    if let Some(action) = pipeline.action_of(step) {
        merged.extend(action.defaults.clone());
    }
    merged.extend(pipeline.with.clone());
    merged.extend(run_params.clone());
    merged.extend(step.with.clone());
    merged
}

/// True for a name usable as an environment variable: letters, digits and '_', not
/// starting with a digit.
fn is_param_name(key: &str) -> bool {
    key.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Param names must be variable names and not Conveyor's own (`CONVEYOR_*`): the rule for
/// definitions and for params given when a run starts.
pub fn check_param_names(path: &str, params: &Params, problems: &mut Vec<Problem>) {
    for key in params.keys() {
        if !is_param_name(key) {
            problems.push(Problem::new(
                path,
                format!("\"{key}\" is not a valid variable name (letters, digits and '_', not starting with a digit)"),
            ));
        } else if key.starts_with("CONVEYOR_") {
            problems.push(Problem::new(
                path,
                format!("\"{key}\": names starting with CONVEYOR_ are reserved"),
            ));
        }
    }
}

/// Params as forms show them, one `NAME=value` per line: what [`parse_param_lines`] reads.
pub fn param_lines(params: &Params) -> String {
    params.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
}

/// Run params as typed in the run form: one `NAME=value` per line; blank lines and lines
/// starting with `#` are skipped. The names are checked later with the definitions' rule.
pub fn parse_param_lines(text: &str) -> Result<Params, String> {
    let mut params = Params::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            return Err(format!(
                "params line {}: \"{line}\" is not NAME=value",
                number + 1
            ));
        };
        if params
            .insert(name.trim().to_owned(), value.to_owned())
            .is_some()
        {
            return Err(format!(
                "params line {}: \"{}\" is given twice",
                number + 1,
                name.trim()
            ));
        }
    }
    Ok(params)
}
