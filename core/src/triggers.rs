//! What starts a pipeline besides a click: its `repository` (where its code is, and the
//! secrets to clone it, verify its forge's deliveries and report back) and its `on` filters
//! (pushes of branches and tags, pull requests). Glob patterns are checked and matched by
//! the server; here are the shapes and the repository's identity.

use serde::{Deserialize, Serialize};

/// Where a pipeline's code lives.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Repository {
    /// Its clone URL (`https://…`, `http://…`, `ssh://…` or `git@host:owner/name.git`).
    pub url: String,
    /// The branch a manual run checks out [default: main].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_branch: Option<String>,
    /// A secret holding a token to clone with (https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<String>,
    /// A secret holding the key the forge signs its deliveries with (GitHub, Gitea) or the
    /// token it sends (GitLab).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
    /// A secret holding a token for the forge's commit status API: runs of code report
    /// pending, success or failure on their commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_token: Option<String>,
    /// The forge's API [default: https://api.github.com for github.com, else the
    /// repository's host with /api/v3 (GitHub Enterprise), /api/v1 (Gitea) or /api/v4
    /// (GitLab)].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
}

impl Repository {
    pub fn default_branch(&self) -> &str {
        self.default_branch.as_deref().unwrap_or("main")
    }
}

/// What starts the pipeline's runs besides people.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct On {
    /// Pushes of branches or tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<PushFilter>,
    /// Pull (merge) requests opened, updated or reopened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<PullRequestFilter>,
    /// Times: cron expressions, each in a time zone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schedule: Vec<Schedule>,
    /// Changes to Kubernetes objects (seed 003's KubeCI `triggers`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kubernetes: Vec<KubernetesTrigger>,
    /// People may start runs: always so (accepted for seed 001's shape).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual: Option<bool>,
}

/// A run when a Kubernetes object changes: seed 003's trigger shape.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KubernetesTrigger {
    /// `v1`, `apps/v1`, …
    pub api_version: String,
    pub kind: String,
    /// The plural resource name (`configmaps`).
    pub resource: String,
    /// Only the object of this name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// [default: `default`]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Only objects with all these labels.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub selector: std::collections::BTreeMap<String, String>,
    /// A run when such an object is created or changed.
    #[serde(default)]
    pub on_add_or_update: bool,
    /// A run when such an object is deleted.
    #[serde(default)]
    pub on_delete: bool,
}

impl KubernetesTrigger {
    pub fn namespace(&self) -> &str {
        self.namespace.as_deref().unwrap_or("default")
    }
}

/// A run at each time a cron expression names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Five fields: minute, hour, day of month, month, day of week (`0 3 * * 1-5`).
    pub cron: String,
    /// An IANA time zone (`Europe/Berlin`) [default: UTC].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// A time missed while the server was down runs once when it is back [default: true].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catch_up: Option<bool>,
}

impl Schedule {
    pub fn timezone(&self) -> &str {
        self.timezone.as_deref().unwrap_or("UTC")
    }

    /// What identifies it across saves: its expression and time zone.
    pub fn key(&self) -> String {
        format!("{} {}", self.cron.trim(), self.timezone())
    }
}

/// Which pushes start a run: glob patterns (`*` within a name, `**` across `/`). With
/// neither `branches` nor `tags`, every branch and no tag; with one of them, only that.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PushFilter {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub branches: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Only when a changed file matches one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
}

/// Which pull requests start a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PullRequestFilter {
    /// Target branches (glob patterns) [default: any].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub branches: Vec<String>,
    /// [default: opened, synchronize, reopened]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<PullRequestAction>,
    /// Build pull requests from forks too: their runs get none of the pipeline's secrets
    /// [default: false, they are not built].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forks: bool,
}

/// What happened to a pull request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PullRequestAction {
    Opened,
    /// New commits on it.
    Synchronize,
    Reopened,
}

impl PullRequestAction {
    pub const DEFAULT: [PullRequestAction; 3] = [
        PullRequestAction::Opened,
        PullRequestAction::Synchronize,
        PullRequestAction::Reopened,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PullRequestAction::Opened => "opened",
            PullRequestAction::Synchronize => "synchronize",
            PullRequestAction::Reopened => "reopened",
        }
    }
}

impl PullRequestFilter {
    pub fn types(&self) -> &[PullRequestAction] {
        if self.types.is_empty() {
            &PullRequestAction::DEFAULT
        } else {
            &self.types
        }
    }
}

/// Every glob pattern of `on`, with its place (for the server to check).
pub fn patterns(on: &On) -> Vec<(String, &str)> {
    let mut all = Vec::new();
    if let Some(push) = &on.push {
        for (field, list) in [
            ("branches", &push.branches),
            ("tags", &push.tags),
            ("paths", &push.paths),
        ] {
            for (i, pattern) in list.iter().enumerate() {
                all.push((format!("on.push.{field}[{i}]"), pattern.as_str()));
            }
        }
    }
    if let Some(pr) = &on.pull_request {
        for (i, pattern) in pr.branches.iter().enumerate() {
            all.push((format!("on.pull_request.branches[{i}]"), pattern.as_str()));
        }
    }
    all
}

/// A repository's identity across the ways of writing its URL: host and path, lowercase,
/// without credentials, port, `.git` or trailing slashes (`https://u@Git.example.com/a/b.git`,
/// `git@git.example.com:a/b` and `ssh://git@git.example.com:2222/a/b.git` are all
/// `git.example.com/a/b`).
pub fn repository_key(url: &str) -> Option<String> {
    let url = url.trim();
    let rest = if let Some((scheme, rest)) = url.split_once("://") {
        if !matches!(scheme, "http" | "https" | "ssh" | "git") {
            return None;
        }
        rest
    } else {
        // scp-like: user@host:path
        let (host, path) = url.split_once(':')?;
        if path.starts_with('/') && path.starts_with("//") {
            return None;
        }
        return key_of(host.rsplit('@').next()?, path);
    };
    let (authority, path) = rest.split_once('/')?;
    let host = authority.rsplit('@').next()?;
    let host = match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    };
    key_of(host, path)
}

fn key_of(host: &str, path: &str) -> Option<String> {
    let path = path.trim_matches('/');
    let path = path
        .strip_suffix(".git")
        .unwrap_or(path)
        .trim_end_matches('/');
    if host.is_empty() || path.is_empty() || host.contains(char::is_whitespace) {
        return None;
    }
    Some(format!(
        "{}/{}",
        host.to_ascii_lowercase(),
        path.to_ascii_lowercase()
    ))
}

/// Whether `url` is a clone URL Conveyor understands.
pub fn is_clone_url(url: &str) -> bool {
    repository_key(url).is_some() && !url.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_way_of_writing_a_repository_is_one_key() {
        for url in [
            "https://git.example.com/team/web.git",
            "https://ci:token@Git.Example.com/team/web",
            "http://git.example.com:3000/team/web/",
            "ssh://git@git.example.com:2222/team/web.git",
            "git@git.example.com:team/web.git",
        ] {
            assert_eq!(
                repository_key(url).as_deref(),
                Some("git.example.com/team/web"),
                "{url}"
            );
        }
        for bad in ["", "web", "ftp://x/y", "https://host", "https:///path"] {
            assert_eq!(repository_key(bad), None, "{bad}");
        }
    }
}
