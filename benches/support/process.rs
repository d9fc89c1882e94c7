//! The release server as its own process (as in production) for benchmarks that measure
//! it from outside: started on a data directory with an admin token for its client.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub struct Server {
    child: Child,
    pub base: String,
    pub client: reqwest::Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the server on `data` with `args` besides; stops it when dropped.
pub fn start_server(data: &Path, args: &[&str]) -> Server {
    let exe = env!("CARGO_BIN_EXE_conveyor");
    let mut child = Command::new(exe)
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the server starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let base = loop {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).expect("read") > 0,
            "the server exited"
        );
        if let Some(url) = line.trim().strip_prefix("conveyor listening on ") {
            break url.to_owned();
        }
    };
    // Its output is read on, so that a full pipe never stops it.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
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
        .expect("token create");
    assert!(token.status.success());
    let token = String::from_utf8(token.stdout).expect("utf-8");
    let mut headers = reqwest::header::HeaderMap::new();
    let bearer = format!("Bearer {}", token.trim()).parse().expect("header");
    headers.insert(reqwest::header::AUTHORIZATION, bearer);
    let client = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("client");
    Server {
        child,
        base,
        client,
    }
}

/// The run as `GET /api/v1/runs/{id}` shows it.
pub async fn run_detail(server: &Server, id: i64) -> serde_json::Value {
    server
        .client
        .get(format!("{}/api/v1/runs/{id}", server.base))
        .send()
        .await
        .expect("run")
        .json()
        .await
        .expect("json")
}

/// Bytes of the files under `path`.
pub fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path).map_or(0, |entries| {
        entries
            .flatten()
            .map(|entry| {
                let meta = entry.metadata().expect("metadata");
                if meta.is_dir() {
                    dir_size(&entry.path())
                } else {
                    meta.len()
                }
            })
            .sum()
    })
}
