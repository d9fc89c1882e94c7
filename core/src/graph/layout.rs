//! Where the stage graph puts things. Stages sit in columns by stage dependency depth; inside
//! a stage, steps sit in columns by their depth among the stage's own steps (a step that
//! waits for others of its stage is to the right of them), so a DAG inside one stage reads
//! left to right. Steps of one depth stack in rows.

use super::GraphInput;

pub(super) const NODE_WIDTH: i32 = 160;
pub(super) const NODE_HEIGHT: i32 = 26;
/// From one in-stage column's left edge to the next: the node and room for its arrows.
const STEP_COLUMN: i32 = NODE_WIDTH + 40;
const ROW: i32 = 34;
pub(super) const STAGE_HEAD: i32 = 30;
const STAGE_GAP: i32 = 18;
/// Between columns of stages: room for the arrows between stages.
const STAGE_COLUMN_GAP: i32 = 50;
/// Inside a stage box, around its nodes.
pub(super) const PADDING: i32 = 10;
/// Between the lanes under a stage's rows that arrows skipping a column run along.
const LANE: i32 = 10;
const MARGIN: i32 = 14;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    pub x: i32,
    pub y: i32,
    pub width: i32,
    pub height: i32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub width: i32,
    pub height: i32,
    /// Each stage's box.
    pub stages: Vec<Rect>,
    /// Each step's node.
    pub steps: Vec<Rect>,
    /// Arrows inside a stage that skip a column run along a lane of their own under the
    /// stage's rows (so they pass no node): `(from, to, lane y)`.
    pub lanes: Vec<(usize, usize, i32)>,
}

/// Depth of each step among the steps of its own stage: 0 for one that waits for none of
/// them, else one more than the deepest it waits for. (A cycle, in a definition that does
/// not validate, stops growing after as many rounds as there are steps.)
pub fn step_depths(input: &GraphInput) -> Vec<usize> {
    let mut depth = vec![0usize; input.steps.len()];
    for _ in 0..input.steps.len() {
        let mut changed = false;
        for (index, step) in input.steps.iter().enumerate() {
            for &need in &step.needs {
                let same_stage = input.steps.get(need).is_some_and(|n| n.stage == step.stage);
                if same_stage && need != index && depth[index] < depth[need] + 1 {
                    depth[index] = depth[need] + 1;
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    depth
}

pub fn layout(input: &GraphInput) -> Layout {
    let levels = input.stage_levels();
    let depths = step_depths(input);
    // Each step's (column, row) inside its stage, and each stage's columns and rows.
    let mut cell = vec![(0usize, 0usize); input.steps.len()];
    let mut sizes = Vec::with_capacity(input.stages.len());
    // Per stage: its long arrows, in the order their lanes go.
    let mut long: Vec<Vec<(usize, usize)>> = vec![Vec::new(); input.stages.len()];
    for (index, step) in input.steps.iter().enumerate() {
        for &need in &step.needs {
            let same_stage = input.steps.get(need).is_some_and(|n| n.stage == step.stage);
            if same_stage && depths[index] > depths[need] + 1 {
                long[step.stage].push((need, index));
            }
        }
    }
    for (si, stage) in input.stages.iter().enumerate() {
        let mut rows_in: Vec<usize> = Vec::new();
        for &step in &stage.steps {
            let column = depths[step];
            if rows_in.len() <= column {
                rows_in.resize(column + 1, 0);
            }
            cell[step] = (column, rows_in[column]);
            rows_in[column] += 1;
        }
        let columns = rows_in.len().max(1) as i32;
        let rows = rows_in.iter().copied().max().unwrap_or(0) as i32;
        let lanes = long[si].len() as i32;
        sizes.push((
            (columns - 1) * STEP_COLUMN + NODE_WIDTH + 2 * PADDING,
            STAGE_HEAD + rows * ROW + lanes * LANE,
        ));
    }
    let columns = levels.iter().copied().max().map_or(0, |m| m + 1);
    let mut column_width = vec![0; columns];
    for (si, &(width, _)) in sizes.iter().enumerate() {
        column_width[levels[si]] = column_width[levels[si]].max(width);
    }
    let mut column_x = Vec::with_capacity(columns);
    let mut x = MARGIN;
    for width in &column_width {
        column_x.push(x);
        x += width + STAGE_COLUMN_GAP;
    }
    let width = (x - STAGE_COLUMN_GAP).max(MARGIN) + MARGIN;
    let mut column_bottom = vec![MARGIN; columns];
    let mut stages = Vec::with_capacity(input.stages.len());
    for (si, &(width, height)) in sizes.iter().enumerate() {
        let level = levels[si];
        let rect = Rect {
            x: column_x[level],
            y: column_bottom[level],
            width,
            height,
        };
        column_bottom[level] = rect.y + height + STAGE_GAP;
        stages.push(rect);
    }
    let steps = input
        .steps
        .iter()
        .enumerate()
        .map(|(index, step)| {
            let (column, row) = cell[index];
            let stage = stages[step.stage];
            Rect {
                x: stage.x + PADDING + column as i32 * STEP_COLUMN,
                y: stage.y + STAGE_HEAD + row as i32 * ROW,
                width: NODE_WIDTH,
                height: NODE_HEIGHT,
            }
        })
        .collect();
    let height = column_bottom.iter().copied().fold(MARGIN, i32::max) + MARGIN;
    let lanes = long
        .iter()
        .enumerate()
        .flat_map(|(si, edges)| {
            let stage = stages[si];
            let first = stage.y + stage.height - edges.len() as i32 * LANE - 2;
            edges
                .iter()
                .enumerate()
                .map(move |(k, &(from, to))| (from, to, first + k as i32 * LANE))
        })
        .collect();
    Layout {
        width,
        height,
        stages,
        steps,
        lanes,
    }
}
