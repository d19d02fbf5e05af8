//! Validated configuration: a band preset, overridden by a config file (JSON or
//! TOML) and then by flags. Built once from the CLI by `settings`; everything
//! downstream takes these types, never clap's.
//!
//! Every generation target of the data shape (docs/data.md)
//! lives here, in one place per band, and is echoed whole into the load report.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub mod tables;
pub use tables::ChildTable;

/// The default end of the time window: 2026-01-01T00:00:00Z, fixed so the same
/// seed gives the same bytes. `--window-end-now` anchors it at the current time.
pub const DEFAULT_WINDOW_END_MS: i64 = 1_767_225_600_000;
const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Band {
    Tiny,
    Dev,
    Staging,
    Perf,
}

impl Band {
    pub const ALL: [Band; 4] = [Band::Tiny, Band::Dev, Band::Staging, Band::Perf];

    pub fn parse(s: &str) -> Result<Band> {
        match s.to_ascii_lowercase().as_str() {
            "tiny" => Ok(Band::Tiny),
            "dev" => Ok(Band::Dev),
            "staging" => Ok(Band::Staging),
            "perf" => Ok(Band::Perf),
            _ => Err(Error::Config(format!(
                "unknown band '{s}': expected one of tiny, dev, staging, perf"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Band::Tiny => "tiny",
            Band::Dev => "dev",
            Band::Staging => "staging",
            Band::Perf => "perf",
        }
    }

    /// The band's preset: counts, time window and every shape target.
    pub fn preset(self) -> DatasetConfig {
        let (users, conversations, messages, days, seasonal) = match self {
            Band::Tiny => (200, 300, 10_000, 7, 0.0),
            Band::Dev => (5_000, 8_000, 500_000, 30, 0.0),
            Band::Staging => (150_000, 300_000, 100_000_000, 180, 0.2),
            Band::Perf => (250_000, 600_000, 300_000_000, 365, 0.2),
        };
        DatasetConfig {
            band: self,
            seed: 42,
            counts: Counts {
                users,
                conversations,
                messages,
            },
            window: Window {
                days,
                end_ms: DEFAULT_WINDOW_END_MS,
            },
            shape: Shape {
                seasonal_amplitude: seasonal,
                ..Shape::default()
            },
            tables: BTreeMap::new(),
            columns: BTreeMap::new(),
        }
    }
}

/// Exact row counts of the three driving tables; the others follow from the shape.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Counts {
    pub users: u64,
    pub conversations: u64,
    pub messages: u64,
}

/// The time window the data lives in: `days` ending at `end_ms` (Unix ms, UTC).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Window {
    pub days: u32,
    pub end_ms: i64,
}

impl Window {
    pub fn start_ms(&self) -> i64 {
        self.end_ms - self.days as i64 * DAY_MS
    }
    pub fn len_ms(&self) -> i64 {
        self.days as i64 * DAY_MS
    }
}

/// The data-shape targets (docs/data.md). Field names carry units.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Shape {
    // users
    pub active_user_share: f64,
    pub username_len_mean: f64,
    pub username_len_sd: f64,
    pub profile_beta_a: f64,
    pub profile_beta_b: f64,
    /// Zipf exponent of user activity (membership and sending).
    pub user_zipf_s: f64,
    // conversations
    pub direct_share: f64,
    pub small_group_share: f64,
    pub large_group_share: f64,
    pub small_group_geometric_p: f64,
    pub large_group_alpha: f64,
    pub large_group_channel_share: f64,
    // messages per conversation
    pub messages_alpha: f64,
    pub messages_max_per_conversation: u64,
    pub heavy_room_fraction: f64,
    pub heavy_room_message_share: f64,
    // content
    pub text_len_mu: f64,
    pub text_len_sigma: f64,
    pub text_len_max_chars: u32,
    pub attachment_one_share: f64,
    pub attachment_several_share: f64,
    pub attachment_image_share: f64,
    pub attachment_video_share: f64,
    pub attachment_document_share: f64,
    pub attachment_audio_share: f64,
    pub system_share_in_groups: f64,
    pub location_share: f64,
    pub reply_share_in_groups: f64,
    pub edited_share: f64,
    pub deleted_share: f64,
    // time
    pub diurnal_peak_to_trough: f64,
    pub weekday_factor: f64,
    pub weekend_factor: f64,
    pub seasonal_amplitude: f64,
    pub burst_mean_messages: f64,
    pub burst_gap_mean_s: f64,
    // receipts
    pub receipts_max_room_members: u32,
    pub delivered_share: f64,
    pub read_share: f64,
    pub read_within_30s_share: f64,
    pub read_exponential_share: f64,
    pub read_exponential_mean_min: f64,
    pub read_lognormal_share: f64,
    pub read_lognormal_mu_min: f64,
    pub read_lognormal_sigma: f64,
    /// Distributions fitted to a measured profile (`--profile`); when present
    /// they replace the parametric targets they cover (docs/profile.md, "The fit").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fitted: Option<Fitted>,
}

