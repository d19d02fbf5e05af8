//! The profile file: typed, versioned, and read back strictly. Its fields are
//! declared in the order they are written, maps are `BTreeMap`s, and numbers
//! are rounded, so two profiles diff line by line. `docs/profile.md` describes
//! every field; a generator can be fitted from the quantile tables, mixes and
//! histograms alone.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The format this chatsynth writes and reads. Bump it on any change a reader
/// could misread.
pub(crate) const FORMAT_VERSION: u32 = 1;

/// The whole profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Profile {
    pub format_version: u32,
    pub tool: String,
    pub tool_version: String,
    /// The UTC day the profile was taken (a day, never an instant).
    pub profiled_on: String,
    pub privacy: Privacy,
    pub sample: Sample,
    pub counts: Counts,
    pub window: Window,
    pub conversations: Conversations,
    pub messages_per_conversation: RoomMessages,
    pub messages: Messages,
    pub attachments: Attachments,
    pub activity: Activity,
    pub delivery: Delivery,
    /// The child tables declared in the config given to `profile --config`:
    /// rows per parent, by table. Absent from profiles taken without one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub child_tables: BTreeMap<String, ChildTableShape>,
}

/// A declared child table's rows per parent (all rows, never sampled).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChildTableShape {
    /// `messages`, `conversations` or `users`.
    pub parent: String,
    /// Parents by number of rows: "0", "1", "2", "3", "4+".
    pub per_parent: Mix,
    /// Mean rows per parent: the declaration's `rate` (before its cap).
    pub mean_per_parent: Option<f64>,
}

/// The privacy rule applied and everything it removed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Privacy {
    /// k: no value rests on fewer rows than this.
    pub min_bucket: u64,
    pub rule: String,
    /// The removed values, by path (e.g. `messages_per_conversation.per_conversation.p99.9`).
    pub suppressed: Vec<String>,
}

/// How much of each table was read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sample {
    /// TABLESAMPLE SYSTEM percent for messages and its child tables (100 = all rows).
    pub percent: f64,
    /// Why this percent: `--sample`, or the default above a size.
    pub chosen_by: String,
    pub messages_seen: u64,
    pub attachments_seen: u64,
    pub message_reads_seen: u64,
    pub message_receipts_seen: u64,
}

/// Rows per table. Users, conversations, members and messages are exact; the
/// sampled child tables are estimated (rows seen / sample fraction) when sampled.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Counts {
    pub users: u64,
    pub conversations: u64,
    pub conversation_users: u64,
    pub messages: u64,
    pub attachments: u64,
    pub message_reads: u64,
    pub message_receipts: u64,
    pub estimated_from_sample: Vec<String>,
}

/// The span of messages' `createdAt`, rounded out to whole UTC days.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Window {
    pub first_day: Option<String>,
    pub last_day: Option<String>,
    pub days: u64,
}

/// A quantile table: `at` maps `p01`..`p99`, `p99.1`..`p99.9` to the value
/// (PostgreSQL `percentile_disc`). Levels that rest on fewer than k rows on
/// either side are left out (and listed in `privacy.suppressed`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Quantiles {
    pub n: u64,
    pub mean: Option<f64>,
    /// The largest value, rounded to two significant digits.
    pub max_rounded: Option<f64>,
    pub at: BTreeMap<String, f64>,
}

