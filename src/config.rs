//! Command line and environment: every `serve` flag has an environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "conveyor", version, about = "Self-hosted CI/CD pipelines with live logs")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the web UI and the REST API.
    Serve(ServeConfig),
    /// Check a pipeline definition; exits 1 and lists the problems when it is not valid.
    Validate {
        /// A pipeline in YAML or JSON, a KubeCI Workflow or a taskflow Task.
        file: PathBuf,
    },
}

#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on (loopback by default; use 0.0.0.0:3000 to expose it).
    #[arg(long, env = "CONVEYOR_BIND", default_value = "127.0.0.1:3000")]
    pub bind: SocketAddr,
    /// Holds the SQLite file, run workspaces and step scripts.
    #[arg(long, env = "CONVEYOR_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Steps running at once across all runs [default: twice the CPU count].
    #[arg(long, env = "CONVEYOR_MAX_PARALLEL", value_parser = clap::value_parser!(u16).range(1..))]
    pub max_parallel: Option<u16>,
    /// Keep each run's workspace directory after the run ends.
    #[arg(long, env = "CONVEYOR_KEEP_WORKSPACES")]
    pub keep_workspaces: bool,
    /// Each webhook call's time limit.
    #[arg(long, env = "CONVEYOR_WEBHOOK_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub webhook_timeout: Duration,
    /// Waits before retrying a failed webhook call (network error, 5xx, 429), comma-separated;
    /// one retry per entry.
    #[arg(long, env = "CONVEYOR_WEBHOOK_RETRY_DELAYS", default_value = "1s,10s", value_delimiter = ',',
          value_parser = humantime::parse_duration)]
    pub webhook_retry_delays: Vec<Duration>,
    /// The built site (WASM, JS, CSS) that cargo-leptos writes.
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,
}

impl ServeConfig {
    /// Defaults for a data directory (used by tests and benchmarks).
    pub fn for_data_dir(data_dir: PathBuf) -> Self {
        ServeConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir,
            max_parallel: None,
            keep_workspaces: false,
            webhook_timeout: Duration::from_secs(10),
            webhook_retry_delays: vec![Duration::from_secs(1), Duration::from_secs(10)],
            site_root: PathBuf::from("target/site"),
        }
    }
}
