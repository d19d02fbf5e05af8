//! Checks and the decision: pure logic, no database. `build` turns the measured
//! aggregates (one flat map of named numbers from `sql/validate/*.sql`) and the
//! targets into a list of checks; `decide` turns the checks into GO or NO-GO.

use std::collections::BTreeMap;

use serde::Serialize;

use super::targets::Targets;
use crate::config::RealisedTargets;
use crate::model::Verdict;
use crate::util::num::fmt_num;

/// The aggregates measured in SQL, by column name. `None` is SQL NULL (e.g. an
/// average over no rows).
pub(crate) type Metrics = BTreeMap<String, Option<f64>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Critical,
    Warning,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Integrity,
    Fidelity,
}

/// What a measured value must satisfy.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Expect {
    /// A count of violating rows: must be 0.
    Zero,
    /// `|measured - target| <= tolerance` (absolute, already derived from the
    /// relative tolerance and, for shares, the sample's standard error).
    Near { target: f64, tolerance: f64 },
    /// A threshold: `measured >= min`.
    AtLeast { min: f64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    /// Not measured; `Check::note` says why. Never counted as a pass.
    Skipped,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub category: Category,
    pub kind: Kind,
    pub expect: Expect,
    pub measured: Option<f64>,
    pub status: Status,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub note: String,
}

impl Check {
    pub(super) fn new(
        name: &str,
        category: Category,
        kind: Kind,
        expect: Expect,
        measured: Option<f64>,
    ) -> Check {
        let status = match measured {
            None => Status::Skipped,
            Some(m) if expect.holds(m) => Status::Pass,
            Some(_) => Status::Fail,
        };
        let note = if measured.is_none() {
            "nothing to measure (no rows)".to_string()
        } else {
            String::new()
        };
        Check {
            name: name.to_string(),
            category,
            kind,
            expect,
            measured,
            status,
            note,
        }
    }

    pub(super) fn skipped(name: &str, kind: Kind, expect: Expect, reason: &str) -> Check {
        Check {
            name: name.to_string(),
            category: Category::Fidelity,
            kind,
            expect,
            measured: None,
            status: Status::Skipped,
            note: reason.to_string(),
        }
    }

    pub(super) fn with_note(mut self, note: impl Into<String>) -> Check {
        let note = note.into();
        if self.note.is_empty() {
            self.note = note;
        } else if !note.is_empty() {
            self.note = format!("{}; {note}", self.note);
        }
        self
    }
}

impl Expect {
    pub(crate) fn holds(&self, m: f64) -> bool {
        if !m.is_finite() {
            return false;
        }
        match *self {
            Expect::Zero => m == 0.0,
            Expect::Near { target, tolerance } => (m - target).abs() <= tolerance + 1e-12,
            Expect::AtLeast { min } => m >= min,
        }
    }

    /// How the target reads in the terminal table.
    pub fn display(&self) -> String {
        match *self {
            Expect::Zero => "0".to_string(),
            Expect::Near { target, tolerance } => {
                format!("{} ± {}", fmt_num(target), fmt_num(tolerance))
            }
            Expect::AtLeast { min } => format!(">= {}", fmt_num(min)),
        }
    }
}

/// Tolerance of a share measured over `n` trials: the relative tolerance, widened
/// to 3 standard errors of a binomial proportion when the sample is too small to
/// resolve the relative tolerance (a tiny band has 300 conversations: 5% large
/// groups is 15 +/- 3.8 of them).
pub(crate) fn share_tolerance(target: f64, n: f64, rel: f64) -> f64 {
    let rel_tol = rel * target.abs();
    if n <= 0.0 {
        return rel_tol;
    }
    let se = (target * (1.0 - target) / n).max(0.0).sqrt();
    rel_tol.max(3.0 * se)
}

/// Peak-to-trough ratio of an hour-of-day histogram: max over min of the
/// histogram smoothed with a circular 3-hour moving average. Smoothing damps the
/// sampling noise that would otherwise inflate max/min on small datasets; a
/// generator curve with peak and trough plateaus of 3 hours or more keeps its
/// ratio (a 1-hour spike would read lower).
pub(crate) fn peak_to_trough(hourly: &[i64]) -> Option<f64> {
    let (max, min) = smoothed_extremes(hourly)?;
    (min > 0.0).then(|| max / min)
}

/// Max and min of the 3-hour circular moving average of an hourly histogram.
fn smoothed_extremes(hourly: &[i64]) -> Option<(f64, f64)> {
    let n = hourly.len();
    if n < 3 {
        return None;
    }
    let smooth =
        (0..n).map(|i| (hourly[(i + n - 1) % n] + hourly[i] + hourly[(i + 1) % n]) as f64 / 3.0);
    let (mut max, mut min) = (f64::MIN, f64::MAX);
    for v in smooth {
        max = max.max(v);
        min = min.min(v);
    }
    Some((max, min))
}

