//! Forge deliveries: GitHub, Gitea (and Forgejo) and GitLab. Which event and delivery a
//! request is (headers), whether its signature or token is the repository's (HMAC-SHA256,
//! compared in constant time), and what its push, tag or pull-request payload says.

use axum::http::HeaderMap;
use conveyor_core::triggers::PullRequestAction;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::{CodeEvent, EventKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forge {
    GitHub,
    Gitea,
    GitLab,
}

impl Forge {
    pub fn from_path(name: &str) -> Option<Forge> {
        match name {
            "github" => Some(Forge::GitHub),
            "gitea" | "forgejo" => Some(Forge::Gitea),
            "gitlab" => Some(Forge::GitLab),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Forge::GitHub => "github",
            Forge::Gitea => "gitea",
            Forge::GitLab => "gitlab",
        }
    }
}

/// What a delivery's headers say.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub event: String,
    /// The forge's id of this delivery (the same when it is sent again).
    pub id: String,
    /// The signature (GitHub, Gitea) or token (GitLab) it carries.
    proof: Option<String>,
}

fn header(headers: &HeaderMap, names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|name| headers.get(*name)?.to_str().ok())
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

impl Delivery {
    /// The delivery's event and id, or what header is missing.
    pub fn of(forge: Forge, headers: &HeaderMap) -> Result<Delivery, String> {
        let (event, id, proof): (&[&str], &[&str], &[&str]) = match forge {
            Forge::GitHub => (
                &["x-github-event"],
                &["x-github-delivery"],
                &["x-hub-signature-256"],
            ),
            Forge::Gitea => (
                &["x-forgejo-event", "x-gitea-event"],
                &["x-forgejo-delivery", "x-gitea-delivery"],
                &["x-forgejo-signature", "x-gitea-signature"],
            ),
            Forge::GitLab => (
                &["x-gitlab-event"],
                &["x-gitlab-event-uuid", "x-gitlab-webhook-uuid"],
                &["x-gitlab-token"],
            ),
        };
        Ok(Delivery {
            event: header(headers, event).ok_or_else(|| format!("no {} header", event[0]))?,
            id: header(headers, id).ok_or_else(|| format!("no {} header", id[0]))?,
            proof: header(headers, proof),
        })
    }

    /// Whether the delivery proves it knows `secret`: an HMAC-SHA256 of the body (GitHub
    /// as `sha256=<hex>`, Gitea and Forgejo as `<hex>`), or the token itself (GitLab).
    pub fn proves(&self, forge: Forge, secret: &[u8], body: &[u8]) -> bool {
        let Some(proof) = &self.proof else {
            return false;
        };
        match forge {
            Forge::GitLab => bool::from(proof.as_bytes().ct_eq(secret)),
            Forge::GitHub | Forge::Gitea => {
                let hex = match forge {
                    Forge::GitHub => proof.strip_prefix("sha256="),
                    _ => Some(proof.as_str()),
                };
                let Some(Ok(given)) = hex.map(hex::decode) else {
                    return false;
                };
                let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
                    return false;
                };
                mac.update(body);
                mac.verify_slice(&given).is_ok()
            }
        }
    }
}

/// What a payload is to Conveyor.
#[derive(Debug)]
pub enum Parsed {
    Code(Box<CodeEvent>),
    /// Verified, understood, and nothing to build (a ping, a deleted branch, a closed pull
    /// request, an event Conveyor does not handle): why.
    Ignored(String),
}

/// The repository URLs a payload names (to find its pipelines and their secrets before
/// anything else is believed), or where the JSON is broken.
pub fn repository_urls(forge: Forge, body: &[u8]) -> Result<Vec<String>, String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|err| format!("the payload is not JSON: {err}"))?;
    let (object, fields): (&str, &[&str]) = match forge {
        Forge::GitHub | Forge::Gitea => ("repository", &["clone_url", "html_url", "ssh_url"]),
        Forge::GitLab => ("project", &["git_http_url", "web_url", "git_ssh_url"]),
    };
    let urls: Vec<String> = fields
        .iter()
        .filter_map(|field| value.get(object)?.get(*field)?.as_str().map(str::to_owned))
        .collect();
    if urls.is_empty() {
        return Err(format!(
            "the payload names no {object} (with {})",
            fields.join(", ")
        ));
    }
    Ok(urls)
}

