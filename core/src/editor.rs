//! The pipeline editor's model: what the graph and the YAML text show, and the graph edits.
//!
//! The YAML text is the one source of truth. A graph edit goes to the server as a
//! [`GraphEdit`]; the server turns it into format-preserving text edits
//! ([`crate::yaml_edit`]) and answers with the new text and a fresh [`EditorState`], which
//! is also what a typed change gets back. Both run the server's own parsing and validation.

use serde::{Deserialize, Serialize};

use crate::definition::Pipeline;
use crate::graph::GraphInput;

/// What the new-pipeline page starts from.
pub const NEW_PIPELINE_TEMPLATE: &str = "name: hello
description: A first pipeline
with:
  GREETING: hello
stages:
  - name: build
    steps:
      - name: compile
        script: |
          echo \"$GREETING from $CONVEYOR_TAG\"
          echo built > \"$CONVEYOR_WORKSPACE/artifact\"
  - name: test
    steps:
      - name: unit
        parallel: true
        script: cat \"$CONVEYOR_WORKSPACE/artifact\"
      - name: lint
        parallel: true
        script: echo lint ok
";

/// The pipeline page's data: the saved pipeline's heading (none on the new-pipeline page)
/// and the editor's view of its source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EditorPage {
    pub head: Option<PipelineHead>,
    pub state: EditorState,
}

/// What the pipeline page shows around its editor. Only what the page uses crosses to the
/// browser: every type decoded there costs WASM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineHead {
    pub name: String,
    pub version: i64,
    /// The engine its runs go to.
    pub engine: String,
    pub latest_run: Option<crate::model::RunLink>,
    /// A workflow's stage graph: a workflow's pipeline is edited through its deployment
    /// settings, so its page shows the graph instead of the editor.
    pub workflow_graph: Option<GraphInput>,
}

impl PipelineHead {
    pub fn of(detail: crate::model::PipelineDetail) -> Self {
        let workflow_graph = detail.workflow.then(|| GraphInput::from_plan(&detail.plan));
        Self {
            name: detail.name,
            version: detail.version,
            engine: detail.engine,
            latest_run: detail.latest_run.as_ref().map(crate::model::RunLink::from),
            workflow_graph,
        }
    }
}

/// The editor's view of a document: its text, its problems and its graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EditorState {
    pub source: String,
    pub problems: Vec<LocatedProblem>,
    /// The document's pipeline, when its shape is right (it may still have problems).
    pub pipeline: Option<Pipeline>,
    /// The stage graph, drawn even while the pipeline has problems.
    pub graph: Option<GraphInput>,
    /// Set when an edit could not keep the text's comments and layout.
    pub note: Option<String>,
}

/// A problem with the places it points at: its line in the text, its node in the graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocatedProblem {
    pub path: String,
    pub message: String,
    /// 1-based.
    pub line: Option<usize>,
}

impl LocatedProblem {
    pub fn describe(&self) -> String {
        let place = if self.path.is_empty() {
            String::new()
        } else {
            format!("{}: ", self.path)
        };
        match self.line {
            Some(line) if !self.message.starts_with("line ") => {
                format!("line {line}: {place}{}", self.message)
            }
            _ => format!("{place}{}", self.message),
        }
    }
}

/// What the graph can change. Stages and steps are addressed by position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum GraphEdit {
    AddStage {
        name: String,
    },
    RemoveStage {
        stage: usize,
    },
    RenameStage {
        stage: usize,
        name: String,
    },
    /// `None`: after the previous stage (the default).
    StageNeeds {
        stage: usize,
        needs: Option<Vec<String>>,
    },
    AddStep {
        stage: usize,
        name: String,
    },
    RemoveStep {
        stage: usize,
        step: usize,
    },
    RenameStep {
        stage: usize,
        step: usize,
        name: String,
    },
    /// `None`: by the step's place in its stage (the default).
    StepNeeds {
        stage: usize,
        step: usize,
        needs: Option<Vec<String>>,
    },
    /// A field from the side panel, as typed; empty removes it.
    Field {
        stage: usize,
        step: usize,
        field: StepField,
        text: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepField {
    Image,
    Script,
    Timeout,
    Parallel,
    Approval,
    /// `NAME=value` lines.
    With,
    /// `NAME=value` lines.
    Env,
    /// `URL EVENT,EVENT` lines.
    Webhooks,
}

impl StepField {
    pub fn key(self) -> &'static str {
        match self {
            StepField::Image => "image",
            StepField::Script => "script",
            StepField::Timeout => "timeout",
            StepField::Parallel => "parallel",
            StepField::Approval => "approval",
            StepField::With => "with",
            StepField::Env => "env",
            StepField::Webhooks => "webhooks",
        }
    }
}

