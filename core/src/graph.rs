//! A read-only stage graph in SVG: stages as columns (by dependency depth), steps as nodes,
//! stage dependencies as arrows between columns, in-stage step dependencies as curves.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::definition::{Pipeline, Problem};
use crate::model::{StepState, StepStatus};
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
        let (_, step_needs) = crate::plan::outline(pipeline);
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

const COLUMN_WIDTH: i32 = 230;
const NODE_WIDTH: i32 = 180;
const NODE_HEIGHT: i32 = 26;
const ROW: i32 = 34;
const STAGE_HEAD: i32 = 30;
const STAGE_GAP: i32 = 18;
const MARGIN: i32 = 14;

/// The graph as an `<svg>`, with clicks (and Enter or Space on a focused stage or step)
/// handed to `on_pick` along with whether shift was held.
///
/// The SVG is written as text by [`svg_markup`] and set as the container's inner HTML, with
/// one click and one key handler on the container that find the stage or step by its
/// `data-pick`. Built element by element, every node's attributes and handlers would be code
/// of their own in the WASM, and the graph is redrawn whole on every change anyway.
#[component]
pub fn StageGraph(
    input: GraphInput,
    /// Makes stages and steps pickable (the editor); the flag says whether shift was held.
    #[prop(optional)]
    on_pick: Option<Callback<(Pick, bool)>>,
    #[prop(default = None)] picked: Option<Pick>,
) -> impl IntoView {
    let markup = svg_markup(&input, on_pick.is_some(), picked);
    let pick = move |target: Option<leptos::web_sys::EventTarget>, shift: bool| -> bool {
        let Some(on_pick) = on_pick else { return false };
        let Some(pick) = target.as_ref().and_then(pick_at) else {
            return false;
        };
        on_pick.run((pick, shift));
        true
    };
    view! {
        <div
            class="graph"
            inner_html=markup
            on:click=move |ev| {
                if pick(ev.target(), ev.shift_key()) {
                    ev.stop_propagation();
                }
            }
            on:keydown=move |ev| {
                if matches!(ev.key().as_str(), "Enter" | " ") && pick(ev.target(), ev.shift_key()) {
                    ev.prevent_default();
                }
            }
        ></div>
    }
}

/// The stage or step an event happened in: the nearest element with a `data-pick`.
fn pick_at(target: &leptos::web_sys::EventTarget) -> Option<Pick> {
    use leptos::wasm_bindgen::JsCast;
    let element = target
        .dyn_ref::<leptos::web_sys::Element>()?
        .closest("[data-pick]")
        .ok()??;
    parse_pick(&element.get_attribute("data-pick")?)
}

fn parse_pick(text: &str) -> Option<Pick> {
    match text.split_once(':')? {
        ("stage", index) => index.parse().ok().map(Pick::Stage),
        ("step", index) => index.parse().ok().map(Pick::Step),
        _ => None,
    }
}

