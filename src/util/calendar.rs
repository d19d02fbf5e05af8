//! Time arithmetic without a calendar crate: Unix milliseconds, the
//! PostgreSQL epoch, civil dates for report names and timestamps, hour of day,
//! day of week. The one home of the civil-date algorithm.

pub(crate) const MS_PER_HOUR: i64 = 3_600_000;
pub(crate) const MS_PER_DAY: i64 = 86_400_000;
/// 2000-01-01T00:00:00Z in Unix ms: PostgreSQL's timestamp epoch.
pub(crate) const PG_EPOCH_MS: i64 = 946_684_800_000;

/// Day of week, Monday = 0 .. Sunday = 6.
#[inline]
pub(crate) fn weekday(ms: i64) -> u32 {
    ((ms.div_euclid(MS_PER_DAY) + 3).rem_euclid(7)) as u32
}

#[inline]
pub(crate) fn hour_of_day(ms: i64) -> u32 {
    (ms.rem_euclid(MS_PER_DAY) / MS_PER_HOUR) as u32
}

/// (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's algorithm).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days since 1970-01-01 of (year, month, day), the inverse of
/// [`civil_from_days`] (Howard Hinnant's algorithm, proleptic Gregorian).
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date, as the profile writes them.
pub(crate) fn days_of_ymd(s: &str) -> Option<i64> {
    let mut it = s.split('-').map(|x| x.parse::<i64>().ok());
    let (y, m, d) = (it.next()??, it.next()??, it.next()??);
    Some(days_from_civil(y, m, d))
}

/// `2026-11-25T14:35:11Z`
pub(crate) fn iso8601(ms: i64) -> String {
    let (y, mo, d) = civil_from_days(ms.div_euclid(MS_PER_DAY));
    let s = ms.rem_euclid(MS_PER_DAY) / 1000;
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// `20261125T143511Z`, for file names.
pub fn compact(ms: i64) -> String {
    iso8601(ms).replace(['-', ':'], "")
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The largest time an id's 8-character base36 millisecond prefix holds:
/// 36^8 - 1 ms after the Unix epoch, 2059-05-25. Config validation keeps the
/// window inside it; `gen::ids` writes the prefix.
pub const MAX_ID_TIME_MS: i64 = 36i64.pow(8) - 1;

#[cfg(test)]
mod tests {
    #[test]
    fn days_from_civil_inverts_civil_from_days() {
        for z in (-800_000..800_000).step_by(97) {
            let (y, m, d) = super::civil_from_days(z);
            assert_eq!(super::days_from_civil(y, m as i64, d as i64), z);
        }
        assert_eq!(super::days_of_ymd("1970-01-01"), Some(0));
        assert_eq!(super::days_of_ymd("2026-01-01"), Some(20_454));
        assert_eq!(super::days_of_ymd("2026-x-01"), None);
    }

    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(PG_EPOCH_MS), "2000-01-01T00:00:00Z");
        assert_eq!(iso8601(1_767_225_600_000), "2026-01-01T00:00:00Z");
        assert_eq!(compact(1_767_225_600_000), "20260101T000000Z");
        // 2026-01-01 is a Thursday.
        assert_eq!(weekday(1_767_225_600_000), 3);
        assert_eq!(hour_of_day(1_767_225_600_000 + 5 * MS_PER_HOUR + 1), 5);
        assert_eq!(iso8601(1_714_566_896_000), "2024-05-01T12:34:56Z");
        assert_eq!(compact(1_714_566_896_000), "20240501T123456Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00Z");
    }
}
