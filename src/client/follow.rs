//! Following a run's event stream to its end: lines as they come (each step's name in a
//! colour of its own on a terminal), step changes, the outcome. A dropped connection is
//! opened again with `Last-Event-ID`, so no line is lost or printed twice.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use conveyor_core::run::{EventBody, LogBatch, LogStream, RunEvent, RunStatus};
use eventsource_stream::Eventsource;
use futures::StreamExt;

use super::{reach_error, refusal, Api, CliError, CliResult, Output};

/// Connections opened again in a row before giving up.
const ATTEMPTS: u32 = 30;

/// How lines are shown.
struct Printer {
    colour: bool,
    json: bool,
    /// Only this step's lines and changes.
    only: Option<String>,
    /// Colour of each step seen, by name.
    colours: Vec<String>,
}

const PALETTE: [&str; 6] = ["36", "35", "33", "32", "34", "96"];

impl Printer {
    fn paint(&mut self, step: &str) -> String {
        if !self.colour {
            return step.to_owned();
        }
        let index = match self.colours.iter().position(|s| s == step) {
            Some(index) => index,
            None => {
                self.colours.push(step.to_owned());
                self.colours.len() - 1
            }
        };
        format!("\x1b[{}m{step}\x1b[0m", PALETTE[index % PALETTE.len()])
    }

    fn wanted(&self, step: &str) -> bool {
        self.only.as_deref().is_none_or(|only| only == step)
    }

    fn lines(&mut self, out: &mut impl Write, batch: LogBatch) -> std::io::Result<()> {
        if !self.wanted(&batch.step) {
            return Ok(());
        }
        let prefix = if self.only.is_some() {
            String::new()
        } else {
            format!("{} │ ", self.paint(&batch.step))
        };
        for (index, text) in batch.lines.iter().enumerate() {
            let text = match (self.colour, batch.stream) {
                (true, LogStream::Stderr) => format!("\x1b[31m{text}\x1b[0m"),
                (true, LogStream::System) => format!("\x1b[2m{text}\x1b[0m"),
                _ => text.clone(),
            };
            let end = if batch.partial.contains(&(index as u32)) {
                ""
            } else {
                "\n"
            };
            write!(out, "{prefix}{text}{end}")?;
        }
        Ok(())
    }

    fn change(&mut self, out: &mut impl Write, event: &RunEvent) -> std::io::Result<()> {
        let dim = |text: String, colour: bool| {
            if colour {
                format!("\x1b[2m{text}\x1b[0m")
            } else {
                text
            }
        };
        match &event.body {
            EventBody::Step {
                step,
                status,
                exit_code,
                message,
            } if self.wanted(step) => {
                let mut text = format!("── {step}: {}", status.as_str().replace('_', " "));
                if let Some(code) = exit_code {
                    text.push_str(&format!(" (exit {code})"));
                }
                if let Some(message) = message {
                    text.push_str(&format!(": {message}"));
                }
                writeln!(out, "{}", dim(text, self.colour))
            }
            EventBody::Run { status, message } => {
                let mut text = format!("── run {}", status.as_str().replace('_', " "));
                if let Some(message) = message {
                    text.push_str(&format!(": {message}"));
                }
                writeln!(out, "{}", dim(text, self.colour))
            }
            _ => Ok(()),
        }
    }
}