/// Webhooks as the side panel shows them: one `URL EVENT,EVENT` per line.
pub fn webhook_lines(webhooks: &[crate::definition::Webhook]) -> String {
    webhooks
        .iter()
        .map(|w| format!("{} {}\n", w.url, w.events.join(",")))
        .collect()
}

#[cfg(feature = "ssr")]
pub use server::{edit, inspect};

#[cfg(feature = "ssr")]
mod server {
    use serde_yaml::Value;

    use super::{EditorState, GraphEdit, LocatedProblem, StepField};
    use crate::definition::{document_from_value, parse_yaml, Problem, MAX_DOCUMENT_BYTES};
    use crate::graph::GraphInput;
    use crate::yaml_edit::{self, mapping, Edit, Seg};

    /// Parses and checks a document, locating each problem in the text and the graph.
    pub fn inspect(source: String, note: Option<String>) -> EditorState {
        // One read of the text serves both: lines are only meaningful for native documents
        // (imports are converted first). An oversized document is refused unread.
        let read = parse_yaml(&source);
        let native = read.as_ref().is_ok_and(|v| v.get("apiVersion").is_none());
        let locate = |problems: Vec<Problem>| -> Vec<LocatedProblem> {
            problems
                .into_iter()
                .map(|p| {
                    let line = syntax_line(&p.message).or_else(|| {
                        native
                            .then(|| yaml_edit::line_of(&source, &yaml_edit::parse_path(&p.path)))
                            .flatten()
                    });
                    LocatedProblem {
                        path: p.path,
                        message: p.message,
                        line,
                    }
                })
                .collect()
        };
        match read.and_then(document_from_value) {
            Err(problems) => EditorState {
                problems: locate(problems),
                pipeline: None,
                graph: None,
                note,
                source,
            },
            Ok(pipeline) => {
                let problems = crate::plan::plan(&pipeline).err().unwrap_or_default();
                let graph = GraphInput::from_outline(&pipeline, &problems);
                EditorState {
                    problems: locate(problems),
                    pipeline: Some(pipeline),
                    graph: Some(graph),
                    note,
                    source,
                }
            }
        }
    }

    /// `line 3, column 7: …` from the YAML parser.
    fn syntax_line(message: &str) -> Option<usize> {
        let rest = message.strip_prefix("line ")?;
        rest[..rest.find(|c: char| !c.is_ascii_digit())?]
            .parse()
            .ok()
    }

    /// Applies a graph edit to the text, keeping everything it does not touch.
    pub fn edit(source: &str, edit: &GraphEdit) -> Result<EditorState, String> {
        if source.len() > MAX_DOCUMENT_BYTES {
            return Err(format!(
                "the document is {} bytes; the limit is {MAX_DOCUMENT_BYTES}",
                source.len()
            ));
        }
        let doc: Value =
            serde_yaml::from_str(source).map_err(|err| format!("fix the YAML first: {err}"))?;
        if doc.get("apiVersion").is_some() {
            return Err("the graph edits native pipelines; this is an imported manifest (save it once to convert it)".into());
        }
        let outline = Outline::of(&doc)?;
        let edits = outline.edits(edit)?;
        let edited = yaml_edit::apply(source, &edits)?;
        let note = (!edited.lossless)
            .then(|| "this edit could not keep the document's layout; it was written anew (comments dropped)".to_owned());
        Ok(inspect(edited.text, note))
    }

    /// Names of stages and steps, and each one's `needs` as written.
    struct Outline {
        stages: Vec<StageNames>,
    }

    struct StageNames {
        name: String,
        needs: Option<Vec<String>>,
        steps: Vec<(String, Option<Vec<String>>)>,
    }

