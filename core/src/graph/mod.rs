//! A read-only stage graph in SVG: stages as columns (by dependency depth), steps as nodes,
//! stage dependencies as arrows between columns; inside a stage, steps in columns by their
//! depth among the stage's steps, with arrows from each step to those that wait for it.

use serde::{Deserialize, Serialize};

use crate::definition::{Pipeline, Problem};
use crate::plan::{outline, Plan};
use crate::run::{StepState, StepStatus};

mod layout;
mod svg;

pub use layout::{layout, step_depths, Layout, Rect};
pub use svg::svg_markup;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GraphInput {
    pub stages: Vec<GraphStage>,
    pub steps: Vec<GraphStep>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GraphStage {
    pub name: String,
    pub steps: Vec<usize>,
    /// What the validator says is wrong here (editor only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GraphStep {
    pub name: String,
    pub stage: usize,
    pub needs: Vec<usize>,
    pub status: Option<StepStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// How long it ran, once it has ended (run page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<i64>,
}

impl GraphInput {
    pub fn from_plan(plan: &Plan) -> Self {
        GraphInput {
            stages: plan
                .stages
                .iter()
                .map(|s| GraphStage {
                    name: s.name.clone(),
                    steps: s.steps.clone(),
                    problem: None,
                })
                .collect(),
            steps: plan
                .steps
                .iter()
                .map(|s| GraphStep {
                    name: s.name.clone(),
                    stage: s.stage,
                    needs: s.needs.clone(),
                    status: None,
                    problem: None,
                    duration_ms: None,
                })
                .collect(),
        }
    }

    pub fn from_steps(steps: &[StepState]) -> Self {
        let mut stages: Vec<GraphStage> = Vec::new();
        let mut graph_steps = Vec::with_capacity(steps.len());
        for (index, step) in steps.iter().enumerate() {
            if stages.last().is_none_or(|s| s.name != step.stage) {
                stages.push(GraphStage {
                    name: step.stage.clone(),
                    steps: Vec::new(),
                    problem: None,
                });
            }
            let stage = stages.len() - 1;
            stages[stage].steps.push(index);
            let needs = step
                .needs
                .iter()
                .filter_map(|need| steps.iter().position(|s| &s.name == need))
                .collect();
            let duration_ms = step
                .finished_at
                .zip(step.started_at)
                .map(|(end, start)| end - start);
            graph_steps.push(GraphStep {
                name: step.name.clone(),
                stage,
                needs,
                status: Some(step.status),
                problem: None,
                duration_ms,
            });
        }
        GraphInput {
            stages,
            steps: graph_steps,
        }
    }

    /// The graph of a pipeline that may not validate: dependencies by the planning rules
    /// (unknown names left out), each problem at the stage or step its path points into.
    pub fn from_outline(pipeline: &Pipeline, problems: &[Problem]) -> Self {
        let (_, step_needs) = outline(pipeline);
        let mut stages = Vec::with_capacity(pipeline.stages.len());
        let mut steps = Vec::with_capacity(step_needs.len());
        for (si, stage) in pipeline.stages.iter().enumerate() {
            let first = steps.len();
            for step in &stage.steps {
                steps.push(GraphStep {
                    name: step.name.clone(),
                    stage: si,
                    needs: step_needs[steps.len()].clone(),
                    status: None,
                    problem: None,
                    duration_ms: None,
                });
            }
            stages.push(GraphStage {
                name: stage.name.clone(),
                steps: (first..steps.len()).collect(),
                problem: None,
            });
        }
        let mut graph = GraphInput { stages, steps };
        for problem in problems {
            let mut parts = problem.path.split(['[', ']']);
            let (Some("stages"), Some(si)) = (
                parts.next(),
                parts.next().and_then(|i| i.parse::<usize>().ok()),
            ) else {
                continue;
            };
            let step = match (
                parts.next(),
                parts.next().and_then(|i| i.parse::<usize>().ok()),
            ) {
                (Some(".steps"), Some(ti)) => {
                    graph.stages.get(si).and_then(|s| s.steps.get(ti)).copied()
                }
                _ => None,
            };
            let slot = match step {
                Some(index) => &mut graph.steps[index].problem,
                None => match graph.stages.get_mut(si) {
                    Some(stage) => &mut stage.problem,
                    None => continue,
                },
            };
            let text = problem.to_string();
            *slot = Some(match slot.take() {
                Some(earlier) => format!("{earlier}\n{text}"),
                None => text,
            });
        }
        graph
    }

    /// Column of each stage: one more than the deepest stage any of its steps waits for.
    fn stage_levels(&self) -> Vec<usize> {
        let mut levels = vec![0usize; self.stages.len()];
        for _ in 0..self.stages.len() {
            let mut changed = false;
            for step in &self.steps {
                for &need in &step.needs {
                    let from = self.steps[need].stage;
                    if from != step.stage && levels[step.stage] < levels[from] + 1 {
                        levels[step.stage] = levels[from] + 1;
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        levels
    }
}

/// What a click in an editable graph picks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick {
    Stage(usize),
    /// By index into [`GraphInput::steps`].
    Step(usize),
}

/// A pick as `data-pick` writes it: `stage:2`, `step:5`.
pub fn parse_pick(text: &str) -> Option<Pick> {
    match text.split_once(':')? {
        ("stage", index) => index.parse().ok().map(Pick::Stage),
        ("step", index) => index.parse().ok().map(Pick::Step),
        _ => None,
    }
}
