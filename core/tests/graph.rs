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
