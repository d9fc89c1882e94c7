//! The server as its own process (the binary the tests build), for what only a process can
//! show: a `kill -9` at any moment, then a restart on the same data directory.

use std::path::Path;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

use super::{client_with, SseReader};

pub struct ServerProcess {
    pub child: Child,
    pub base: String,
    pub client: reqwest::Client,
}

impl ServerProcess {
    /// Starts `conveyor serve` on 127.0.0.1:0 over `data`, with `env` added, and makes an
    /// admin token on the server's shell.
    pub async fn start(data: &Path, env: &[(&str, &str)]) -> ServerProcess {
        let exe = env!("CARGO_BIN_EXE_conveyor");
        let mut child = Command::new(exe)
            .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the server starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let base = loop {
            let mut line = String::new();
            assert!(
                stdout.read_line(&mut line).await.expect("read") > 0,
                "the server exited before listening"
            );
            if let Some(url) = line.trim().strip_prefix("conveyor listening on ") {
                break url.to_owned();
            }
        };
        // Its log is read on as it comes: a full pipe would stop it.
        tokio::spawn(async move {
            let mut rest = Vec::new();
            let _ = stdout.read_to_end(&mut rest).await;
        });
        let token = Command::new(exe)
            .args([
                "token",
                "create",
                "--user",
                "admin",
                "--scope",
                "admin",
                "--data-dir",
            ])
            .arg(data)
            .output()
            .await
            .expect("token create");
        assert!(
            token.status.success(),
            "{}",
            String::from_utf8_lossy(&token.stderr)
        );
        let token = String::from_utf8_lossy(&token.stdout).trim().to_owned();
        ServerProcess {
            child,
            base,
            client: client_with(Some(&token)),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `kill -9`, and waits for the process to be gone.
    pub async fn kill(mut self) {
        self.child.kill().await.expect("killed");
    }

    pub async fn create_pipeline(&self, source: &str) {
        let response = self
            .client
            .post(self.url("/api/v1/pipelines"))
            .body(source.to_owned())
            .send()
            .await
            .expect("create");
        assert_eq!(response.status(), 201);
    }

    pub async fn start_run(&self, pipeline: &str) -> i64 {
        let response = self
            .client
            .post(self.url(&format!("/api/v1/pipelines/{pipeline}/runs")))
            .json(&serde_json::json!({"tag": "v1"}))
            .send()
            .await
            .expect("run");
        assert_eq!(response.status(), 201);
        let body: serde_json::Value = response.json().await.expect("json");
        body["id"].as_i64().expect("id")
    }

    pub async fn events(&self, run: i64) -> SseReader {
        let response = self
            .client
            .get(self.url(&format!("/api/v1/runs/{run}/events")))
            .send()
            .await
            .expect("events");
        assert_eq!(response.status(), 200);
        SseReader::new(response)
    }
}