/// Tolerance of a ratio of two counts `a / b` of clustered events (each count
/// a sum of bursts; `cluster` = `E[burst^2] / E[burst]`, 2m - 1 for geometric bursts
/// of mean m): the relative tolerance, widened to 3 standard errors of the
/// ratio when the counts are too small to resolve it.
pub(crate) fn ratio_tolerance(target: f64, rel: f64, a: f64, b: f64, cluster: f64) -> f64 {
    let rel_tol = rel * target.abs();
    if a <= 0.0 || b <= 0.0 {
        return rel_tol;
    }
    let se_rel = (cluster / a + cluster / b).sqrt();
    rel_tol.max(3.0 * se_rel * target.abs())
}

/// Weekends (with both neighbouring weekdays inside the window) needed before
/// the weekday/weekend ratio is measured: one weekend in a 7-day window sits
/// wherever the dataset's ramp puts it.
const MIN_WEEKENDS: f64 = 2.0;

fn get(m: &Metrics, key: &str) -> Option<f64> {
    m.get(key).copied().flatten()
}

fn ratio(num: Option<f64>, den: Option<f64>) -> Option<f64> {
    match (num, den) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

/// Integrity checks: (name, metric column, kind). All count violating rows.
const INTEGRITY: &[(&str, &str, Kind)] = &[
    // orphans, one per foreign key (the loader may build constraints last, and a
    // database may have them dropped; these do not trust the constraints)
    (
        "orphans: conversations.creatorId",
        "orphan_conversations_creator",
        Kind::Critical,
    ),
    (
        "orphans: conversation_users.userId",
        "orphan_conversation_users_user",
        Kind::Critical,
    ),
    (
        "orphans: conversation_users.conversationId",
        "orphan_conversation_users_conversation",
        Kind::Critical,
    ),
    (
        "orphans: messages.senderId",
        "orphan_messages_sender",
        Kind::Critical,
    ),
    (
        "orphans: messages.conversationId",
        "orphan_messages_conversation",
        Kind::Critical,
    ),
    (
        "orphans: messages.replyToId",
        "orphan_messages_reply_to",
        Kind::Critical,
    ),
    (
        "orphans: attachments.uploaderId",
        "orphan_attachments_uploader",
        Kind::Critical,
    ),
    (
        "orphans: attachments.messageId",
        "orphan_attachments_message",
        Kind::Critical,
    ),
    (
        "orphans: message_reads.userId",
        "orphan_message_reads_user",
        Kind::Critical,
    ),
    (
        "orphans: message_reads.messageId",
        "orphan_message_reads_message",
        Kind::Critical,
    ),
    (
        "orphans: message_receipts.messageId",
        "orphan_message_receipts_message",
        Kind::Critical,
    ),
    (
        "orphans: message_receipts.userId",
        "orphan_message_receipts_user",
        Kind::Critical,
    ),
    // membership and conversation classes
    (
        "direct messages have exactly two distinct members",
        "direct_not_two_members",
        Kind::Critical,
    ),
    (
        "groups have a name and one OWNER (the creator)",
        "groups_without_name_or_one_owner",
        Kind::Critical,
    ),
    (
        "memberships unique per (user, conversation)",
        "memberships_duplicate",
        Kind::Critical,
    ),
    (
        "members joined after the conversation was created",
        "memberships_joined_before_conversation",
        Kind::Critical,
    ),
    // messages
    (
        "senders are members",
        "messages_sender_not_member",
        Kind::Critical,
    ),
    (
        "senders joined before the message",
        "messages_sender_joined_after",
        Kind::Critical,
    ),
    (
        "messages after their conversation's creation",
        "messages_before_conversation",
        Kind::Critical,
    ),
    (
        "createdAt strictly increasing per conversation",
        "messages_not_increasing",
        Kind::Critical,
    ),
    (
        "reply targets are earlier messages of the same conversation",
        "replies_not_earlier_same_conversation",
        Kind::Critical,
    ),
    (
        "thread roots exist in the same conversation",
        "threads_invalid_root",
        Kind::Critical,
    ),
    (
        "lastMessageAt/lastMessageId match the last message",
        "conversations_last_message_mismatch",
        Kind::Critical,
    ),
    (
        "edit/delete flags agree with their timestamps and status",
        "messages_flags_inconsistent",
        Kind::Critical,
    ),
    (
        "message type agrees with its attachments",
        "messages_type_disagrees_with_attachments",
        Kind::Warning,
    ),
    // reads
    (
        "lastReadAt is the latest read message's createdAt",
        "last_read_at_disagrees_with_reads",
        Kind::Critical,
    ),
    (
        "lastReadMessageId is a read message of the conversation",
        "last_read_message_invalid",
        Kind::Critical,
    ),
    (
        "lastReadAt not after lastMessageAt",
        "last_read_after_last_message",
        Kind::Critical,
    ),
    (
        "readers are members of the conversation",
        "reads_by_non_member",
        Kind::Critical,
    ),
    (
        "reads between the message and the window end",
        "reads_outside_message_and_window",
        Kind::Critical,
    ),
    (
        "receipts between the message and the window end",
        "receipts_outside_message_and_window",
        Kind::Warning,
    ),
    // uniqueness and markers
    ("unique emails", "users_duplicate_email", Kind::Critical),
    (
        "unique usernames",
        "users_duplicate_username",
        Kind::Critical,
    ),
    (
        "unique idempotency keys",
        "messages_duplicate_idempotency_key",
        Kind::Critical,
    ),
    (
        "synthetic marker: email starts with syn_ on a reserved domain",
        "users_not_synthetic",
        Kind::Critical,
    ),
    // window
    (
        "users created inside the window",
        "users_outside_window",
        Kind::Critical,
    ),
    (
        "conversations created inside the window",
        "conversations_outside_window",
        Kind::Critical,
    ),
    (
        "messages created inside the window",
        "messages_outside_window",
        Kind::Critical,
    ),
];

/// createdAt <= updatedAt: one check over every table, naming the tables that fail.
const CREATED_AFTER_UPDATED: &[(&str, &str)] = &[
    ("users", "users_created_after_updated"),
    ("conversations", "conversations_created_after_updated"),
    (
        "conversation_users",
        "conversation_users_created_after_updated",
    ),
    ("messages", "messages_created_after_updated"),
    ("attachments", "attachments_created_after_updated"),
    ("message_reads", "message_reads_created_after_updated"),
    ("message_receipts", "message_receipts_created_after_updated"),
];

/// Builds every check from the measured aggregates and the targets.
pub fn build(m: &Metrics, hourly: Option<&[i64]>, t: &Targets, rel: f64) -> Vec<Check> {
    let mut checks = Vec::new();

    for (name, key, kind) in INTEGRITY {
        checks.push(Check::new(
            name,
            Category::Integrity,
            *kind,
            Expect::Zero,
            get(m, key),
        ));
    }
    let mut total = Some(0.0);
    let mut failing = Vec::new();
    for (table, key) in CREATED_AFTER_UPDATED {
        match (total, get(m, key)) {
            (Some(acc), Some(v)) => {
                total = Some(acc + v);
                if v > 0.0 {
                    failing.push(format!("{table}: {}", fmt_num(v)));
                }
            }
            _ => total = None,
        }
    }
    checks.push(
        Check::new(
            "createdAt <= updatedAt in every table",
            Category::Integrity,
            Kind::Critical,
            Expect::Zero,
            total,
        )
        .with_note(failing.join(", ")),
    );

    fidelity(&mut checks, m, hourly, t, rel);
    checks
}

/// How a fidelity metric is measured from the query results.
#[derive(Clone, Copy)]
enum Measure {
    /// A metric column as it is (a mean, a median, a share computed in SQL).
    Value(&'static str),
    /// `num / of`, two count columns; tolerance from [`share_tolerance`].
    Share { num: &'static str, of: &'static str },
}

/// What a metric's note says beside the result.
#[derive(Clone, Copy)]
enum Note {
    None,
    Fixed(&'static str),
    /// `n = <value of the column>`.
    SampleOf(&'static str),
}

/// One row of a fidelity table: a check built from a measurement and a target.
struct Metric {
    name: &'static str,
    kind: Kind,
    measure: Measure,
    target: fn(&Targets, &Metrics) -> f64,
    note: Note,
}

const USER_METRICS: &[Metric] = &[
    Metric {
        name: "active user share",
        kind: Kind::Warning,
        measure: Measure::Value("active_user_share"),
        target: |t, _| t.dataset.shape.active_user_share,
        note: Note::SampleOf("users"),
    },
    Metric {
        name: "profile completeness mean (4 optional fields)",
        kind: Kind::Warning,
        measure: Measure::Value("profile_completeness_mean"),
        target: |t, _| t.profile_completeness_mean(),
        note: Note::Fixed("Beta(a, b) mean a/(a+b)"),
    },
    Metric {
        name: "username length mean",
        kind: Kind::Warning,
        measure: Measure::Value("username_len_mean"),
        target: |t, _| t.username_len_mean(),
        note: Note::Fixed("normal mean clamped to [3, 30]"),
    },
];

const CLASS_METRICS: &[Metric] = &[
    Metric {
        name: "conversation class share: direct",
        kind: Kind::Critical,
        measure: Measure::Share {
            num: "class_direct",
            of: "conversations",
        },
        target: |t, _| t.dataset.shape.direct_share,
        note: Note::None,
    },
    Metric {
        name: "conversation class share: small group (3..20)",
        kind: Kind::Critical,
        measure: Measure::Share {
            num: "class_small_group",
            of: "conversations",
        },
        target: |t, _| t.dataset.shape.small_group_share,
        note: Note::None,
    },
    Metric {
        name: "conversation class share: large group (21+)",
        kind: Kind::Critical,
        measure: Measure::Share {
            num: "class_large_group",
            of: "conversations",
        },
        target: |t, _| t.dataset.shape.large_group_share,
        note: Note::None,
    },
];

const HEAVY_ROOMS: &str = "heavy rooms: message share of the top 2% of conversations";

/// A scale-dependent metric: checked against a load report's realised targets only.
struct ScaleMetric {
    name: &'static str,
    measure: Measure,
    target: fn(&RealisedTargets) -> f64,
}

const SCALE_METRICS: &[ScaleMetric] = &[
    ScaleMetric {
        name: "messages per conversation: median",
        measure: Measure::Value("mpc_median"),
        target: |r| r.messages_per_conversation_median,
    },
    ScaleMetric {
        name: "messages per conversation: p95",
        measure: Measure::Value("mpc_p95"),
        target: |r| r.messages_per_conversation_p95,
    },
    ScaleMetric {
        name: "conversations with under 50 messages",
        measure: Measure::Share {
            num: "conversations_under_50",
            of: "conversations",
        },
        target: |r| r.share_conversations_under_50_messages,
    },
    ScaleMetric {
        name: "conversations with over 1000 messages",
        measure: Measure::Share {
            num: "conversations_over_1000",
            of: "conversations",
        },
        target: |r| r.share_conversations_over_1000_messages,
    },
];

/// The non-TEXT share: messages with attachments take their attachment's
/// type; SYSTEM (in groups) and LOCATION are drawn among the others.
fn non_text_target(t: &Targets, m: &Metrics) -> f64 {
    let s = &t.dataset.shape;
    let group_fraction = ratio(get(m, "group_messages"), get(m, "messages")).unwrap_or(0.0);
    let attached = s.attachment_one_share + s.attachment_several_share;
    attached + (1.0 - attached) * (s.location_share + s.system_share_in_groups * group_fraction)
}

const CONTENT_METRICS: &[Metric] = &[
    Metric {
        name: "TEXT length median (chars)",
        kind: Kind::Warning,
        measure: Measure::Value("text_len_median"),
        target: |t, _| t.text_len_median(),
        note: Note::None,
    },
    Metric {
        name: "TEXT length mean (chars)",
        kind: Kind::Warning,
        measure: Measure::Value("text_len_mean"),
        target: |t, _| t.text_len_mean(),
        note: Note::Fixed("log-normal mean exp(mu + sigma^2/2), clamped"),
    },
    Metric {
        name: "non-TEXT message share",
        kind: Kind::Critical,
        measure: Measure::Share {
            num: "non_text_messages",
            of: "messages",
        },
        target: non_text_target,
        note: Note::None,
    },
    Metric {
        name: "attachment type share: image",
        kind: Kind::Warning,
        measure: Measure::Share {
            num: "attachments_image",
            of: "attachments",
        },
        target: |t, _| t.dataset.shape.attachment_image_share,
        note: Note::None,
    },
    Metric {
        name: "attachment type share: video",
        kind: Kind::Warning,
        measure: Measure::Share {
            num: "attachments_video",
            of: "attachments",
        },
        target: |t, _| t.dataset.shape.attachment_video_share,
        note: Note::None,
    },
    Metric {
        name: "attachment type share: document",
        kind: Kind::Warning,
        measure: Measure::Share {
            num: "attachments_document",
            of: "attachments",
        },
        target: |t, _| t.dataset.shape.attachment_document_share,
        note: Note::None,
    },
    Metric {
        name: "attachment type share: audio",
        kind: Kind::Warning,
        measure: Measure::Share {
            num: "attachments_audio",
            of: "attachments",
        },
        target: |t, _| t.dataset.shape.attachment_audio_share,
        note: Note::None,
    },
    Metric {
        name: "messages with one attachment",
        kind: Kind::Warning,
        measure: Measure::Share {
            num: "messages_one_attachment",
            of: "messages",
        },
        target: |t, _| t.dataset.shape.attachment_one_share,
        note: Note::None,
    },
    Metric {
        name: "messages with several attachments",
        kind: Kind::Warning,
        measure: Measure::Share {
            num: "messages_several_attachments",
            of: "messages",
        },
        target: |t, _| t.dataset.shape.attachment_several_share,
        note: Note::None,
    },
    Metric {
        name: "SYSTEM share of group messages without attachments",
        kind: Kind::Warning,
        measure: Measure::Share {
            num: "group_system_messages",
            of: "group_plain_messages",
        },
        target: |t, _| t.dataset.shape.system_share_in_groups,
        note: Note::None,
    },
    Metric {
        name: "LOCATION share of messages without attachments",
        kind: Kind::Warning,
        measure: Measure::Share {
            num: "location_messages",
            of: "plain_messages",
        },
        target: |t, _| t.dataset.shape.location_share,
        note: Note::None,
    },
    Metric {
        name: "reply share of group messages",
        kind: Kind::Warning,
        measure: Measure::Share {
            num: "group_reply_messages",
            of: "group_messages",
        },
        target: |t, _| t.dataset.shape.reply_share_in_groups,
        note: Note::None,
    },
    Metric {
        name: "edited share of live TEXT messages",
        kind: Kind::Warning,
        measure: Measure::Share {
            num: "edited_messages",
            of: "live_text_messages",
        },
        target: |t, _| t.dataset.shape.edited_share,
        note: Note::None,
    },
    Metric {
        name: "deleted share",
        kind: Kind::Warning,
        measure: Measure::Share {
            num: "deleted_messages",
            of: "messages",
        },
        target: |t, _| t.dataset.shape.deleted_share,
        note: Note::None,
    },
];

/// Of the reads that happen, the share within 30 s.
fn read_within_30s_target(t: &Targets, _: &Metrics) -> f64 {
    let s = &t.dataset.shape;
    let read_parts = s.read_within_30s_share + s.read_exponential_share + s.read_lognormal_share;
    if read_parts > 0.0 {
        s.read_within_30s_share / read_parts
    } else {
        0.0
    }
}

const RECEIPT_METRICS: &[Metric] = &[
    Metric {
        name: "read share of (message, recipient) pairs, rooms <= 20",
        kind: Kind::Critical,
        measure: Measure::Share {
            num: "small_room_reads",
            of: "receipt_pairs",
        },
        target: |t, _| t.dataset.shape.read_share,
        note: Note::None,
    },
    Metric {
        name: "delivered share of (message, recipient) pairs, rooms <= 20",
        kind: Kind::Critical,
        measure: Measure::Share {
            num: "small_room_delivered",
            of: "receipt_pairs",
        },
        target: |t, _| t.dataset.shape.delivered_share,
        note: Note::None,
    },
    Metric {
        name: "reads within 30 s of the message",
        kind: Kind::Warning,
        measure: Measure::Share {
            num: "reads_within_30s",
            of: "reads_with_message",
        },
        target: read_within_30s_target,
        note: Note::None,
    },
];

/// The measurements, the targets and the relative tolerance that every
/// fidelity check is built from.
struct Fidelity<'a> {
    m: &'a Metrics,
    t: &'a Targets,
    rel: f64,
}

impl Fidelity<'_> {
    /// The measured value and its tolerance around `target`.
    fn measure(&self, measure: Measure, target: f64) -> (Option<f64>, f64) {
        match measure {
            Measure::Value(key) => (get(self.m, key), self.rel * target.abs()),
            Measure::Share { num, of } => {
                let n = get(self.m, of);
                (
                    ratio(get(self.m, num), n),
                    share_tolerance(target, n.unwrap_or(0.0), self.rel),
                )
            }
        }
    }

    fn check(&self, name: &str, kind: Kind, measure: Measure, target: f64) -> Check {
        let (measured, tolerance) = self.measure(measure, target);
        Check::new(
            name,
            Category::Fidelity,
            kind,
            Expect::Near { target, tolerance },
            measured,
        )
    }

    fn metric(&self, x: &Metric) -> Check {
        let c = self.check(x.name, x.kind, x.measure, (x.target)(self.t, self.m));
        match x.note {
            Note::None => c,
            Note::Fixed(note) => c.with_note(note),
            Note::SampleOf(key) => {
                c.with_note(format!("n = {}", fmt_num(get(self.m, key).unwrap_or(0.0))))
            }
        }
    }

    fn table(&self, rows: &[Metric]) -> Vec<Check> {
        rows.iter().map(|x| self.metric(x)).collect()
    }

    /// Against a load report's realised targets; without them the
    /// scale-dependent figures are shown but skipped, and the heavy-room share
    /// (part of the shape every band keeps) is checked against the shape.
    fn messages_per_conversation(&self) -> Vec<Check> {
        let heavy = Measure::Value("heavy_room_message_share");
        let Some(r) = &self.t.realised else {
            let why = "scale-dependent: needs the realised targets of a load report (--report)";
            let mut out: Vec<Check> = SCALE_METRICS
                .iter()
                .map(|x| {
                    let mut c = Check::skipped(
                        x.name,
                        Kind::Warning,
                        Expect::Near {
                            target: f64::NAN,
                            tolerance: f64::NAN,
                        },
                        why,
                    );
                    c.measured = self.measure(x.measure, 0.0).0;
                    c
                })
                .collect();
            let target = self.t.dataset.shape.heavy_room_message_share;
            out.push(
                self.check(HEAVY_ROOMS, Kind::Critical, heavy, target)
                    .with_note("shape target (no realised targets)"),
            );
            return out;
        };
        let mut out: Vec<Check> = SCALE_METRICS
            .iter()
            .map(|x| self.check(x.name, Kind::Warning, x.measure, (x.target)(r)))
            .collect();
        out.push(self.check(
            HEAVY_ROOMS,
            Kind::Critical,
            heavy,
            r.heavy_room_message_share,
        ));
        out
    }

    /// Both time ratios compare counts of clustered events (messages come in
    /// bursts), so their noise is widened by the burst clustering factor.
    fn time(&self, hourly: Option<&[i64]>) -> Vec<Check> {
        let s = &self.t.dataset.shape;
        let cluster = 2.0 * s.burst_mean_messages.max(1.0) - 1.0;
        let (peak3, trough3) = hourly
            .and_then(smoothed_extremes)
            .map(|(mx, mn)| (3.0 * mx, 3.0 * mn))
            .unwrap_or((0.0, 0.0));
        let target = s.diurnal_peak_to_trough;
        let diurnal = Check::new(
            "diurnal peak-to-trough ratio",
            Category::Fidelity,
            Kind::Warning,
            Expect::Near {
                target,
                tolerance: ratio_tolerance(target, self.rel, peak3, trough3, cluster),
            },
            hourly.and_then(peak_to_trough),
        )
        .with_note("max/min of the UTC hourly histogram, 3-hour circular moving average");
        vec![diurnal, self.weekday_ratio(cluster)]
    }

    fn weekday_ratio(&self, cluster: f64) -> Check {
        let s = &self.t.dataset.shape;
        let name = "weekday/weekend message rate ratio";
        let target = s.weekday_factor / s.weekend_factor;
        let weekends = get(self.m, "weekends_measured").unwrap_or(0.0);
        if weekends < MIN_WEEKENDS {
            return Check::skipped(
                name,
                Kind::Warning,
                Expect::Near {
                    target,
                    tolerance: self.rel * target,
                },
                &format!(
                    "the window holds {} weekend(s) with both neighbouring weekdays; {} needed",
                    fmt_num(weekends),
                    fmt_num(MIN_WEEKENDS)
                ),
            );
        }
        let (nb, we) = (
            get(self.m, "weekend_neighbour_messages"),
            get(self.m, "weekend_messages"),
        );
        Check::new(
            name,
            Category::Fidelity,
            Kind::Warning,
            Expect::Near {
                target,
                tolerance: ratio_tolerance(
                    target,
                    self.rel,
                    nb.unwrap_or(0.0),
                    we.unwrap_or(0.0),
                    cluster,
                ),
            },
            ratio(nb, we),
        )
        .with_note("Friday + Monday over Saturday + Sunday, every weekend inside the window")
    }

    fn activity_skew(&self) -> Check {
        Check::new(
            "activity skew: top 10% of users send > 40% of messages",
            Category::Fidelity,
            Kind::Warning,
            Expect::AtLeast { min: 0.40 },
            get(self.m, "top_user_message_share"),
        )
        .with_note("share of all messages sent by the top 10% of users")
    }
}

/// The fidelity checks, in the order the terminal table shows them.
fn fidelity(checks: &mut Vec<Check>, m: &Metrics, hourly: Option<&[i64]>, t: &Targets, rel: f64) {
    let f = Fidelity { m, t, rel };
    if t.dataset.shape.fitted.is_some() {
        // A fitted shape's targets are the profile's distributions, not the
        // parametric ones these tables check; its messages per conversation
        // are still the plan's.
        checks.extend(f.messages_per_conversation());
        checks.push(Check::skipped(
            "shape targets (fitted to a profile)",
            Kind::Warning,
            Expect::Near {
                target: f64::NAN,
                tolerance: f64::NAN,
            },
            "the dataset was fitted to a profile (--profile): compare its shape with validate --against the profile",
        ));
        return;
    }
    checks.extend(f.table(USER_METRICS));
    checks.extend(f.table(CLASS_METRICS));
    checks.extend(f.messages_per_conversation());
    checks.extend(f.table(CONTENT_METRICS));
    checks.extend(f.time(hourly));
    checks.extend(f.table(RECEIPT_METRICS));
    checks.push(f.activity_skew());
}

/// The verdict: GO when every critical check passed and at most
/// `MAX_WARNING_FAILURES` warnings failed. A skipped critical check blocks GO
/// (it was not verified); a skipped warning does not count as a failure.
pub(crate) const MAX_WARNING_FAILURES: usize = 3;

#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    /// Written as `"go": bool, "verdict": "GO" | "NO-GO"`.
    #[serde(flatten, with = "crate::model::run::go_then_verdict")]
    pub verdict: Verdict,
    pub critical_failures: Vec<String>,
    pub critical_not_verified: Vec<String>,
    pub warning_failures: Vec<String>,
    pub skipped: Vec<String>,
    pub reasons: Vec<String>,
}

pub(crate) fn decide(checks: &[Check]) -> Decision {
    let names = |pred: &dyn Fn(&Check) -> bool| -> Vec<String> {
        checks
            .iter()
            .filter(|c| pred(c))
            .map(|c| c.name.clone())
            .collect()
    };
    let critical_failures = names(&|c| c.kind == Kind::Critical && c.status == Status::Fail);
    let critical_not_verified = names(&|c| c.kind == Kind::Critical && c.status == Status::Skipped);
    let warning_failures = names(&|c| c.kind == Kind::Warning && c.status == Status::Fail);
    let skipped = names(&|c| c.status == Status::Skipped);
    let mut reasons = Vec::new();
    for n in &critical_failures {
        reasons.push(format!("critical check failed: {n}"));
    }
    for n in &critical_not_verified {
        reasons.push(format!("critical check could not be measured: {n}"));
    }
    if warning_failures.len() > MAX_WARNING_FAILURES {
        reasons.push(format!(
            "{} warnings failed (at most {MAX_WARNING_FAILURES} allowed): {}",
            warning_failures.len(),
            warning_failures.join(", ")
        ));
    }
    Decision {
        verdict: Verdict::go_if(reasons.is_empty()),
        critical_failures,
        critical_not_verified,
        warning_failures,
        skipped,
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Band, RealisedTargets};

    fn targets(realised: bool) -> Targets {
        Targets {
            dataset: Band::Tiny.preset(),
            realised: realised.then_some(RealisedTargets {
                messages_per_conversation_median: 15.0,
                messages_per_conversation_p95: 120.0,
                messages_per_conversation_max: 900,
                share_conversations_under_50_messages: 0.8,
                share_conversations_over_1000_messages: 0.0,
                heavy_room_message_share: 0.3,
                conversation_users_rows: 900,
            }),
            source: "test".into(),
        }
    }

    /// Aggregates of a dataset that matches the tiny targets exactly.
    fn perfect(t: &Targets) -> (Metrics, Vec<i64>) {
        let s = &t.dataset.shape;
        let mut m = Metrics::new();
        for (_, key, _) in INTEGRITY {
            m.insert(key.to_string(), Some(0.0));
        }
        for (_, key) in CREATED_AFTER_UPDATED {
            m.insert(key.to_string(), Some(0.0));
        }
        let mut set = |k: &str, v: f64| {
            m.insert(k.to_string(), Some(v));
        };
        let msgs = 10_000.0;
        set("users", 200.0);
        set("active_user_share", s.active_user_share);
        set("profile_completeness_mean", t.profile_completeness_mean());
        set("username_len_mean", t.username_len_mean());
        set("conversations", 300.0);
        set("class_direct", 210.0);
        set("class_small_group", 75.0);
        set("class_large_group", 15.0);
        set("mpc_median", 15.0);
        set("mpc_p95", 120.0);
        set("conversations_under_50", 240.0);
        set("conversations_over_1000", 0.0);
        set("heavy_room_message_share", 0.3);
        set("messages", msgs);
        set("text_len_median", t.text_len_median());
        set("text_len_mean", t.text_len_mean());
        set("group_messages", 5_000.0);
        set(
            "non_text_messages",
            1_500.0 + 8_500.0 * (0.003 + 0.5 * 0.01),
        );
        set("attachments", 2_000.0);
        set("attachments_image", 1_300.0);
        set("attachments_video", 300.0);
        set("attachments_document", 240.0);
        set("attachments_audio", 160.0);
        set("messages_one_attachment", 1_200.0);
        set("messages_several_attachments", 300.0);
        set("group_system_messages", 42.0);
        set("location_messages", 25.0);
        set("plain_messages", 8_500.0);
        set("group_plain_messages", 4_250.0);
        set("live_text_messages", 8_000.0);
        set("group_reply_messages", 500.0);
        set("edited_messages", 240.0);
        set("deleted_messages", 100.0);
        set("weekends_measured", 4.0);
        set("weekend_neighbour_messages", 4_000.0);
        set("weekend_messages", 2_000.0);
        set("receipt_pairs", 20_000.0);
        set("small_room_reads", 16_400.0);
        set("small_room_delivered", 19_000.0);
        set("reads_within_30s", 0.35 / 0.9 * 16_400.0);
        set("reads_with_message", 16_400.0);
        set("top_user_message_share", 0.55);
        // plateaus: 4 hours at 250, 4 hours at 100, ramps between
        let hourly = vec![
            100, 100, 100, 100, 130, 160, 190, 220, 250, 250, 250, 250, 220, 190, 190, 220, 250,
            250, 250, 250, 200, 160, 130, 100,
        ];
        (m, hourly)
    }

    fn status_of<'a>(checks: &'a [Check], name: &str) -> &'a Check {
        checks
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no check {name}"))
    }

    #[test]
    fn a_perfect_dataset_is_go_with_every_check_passing() {
        let t = targets(true);
        let (m, h) = perfect(&t);
        let checks = build(&m, Some(&h), &t, 0.2);
        let failing: Vec<_> = checks
            .iter()
            .filter(|c| c.status != Status::Pass)
            .map(|c| (&c.name, c.measured, c.expect))
            .collect();
        assert!(failing.is_empty(), "{failing:?}");
        let fidelity = checks
            .iter()
            .filter(|c| c.category == Category::Fidelity)
            .count();
        assert!(fidelity >= 15, "only {fidelity} fidelity metrics");
        let d = decide(&checks);
        assert!(d.verdict == Verdict::Go, "{:?}", d.reasons);
    }

    #[test]
    fn one_failed_critical_is_no_go_and_named() {
        let t = targets(true);
        let (mut m, h) = perfect(&t);
        m.insert("messages_sender_not_member".into(), Some(1.0));
        let d = decide(&build(&m, Some(&h), &t, 0.2));
        assert!(!d.verdict.is_go());
        assert_eq!(d.critical_failures, vec!["senders are members".to_string()]);
        assert!(d.reasons[0].contains("senders are members"));
    }

    #[test]
    fn three_warnings_are_go_four_are_no_go() {
        let t = targets(true);
        let (mut m, h) = perfect(&t);
        m.insert("edited_messages".into(), Some(2_000.0));
        m.insert("deleted_messages".into(), Some(3_000.0));
        m.insert("location_messages".into(), Some(3_000.0));
        let d = decide(&build(&m, Some(&h), &t, 0.2));
        assert!(d.verdict.is_go(), "{:?}", d.reasons);
        assert_eq!(d.warning_failures.len(), 3);
        m.insert("active_user_share".into(), Some(0.2));
        let d = decide(&build(&m, Some(&h), &t, 0.2));
        assert!(!d.verdict.is_go());
        assert!(
            d.reasons[0].contains("4 warnings failed"),
            "{:?}",
            d.reasons
        );
    }

    #[test]
    fn without_realised_targets_percentiles_are_skipped_not_passed() {
        let t = targets(false);
        let (m, h) = perfect(&t);
        let checks = build(&m, Some(&h), &t, 0.2);
        let c = status_of(&checks, "messages per conversation: p95");
        assert_eq!(c.status, Status::Skipped);
        assert!(c.note.contains("--report"));
        let heavy = status_of(
            &checks,
            "heavy rooms: message share of the top 2% of conversations",
        );
        assert_eq!(heavy.status, Status::Pass);
        let d = decide(&checks);
        assert!(
            d.verdict.is_go(),
            "skipped warnings do not block: {:?}",
            d.reasons
        );
        assert_eq!(d.skipped.len(), 4);
    }

    #[test]
    fn a_critical_that_cannot_be_measured_blocks_go() {
        let t = targets(true);
        let (mut m, h) = perfect(&t);
        m.insert("receipt_pairs".into(), Some(0.0));
        let d = decide(&build(&m, Some(&h), &t, 0.2));
        assert!(!d.verdict.is_go());
        assert!(d
            .critical_not_verified
            .iter()
            .any(|n| n.starts_with("read share")));
    }

    #[test]
    fn flattened_heavy_rooms_and_type_mix_are_critical() {
        let t = targets(true);
        let (mut m, h) = perfect(&t);
        m.insert("heavy_room_message_share".into(), Some(0.021));
        m.insert("non_text_messages".into(), Some(5_000.0));
        let d = decide(&build(&m, Some(&h), &t, 0.2));
        assert!(!d.verdict.is_go());
        assert!(d
            .critical_failures
            .iter()
            .any(|n| n.starts_with("heavy rooms")));
        assert!(d
            .critical_failures
            .iter()
            .any(|n| n == "non-TEXT message share"));
    }

    #[test]
    fn created_after_updated_names_the_table() {
        let t = targets(true);
        let (mut m, h) = perfect(&t);
        m.insert("message_reads_created_after_updated".into(), Some(2.0));
        let checks = build(&m, Some(&h), &t, 0.2);
        let c = status_of(&checks, "createdAt <= updatedAt in every table");
        assert_eq!(c.status, Status::Fail);
        assert_eq!(c.note, "message_reads: 2");
    }

    #[test]
    fn share_tolerance_widens_only_for_small_samples() {
        // 300 conversations, 5% large: 3 standard errors (0.038) beat 20% (0.01).
        let small = share_tolerance(0.05, 300.0, 0.2);
        assert!((small - 3.0 * (0.05f64 * 0.95 / 300.0).sqrt()).abs() < 1e-12);
        // 8,000 conversations, 70% direct: 20% relative wins.
        assert!((share_tolerance(0.7, 8_000.0, 0.2) - 0.14).abs() < 1e-12);
    }

    #[test]
    fn peak_to_trough_uses_the_smoothed_histogram() {
        let mut h = vec![100i64; 24];
        for x in &mut h[9..13] {
            *x = 250;
        }
        assert!((peak_to_trough(&h).unwrap() - 2.5).abs() < 1e-9);
        // one noisy hour does not move the ratio much
        h[3] = 70;
        assert!(peak_to_trough(&h).unwrap() < 2.5 * 1.12);
        assert_eq!(peak_to_trough(&[0; 24]), None);
    }

    #[test]
    fn one_weekend_is_not_enough_for_the_weekday_ratio() {
        let t = targets(true);
        let (mut m, h) = perfect(&t);
        m.insert("weekends_measured".into(), Some(1.0));
        let checks = build(&m, Some(&h), &t, 0.2);
        let c = status_of(&checks, "weekday/weekend message rate ratio");
        assert_eq!(c.status, Status::Skipped);
        assert!(c.note.contains("1 weekend(s)"), "{}", c.note);
    }

    #[test]
    fn ratio_tolerance_widens_for_few_clustered_events() {
        // 560 vs 1767 messages in bursts of mean 4 (cluster 7): ~12.8% per sigma
        let t = ratio_tolerance(2.5, 0.2, 1767.0, 560.0, 7.0);
        assert!(t > 0.9 && t < 1.0, "{t}");
        // at dev scale the relative tolerance governs
        assert_eq!(ratio_tolerance(2.5, 0.2, 83_000.0, 33_000.0, 7.0), 0.5);
    }

    #[test]
    fn expectations_hold_as_documented() {
        assert!(Expect::Zero.holds(0.0));
        assert!(!Expect::Zero.holds(1.0));
        assert!(!Expect::Zero.holds(f64::NAN));
        let n = Expect::Near {
            target: 1.0,
            tolerance: 0.2,
        };
        assert!(n.holds(1.2) && n.holds(0.8) && !n.holds(1.21));
        assert!(Expect::AtLeast { min: 0.4 }.holds(0.4));
        assert!(!Expect::AtLeast { min: 0.4 }.holds(0.39));
    }
}