    fn names(value: Option<&Value>) -> Option<Vec<String>> {
        value?.as_sequence().map(|items| {
            items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect()
        })
    }

    fn name_of(value: &Value) -> String {
        value
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    }

    fn stage_path(stage: usize) -> Vec<Seg> {
        vec![Seg::Key("stages".into()), Seg::Index(stage)]
    }

    fn steps_path(stage: usize) -> Vec<Seg> {
        let mut path = stage_path(stage);
        path.push(Seg::Key("steps".into()));
        path
    }

    fn step_path(stage: usize, step: usize) -> Vec<Seg> {
        let mut path = steps_path(stage);
        path.push(Seg::Index(step));
        path
    }

    fn list(names: Vec<String>) -> Value {
        Value::Sequence(names.into_iter().map(Value::String).collect())
    }

    fn set(map: Vec<Seg>, key: &str, value: Option<Value>) -> Edit {
        Edit::Set {
            map,
            key: key.to_owned(),
            value,
        }
    }

    impl Outline {
        fn of(doc: &Value) -> Result<Outline, String> {
            let stages = match doc.get("stages") {
                Some(Value::Sequence(stages)) => stages,
                None | Some(Value::Null) => {
                    return Err("the document needs a `stages:` list".into())
                }
                Some(_) => return Err("`stages` must be a list".into()),
            };
            let stages = stages
                .iter()
                .map(|stage| StageNames {
                    name: name_of(stage),
                    needs: names(stage.get("needs")),
                    steps: stage
                        .get("steps")
                        .and_then(Value::as_sequence)
                        .map(|steps| {
                            steps
                                .iter()
                                .map(|s| (name_of(s), names(s.get("needs"))))
                                .collect()
                        })
                        .unwrap_or_default(),
                })
                .collect();
            Ok(Outline { stages })
        }

        fn stage(&self, stage: usize) -> Result<&StageNames, String> {
            self.stages
                .get(stage)
                .ok_or_else(|| format!("there is no stage {stage}"))
        }

        fn step(&self, stage: usize, step: usize) -> Result<&str, String> {
            let names = self.stage(stage)?;
            names
                .steps
                .get(step)
                .map(|(n, _)| n.as_str())
                .ok_or_else(|| format!("stage \"{}\" has no step {step}", names.name))
        }

        /// A name not taken yet: the one asked for, or it with `-2`, `-3`, …
        fn fresh(taken: &[&str], wanted: &str, fallback: String) -> String {
            let wanted = wanted.trim();
            let base = if wanted.is_empty() {
                fallback
            } else {
                wanted.to_owned()
            };
            let mut name = base.clone();
            let mut n = 2;
            while taken.contains(&name.as_str()) {
                name = format!("{base}-{n}");
                n += 1;
            }
            name
        }

        fn all_steps(&self) -> impl Iterator<Item = (usize, usize, &str, Option<&Vec<String>>)> {
            self.stages.iter().enumerate().flat_map(|(si, stage)| {
                stage
                    .steps
                    .iter()
                    .enumerate()
                    .map(move |(ti, (name, needs))| (si, ti, name.as_str(), needs.as_ref()))
            })
        }

        /// Every step `needs` list that `rename` changes (`None` drops a name), rewritten.
        fn step_references(&self, rename: impl Fn(&str) -> Option<String>) -> Vec<Edit> {
            self.all_steps()
                .filter_map(|(si, ti, _, needs)| renamed(step_path(si, ti), needs?, &rename))
                .collect()
        }

        /// The same for the stages' `needs`.
        fn stage_references(&self, rename: impl Fn(&str) -> Option<String>) -> Vec<Edit> {
            self.stages
                .iter()
                .enumerate()
                .filter_map(|(si, stage)| renamed(stage_path(si), stage.needs.as_ref()?, &rename))
                .collect()
        }

