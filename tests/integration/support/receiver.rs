//! A webhook receiver on 127.0.0.1:0 that records every call it gets.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use tokio::sync::mpsc;

#[derive(Debug)]
pub struct Call {
    pub path: String,
    pub event_header: String,
    pub body: serde_json::Value,
}

pub struct Receiver {
    pub addr: SocketAddr,
    pub calls: mpsc::UnboundedReceiver<Call>,
}

/// A webhook receiver answering with `answers` in order (then 200), or never for `/hang`.
pub async fn receiver(answers: Vec<u16>) -> Receiver {
    type Shared = (
        mpsc::UnboundedSender<Call>,
        Arc<Mutex<std::vec::IntoIter<u16>>>,
    );
    async fn hook(
        State((calls, answers)): State<Shared>,
        Path(path): Path<String>,
        headers: HeaderMap,
        Json(body): Json<serde_json::Value>,
    ) -> StatusCode {
        let event_header = headers
            .get("x-conveyor-event")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let _ = calls.send(Call {
            path: path.clone(),
            event_header,
            body,
        });
        if path == "hang" {
            std::future::pending::<()>().await;
        }
        let answer = answers.lock().expect("lock").next().unwrap_or(200);
        StatusCode::from_u16(answer).expect("status")
    }
    let (tx, calls) = mpsc::unbounded_channel();
    let shared: Shared = (tx, Arc::new(Mutex::new(answers.into_iter())));
    let router = Router::new()
        .route("/{*path}", post(hook))
        .with_state(shared);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await.expect("receiver") });
    Receiver { addr, calls }
}
