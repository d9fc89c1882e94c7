//! The editor's graph edits, made to the YAML text, and its view of a text.

use conveyor_core::editor::GraphEdit::*;
use conveyor_core::editor::{edit, inspect, EditorState, GraphEdit, StepField};
use conveyor_core::yaml::MAX_DOCUMENT_BYTES;

const DOC: &str = "name: demo
# stages run left to right
stages:
  - name: build
    steps:
      - name: compile   # the slow one
        script: make
      - name: package
        needs: [compile]
        script: tar c .
  - name: test
    needs: [build]
    steps:
      - name: unit
        needs: [package]
        script: cargo test
";

fn run(op: GraphEdit) -> EditorState {
    edit(DOC, &op).unwrap()
}

#[test]
fn three_stages_from_graph_edits_validate_and_keep_comments() {
    let mut text = DOC.to_owned();
    for op in [
        AddStage {
            name: "deploy".into(),
        },
        AddStep {
            stage: 2,
            name: "ship".into(),
        },
    ] {
        let state = edit(&text, &op).unwrap();
        assert_eq!(state.note, None);
        text = state.source;
    }
    let state = inspect(text.clone(), None);
    assert!(state.problems.is_empty(), "{:?}", state.problems);
    let graph = state.graph.unwrap();
    assert_eq!(
        graph
            .stages
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["build", "test", "deploy"]
    );
    assert!(text.contains("# stages run left to right") && text.contains("# the slow one"));
    assert!(
        text.ends_with(
            "  - name: deploy\n    steps:\n      - name: ship\n        script: echo \"ship\"\n"
        ),
        "{text}"
    );
}

#[test]
fn renames_follow_references() {
    let state = run(RenameStep {
        stage: 0,
        step: 1,
        name: "bundle".into(),
    });
    assert!(
        state.source.contains("- name: bundle\n") && state.source.contains("needs: [bundle]\n"),
        "{}",
        state.source
    );
    assert!(state.problems.is_empty());
    let state = run(RenameStage {
        stage: 0,
        name: "compile-all".into(),
    });
    assert!(
        state.source.contains("    needs: [compile-all]\n"),
        "{}",
        state.source
    );
}

#[test]
fn removing_a_step_drops_it_from_needs() {
    let state = run(RemoveStep { stage: 0, step: 1 });
    assert!(!state.source.contains("package"), "{}", state.source);
    assert!(
        state
            .source
            .contains("        needs: []\n        script: cargo test"),
        "{}",
        state.source
    );
    assert!(state.problems.is_empty(), "{:?}", state.problems);
    let state = run(RemoveStage { stage: 0 });
    assert!(
        state
            .source
            .contains("    needs: []\n    steps:\n      - name: unit\n        needs: []\n"),
        "{}",
        state.source
    );
    assert!(state.problems.is_empty(), "{:?}", state.problems);
}

#[test]
fn side_panel_fields() {
    let state = run(Field {
        stage: 1,
        step: 0,
        field: StepField::Timeout,
        text: "5m".into(),
    });
    assert!(
        state
            .source
            .contains("        script: cargo test\n        timeout: 5m\n"),
        "{}",
        state.source
    );
    let state = run(Field {
        stage: 1,
        step: 0,
        field: StepField::Approval,
        text: "true".into(),
    });
    assert!(state.source.contains("        approval: true\n"));
    let state = run(Field {
        stage: 1,
        step: 0,
        field: StepField::Webhooks,
        text: "https://hooks.example/x failed,succeeded\n".into(),
    });
    let hooks = &state.pipeline.unwrap().stages[1].steps[0].webhooks;
    assert_eq!(hooks[0].events, ["FAILED", "SUCCEEDED"]);
    let err = edit(
        DOC,
        &Field {
            stage: 1,
            step: 0,
            field: StepField::Env,
            text: "oops".into(),
        },
    )
    .unwrap_err();
    assert!(err.contains("\"oops\" is not NAME=value"), "{err}");
    let state = run(Field {
        stage: 0,
        step: 0,
        field: StepField::Script,
        text: "make\nmake check".into(),
    });
    assert!(state.source.contains("      - name: compile   # the slow one\n        script: |\n          make\n          make check\n      - name: package"), "{}", state.source);
}

#[test]
fn problems_point_at_lines_and_nodes() {
    let bad = DOC.replace("needs: [package]", "needs: [pakage]");
    let state = inspect(bad, None);
    assert_eq!(state.problems.len(), 1);
    let problem = &state.problems[0];
    assert_eq!(
        (problem.path.as_str(), problem.line),
        ("stages[1].steps[0].needs", Some(15))
    );
    assert!(
        problem.message.contains("did you mean \"package\""),
        "{}",
        problem.message
    );
    let graph = state.graph.unwrap();
    assert!(graph.steps[2]
        .problem
        .as_deref()
        .is_some_and(|p| p.contains("unknown step")));
    assert_eq!(graph.steps[0].problem, None);

    let state = inspect("name: x\nstages:\n  - name: [\n".into(), None);
    assert!(
        state.graph.is_none() && state.problems[0].line.is_some(),
        "{:?}",
        state.problems
    );
}

#[test]
fn bad_edits_are_refused_with_a_reason() {
    assert_eq!(
        edit(DOC, &RemoveStep { stage: 4, step: 0 }).unwrap_err(),
        "there is no stage 4"
    );
    assert!(edit("name: [", &AddStage { name: "x".into() })
        .unwrap_err()
        .starts_with("fix the YAML first"));
    assert_eq!(
        edit(
            DOC,
            &RenameStep {
                stage: 0,
                step: 0,
                name: " ".into()
            }
        )
        .unwrap_err(),
        "a name must not be empty"
    );
    let state = run(AddStep {
        stage: 0,
        name: "compile".into(),
    });
    assert!(
        state.source.contains("- name: compile-2\n"),
        "{}",
        state.source
    );
    let huge = format!("{DOC}# {}\n", "x".repeat(MAX_DOCUMENT_BYTES));
    assert!(edit(&huge, &AddStage { name: "x".into() })
        .unwrap_err()
        .contains("the limit is"));
    let state = inspect(huge, None);
    assert!(state.problems[0].message.contains("the limit is") && state.problems[0].line.is_none());
}
