//! Conveyor's integration tests, in one binary so the support code is compiled once: a real
//! server on 127.0.0.1:0 with a fresh SQLite file per test, real processes and real HTTP;
//! the Kubernetes API double (`support::fake_kube`) stands in for a cluster.

mod support;

mod access;
mod actions;
mod api;
mod approvals;
mod audit;
mod cli;
mod containers;
mod deploy_manifests;
mod engine;
mod forge;
mod health;
mod layout;
mod logs;
mod pages;
mod queue;
mod releases;
mod retention;
mod schedules;
mod search;
mod secrets;
mod sso;
mod stats;
mod tekton_compile;
mod tekton_engine;
mod watches;
mod webhooks;
mod workflow_objects;
mod workflows;