        fn edits(&self, edit: &GraphEdit) -> Result<Vec<Edit>, String> {
            let stage_names: Vec<&str> = self.stages.iter().map(|s| s.name.as_str()).collect();
            let step_names: Vec<&str> = self.all_steps().map(|(_, _, name, _)| name).collect();
            Ok(match edit {
                GraphEdit::AddStage { name } => {
                    let name = Self::fresh(
                        &stage_names,
                        name,
                        format!("stage-{}", self.stages.len() + 1),
                    );
                    let stage = mapping([
                        ("name", Value::String(name)),
                        ("steps", Value::Sequence(Vec::new())),
                    ]);
                    vec![Edit::Push {
                        seq: vec![Seg::Key("stages".into())],
                        value: stage,
                    }]
                }
                GraphEdit::RemoveStage { stage } => {
                    let removed = self.stage(*stage)?;
                    // References first: removing the stage shifts the positions after it.
                    let mut edits =
                        self.stage_references(|x| (x != removed.name).then(|| x.to_owned()));
                    let gone: Vec<&str> = removed
                        .steps
                        .iter()
                        .map(|(name, _)| name.as_str())
                        .collect();
                    edits.extend(
                        self.step_references(|x| (!gone.contains(&x)).then(|| x.to_owned()))
                            .into_iter()
                            .filter(|e| !in_stage(e, *stage)),
                    );
                    edits.push(Edit::Remove {
                        seq: vec![Seg::Key("stages".into())],
                        index: *stage,
                    });
                    edits
                }
                GraphEdit::RenameStage { stage, name } => {
                    let old = &self.stage(*stage)?.name;
                    let name = checked_name(name)?;
                    let mut edits = vec![set(
                        stage_path(*stage),
                        "name",
                        Some(Value::String(name.clone())),
                    )];
                    edits.extend(self.stage_references(|x| {
                        Some(if x == old { name.clone() } else { x.to_owned() })
                    }));
                    edits
                }
                GraphEdit::StageNeeds { stage, needs } => {
                    self.stage(*stage)?;
                    vec![set(stage_path(*stage), "needs", needs.clone().map(list))]
                }
                GraphEdit::AddStep { stage, name } => {
                    self.stage(*stage)?;
                    let name =
                        Self::fresh(&step_names, name, format!("step-{}", step_names.len() + 1));
                    let step = mapping([
                        ("name", Value::String(name.clone())),
                        ("script", Value::String(format!("echo \"{name}\""))),
                    ]);
                    vec![Edit::Push {
                        seq: steps_path(*stage),
                        value: step,
                    }]
                }
                GraphEdit::RemoveStep { stage, step } => {
                    let old = self.step(*stage, *step)?;
                    let mut edits = self.step_references(|x| (x != old).then(|| x.to_owned()));
                    edits.push(Edit::Remove {
                        seq: steps_path(*stage),
                        index: *step,
                    });
                    edits
                }
                GraphEdit::RenameStep { stage, step, name } => {
                    let old = self.step(*stage, *step)?;
                    let name = checked_name(name)?;
                    let mut edits = vec![set(
                        step_path(*stage, *step),
                        "name",
                        Some(Value::String(name.clone())),
                    )];
                    edits.extend(self.step_references(|x| {
                        Some(if x == old { name.clone() } else { x.to_owned() })
                    }));
                    edits
                }
                GraphEdit::StepNeeds { stage, step, needs } => {
                    self.step(*stage, *step)?;
                    vec![set(
                        step_path(*stage, *step),
                        "needs",
                        needs.clone().map(list),
                    )]
                }
                GraphEdit::Field {
                    stage,
                    step,
                    field,
                    text,
                } => {
                    self.step(*stage, *step)?;
                    vec![set(
                        step_path(*stage, *step),
                        field.key(),
                        field_value(*field, text)?,
                    )]
                }
            })
        }
    }

    /// The edit that writes the `needs` at `map` through `rename`, if that changes it.
    fn renamed(
        map: Vec<Seg>,
        needs: &[String],
        rename: impl Fn(&str) -> Option<String>,
    ) -> Option<Edit> {
        let changed: Vec<String> = needs.iter().filter_map(|x| rename(x)).collect();
        (changed != needs).then(|| set(map, "needs", Some(list(changed))))
    }

    /// Whether an edit is inside stage `stage` (its steps go with it, so do their edits).
    fn in_stage(edit: &Edit, stage: usize) -> bool {
        matches!(edit, Edit::Set { map, .. } if map.get(1) == Some(&Seg::Index(stage)))
    }

    fn checked_name(name: &str) -> Result<String, String> {
        let name = name.trim();
        if name.is_empty() {
            return Err("a name must not be empty".into());
        }
        Ok(name.to_owned())
    }