/// A quantile curve: `(probability, value)` points, both ascending, the first
/// at probability 0 and the last at 1. Values between points are interpolated
/// linearly; generators sample it through an inverse-CDF table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Curve {
    pub points: Vec<[f64; 2]>,
}

impl Curve {
    /// The value at probability `p` (linear between points).
    pub fn at(&self, p: f64) -> f64 {
        let pts = &self.points;
        let i = pts.partition_point(|q| q[0] <= p);
        if i == 0 {
            return pts[0][1];
        }
        if i >= pts.len() {
            return pts[pts.len() - 1][1];
        }
        let (a, b) = (pts[i - 1], pts[i]);
        let w = b[0] - a[0];
        if w <= 0.0 {
            b[1]
        } else {
            a[1] + (p - a[0]) / w * (b[1] - a[1])
        }
    }

    /// Share of the distribution at or below `x`.
    pub fn cdf(&self, x: f64) -> f64 {
        let pts = &self.points;
        let i = pts.partition_point(|q| q[1] <= x);
        if i == 0 {
            return 0.0;
        }
        if i >= pts.len() {
            return 1.0;
        }
        let (a, b) = (pts[i - 1], pts[i]);
        let w = b[1] - a[1];
        if w <= 0.0 {
            a[0]
        } else {
            a[0] + (x - a[1]) / w * (b[0] - a[0])
        }
    }

    fn problems(&self, name: &str, out: &mut Vec<String>) {
        let p = &self.points;
        let ok = p.len() >= 2
            && p[0][0] == 0.0
            && p[p.len() - 1][0] == 1.0
            && p.iter().all(|q| q[0].is_finite() && q[1].is_finite())
            && p.windows(2)
                .all(|w| w[0][0] <= w[1][0] && w[0][1] <= w[1][1]);
        if !ok {
            out.push(format!(
                "fitted curve {name} must have ascending finite points from probability 0 to 1"
            ));
        }
    }
}

/// A conversation type's share and its member-count curve.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FittedConversationType {
    /// `DIRECT_MESSAGE`, `GROUP_CHAT` or `CHANNEL`.
    pub kind: String,
    pub share: f64,
    pub members: Curve,
}

/// The shape taken as measured from a profile (`load --profile`). Shares not
/// listed here (edits, deletions, delivery) are the ordinary `Shape` fields,
/// which the fit sets too.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Fitted {
    /// Where the fit came from: the profile's day and format, and the scale.
    pub source: String,
    /// Messages per conversation (rooms in a random order take its quantiles).
    pub messages_per_conversation: Curve,
    pub conversation_types: Vec<FittedConversationType>,
    /// Characters of TEXT messages.
    pub text_length: Curve,
    /// Relative activity by ISO weekday (rows, Monday first) and UTC hour.
    pub hour_by_weekday: Vec<Vec<f64>>,
    /// Message type shares: TEXT, SYSTEM, LOCATION, IMAGE, VIDEO, AUDIO, FILE.
    pub message_types: std::collections::BTreeMap<String, f64>,
    /// Attachments of a message that has any: shares of 1, 2, 3 and 4 or more.
    pub attachments_when_any: [f64; 4],
    /// The same shares per attachment-bearing message type (IMAGE, VIDEO,
    /// AUDIO, FILE), so each type carries its measured mean number of
    /// attachments; a type not listed uses `attachments_when_any`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub attachments_when_any_per_type: std::collections::BTreeMap<String, [f64; 4]>,
    /// Attachment size in bytes per attachment type (IMAGE, VIDEO, AUDIO, DOCUMENT).
    pub attachment_size_bytes: std::collections::BTreeMap<String, Curve>,
    /// Share of messages that reply to an earlier message (any room).
    pub reply_share: f64,
    /// Share of messages with a thread (`threadId`); threads are replies.
    pub thread_share: f64,
    /// Read delay after the message was sent, seconds; `None` (no reads
    /// measured) keeps the preset's read-delay mixture.
    pub read_delay_seconds: Option<Curve>,
}

