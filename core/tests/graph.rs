//! The stage graph's SVG: every node and edge, escaping, and picks read back.

use conveyor_core::graph::{parse_pick, svg_markup, GraphInput, GraphStage, GraphStep, Pick};
use conveyor_core::run::StepStatus;

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

/// Seed 003's `my-workflow` (one stage: step-1 → {step-2, step-3} → step-4 → step-5, and
/// step-5 also waits for step-1) reads as a DAG: a column per depth, the parallel pair
/// stacked in one column, every arrow from a node's right side to a later node's left side.
#[test]
fn a_dag_inside_one_stage_is_drawn_in_columns_by_depth() {
    use conveyor_core::graph::{layout, step_depths};
    let step = |name: &str, needs: Vec<usize>| GraphStep {
        name: name.into(),
        stage: 0,
        needs,
        status: None,
        problem: None,
        duration_ms: None,
    };
    let input = GraphInput {
        stages: vec![GraphStage {
            name: "my-workflow".into(),
            steps: vec![0, 1, 2, 3, 4],
            problem: None,
        }],
        steps: vec![
            step("step-1", vec![]),
            step("step-2", vec![0]),
            step("step-3", vec![0]),
            step("step-4", vec![1, 2]),
            step("step-5", vec![0, 3]),
        ],
    };
    assert_eq!(step_depths(&input), [0, 1, 1, 2, 3]);
    let placed = layout(&input);
    let (x, y): (Vec<i32>, Vec<i32>) = placed.steps.iter().map(|r| (r.x, r.y)).unzip();
    assert!(
        x[0] < x[1] && x[1] == x[2] && x[2] < x[3] && x[3] < x[4],
        "{x:?}"
    );
    assert!(y[1] < y[2], "the parallel pair stacks: {y:?}");
    assert_eq!(
        (y[0], y[3], y[4]),
        (y[1], y[1], y[1]),
        "one row for the rest"
    );
    let stage = placed.stages[0];
    for node in &placed.steps {
        assert!(node.x >= stage.x && node.x + node.width <= stage.x + stage.width);
        assert!(node.y >= stage.y && node.y + node.height <= stage.y + stage.height);
    }
    assert!(stage.x + stage.width <= placed.width && stage.y + stage.height <= placed.height);
    // step-1 → step-5 skips three columns: it runs along a lane under every node.
    assert_eq!(placed.lanes.len(), 1);
    let (from, to, lane) = placed.lanes[0];
    assert_eq!((from, to), (0, 4));
    let lowest = placed.steps.iter().map(|r| r.y + r.height).max().unwrap();
    assert!(
        lane > lowest && lane < stage.y + stage.height,
        "{lane} {lowest} {stage:?}"
    );

    let svg = svg_markup(&input, false, None);
    for (from, to) in [
        ("step-1", "step-2"),
        ("step-1", "step-3"),
        ("step-2", "step-4"),
        ("step-3", "step-4"),
        ("step-4", "step-5"),
        ("step-1", "step-5"),
    ] {
        let edge =
            format!(r#"<path class="edge step-edge" data-from="{from}" data-to="{to}" d="M"#);
        let at = svg
            .find(&edge)
            .unwrap_or_else(|| panic!("{from} → {to}: {svg}"));
        let d = &svg[at + edge.len() - 1..];
        let d = &d[..d.find('"').expect("end of d")];
        let numbers: Vec<i32> = d
            .split(|c: char| !(c.is_ascii_digit() || c == '-'))
            .filter(|n| !n.is_empty())
            .map(|n| n.parse().expect("number"))
            .collect();
        let (f, t) = (
            placed.steps[input.steps.iter().position(|s| s.name == from).unwrap()],
            placed.steps[input.steps.iter().position(|s| s.name == to).unwrap()],
        );
        assert_eq!(
            (numbers[0], numbers[1]),
            (f.x + f.width, f.y + f.height / 2),
            "starts at {from}'s right side: {d}"
        );
        assert_eq!(
            (numbers[numbers.len() - 2], numbers[numbers.len() - 1]),
            (t.x, t.y + t.height / 2),
            "ends at {to}'s left side: {d}"
        );
    }
}
