//! The pipeline editor's model: what the graph and the YAML text show, and the graph edits.
//!
//! The YAML text is the one source of truth. A graph edit goes to the server as a
//! [`GraphEdit`]; the server turns it into format-preserving text edits
//! ([`crate::yaml_edit`]) and answers with the new text and a fresh [`EditorState`], which
//! is also what a typed change gets back. Both run the server's own parsing and validation.

use serde::{Deserialize, Serialize};

use crate::definition::{Pipeline, Webhook};
use crate::graph::GraphInput;

mod edit;

pub use edit::{edit, inspect};

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
pub fn webhook_lines(webhooks: &[Webhook]) -> String {
    webhooks
        .iter()
        .map(|w| format!("{} {}\n", w.url, w.events.join(",")))
        .collect()
}
