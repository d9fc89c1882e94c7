//! Graph edits made to the YAML text, and the editor's view of a text.

use serde_yaml::Value;

use super::{EditorState, GraphEdit, LocatedProblem, StepField};
use crate::definition::Problem;
use crate::document::document_from_value;
use crate::graph::GraphInput;
use crate::params::parse_param_lines;
use crate::yaml::{self, MAX_DOCUMENT_BYTES};
use crate::yaml_edit::{self, mapping, Edit, Seg};

/// Parses and checks a document, locating each problem in the text and the graph.
pub fn inspect(source: String, note: Option<String>) -> EditorState {
    // One read of the text serves both: lines are only meaningful for native documents
    // (imports are converted first). An oversized document is refused unread.
    let read = yaml::read(&source);
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
    let note = (!edited.lossless).then(|| {
        "this edit could not keep the document's layout; it was written anew (comments dropped)"
            .to_owned()
    });
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
            None | Some(Value::Null) => return Err("the document needs a `stages:` list".into()),
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
                let name = Self::fresh(&step_names, name, format!("step-{}", step_names.len() + 1));
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
                edits.extend(
                    self.step_references(|x| {
                        Some(if x == old { name.clone() } else { x.to_owned() })
                    }),
                );
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
            let params = parse_param_lines(&text)?;
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
                let (Some(url), Some(events), None) = (words.next(), words.next(), words.next())
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
