//! Secrets as definitions name them, and masking their values.

use conveyor_core::document::check_document;
use conveyor_core::secrets::{check_secret_value, is_secret_name, Masker, MASK};

#[test]
fn a_step_names_its_secrets_and_where_they_go() {
    let (pipeline, _) = check_document(
        "name: p\nstages: [{name: s, steps: [{name: a, script: x, secrets: [DEPLOY_TOKEN, {name: NPM_TOKEN, env: NODE_AUTH_TOKEN}]}]}]",
    )
    .expect("valid");
    let uses = &pipeline.stages[0].steps[0].secrets;
    let variables: Vec<(&str, &str)> = uses
        .iter()
        .map(|u| (u.name.as_str(), u.variable()))
        .collect();
    assert_eq!(
        variables,
        [
            ("DEPLOY_TOKEN", "DEPLOY_TOKEN"),
            ("NPM_TOKEN", "NODE_AUTH_TOKEN")
        ]
    );
}

#[test]
fn bad_secret_uses_are_problems_at_their_place() {
    let cases = [
        (
            "[lower]",
            "stages[0].steps[0].secrets[0]",
            "not a secret name",
        ),
        (
            "[A, A]",
            "stages[0].steps[0].secrets[1]",
            "given by stages[0].steps[0].secrets[0] already",
        ),
        (
            "[{name: A, env: '1x'}]",
            "stages[0].steps[0].secrets[0].env",
            "not a valid variable name",
        ),
        (
            "[{name: A, env: CONVEYOR_X}]",
            "stages[0].steps[0].secrets[0].env",
            "reserved",
        ),
        (
            "[{env: X}]",
            "stages[0].steps[0].secrets[0]",
            "a secret is its NAME",
        ),
    ];
    for (secrets, path, wanted) in cases {
        let source = format!(
            "name: p\nstages: [{{name: s, steps: [{{name: a, script: x, secrets: {secrets}}}]}}]"
        );
        let problems = check_document(&source).expect_err(secrets);
        assert!(
            problems
                .iter()
                .any(|p| p.path.starts_with(path) && p.message.contains(wanted)),
            "{secrets}: {problems:?}"
        );
    }
    let clash =
        "name: p\nstages: [{name: s, steps: [{name: a, script: x, env: {A: b}, secrets: [A]}]}]";
    let problems = check_document(clash).expect_err("clash");
    assert!(
        problems[0].message.contains("also set by the step's env"),
        "{problems:?}"
    );
}

#[test]
fn names_and_values() {
    assert!(is_secret_name("DEPLOY_TOKEN_2"));
    assert!(!is_secret_name("2X") && !is_secret_name("a") && !is_secret_name(""));
    assert!(check_secret_value("abc").is_err(), "too short to mask");
    assert!(check_secret_value(&"x".repeat(64 * 1024 + 1)).is_err());
    assert!(check_secret_value("s3cret").is_ok());
}

#[test]
fn values_are_masked_whole_and_line_by_line() {
    let masker = Masker::new([
        "hunter22",
        "-----BEGIN KEY-----\nAAAABBBB\n-----END KEY-----\n",
        "abc",
    ]);
    assert_eq!(
        masker.mask("token=hunter22; again hunter22"),
        format!("token={MASK}; again {MASK}")
    );
    assert_eq!(
        masker.mask("AAAABBBB"),
        MASK,
        "each line of a multi-line value"
    );
    assert_eq!(
        masker.mask("nothing here: abc"),
        "nothing here: abc",
        "too short to be a secret"
    );
    assert_eq!(
        masker.longest(),
        "-----BEGIN KEY-----\nAAAABBBB\n-----END KEY-----".len()
    );
    let bytes = masker.mask_bytes(b"x hunter22 y").expect("masked");
    assert_eq!(bytes, format!("x {MASK} y").into_bytes());
    assert!(masker.mask_bytes(b"clean").is_none());
    assert!(Masker::new(Vec::<&str>::new()).is_empty());
}
