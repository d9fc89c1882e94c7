//! Conveyor's web UI (Leptos): the routes, one file per page, the pieces pages share, the
//! server functions and page data, and the live followers. The domain is
//! `conveyor_core`'s; compiled for the server (`ssr`) and the browser (`hydrate`).
#![recursion_limit = "256"]

pub mod api;
pub mod live;
mod pages;
mod routes;
mod ui;
pub mod viewer;

pub use routes::{shell, App};
