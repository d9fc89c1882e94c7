//! What the benchmarks share: a client acting as the first admin (with a token, as a
//! script would), and reading a run's event stream to its end.

use std::sync::Arc;

use conveyor::service::Service;
use futures::StreamExt;

/// A client whose every request carries a new admin token of the first admin.
pub async fn admin_client(service: &Arc<Service>) -> reqwest::Client {
    let admin = service
        .accounts()
        .account(conveyor::service::FIRST_ADMIN)
        .await
        .expect("the first admin");
    let token = service
        .accounts()
        .create_token(
            &conveyor::service::principal(&admin),
            None,
            "benchmark",
            conveyor_core::access::Scope::Admin,
            None,
        )
        .await
        .expect("a token")
        .token;
    let mut headers = reqwest::header::HeaderMap::new();
    let bearer = format!("Bearer {token}").parse().expect("header");
    headers.insert(reqwest::header::AUTHORIZATION, bearer);
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("client")
}

/// Reads a run's events until its `end`; the text read.
pub async fn until_end(client: &reqwest::Client, base: &str, run: i64) -> String {
    let mut events = client
        .get(format!("{base}/api/v1/runs/{run}/events"))
        .send()
        .await
        .expect("events")
        .bytes_stream();
    let mut seen = String::new();
    while let Some(chunk) = events.next().await {
        seen.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
        if seen.contains("event: end") {
            break;
        }
    }
    seen
}
