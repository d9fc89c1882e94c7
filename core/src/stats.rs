//! The dashboard's panel over a window of days: runs per day, success rate, run duration
//! percentiles, the slowest steps and those that fail most often.

use serde::{Deserialize, Serialize};

/// The windows the panel offers, in days.
pub const WINDOWS: [u32; 3] = [7, 30, 90];
/// Steps listed in each of the panel's step tables.
pub const STEPS_LISTED: usize = 10;
pub const DAY_MS: i64 = 86_400_000;

/// Reads the `days` of a query: one of [`WINDOWS`], 7 when absent.
pub fn parse_window(text: Option<&str>) -> Result<u32, String> {
    match text.filter(|t| !t.is_empty()) {
        None => Ok(WINDOWS[0]),
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|days| WINDOWS.contains(days))
            .ok_or_else(|| format!("\"{text}\" is not a window: 7, 30 or 90 (days)")),
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Stats {
    /// The window: this many UTC days, the last of them today.
    pub days: u32,
    /// Every day of the window, oldest first (days without runs too).
    pub per_day: Vec<DayStats>,
    /// Runs that ended, created in the window.
    pub runs: i64,
    pub succeeded: i64,
    pub failed: i64,
    /// Percent of those runs that succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_rate: Option<u32>,
    /// Run durations (from start to end), within 10 %.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p95_ms: Option<i64>,
    /// By mean duration, longest first.
    pub slowest_steps: Vec<StepStats>,
    /// By failures, most first (steps that never failed are left out).
    pub failing_steps: Vec<StepStats>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DayStats {
    /// Unix milliseconds of the day's start (UTC).
    pub day: i64,
    pub runs: i64,
    pub succeeded: i64,
    pub failed: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StepStats {
    pub pipeline: String,
    pub step: String,
    /// Times it ran (to an end) in the window.
    pub runs: i64,
    pub failed: i64,
    pub mean_ms: i64,
    pub max_ms: i64,
}

/// `part` of `whole` in whole percent, rounded; none of nothing.
pub fn percent(part: i64, whole: i64) -> Option<u32> {
    (whole > 0).then(|| ((part * 100 + whole / 2) / whole) as u32)
}

/// A duration percentile (`q` in 0..=1) from a histogram of `(low_ms, high_ms, count)`
/// buckets in order: the geometric middle of the bucket the percentile falls in.
pub fn percentile(buckets: &[(f64, f64, i64)], q: f64) -> Option<i64> {
    let total: i64 = buckets.iter().map(|b| b.2).sum();
    if total == 0 {
        return None;
    }
    // The rank of the percentile's run, from 1 (nearest-rank).
    let rank = ((q * total as f64).ceil() as i64).clamp(1, total);
    let mut seen = 0;
    for &(low, high, count) in buckets {
        seen += count;
        if seen >= rank {
            return Some((low * high).sqrt().round() as i64);
        }
    }
    None
}

/// The panel's two step lists from every step of the window: the [`STEPS_LISTED`] slowest
/// by mean duration, and the [`STEPS_LISTED`] that failed most (never-failing ones left
/// out); ties by pipeline and step name.
pub fn top_steps(steps: Vec<StepStats>) -> (Vec<StepStats>, Vec<StepStats>) {
    let by_name =
        |a: &StepStats, b: &StepStats| (&a.pipeline, &a.step).cmp(&(&b.pipeline, &b.step));
    let mut failing: Vec<StepStats> = steps.iter().filter(|s| s.failed > 0).cloned().collect();
    failing.sort_by(|a, b| b.failed.cmp(&a.failed).then_with(|| by_name(a, b)));
    failing.truncate(STEPS_LISTED);
    let mut slowest = steps;
    slowest.sort_by(|a, b| b.mean_ms.cmp(&a.mean_ms).then_with(|| by_name(a, b)));
    slowest.truncate(STEPS_LISTED);
    (slowest, failing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_seven_thirty_or_ninety_days() {
        assert_eq!(parse_window(None), Ok(7));
        assert_eq!(parse_window(Some("90")), Ok(90));
        assert!(parse_window(Some("8")).unwrap_err().contains("7, 30 or 90"));
        assert!(parse_window(Some("x")).is_err());
    }

    #[test]
    fn percentiles_fall_in_their_bucket() {
        let buckets = [(1.0, 2.0, 50), (100.0, 120.0, 45), (1000.0, 1200.0, 5)];
        assert_eq!(percentile(&buckets, 0.5), Some(1));
        assert_eq!(percentile(&buckets, 0.51), Some(110));
        assert_eq!(percentile(&buckets, 0.95), Some(110));
        assert_eq!(percentile(&buckets, 0.96), Some(1095));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
