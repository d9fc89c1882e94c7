//! Conveyor's shared half: the pipeline format, validation and planning (pure, compiled
//! for server and browser), the run model, server functions and the Leptos pages.
#![recursion_limit = "256"]

pub mod ansi;
pub mod codec;
pub mod definition;
pub mod editor;
mod editor_view;
pub mod graph;
pub mod import;
mod live;
pub mod model;
mod pages;
pub mod plan;
pub mod server;
pub mod workflow;
pub mod workflow_form;
mod workflow_view;
#[cfg(feature = "ssr")]
pub mod yaml_edit;

pub use pages::{shell, App};
