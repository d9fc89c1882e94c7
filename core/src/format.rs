//! Times, durations and pinned images as people read them. Times are formatted by hand from
//! integer parts: chrono's format-string parser, and float formatting, would add their own
//! code to the WASM.

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

/// `name@sha256:0123456789ab…`: an image pinned by digest, with the digest's first 12
/// characters (enough to tell it); any other image as it is.
pub fn short_image(image: &str) -> String {
    match image.split_once("@sha256:") {
        Some((name, digest)) if digest.chars().count() > 12 => {
            let start: String = digest.chars().take(12).collect();
            format!("{name}@sha256:{start}…")
        }
        _ => image.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::short_image;

    #[test]
    fn a_pinned_image_shows_the_start_of_its_digest() {
        let digest = "0123456789abcdef".repeat(4);
        assert_eq!(
            short_image(&format!("127.0.0.1:5000/org/web@sha256:{digest}")),
            "127.0.0.1:5000/org/web@sha256:0123456789ab…"
        );
        assert_eq!(short_image("org/web:v1"), "org/web:v1");
        assert_eq!(short_image("web@sha256:abc"), "web@sha256:abc");
        // Characters, not bytes: a stored oddity never splits one.
        assert_eq!(
            short_image("web@sha256:ééééééééééééé"),
            "web@sha256:éééééééééééé…"
        );
    }
}