#[derive(Deserialize)]
struct Author {
    name: Option<String>,
    username: Option<String>,
}

#[derive(Deserialize)]
struct Commit {
    id: String,
    message: Option<String>,
    url: Option<String>,
    author: Option<Author>,
    #[serde(default)]
    added: Vec<String>,
    #[serde(default)]
    modified: Vec<String>,
    #[serde(default)]
    removed: Vec<String>,
}

#[derive(Deserialize)]
struct Push {
    #[serde(rename = "ref")]
    git_ref: String,
    after: String,
    #[serde(default)]
    commits: Vec<Commit>,
    head_commit: Option<Commit>,
    /// GitLab's commit to check out (the tip; `after` for a branch).
    checkout_sha: Option<String>,
    /// GitLab's pusher.
    user_username: Option<String>,
}

#[derive(Deserialize)]
struct RepoRef {
    full_name: Option<String>,
}

#[derive(Deserialize)]
struct Branch {
    #[serde(rename = "ref")]
    name: String,
    sha: String,
    /// The repository the branch is in (none: a deleted fork).
    repo: Option<RepoRef>,
}

#[derive(Deserialize)]
struct User {
    login: Option<String>,
    username: Option<String>,
}

#[derive(Deserialize)]
struct PullRequest {
    head: Branch,
    base: Branch,
    title: Option<String>,
    html_url: Option<String>,
    user: Option<User>,
}

#[derive(Deserialize)]
struct PullRequestEvent {
    action: String,
    number: i64,
    pull_request: PullRequest,
    repository: RepoRef,
}

#[derive(Deserialize)]
struct MergeRequest {
    iid: i64,
    action: Option<String>,
    source_branch: String,
    target_branch: String,
    last_commit: Commit,
    title: Option<String>,
    url: Option<String>,
    oldrev: Option<String>,
    source_project_id: Option<i64>,
    target_project_id: Option<i64>,
}

#[derive(Deserialize)]
struct MergeRequestEvent {
    object_attributes: MergeRequest,
    user: Option<User>,
}

const ZERO_SHA: &str = "0000000000000000000000000000000000000000";

