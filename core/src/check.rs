//! The rules a pipeline's fields must follow, each problem at its place (a path like
//! `stages[1].steps[0].timeout`). Names and dependencies are checked while planning
//! ([`crate::plan`]); params given when a run starts, by [`check_required_params`].

use std::collections::HashMap;
use std::time::Duration;

use crate::definition::{Params, Pipeline, Problem, Step, WEBHOOK_EVENTS};
use crate::params::{check_param_names, merge_params};
use crate::secrets::check_secret_name;
use crate::triggers::{is_clone_url, patterns, On, Repository};

/// Most steps a pipeline may have.
pub const MAX_STEPS: usize = 1000;
/// Longest step timeout.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

pub fn step_path(stage: usize, step: usize) -> String {
    format!("stages[{stage}].steps[{step}]")
}

/// Where the step named `name` is in `pipeline`'s document (a step Conveyor adds, such as
/// the checkout, by its name).
pub fn path_of_step(pipeline: &Pipeline, name: &str) -> String {
    pipeline
        .stages
        .iter()
        .enumerate()
        .find_map(|(si, stage)| {
            let ti = stage.steps.iter().position(|s| s.name == name)?;
            Some(step_path(si, ti))
        })
        .unwrap_or_else(|| format!("steps.{name}"))
}

/// Checks each step's action requirements against the merged parameters of a run.
pub fn check_required_params(pipeline: &Pipeline, run_params: &Params) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (si, stage) in pipeline.stages.iter().enumerate() {
        for (ti, step) in stage.steps.iter().enumerate() {
            let Some(action) = pipeline.action_of(step) else {
                continue;
            };
            let merged = merge_params(pipeline, step, run_params);
            for required in &action.required {
                if merged.get(required).is_none_or(|v| v.is_empty()) {
                    problems.push(Problem::new(
                        step_path(si, ti),
                        format!(
                            "action \"{}@{}\" needs param \"{required}\"; set it in the step's `with`, the pipeline's `with` or the run's params",
                            action.name, action.version
                        ),
                    ));
                }
            }
        }
    }
    problems
}

/// The rules of `repository` and `on` that need no pattern matching.
fn check_triggers(repository: Option<&Repository>, on: Option<&On>, problems: &mut Vec<Problem>) {
    if let Some(repo) = repository {
        if !is_clone_url(&repo.url) {
            problems.push(Problem::new(
                "repository.url",
                format!(
                    "\"{}\" is not a clone URL (https://host/owner/name.git, ssh://… or git@host:owner/name.git)",
                    repo.url
                ),
            ));
        }
        if let Some(api) = &repo.api_url {
            if !(api.starts_with("https://") || api.starts_with("http://")) {
                problems.push(Problem::new(
                    "repository.api_url",
                    format!("\"{api}\" is not an http(s) URL"),
                ));
            }
        }
        if repo.default_branch.as_deref() == Some("") {
            problems.push(Problem::new(
                "repository.default_branch",
                "must not be empty",
            ));
        }
        for (field, secret) in [
            ("credentials", &repo.credentials),
            ("webhook_secret", &repo.webhook_secret),
            ("status_token", &repo.status_token),
        ] {
            if let Some(name) = secret {
                problems.extend(check_secret_name(&format!("repository.{field}"), name));
            }
        }
    }
    let Some(on) = on else {
        return;
    };
    let code = on.push.is_some() || on.pull_request.is_some();
    if code && repository.is_none() {
        problems.push(Problem::new(
            "on",
            "pushes and pull requests need the pipeline's `repository` (its clone URL)",
        ));
    }
    if code && repository.is_some_and(|r| r.webhook_secret.is_none()) {
        problems.push(Problem::new(
            "repository.webhook_secret",
            "pushes and pull requests come from the forge's webhook: name the secret it signs them with",
        ));
    }
    for (i, trigger) in on.kubernetes.iter().enumerate() {
        let place = format!("on.kubernetes[{i}]");
        for (field, value) in [
            ("apiVersion", &trigger.api_version),
            ("kind", &trigger.kind),
            ("resource", &trigger.resource),
        ] {
            if value.trim().is_empty() {
                problems.push(Problem::new(
                    format!("{place}.{field}"),
                    "must not be empty",
                ));
            }
        }
        if !trigger.on_add_or_update && !trigger.on_delete {
            problems.push(Problem::new(
                place,
                "set onAddOrUpdate or onDelete (or both): with neither, nothing starts a run",
            ));
        }
    }
    for (place, pattern) in patterns(on) {
        if pattern.trim().is_empty() {
            problems.push(Problem::new(place, "a pattern must not be empty"));
        }
    }
}

