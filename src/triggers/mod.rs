//! What starts runs besides people: forge deliveries (`forge`), and whether an event is one
//! a pipeline's `on` filters ask for (glob patterns through `globset`).

pub mod changes;
pub mod forge;
pub mod schedule;

use conveyor_core::definition::{Pipeline, Problem};
use conveyor_core::triggers::{patterns, On, PullRequestAction};
use globset::{Glob, GlobBuilder, GlobMatcher};

/// What a forge said happened to the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeEvent {
    pub kind: EventKind,
    /// Every URL the forge gives for the repository (clone, web, ssh).
    pub repository_urls: Vec<String>,
    /// The ref to fetch: `refs/heads/main`, `refs/tags/v1`, `refs/pull/5/head`.
    pub git_ref: String,
    /// The branch the commit is on (a pull request's source branch).
    pub branch: Option<String>,
    pub sha: String,
    pub author: Option<String>,
    pub message: Option<String>,
    /// The commit's (or pull request's) page on the forge.
    pub url: Option<String>,
    /// Files the pushed commits added, changed or removed (none: not told).
    pub changed: Option<Vec<String>>,
    /// A pull request from another repository (a fork).
    pub from_fork: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    Push,
    Tag(String),
    PullRequest {
        number: i64,
        action: PullRequestAction,
        target: String,
    },
}

impl CodeEvent {
    /// The event's name as steps see it (`CONVEYOR_EVENT`, seed 001's `hook_event`).
    pub fn name(&self) -> &'static str {
        match self.kind {
            EventKind::Push => "push",
            EventKind::Tag(_) => "tag",
            EventKind::PullRequest { .. } => "pull_request",
        }
    }

    pub fn pull_request(&self) -> Option<i64> {
        match self.kind {
            EventKind::PullRequest { number, .. } => Some(number),
            _ => None,
        }
    }
}

fn glob(pattern: &str) -> Result<GlobMatcher, globset::Error> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map(|glob: Glob| glob.compile_matcher())
}