/// A commit id as git writes it: 40 (SHA-1) or 64 (SHA-256) hex digits.
fn is_sha(text: &str) -> bool {
    matches!(text.len(), 40 | 64) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Reads a verified payload; a commit that is not a SHA is refused (it reaches git and the
/// status API's URL).
pub fn parse(forge: Forge, event: &str, body: &[u8]) -> Result<Parsed, String> {
    let parsed = parse_payload(forge, event, body)?;
    if let Parsed::Code(code) = &parsed {
        if !is_sha(&code.sha) {
            return Err(format!(
                "the payload's commit \"{}\" is not a SHA",
                code.sha
            ));
        }
    }
    Ok(parsed)
}

fn parse_payload(forge: Forge, event: &str, body: &[u8]) -> Result<Parsed, String> {
    let urls = repository_urls(forge, body)?;
    let kind =
        match (forge, event) {
            (Forge::GitHub | Forge::Gitea, "push")
            | (Forge::GitLab, "Push Hook" | "Tag Push Hook") => "push",
            (Forge::GitHub | Forge::Gitea, "pull_request")
            | (Forge::GitLab, "Merge Request Hook") => "pull_request",
            (Forge::GitHub, "ping") => return Ok(Parsed::Ignored("ping: the hook works".into())),
            _ => {
                return Ok(Parsed::Ignored(format!(
                    "event \"{event}\" is not one Conveyor builds"
                )))
            }
        };
    let payload = |err: serde_json::Error| format!("the {event} payload: {err}");
    if kind == "push" {
        let push: Push = serde_json::from_slice(body).map_err(payload)?;
        return Ok(push_event(push, urls));
    }
    if forge == Forge::GitLab {
        let mr: MergeRequestEvent = serde_json::from_slice(body).map_err(payload)?;
        return Ok(merge_request(mr, urls));
    }
    let pr: PullRequestEvent = serde_json::from_slice(body).map_err(payload)?;
    let action = match pr.action.as_str() {
        "opened" => PullRequestAction::Opened,
        "synchronize" | "synchronized" => PullRequestAction::Synchronize,
        "reopened" => PullRequestAction::Reopened,
        other => {
            return Ok(Parsed::Ignored(format!(
                "pull request {other}: nothing to build"
            )))
        }
    };
    let request = pr.pull_request;
    // From a fork when its head is in another repository than the one it is proposed to.
    let head_repo = request
        .head
        .repo
        .as_ref()
        .and_then(|r| r.full_name.as_deref());
    let from_fork = head_repo.is_none() || head_repo != pr.repository.full_name.as_deref();
    Ok(Parsed::Code(Box::new(CodeEvent {
        kind: EventKind::PullRequest {
            number: pr.number,
            action,
            target: request.base.name,
        },
        repository_urls: urls,
        git_ref: format!("refs/pull/{}/head", pr.number),
        branch: Some(request.head.name),
        sha: request.head.sha,
        author: request.user.and_then(|u| u.login.or(u.username)),
        message: request.title,
        url: request.html_url,
        changed: None,
        from_fork,
    })))
}

fn push_event(push: Push, urls: Vec<String>) -> Parsed {
    let sha = push.checkout_sha.clone().unwrap_or(push.after.clone());
    if push.after == ZERO_SHA || sha.is_empty() {
        return Parsed::Ignored(format!("{} was deleted", push.git_ref));
    }
    let (kind, branch) = if let Some(tag) = push.git_ref.strip_prefix("refs/tags/") {
        (EventKind::Tag(tag.to_owned()), None)
    } else if let Some(branch) = push.git_ref.strip_prefix("refs/heads/") {
        (EventKind::Push, Some(branch.to_owned()))
    } else {
        return Parsed::Ignored(format!("{} is neither a branch nor a tag", push.git_ref));
    };
    let changed = push
        .commits
        .iter()
        .flat_map(|c| c.added.iter().chain(&c.modified).chain(&c.removed))
        .cloned()
        .collect();
    let head = push
        .head_commit
        .or_else(|| push.commits.into_iter().find(|c| c.id == sha));
    let author = head
        .as_ref()
        .and_then(|c| c.author.as_ref())
        .and_then(|a| a.username.clone().or(a.name.clone()))
        .or(push.user_username);
    Parsed::Code(Box::new(CodeEvent {
        kind,
        repository_urls: urls,
        git_ref: push.git_ref,
        branch,
        sha,
        author,
        message: head.as_ref().and_then(|c| c.message.clone()),
        url: head.and_then(|c| c.url),
        changed: Some(changed),
        from_fork: false,
    }))
}

fn merge_request(event: MergeRequestEvent, urls: Vec<String>) -> Parsed {
    let mr = event.object_attributes;
    let action = match mr.action.as_deref() {
        Some("open") => PullRequestAction::Opened,
        Some("reopen") => PullRequestAction::Reopened,
        // An update without `oldrev` changed the title or labels, not the code.
        Some("update") if mr.oldrev.is_some() => PullRequestAction::Synchronize,
        other => {
            let what = other.unwrap_or("changed");
            return Parsed::Ignored(format!("merge request {what}: nothing to build"));
        }
    };
    let from_fork = mr.source_project_id != mr.target_project_id;
    Parsed::Code(Box::new(CodeEvent {
        kind: EventKind::PullRequest {
            number: mr.iid,
            action,
            target: mr.target_branch,
        },
        repository_urls: urls,
        git_ref: format!("refs/merge-requests/{}/head", mr.iid),
        branch: Some(mr.source_branch),
        sha: mr.last_commit.id,
        author: event.user.and_then(|u| u.username.or(u.login)),
        message: mr.title.or(mr.last_commit.message),
        url: mr.url,
        changed: None,
        from_fork,
    }))
}
