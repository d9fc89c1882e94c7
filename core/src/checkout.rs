//! A run of a pipeline with a `repository` starts by checking its code out: a step of its
//! own, first in the plan, that every step which needs nothing else waits for. It runs the
//! host's `git` on the local engine and a git image on Tekton; the URL, ref and commit reach
//! it as variables, never spliced into its script.

use std::collections::HashSet;

use crate::definition::{Params, Runner, SecretUse};
use crate::plan::{Plan, PlannedStage, PlannedStep};
use crate::resolve::{Program, ResolvedRun, ResolvedStep};
use crate::run::Commit;
use crate::triggers::Repository;
use crate::workflow::CLONE_IMAGE;

/// The variable the clone token reaches the checkout step in.
pub const TOKEN_VARIABLE: &str = "CONVEYOR_GIT_TOKEN";

/// Fetches the ref, then checks out the commit (fetched by itself if the ref has moved on
/// past it); with no commit, the ref's tip.
/// The token goes to git through its environment (`GIT_CONFIG_*`), never its command line,
/// where `ps` would show it.
const SCRIPT: &str = r#"git init -q .
if [ -n "${CONVEYOR_GIT_TOKEN:-}" ]; then
  auth=$(printf '%s:%s' "${CONVEYOR_GIT_USER:-conveyor}" "$CONVEYOR_GIT_TOKEN" | base64 | tr -d '\n')
  export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=http.extraHeader
  export GIT_CONFIG_VALUE_0="Authorization: Basic $auth"
fi
git fetch --no-tags -q "$CONVEYOR_REPOSITORY" "$CONVEYOR_REF"
commit="${CONVEYOR_COMMIT:-$(git rev-parse FETCH_HEAD)}"
git cat-file -e "$commit^{commit}" 2>/dev/null || git fetch --no-tags -q "$CONVEYOR_REPOSITORY" "$commit"
git -c advice.detachedHead=false checkout -q --detach "$commit"
git log -1 --format='checked out %H (%an): %s'
"#;

fn free_name(taken: &HashSet<&str>, wanted: &str) -> String {
    std::iter::once(wanted.to_owned())
        .chain((2..).map(|n| format!("{wanted}-{n}")))
        .find(|name| !taken.contains(name.as_str()))
        .unwrap_or_else(|| wanted.to_owned())
}

/// The run with a checkout step first: of `commit` by its ref, or (a run started by a
/// person) the tip of the repository's default branch.
pub fn with_checkout(run: ResolvedRun, repo: &Repository, commit: Option<&Commit>) -> ResolvedRun {
    let ResolvedRun {
        pipeline,
        plan,
        steps,
        workspace_paths,
    } = run;
    let step_names: HashSet<&str> = plan.steps.iter().map(|s| s.name.as_str()).collect();
    let stage_names: HashSet<&str> = plan.stages.iter().map(|s| s.name.as_str()).collect();
    let step_name = free_name(&step_names, "checkout");
    let stage_name = free_name(&stage_names, "checkout");
    let plan = prepend(plan, step_name, stage_name);

    let mut env = Params::new();
    env.insert("CONVEYOR_REPOSITORY".into(), repo.url.clone());
    let git_ref = match commit {
        Some(commit) => commit.git_ref.clone(),
        None => format!("refs/heads/{}", repo.default_branch()),
    };
    env.insert("CONVEYOR_REF".into(), git_ref);
    env.insert(
        "CONVEYOR_COMMIT".into(),
        commit.map(|c| c.sha.clone()).unwrap_or_default(),
    );
    let secrets = repo
        .credentials
        .iter()
        .map(|name| SecretUse {
            name: name.clone(),
            env: Some(TOKEN_VARIABLE.into()),
        })
        .collect();
    let checkout = ResolvedStep {
        program: Program::Script {
            script: SCRIPT.into(),
        },
        image: Some(CLONE_IMAGE.into()),
        // The host's own git on the local engine.
        runner: Runner::Host,
        pull: Default::default(),
        pull_secret: None,
        env,
        webhooks: Vec::new(),
        node_selector: Params::new(),
        secrets,
        approval: Default::default(),
    };
    let code = code_variables(commit);
    let steps = std::iter::once(checkout)
        .chain(steps)
        .map(|mut step| {
            step.env.extend(code.clone());
            step
        })
        .collect();
    ResolvedRun {
        pipeline,
        plan,
        steps,
        workspace_paths,
    }
}

