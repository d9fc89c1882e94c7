//! The client's commands, each one or two calls of the REST API.

use std::path::PathBuf;

use clap::Subcommand;
use conveyor_core::run::RunStatus;
use reqwest::Method;
use serde_json::{json, Value};

use super::follow::follow;
use super::{save, Api, CliError, CliResult, ClientOpts, Output, Saved};

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Sign in to a Conveyor server for the commands below: its URL and an API token (made
    /// on your account page), kept in your config directory, readable by you only.
    Login {
        #[arg(long)]
        url: String,
        /// The token (or give --token-stdin, or CONVEYOR_TOKEN).
        #[arg(long, env = "CONVEYOR_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Read the token from standard input (kept out of shell history and `ps`).
        #[arg(long, conflicts_with = "token")]
        token_stdin: bool,
    },
    /// List the pipelines, with their latest run.
    Ls {
        #[command(flatten)]
        opts: ClientOpts,
    },
    /// Create a pipeline from a file, or save it as a new version if it exists.
    Apply {
        /// A pipeline in YAML or JSON (a KubeCI Workflow or a taskflow Task too).
        #[arg(short = 'f', long)]
        file: PathBuf,
        #[command(flatten)]
        opts: ClientOpts,
    },
    /// Start a run of a pipeline (with --follow: print its log to the end; the exit code is
    /// the run's result).
    Run {
        pipeline: String,
        /// The image tag.
        #[arg(long)]
        tag: String,
        /// A run-time param, `KEY=VALUE`; repeat for more.
        #[arg(long = "param", value_name = "KEY=VALUE", value_parser = key_value)]
        params: Vec<(String, String)>,
        /// Print the run's log until it ends; the exit code is its result.
        #[arg(short = 'f', long)]
        follow: bool,
        #[command(flatten)]
        opts: ClientOpts,
    },
    /// Print a run's log (with -f: follow it to the run's end).
    Logs {
        run: i64,
        #[arg(short = 'f', long)]
        follow: bool,
        /// Only this step's lines.
        #[arg(long)]
        step: Option<String>,
        #[command(flatten)]
        opts: ClientOpts,
    },
    /// Approve a step waiting for approval.
    Approve {
        run: i64,
        step: String,
        #[command(flatten)]
        opts: ClientOpts,
    },
    /// Refuse a step waiting for approval.
    Refuse {
        run: i64,
        step: String,
        #[command(flatten)]
        opts: ClientOpts,
    },
    /// Cancel a run.
    Cancel {
        run: i64,
        #[command(flatten)]
        opts: ClientOpts,
    },
    /// List a workflow's releases (its deploys), newest first; `*` marks what runs now.
    Releases {
        workflow: String,
        #[command(flatten)]
        opts: ClientOpts,
    },
    /// Deploy an earlier release of a workflow again, by digest, without building.
    Rollback {
        workflow: String,
        /// The release's id (see `conveyor releases`).
        release: i64,
        #[arg(short = 'f', long)]
        follow: bool,
        #[command(flatten)]
        opts: ClientOpts,
    },
    /// Re-run a run's failed steps (the steps that succeeded are taken over).
    Retry {
        run: i64,
        #[arg(short = 'f', long)]
        follow: bool,
        #[command(flatten)]
        opts: ClientOpts,
    },
}

fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("\"{text}\" is not KEY=VALUE")),
    }
}

