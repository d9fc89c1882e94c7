//! A workflow document's checks: every problem with its place.

use std::collections::BTreeSet;

use super::{DeploySpec, Workflow, MAX_ROLLOUT_TIMEOUT};
use crate::check::check_dns_label;
use crate::definition::Problem;
use crate::params::check_param_names;
use crate::yaml;

/// Parses and checks a workflow document (YAML or JSON).
pub fn parse_workflow(source: &str) -> Result<Workflow, Vec<Problem>> {
    let workflow: Workflow = yaml::typed(yaml::read(source)?)?;
    let problems = check_workflow(&workflow);
    if problems.is_empty() {
        Ok(workflow)
    } else {
        Err(problems)
    }
}

/// Every problem of a workflow, each with its place.
pub fn check_workflow(workflow: &Workflow) -> Vec<Problem> {
    let mut problems = Vec::new();
    check_dns_label("name", &workflow.name, &mut problems);
    if let Some(namespace) = &workflow.namespace {
        check_dns_label("namespace", namespace, &mut problems);
    }

    let git = &workflow.git;
    let url = git.url.as_str();
    let scp_like = url.starts_with("git@") && url.contains(':');
    if !(url.starts_with("https://")
        || url.starts_with("http://")
        || url.starts_with("ssh://")
        || scp_like)
        || url.contains(char::is_whitespace)
    {
        problems.push(Problem::new(
            "git.url",
            format!("\"{url}\" is not a git URL (https://, http://, ssh:// or git@host:path)"),
        ));
    }
    let authority = url
        .split_once("://")
        .map_or("", |(_, rest)| rest.split('/').next().unwrap_or(""));
    if authority
        .split_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
    {
        problems.push(Problem::new(
            "git.url",
            "has a password in it: give it as `git.password`, which is kept encrypted, and leave it out of the URL",
        ));
    }
    if git.username.is_some() != git.password.is_some() {
        problems.push(Problem::new(
            "git",
            "give both `username` and `password`, or neither",
        ));
    }
    if git
        .revision
        .as_deref()
        .is_some_and(|r| r.is_empty() || r.starts_with('-') || r.contains(char::is_whitespace))
    {
        problems.push(Problem::new(
            "git.revision",
            "a branch, tag or commit: no spaces, not starting with '-'",
        ));
    }

    let image = &workflow.image;
    if image.name.starts_with("http://") || image.name.starts_with("https://") {
        problems.push(Problem::new(
            "image.name",
            "leave out http:// or https://: e.g. registry.example.com/org/app",
        ));
    } else if !is_repository(&image.name) {
        problems.push(Problem::new(
            "image.name",
            format!("\"{}\" is not an image repository without a tag, e.g. org/app or registry.example.com:5000/org/app", image.name),
        ));
    }
    if image.username.trim().is_empty() {
        problems.push(Problem::new(
            "image.username",
            "the registry username is required",
        ));
    }
    if image.password.is_empty() {
        problems.push(Problem::new(
            "image.password",
            "the registry password is required",
        ));
    }

    match &workflow.deploy {
        None if workflow.auto_deploy => problems.push(Problem::new(
            "deploy",
            "`autoDeploy` needs a `deploy` section",
        )),
        None => {}
        Some(deploy) => check_deploy(workflow, deploy, &mut problems),
    }
    problems
}

