//! Validation and planning: a pipeline becomes a DAG of steps, plus its view as a
//! sequence of parallel groups (seed 003's Workplan).
//!
//! Ordering rules:
//! - a stage waits for every step of the stages in its `needs`; when `needs` is omitted it
//!   waits for the previous stage, and `needs: []` lets it start at once;
//! - inside a stage, consecutive `parallel` steps form a group, every other step is a group
//!   of its own, and each group waits for the previous one;
//! - a step with `needs` waits for exactly those steps instead (plus its stage's needs).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::definition::{Action, Params, Pipeline, Problem, Step, WEBHOOK_EVENTS};

pub const MAX_STEPS: usize = 1000;
pub const MAX_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Plan {
    pub stages: Vec<PlannedStage>,
    pub steps: Vec<PlannedStep>,
    /// Step indices by execution group: every step of a group may run in parallel once
    /// all earlier groups are done.
    pub groups: Vec<Vec<usize>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PlannedStage {
    pub name: String,
    pub needs: Vec<usize>,
    pub steps: Vec<usize>,
    /// Column of the stage in a left-to-right graph.
    pub level: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PlannedStep {
    pub index: usize,
    pub stage: usize,
    pub name: String,
    /// Direct dependencies (step indices).
    pub needs: Vec<usize>,
    pub approval: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
}

/// Checks a pipeline and plans it; every problem found is reported, each with its place.
pub fn plan(pipeline: &Pipeline) -> Result<Plan, Vec<Problem>> {
    let mut problems = Vec::new();
    check_fields(pipeline, &mut problems);

    let needs = Needs::resolve(pipeline, &mut problems);
    let Needs {
        step_locations,
        stage_needs,
        ..
    } = &needs;
    if step_locations.len() > MAX_STEPS {
        problems.push(Problem::new(
            "stages",
            format!(
                "{} steps in all; the limit is {MAX_STEPS}",
                step_locations.len()
            ),
        ));
    }
    if !problems.is_empty() {
        return Err(problems);
    }

    let stage_names: Vec<&str> = pipeline.stages.iter().map(|s| s.name.as_str()).collect();
    if let Some(cycle) = find_cycle(stage_needs) {
        let first = cycle[0];
        return Err(vec![Problem::new(
            format!("stages[{first}].needs"),
            format!("cycle: {}", spell_cycle(&cycle, &stage_names)),
        )]);
    }
    let step_needs = needs.step_edges(pipeline);
    let (step_locations, stage_needs) = (needs.step_locations, needs.stage_needs);
    let stage_steps = |si: usize| {
        let first: usize = pipeline.stages[..si].iter().map(|s| s.steps.len()).sum();
        first..first + pipeline.stages[si].steps.len()
    };
    let step_names: Vec<&str> = step_locations
        .iter()
        .map(|&(si, ti)| pipeline.stages[si].steps[ti].name.as_str())
        .collect();
    if let Some(cycle) = find_cycle(&step_needs) {
        let (si, ti) = step_locations[cycle[0]];
        return Err(vec![Problem::new(
            format!("{}.needs", step_path(si, ti)),
            format!("cycle: {}", spell_cycle(&cycle, &step_names)),
        )]);
    }

    let step_levels = levels(&step_needs);
    let stage_levels = levels(&stage_needs);
    let group_count = step_levels.iter().copied().max().map_or(0, |m| m + 1);
    let mut groups = vec![Vec::new(); group_count];
    for (index, &level) in step_levels.iter().enumerate() {
        groups[level].push(index);
    }

    let steps = step_locations
        .iter()
        .enumerate()
        .map(|(index, &(si, ti))| {
            let step = &pipeline.stages[si].steps[ti];
            PlannedStep {
                index,
                stage: si,
                name: step.name.clone(),
                needs: step_needs[index].clone(),
                approval: step.approval,
                timeout_secs: step
                    .timeout
                    .as_deref()
                    .and_then(|t| humantime::parse_duration(t).ok())
                    .map(|d| d.as_secs().max(1)),
            }
        })
        .collect();
    let stages = pipeline
        .stages
        .iter()
        .enumerate()
        .map(|(si, stage)| PlannedStage {
            name: stage.name.clone(),
            needs: stage_needs[si].clone(),
            steps: stage_steps(si).collect(),
            level: stage_levels[si],
        })
        .collect();
    Ok(Plan {
        stages,
        steps,
        groups,
    })
}

/// Dependencies as written, resolved to indices (unknown names are reported and left out).
struct Needs {
    /// (stage, step-in-stage) of every step, in document order.
    step_locations: Vec<(usize, usize)>,
    stage_needs: Vec<Vec<usize>>,
    /// A step's own `needs`, when it has them.
    explicit_needs: Vec<Option<Vec<usize>>>,
}

impl Needs {
    fn resolve(pipeline: &Pipeline, problems: &mut Vec<Problem>) -> Needs {
        let stage_index = index_names(
            pipeline
                .stages
                .iter()
                .enumerate()
                .map(|(i, s)| (s.name.as_str(), format!("stages[{i}]"))),
            "stage",
            problems,
        );
        let step_locations: Vec<(usize, usize)> = pipeline
            .stages
            .iter()
            .enumerate()
            .flat_map(|(si, stage)| (0..stage.steps.len()).map(move |ti| (si, ti)))
            .collect();
        let step_index = index_names(
            step_locations.iter().map(|&(si, ti)| {
                (
                    pipeline.stages[si].steps[ti].name.as_str(),
                    step_path(si, ti),
                )
            }),
            "step",
            problems,
        );
        let stage_needs = pipeline
            .stages
            .iter()
            .enumerate()
            .map(|(si, stage)| match &stage.needs {
                None => si.checked_sub(1).into_iter().collect(),
                Some(names) => resolve(
                    names,
                    &stage_index,
                    "stage",
                    &format!("stages[{si}].needs"),
                    problems,
                ),
            })
            .collect();
        let explicit_needs = step_locations
            .iter()
            .map(|&(si, ti)| {
                let step = &pipeline.stages[si].steps[ti];
                step.needs.as_ref().map(|names| {
                    resolve(
                        names,
                        &step_index,
                        "step",
                        &format!("{}.needs", step_path(si, ti)),
                        problems,
                    )
                })
            })
            .collect();
        Needs {
            step_locations,
            stage_needs,
            explicit_needs,
        }
    }

    /// Each step's direct dependencies by the ordering rules (see the module docs).
    fn step_edges(&self, pipeline: &Pipeline) -> Vec<Vec<usize>> {
        let mut first_step_of_stage = Vec::with_capacity(pipeline.stages.len());
        let mut offset = 0;
        for stage in &pipeline.stages {
            first_step_of_stage.push(offset);
            offset += stage.steps.len();
        }
        let stage_steps = |si: usize| {
            first_step_of_stage[si]..first_step_of_stage[si] + pipeline.stages[si].steps.len()
        };
        let mut step_needs: Vec<Vec<usize>> = vec![Vec::new(); self.step_locations.len()];
        for (si, stage) in pipeline.stages.iter().enumerate() {
            let entry: Vec<usize> = self.stage_needs[si]
                .iter()
                .flat_map(|&needed| stage_steps(needed))
                .collect();
            let mut previous_group: Vec<usize> = Vec::new();
            let mut current_group: Vec<usize> = Vec::new();
            let mut current_parallel = false;
            for (ti, step) in stage.steps.iter().enumerate() {
                let index = first_step_of_stage[si] + ti;
                if !(step.parallel && current_parallel) && !current_group.is_empty() {
                    previous_group = std::mem::take(&mut current_group);
                }
                current_parallel = step.parallel;
                current_group.push(index);
                let mut needs = entry.clone();
                match &self.explicit_needs[index] {
                    Some(explicit) => needs.extend(explicit.iter().copied()),
                    None => needs.extend(previous_group.iter().copied()),
                }
                needs.sort_unstable();
                needs.dedup();
                step_needs[index] = needs;
            }
        }
        step_needs
    }
}

/// Stage and step dependencies by the ordering rules, unknown names left out: the graph of
/// a pipeline that does not validate (yet), which the editor still draws.
pub fn outline(pipeline: &Pipeline) -> (Vec<Vec<usize>>, Vec<Vec<usize>>) {
    let needs = Needs::resolve(pipeline, &mut Vec::new());
    let step_needs = needs.step_edges(pipeline);
    (needs.stage_needs, step_needs)
}

pub fn step_path(stage: usize, step: usize) -> String {
    format!("stages[{stage}].steps[{step}]")
}

/// Parses and plans a document in one go: what the editor, the API and the CLI call.
pub fn check_document(source: &str) -> Result<(Pipeline, Plan), Vec<Problem>> {
    let pipeline = crate::definition::parse_document(source)?;
    let plan = plan(&pipeline)?;
    Ok((pipeline, plan))
}

/// Looks up the action a step uses, if any.
/// What a step runs. The step's own script or command wins over its action's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Program<'a> {
    /// Run with `sh -e`.
    Script(&'a str),
    /// A program and its arguments, run directly.
    Command(&'a [String], &'a [String]),
    /// Neither: the image's own entrypoint, with these arguments (Tekton engine only).
    Entrypoint(&'a [String]),
}

pub fn step_program<'a>(pipeline: &'a Pipeline, step: &'a Step) -> Program<'a> {
    if let Some(script) = &step.script {
        return Program::Script(script);
    }
    if !step.command.is_empty() {
        return Program::Command(&step.command, &step.args);
    }
    match step_action(pipeline, step) {
        Some(action) => match &action.script {
            Some(script) => Program::Script(script),
            None if !action.command.is_empty() => Program::Command(
                &action.command,
                if step.args.is_empty() {
                    &action.args
                } else {
                    &step.args
                },
            ),
            None => Program::Entrypoint(if step.args.is_empty() {
                &action.args
            } else {
                &step.args
            }),
        },
        None => Program::Entrypoint(&step.args),
    }
}

/// The container image a step names, directly or through its action.
pub fn step_image<'a>(pipeline: &'a Pipeline, step: &'a Step) -> Option<&'a str> {
    step.image
        .as_deref()
        .or_else(|| step_action(pipeline, step).and_then(|a| a.image.as_deref()))
}

/// The definition of a planned step.
pub fn step_definition<'a>(pipeline: &'a Pipeline, plan: &Plan, index: usize) -> Option<&'a Step> {
    let planned = plan.steps.get(index)?;
    pipeline
        .stages
        .get(planned.stage)?
        .steps
        .iter()
        .find(|s| s.name == planned.name)
}

pub fn step_action<'a>(pipeline: &'a Pipeline, step: &Step) -> Option<&'a Action> {
    let reference = step.action.as_deref()?;
    let (name, version) = reference.split_once('@')?;
    pipeline
        .actions
        .iter()
        .find(|a| a.name == name && a.version == version)
}

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
    if let Some(action) = step_action(pipeline, step) {
        merged.extend(action.defaults.clone());
    }
    merged.extend(pipeline.with.clone());
    merged.extend(run_params.clone());
    merged.extend(step.with.clone());
    merged
}