/// What every step of a run of code learns about it: the event (seed 001's `hook_event`:
/// `push`, `tag`, `pull_request`, or `manual`), the commit, ref, branch and pull request.
fn code_variables(commit: Option<&Commit>) -> Params {
    let mut env = Params::new();
    let Some(commit) = commit else {
        env.insert("CONVEYOR_EVENT".into(), "manual".into());
        return env;
    };
    let event = if commit.pull_request.is_some() {
        "pull_request"
    } else if commit.git_ref.starts_with("refs/tags/") {
        "tag"
    } else {
        "push"
    };
    env.insert("CONVEYOR_EVENT".into(), event.into());
    env.insert("CONVEYOR_COMMIT".into(), commit.sha.clone());
    env.insert("CONVEYOR_REF".into(), commit.git_ref.clone());
    if let Some(branch) = &commit.branch {
        env.insert("CONVEYOR_BRANCH".into(), branch.clone());
    }
    if let Some(number) = commit.pull_request {
        env.insert("CONVEYOR_PULL_REQUEST".into(), number.to_string());
    }
    env
}

/// The plan with one step first, in a stage of its own, that everything waits for.
fn prepend(plan: Plan, step: String, stage: String) -> Plan {
    let Plan {
        stages,
        steps,
        groups,
    } = plan;
    let mut new_stages = vec![PlannedStage {
        name: stage,
        needs: Vec::new(),
        steps: vec![0],
        level: 0,
    }];
    new_stages.extend(stages.into_iter().map(|s| PlannedStage {
        needs: if s.needs.is_empty() {
            vec![0]
        } else {
            s.needs.iter().map(|n| n + 1).collect()
        },
        steps: s.steps.iter().map(|i| i + 1).collect(),
        level: s.level + 1,
        name: s.name,
    }));
    let mut new_steps = vec![PlannedStep {
        index: 0,
        stage: 0,
        name: step,
        needs: Vec::new(),
        approval: false,
        timeout_secs: Some(600),
    }];
    new_steps.extend(steps.into_iter().map(|s| PlannedStep {
        index: s.index + 1,
        stage: s.stage + 1,
        needs: if s.needs.is_empty() {
            vec![0]
        } else {
            s.needs.iter().map(|n| n + 1).collect()
        },
        ..s
    }));
    let mut new_groups = vec![vec![0]];
    new_groups.extend(
        groups
            .into_iter()
            .map(|g| g.into_iter().map(|i| i + 1).collect()),
    );
    Plan {
        stages: new_stages,
        steps: new_steps,
        groups: new_groups,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::check_document;

    #[test]
    fn the_checkout_comes_first_and_everything_waits_for_it() {
        let source = "name: web\nstages:\n  - name: build\n    steps:\n      - {name: checkout, script: make}\n      - {name: b, needs: [], script: make}\n  - name: test\n    steps: [{name: t, script: make test}]\n";
        let (pipeline, plan) = check_document(source).expect("valid");
        let run = ResolvedRun::resolve(&pipeline, plan, "v1", &Params::new());
        let repo = Repository {
            url: "https://git.example.com/team/web.git".into(),
            credentials: Some("GIT_TOKEN".into()),
            ..Repository::default()
        };
        let commit = Commit {
            sha: "a".repeat(40),
            git_ref: "refs/heads/main".into(),
            ..Commit::default()
        };
        let run = with_checkout(run, &repo, Some(&commit));
        let names: Vec<&str> = run.plan.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["checkout-2", "checkout", "b", "t"]);
        assert_eq!(run.plan.steps[1].needs, [0]);
        assert_eq!(run.plan.steps[2].needs, [0], "a step that needed nothing");
        assert_eq!(
            run.plan.stages[2].needs,
            [1],
            "the test stage still needs build"
        );
        assert_eq!(run.plan.groups[0], [0]);
        assert_eq!(run.steps.len(), 4);
        assert_eq!(run.steps[0].env["CONVEYOR_COMMIT"], "a".repeat(40));
        assert_eq!(run.steps[0].secrets[0].variable(), TOKEN_VARIABLE);
        for (i, step) in run.plan.steps.iter().enumerate() {
            assert_eq!(step.index, i);
        }
    }
}