/// Prints a run's events from the start until its end; the run's final status.
pub(super) async fn follow(api: &Api, run: i64, only: Option<String>) -> CliResult<RunStatus> {
    let stdout = std::io::stdout();
    let mut printer = Printer {
        colour: api.output == Output::Text
            && stdout.is_terminal()
            && std::env::var_os("NO_COLOR").is_none(),
        json: api.output == Output::Json,
        only,
        colours: Vec::new(),
    };
    let broken = |err: std::io::Error| CliError::new(format!("cannot write the log: {err}"));
    let mut last_id: Option<String> = None;
    let mut failures = 0;
    loop {
        let mut request = api
            .http
            .get(api.url(&format!("/runs/{run}/events")))
            .bearer_auth(&api.token);
        if let Some(id) = &last_id {
            request = request.header("Last-Event-ID", id);
        }
        let why = match request.send().await {
            Ok(response) if response.status().is_success() => {
                let mut events = response.bytes_stream().eventsource();
                let mut why = "the stream ended before the run did".to_owned();
                while let Some(event) = events.next().await {
                    let event = match event {
                        Ok(event) => event,
                        Err(err) => {
                            why = err.to_string();
                            break;
                        }
                    };
                    failures = 0;
                    if !event.id.is_empty() {
                        last_id = Some(event.id.clone());
                    }
                    let mut out = stdout.lock();
                    if printer.json && !event.event.is_empty() {
                        let data: serde_json::Value =
                            serde_json::from_str(&event.data).unwrap_or(serde_json::Value::Null);
                        let line = serde_json::json!({"event": event.event, "data": data});
                        writeln!(out, "{line}").map_err(broken)?;
                    }
                    match event.event.as_str() {
                        "logs" if !printer.json => {
                            if let Ok(batch) = serde_json::from_str::<LogBatch>(&event.data) {
                                printer.lines(&mut out, batch).map_err(broken)?;
                            }
                        }
                        "step" | "run" | "end" => {
                            let Ok(change) = serde_json::from_str::<RunEvent>(&event.data) else {
                                continue;
                            };
                            if !printer.json {
                                printer.change(&mut out, &change).map_err(broken)?;
                            }
                            if let EventBody::Run { status, .. } = change.body {
                                if event.event == "end" {
                                    out.flush().map_err(broken)?;
                                    return Ok(status);
                                }
                            }
                        }
                        _ => {}
                    }
                    out.flush().map_err(broken)?;
                }
                why
            }
            // Refused (no such run, a revoked token): said as the API words it.
            Ok(response) => return Err(refusal(response).await),
            Err(err) => format!("cannot reach {}: {}", api.base, reach_error(&err)),
        };
        failures += 1;
        if failures > ATTEMPTS {
            return Err(CliError::new(format!("gave up following run {run}: {why}")));
        }
        if api.output == Output::Text {
            eprintln!("conveyor: {why}; reconnecting");
        }
        tokio::time::sleep(Duration::from_millis(200 * u64::from(failures.min(10)))).await;
    }
}

#[cfg(test)]
mod tests {
    use super::Printer;
    use conveyor_core::run::{LogBatch, LogStream};

    fn batch(step: &str, stream: LogStream, lines: &[&str]) -> LogBatch {
        LogBatch {
            seq: 1,
            ts: 0,
            step: step.to_owned(),
            line: 1,
            stream,
            lines: lines.iter().map(|l| (*l).to_owned()).collect(),
            partial: Vec::new(),
            times: Vec::new(),
        }
    }

    fn printed(printer: &mut Printer, batches: Vec<LogBatch>) -> String {
        let mut out = Vec::new();
        for batch in batches {
            printer.lines(&mut out, batch).expect("write");
        }
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn on_a_terminal_each_step_keeps_its_colour_and_stderr_is_red() {
        let mut printer = Printer {
            colour: true,
            json: false,
            only: None,
            colours: Vec::new(),
        };
        let out = printed(
            &mut printer,
            vec![
                batch("build", LogStream::Stdout, &["one"]),
                batch("test", LogStream::Stderr, &["oops"]),
                batch("build", LogStream::Stdout, &["two"]),
            ],
        );
        assert_eq!(
            out,
            "\x1b[36mbuild\x1b[0m │ one\n\
             \x1b[35mtest\x1b[0m │ \x1b[31moops\x1b[0m\n\
             \x1b[36mbuild\x1b[0m │ two\n"
        );
        // Without colours (a pipe, NO_COLOR), and one step's lines alone: plain text.
        let mut plain = Printer {
            colour: false,
            json: false,
            only: Some("build".into()),
            colours: Vec::new(),
        };
        let out = printed(
            &mut plain,
            vec![
                batch("build", LogStream::Stdout, &["one"]),
                batch("test", LogStream::Stderr, &["oops"]),
            ],
        );
        assert_eq!(out, "one\n");
    }
}