/// Every glob pattern of the pipeline's `on` compiles, or the problems say where not.
pub fn check_patterns(pipeline: &Pipeline) -> Result<(), Vec<Problem>> {
    let Some(on) = &pipeline.on else {
        return Ok(());
    };
    let problems: Vec<Problem> = patterns(on)
        .into_iter()
        .filter_map(|(place, pattern)| {
            glob(pattern)
                .err()
                .map(|err| Problem::new(place, format!("not a glob pattern: {}", err.kind())))
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

fn any_matches(patterns: &[String], text: &str) -> bool {
    patterns
        .iter()
        .any(|pattern| glob(pattern).is_ok_and(|glob| glob.is_match(text)))
}

fn list(patterns: &[String]) -> String {
    patterns.join(", ")
}

/// Whether the pipeline's `on` asks for this event; when not, why not (in words for the
/// pipeline page's deliveries).
pub fn wanted(on: Option<&On>, event: &CodeEvent) -> Result<(), String> {
    let on = on.cloned().unwrap_or_default();
    match &event.kind {
        EventKind::Push | EventKind::Tag(_) => {
            let Some(push) = &on.push else {
                return Err("the pipeline has no `on.push`".into());
            };
            match &event.kind {
                EventKind::Tag(tag) => {
                    if push.tags.is_empty() {
                        return Err(format!("tag {tag}: `on.push.tags` names none"));
                    }
                    if !any_matches(&push.tags, tag) {
                        return Err(format!(
                            "tag {tag} matches none of on.push.tags ({})",
                            list(&push.tags)
                        ));
                    }
                }
                _ => {
                    let branch = event.branch.as_deref().unwrap_or_default();
                    if push.branches.is_empty() && !push.tags.is_empty() {
                        return Err(format!("branch {branch}: `on.push` names only tags"));
                    }
                    if !push.branches.is_empty() && !any_matches(&push.branches, branch) {
                        return Err(format!(
                            "branch {branch} matches none of on.push.branches ({})",
                            list(&push.branches)
                        ));
                    }
                }
            }
            if !push.paths.is_empty() {
                if let Some(changed) = &event.changed {
                    if !changed.iter().any(|path| any_matches(&push.paths, path)) {
                        return Err(format!(
                            "no changed file matches on.push.paths ({})",
                            list(&push.paths)
                        ));
                    }
                }
            }
            Ok(())
        }
        EventKind::PullRequest { action, target, .. } => {
            let Some(pr) = &on.pull_request else {
                return Err("the pipeline has no `on.pull_request`".into());
            };
            if event.from_fork && !pr.forks {
                return Err(
                    "a pull request from a fork: set on.pull_request.forks to build those (without secrets)"
                        .into(),
                );
            }
            if !pr.types().contains(action) {
                return Err(format!(
                    "pull request {}: not one of its types",
                    action.as_str()
                ));
            }
            if !pr.branches.is_empty() && !any_matches(&pr.branches, target) {
                return Err(format!(
                    "target branch {target} matches none of on.pull_request.branches ({})",
                    list(&pr.branches)
                ));
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use conveyor_core::triggers::{PullRequestFilter, PushFilter};

    fn push(branch: &str, changed: &[&str]) -> CodeEvent {
        CodeEvent {
            kind: EventKind::Push,
            repository_urls: vec![],
            git_ref: format!("refs/heads/{branch}"),
            branch: Some(branch.into()),
            sha: "a".repeat(40),
            author: None,
            message: None,
            url: None,
            changed: Some(changed.iter().map(|s| s.to_string()).collect()),
            from_fork: false,
        }
    }

    #[test]
    fn push_filters_match_branches_tags_and_paths() {
        let on = On {
            push: Some(PushFilter {
                branches: vec!["main".into(), "release/*".into()],
                tags: vec!["v*".into()],
                paths: vec!["src/**".into()],
            }),
            ..On::default()
        };
        assert_eq!(wanted(Some(&on), &push("main", &["src/a/b.rs"])), Ok(()));
        assert_eq!(wanted(Some(&on), &push("release/1.2", &["src/x"])), Ok(()));
        let err = wanted(Some(&on), &push("release/1/2", &["src/x"])).unwrap_err();
        assert!(err.contains("matches none of on.push.branches"), "{err}");
        let err = wanted(Some(&on), &push("main", &["docs/x.md"])).unwrap_err();
        assert!(err.contains("paths"), "{err}");
        let mut tag = push("", &[]);
        tag.kind = EventKind::Tag("v1.0".into());
        tag.changed = None;
        assert_eq!(wanted(Some(&on), &tag), Ok(()));
        tag.kind = EventKind::Tag("nightly".into());
        assert!(wanted(Some(&on), &tag).is_err());
        assert!(wanted(None, &push("main", &[])).is_err());
    }

    #[test]
    fn pull_requests_match_types_and_target_branches() {
        let on = On {
            pull_request: Some(PullRequestFilter {
                branches: vec!["main".into()],
                types: vec![],
                forks: false,
            }),
            ..On::default()
        };
        let mut event = push("feature", &[]);
        event.kind = EventKind::PullRequest {
            number: 5,
            action: PullRequestAction::Synchronize,
            target: "main".into(),
        };
        assert_eq!(wanted(Some(&on), &event), Ok(()));
        event.kind = EventKind::PullRequest {
            number: 5,
            action: PullRequestAction::Opened,
            target: "develop".into(),
        };
        assert!(wanted(Some(&on), &event).unwrap_err().contains("develop"));
        event.kind = EventKind::PullRequest {
            number: 6,
            action: PullRequestAction::Opened,
            target: "main".into(),
        };
        event.from_fork = true;
        assert!(wanted(Some(&on), &event).unwrap_err().contains("fork"));
    }
}
