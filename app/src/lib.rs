//! Conveyor's shared half: the pipeline format, validation and planning (pure, compiled
//! for server and browser), the run model, server functions and the Leptos pages.
#![recursion_limit = "256"]

pub mod ansi;
pub mod codec;
pub mod definition;
pub mod import;
pub mod model;
pub mod plan;
pub mod workflow;
pub mod workflow_form;
#[cfg(feature = "ssr")]
pub mod yaml_edit;
pub mod server;
pub mod editor;
pub mod graph;
mod editor_view;
mod live;
mod workflow_view;
mod pages;

pub use pages::{shell, App};
