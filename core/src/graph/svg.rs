//! The stage graph drawn as SVG text: the server renders it into pages, and the browser
//! sets it as inner HTML (one string instead of an element tree's worth of WASM).

use super::layout::{layout, NODE_HEIGHT, NODE_WIDTH, PADDING};
use super::{GraphInput, Pick};
use crate::format::format_duration;

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
/// in them in columns of their own (classed by status, `picked` and `invalid`), arrows
/// between stages and between steps of one stage, each naming its ends (`data-from`,
/// `data-to`). `pickable` makes stages and steps focusable buttons.
pub fn svg_markup(input: &GraphInput, pickable: bool, picked: Option<Pick>) -> String {
    use std::fmt::Write;

    let layout = layout(input);
    let (width, height) = (layout.width, layout.height);
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
        let rect = layout.stages[si];
        let (x, y) = (rect.x, rect.y);
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
            w = rect.width,
            rh = rect.height - 4,
            tx = x + PADDING,
            ty = y + 19,
        );
    }
    for (from, to) in stage_edges {
        let (f, t) = (layout.stages[from], layout.stages[to]);
        let (x1, y1) = (f.x + f.width, f.y + f.height / 2);
        let (x2, y2) = (t.x, t.y + t.height / 2);
        let mid = (x1 + x2) / 2;
        let _ = write!(
            svg,
            r#"<path class="edge stage-edge" data-from="{}" data-to="{}" d="M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}" marker-end="url(#arrow)"></path>"#,
            escape(&input.stages[from].name),
            escape(&input.stages[to].name),
        );
    }
    // A step's dependency inside its stage: from the right side of the step it waits for
    // to its left side, with an arrow (a cycle in a definition that does not validate bends
    // back on the left).
    for (from, to) in step_edges {
        let (f, t) = (layout.steps[from], layout.steps[to]);
        let (y1, y2) = (f.y + NODE_HEIGHT / 2, t.y + NODE_HEIGHT / 2);
        let lane = layout
            .lanes
            .iter()
            .find(|&&(a, b, _)| (a, b) == (from, to))
            .map(|&(_, _, y)| y);
        let d = if let (Some(ly), true) = (lane, t.x > f.x) {
            // Down to its lane under the rows, along it, and up into the step.
            let (x1, x2) = (f.x + NODE_WIDTH, t.x);
            let (a, b) = (x1 + 12, x2 - 12);
            format!(
                "M{x1},{y1} C{a},{y1} {x1},{ly} {a},{ly} L{b},{ly} C{x2},{ly} {b},{y2} {x2},{y2}"
            )
        } else if t.x > f.x {
            let (x1, x2) = (f.x + NODE_WIDTH, t.x);
            let mid = (x1 + x2) / 2;
            format!("M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}")
        } else {
            let bend = f.x - 8;
            format!("M{},{y1} C{bend},{y1} {bend},{y2} {},{y2}", f.x, t.x)
        };
        let _ = write!(
            svg,
            r#"<path class="edge step-edge" data-from="{}" data-to="{}" d="{d}" marker-end="url(#arrow)"></path>"#,
            escape(&input.steps[from].name),
            escape(&input.steps[to].name),
        );
    }
    for (index, step) in input.steps.iter().enumerate() {
        let (x, y) = (layout.steps[index].x, layout.steps[index].y);
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