impl Fitted {
    fn problems(&self, out: &mut Vec<String>) {
        self.messages_per_conversation
            .problems("messages_per_conversation", out);
        self.text_length.problems("text_length", out);
        if let Some(c) = &self.read_delay_seconds {
            c.problems("read_delay_seconds", out);
        }
        for (k, c) in &self.attachment_size_bytes {
            c.problems(&format!("attachment_size_bytes.{k}"), out);
        }
        let known = ["DIRECT_MESSAGE", "GROUP_CHAT", "CHANNEL"];
        let mut share = 0.0;
        for t in &self.conversation_types {
            if !known.contains(&t.kind.as_str()) {
                out.push(format!("fitted conversation type {} is unknown", t.kind));
            }
            t.members.problems(&format!("members.{}", t.kind), out);
            share += t.share;
        }
        if self.conversation_types.is_empty() || (share - 1.0).abs() > 1e-6 {
            out.push(format!(
                "fitted conversation type shares must sum to 1 (got {share})"
            ));
        }
        let cells_ok = self.hour_by_weekday.len() == 7
            && self.hour_by_weekday.iter().all(|r| r.len() == 24)
            && self
                .hour_by_weekday
                .iter()
                .flatten()
                .all(|x| x.is_finite() && *x >= 0.0)
            && self.hour_by_weekday.iter().flatten().sum::<f64>() > 0.0;
        if !cells_ok {
            out.push(
                "fitted hour_by_weekday must be 7 rows of 24 non-negative weights, not all 0"
                    .into(),
            );
        }
        let types: f64 = self.message_types.values().sum();
        if self.message_types.values().any(|x| *x < 0.0) || (types - 1.0).abs() > 1e-6 {
            out.push(format!(
                "fitted message type shares must sum to 1 (got {types})"
            ));
        }
        let att: f64 = self.attachments_when_any.iter().sum();
        if self.attachments_when_any.iter().any(|x| *x < 0.0) || (att - 1.0).abs() > 1e-6 {
            out.push(format!(
                "fitted attachments_when_any shares must sum to 1 (got {att})"
            ));
        }
        for (k, a) in &self.attachments_when_any_per_type {
            let sum: f64 = a.iter().sum();
            if !["IMAGE", "VIDEO", "AUDIO", "FILE"].contains(&k.as_str())
                || a.iter().any(|x| x.is_nan() || *x < 0.0)
                || (sum - 1.0).abs() > 1e-6
            {
                out.push(format!(
                    "fitted attachments_when_any_per_type.{k} must be a type IMAGE, VIDEO, AUDIO or FILE with shares summing to 1 (got {sum})"
                ));
            }
        }
        if !(0.0..=1.0).contains(&self.reply_share) || !(0.0..=1.0).contains(&self.thread_share) {
            out.push("fitted reply_share and thread_share must be within 0..=1".into());
        }
    }
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            active_user_share: 0.95,
            username_len_mean: 12.0,
            username_len_sd: 4.0,
            profile_beta_a: 2.0,
            profile_beta_b: 5.0,
            user_zipf_s: 1.0,
            direct_share: 0.70,
            small_group_share: 0.25,
            large_group_share: 0.05,
            small_group_geometric_p: 0.3,
            large_group_alpha: 2.5,
            large_group_channel_share: 0.4,
            messages_alpha: 1.8,
            messages_max_per_conversation: 50_000,
            heavy_room_fraction: 0.02,
            heavy_room_message_share: 0.30,
            text_len_mu: 4.5,
            text_len_sigma: 1.2,
            text_len_max_chars: 5_000,
            attachment_one_share: 0.12,
            attachment_several_share: 0.03,
            attachment_image_share: 0.65,
            attachment_video_share: 0.15,
            attachment_document_share: 0.12,
            attachment_audio_share: 0.08,
            system_share_in_groups: 0.01,
            location_share: 0.003,
            reply_share_in_groups: 0.10,
            edited_share: 0.03,
            deleted_share: 0.01,
            diurnal_peak_to_trough: 2.5,
            weekday_factor: 1.4,
            weekend_factor: 0.7,
            seasonal_amplitude: 0.0,
            burst_mean_messages: 4.0,
            burst_gap_mean_s: 40.0,
            receipts_max_room_members: 20,
            delivered_share: 0.95,
            read_share: 0.82,
            read_within_30s_share: 0.35,
            read_exponential_share: 0.40,
            read_exponential_mean_min: 45.0,
            read_lognormal_share: 0.15,
            read_lognormal_mu_min: 6.5,
            read_lognormal_sigma: 1.8,
            fitted: None,
        }
    }
}