/// Checks each step's action requirements against the merged parameters of a run.
pub fn check_required_params(pipeline: &Pipeline, run_params: &Params) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (si, stage) in pipeline.stages.iter().enumerate() {
        for (ti, step) in stage.steps.iter().enumerate() {
            let Some(action) = step_action(pipeline, step) else {
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

fn check_fields(pipeline: &Pipeline, problems: &mut Vec<Problem>) {
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
                let found = step_action(pipeline, step);
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
    check_param_names(&format!("{path}.with"), &step.with, problems);
    check_param_names(&format!("{path}.env"), &step.env, problems);
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

pub(crate) fn check_dns_label(path: &str, name: &str, problems: &mut Vec<Problem>) {
    if !is_dns_label(name) {
        problems.push(Problem::new(
            path,
            format!("\"{name}\" is not a valid name: use 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit"),
        ));
    }
}

fn index_names<'a>(
    names: impl Iterator<Item = (&'a str, String)>,
    what: &str,
    problems: &mut Vec<Problem>,
) -> BTreeMap<&'a str, usize> {
    let mut index = BTreeMap::new();
    let mut first_paths: BTreeMap<&str, String> = BTreeMap::new();
    for (i, (name, path)) in names.enumerate() {
        if let Some(first) = first_paths.get(name) {
            problems.push(Problem::new(
                format!("{path}.name"),
                format!("duplicate {what} name \"{name}\" (first at {first})"),
            ));
        } else {
            first_paths.insert(name, path);
            index.insert(name, i);
        }
    }
    index
}

fn resolve(
    names: &[String],
    index: &BTreeMap<&str, usize>,
    what: &str,
    path: &str,
    problems: &mut Vec<Problem>,
) -> Vec<usize> {
    let mut resolved = Vec::new();
    for name in names {
        match index.get(name.as_str()) {
            Some(&i) => resolved.push(i),
            None => problems.push(Problem::new(
                path,
                format!(
                    "unknown {what} \"{name}\"{}",
                    did_you_mean(name, index.keys().copied())
                ),
            )),
        }
    }
    resolved
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

/// Finds a cycle in a graph given as "node → nodes it needs"; returns it in order of the
/// `needs` edges, e.g. `[a, b]` for a needs b, b needs a.
pub fn find_cycle(needs: &[Vec<usize>]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut marks = vec![Mark::New; needs.len()];
    for root in 0..needs.len() {
        if marks[root] != Mark::New {
            continue;
        }
        // Stack of (node, next edge to follow); `path` mirrors the open nodes.
        let mut stack = vec![(root, 0usize)];
        marks[root] = Mark::Open;
        while let Some(&mut (node, ref mut edge)) = stack.last_mut() {
            if let Some(&next) = needs[node].get(*edge) {
                *edge += 1;
                match marks[next] {
                    Mark::New => {
                        marks[next] = Mark::Open;
                        stack.push((next, 0));
                    }
                    Mark::Open => {
                        let start = stack.iter().position(|&(n, _)| n == next).unwrap_or(0);
                        return Some(stack[start..].iter().map(|&(n, _)| n).collect());
                    }
                    Mark::Done => {}
                }
            } else {
                marks[node] = Mark::Done;
                stack.pop();
            }
        }
    }
    None
}

fn spell_cycle(cycle: &[usize], names: &[&str]) -> String {
    let mut spelled: Vec<&str> = cycle.iter().map(|&i| names[i]).collect();
    spelled.push(names[cycle[0]]);
    spelled.join(" -> ")
}

/// Longest-path depth of each node of an acyclic graph.
fn levels(needs: &[Vec<usize>]) -> Vec<usize> {
    let mut level: Vec<Option<usize>> = vec![None; needs.len()];
    for root in 0..needs.len() {
        let mut stack = vec![root];
        while let Some(&node) = stack.last() {
            if level[node].is_some() {
                stack.pop();
                continue;
            }
            let pending: Vec<usize> = needs[node]
                .iter()
                .copied()
                .filter(|&n| level[n].is_none())
                .collect();
            if pending.is_empty() {
                level[node] = Some(
                    needs[node]
                        .iter()
                        .map(|&n| level[n].unwrap_or(0) + 1)
                        .max()
                        .unwrap_or(0),
                );
                stack.pop();
            } else {
                stack.extend(pending);
            }
        }
    }
    level.into_iter().map(|l| l.unwrap_or(0)).collect()
}