/// Every field-level problem of a pipeline.
pub(crate) fn check_fields(pipeline: &Pipeline, problems: &mut Vec<Problem>) {
    check_dns_label("name", &pipeline.name, problems);
    for (i, tag) in pipeline.tags.iter().enumerate() {
        if tag.is_empty() || tag.len() > 63 {
            problems.push(Problem::new(
                format!("tags[{i}]"),
                "a tag must have 1 to 63 characters",
            ));
        }
    }
    check_param_names("with", &pipeline.with, problems);
    check_triggers(pipeline.repository.as_ref(), pipeline.on.as_ref(), problems);
    check_workspace_paths(&pipeline.workspace_paths, problems);
    if let Some(name) = &pipeline.pull_secret {
        problems.extend(crate::secrets::check_secret_name("pull_secret", name));
    }
    let mut seen_actions: HashMap<(String, String), usize> = HashMap::new();
    for (ai, action) in pipeline.actions.iter().enumerate() {
        let path = format!("actions[{ai}]");
        check_dns_label(&format!("{path}.name"), &action.name, problems);
        if action.version.is_empty() {
            problems.push(Problem::new(format!("{path}.version"), "must not be empty"));
        }
        if let Some(first) = seen_actions.insert((action.name.clone(), action.version.clone()), ai)
        {
            problems.push(Problem::new(
                path.clone(),
                format!(
                    "duplicate action \"{}@{}\" (first at actions[{first}])",
                    action.name, action.version
                ),
            ));
        }
        check_program(&path, action.script.as_deref(), &action.command, problems);
        check_param_names(&format!("{path}.defaults"), &action.defaults, problems);
    }
    if pipeline.stages.is_empty() {
        problems.push(Problem::new(
            "stages",
            "a pipeline needs at least one stage",
        ));
    }
    for (si, stage) in pipeline.stages.iter().enumerate() {
        check_dns_label(&format!("stages[{si}].name"), &stage.name, problems);
        if stage.steps.is_empty() {
            problems.push(Problem::new(
                format!("stages[{si}].steps"),
                "a stage needs at least one step",
            ));
        }
        for (ti, step) in stage.steps.iter().enumerate() {
            check_step(pipeline, &step_path(si, ti), step, problems);
        }
    }
}

/// Where the workspace also appears in containers: clean absolute paths, each once, none
/// of them a system directory a container needs for itself.
fn check_workspace_paths(paths: &[String], problems: &mut Vec<Problem>) {
    const RESERVED: [&str; 9] = [
        "/", "/bin", "/dev", "/etc", "/lib", "/proc", "/sys", "/usr", "/tmp",
    ];
    for (i, path) in paths.iter().enumerate() {
        let place = format!("workspace_paths[{i}]");
        let clean = path.starts_with('/')
            && !path.ends_with('/')
            && path[1..]
                .split('/')
                .all(|part| !part.is_empty() && part != "." && part != "..")
            && !path.contains([':', ',', '\\'])
            && !path.chars().any(char::is_control);
        if !clean {
            problems.push(Problem::new(
                place,
                format!("\"{path}\" is not a clean absolute path (like /kubeci)"),
            ));
        } else if RESERVED.contains(&path.as_str()) || path == crate::definition::WORKSPACE_PATH {
            problems.push(Problem::new(
                place,
                format!("\"{path}\" is the container's own (or already the workspace)"),
            ));
        } else if paths[..i].contains(path) {
            problems.push(Problem::new(place, format!("\"{path}\" is listed twice")));
        }
    }
}

