//! Conveyor's pure domain, shared by the server and the browser: the pipeline format and
//! the manifests it imports, validation and planning, a started run's resolved steps, the
//! one scheduling policy of every engine, run statuses and events with their one fold,
//! workflows, the editor's model and its format-preserving YAML edits, the stage graph and
//! what the API and pages exchange. No I/O: nothing here knows of Leptos, tokio, SQLite,
//! axum or Kubernetes.

pub mod access;
pub mod action;
pub mod ansi;
pub mod approval;
pub mod audit;
pub mod catalog;
pub mod check;
pub mod checkout;
pub mod definition;
pub mod diff;
pub mod document;
pub mod dto;
pub mod editor;
pub mod format;
pub mod graph;
pub mod imports;
pub mod naming;
pub mod params;
pub mod plan;
pub mod resolve;
pub mod run;
pub mod scalar_map;
pub mod schedule;
pub mod search;
pub mod secrets;
pub mod sso;
pub mod stats;
pub mod triggers;
pub mod workflow;
pub mod yaml;
pub mod yaml_edit;
