//! Times and durations as people read them. Formatted by hand from integer parts: chrono's
//! format-string parser, and float formatting, would add their own code to the WASM.

/// A Unix time in milliseconds as UTC (year, month, day, hour, minute, second).
fn utc_fields(ms: i64) -> Option<(i32, u32, u32, u32, u32, u32)> {
    use chrono::{Datelike, Timelike};
    let t = chrono::DateTime::from_timestamp_millis(ms)?;
    Some((
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
    ))
}

/// `2026-11-21 14:03:09 UTC`; empty for a time out of range.
pub fn format_time(ms: i64) -> String {
    utc_fields(ms)
        .map(|(y, mo, d, h, mi, s)| format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} UTC"))
        .unwrap_or_default()
}

/// `2026-11-21`: the UTC day of a time; empty for a time out of range.
pub fn format_day(ms: i64) -> String {
    utc_fields(ms)
        .map(|(y, mo, d, ..)| format!("{y:04}-{mo:02}-{d:02}"))
        .unwrap_or_default()
}

/// `2026-11-21T14:03:09Z`, for `<time datetime>`; empty for a time out of range.
pub fn iso_time(ms: i64) -> String {
    utc_fields(ms)
        .map(|(y, mo, d, h, mi, s)| format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z"))
        .unwrap_or_default()
}

/// `850ms`, `12.4s`, `3m 7s`.
pub fn format_duration(ms: i64) -> String {
    let ms = ms.max(0);
    match ms {
        0..=999 => format!("{ms}ms"),
        // Tenths by integer arithmetic.
        1_000..=59_999 => {
            let tenths = (ms + 50) / 100;
            format!("{}.{}s", tenths / 10, tenths % 10)
        }
        _ => format!("{}m {}s", ms / 60_000, (ms % 60_000) / 1000),
    }
}

/// Unix milliseconds at the start of a UTC day given as `YYYY-MM-DD`.
pub fn day_start_ms(day: &str) -> Option<i64> {
    let date = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}
