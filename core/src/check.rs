//! The rules a pipeline's fields must follow, each problem at its place (a path like
//! `stages[1].steps[0].timeout`). Names and dependencies are checked while planning
//! ([`crate::plan`]); params given when a run starts, by [`crate::params::check_action_params`].

use std::collections::HashMap;
use std::time::Duration;

use crate::definition::{Action, Pipeline, Problem, Step, WEBHOOK_EVENTS};
pub use crate::naming::{check_dns_label, did_you_mean, is_dns_label};
use crate::naming::{check_image, check_kubernetes_names, check_step_name};
use crate::params::check_param_names;
use crate::secrets::check_secret_name;
use crate::triggers::{is_clone_url, patterns, On, Repository};

/// Most steps a pipeline may have.
pub const MAX_STEPS: usize = 1000;
/// Longest step timeout.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

pub use crate::definition::step_path;

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
    if let Some(retention) = &pipeline.retention {
        check_retention("retention", retention, problems);
    }
    if let Some(name) = &pipeline.pull_secret {
        problems.extend(crate::secrets::check_secret_name("pull_secret", name));
    }
    let mut seen_actions: HashMap<(String, String), usize> = HashMap::new();
    for (ai, action) in pipeline.actions.iter().enumerate() {
        let path = format!("actions[{ai}]");
        check_action(&path, action, problems);
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
    }
    if pipeline.mount.is_some() {
        problems.push(Problem::new(
            "mount",
            "Conveyor mounts no files into steps: the run's workspace is shared at /workspace (and at `workspace_paths`), and secrets reach steps through `secrets`",
        ));
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
    check_kubernetes_names(pipeline, problems);
    problems.extend(crate::params::check_action_params(pipeline, None));
}

/// A retention policy keeps something: at least one run, or at least one day.
pub fn check_retention(
    path: &str,
    retention: &crate::definition::Retention,
    problems: &mut Vec<Problem>,
) {
    if retention.runs.is_none() && retention.days.is_none() {
        problems.push(Problem::new(
            path,
            "give `runs` (keep the last N) and/or `days` (keep the last D days)",
        ));
    }
    if retention.runs == Some(0) {
        problems.push(Problem::new(
            format!("{path}.runs"),
            "a retention policy of zero runs would keep none: at least 1",
        ));
    }
    if retention.days == Some(0) {
        problems.push(Problem::new(
            format!("{path}.days"),
            "a retention policy of zero days would keep none: at least 1",
        ));
    }
}

/// An action's own problems (inline in a pipeline, or saved to the catalog) at `path`.
pub fn check_action(path: &str, action: &Action, problems: &mut Vec<Problem>) {
    check_dns_label(&format!("{path}.name"), &action.name, problems);
    if action.version.is_empty() {
        problems.push(Problem::new(format!("{path}.version"), "must not be empty"));
    } else if action.version.len() > 63
        || !action
            .version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        problems.push(Problem::new(
            format!("{path}.version"),
            format!(
                "\"{}\" is not a version: 1-63 letters, digits, '.', '-' and '_'",
                action.version
            ),
        ));
    }
    check_program(path, action.script.as_deref(), &action.command, problems);
    if let Some(image) = &action.image {
        check_image(&format!("{path}.image"), image, problems);
    }
    if action.script.is_none() && action.command.is_empty() && action.image.is_none() {
        problems.push(Problem::new(
            path,
            "an action needs a `script`, a `command` or an `image`",
        ));
    }
    check_param_names(&format!("{path}.defaults"), &action.defaults, problems);
    for (name, rule) in &action.params {
        let place = format!("{path}.params.{name}");
        check_param_names(&place, &[(name.clone(), String::new())].into(), problems);
        if let Some(pattern) = &rule.pattern {
            if let Err(err) = crate::params::pattern(pattern) {
                problems.push(Problem::new(
                    format!("{place}.pattern"),
                    format!("\"{pattern}\" is not a regular expression: {err}"),
                ));
            }
        }
        if let Some(value) = action.defaults.get(name) {
            if let Err(why) = crate::params::admits(rule, value) {
                problems.push(Problem::new(
                    format!("{path}.defaults.{name}"),
                    format!("the default \"{value}\" {why}"),
                ));
            }
        }
    }
    for (i, name) in action.required.iter().enumerate() {
        check_param_names(
            &format!("{path}.required[{i}]"),
            &[(name.clone(), String::new())].into(),
            problems,
        );
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
    check_step_name(&format!("{path}.name"), &step.name, problems);
    if let Some(image) = &step.image {
        check_image(&format!("{path}.image"), image, problems);
    }
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
                // Not inline, and the catalog not looked up: the server checks it there.
                if found.is_none() && pipeline.catalog.is_some() {
                    let known: Vec<String> = pipeline
                        .actions
                        .iter()
                        .chain(pipeline.catalog.iter().flatten())
                        .map(Action::reference)
                        .collect();
                    problems.push(Problem::new(
                        format!("{path}.action"),
                        format!(
                            "unknown action \"{reference}\": neither in the pipeline's `actions` nor in the catalog{}",
                            did_you_mean(reference, known.iter().map(String::as_str))
                        ),
                    ));
                }
                found
            }
        },
    };
    // A step naming an action the server will look up runs what that action runs.
    // An unknown action is said once, above; one the server will look up runs what it runs.
    let from_catalog = step.action.as_deref().is_some_and(|a| a.contains('@')) && action.is_none();
    let has_program = from_catalog
        || step.script.is_some()
        || !step.command.is_empty()
        || step.image.is_some()
        || action.is_some_and(|a| a.script.is_some() || !a.command.is_empty() || a.image.is_some());
    if !has_program {
        problems.push(Problem::new(
            path,
            "a step needs a `script`, a `command` or an `image`",
        ));
    }
    let has_image =
        from_catalog || step.image.is_some() || action.is_some_and(|a| a.image.is_some());
    if step.with_notify == Some(true) || !step.notify_params.is_empty() {
        problems.push(Problem::new(
            format!("{path}.with_notify"),
            "Conveyor notifies through the step's `webhooks` (url and events, optionally signed with a secret): write the notification as a webhook",
        ));
    }
    if step.namespace.is_some() {
        problems.push(Problem::new(
            format!("{path}.namespace"),
            "a step runs in its engine's namespace (the Tekton engine's --tekton-namespace; none on the local engine): it cannot choose its own",
        ));
    }
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

/// Problems as one line of text, `; `-separated.
pub fn problems_text(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(Problem::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
