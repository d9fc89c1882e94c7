//! Pieces the pages share: forms, the log viewer, the stage graph, charts, times, statuses
//! and the definition editor.

pub mod charts;
pub mod editor;
pub mod form;
pub mod graph;
mod inspector;
pub mod log_viewer;
pub mod status;
pub mod time;
