//! A read-only stage graph in SVG: stages as columns (by dependency depth), steps as nodes,
//! stage dependencies as arrows between columns, in-stage step dependencies as curves.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::model::{StepState, StepStatus};
use crate::definition::{Pipeline, Problem};
use crate::plan::Plan;

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
            stages: plan.stages.iter().map(|s| GraphStage { name: s.name.clone(), steps: s.steps.clone(), problem: None }).collect(),
            steps: plan
                .steps
                .iter()
                .map(|s| GraphStep { name: s.name.clone(), stage: s.stage, needs: s.needs.clone(), status: None, problem: None, duration_ms: None })
                .collect(),
        }
    }

    pub fn from_steps(steps: &[StepState]) -> Self {
        let mut stages: Vec<GraphStage> = Vec::new();
        let mut graph_steps = Vec::with_capacity(steps.len());
        for (index, step) in steps.iter().enumerate() {
            if stages.last().is_none_or(|s| s.name != step.stage) {
                stages.push(GraphStage { name: step.stage.clone(), steps: Vec::new(), problem: None });
            }
            let stage = stages.len() - 1;
            stages[stage].steps.push(index);
            let needs = step
                .needs
                .iter()
                .filter_map(|need| steps.iter().position(|s| &s.name == need))
                .collect();
            let duration_ms = step.finished_at.zip(step.started_at).map(|(end, start)| end - start);
            graph_steps.push(GraphStep { name: step.name.clone(), stage, needs, status: Some(step.status), problem: None, duration_ms });
        }
        GraphInput { stages, steps: graph_steps }
    }

    /// The graph of a pipeline that may not validate: dependencies by the planning rules
    /// (unknown names left out), each problem at the stage or step its path points into.
    pub fn from_outline(pipeline: &Pipeline, problems: &[Problem]) -> Self {
        let (_, step_needs) = crate::plan::outline(pipeline);
        let mut stages = Vec::with_capacity(pipeline.stages.len());
        let mut steps = Vec::with_capacity(step_needs.len());
        for (si, stage) in pipeline.stages.iter().enumerate() {
            let first = steps.len();
            for step in &stage.steps {
                steps.push(GraphStep { name: step.name.clone(), stage: si, needs: step_needs[steps.len()].clone(), status: None, problem: None, duration_ms: None });
            }
            stages.push(GraphStage { name: stage.name.clone(), steps: (first..steps.len()).collect(), problem: None });
        }
        let mut graph = GraphInput { stages, steps };
        for problem in problems {
            let mut parts = problem.path.split(['[', ']']);
            let (Some("stages"), Some(si)) = (parts.next(), parts.next().and_then(|i| i.parse::<usize>().ok())) else { continue };
            let step = match (parts.next(), parts.next().and_then(|i| i.parse::<usize>().ok())) {
                (Some(".steps"), Some(ti)) => graph.stages.get(si).and_then(|s| s.steps.get(ti)).copied(),
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

const COLUMN_WIDTH: i32 = 230;
const NODE_WIDTH: i32 = 180;
const NODE_HEIGHT: i32 = 26;
const ROW: i32 = 34;
const STAGE_HEAD: i32 = 30;
const STAGE_GAP: i32 = 18;
const MARGIN: i32 = 14;

#[component]
pub fn StageGraph(
    input: GraphInput,
    /// Makes stages and steps pickable (the editor); the flag says whether shift was held.
    #[prop(optional)]
    on_pick: Option<Callback<(Pick, bool)>>,
    #[prop(default = None)] picked: Option<Pick>,
) -> impl IntoView {
    let pickable = on_pick.is_some();
    let pick = move |target: Pick, shift: bool| {
        if let Some(on_pick) = on_pick {
            on_pick.run((target, shift));
        }
    };
    let keyed = move |ev: &leptos::ev::KeyboardEvent| matches!(ev.key().as_str(), "Enter" | " ");
    let levels = input.stage_levels();
    let columns = levels.iter().copied().max().map_or(0, |m| m + 1);
    // Stage boxes: (x, y, height), stacked within their column.
    let mut column_bottom = vec![MARGIN; columns];
    let mut boxes = Vec::with_capacity(input.stages.len());
    for (si, stage) in input.stages.iter().enumerate() {
        let x = MARGIN + levels[si] as i32 * COLUMN_WIDTH;
        let y = column_bottom[levels[si]];
        let height = STAGE_HEAD + stage.steps.len() as i32 * ROW;
        column_bottom[levels[si]] = y + height + STAGE_GAP;
        boxes.push((x, y, height));
    }
    let node_position = |step: usize| -> (i32, i32) {
        let stage = input.steps[step].stage;
        let row = input.stages[stage].steps.iter().position(|&s| s == step).unwrap_or(0);
        let (x, y, _) = boxes[stage];
        (x + 10, y + STAGE_HEAD + row as i32 * ROW)
    };
    let width = MARGIN * 2 + columns as i32 * COLUMN_WIDTH;
    let height = column_bottom.iter().copied().fold(MARGIN, i32::max) + MARGIN;

    let mut stage_edges: Vec<(usize, usize)> = Vec::new();
    let mut step_edges: Vec<(usize, usize)> = Vec::new();
    for (index, step) in input.steps.iter().enumerate() {
        for &need in &step.needs {
            let from_stage = input.steps[need].stage;
            if from_stage == step.stage {
                step_edges.push((need, index));
            } else if !stage_edges.contains(&(from_stage, step.stage)) {
                stage_edges.push((from_stage, step.stage));
            }
        }
    }
    let stage_paths = stage_edges
        .into_iter()
        .map(|(from, to)| {
            let (fx, fy, fh) = boxes[from];
            let (tx, ty, th) = boxes[to];
            let (x1, y1) = (fx + NODE_WIDTH + 20, fy + fh / 2);
            let (x2, y2) = (tx, ty + th / 2);
            let mid = (x1 + x2) / 2;
            let d = format!("M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}");
            view! { <path class="edge stage-edge" d=d marker-end="url(#arrow)"/> }
        })
        .collect_view();
    let step_paths = step_edges
        .into_iter()
        .map(|(from, to)| {
            let (fx, fy) = node_position(from);
            let (_, ty) = node_position(to);
            let (y1, y2) = (fy + NODE_HEIGHT / 2, ty + NODE_HEIGHT / 2);
            let bend = fx - 8;
            let d = format!("M{fx},{y1} C{bend},{y1} {bend},{y2} {fx},{y2}");
            view! { <path class="edge step-edge" d=d/> }
        })
        .collect_view();
    let stage_boxes = input
        .stages
        .iter()
        .enumerate()
        .map(|(si, stage)| {
            let (x, y, h) = boxes[si];
            let class = format!(
                "stage{}{}",
                if picked == Some(Pick::Stage(si)) { " picked" } else { "" },
                if stage.problem.is_some() { " invalid" } else { "" }
            );
            let label = match &stage.problem {
                Some(problem) => format!("Stage {}: {problem}", stage.name),
                None => format!("Stage {}", stage.name),
            };
            let aria = pickable.then(|| label.clone());
            view! {
                <g
                    class=class
                    data-stage=stage.name.clone()
                    tabindex=pickable.then_some("0")
                    role=pickable.then_some("button")
                    aria-label=aria
                    on:click=move |ev| pick(Pick::Stage(si), ev.shift_key())
                    on:keydown=move |ev| if keyed(&ev) { ev.prevent_default(); pick(Pick::Stage(si), ev.shift_key()) }
                >
                    <title>{label}</title>
                    <rect x=x y=y width=NODE_WIDTH + 20 height=h - 4 rx="8"/>
                    <text x=x + 10 y=y + 19 class="stage-name">{stage.name.clone()}</text>
                </g>
            }
        })
        .collect_view();
    let nodes = input
        .steps
        .iter()
        .enumerate()
        .map(|(index, step)| {
            let (x, y) = node_position(index);
            let status = step.status.map(|s| s.as_str()).unwrap_or("planned");
            let class = format!(
                "node {status}{}{}",
                if picked == Some(Pick::Step(index)) { " picked" } else { "" },
                if step.problem.is_some() { " invalid" } else { "" }
            );
            let title = match &step.problem {
                Some(problem) => format!("{}: {problem}", step.name),
                None => format!("{} ({status})", step.name),
            };
            let aria = pickable.then(|| format!("Step {title}"));
            view! {
                <g
                    class=class
                    data-step=step.name.clone()
                    tabindex=pickable.then_some("0")
                    role=pickable.then_some("button")
                    aria-label=aria
                    on:click=move |ev| {
                        ev.stop_propagation();
                        pick(Pick::Step(index), ev.shift_key())
                    }
                    on:keydown=move |ev| if keyed(&ev) { ev.prevent_default(); pick(Pick::Step(index), ev.shift_key()) }
                >
                    <title>{title}</title>
                    <rect x=x y=y width=NODE_WIDTH height=NODE_HEIGHT rx="5"/>
                    <text x=x + 10 y=y + 17>{step.name.clone()}</text>
                    {step.duration_ms.map(|ms| view! {
                        <text class="duration" x=x + NODE_WIDTH - 8 y=y + 17 text-anchor="end">{crate::pages::format_duration(ms)}</text>
                    })}
                </g>
            }
        })
        .collect_view();
    view! {
        <div class="graph">
            <svg
                class="stage-graph"
                role="img"
                aria-label="Stage graph"
                width=width
                height=height
                viewBox=format!("0 0 {width} {height}")
            >
                <defs>
                    <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto">
                        <path d="M0,0 L10,5 L0,10 z"/>
                    </marker>
                </defs>
                {stage_boxes}
                {stage_paths}
                {step_paths}
                {nodes}
            </svg>
        </div>
    }
}