/// Everything that decides the data. Same `DatasetConfig` -> same bytes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DatasetConfig {
    pub band: Band,
    pub seed: u64,
    pub counts: Counts,
    pub window: Window,
    pub shape: Shape,
    /// Child tables declared with `[tables.<name>]`, by name (none by default;
    /// left out of the JSON when empty, so older digests stay as they were).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tables: BTreeMap<String, ChildTable>,
    /// Column rules, keyed `"table.column"` (docs/config.md, "Column rules").
    /// Left out of the JSON when empty, so configurations without rules keep
    /// their digests.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub columns: BTreeMap<String, crate::rules::RuleSpec>,
}

/// Overrides read from `--config FILE`: any subset of `DatasetConfig`'s fields.
pub fn merge_file(base: &DatasetConfig, path: &Path) -> Result<DatasetConfig> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Config(format!("cannot read config file {}: {e}", path.display())))?;
    let overlay: serde_json::Value = match path.extension().and_then(|e| e.to_str()) {
        Some("toml") => {
            let v: toml::Value = toml::from_str(&text).map_err(|e| {
                Error::Config(format!(
                    "config file {} is not valid TOML: {e}",
                    path.display()
                ))
            })?;
            serde_json::to_value(v).map_err(|e| Error::Config(e.to_string()))?
        }
        _ => serde_json::from_str(&text).map_err(|e| {
            Error::Config(format!(
                "config file {} is not valid JSON: {e}",
                path.display()
            ))
        })?,
    };
    let mut merged = serde_json::to_value(base).expect("config serializes");
    deep_merge(&mut merged, overlay);
    serde_json::from_value(merged)
        .map_err(|e| Error::Config(format!("config file {}: {e}", path.display())))
}