    /// A side-panel field as YAML; `None` removes the key.
    fn field_value(field: StepField, text: &str) -> Result<Option<Value>, String> {
        let text = text.replace("\r\n", "\n");
        if text.trim().is_empty() {
            return Ok(None);
        }
        Ok(Some(match field {
            StepField::Image | StepField::Timeout => Value::String(text.trim().to_owned()),
            StepField::Script => {
                let script = text.trim_end();
                Value::String(if script.contains('\n') {
                    format!("{script}\n")
                } else {
                    script.to_owned()
                })
            }
            StepField::Parallel | StepField::Approval => match text.trim() {
                "true" => Value::Bool(true),
                "false" => return Ok(None),
                other => return Err(format!("{} is true or false, not \"{other}\"", field.key())),
            },
            StepField::With | StepField::Env => {
                let params = crate::model::parse_param_lines(&text)?;
                let mut map = serde_yaml::Mapping::new();
                for (name, value) in params {
                    map.insert(Value::String(name), Value::String(value));
                }
                Value::Mapping(map)
            }
            StepField::Webhooks => {
                let mut hooks = Vec::new();
                for (number, line) in text
                    .lines()
                    .enumerate()
                    .filter(|(_, l)| !l.trim().is_empty())
                {
                    let mut words = line.split_whitespace();
                    let (Some(url), Some(events), None) =
                        (words.next(), words.next(), words.next())
                    else {
                        return Err(format!(
                            "webhooks line {}: write `URL EVENT,EVENT`",
                            number + 1
                        ));
                    };
                    let events = list(
                        events
                            .split(',')
                            .filter(|e| !e.is_empty())
                            .map(str::to_uppercase)
                            .collect(),
                    );
                    hooks.push(mapping([
                        ("url", Value::String(url.to_owned())),
                        ("events", events),
                    ]));
                }
                Value::Sequence(hooks)
            }
        }))
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::editor::GraphEdit::*;

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

        fn run(edit: GraphEdit) -> EditorState {
            super::edit(DOC, &edit).unwrap()
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
                let state = super::edit(&text, &op).unwrap();
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
            assert!(text.ends_with("  - name: deploy\n    steps:\n      - name: ship\n        script: echo \"ship\"\n"), "{text}");
        }

        #[test]
        fn renames_follow_references() {
            let state = run(RenameStep {
                stage: 0,
                step: 1,
                name: "bundle".into(),
            });
            assert!(
                state.source.contains("- name: bundle\n")
                    && state.source.contains("needs: [bundle]\n"),
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
                field: super::StepField::Timeout,
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
                field: super::StepField::Approval,
                text: "true".into(),
            });
            assert!(state.source.contains("        approval: true\n"));
            let state = run(Field {
                stage: 1,
                step: 0,
                field: super::StepField::Webhooks,
                text: "https://hooks.example/x failed,succeeded\n".into(),
            });
            let hooks = &state.pipeline.unwrap().stages[1].steps[0].webhooks;
            assert_eq!(hooks[0].events, ["FAILED", "SUCCEEDED"]);
            let err = super::edit(
                DOC,
                &Field {
                    stage: 1,
                    step: 0,
                    field: super::StepField::Env,
                    text: "oops".into(),
                },
            )
            .unwrap_err();
            assert!(err.contains("\"oops\" is not NAME=value"), "{err}");
            let state = run(Field {
                stage: 0,
                step: 0,
                field: super::StepField::Script,
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
                super::edit(DOC, &RemoveStep { stage: 4, step: 0 }).unwrap_err(),
                "there is no stage 4"
            );
            assert!(super::edit("name: [", &AddStage { name: "x".into() })
                .unwrap_err()
                .starts_with("fix the YAML first"));
            assert_eq!(
                super::edit(
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
            let huge = format!(
                "{DOC}# {}\n",
                "x".repeat(crate::definition::MAX_DOCUMENT_BYTES)
            );
            assert!(super::edit(&huge, &AddStage { name: "x".into() })
                .unwrap_err()
                .contains("the limit is"));
            let state = inspect(huge, None);
            assert!(
                state.problems[0].message.contains("the limit is")
                    && state.problems[0].line.is_none()
            );
        }
    }
}
