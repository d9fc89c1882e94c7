//! Build → push → deploy workflows (seed 000): the document, its checks, the image rule.

use conveyor_core::workflow::{parse_workflow, ImageChange, KEPT_SECRET};

const GOOD: &str = r#"
name: singlecloud
git: {url: "https://github.com/zdnscloud/singlecloud.git", revision: master}
image: {name: zdnscloud/singlecloud, username: bot, password: s3cret}
autoDeploy: true
deploy:
  replicas: 2
  containers:
    - name: api
      image: zdnscloud/singlecloud:v1.0
      ports: [{port: 80}]
      env: {LOG_LEVEL: debug}
      resources: {cpuRequest: 100m, memoryLimit: 256Mi}
      mounts: {data: /var/lib/singlecloud}
    - name: proxy
      image: nginx:1.27
  volumes: [{name: data, size: 1Gi}]
  service: {type: NodePort, ports: [{port: 8080, targetPort: 80, nodePort: 30080}]}
"#;

fn problems(source: &str) -> Vec<String> {
    match parse_workflow(source) {
        Ok(_) => Vec::new(),
        Err(problems) => problems.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn a_seed_style_workflow_is_accepted() {
    let workflow = parse_workflow(GOOD).expect("valid");
    assert_eq!(workflow.image_ref("v1.2"), "zdnscloud/singlecloud:v1.2");
    assert_eq!(workflow.deploy.as_ref().map(|d| d.replicas), Some(2));
}

#[test]
fn deploying_a_tag_replaces_only_the_workflows_own_images() {
    let workflow = parse_workflow(GOOD).expect("valid");
    let (deploy, changes) = workflow.deploy_for_tag("v2.0").expect("deploy");
    assert_eq!(deploy.containers[0].image, "zdnscloud/singlecloud:v2.0");
    assert_eq!(deploy.containers[1].image, "nginx:1.27");
    assert_eq!(
        changes,
        [ImageChange {
            container: "api".into(),
            from: "zdnscloud/singlecloud:v1.0".into(),
            to: "zdnscloud/singlecloud:v2.0".into()
        }]
    );
    assert_eq!(
        workflow
            .deploy
            .as_ref()
            .map(|d| d.containers[0].image.as_str()),
        Some("zdnscloud/singlecloud:v1.0"),
        "the definition is unchanged"
    );
}

#[test]
fn credentials_are_split_off_before_anything_is_stored() {
    let source = GOOD.replace(
        "revision: master}",
        "revision: master, username: git-bot, password: gitpass}",
    );
    let workflow = parse_workflow(&source).expect("valid");
    let (shown, credentials) = workflow.split_credentials();
    assert_eq!(credentials.registry_password, "s3cret");
    assert_eq!(credentials.git_password.as_deref(), Some("gitpass"));
    let stored = serde_json::to_string(&shown).expect("json");
    assert!(
        !stored.contains("s3cret") && !stored.contains("gitpass"),
        "{stored}"
    );
    assert_eq!(shown.image.password, KEPT_SECRET);
    assert_eq!(shown.image.username, "bot", "usernames are not secret");
    let debug = format!("{workflow:?} {credentials:?}");
    assert!(
        !debug.contains("s3cret") && !debug.contains("gitpass"),
        "passwords in Debug output: {debug}"
    );
}

#[test]
fn bad_workflows_get_exact_messages_with_their_place() {
    let cases: &[(&str, &str, &str)] = &[
        ("name: singlecloud", "name: Single_Cloud", "name: \"Single_Cloud\" is not a valid name: use 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit"),
        ("url: \"https://github.com/zdnscloud/singlecloud.git\"", "url: \"ftp://example.com/repo\"", "git.url: \"ftp://example.com/repo\" is not a git URL (https://, http://, ssh:// or git@host:path)"),
        ("url: \"https://github.com/zdnscloud/singlecloud.git\"", "url: \"https://bot:hunter2@github.com/zdnscloud/singlecloud.git\"", "git.url: has a password in it: give it as `git.password`, which is kept encrypted, and leave it out of the URL"),
        ("revision: master}", "revision: master, username: bot}", "git: give both `username` and `password`, or neither"),
        ("name: zdnscloud/singlecloud,", "name: https://zdnscloud/singlecloud,", "image.name: leave out http:// or https://: e.g. registry.example.com/org/app"),
        ("name: zdnscloud/singlecloud,", "name: zdnscloud/singlecloud:v1,", "image.name: \"zdnscloud/singlecloud:v1\" is not an image repository without a tag, e.g. org/app or registry.example.com:5000/org/app"),
        ("password: s3cret}", "password: \"\"}", "image.password: the registry password is required"),
        ("ports: [{port: 80}]", "ports: [{port: 80}, {port: 80}]", "deploy.containers[0].ports[1].port: port 80 is listed twice"),
        ("ports: [{port: 80}]", "ports: [{port: 70000}]", "deploy.containers[0].ports[0].port: a port is 1-65535"),
        ("cpuRequest: 100m", "cpuRequest: lots", "deploy.containers[0].resources.cpuRequest: \"lots\" is not a quantity, e.g. 500m, 1, 256Mi, 1Gi"),
        ("mounts: {data: /var/lib/singlecloud}", "mounts: {logs: /var/log}", "deploy.containers[0].mounts.logs: no volume \"logs\" under deploy.volumes"),
        ("name: proxy", "name: api", "deploy.containers[1].name: duplicate container name \"api\""),
        ("nodePort: 30080", "nodePort: 80", "deploy.service.ports[0].nodePort: node ports are 30000-32767"),
        ("targetPort: 80,", "targetPort: 81,", "deploy.service.ports[0].targetPort: no container lists port 81"),
        ("size: 1Gi", "size: big", "deploy.volumes[0].size: \"big\" is not a size, e.g. 1Gi"),
        ("image: zdnscloud/singlecloud:v1.0", "image: other/app:v1.0", "deploy.containers: no container image contains \"zdnscloud/singlecloud\", so deploying a new tag would change nothing"),
        ("replicas: 2", "replicas: 2\n  replica: 3", "deploy.replica: unknown field `replica`, expected one of `replicas`, `containers`, `volumes`, `service`, `rolloutTimeout`"),
        ("replicas: 2", "replicas: 2\n  rolloutTimeout: soon", "deploy.rolloutTimeout: \"soon\" is not a duration (examples: 90s, 5m, 1h)"),
        ("replicas: 2", "replicas: 2\n  rolloutTimeout: 7h", "deploy.rolloutTimeout: from 1s to 6h"),
        ("LOG_LEVEL: debug", "9LOG: debug", "deploy.containers[0].env: \"9LOG\" is not a valid variable name (letters, digits and '_', not starting with a digit)"),
    ];
    assert_eq!(problems(GOOD), Vec::<String>::new());
    for (from, to, wanted) in cases {
        assert!(GOOD.contains(from), "case text not in GOOD: {from}");
        let source = GOOD.replacen(from, to, 1);
        let found = problems(&source);
        assert!(
            found.iter().any(|p| p == wanted),
            "for `{to}` wanted\n  {wanted}\ngot\n  {found:?}"
        );
    }
    let no_deploy = GOOD.split("deploy:\n").next().expect("head").to_owned();
    assert_eq!(
        problems(&no_deploy),
        ["deploy: `autoDeploy` needs a `deploy` section"]
    );
    assert_eq!(
        problems(&no_deploy.replace("autoDeploy: true", "autoDeploy: false")),
        Vec::<String>::new(),
        "build-only workflows need no deploy"
    );
}

#[test]
fn a_registry_over_plain_http_is_pushed_to_without_tls_by_kaniko() {
    let build_args = |source: &str| -> Vec<String> {
        let pipeline = parse_workflow(source).expect("valid").pipeline();
        let build = pipeline
            .stages
            .iter()
            .flat_map(|s| &s.steps)
            .find(|s| s.name == "build")
            .expect("build step")
            .clone();
        build.args
    };
    let secure = build_args(GOOD);
    assert!(
        !secure.iter().any(|a| a.starts_with("--insecure")),
        "{secure:?}"
    );
    let insecure = GOOD.replace("password: s3cret}", "password: s3cret, insecure: true}");
    assert_ne!(insecure, GOOD, "the fixture names its registry password");
    let args = build_args(&insecure);
    assert_eq!(args[args.len() - 2..], ["--insecure", "--skip-tls-verify"]);
}
