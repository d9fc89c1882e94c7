//! Property tests of the readers and the editor: random and mutated documents (native YAML,
//! JSON, KubeCI `Workflow`, taskflow `Task`) and random graph and YAML edits never panic,
//! and always end in a document or in problems that each say where.
//!
//! `PROPTEST_CASES` sets the number of cases per property (256 by default); the README's
//! Benchmarks section gives the figures of a run with a million.

use conveyor_core::definition::Problem;
use conveyor_core::document::{check_document, parse_document};
use conveyor_core::editor::{edit, inspect, GraphEdit, StepField};
use conveyor_core::yaml_edit::{self, Edit, Seg};
use proptest::prelude::*;
use serde_yaml::Value;

const NATIVE: &str = "# a pipeline with most of what the format has
name: web
description: Build and test
tags: [frontend]
with: {REGISTRY: registry.example.com, RETRIES: 3}
actions:
  - {name: notify, version: \"1\", script: echo notify, defaults: {CHANNEL: builds}, required: [CHANNEL]}
stages:
  - name: build
    steps:
      - name: compile   # the slow one
        image: node:22
        script: |
          npm ci
          npm run build
        timeout: 10m
  - name: test
    needs: [build]
    steps:
      - {name: unit, parallel: true, script: npm test}
      - {name: lint, parallel: true, command: [npm, run, lint]}
      - name: e2e
        needs: [unit]
        env: {CI: \"true\"}
        script: npm run e2e
  - name: release
    steps:
      - name: ship
        approval: true
        approval_params: {approvers: ops}
        script: ./ship.sh
        webhooks: [{url: \"https://hooks.example.com/ci\", events: [SUCCEEDED, FAILED]}]
        node_selector: {disk: ssd}
      - {name: tell, action: notify@1}
";
const KUBECI: &str = include_str!("../../tests/fixtures/kubeci-workflow.yaml");
const TASKFLOW: &str = include_str!("../../tests/fixtures/taskflow-task.yaml");

/// The same pipeline as JSON (which the YAML reader reads too).
fn native_json() -> String {
    let value: Value = serde_yaml::from_str(NATIVE).expect("valid YAML");
    serde_json::to_string_pretty(&value).expect("JSON")
}

fn seeds() -> Vec<String> {
    vec![
        NATIVE.to_owned(),
        native_json(),
        KUBECI.to_owned(),
        TASKFLOW.to_owned(),
    ]
}

/// The top-level fields of the documents the readers take (an imported manifest's
/// problems after conversion name the pipeline's).
const TOP_LEVEL: &[&str] = &[
    "name",
    "description",
    "tags",
    "with",
    "actions",
    "engine",
    "stages",
    "kind",
    "apiVersion",
    "metadata",
    "spec",
    "status",
];

/// A problem says what and where: a message, and a path that is empty (the document as a
/// whole: a syntax error, a wrong shape) or starts at a field of the format or a key the
/// document has.
fn located(text: &str, problem: &Problem) -> Result<(), TestCaseError> {
    prop_assert!(
        !problem.message.is_empty(),
        "a problem without a message: {problem:?}"
    );
    let keys: Vec<String> = match serde_yaml::from_str::<Value>(text) {
        Ok(Value::Mapping(map)) => map
            .keys()
            .filter_map(|k| k.as_str())
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    let path = problem.path.as_str();
    let starts_at = |field: &str| {
        path.strip_prefix(field)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
    };
    prop_assert!(
        path.is_empty()
            || TOP_LEVEL.iter().any(|f| starts_at(f))
            || keys.iter().any(|k| starts_at(k)),
        "a problem at no place in the document: {problem:?}"
    );
    Ok(())
}

/// Reading, planning and the editor's view of a text end in a pipeline or in located
/// problems.
fn reads_or_locates(text: &str) -> Result<(), TestCaseError> {
    if let Err(problems) = parse_document(text) {
        prop_assert!(!problems.is_empty(), "refused without a problem");
        for problem in &problems {
            located(text, problem)?;
        }
    }
    if let Err(problems) = check_document(text) {
        prop_assert!(!problems.is_empty(), "refused without a problem");
        for problem in &problems {
            located(text, problem)?;
        }
    }
    let state = inspect(text.to_owned(), None);
    prop_assert!(
        state.pipeline.is_some() || !state.problems.is_empty(),
        "neither a pipeline nor a problem"
    );
    for problem in &state.problems {
        located(
            text,
            &Problem::new(problem.path.clone(), problem.message.clone()),
        )?;
    }
    Ok(())
}

/// A change to a text, as typing and pasting make them.
#[derive(Debug, Clone)]
enum Mutation {
    Delete { at: usize, len: usize },
    Insert { at: usize, text: String },
    DuplicateLine { line: usize },
    SwapLines { line: usize },
    Indent { line: usize, by: usize },
    Dedent { line: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let text = prop_oneof![
        "[:\\-\\[\\]{}#&*!|>'\"%@`, ]{1,3}",
        "[a-z0-9_]{1,8}",
        Just("\n  - ".to_owned()),
        Just(": ".to_owned()),
        Just("\t".to_owned()),
        ".{1,4}",
    ];
    prop_oneof![
        (any::<usize>(), 1..12usize).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), text).prop_map(|(at, text)| Mutation::Insert { at, text }),
        any::<usize>().prop_map(|line| Mutation::DuplicateLine { line }),
        any::<usize>().prop_map(|line| Mutation::SwapLines { line }),
        (any::<usize>(), 1..5usize).prop_map(|(line, by)| Mutation::Indent { line, by }),
        any::<usize>().prop_map(|line| Mutation::Dedent { line }),
    ]
}

/// The nearest char boundary at or before `at`.
fn boundary(text: &str, at: usize) -> usize {
    let mut at = at % (text.len() + 1);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn mutate(text: &str, mutation: &Mutation) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let line_at = |line: usize| line % lines.len().max(1);
    match mutation {
        Mutation::Delete { at, len } => {
            let from = boundary(text, *at);
            let to = boundary(text, from + len);
            return format!("{}{}", &text[..from], &text[to.max(from)..]);
        }
        Mutation::Insert { at, text: inserted } => {
            let at = boundary(text, *at);
            return format!("{}{inserted}{}", &text[..at], &text[at..]);
        }
        Mutation::DuplicateLine { line } if !lines.is_empty() => {
            let at = line_at(*line);
            lines.insert(at, lines[at].clone());
        }
        Mutation::SwapLines { line } if lines.len() > 1 => {
            let at = line_at(*line) % (lines.len() - 1);
            lines.swap(at, at + 1);
        }
        Mutation::Indent { line, by } if !lines.is_empty() => {
            let at = line_at(*line);
            lines[at] = format!("{}{}", " ".repeat(*by), lines[at]);
        }
        Mutation::Dedent { line } if !lines.is_empty() => {
            let at = line_at(*line);
            lines[at] = lines[at].trim_start().to_owned();
        }
        _ => {}
    }
    lines.join("\n") + "\n"
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,10}",
        ".{0,6}",
        Just(String::new()),
        Just("compile".to_owned())
    ]
}

fn step_field() -> impl Strategy<Value = StepField> {
    prop_oneof![
        Just(StepField::Image),
        Just(StepField::Script),
        Just(StepField::Timeout),
        Just(StepField::Parallel),
        Just(StepField::Approval),
        Just(StepField::With),
        Just(StepField::Env),
        Just(StepField::Webhooks),
    ]
}

fn needs() -> impl Strategy<Value = Option<Vec<String>>> {
    prop::option::of(prop::collection::vec(name(), 0..3))
}

fn graph_edit() -> impl Strategy<Value = GraphEdit> {
    prop_oneof![
        name().prop_map(|name| GraphEdit::AddStage { name }),
        (0..5usize).prop_map(|stage| GraphEdit::RemoveStage { stage }),
        (0..5usize, name()).prop_map(|(stage, name)| GraphEdit::RenameStage { stage, name }),
        (0..5usize, needs()).prop_map(|(stage, needs)| GraphEdit::StageNeeds { stage, needs }),
        (0..5usize, name()).prop_map(|(stage, name)| GraphEdit::AddStep { stage, name }),
        (0..5usize, 0..4usize).prop_map(|(stage, step)| GraphEdit::RemoveStep { stage, step }),
        (0..5usize, 0..4usize, name()).prop_map(|(stage, step, name)| GraphEdit::RenameStep {
            stage,
            step,
            name
        }),
        (0..5usize, 0..4usize, needs()).prop_map(|(stage, step, needs)| GraphEdit::StepNeeds {
            stage,
            step,
            needs
        }),
        (
            0..5usize,
            0..4usize,
            step_field(),
            ".{0,12}|true|false|A=1\nB=2|https://x.example/h failed"
        )
            .prop_map(|(stage, step, field, text)| GraphEdit::Field {
                stage,
                step,
                field,
                text
            }),
    ]
}

fn yaml_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        ".{0,10}".prop_map(Value::String),
        any::<i64>().prop_map(|n| Value::Number(n.into())),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Sequence),
            prop::collection::vec(("[a-z]{1,6}", inner), 0..3).prop_map(|entries| {
                Value::Mapping(
                    entries
                        .into_iter()
                        .map(|(k, v)| (Value::String(k), v))
                        .collect(),
                )
            }),
        ]
    })
}

