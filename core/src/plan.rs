//! Planning: a valid pipeline becomes a DAG of steps, plus its view as a sequence of
//! parallel groups (seed 003's Workplan). Planning checks the fields first ([`crate::check`]),
//! then names, dependencies and cycles.
//!
//! Ordering rules:
//! - a stage waits for every step of the stages in its `needs`; when `needs` is omitted it
//!   waits for the previous stage, and `needs: []` lets it start at once;
//! - inside a stage, consecutive `parallel` steps form a group, every other step is a group
//!   of its own, and each group waits for the previous one;
//! - a step with `needs` waits for exactly those steps instead (plus its stage's needs).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::check::{check_fields, did_you_mean, step_path, MAX_STEPS};
use crate::definition::{Pipeline, Problem};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Plan {
    pub stages: Vec<PlannedStage>,
    pub steps: Vec<PlannedStep>,
    /// Step indices by execution group: every step of a group may run in parallel once
    /// all earlier groups are done.
    pub groups: Vec<Vec<usize>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlannedStage {
    pub name: String,
    pub needs: Vec<usize>,
    pub steps: Vec<usize>,
    /// Column of the stage in a left-to-right graph.
    pub level: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
                let joins_group = step.parallel && current_parallel;
                if !joins_group && !current_group.is_empty() {
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