fn check_step(pipeline: &Pipeline, path: &str, step: &Step, problems: &mut Vec<Problem>) {
    check_dns_label(&format!("{path}.name"), &step.name, problems);
    check_program(path, step.script.as_deref(), &step.command, problems);
    let action = match &step.action {
        None => None,
        Some(reference) => match reference.split_once('@') {
            None => {
                problems.push(Problem::new(
                    format!("{path}.action"),
                    format!("\"{reference}\" must be written name@version"),
                ));
                None
            }
            Some(_) => {
                let found = pipeline.action_of(step);
                if found.is_none() {
                    let known: Vec<String> = pipeline
                        .actions
                        .iter()
                        .map(|a| format!("{}@{}", a.name, a.version))
                        .collect();
                    problems.push(Problem::new(
                        format!("{path}.action"),
                        format!(
                            "unknown action \"{reference}\"{}",
                            did_you_mean(reference, known.iter().map(String::as_str))
                        ),
                    ));
                }
                found
            }
        },
    };
    let has_program = step.script.is_some()
        || !step.command.is_empty()
        || step.image.is_some()
        || action.is_some_and(|a| a.script.is_some() || !a.command.is_empty() || a.image.is_some());
    if !has_program {
        problems.push(Problem::new(
            path,
            "a step needs a `script`, a `command` or an `image`",
        ));
    }
    let has_image = step.image.is_some() || action.is_some_and(|a| a.image.is_some());
    if !has_image && step.runner == Some(crate::definition::Runner::Container) {
        problems.push(Problem::new(
            format!("{path}.runner"),
            "a step runs in a container of its image: name the `image`",
        ));
    }
    if let Some(name) = &step.pull_secret {
        problems.extend(crate::secrets::check_secret_name(
            &format!("{path}.pull_secret"),
            name,
        ));
    }
    if !has_image && step.pull_secret.is_some() {
        problems.push(Problem::new(
            format!("{path}.pull_secret"),
            "only meaningful for a step with an `image`",
        ));
    }
    if !has_image && step.pull.is_some() {
        problems.push(Problem::new(
            format!("{path}.pull"),
            "only meaningful for a step with an `image`",
        ));
    }
    check_param_names(&format!("{path}.with"), &step.with, problems);
    check_param_names(&format!("{path}.env"), &step.env, problems);
    crate::secrets::check_step_secrets(
        &format!("{path}.secrets"),
        &step.secrets,
        &step.env,
        problems,
    );
    if let Some(timeout) = &step.timeout {
        match humantime::parse_duration(timeout) {
            Err(_) => problems.push(Problem::new(
                format!("{path}.timeout"),
                format!("\"{timeout}\" is not a duration (examples: 30s, 5m, 1h30m)"),
            )),
            Ok(d) if d.is_zero() => problems.push(Problem::new(
                format!("{path}.timeout"),
                "must be longer than zero",
            )),
            Ok(d) if d > MAX_TIMEOUT => problems.push(Problem::new(
                format!("{path}.timeout"),
                "must be at most 7 days",
            )),
            Ok(_) => {}
        }
    }
    if !step.approval && !step.approval_params.is_empty() {
        problems.push(Problem::new(
            format!("{path}.approval_params"),
            "only meaningful with `approval: true`",
        ));
    } else if let Err(found) = crate::approval::ApprovalRule::read(
        &format!("{path}.approval_params"),
        &step.approval_params,
    ) {
        problems.extend(found);
    }
    for (wi, hook) in step.webhooks.iter().enumerate() {
        let hook_path = format!("{path}.webhooks[{wi}]");
        if !(hook.url.starts_with("http://") || hook.url.starts_with("https://"))
            || hook.url.contains(char::is_whitespace)
        {
            problems.push(Problem::new(
                format!("{hook_path}.url"),
                format!("\"{}\" is not an http(s) URL", hook.url),
            ));
        }
        if hook.events.is_empty() {
            problems.push(Problem::new(
                format!("{hook_path}.events"),
                "name at least one event",
            ));
        }
        if let Some(secret) = &hook.secret {
            problems.extend(crate::secrets::check_secret_name(
                &format!("{hook_path}.secret"),
                secret,
            ));
        }
        for (ei, event) in hook.events.iter().enumerate() {
            if !WEBHOOK_EVENTS.contains(&event.as_str()) {
                problems.push(Problem::new(
                    format!("{hook_path}.events[{ei}]"),
                    format!(
                        "unknown event \"{event}\"{}; known events: {}",
                        did_you_mean(&event.to_uppercase(), WEBHOOK_EVENTS.iter().copied()),
                        WEBHOOK_EVENTS.join(", ")
                    ),
                ));
            }
        }
    }
}

fn check_program(
    path: &str,
    script: Option<&str>,
    command: &[String],
    problems: &mut Vec<Problem>,
) {
    if script.is_some() && !command.is_empty() {
        problems.push(Problem::new(
            path,
            "`script` and `command` exclude each other; keep one",
        ));
    }
    if script.is_some_and(|s| s.trim().is_empty()) {
        problems.push(Problem::new(format!("{path}.script"), "must not be empty"));
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

/// Problems as one line of text, `; `-separated.
pub fn problems_text(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(Problem::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