/// Text for SVG/HTML content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The stage graph as SVG markup: stage boxes in columns by dependency depth, step nodes
/// in them (classed by status, `picked` and `invalid`), arrows between stages and curves
/// between steps of one stage. `pickable` makes stages and steps focusable buttons.
pub fn svg_markup(input: &GraphInput, pickable: bool, picked: Option<Pick>) -> String {
    use std::fmt::Write;

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
        let row = input.stages[stage]
            .steps
            .iter()
            .position(|&s| s == step)
            .unwrap_or(0);
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
    // Attributes that make a stage or step a focusable button in the editor.
    let button = |pick: &str, label: &str| {
        if pickable {
            format!(
                r#" data-pick="{pick}" tabindex="0" role="button" aria-label="{}""#,
                escape(label)
            )
        } else {
            String::new()
        }
    };

    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="stage-graph" role="img" aria-label="Stage graph" width="{width}" height="{height}" viewBox="0 0 {width} {height}"><defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z"></path></marker></defs>"#
    );
    for (si, stage) in input.stages.iter().enumerate() {
        let (x, y, h) = boxes[si];
        let class = format!(
            "stage{}{}",
            if picked == Some(Pick::Stage(si)) {
                " picked"
            } else {
                ""
            },
            if stage.problem.is_some() {
                " invalid"
            } else {
                ""
            }
        );
        let label = match &stage.problem {
            Some(problem) => format!("Stage {}: {problem}", stage.name),
            None => format!("Stage {}", stage.name),
        };
        let _ = write!(
            svg,
            r#"<g class="{class}" data-stage="{name}"{button}><title>{title}</title><rect x="{x}" y="{y}" width="{w}" height="{rh}" rx="8"></rect><text x="{tx}" y="{ty}" class="stage-name">{name}</text></g>"#,
            name = escape(&stage.name),
            button = button(&format!("stage:{si}"), &label),
            title = escape(&label),
            w = NODE_WIDTH + 20,
            rh = h - 4,
            tx = x + 10,
            ty = y + 19,
        );
    }
    for (from, to) in stage_edges {
        let (fx, fy, fh) = boxes[from];
        let (tx, ty, th) = boxes[to];
        let (x1, y1) = (fx + NODE_WIDTH + 20, fy + fh / 2);
        let (x2, y2) = (tx, ty + th / 2);
        let mid = (x1 + x2) / 2;
        let _ = write!(
            svg,
            r#"<path class="edge stage-edge" d="M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}" marker-end="url(#arrow)"></path>"#
        );
    }
    for (from, to) in step_edges {
        let (fx, fy) = node_position(from);
        let (_, ty) = node_position(to);
        let (y1, y2) = (fy + NODE_HEIGHT / 2, ty + NODE_HEIGHT / 2);
        let bend = fx - 8;
        let _ = write!(
            svg,
            r#"<path class="edge step-edge" d="M{fx},{y1} C{bend},{y1} {bend},{y2} {fx},{y2}"></path>"#
        );
    }
    for (index, step) in input.steps.iter().enumerate() {
        let (x, y) = node_position(index);
        let status = step.status.map(|s| s.as_str()).unwrap_or("planned");
        let class = format!(
            "node {status}{}{}",
            if picked == Some(Pick::Step(index)) {
                " picked"
            } else {
                ""
            },
            if step.problem.is_some() {
                " invalid"
            } else {
                ""
            }
        );
        let title = match &step.problem {
            Some(problem) => format!("{}: {problem}", step.name),
            None => format!("{} ({status})", step.name),
        };
        let duration = step
            .duration_ms
            .map(|ms| {
                format!(
                    r#"<text class="duration" x="{}" y="{}" text-anchor="end">{}</text>"#,
                    x + NODE_WIDTH - 8,
                    y + 17,
                    crate::pages::format_duration(ms)
                )
            })
            .unwrap_or_default();
        let _ = write!(
            svg,
            r#"<g class="{class}" data-step="{name}"{button}><title>{title_text}</title><rect x="{x}" y="{y}" width="{NODE_WIDTH}" height="{NODE_HEIGHT}" rx="5"></rect><text x="{tx}" y="{ty}">{name}</text>{duration}</g>"#,
            name = escape(&step.name),
            button = button(&format!("step:{index}"), &format!("Step {title}")),
            title_text = escape(&title),
            tx = x + 10,
            ty = y + 17,
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> GraphInput {
        GraphInput {
            stages: vec![
                GraphStage {
                    name: "build".into(),
                    steps: vec![0, 1],
                    problem: None,
                },
                GraphStage {
                    name: "ship".into(),
                    steps: vec![2],
                    problem: Some("stage <ship> & \"co\"".into()),
                },
            ],
            steps: vec![
                GraphStep {
                    name: "compile".into(),
                    stage: 0,
                    needs: vec![],
                    status: Some(StepStatus::Succeeded),
                    problem: None,
                    duration_ms: Some(1_250),
                },
                GraphStep {
                    name: "lint".into(),
                    stage: 0,
                    needs: vec![0],
                    status: None,
                    problem: None,
                    duration_ms: None,
                },
                GraphStep {
                    name: "push".into(),
                    stage: 1,
                    needs: vec![1],
                    status: None,
                    problem: Some("image: missing".into()),
                    duration_ms: None,
                },
            ],
        }
    }

    /// Every stage and step is there with its classes, edges run between them, and text
    /// that came from users is escaped.
    #[test]
    fn markup_has_every_node_edge_and_escapes_text() {
        let svg = svg_markup(&input(), false, None);
        assert!(svg.starts_with(r#"<svg class="stage-graph""#) && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<g class=\"stage").count(), 2);
        assert_eq!(svg.matches("<g class=\"node").count(), 3);
        assert!(
            svg.contains(r#"<g class="node succeeded" data-step="compile">"#),
            "{svg}"
        );
        assert!(
            svg.contains(r#"<g class="node planned invalid" data-step="push">"#),
            "{svg}"
        );
        assert!(
            svg.contains(r#"<g class="stage invalid" data-stage="ship">"#),
            "{svg}"
        );
        assert!(
            svg.contains("Stage ship: stage &lt;ship&gt; &amp; &quot;co&quot;"),
            "{svg}"
        );
        assert!(!svg.contains("<ship>"));
        assert_eq!(svg.matches("stage-edge").count(), 1, "build → ship");
        assert_eq!(svg.matches("step-edge").count(), 1, "compile → lint");
        assert!(
            svg.contains(r#"<text class="duration""#) && svg.contains(">1.3s</text>"),
            "{svg}"
        );
        assert!(
            !svg.contains("data-pick") && !svg.contains("tabindex"),
            "read-only graphs have no buttons"
        );
    }

    /// Pickable graphs make stages and steps buttons whose `data-pick` reads back as the
    /// same pick, and mark the picked one.
    #[test]
    fn pickable_markup_reads_back_as_picks() {
        let svg = svg_markup(&input(), true, Some(Pick::Step(1)));
        assert!(svg.contains(r#"<g class="node planned picked" data-step="lint" data-pick="step:1" tabindex="0" role="button""#), "{svg}");
        assert!(
            svg.contains(r#"data-stage="ship" data-pick="stage:1""#),
            "{svg}"
        );
        assert_eq!(parse_pick("step:1"), Some(Pick::Step(1)));
        assert_eq!(parse_pick("stage:0"), Some(Pick::Stage(0)));
        assert_eq!(parse_pick("step:x"), None);
        assert_eq!(parse_pick("edge:1"), None);
    }
}
