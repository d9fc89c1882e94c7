//! Pieces the pages share: forms, the log viewer, the stage graph, charts, times, statuses
//! and the definition editor.

pub mod charts;
pub mod danger;
pub mod editor;
pub mod filters;
pub mod form;
pub mod graph;
pub mod hits;
mod inspector;
pub mod log_viewer;
pub mod panel;
pub mod status;
pub mod time;