/// Runs a client command; what to print on success (text or JSON) and the exit code.
pub async fn run_client(command: ClientCommand) -> CliResult<u8> {
    match command {
        ClientCommand::Login {
            url,
            token,
            token_stdin,
        } => login(url, token, token_stdin).await,
        ClientCommand::Ls { opts } => ls(&Api::from_opts(&opts)?).await,
        ClientCommand::Apply { file, opts } => apply(&Api::from_opts(&opts)?, &file).await,
        ClientCommand::Run {
            pipeline,
            tag,
            params,
            follow: and_follow,
            opts,
        } => {
            let api = Api::from_opts(&opts)?;
            let params: serde_json::Map<String, Value> = params
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect();
            let request = api
                .request(Method::POST, &format!("/pipelines/{pipeline}/runs"))
                .json(&json!({"tag": tag, "params": params}));
            let run = api.json(request).await?;
            started(&api, &run, and_follow).await
        }
        ClientCommand::Logs {
            run,
            follow: and_follow,
            step,
            opts,
        } => {
            let api = Api::from_opts(&opts)?;
            if and_follow {
                return Ok(outcome(follow(&api, run, step).await?));
            }
            let mut request = api.request(Method::GET, &format!("/runs/{run}/log"));
            if let Some(step) = &step {
                request = request.query(&[("step", step)]);
            }
            if api.output == Output::Json {
                // One JSON object per line: step, line number, stream, text.
                request = request.query(&[("format", "jsonl")]);
            }
            let text = api
                .send(request)
                .await?
                .text()
                .await
                .map_err(|err| CliError::new(format!("the log broke off: {err}")))?;
            print!("{text}");
            Ok(0)
        }
        ClientCommand::Approve { run, step, opts } => {
            decide(&Api::from_opts(&opts)?, run, &step, "approve").await
        }
        ClientCommand::Refuse { run, step, opts } => {
            decide(&Api::from_opts(&opts)?, run, &step, "refuse").await
        }
        ClientCommand::Cancel { run, opts } => {
            let api = Api::from_opts(&opts)?;
            api.send(api.request(Method::POST, &format!("/runs/{run}/cancel")))
                .await?;
            say(
                &api,
                &format!("cancelling run {run}"),
                json!({"run": run, "cancelling": true}),
            );
            Ok(0)
        }
        ClientCommand::Releases { workflow, opts } => {
            releases(&Api::from_opts(&opts)?, &workflow).await
        }
        ClientCommand::Rollback {
            workflow,
            release,
            follow: and_follow,
            opts,
        } => {
            let api = Api::from_opts(&opts)?;
            let path = format!("/workflows/{workflow}/releases/{release}/rollback");
            let run = api.json(api.request(Method::POST, &path)).await?;
            started(&api, &run, and_follow).await
        }
        ClientCommand::Retry {
            run,
            follow: and_follow,
            opts,
        } => {
            let api = Api::from_opts(&opts)?;
            let retried = api
                .json(api.request(Method::POST, &format!("/runs/{run}/retry")))
                .await?;
            started(&api, &retried, and_follow).await
        }
    }
}

/// Prints what was done: a sentence for people, the JSON for scripts.
fn say(api: &Api, text: &str, value: Value) {
    match api.output {
        Output::Text => println!("{text}"),
        Output::Json => println!("{value}"),
    }
}

/// The exit code of a followed run.
fn outcome(status: RunStatus) -> u8 {
    if status == RunStatus::Succeeded {
        0
    } else {
        1
    }
}

async fn started(api: &Api, run: &Value, and_follow: bool) -> CliResult<u8> {
    let id = run["id"]
        .as_i64()
        .ok_or_else(|| CliError::new("the server gave no run id"))?;
    let text = format!(
        "run {} #{} started (id {id}, tag {}): {}/runs/{id}",
        run["pipeline"].as_str().unwrap_or_default(),
        run["number"],
        run["tag"].as_str().unwrap_or_default(),
        api.base
    );
    if and_follow {
        if api.output == Output::Text {
            eprintln!("{text}");
        }
        return Ok(outcome(follow(api, id, None).await?));
    }
    say(api, &text, run.clone());
    Ok(0)
}

async fn login(url: String, token: Option<String>, from_stdin: bool) -> CliResult<u8> {
    let token = match (token, from_stdin) {
        (_, true) => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|err| CliError::new(format!("cannot read the token: {err}")))?;
            line.trim().to_owned()
        }
        (Some(token), false) => token,
        (None, false) => {
            return Err(CliError::new(
                "give the token: --token TOKEN or --token-stdin",
            ))
        }
    };
    if token.is_empty() {
        return Err(CliError::new("the token is empty"));
    }
    let api = Api::new(&url, &token, Output::Text)?;
    let who = api.json(api.request(Method::GET, "/session")).await?;
    let path = save(&Saved {
        url: api.base.clone(),
        token,
    })?;
    println!(
        "signed in to {} as {} ({}); kept in {}",
        api.base,
        who["name"].as_str().unwrap_or("?"),
        who["role"].as_str().unwrap_or("?"),
        path.display()
    );
    Ok(0)
}