fn deep_merge(base: &mut serde_json::Value, overlay: serde_json::Value) {
    match (base, overlay) {
        (serde_json::Value::Object(b), serde_json::Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => deep_merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

impl DatasetConfig {
    /// The column rules compiled for the chat tables and the declared child
    /// tables; every problem when they do not compile.
    pub fn compile_rules(&self) -> std::result::Result<crate::rules::Rules, Vec<String>> {
        let declared: Vec<crate::rules::DeclaredTable> = self
            .tables
            .iter()
            .map(|(name, t)| t.for_rules(name))
            .collect();
        crate::rules::Rules::compile_declared(self.seed, &self.columns, &declared)
    }

    /// Checks every invariant the generators rely on; one error lists all problems.
    pub fn validate(&self) -> Result<()> {
        let mut problems = Vec::new();
        let c = &self.counts;
        if c.users < 2 {
            problems.push(format!("users must be at least 2 (got {})", c.users));
        }
        if c.conversations < 1 {
            problems.push(format!(
                "conversations must be at least 1 (got {})",
                c.conversations
            ));
        }
        if c.messages < c.conversations {
            problems.push(format!(
                "messages ({}) must be at least conversations ({}): every conversation has a message",
                c.messages, c.conversations
            ));
        }
        let max_msgs = c
            .conversations
            .saturating_mul(self.shape.messages_max_per_conversation);
        if c.messages > max_msgs {
            problems.push(format!(
                "messages ({}) exceed conversations x messages_max_per_conversation ({max_msgs})",
                c.messages
            ));
        }
        if c.users > (1 << 40) || c.conversations > (1 << 40) || c.messages > (1 << 40) {
            problems.push("counts above 2^40 are not supported".into());
        }
        if self.window.days < 1 || self.window.days > 3650 {
            problems.push(format!(
                "window days must be 1..=3650 (got {})",
                self.window.days
            ));
        }
        // Ids begin with their row's createdAt in 8 base36 digits of Unix ms.
        let max_ms = crate::util::calendar::MAX_ID_TIME_MS;
        if self.window.end_ms < self.window.len_ms() || self.window.end_ms > max_ms {
            problems.push(format!(
                "the window must lie between 1970-01-01 and {} (ids begin with a millisecond time, like Prisma's cuid()); got end_ms {} and {} days",
                crate::util::calendar::iso8601(max_ms),
                self.window.end_ms,
                self.window.days
            ));
        }
        let s = &self.shape;
        let shares = s.direct_share + s.small_group_share + s.large_group_share;
        if (shares - 1.0).abs() > 1e-6 {
            problems.push(format!(
                "conversation class shares must sum to 1 (got {shares})"
            ));
        }
        let att = s.attachment_image_share
            + s.attachment_video_share
            + s.attachment_document_share
            + s.attachment_audio_share;
        if (att - 1.0).abs() > 1e-6 {
            problems.push(format!("attachment type shares must sum to 1 (got {att})"));
        }
        for (name, v) in [
            ("active_user_share", s.active_user_share),
            ("delivered_share", s.delivered_share),
            ("read_share", s.read_share),
            ("reply_share_in_groups", s.reply_share_in_groups),
            ("edited_share", s.edited_share),
            ("deleted_share", s.deleted_share),
            ("heavy_room_fraction", s.heavy_room_fraction),
            ("heavy_room_message_share", s.heavy_room_message_share),
            ("small_group_geometric_p", s.small_group_geometric_p),
        ] {
            if !(0.0..=1.0).contains(&v) {
                problems.push(format!("{name} must be within 0..=1 (got {v})"));
            }
        }
        if s.read_share > s.delivered_share {
            problems.push("read_share cannot exceed delivered_share".into());
        }
        if s.attachment_one_share + s.attachment_several_share > 1.0 {
            problems.push("attachment shares exceed 1".into());
        }
        if s.messages_alpha <= 1.0 || s.large_group_alpha <= 1.0 {
            problems.push("power-law alphas must be above 1".into());
        }
        if s.messages_max_per_conversation < 1 {
            problems.push("messages_max_per_conversation must be at least 1".into());
        }
        if let Some(f) = &s.fitted {
            f.problems(&mut problems);
        }
        for (name, t) in &self.tables {
            problems.extend(t.problems(name));
        }
        // A choice among an enum's labels gets them from the target at load
        // time; here a stand-in label lets the rest of the rule be checked.
        let mut with_labels = self.clone();
        crate::rules::fill_enum_labels(&mut with_labels.columns, |_| Some(vec!["_".into()]));
        if let Err(rule_problems) = with_labels.compile_rules() {
            problems.extend(rule_problems);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Config(format!(
                "invalid configuration: {}",
                problems.join("; ")
            )))
        }
    }
}

/// Turns a signed override from the command line into a count, refusing zero and negatives.
pub fn positive_count(name: &str, v: i64) -> Result<u64> {
    if v <= 0 {
        Err(Error::Config(format!(
            "--{name} must be a positive number (got {v})"
        )))
    } else {
        Ok(v as u64)
    }
}

/// Settings of the load pipeline (they do not change the data).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PipelineConfig {
    pub workers: usize,
    pub streams_per_large_table: usize,
    pub chunk_bytes: usize,
    pub channel_chunks: usize,
}

impl PipelineConfig {
    pub fn validate(&self) -> Result<()> {
        let mut problems = Vec::new();
        if self.workers == 0 || self.workers > 256 {
            problems.push(format!("--workers must be 1..=256 (got {})", self.workers));
        }
        if self.streams_per_large_table == 0 || self.streams_per_large_table > 64 {
            problems.push(format!(
                "--streams must be 1..=64 (got {})",
                self.streams_per_large_table
            ));
        }
        if self.chunk_bytes < 4096 || self.chunk_bytes > 64 << 20 {
            problems.push("--chunk-kib must be 4..=65536".into());
        }
        if self.channel_chunks == 0 || self.channel_chunks > 4096 {
            problems.push("--channel-chunks must be 1..=4096".into());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Config(problems.join("; ")))
        }
    }
}

