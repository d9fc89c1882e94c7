//! The pipeline format, imports, validation messages, planning and status transitions.

use conveyor_core::document::{check_document, parse_document};
use conveyor_core::params::check_action_params;
use conveyor_core::params::merge_params;
use conveyor_core::plan::plan;
use conveyor_core::run::{is_valid_tag, RunStatus, StepStatus};

fn problems(source: &str) -> Vec<String> {
    match check_document(source) {
        Ok(_) => Vec::new(),
        Err(problems) => problems.iter().map(ToString::to_string).collect(),
    }
}

const TWO_STAGES: &str = "
name: app
stages:
  - name: build
    steps:
      - name: build
        script: make
  - name: test
    steps:
      - name: unit
        needs: [biuld]
        script: make test
";

#[test]
fn bad_inputs_get_exact_messages_with_their_place() {
    let cases: Vec<(String, Vec<&str>)> = vec![
        (TWO_STAGES.into(), vec![r#"stages[1].steps[0].needs: unknown step "biuld" (did you mean "build"?)"#]),
        (
            "name: App_1\nstages: [{name: s, steps: [{name: a, script: x}]}]".into(),
            vec![r#"name: "App_1" is not a valid name: use 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit"#],
        ),
        ("name: a\nstages: []".into(), vec!["stages: a pipeline needs at least one stage"]),
        ("name: a\nstages: [{name: s, steps: []}]".into(), vec!["stages[0].steps: a stage needs at least one step"]),
        (
            "name: a\nstages: [{name: s, steps: [{name: x, script: a}, {name: x, script: b}]}]".into(),
            vec![r#"stages[0].steps[1].name: duplicate step name "x" (first at stages[0].steps[0])"#],
        ),
        (
            "name: a\nstages: [{name: s, steps: [{name: x, script: a}]}, {name: s, steps: [{name: y, script: b}]}]".into(),
            vec![r#"stages[1].name: duplicate stage name "s" (first at stages[0])"#],
        ),
        (
            "name: a\nstages: [{name: s, steps: [{name: x, scirpt: a}]}]".into(),
            vec!["stages[0].steps[0].scirpt: unknown field `scirpt`, expected one of `name`, `image`, `runner`, `pull`, `pull_secret`, `script`, `command`, `args`, `action`, `with`, `env`, `secrets`, `needs`, `is_parallel`, `parallel`, `timeout`, `approval`, `with_audit`, `approval_params`, `audit_params`, `webhooks`, `node_selector`, `with_notify`, `notify_params`, `namespace`"],
        ),
        (
            "name: a\nstages: [{name: s, steps: [{name: x, script: a, timeout: 5 parsecs}]}]".into(),
            vec![r#"stages[0].steps[0].timeout: "5 parsecs" is not a duration (examples: 30s, 5m, 1h30m)"#],
        ),
        (
            "name: a\nstages: [{name: s, steps: [{name: x, script: a, command: [b]}]}]".into(),
            vec!["stages[0].steps[0]: `script` and `command` exclude each other; keep one"],
        ),
        (
            "name: a\nengine: docker\nstages: [{name: s, steps: [{name: x, script: a}]}]".into(),
            vec!["engine: unknown variant `docker`, expected `local` or `tekton`"],
        ),
        (
            "name: a\nstages: [{name: s, steps: [{name: x}]}]".into(),
            vec!["stages[0].steps[0]: a step needs a `script`, a `command` or an `image`"],
        ),
        (
            "name: a\nstages: [{name: s, steps: [{name: x, script: a, with: {CONVEYOR_TAG: 1, 9x: 2}}]}]".into(),
            vec![
                r#"stages[0].steps[0].with: "9x" is not a valid variable name (letters, digits and '_', not starting with a digit)"#,
                r#"stages[0].steps[0].with: "CONVEYOR_TAG": names starting with CONVEYOR_ are reserved"#,
            ],
        ),
        (
            "name: a\nstages: [{name: s, steps: [{name: x, script: a, webhooks: [{url: 'ftp://x', events: [SUCEEDED]}]}]}]".into(),
            vec![
                r#"stages[0].steps[0].webhooks[0].url: "ftp://x" is not an http(s) URL"#,
                r#"stages[0].steps[0].webhooks[0].events[0]: unknown event "SUCEEDED" (did you mean "SUCCEEDED"?); known events: STARTED, SUCCEEDED, FAILED, CANCELLED, SKIPPED, REFUSED"#,
            ],
        ),
        (
            "name: a\nstages: [{name: s, steps: [{name: x, script: a, approval_params: {who: ops}}]}]".into(),
            vec!["stages[0].steps[0].approval_params: only meaningful with `approval: true`"],
        ),
        (
            "name: a\nstages:\n  - name: s\n    steps:\n      - name: a\n        needs: [c]\n        script: x\n      - name: b\n        needs: [a]\n        script: x\n      - name: c\n        needs: [b]\n        script: x".into(),
            vec!["stages[0].steps[0].needs: cycle: a -> c -> b -> a"],
        ),
        (
            "name: a\nstages:\n  - name: one\n    needs: [two]\n    steps: [{name: a, script: x}]\n  - name: two\n    steps: [{name: b, script: x}]".into(),
            vec!["stages[0].needs: cycle: one -> two -> one"],
        ),
        (
            "name: a\nstages:\n  - name: one\n    needs: [tow]\n    steps: [{name: a, script: x}]\n  - name: two\n    steps: [{name: b, script: x}]".into(),
            vec![r#"stages[0].needs: unknown stage "tow" (did you mean "two"?)"#],
        ),
        (
            "name: a\nstages: [{name: s, steps: [{name: x, action: notify}]}]".into(),
            vec![
                r#"stages[0].steps[0].action: "notify" must be written name@version"#,
                "stages[0].steps[0]: a step needs a `script`, a `command` or an `image`",
            ],
        ),
        ("name: a\nstages: [{name: s, steps: [{name: x, script: a}]".into(), vec![]),
        ("- just\n- a list".into(), vec!["a definition must be a mapping with `name` and `stages`"]),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}".into(),
            vec![r#"kind: cannot import kind "ConfigMap"; known kinds are Workflow (KubeCI) and Task (taskflow)"#],
        ),
        (
            format!("name: a\ndescription: '{}'\nstages: []", "x".repeat(300 * 1024)),
            vec!["document is 307234 bytes; the limit is 262144"],
        ),
    ];
    for (source, expected) in cases {
        let got = problems(&source);
        if expected.is_empty() {
            // YAML syntax errors: the message names the line and column.
            assert_eq!(got.len(), 1, "{source}: {got:?}");
            assert!(
                got[0].starts_with("line 3, column 1: did not find expected"),
                "{got:?}"
            );
        } else {
            assert_eq!(
                got,
                expected,
                "for document:\n{}",
                &source[..source.len().min(200)]
            );
        }
    }
}

#[test]
fn stages_run_in_order_and_parallel_steps_group() {
    let source = "
name: p
stages:
  - name: build
    steps:
      - {name: compile, script: x}
      - {name: package, script: x}
  - name: test
    steps:
      - {name: unit, parallel: true, script: x}
      - {name: lint, parallel: true, script: x}
      - {name: report, script: x}
  - name: side
    needs: []
    steps:
      - {name: docs, script: x}
";
    let (_, plan) = check_document(source).expect("valid");
    let names = |indices: &[usize]| -> Vec<String> {
        indices
            .iter()
            .map(|&i| plan.steps[i].name.clone())
            .collect()
    };
    assert_eq!(names(&plan.steps[1].needs), ["compile"]);
    assert_eq!(names(&plan.steps[2].needs), ["compile", "package"]);
    assert_eq!(names(&plan.steps[3].needs), ["compile", "package"]);
    assert_eq!(
        names(&plan.steps[4].needs),
        ["compile", "package", "unit", "lint"]
    );
    assert!(plan.steps[5].needs.is_empty(), "needs: [] starts at once");
    let groups: Vec<Vec<String>> = plan.groups.iter().map(|g| names(g)).collect();
    assert_eq!(
        groups,
        vec![
            vec!["compile", "docs"],
            vec!["package"],
            vec!["unit", "lint"],
            vec!["report"]
        ]
    );
    assert_eq!(
        plan.stages.iter().map(|s| s.level).collect::<Vec<_>>(),
        [0, 1, 0]
    );
}

#[test]
fn explicit_needs_replace_the_step_order_within_a_stage() {
    let source = "
name: p
stages:
  - name: s
    steps:
      - {name: a, script: x}
      - {name: b, script: x}
      - {name: c, needs: [a], script: x}
";
    let (_, plan) = check_document(source).expect("valid");
    assert_eq!(plan.steps[2].needs, [0]);
    assert_eq!(plan.groups, vec![vec![0], vec![1, 2]]);
}

#[test]
fn kubeci_workflow_imports_as_a_dag() {
    let source = include_str!("../../tests/fixtures/kubeci-workflow.yaml");
    let (pipeline, plan) = check_document(source).expect("KubeCI workflow imports");
    assert_eq!(pipeline.name, "my-workflow");
    let step = &pipeline.stages[0].steps[4];
    assert_eq!(step.command, ["sh"]);
    assert_eq!(step.args, ["-c", "echo step-5; ls /kubeci"]);
    assert_eq!(step.image.as_deref(), Some("alpine"));
    let groups: Vec<Vec<&str>> = plan
        .groups
        .iter()
        .map(|g| g.iter().map(|&i| plan.steps[i].name.as_str()).collect())
        .collect();
    assert_eq!(
        groups,
        vec![
            vec!["step-1"],
            vec!["step-2", "step-3"],
            vec!["step-4"],
            vec!["step-5"]
        ]
    );
}

#[test]
fn taskflow_task_imports_as_ordered_steps() {
    let source = include_str!("../../tests/fixtures/taskflow-task.yaml");
    let (pipeline, plan) = check_document(source).expect("taskflow task imports");
    assert_eq!(pipeline.name, "example-taskflow");
    assert_eq!(plan.groups.len(), 3, "strictly in order");
    assert_eq!(pipeline.stages[0].steps[0].command, ["sh", "-c"]);
    assert_eq!(pipeline.stages[0].steps[2].args, ["100"]);
}

#[test]
fn imports_reject_unknown_fields_too() {
    let source = "apiVersion: kube.ci/v1alpha1\nkind: Workflow\nmetadata: {name: w}\nspec:\n  steps:\n    - {name: a, image: alpine, dependecy: [b]}";
    let got = problems(source);
    assert_eq!(got.len(), 1);
    assert!(
        got[0].starts_with("spec.steps[0].dependecy: unknown field `dependecy`"),
        "{got:?}"
    );
}

#[test]
fn json_documents_are_accepted() {
    let source = r#"{"name": "j", "stages": [{"name": "s", "steps": [{"name": "a", "command": ["true"], "with": {"N": 3}}]}]}"#;
    let (pipeline, _) = check_document(source).expect("JSON is accepted");
    assert_eq!(
        pipeline.stages[0].steps[0].with["N"], "3",
        "scalars become strings"
    );
}

#[test]
fn params_follow_the_seed_precedence() {
    let source = "
name: p
with: {A: pipeline, B: pipeline, C: pipeline}
actions:
  - name: notify
    version: '1'
    script: echo
    defaults: {A: action, B: action, C: action, D: action}
    required: [CHANNEL]
stages:
  - name: s
    steps:
      - name: x
        action: notify@1
        with: {A: step}
";
    let (pipeline, _) = check_document(source).expect("valid");
    let step = &pipeline.stages[0].steps[0];
    let run = [
        ("A".to_string(), "run".to_string()),
        ("B".to_string(), "run".to_string()),
    ]
    .into();
    let merged = merge_params(&pipeline, step, &run);
    assert_eq!(merged["A"], "step");
    assert_eq!(merged["B"], "run");
    assert_eq!(merged["C"], "pipeline");
    assert_eq!(merged["D"], "action");
    let missing = check_action_params(&pipeline, Some(&run));
    assert_eq!(
        missing.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [
            r#"stages[0].steps[0]: step "x": action "notify@1" needs param "CHANNEL"; set it in the step's `with`, the pipeline's `with` or the run's params"#
        ]
    );
    let with_channel = [("CHANNEL".to_string(), "ops".to_string())].into();
    assert!(check_action_params(&pipeline, Some(&with_channel)).is_empty());
}

#[test]
fn plans_survive_a_serde_round_trip() {
    let pipeline = parse_document(TWO_STAGES.replace("biuld", "build").as_str()).expect("parses");
    let json = serde_json::to_string(&pipeline).expect("serializes");
    let back = parse_document(&json).expect("round trip");
    assert_eq!(back, pipeline);
    assert_eq!(plan(&back), plan(&pipeline));
}

#[test]
fn step_transitions_follow_the_lifecycle() {
    use StepStatus::*;
    assert_eq!(Pending.transition(Running), Ok(Running));
    assert_eq!(Pending.transition(WaitingApproval), Ok(WaitingApproval));
    assert_eq!(WaitingApproval.transition(Pending), Ok(Pending));
    assert_eq!(WaitingApproval.transition(Refused), Ok(Refused));
    assert_eq!(Running.transition(Succeeded), Ok(Succeeded));
    assert!(
        Pending.transition(Succeeded).is_err(),
        "a step runs before it succeeds"
    );
    assert!(Running.transition(Skipped).is_err());
    for terminal in [Succeeded, Failed, Cancelled, Skipped, Refused] {
        for to in StepStatus::ALL {
            assert!(
                terminal.transition(*to).is_err(),
                "{terminal} is final, not {to}"
            );
        }
    }
    let err = Succeeded.transition(Running).unwrap_err();
    assert_eq!(
        err.to_string(),
        "a step cannot go from succeeded to running"
    );
}

#[test]
fn run_status_derives_from_steps() {
    use StepStatus::*;
    assert_eq!(
        RunStatus::in_flight(&[Succeeded, Running, WaitingApproval], false),
        RunStatus::Running
    );
    assert_eq!(
        RunStatus::in_flight(&[Succeeded, WaitingApproval, Pending], false),
        RunStatus::WaitingApproval
    );
    assert_eq!(
        RunStatus::in_flight(&[Running], true),
        RunStatus::Cancelling
    );
    assert_eq!(
        RunStatus::outcome(&[Succeeded, Succeeded], false),
        RunStatus::Succeeded
    );
    assert_eq!(
        RunStatus::outcome(&[Succeeded, Failed, Skipped], false),
        RunStatus::Failed
    );
    assert_eq!(
        RunStatus::outcome(&[Refused, Skipped], false),
        RunStatus::Refused
    );
    assert_eq!(
        RunStatus::outcome(&[Failed, Refused], false),
        RunStatus::Failed
    );
    assert_eq!(
        RunStatus::outcome(&[Succeeded, Cancelled], true),
        RunStatus::Cancelled
    );
    assert!(RunStatus::Succeeded.transition(RunStatus::Running).is_err());
    assert!(RunStatus::Cancelling
        .transition(RunStatus::Succeeded)
        .is_err());
    assert_eq!(
        RunStatus::Running.transition(RunStatus::WaitingApproval),
        Ok(RunStatus::WaitingApproval)
    );
}

#[test]
fn tags_follow_the_docker_grammar() {
    for good in [
        "v1",
        "1.2.3",
        "latest",
        "_x",
        "a".repeat(128).as_str(),
        "feature-x_1.0",
    ] {
        assert!(is_valid_tag(good), "{good}");
    }
    for bad in [
        "",
        "-x",
        ".x",
        "a/b",
        "a:b",
        "with space",
        "a".repeat(129).as_str(),
        "é",
    ] {
        assert!(!is_valid_tag(bad), "{bad}");
    }
}

#[test]
fn every_webhook_event_is_raised_by_exactly_one_step_status() {
    for event in conveyor_core::definition::WEBHOOK_EVENTS {
        let raising: Vec<StepStatus> = StepStatus::ALL
            .iter()
            .copied()
            .filter(|s| s.webhook_event() == Some(event))
            .collect();
        assert_eq!(raising.len(), 1, "{event} is raised by {raising:?}");
    }
    for status in StepStatus::ALL {
        if let Some(event) = status.webhook_event() {
            assert!(
                conveyor_core::definition::WEBHOOK_EVENTS.contains(&event),
                "{status} raises unknown {event}"
            );
        }
    }
}

#[test]
fn run_form_params_are_name_value_lines() {
    use conveyor_core::params::parse_param_lines;
    let params = parse_param_lines("ENV=staging\n\n# a comment\n  REPLICAS = 3\nURL=http://x/?a=b")
        .expect("parsed");
    assert_eq!(params.get("ENV").map(String::as_str), Some("staging"));
    assert_eq!(
        params.get("REPLICAS").map(String::as_str),
        Some(" 3"),
        "values are kept as typed"
    );
    assert_eq!(
        params.get("URL").map(String::as_str),
        Some("http://x/?a=b"),
        "only the first = splits"
    );
    assert_eq!(
        parse_param_lines("ENV=a\noops"),
        Err("params line 2: \"oops\" is not NAME=value".into())
    );
    assert_eq!(
        parse_param_lines("A=1\nA=2"),
        Err("params line 2: \"A\" is given twice".into())
    );
    assert!(parse_param_lines("").expect("empty").is_empty());
}

#[test]
fn code_triggers_need_a_repository_and_its_webhook_secret() {
    let paths = |source: &str| -> Vec<String> {
        check_document(source)
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|p| p.path)
            .collect()
    };
    let steps = "stages: [{name: s, steps: [{name: a, script: make}]}]";
    assert_eq!(
        paths(&format!("name: w\non: {{push: {{}}}}\n{steps}")),
        ["on"]
    );
    let bad = format!(
        "name: w\nrepository: {{url: 'not a url', credentials: 'bad name!'}}\non: {{push: {{branches: ['']}}}}\n{steps}"
    );
    assert_eq!(
        paths(&bad),
        [
            "repository.url",
            "repository.credentials",
            "repository.webhook_secret",
            "on.push.branches[0]"
        ]
    );
    let good = format!(
        "name: w\nrepository: {{url: 'https://git.example.com/t/w.git', webhook_secret: HOOK}}\non: {{push: {{branches: [main]}}, pull_request: {{types: [opened]}}, manual: true}}\nconcurrency: cancel-previous\n{steps}"
    );
    assert_eq!(paths(&good), Vec::<String>::new());
    let odd = format!("name: w\non: {{pull_request: {{types: [merged]}}}}\n{steps}");
    assert!(!paths(&odd).is_empty());
}

#[test]
fn resolved_runs_keep_where_each_step_runs_across_a_round_trip() {
    // Queued runs and re-runs of failed steps start from their stored resolved steps.
    let source = "name: r\nrunner: host\nstages:\n  - name: s\n    steps:\n      - {name: boxed, image: alpine, runner: container, script: 'true', pull: always}\n      - {name: hosted, image: alpine, script: 'true'}\n      - {name: plain, script: 'true'}\n";
    let (pipeline, plan) = conveyor_core::document::check_document(source).expect("valid");
    let run = conveyor_core::resolve::ResolvedRun::resolve(
        &pipeline,
        plan,
        "v1",
        &conveyor_core::definition::Params::new(),
    );
    use conveyor_core::definition::{PullPolicy, Runner};
    let runners: Vec<Runner> = run.steps.iter().map(|s| s.runner).collect();
    assert_eq!(runners, [Runner::Container, Runner::Host, Runner::Host]);
    assert_eq!(run.steps[0].pull, PullPolicy::Always);
    let json = serde_json::to_string(&run).expect("json");
    let back: conveyor_core::resolve::ResolvedRun = serde_json::from_str(&json).expect("back");
    assert_eq!(back, run);
    // A run stored before container steps existed ran every step on the host.
    let old = json.replace(r#""runner":"container","#, "");
    let old: conveyor_core::resolve::ResolvedRun = serde_json::from_str(&old).expect("old");
    assert_eq!(old.steps[0].runner, Runner::Host);
}

#[test]
fn a_steps_env_is_held_to_its_actions_param_rules() {
    let source = "name: r\nactions:\n  - {name: a, version: '1', script: 'true', params: {MODE: {allowed: [safe]}}}\nstages:\n  - name: s\n    steps:\n      - {name: s1, action: a@1, env: {MODE: unsafe}}\n";
    let problems = conveyor_core::document::check_document(source).expect_err("refused");
    assert_eq!(
        problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [
            r#"stages[0].steps[0].with.MODE: step "s1": param MODE = "unsafe" is not one of safe, as action "a@1" requires"#
        ]
    );
}
