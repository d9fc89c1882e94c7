//! The deployment-settings form of a workflow as flat text fields, so it posts as a plain
//! HTML form (`form[containers][3][image]=…`) and reads back without loss.
//!
//! Lists are rows keyed by any number (the browser adds and removes rows without
//! renumbering); multi-valued fields are one entry per line.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::definition::Problem;
use crate::params::{param_lines, parse_param_lines};
use crate::workflow::{
    Container, ContainerPort, DeploySpec, GitSource, ImageTarget, PvcVolume, Resources,
    ServicePort, ServiceSpec, Workflow,
};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkflowForm {
    /// The workflow's name when this updates it; empty when it creates one.
    #[serde(default)]
    pub existing: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub git_url: String,
    #[serde(default)]
    pub git_revision: String,
    #[serde(default)]
    pub git_username: String,
    #[serde(default)]
    pub git_password: String,
    #[serde(default)]
    pub image_name: String,
    #[serde(default)]
    pub image_username: String,
    #[serde(default)]
    pub image_password: String,
    /// A checkbox: the registry is reached over plain HTTP.
    #[serde(default)]
    pub image_insecure: Option<String>,
    /// A checkbox: a run may push a tag the registry already holds.
    #[serde(default)]
    pub image_overwrite_tags: Option<String>,
    /// A checkbox: present (any value) when ticked.
    #[serde(default)]
    pub auto_deploy: Option<String>,
    /// A checkbox: whether the form has a Deployment at all.
    #[serde(default)]
    pub deploy: Option<String>,
    #[serde(default)]
    pub replicas: String,
    /// How long a deploy waits for its rollout; empty for the default.
    #[serde(default)]
    pub rollout_timeout: String,
    #[serde(default)]
    pub containers: BTreeMap<u32, ContainerForm>,
    #[serde(default)]
    pub volumes: BTreeMap<u32, VolumeForm>,
    /// `ClusterIP`, `NodePort`, `LoadBalancer`, or empty for no Service.
    #[serde(default)]
    pub service_type: String,
    /// `PORT[:TARGET[:NODEPORT]]` per line.
    #[serde(default)]
    pub service_ports: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub image: String,
    /// One word per line.
    #[serde(default)]
    pub command: String,
    /// One argument per line.
    #[serde(default)]
    pub args: String,
    /// `PORT[/PROTOCOL][ NAME]` per line, e.g. `8080/TCP http`.
    #[serde(default)]
    pub ports: String,
    /// `NAME=value` per line.
    #[serde(default)]
    pub env: String,
    /// `VOLUME=/mount/path` per line.
    #[serde(default)]
    pub mounts: String,
    #[serde(default)]
    pub cpu_request: String,
    #[serde(default)]
    pub memory_request: String,
    #[serde(default)]
    pub cpu_limit: String,
    #[serde(default)]
    pub memory_limit: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VolumeForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub size: String,
    #[serde(default)]
    pub storage_class: String,
}

fn lines(items: &[String]) -> String {
    items.iter().map(|i| format!("{i}\n")).collect()
}

