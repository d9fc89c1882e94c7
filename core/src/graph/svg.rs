//! The stage graph drawn as SVG text: the server renders it into pages, and the browser
//! sets it as inner HTML (one string instead of an element tree's worth of WASM).

use super::{GraphInput, Pick};
use crate::format::format_duration;

const COLUMN_WIDTH: i32 = 230;
const NODE_WIDTH: i32 = 180;
const NODE_HEIGHT: i32 = 26;
const ROW: i32 = 34;
const STAGE_HEAD: i32 = 30;
const STAGE_GAP: i32 = 18;
const MARGIN: i32 = 14;

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
                    format_duration(ms)
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
