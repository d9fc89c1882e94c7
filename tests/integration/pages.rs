//! What the browser reads back from the server: run events under their SSE names, and the
//! run page's button names as the `run_control` server function reads them.

use app::api::dto::RunAct;
use app::live::{decode_event, Incoming};
use conveyor_core::run::{EventBody, LogBatch, LogStream, RunEvent, RunStatus, StepStatus};

/// Every kind of event reads back as the server wrote it, under its SSE name.
#[test]
fn events_read_back_under_their_sse_names() {
    let batch = LogBatch {
        seq: 7,
        ts: 1_700_000_000_000,
        step: "build".to_string(),
        line: 3,
        stream: LogStream::Stderr,
        lines: vec![
            "\u{1b}[31mred".into(),
            String::new(),
            "\"quoted\" \\ é".into(),
        ],
        partial: vec![0],
        times: vec![(2, 1_700_000_000_009)],
    };
    let data = serde_json::to_string(&batch).unwrap();
    assert_eq!(
        decode_event("logs", &data),
        Some(Incoming::Lines(batch)),
        "{data}"
    );
    let events = [
        EventBody::Step {
            step: "build".into(),
            status: StepStatus::Failed,
            exit_code: Some(2),
            message: Some("exit 2".into()),
        },
        EventBody::Step {
            step: "test".into(),
            status: StepStatus::Running,
            exit_code: None,
            message: None,
        },
        EventBody::Run {
            status: RunStatus::Running,
            message: None,
        },
        EventBody::Run {
            status: RunStatus::Failed,
            message: Some("step build failed".into()),
        },
    ];
    for (seq, body) in events.into_iter().enumerate() {
        let event = RunEvent {
            seq: seq as i64 + 1,
            ts: 1_700_000_000_000 + seq as i64,
            body,
        };
        let data = serde_json::to_string(&event).unwrap();
        assert_eq!(
            decode_event(event.sse_name(), &data),
            Some(Incoming::Event(event.clone())),
            "{data}"
        );
    }
    assert_eq!(
        decode_event(
            "logs",
            r#"{"seq":1,"ts":2,"type":"run","status":"running"}"#
        ),
        None
    );
    assert_eq!(decode_event("other", "{}"), None);
}

/// The name a form posts is the one the server function reads back.
#[test]
fn run_acts_post_under_their_serde_names() {
    for act in [
        RunAct::Cancel,
        RunAct::Rerun,
        RunAct::RetryFailed,
        RunAct::Approve,
        RunAct::Refuse,
    ] {
        assert_eq!(
            serde_json::to_string(&act).unwrap(),
            format!("\"{}\"", act.as_str())
        );
        assert_eq!(
            serde_json::from_str::<RunAct>(&format!("\"{}\"", act.as_str())).unwrap(),
            act
        );
    }
}