/// Shares of a whole (`n` rows) by category. Categories with fewer than k rows
/// are left out, so the shares may sum to less than 1.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Mix {
    pub n: u64,
    pub shares: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Conversations {
    pub types: Mix,
    pub members_per_type: BTreeMap<String, Quantiles>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoomMessages {
    /// Messages per conversation, rooms without messages included.
    pub per_conversation: Quantiles,
    /// Share of all messages in the top 2% of rooms by messages.
    pub top_2pct_rooms_message_share: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Messages {
    pub types: Mix,
    /// Characters of `content` of TEXT messages.
    pub text_length: Quantiles,
    pub reply_share: Option<f64>,
    pub thread_share: Option<f64>,
    pub edited_share: Option<f64>,
    pub deleted_share: Option<f64>,
    pub system_share: Option<f64>,
    pub hour_by_weekday: HourByWeekday,
}

/// Messages seen by ISO weekday (rows, Monday first) and UTC hour (columns).
/// Cells under k are null.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HourByWeekday {
    pub weekdays: Vec<String>,
    pub counts: Vec<Vec<Option<u64>>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attachments {
    /// Messages by number of attachments: "0", "1", "2", "3", "4+".
    pub per_message: Mix,
    pub mean_per_message: Option<f64>,
    pub types: Mix,
    pub size_bytes_per_type: BTreeMap<String, Quantiles>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Activity {
    pub top_user_fraction: f64,
    /// Share of messages sent by the top users by messages sent.
    pub top_users_message_share: Option<f64>,
    /// Share of all memberships held by those same users.
    pub top_users_membership_share: Option<f64>,
}

/// Delivery and reading, per (message, recipient) pair (the members of the
/// message's room other than its sender), over the messages with any receipt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    pub pairs_seen: u64,
    /// Share of messages that have any receipt.
    pub covered_share: Option<f64>,
    /// DELIVERED receipts per pair.
    pub delivered_share: Option<f64>,
    /// READ receipts per pair.
    pub read_share: Option<f64>,
    /// `message_reads` rows (of all sampled messages) per pair.
    pub reads_per_pair: Option<f64>,
    /// `readAt` minus the message's `createdAt`, seconds.
    pub read_delay_seconds: Quantiles,
}

/// The quantile levels of every table: p1..p99 then p99.1..p99.9, as
/// (key, probability).
pub(crate) fn levels() -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> = (1..=99)
        .map(|p| (format!("p{p:02}"), p as f64 / 100.0))
        .collect();
    v.extend((1..=9).map(|t| (format!("p99.{t}"), (990 + t) as f64 / 1000.0)));
    v
}

/// The probability of a level key (`p07` -> 0.07, `p99.5` -> 0.995).
pub(crate) fn level_of(key: &str) -> Option<f64> {
    let v: f64 = key.strip_prefix('p')?.parse().ok()?;
    (v > 0.0 && v < 100.0).then_some(v / 100.0)
}

/// Rounds to `digits` significant digits (0 stays 0).
pub(crate) fn round_sig(v: f64, digits: i32) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let mag = v.abs().log10().floor() as i32;
    let f = 10f64.powi(digits - 1 - mag);
    (v * f).round() / f
}

/// Rounds a share (or any ratio) to six decimals.
pub(crate) fn round_share(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

/// Reads a profile file strictly: the format version first, then every section.
pub fn read(path: &Path) -> Result<Profile> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Config(format!("cannot read profile {}: {e}", path.display())))?;
    parse(&text).map_err(|m| Error::Config(format!("profile {}: {m}", path.display())))
}

/// Parses profile text; the message says what is wrong.
pub fn parse(text: &str) -> std::result::Result<Profile, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not valid JSON ({e})"))?;
    match value.get("format_version").and_then(|v| v.as_u64()) {
        Some(v) if v == u64::from(FORMAT_VERSION) => {}
        Some(v) => {
            return Err(format!(
                "format_version {v} is not supported; this chatsynth reads format_version {FORMAT_VERSION} (take the profile again with this version)"
            ))
        }
        None => return Err("no format_version: not a chatsynth profile".into()),
    }
    let p: Profile = serde_json::from_value(value)
        .map_err(|e| format!("incomplete or malformed profile: {e}"))?;
    if p.messages.hour_by_weekday.counts.len() != 7
        || p.messages
            .hour_by_weekday
            .counts
            .iter()
            .any(|r| r.len() != 24)
    {
        return Err("messages.hour_by_weekday.counts must be 7 rows of 24 cells".into());
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_dense_and_ordered_as_keys() {
        let l = levels();
        assert_eq!(l.len(), 108);
        let keys: Vec<&String> = l.iter().map(|(k, _)| k).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted, "key order must be the probability order");
        for (k, p) in &l {
            assert!((level_of(k).unwrap() - p).abs() < 1e-12, "{k}");
        }
        assert_eq!(level_of("max"), None);
    }

    #[test]
    fn rounding() {
        assert_eq!(round_sig(123_456.0, 2), 120_000.0);
        assert_eq!(round_sig(0.0, 2), 0.0);
        assert_eq!(round_sig(987.0, 2), 990.0);
        assert_eq!(round_share(0.123_456_789), 0.123_457);
    }

    #[test]
    fn other_versions_and_missing_sections_are_refused() {
        let e = parse(r#"{"format_version": 2}"#).unwrap_err();
        assert!(e.contains("format_version 2"), "{e}");
        let e = parse(r#"{"format_version": 1, "tool": "chatsynth"}"#).unwrap_err();
        assert!(e.contains("missing field"), "{e}");
        let e = parse("{").unwrap_err();
        assert!(e.contains("not valid JSON"), "{e}");
    }
}
