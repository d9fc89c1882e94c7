//! Params: where a step's variables come from, and how forms write them.

use crate::definition::{step_path, ParamRule, Params, Pipeline, Problem, Step};

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

/// An action param's pattern, matching whole values.
pub fn pattern(pattern: &str) -> Result<regex_lite::Regex, regex_lite::Error> {
    regex_lite::Regex::new(&format!("^(?:{pattern})$"))
}

/// Whether `rule` lets a param be `value`; what is wrong when not.
pub fn admits(rule: &ParamRule, value: &str) -> Result<(), String> {
    if !rule.allowed.is_empty() && !rule.allowed.iter().any(|a| a == value) {
        return Err(format!("is not one of {}", rule.allowed.join(", ")));
    }
    if let Some(text) = &rule.pattern {
        // A pattern that does not compile was refused with its action.
        if pattern(text).is_ok_and(|re| !re.is_match(value)) {
            return Err(format!("does not match the pattern {text}"));
        }
    }
    Ok(())
}

/// Checks the params of every step that uses an action against that action, after the
/// sources are merged (seed 004's order): each value its rules cover, and with the run's
/// params (`Some`, when a run starts) each required one.
pub fn check_action_params(pipeline: &Pipeline, run_params: Option<&Params>) -> Vec<Problem> {
    let mut problems = Vec::new();
    let none = Params::new();
    for (si, stage) in pipeline.stages.iter().enumerate() {
        for (ti, step) in stage.steps.iter().enumerate() {
            let Some(action) = pipeline.action_of(step) else {
                continue;
            };
            // What the step sees: its `env` comes over the merged params, so it is held to
            // the same rules.
            let mut merged = merge_params(pipeline, step, run_params.unwrap_or(&none));
            merged.extend(step.env.clone());
            let reference = action.reference();
            if run_params.is_some() {
                for required in &action.required {
                    if merged.get(required).is_none_or(|v| v.is_empty()) {
                        problems.push(Problem::new(
                            step_path(si, ti),
                            format!(
                                "step \"{}\": action \"{reference}\" needs param \"{required}\"; set it in the step's `with`, the pipeline's `with` or the run's params",
                                step.name
                            ),
                        ));
                    }
                }
            }
            for (name, rule) in &action.params {
                let Some(value) = merged.get(name) else {
                    continue;
                };
                if let Err(why) = admits(rule, value) {
                    problems.push(Problem::new(
                        format!("{}.with.{name}", step_path(si, ti)),
                        format!(
                            "step \"{}\": param {name} = \"{value}\" {why}, as action \"{reference}\" requires",
                            step.name
                        ),
                    ));
                }
            }
        }
    }
    problems
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
