//! Cron schedules (`croner`, time zones from `chrono-tz`): which slot is due at a time, and
//! the next few. The clock is always given: the server passes the time, tests their own.

use chrono::{DateTime, SubsecRound, TimeZone, Utc};
use chrono_tz::Tz;
use conveyor_core::definition::{Pipeline, Problem};
use conveyor_core::triggers::Schedule;
use croner::Cron;

/// A slot later than this after its time is one the server missed (it was down).
pub const LATE_AFTER_SECS: i64 = 90;

fn parse(schedule: &Schedule) -> Result<(Cron, Tz), String> {
    let cron: Cron = schedule
        .cron
        .trim()
        .parse()
        .map_err(|err| format!("not a cron expression: {err}"))?;
    if schedule.cron.split_whitespace().count() != 5 {
        return Err(
            "a cron expression has five fields: minute hour day-of-month month day-of-week".into(),
        );
    }
    let zone: Tz = schedule.timezone().parse().map_err(|_| {
        format!(
            "\"{}\" is not an IANA time zone (e.g. Europe/Berlin)",
            schedule.timezone()
        )
    })?;
    Ok((cron, zone))
}

/// Every schedule of the pipeline parses, or the problems say where not.
pub fn check_schedules(pipeline: &Pipeline) -> Vec<Problem> {
    let Some(on) = &pipeline.on else {
        return Vec::new();
    };
    on.schedule
        .iter()
        .enumerate()
        .filter_map(|(i, schedule)| {
            parse(schedule)
                .err()
                .map(|message| Problem::new(format!("on.schedule[{i}]"), message))
        })
        .collect()
}

/// The latest slot in `(since, now]`, and whether it is late (missed while the server was
/// down) rather than due now.
pub fn due(
    schedule: &Schedule,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<(DateTime<Utc>, bool)> {
    let (cron, zone) = parse(schedule).ok()?;
    // Slots are whole minutes: croner keeps the fraction of a second it starts from.
    let local = zone.from_utc_datetime(&now.trunc_subsecs(0).naive_utc());
    let slot = cron.find_previous_occurrence(&local, true).ok()?;
    let slot = slot.with_timezone(&Utc);
    (slot > since).then(|| (slot, (now - slot).num_seconds() > LATE_AFTER_SECS))
}

/// The next `count` slots after `after`.
pub fn upcoming(schedule: &Schedule, after: DateTime<Utc>, count: usize) -> Vec<DateTime<Utc>> {
    let Ok((cron, zone)) = parse(schedule) else {
        return Vec::new();
    };
    let local = zone.from_utc_datetime(&after.trunc_subsecs(0).naive_utc());
    cron.iter_after(local)
        .take(count)
        .map(|slot| slot.with_timezone(&Utc))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn daily(zone: &str) -> Schedule {
        Schedule {
            cron: "0 3 * * *".into(),
            timezone: Some(zone.into()),
            catch_up: None,
        }
    }

    #[test]
    fn the_due_slot_is_the_latest_after_the_last_one_in_its_time_zone() {
        let berlin = daily("Europe/Berlin");
        // 03:00 in Berlin is 02:00 UTC in winter.
        let since = at("2026-11-29T02:00:00Z");
        assert_eq!(due(&berlin, since, at("2026-11-30T01:59:00Z")), None);
        assert_eq!(
            due(&berlin, since, at("2026-11-30T02:00:30Z")),
            Some((at("2026-11-30T02:00:00Z"), false))
        );
        // Down for two days: one slot, the latest, late.
        assert_eq!(
            due(&berlin, since, at("2026-12-01T09:00:00Z")),
            Some((at("2026-12-01T02:00:00Z"), true))
        );
        assert_eq!(
            upcoming(&daily("UTC"), at("2026-11-30T04:00:00Z"), 3),
            [
                at("2026-12-01T03:00:00Z"),
                at("2026-12-02T03:00:00Z"),
                at("2026-12-03T03:00:00Z")
            ]
        );
    }

    #[test]
    fn bad_expressions_and_zones_are_refused() {
        for (cron, zone) in [
            ("61 * * * *", "UTC"),
            ("* * *", "UTC"),
            ("0 3 * * *", "Mars/Olympus"),
        ] {
            let schedule = Schedule {
                cron: cron.into(),
                timezone: Some(zone.into()),
                catch_up: None,
            };
            assert!(parse(&schedule).is_err(), "{cron} {zone}");
        }
    }
}