async fn ls(api: &Api) -> CliResult<u8> {
    let pipelines = api.json(api.request(Method::GET, "/pipelines")).await?;
    if api.output == Output::Json {
        println!("{pipelines}");
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = pipelines
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|p| {
            let latest = &p["latest_run"];
            let run = if latest.is_object() {
                format!(
                    "#{} {} ({})",
                    latest["number"],
                    latest["status"].as_str().unwrap_or_default(),
                    latest["tag"].as_str().unwrap_or_default()
                )
            } else {
                "-".to_owned()
            };
            vec![
                p["name"].as_str().unwrap_or_default().to_owned(),
                p["version"].to_string(),
                run,
                p["description"].as_str().unwrap_or_default().to_owned(),
            ]
        })
        .collect();
    table(&["NAME", "VERSION", "LATEST RUN", "DESCRIPTION"], &rows);
    Ok(0)
}

/// Prints rows under a header, in columns as wide as their widest cell.
fn table(header: &[&str], rows: &[Vec<String>]) {
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .chain([&header])
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in [&header].into_iter().chain(rows) {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
}

async fn releases(api: &Api, workflow: &str) -> CliResult<u8> {
    let page = api
        .json(api.request(Method::GET, &format!("/workflows/{workflow}/releases")))
        .await?;
    if api.output == Output::Json {
        println!("{page}");
        return Ok(0);
    }
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let rows: Vec<Vec<String>> = page["releases"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|r| {
            let mark = if r["live"] == true { "*" } else { "" };
            let outcome = match r["reason"].as_str() {
                Some(reason) => format!("{}: {reason}", text(&r["outcome"])),
                None => text(&r["outcome"]),
            };
            vec![
                format!("{mark}{}", r["id"]),
                text(&r["tag"]),
                format!("#{}", r["run_number"]),
                text(&r["trigger"]),
                r["started_by"].as_str().unwrap_or("-").to_owned(),
                text(&r["image"]),
                outcome,
            ]
        })
        .collect();
    table(
        &["ID", "TAG", "RUN", "TRIGGER", "BY", "IMAGE", "OUTCOME"],
        &rows,
    );
    Ok(0)
}

async fn apply(api: &Api, file: &PathBuf) -> CliResult<u8> {
    let source = std::fs::read_to_string(file)
        .map_err(|err| CliError::new(format!("cannot read {}: {err}", file.display())))?;
    let kind = match file.extension().and_then(|e| e.to_str()) {
        Some("json") => "application/json",
        _ => "application/yaml",
    };
    let create = api
        .request(Method::POST, "/pipelines")
        .header(reqwest::header::CONTENT_TYPE, kind)
        .body(source.clone());
    let response = create.send().await.map_err(|err| {
        CliError::new(format!(
            "cannot reach {}: {}",
            api.base,
            super::reach_error(&err)
        ))
    })?;
    let (verb, body) = if response.status() == reqwest::StatusCode::CONFLICT {
        // It exists: save a new version under the name the document gives.
        let name = conveyor_core::document::parse_document(&source)
            .map(|pipeline| pipeline.name)
            .map_err(|_| {
                CliError::new("the pipeline exists, but its name cannot be read from the file")
            })?;
        let update = api
            .request(Method::PUT, &format!("/pipelines/{name}"))
            .header(reqwest::header::CONTENT_TYPE, kind)
            .body(source);
        ("saved", api.json(update).await?)
    } else if response.status().is_success() {
        let body = response
            .json()
            .await
            .map_err(|err| CliError::new(format!("the answer is not JSON: {err}")))?;
        ("created", body)
    } else {
        return Err(super::refusal(response).await);
    };
    let text = format!(
        "pipeline {} {verb} (version {})",
        body["name"].as_str().unwrap_or_default(),
        body["version"]
    );
    say(api, &text, body);
    Ok(0)
}

async fn decide(api: &Api, run: i64, step: &str, verb: &str) -> CliResult<u8> {
    api.send(api.request(Method::POST, &format!("/runs/{run}/steps/{step}/{verb}")))
        .await?;
    let done = if verb == "approve" {
        "approved"
    } else {
        "refused"
    };
    say(
        api,
        &format!("{done} step {step} of run {run}"),
        json!({"run": run, "step": step, "decision": done}),
    );
    Ok(0)
}
