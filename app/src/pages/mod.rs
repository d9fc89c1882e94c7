//! One file per page; each renders on the server first (usable without WASM: forms post
//! to server functions) and hydrates in the browser.

pub mod account;
pub mod actions;
pub mod audit;
pub mod dashboard;
pub mod history;
pub mod login;
pub mod new_pipeline;
pub mod pipeline;
pub mod run;
pub mod search;
pub mod secrets;
pub mod versions;
pub mod workflow;
pub mod workflows;
