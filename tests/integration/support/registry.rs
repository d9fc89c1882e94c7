//! A real registry for the tests: Debian's `docker-registry` (the CNCF distribution
//! registry) on 127.0.0.1, on a port it picks, with passwords in an htpasswd file.

use std::process::Stdio;

use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub struct Registry {
    /// `127.0.0.1:PORT`, as image names start.
    pub host: String,
    pub username: String,
    pub password: String,
    _process: Child,
    _dir: TempDir,
}

impl Registry {
    /// Starts one and waits until it listens.
    pub async fn start() -> Registry {
        let dir = tempfile::tempdir().expect("temp dir");
        let (username, password) = (
            "ci".to_owned(),
            format!("pw-{}", conveyor::auth::random_text(10)),
        );
        let htpasswd = Command::new("htpasswd")
            .args(["-Bbn", &username, &password])
            .output()
            .await
            .expect("htpasswd (apache2-utils, installed by scripts/setup.sh --test)");
        assert!(htpasswd.status.success(), "htpasswd");
        std::fs::write(dir.path().join("htpasswd"), &htpasswd.stdout).expect("htpasswd file");
        let config = format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {root}/data\n\
             http:\n  addr: 127.0.0.1:0\nauth:\n  htpasswd:\n    realm: conveyor-tests\n    path: {root}/htpasswd\n",
            root = dir.path().display()
        );
        std::fs::write(dir.path().join("config.yml"), config).expect("config");
        let mut process = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("docker-registry (installed by scripts/setup.sh --test)");
        let mut lines = BufReader::new(process.stderr.take().expect("stderr")).lines();
        let host = loop {
            let line = lines
                .next_line()
                .await
                .expect("registry log")
                .expect("the registry stopped before it listened");
            if let Some(rest) = line.split("msg=\"listening on ").nth(1) {
                break rest.split('"').next().unwrap_or_default().to_owned();
            }
        };
        // Keep reading its log, so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Registry {
            host,
            username,
            password,
            _process: process,
            _dir: dir,
        }
    }

    /// The digest the registry holds for `repository:tag`, read from its API.
    pub async fn digest(&self, repository: &str, tag: &str) -> Option<String> {
        let response = reqwest::Client::new()
            .head(format!("http://{}/v2/{repository}/manifests/{tag}", self.host))
            .basic_auth(&self.username, Some(&self.password))
            .header(
                "Accept",
                "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json",
            )
            .send()
            .await
            .expect("registry answers");
        if !response.status().is_success() {
            return None;
        }
        response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// Pushes a local image into it as `repository:tag`.
    pub async fn push(&self, local: &str, repository: &str, tag: &str) {
        let output = Command::new("podman")
            .args(["push", "--quiet", "--tls-verify=false", "--creds"])
            .arg(format!("{}:{}", self.username, self.password))
            .arg(local)
            .arg(format!("{}/{repository}:{tag}", self.host))
            .output()
            .await
            .expect("podman push");
        assert!(
            output.status.success(),
            "push: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