fn seg_path() -> impl Strategy<Value = Vec<Seg>> {
    let seg = prop_oneof![
        prop_oneof![
            Just("stages"),
            Just("steps"),
            Just("with"),
            Just("needs"),
            Just("name"),
            Just("x")
        ]
        .prop_map(|k| Seg::Key(k.to_owned())),
        (0..4usize).prop_map(Seg::Index),
    ];
    prop::collection::vec(seg, 0..5)
}

fn yaml_edit_op() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (seg_path(), "[a-z_]{1,8}", prop::option::of(yaml_value()))
            .prop_map(|(map, key, value)| Edit::Set { map, key, value }),
        (seg_path(), yaml_value()).prop_map(|(seq, value)| Edit::Push { seq, value }),
        (seg_path(), 0..4usize).prop_map(|(seq, index)| Edit::Remove { seq, index }),
    ]
}

proptest! {
    #[test]
    fn any_text_reads_or_is_located(text in ".{0,400}") {
        reads_or_locates(&text)?;
    }

    #[test]
    fn mutated_documents_read_or_are_located(
        seed in 0..4usize,
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let mut text = seeds()[seed].clone();
        for mutation in &mutations {
            text = mutate(&text, mutation);
        }
        reads_or_locates(&text)?;
    }

    #[test]
    fn graph_edits_keep_a_document(edits in prop::collection::vec(graph_edit(), 1..6)) {
        let mut text = NATIVE.to_owned();
        for op in &edits {
            match edit(&text, op) {
                Ok(state) => {
                    prop_assert!(serde_yaml::from_str::<Value>(&state.source).is_ok(), "{op:?} broke the YAML:\n{}", state.source);
                    for problem in &state.problems {
                        located(&state.source, &Problem::new(problem.path.clone(), problem.message.clone()))?;
                    }
                    text = state.source;
                }
                Err(message) => prop_assert!(!message.is_empty()),
            }
        }
    }

    #[test]
    fn yaml_edits_keep_a_document(seed in 0..4usize, edits in prop::collection::vec(yaml_edit_op(), 1..4)) {
        let text = seeds()[seed].clone();
        match yaml_edit::apply(&text, &edits) {
            Ok(edited) => {
                prop_assert!(serde_yaml::from_str::<Value>(&edited.text).is_ok(), "{edits:?} broke the YAML:\n{}", edited.text);
                reads_or_locates(&edited.text)?;
            }
            Err(message) => prop_assert!(!message.is_empty()),
        }
    }
}

#[test]
fn the_seeds_read_as_pipelines() {
    for seed in seeds() {
        check_document(&seed).unwrap_or_else(|problems| panic!("{problems:?}\n{seed}"));
    }
}
