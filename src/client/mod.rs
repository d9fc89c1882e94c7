//! `conveyor` as a client of a server's REST API (what the UI uses): sign in once with
//! `conveyor login` (the URL and an API token, kept in the user's config directory, 0600),
//! then list, apply, run, follow, decide, cancel and retry. Errors are printed as the API
//! words them. Exit codes: 0 done (a followed run succeeded), 1 a followed run did not
//! succeed, 2 an error (usage, network, refused).

mod commands;
mod follow;

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

pub use commands::{run_client, ClientCommand};

/// Where and as whom, for every client command (each overrides what `conveyor login` kept).
#[derive(Debug, Clone, Args)]
pub struct ClientOpts {
    /// The server's URL [default: the one `conveyor login` kept].
    #[arg(long, env = "CONVEYOR_URL")]
    pub url: Option<String>,
    /// An API token [default: the one `conveyor login` kept].
    #[arg(long, env = "CONVEYOR_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// `text` for people, `json` for scripts (the API's own JSON; events one per line).
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

/// A client command's failure: what to print, and the exit code.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub code: u8,
}

impl CliError {
    pub fn new(message: impl Into<String>) -> CliError {
        CliError {
            message: message.into(),
            code: 2,
        }
    }
}

pub type CliResult<T> = Result<T, CliError>;

/// What `conveyor login` keeps.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Saved {
    url: String,
    token: String,
}

/// `$XDG_CONFIG_HOME/conveyor/config.json`, else `~/.config/conveyor/config.json`.
fn config_path() -> CliResult<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
            Some(home) => PathBuf::from(home).join(".config"),
            None => {
                return Err(CliError::new(
                    "no HOME or XDG_CONFIG_HOME to keep the login in",
                ))
            }
        },
    };
    Ok(base.join("conveyor").join("config.json"))
}

fn load_saved() -> CliResult<Option<Saved>> {
    let path = config_path()?;
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).map(Some).map_err(|err| {
            CliError::new(format!(
                "{} is not a login conveyor wrote: {err}",
                path.display()
            ))
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(CliError::new(format!(
            "cannot read {}: {err}",
            path.display()
        ))),
    }
}

/// Keeps the login, readable by its owner only (the directory too).
fn save(saved: &Saved) -> CliResult<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    let path = config_path()?;
    let fail =
        |err: std::io::Error| CliError::new(format!("cannot write {}: {err}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(fail)?;
    }
    let text = serde_json::to_string_pretty(saved).map_err(|err| CliError::new(err.to_string()))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .map_err(fail)?;
    // An older file keeps its mode when opened: make it private too.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(fail)?;
    file.write_all(text.as_bytes()).map_err(fail)?;
    Ok(path)
}

/// A server to talk to, as whom.
pub(crate) struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
    pub output: Output,
}

impl Api {
    /// From the options, else the kept login.
    fn from_opts(opts: &ClientOpts) -> CliResult<Api> {
        let saved = if opts.url.is_none() || opts.token.is_none() {
            load_saved()?
        } else {
            None
        };
        let url = opts
            .url
            .clone()
            .or_else(|| saved.as_ref().map(|s| s.url.clone()));
        let token = opts.token.clone().or_else(|| saved.map(|s| s.token));
        let (Some(url), Some(token)) = (url, token) else {
            return Err(CliError::new(
                "not signed in: run `conveyor login --url URL --token TOKEN` (or give --url and --token)",
            ));
        };
        Api::new(&url, &token, opts.output)
    }

    fn new(url: &str, token: &str, output: Output) -> CliResult<Api> {
        let parsed = url::Url::parse(url)
            .map_err(|err| CliError::new(format!("\"{url}\" is not a URL: {err}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(CliError::new(format!("\"{url}\" is not an http(s) URL")));
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("conveyor-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| CliError::new(err.to_string()))?;
        Ok(Api {
            http,
            base: url.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            output,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(&self.token)
    }

    /// Sends a request; a refusal becomes the API's own words.
    async fn send(&self, request: reqwest::RequestBuilder) -> CliResult<reqwest::Response> {
        let response = request.send().await.map_err(|err| {
            CliError::new(format!("cannot reach {}: {}", self.base, reach_error(&err)))
        })?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(refusal(response).await)
    }

    /// Sends a request and reads its JSON answer.
    async fn json(&self, request: reqwest::RequestBuilder) -> CliResult<serde_json::Value> {
        let response = self.send(request).await?;
        if response.status() == reqwest::StatusCode::NO_CONTENT {
            return Ok(serde_json::Value::Null);
        }
        let text = response
            .text()
            .await
            .map_err(|err| CliError::new(format!("the answer broke off: {err}")))?;
        if text.trim().is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_str(&text)
            .map_err(|err| CliError::new(format!("the answer is not JSON: {err}")))
    }
}

/// A refused request, in the API's own words.
async fn refusal(response: reqwest::Response) -> CliError {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let message = match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(body) if body["message"].is_string() => {
            let mut message = body["message"].as_str().unwrap_or_default().to_owned();
            if let Some(path) = body["path"].as_str().filter(|p| !message.contains(*p)) {
                message = format!("{path}: {message}");
            }
            message
        }
        _ => format!("the server answered {status}"),
    };
    CliError::new(message)
}

/// Why a request got no answer, without the URL (it is printed beside).
fn reach_error(err: &reqwest::Error) -> String {
    use std::error::Error;
    let mut cause: Option<&dyn Error> = err.source();
    let mut text = String::new();
    while let Some(inner) = cause {
        text = inner.to_string();
        cause = inner.source();
    }
    if text.is_empty() {
        err.to_string()
    } else {
        text
    }
}