fn check_deploy(workflow: &Workflow, deploy: &DeploySpec, problems: &mut Vec<Problem>) {
    if deploy.replicas > 1000 {
        problems.push(Problem::new("deploy.replicas", "at most 1000"));
    }
    if let Some(text) = &deploy.rollout_timeout {
        match humantime::parse_duration(text) {
            Ok(wait)
                if wait >= std::time::Duration::from_secs(1) && wait <= MAX_ROLLOUT_TIMEOUT => {}
            Ok(_) => problems.push(Problem::new("deploy.rolloutTimeout", "from 1s to 6h")),
            Err(_) => problems.push(Problem::new(
                "deploy.rolloutTimeout",
                format!("\"{text}\" is not a duration (examples: 90s, 5m, 1h)"),
            )),
        }
    }
    if deploy.containers.is_empty() {
        problems.push(Problem::new(
            "deploy.containers",
            "name at least one container",
        ));
    }
    let volumes: BTreeSet<&str> = deploy.volumes.iter().map(|v| v.name.as_str()).collect();
    let mut names = BTreeSet::new();
    let mut container_ports = BTreeSet::new();
    for (ci, container) in deploy.containers.iter().enumerate() {
        let path = format!("deploy.containers[{ci}]");
        check_dns_label(&format!("{path}.name"), &container.name, problems);
        if !names.insert(container.name.as_str()) {
            problems.push(Problem::new(
                format!("{path}.name"),
                format!("duplicate container name \"{}\"", container.name),
            ));
        }
        if container.image.trim().is_empty() || container.image.contains(char::is_whitespace) {
            problems.push(Problem::new(
                format!("{path}.image"),
                "an image reference is required, e.g. org/app:1.0",
            ));
        }
        let mut ports = BTreeSet::new();
        for (pi, port) in container.ports.iter().enumerate() {
            let at = format!("{path}.ports[{pi}]");
            if !(1..=65535).contains(&port.port) {
                problems.push(Problem::new(format!("{at}.port"), "a port is 1-65535"));
            }
            if !ports.insert((port.port, port.protocol.clone())) {
                problems.push(Problem::new(
                    format!("{at}.port"),
                    format!("port {} is listed twice", port.port),
                ));
            }
            if port
                .protocol
                .as_deref()
                .is_some_and(|p| p != "TCP" && p != "UDP")
            {
                problems.push(Problem::new(format!("{at}.protocol"), "TCP or UDP"));
            }
            container_ports.insert(port.port);
        }
        check_param_names(&format!("{path}.env"), &container.env, problems);
        for (field, value) in [
            ("cpuRequest", &container.resources.cpu_request),
            ("memoryRequest", &container.resources.memory_request),
            ("cpuLimit", &container.resources.cpu_limit),
            ("memoryLimit", &container.resources.memory_limit),
        ] {
            if let Some(value) = value.as_deref().filter(|v| !is_quantity(v)) {
                problems.push(Problem::new(
                    format!("{path}.resources.{field}"),
                    format!("\"{value}\" is not a quantity, e.g. 500m, 1, 256Mi, 1Gi"),
                ));
            }
        }
        for (volume, mount_path) in &container.mounts {
            if !volumes.contains(volume.as_str()) {
                problems.push(Problem::new(
                    format!("{path}.mounts.{volume}"),
                    format!("no volume \"{volume}\" under deploy.volumes"),
                ));
            }
            if !mount_path.starts_with('/') {
                problems.push(Problem::new(
                    format!("{path}.mounts.{volume}"),
                    "the mount path must be absolute",
                ));
            }
        }
    }
    let mut volume_names = BTreeSet::new();
    for (vi, volume) in deploy.volumes.iter().enumerate() {
        let path = format!("deploy.volumes[{vi}]");
        check_dns_label(&format!("{path}.name"), &volume.name, problems);
        if !volume_names.insert(volume.name.as_str()) {
            problems.push(Problem::new(
                format!("{path}.name"),
                format!("duplicate volume name \"{}\"", volume.name),
            ));
        }
        if !is_quantity(&volume.size) {
            problems.push(Problem::new(
                format!("{path}.size"),
                format!("\"{}\" is not a size, e.g. 1Gi", volume.size),
            ));
        }
    }
    if let Some(service) = &deploy.service {
        if service
            .kind
            .as_deref()
            .is_some_and(|k| !["ClusterIP", "NodePort", "LoadBalancer"].contains(&k))
        {
            problems.push(Problem::new(
                "deploy.service.type",
                "ClusterIP, NodePort or LoadBalancer",
            ));
        }
        if service.ports.is_empty() {
            problems.push(Problem::new(
                "deploy.service.ports",
                "name at least one port",
            ));
        }
        for (pi, port) in service.ports.iter().enumerate() {
            let at = format!("deploy.service.ports[{pi}]");
            if !(1..=65535).contains(&port.port) {
                problems.push(Problem::new(format!("{at}.port"), "a port is 1-65535"));
            }
            let target = port.target_port.unwrap_or(port.port);
            if !container_ports.contains(&target) {
                problems.push(Problem::new(
                    format!("{at}.targetPort"),
                    format!("no container lists port {target}"),
                ));
            }
            if let Some(node_port) = port.node_port {
                if service.kind.as_deref() == Some("ClusterIP") || service.kind.is_none() {
                    problems.push(Problem::new(
                        format!("{at}.nodePort"),
                        "only with type NodePort or LoadBalancer",
                    ));
                } else if !(30000..=32767).contains(&node_port) {
                    problems.push(Problem::new(
                        format!("{at}.nodePort"),
                        "node ports are 30000-32767",
                    ));
                }
            }
        }
    }
    if workflow.auto_deploy
        && !deploy
            .containers
            .iter()
            .any(|c| c.image.contains(&workflow.image.name))
    {
        problems.push(Problem::new(
            "deploy.containers",
            format!(
                "no container image contains \"{}\", so deploying a new tag would change nothing",
                workflow.image.name
            ),
        ));
    }
}

/// `[host[:port]/]path` with lowercase path components and no tag or digest.
fn is_repository(name: &str) -> bool {
    let mut parts: Vec<&str> = name.split('/').collect();
    if parts.len() > 1
        && (parts[0].contains('.') || parts[0].contains(':') || parts[0] == "localhost")
    {
        let host = parts.remove(0);
        let (host_name, port) = host.split_once(':').unwrap_or((host, "0"));
        if host_name.is_empty()
            || !host_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
            || port.parse::<u16>().is_err()
        {
            return false;
        }
    }
    !parts.is_empty()
        && parts.iter().all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && part.as_bytes()[0].is_ascii_alphanumeric()
                && part.as_bytes()[part.len() - 1].is_ascii_alphanumeric()
        })
}

/// A Kubernetes quantity in the forms people write: `500m`, `1`, `0.5`, `256Mi`, `1G`.
fn is_quantity(value: &str) -> bool {
    let digits_end = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let (number, suffix) = value.split_at(digits_end);
    !number.is_empty()
        && number.parse::<f64>().is_ok()
        && [
            "", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei",
        ]
        .contains(&suffix)
}
