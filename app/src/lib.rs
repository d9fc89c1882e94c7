//! Conveyor's shared half: the pipeline format, validation and planning (pure, compiled
//! for server and browser), the run model, server functions and the Leptos pages.
#![recursion_limit = "256"]

pub mod ansi;
pub mod definition;
pub mod import;
pub mod model;
pub mod plan;
pub mod workflow;
#[cfg(feature = "ssr")]
pub mod yaml_edit;
pub mod server;
pub mod editor;
pub mod graph;
mod editor_view;
mod live;
mod pages;

pub use pages::{shell, App};