fn optional(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn line_list(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

impl WorkflowForm {
    /// The form for a saved workflow (its passwords arrive masked and stay so).
    pub fn of(workflow: &Workflow) -> WorkflowForm {
        let deploy = workflow.deploy.clone().unwrap_or_default();
        WorkflowForm {
            existing: workflow.name.clone(),
            name: workflow.name.clone(),
            description: workflow.description.clone().unwrap_or_default(),
            namespace: workflow.namespace.clone().unwrap_or_default(),
            git_url: workflow.git.url.clone(),
            git_revision: workflow.git.revision.clone().unwrap_or_default(),
            git_username: workflow.git.username.clone().unwrap_or_default(),
            git_password: workflow.git.password.clone().unwrap_or_default(),
            image_name: workflow.image.name.clone(),
            image_username: workflow.image.username.clone(),
            image_password: workflow.image.password.clone(),
            image_insecure: workflow.image.insecure.then(|| "on".into()),
            image_overwrite_tags: workflow.image.overwrite_tags.then(|| "on".into()),
            auto_deploy: workflow.auto_deploy.then(|| "on".into()),
            deploy: workflow.deploy.is_some().then(|| "on".into()),
            replicas: deploy.replicas.to_string(),
            rollout_timeout: deploy.rollout_timeout.clone().unwrap_or_default(),
            containers: deploy
                .containers
                .iter()
                .zip(0..)
                .map(|(c, i)| {
                    let ports = c
                        .ports
                        .iter()
                        .map(|p| {
                            let protocol = p
                                .protocol
                                .as_ref()
                                .map(|x| format!("/{x}"))
                                .unwrap_or_default();
                            let name = p.name.as_ref().map(|x| format!(" {x}")).unwrap_or_default();
                            format!("{}{protocol}{name}\n", p.port)
                        })
                        .collect();
                    let form = ContainerForm {
                        name: c.name.clone(),
                        image: c.image.clone(),
                        command: lines(&c.command),
                        args: lines(&c.args),
                        ports,
                        env: param_lines(&c.env),
                        mounts: param_lines(&c.mounts),
                        cpu_request: c.resources.cpu_request.clone().unwrap_or_default(),
                        memory_request: c.resources.memory_request.clone().unwrap_or_default(),
                        cpu_limit: c.resources.cpu_limit.clone().unwrap_or_default(),
                        memory_limit: c.resources.memory_limit.clone().unwrap_or_default(),
                    };
                    (i, form)
                })
                .collect(),
            volumes: deploy
                .volumes
                .iter()
                .zip(0..)
                .map(|(v, i)| {
                    let form = VolumeForm {
                        name: v.name.clone(),
                        size: v.size.clone(),
                        storage_class: v.storage_class.clone().unwrap_or_default(),
                    };
                    (i, form)
                })
                .collect(),
            service_type: deploy
                .service
                .as_ref()
                .map(|s| s.kind.clone().unwrap_or_else(|| "ClusterIP".into()))
                .unwrap_or_default(),
            service_ports: deploy
                .service
                .iter()
                .flat_map(|s| &s.ports)
                .map(|p| {
                    let mut line = p.port.to_string();
                    if p.target_port.is_some() || p.node_port.is_some() {
                        line.push_str(&format!(":{}", p.target_port.unwrap_or(p.port)));
                    }
                    if let Some(node) = p.node_port {
                        line.push_str(&format!(":{node}"));
                    }
                    line + "\n"
                })
                .collect(),
        }
    }

    /// A blank form with one container row, for a new workflow.
    pub fn blank() -> WorkflowForm {
        WorkflowForm {
            replicas: "1".into(),
            deploy: Some("on".into()),
            auto_deploy: Some("on".into()),
            containers: BTreeMap::from([(0, ContainerForm::default())]),
            ..WorkflowForm::default()
        }
    }

    /// The workflow the form describes; every field that does not read is a problem at its
    /// place (the workflow's own checks come after, on the server).
    pub fn to_workflow(&self) -> Result<Workflow, Vec<Problem>> {
        let mut problems = Vec::new();
        let deploy = self.deploy.is_some().then(|| {
            let replicas = self.replicas.trim().parse().unwrap_or_else(|_| {
                problems.push(Problem::new(
                    "deploy.replicas",
                    format!("\"{}\" is not a whole number", self.replicas.trim()),
                ));
                1
            });
            let containers = self
                .containers
                .values()
                .enumerate()
                .filter(|(_, c)| **c != ContainerForm::default())
                .map(|(i, c)| container(i, c, &mut problems))
                .collect();
            let volumes = self
                .volumes
                .values()
                .filter(|v| **v != VolumeForm::default())
                .map(|v| PvcVolume {
                    name: v.name.trim().to_owned(),
                    size: v.size.trim().to_owned(),
                    storage_class: optional(&v.storage_class),
                })
                .collect();
            let service = optional(&self.service_type).map(|kind| ServiceSpec {
                kind: Some(kind),
                ports: self
                    .service_ports
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .enumerate()
                    .filter_map(|(i, line)| {
                        let numbers: Result<Vec<u32>, _> =
                            line.split(':').map(|n| n.trim().parse::<u32>()).collect();
                        match numbers.as_deref() {
                            Ok([port]) => Some(ServicePort {
                                port: *port,
                                target_port: None,
                                node_port: None,
                            }),
                            Ok([port, target]) => Some(ServicePort {
                                port: *port,
                                target_port: Some(*target),
                                node_port: None,
                            }),
                            Ok([port, target, node]) => Some(ServicePort {
                                port: *port,
                                target_port: Some(*target),
                                node_port: Some(*node),
                            }),
                            _ => {
                                problems.push(Problem::new(
                                    format!("deploy.service.ports[{i}]"),
                                    format!("\"{line}\" is not PORT[:TARGET[:NODEPORT]]"),
                                ));
                                None
                            }
                        }
                    })
                    .collect(),
            });
            DeploySpec {
                replicas,
                containers,
                volumes,
                service,
                rollout_timeout: optional(&self.rollout_timeout),
            }
        });
        let workflow = Workflow {
            name: self.name.trim().to_owned(),
            description: optional(&self.description),
            namespace: optional(&self.namespace),
            git: GitSource {
                url: self.git_url.trim().to_owned(),
                revision: optional(&self.git_revision),
                username: optional(&self.git_username),
                password: (!self.git_password.is_empty()).then(|| self.git_password.clone()),
            },
            image: ImageTarget {
                name: self.image_name.trim().to_owned(),
                username: self.image_username.trim().to_owned(),
                password: self.image_password.clone(),
                insecure: self.image_insecure.is_some(),
                overwrite_tags: self.image_overwrite_tags.is_some(),
            },
            auto_deploy: self.auto_deploy.is_some(),
            deploy,
        };
        if problems.is_empty() {
            Ok(workflow)
        } else {
            Err(problems)
        }
    }
}

fn container(index: usize, form: &ContainerForm, problems: &mut Vec<Problem>) -> Container {
    let at = |field: &str| format!("deploy.containers[{index}].{field}");
    let params = |field: &str, text: &str, problems: &mut Vec<Problem>| {
        parse_param_lines(text).unwrap_or_else(|err| {
            problems.push(Problem::new(at(field), err.replace("params line", "line")));
            Default::default()
        })
    };
    let ports = form
        .ports
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let spec = words.next()?;
            let name = words.next().map(str::to_owned);
            let (port, protocol) = spec
                .split_once('/')
                .map_or((spec, None), |(p, proto)| (p, Some(proto.to_uppercase())));
            match port.parse() {
                Ok(port) if words.next().is_none() => Some(ContainerPort {
                    port,
                    name,
                    protocol,
                }),
                _ => {
                    problems.push(Problem::new(
                        at("ports"),
                        format!("\"{line}\" is not PORT[/PROTOCOL] [NAME]"),
                    ));
                    None
                }
            }
        })
        .collect();
    Container {
        name: form.name.trim().to_owned(),
        image: form.image.trim().to_owned(),
        command: line_list(&form.command),
        args: form
            .args
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_owned)
            .collect(),
        ports,
        env: params("env", &form.env, problems),
        mounts: params("mounts", &form.mounts, problems),
        resources: Resources {
            cpu_request: optional(&form.cpu_request),
            memory_request: optional(&form.memory_request),
            cpu_limit: optional(&form.cpu_limit),
            memory_limit: optional(&form.memory_limit),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"
name: shop
namespace: apps
git: {url: "https://git.example/shop.git", revision: main}
image: {name: registry.example/shop, username: bot, password: "********"}
autoDeploy: true
deploy:
  replicas: 3
  containers:
    - name: web
      image: registry.example/shop:latest
      args: ["--port", "8080", "--greeting", "hello world"]
      ports: [{port: 8080, name: http, protocol: TCP}, {port: 9090}]
      env: {MODE: prod}
      resources: {cpuRequest: 100m, memoryLimit: 256Mi}
      mounts: {data: /var/data}
    - name: cache
      image: redis:7
  volumes: [{name: data, size: 1Gi, storageClass: fast}]
  service: {type: NodePort, ports: [{port: 80, targetPort: 8080, nodePort: 30080}, {port: 443}]}
"#;

    #[test]
    fn a_workflow_survives_the_form_both_ways() {
        let workflow: Workflow = serde_yaml::from_str(DOC).unwrap();
        let form = WorkflowForm::of(&workflow);
        assert_eq!(form.containers[&0].ports, "8080/TCP http\n9090\n");
        assert_eq!(form.service_ports, "80:8080:30080\n443\n");
        assert_eq!(form.to_workflow().unwrap(), workflow);
    }

    #[test]
    fn rows_may_be_sparse_and_blank_rows_are_ignored() {
        let workflow: Workflow = serde_yaml::from_str(DOC).unwrap();
        let mut form = WorkflowForm::of(&workflow);
        let cache = form.containers.remove(&1).unwrap();
        form.containers.insert(7, cache);
        form.containers.insert(9, ContainerForm::default());
        form.volumes.insert(4, VolumeForm::default());
        assert_eq!(form.to_workflow().unwrap(), workflow);
    }

    #[test]
    fn unreadable_fields_are_problems_at_their_place() {
        let mut form = WorkflowForm::blank();
        form.replicas = "three".into();
        form.containers.insert(
            0,
            ContainerForm {
                name: "web".into(),
                ports: "http".into(),
                env: "MODE".into(),
                ..Default::default()
            },
        );
        form.service_type = "ClusterIP".into();
        form.service_ports = "80:x\n".into();
        let problems = form.to_workflow().unwrap_err();
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "deploy.replicas",
                "deploy.containers[0].ports",
                "deploy.containers[0].env",
                "deploy.service.ports[0]"
            ]
        );
        assert_eq!(problems[2].message, "line 1: \"MODE\" is not NAME=value");
    }
}