pub fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_exact() {
        for b in Band::ALL {
            b.preset().validate().unwrap();
        }
        assert_eq!(Band::Dev.preset().counts.messages, 500_000);
        assert_eq!(Band::Tiny.preset().counts.users, 200);
        assert_eq!(Band::Perf.preset().window.days, 365);
    }

    #[test]
    fn unknown_band_is_refused() {
        let e = Band::parse("huge").unwrap_err().to_string();
        assert!(e.contains("unknown band 'huge'"), "{e}");
    }

    #[test]
    fn config_file_overrides_deeply_and_rejects_unknown_keys() {
        let dir = std::env::temp_dir().join(format!("chatsynth-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let toml_path = dir.join("c.toml");
        std::fs::write(
            &toml_path,
            "[counts]\nmessages = 1234\n[shape]\nread_share = 0.5\n",
        )
        .unwrap();
        let c = merge_file(&Band::Tiny.preset(), &toml_path).unwrap();
        assert_eq!(c.counts.messages, 1234);
        assert_eq!(c.counts.users, 200);
        assert_eq!(c.shape.read_share, 0.5);
        let json_path = dir.join("c.json");
        std::fs::write(&json_path, r#"{"shape": {"no_such_target": 1}}"#).unwrap();
        let e = merge_file(&Band::Tiny.preset(), &json_path)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no_such_target"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn zero_and_negative_counts_are_refused() {
        assert!(positive_count("messages", 0).is_err());
        assert!(positive_count("users", -5).is_err());
        let mut c = Band::Tiny.preset();
        c.counts.messages = 10;
        assert!(c.validate().is_err());
    }

    #[test]
    fn windows_outside_the_id_time_range_are_refused() {
        let max = crate::util::calendar::MAX_ID_TIME_MS;
        let mut c = Band::Tiny.preset();
        c.window.end_ms = max;
        assert!(c.validate().is_ok());
        c.window.end_ms = max + 1;
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("2059-05-25"), "{e}");
        c.window.end_ms = c.window.len_ms();
        assert!(c.validate().is_ok());
        c.window.end_ms -= 1;
        assert!(c.validate().is_err());
        c.window.end_ms = i64::MIN;
        assert!(c.validate().is_err());
    }
}

/// Targets whose values depend on the band's scale, computed by the plan from
/// the exact per-conversation counts it chose (docs/data.md, "Shape": a small band
/// keeps the shape and lets the percentiles scale). Recorded in the load report
/// as `realised_targets`; `validate` checks the database against them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RealisedTargets {
    pub messages_per_conversation_median: f64,
    pub messages_per_conversation_p95: f64,
    pub messages_per_conversation_max: u64,
    pub share_conversations_under_50_messages: f64,
    pub share_conversations_over_1000_messages: f64,
    /// Share of all messages carried by the top `heavy_room_fraction` of conversations.
    pub heavy_room_message_share: f64,
    /// Exact number of membership rows the plan produces.
    pub conversation_users_rows: u64,
}
