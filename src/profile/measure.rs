//! Measuring a profile: the `sql/profile/*.sql` aggregates, run inside one
//! `REPEATABLE READ READ ONLY` transaction with a statement timeout, then the
//! privacy rule (k rows per value) applied before anything is kept.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row};

use super::format::{
    levels, round_share, round_sig, Activity, Attachments, ChildTableShape, Conversations, Counts,
    Delivery, HourByWeekday, Messages, Mix, Privacy, Profile, Quantiles, RoomMessages, Sample,
    Window, FORMAT_VERSION,
};
use crate::error::{DbContext, Error, Result};

const Q_ESTIMATE: &str = include_str!("../../sql/profile/estimate.sql");
const Q_COUNTS: &str = include_str!("../../sql/profile/counts.sql");
const Q_ROOMS: &str = include_str!("../../sql/profile/rooms.sql");
const Q_CONVERSATIONS: &str = include_str!("../../sql/profile/conversations.sql");
const Q_MESSAGES: &str = include_str!("../../sql/profile/messages.sql");
const Q_MESSAGE_TIME: &str = include_str!("../../sql/profile/message_time.sql");
const Q_ATTACHMENTS: &str = include_str!("../../sql/profile/attachments.sql");
const Q_ATTACHMENTS_PER_MESSAGE: &str =
    include_str!("../../sql/profile/attachments_per_message.sql");
const Q_ACTIVITY: &str = include_str!("../../sql/profile/activity.sql");
const Q_RECEIPTS: &str = include_str!("../../sql/profile/receipts.sql");

/// The chat tables a profile reads.
pub const TABLES: [&str; 7] = [
    "users",
    "conversations",
    "conversation_users",
    "messages",
    "attachments",
    "message_reads",
    "message_receipts",
];

/// Above this many messages (planner estimate) a default sample is taken...
pub const SAMPLE_ABOVE_MESSAGES: f64 = 5_000_000.0;
/// ...sized to read about this many.
const SAMPLE_TARGET_MESSAGES: f64 = 5_000_000.0;
/// The share of rooms whose share of messages is reported.
const TOP_ROOM_FRACTION: f64 = 0.02;
/// The share of users whose share of messages and memberships is reported.
pub const TOP_USER_FRACTION: f64 = 0.10;

/// How to take a profile.
#[derive(Debug, Clone)]
pub struct Options {
    /// `--sample`: percent of blocks of messages and its child tables.
    pub sample_percent: Option<f64>,
    pub statement_timeout: Duration,
    /// k: the fewest rows any kept value may rest on.
    pub min_bucket: u64,
    /// `--config`: the declared child tables, measured too.
    pub child_tables: BTreeMap<String, crate::config::tables::ChildTable>,
}

/// Applies the k rule and records what it removed.
struct Guard {
    k: u64,
    suppressed: Vec<String>,
}

impl Guard {
    fn suppress(&mut self, path: impl Into<String>) {
        self.suppressed.push(path.into());
    }

    /// A quantile table over `n` rows; `None` when `n < k`. A level is kept
    /// only with at least k rows at or below it and k rows above it.
    fn quantiles(
        &mut self,
        path: &str,
        n: u64,
        values: &[Option<f64>],
        max: Option<f64>,
        mean: Option<f64>,
        digits: Option<i32>,
    ) -> Option<Quantiles> {
        if n < self.k {
            self.suppress(format!("{path} (all: {n} rows is under k)"));
            return None;
        }
        let k = self.k as f64;
        let mut at = BTreeMap::new();
        let mut dropped = Vec::new();
        for ((key, p), v) in levels().iter().zip(values) {
            let (below, above) = (n as f64 * p, n as f64 * (1.0 - p));
            match v {
                Some(v) if below >= k && above >= k => {
                    let v = match digits {
                        Some(d) => round_sig(*v, d),
                        None => *v,
                    };
                    at.insert(key.clone(), v);
                }
                Some(_) => dropped.push(key.clone()),
                None => {}
            }
        }
        if !dropped.is_empty() {
            self.suppress(format!("{path}.{}", dropped.join(",")));
        }
        Some(Quantiles {
            n,
            mean: mean.map(|m| round_sig(m, 6)),
            max_rounded: max.map(|m| round_sig(m, 2)),
            at,
        })
    }

    /// Shares of `n` by category, categories under k left out.
    fn mix(&mut self, path: &str, counts: &BTreeMap<String, u64>) -> Mix {
        let n: u64 = counts.values().sum();
        let mut shares = BTreeMap::new();
        for (cat, &c) in counts {
            if c == 0 {
                continue;
            }
            if c < self.k {
                self.suppress(format!("{path}.{cat}"));
            } else {
                shares.insert(cat.clone(), round_share(c as f64 / n as f64));
            }
        }
        Mix { n, shares }
    }

    /// `num / den`, or `None` when either rests on fewer than k rows (0 is a
    /// share that rests on the whole denominator, so it is kept).
    fn share(&mut self, path: &str, num: i64, den: i64) -> Option<f64> {
        if den <= 0 {
            return None;
        }
        if (num > 0 && (num as u64) < self.k) || (den as u64) < self.k {
            self.suppress(path);
            return None;
        }
        Some(round_share(num as f64 / den as f64))
    }
}

fn int(row: &Row, col: &str) -> i64 {
    row.get::<_, Option<i64>>(col).unwrap_or(0)
}

fn float(row: &Row, col: &str) -> Option<f64> {
    row.get::<_, Option<f64>>(col)
}

/// A `percentile_disc(array)` result of any numeric type, as floats.
fn array(row: &Row, col: &str, file: &str) -> Result<Vec<Option<f64>>> {
    let idx = row
        .columns()
        .iter()
        .position(|c| c.name() == col)
        .ok_or_else(|| Error::Other(format!("sql/profile/{file}.sql: no column {col}")))?;
    let ty = row.columns()[idx].type_().clone();
    Ok(match ty {
        Type::INT4_ARRAY => row
            .get::<_, Option<Vec<Option<i32>>>>(idx)
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.map(f64::from))
            .collect(),
        Type::INT8_ARRAY => row
            .get::<_, Option<Vec<Option<i64>>>>(idx)
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.map(|x| x as f64))
            .collect(),
        Type::FLOAT8_ARRAY => row
            .get::<_, Option<Vec<Option<f64>>>>(idx)
            .unwrap_or_default(),
        other => {
            return Err(Error::Other(format!(
                "sql/profile/{file}.sql: column {col} has type {other}; expected an int4, int8 or float8 array"
            )))
        }
    })
}

/// Runs one query file, reporting progress on stderr.
async fn run(
    client: &Client,
    name: &str,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    quiet: bool,
) -> Result<Vec<Row>> {
    let t0 = Instant::now();
    let rows = client
        .query(sql, params)
        .await
        .step(format!("profile query sql/profile/{name}.sql"))?;
    if !quiet {
        eprintln!("profile: {name:<24} {:>8.2} s", t0.elapsed().as_secs_f64());
    }
    Ok(rows)
}

fn one<'a>(rows: &'a [Row], name: &str) -> Result<&'a Row> {
    rows.first()
        .ok_or_else(|| Error::Other(format!("sql/profile/{name}.sql returned no row")))
}

/// The tables of `schema` and the planner's row estimates; an error (exit 2)
/// when a chat table is missing.
async fn estimates(client: &Client, schema: &str) -> Result<BTreeMap<String, f64>> {
    let rows = client
        .query(Q_ESTIMATE, &[&schema])
        .await
        .step("reading the tables of the schema")?;
    let present: BTreeMap<String, f64> = rows
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, f64>(1)))
        .collect();
    let missing: Vec<&str> = TABLES
        .iter()
        .copied()
        .filter(|t| !present.contains_key(*t))
        .collect();
    if missing.is_empty() {
        Ok(present)
    } else {
        Err(Error::Config(format!(
            "schema \"{schema}\" does not hold the chat tables (missing: {}); nothing to profile",
            missing.join(", ")
        )))
    }
}

/// The sample percent: the flag, or a default above `SAMPLE_ABOVE_MESSAGES`.
fn choose_sample(flag: Option<f64>, messages_estimate: f64) -> (f64, String) {
    match flag {
        Some(p) => (p, "--sample".into()),
        None if messages_estimate > SAMPLE_ABOVE_MESSAGES => {
            let p = round_sig(
                (100.0 * SAMPLE_TARGET_MESSAGES / messages_estimate).clamp(1.0, 100.0),
                2,
            );
            (
                p,
                format!(
                    "default: about {messages_estimate:.0} messages (planner estimate) is above {SAMPLE_ABOVE_MESSAGES:.0}"
                ),
            )
        }
        None => (100.0, "default: all rows".into()),
    }
}

/// Takes a profile of the chat tables `client` sees (its search_path is pinned
/// to `schema`), in one read-only snapshot. Writes nothing to the database.
pub async fn profile(
    client: &Client,
    schema: &str,
    opts: &Options,
    quiet: bool,
) -> Result<Profile> {
    client
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .step("starting the read-only profile transaction")?;
    client
        .batch_execute(&format!(
            "SET LOCAL statement_timeout = {}; SET LOCAL jit = off",
            opts.statement_timeout.as_millis().max(1)
        ))
        .await
        .step("setting the statement timeout")?;
    let result = measure(client, schema, opts, quiet).await;
    // Read only: ending the transaction either way changes nothing.
    let end = client.batch_execute("ROLLBACK").await;
    let p = result?;
    end.step("ending the profile transaction")?;
    Ok(p)
}

async fn measure(client: &Client, schema: &str, opts: &Options, quiet: bool) -> Result<Profile> {
    let est = estimates(client, schema).await?;
    let (percent, chosen_by) = choose_sample(
        opts.sample_percent,
        est.get("messages").copied().unwrap_or(0.0),
    );
    let pct = percent as f32;
    let lv: Vec<f64> = levels().into_iter().map(|(_, p)| p).collect();
    let mut g = Guard {
        k: opts.min_bucket,
        suppressed: Vec::new(),
    };

    let day: String = client
        .query_one(
            "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
            &[],
        )
        .await
        .step("reading the server date")?
        .get(0);

    // Exact counts and rooms.
    let rows = run(client, "counts", Q_COUNTS, &[], quiet).await?;
    let c = one(&rows, "counts")?;
    let (users, conversations, members) = (
        int(c, "users"),
        int(c, "conversations"),
        int(c, "conversation_users"),
    );

    let rows = run(client, "rooms", Q_ROOMS, &[&lv, &TOP_ROOM_FRACTION], quiet).await?;
    let r = one(&rows, "rooms")?;
    let messages = int(r, "messages");
    let rooms = int(r, "rooms") as u64;
    let per_room = g
        .quantiles(
            "messages_per_conversation.per_conversation",
            rooms,
            &array(r, "q", "rooms")?,
            Some(int(r, "max_n") as f64),
            (rooms > 0).then(|| messages as f64 / rooms as f64),
            None,
        )
        .unwrap_or_else(|| empty_quantiles(rooms));
    let top_rooms = (rooms as f64 * TOP_ROOM_FRACTION).ceil() as u64;
    let top_share = if top_rooms >= g.k {
        float(r, "top_share").map(round_share)
    } else {
        g.suppress("messages_per_conversation.top_2pct_rooms_message_share");
        None
    };
    let first_day: Option<String> = r.get("first_day");
    let last_day: Option<String> = r.get("last_day");
    let days = match (&first_day, &last_day) {
        (Some(a), Some(b)) => day_span(a, b),
        _ => 0,
    };

    // Conversations by type.
    let rows = run(client, "conversations", Q_CONVERSATIONS, &[&lv], quiet).await?;
    let mut type_counts = BTreeMap::new();
    let mut members_per_type = BTreeMap::new();
    for row in &rows {
        let kind: String = row.get("kind");
        let n = int(row, "n") as u64;
        type_counts.insert(kind.clone(), n);
        if let Some(q) = g.quantiles(
            &format!("conversations.members_per_type.{kind}"),
            n,
            &array(row, "q", "conversations")?,
            Some(int(row, "max_n") as f64),
            float(row, "mean"),
            None,
        ) {
            members_per_type.insert(kind, q);
        }
    }
    let conversation_types = g.mix("conversations.types", &type_counts);

    // Messages (sampled).
    let rows = run(client, "messages", Q_MESSAGES, &[&pct, &lv], quiet).await?;
    let m = one(&rows, "messages")?;
    let seen = int(m, "seen");
    let texts = int(m, "texts") as u64;
    let text_length = g
        .quantiles(
            "messages.text_length",
            texts,
            &array(m, "text_q", "messages")?,
            Some(int(m, "text_max") as f64),
            None,
            None,
        )
        .unwrap_or_else(|| empty_quantiles(texts));
    let reply_share = g.share("messages.reply_share", int(m, "replies"), seen);
    let thread_share = g.share("messages.thread_share", int(m, "threaded"), seen);
    let edited_share = g.share("messages.edited_share", int(m, "edited"), seen);
    let deleted_share = g.share("messages.deleted_share", int(m, "deleted"), seen);
    let system_share = g.share("messages.system_share", int(m, "system"), seen);

    let rows = run(client, "message_time", Q_MESSAGE_TIME, &[&pct], quiet).await?;
    let mut msg_types = BTreeMap::new();
    let mut cells = vec![vec![0u64; 24]; 7];
    for row in &rows {
        let kind: String = row.get("kind");
        let (dow, hour) = (row.get::<_, i32>("dow"), row.get::<_, i32>("hour"));
        let n = int(row, "n") as u64;
        *msg_types.entry(kind).or_insert(0) += n;
        if (1..=7).contains(&dow) && (0..24).contains(&hour) {
            cells[(dow - 1) as usize][hour as usize] += n;
        }
    }
    let message_types = g.mix("messages.types", &msg_types);
    let weekdays = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let mut small_cells = Vec::new();
    let counts = cells
        .iter()
        .enumerate()
        .map(|(d, row)| {
            row.iter()
                .enumerate()
                .map(|(h, &n)| {
                    if n > 0 && n < g.k {
                        small_cells.push(format!("{}-{h:02}", weekdays[d]));
                        None
                    } else {
                        Some(n)
                    }
                })
                .collect()
        })
        .collect();
    if !small_cells.is_empty() {
        g.suppress(format!(
            "messages.hour_by_weekday.{}",
            small_cells.join(",")
        ));
    }

    // Attachments.
    let rows = run(client, "attachments", Q_ATTACHMENTS, &[&pct, &lv], quiet).await?;
    let mut att_types = BTreeMap::new();
    let mut sizes = BTreeMap::new();
    for row in &rows {
        let kind: String = row.get("kind");
        let n = int(row, "n") as u64;
        att_types.insert(kind.clone(), n);
        if let Some(q) = g.quantiles(
            &format!("attachments.size_bytes_per_type.{kind}"),
            n,
            &array(row, "q", "attachments")?,
            Some(int(row, "max_n") as f64),
            None,
            None,
        ) {
            sizes.insert(kind, q);
        }
    }
    let attachments_seen: u64 = att_types.values().sum();
    let attachment_types = g.mix("attachments.types", &att_types);

    let rows = run(
        client,
        "attachments_per_message",
        Q_ATTACHMENTS_PER_MESSAGE,
        &[&pct],
        quiet,
    )
    .await?;
    let a = one(&rows, "attachments_per_message")?;
    let per_message_counts: BTreeMap<String, u64> = [
        ("0", "k0"),
        ("1", "k1"),
        ("2", "k2"),
        ("3", "k3"),
        ("4+", "k4_plus"),
    ]
    .iter()
    .map(|(label, col)| (label.to_string(), int(a, col) as u64))
    .collect();
    let per_message = g.mix("attachments.per_message", &per_message_counts);
    let mean_per_message = (per_message.n > 0)
        .then(|| round_sig(int(a, "attachments") as f64 / per_message.n as f64, 6));

    // Activity.
    let rows = run(
        client,
        "activity",
        Q_ACTIVITY,
        &[&pct, &TOP_USER_FRACTION],
        quiet,
    )
    .await?;
    let act = one(&rows, "activity")?;
    let (top_msg, top_mem) = if (int(act, "top_users") as u64) >= g.k {
        (
            float(act, "top_message_share").map(round_share),
            float(act, "top_membership_share").map(round_share),
        )
    } else {
        g.suppress("activity (fewer than k top users)");
        (None, None)
    };

    // Delivery and reading.
    let rows = run(client, "receipts", Q_RECEIPTS, &[&pct, &lv], quiet).await?;
    let d = one(&rows, "receipts")?;
    let pairs = int(d, "pairs");
    let reads_seen = int(d, "reads_seen") as u64;
    let receipts_seen = int(d, "receipts_seen") as u64;
    let joined = reads_seen;
    let messages_seen_here = int(d, "messages_seen");
    let delay = g
        .quantiles(
            "delivery.read_delay_seconds",
            joined,
            &array(d, "delay_q", "receipts")?,
            float(d, "delay_max"),
            None,
            Some(4),
        )
        .unwrap_or_else(|| empty_quantiles(joined));
    let delivery = Delivery {
        pairs_seen: pairs.max(0) as u64,
        covered_share: g.share(
            "delivery.covered_share",
            int(d, "covered"),
            messages_seen_here,
        ),
        delivered_share: g.share("delivery.delivered_share", int(d, "delivered"), pairs),
        read_share: g.share("delivery.read_share", int(d, "read"), pairs),
        reads_per_pair: g.share("delivery.reads_per_pair", reads_seen as i64, pairs),
        read_delay_seconds: delay,
    };

    let scale = |seen: u64| -> u64 {
        if percent >= 100.0 {
            seen
        } else {
            (seen as f64 * 100.0 / percent).round() as u64
        }
    };
    let estimated = if percent >= 100.0 {
        Vec::new()
    } else {
        vec![
            "attachments".to_string(),
            "message_reads".into(),
            "message_receipts".into(),
        ]
    };
    // Declared child tables: rows per parent, one pass each (a hash
    // aggregate by the parent column), all rows.
    let mut child_tables = BTreeMap::new();
    for (name, decl) in &opts.child_tables {
        let parents = match decl.parent {
            crate::config::tables::Parent::Messages => messages,
            crate::config::tables::Parent::Conversations => conversations,
            crate::config::tables::Parent::Users => users,
        };
        let sql = format!(
            "WITH per_parent AS (SELECT {col} AS p, count(*) AS k FROM {table} WHERE {col} IS NOT NULL GROUP BY 1) \
             SELECT count(*) FILTER (WHERE k = 1) AS k1, count(*) FILTER (WHERE k = 2) AS k2, \
                    count(*) FILTER (WHERE k = 3) AS k3, count(*) FILTER (WHERE k >= 4) AS k4_plus, \
                    count(*) AS with_any, coalesce(sum(k), 0)::int8 AS rows FROM per_parent",
            col = crate::db::quote_ident(decl.parent_column()),
            table = crate::db::quote_ident(name),
        );
        let rows = run(client, &format!("child table {name}"), &sql, &[], quiet).await?;
        let r = one(&rows, name)?;
        let mut counts: BTreeMap<String, u64> =
            [("1", "k1"), ("2", "k2"), ("3", "k3"), ("4+", "k4_plus")]
                .iter()
                .map(|(label, col)| (label.to_string(), int(r, col) as u64))
                .collect();
        counts.insert("0".into(), (parents - int(r, "with_any")).max(0) as u64);
        let per_parent = g.mix(&format!("child_tables.{name}.per_parent"), &counts);
        let mean_per_parent =
            (parents > 0).then(|| round_sig(int(r, "rows") as f64 / parents as f64, 6));
        child_tables.insert(
            name.clone(),
            ChildTableShape {
                parent: decl.parent.table().to_string(),
                per_parent,
                mean_per_parent,
            },
        );
    }
    Ok(Profile {
        format_version: FORMAT_VERSION,
        tool: "chatsynth".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        profiled_on: day,
        privacy: Privacy {
            min_bucket: g.k,
            rule: "every value rests on at least min_bucket rows: smaller categories, cells and shares are left out, a quantile level needs min_bucket rows on each side, a table needs min_bucket rows; maxima are rounded to two significant digits; the window is rounded to days; no identifier, text, name, address or exact time is read out".into(),
            suppressed: g.suppressed,
        },
        sample: Sample {
            percent,
            chosen_by,
            messages_seen: seen.max(0) as u64,
            attachments_seen,
            message_reads_seen: reads_seen,
            message_receipts_seen: receipts_seen,
        },
        counts: Counts {
            users: users as u64,
            conversations: conversations as u64,
            conversation_users: members as u64,
            messages: messages as u64,
            attachments: scale(attachments_seen),
            message_reads: scale(reads_seen),
            message_receipts: scale(receipts_seen),
            estimated_from_sample: estimated,
        },
        window: Window {
            first_day,
            last_day,
            days,
        },
        conversations: Conversations {
            types: conversation_types,
            members_per_type,
        },
        messages_per_conversation: RoomMessages {
            per_conversation: per_room,
            top_2pct_rooms_message_share: top_share,
        },
        messages: Messages {
            types: message_types,
            text_length,
            reply_share,
            thread_share,
            edited_share,
            deleted_share,
            system_share,
            hour_by_weekday: HourByWeekday {
                weekdays: weekdays.iter().map(|s| s.to_string()).collect(),
                counts,
            },
        },
        attachments: Attachments {
            per_message,
            mean_per_message,
            types: attachment_types,
            size_bytes_per_type: sizes,
        },
        activity: Activity {
            top_user_fraction: TOP_USER_FRACTION,
            top_users_message_share: top_msg,
            top_users_membership_share: top_mem,
        },
        delivery,
        child_tables,
    })
}

fn empty_quantiles(n: u64) -> Quantiles {
    Quantiles {
        n,
        mean: None,
        max_rounded: None,
        at: BTreeMap::new(),
    }
}

/// Days from `a` to `b` inclusive (`YYYY-MM-DD`).
fn day_span(a: &str, b: &str) -> u64 {
    use crate::util::calendar::days_of_ymd;
    match (days_of_ymd(a), days_of_ymd(b)) {
        (Some(x), Some(y)) if y >= x => (y - x + 1) as u64,
        _ => 0,
    }
}

/// Parses `--statement-timeout`: `60s`, `500ms`, `2min`, or plain seconds.
pub fn parse_timeout(s: &str) -> Result<Duration> {
    let t = s.trim();
    let (num, unit_ms) = if let Some(v) = t.strip_suffix("ms") {
        (v, 1.0)
    } else if let Some(v) = t.strip_suffix("min") {
        (v, 60_000.0)
    } else if let Some(v) = t.strip_suffix('s') {
        (v, 1000.0)
    } else {
        (t, 1000.0)
    };
    match num.trim().parse::<f64>() {
        Ok(v) if v > 0.0 && (v * unit_ms) >= 1.0 && (v * unit_ms) < 2_147_483_647.0 => {
            Ok(Duration::from_millis((v * unit_ms).round() as u64))
        }
        _ => Err(Error::Config(format!(
            "--statement-timeout {s:?} is not a positive duration (e.g. 60s, 500ms, 5min)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_spans() {
        assert_eq!(day_span("2026-01-01", "2026-01-01"), 1);
        assert_eq!(day_span("2026-02-27", "2026-03-01"), 3);
        assert_eq!(day_span("2024-02-28", "2024-03-01"), 3);
        assert_eq!(day_span("2025-12-31", "2026-01-01"), 2);
    }

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout("60s").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_timeout("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_timeout("2min").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_timeout("15").unwrap(), Duration::from_secs(15));
        for bad in ["0s", "-1s", "abc", "", "0.1ms"] {
            assert!(parse_timeout(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn default_sample_only_above_the_threshold() {
        assert_eq!(choose_sample(None, 1_000_000.0).0, 100.0);
        assert_eq!(choose_sample(None, 10_000_000.0).0, 50.0);
        assert_eq!(choose_sample(None, 1e10).0, 1.0);
        assert_eq!(choose_sample(Some(5.0), 1e10).0, 5.0);
    }

    #[test]
    fn the_k_rule() {
        let mut g = Guard {
            k: 10,
            suppressed: Vec::new(),
        };
        let vals: Vec<Option<f64>> = (0..108).map(|i| Some(i as f64)).collect();
        let q = g
            .quantiles("x", 1000, &vals, Some(123.0), None, None)
            .unwrap();
        // n = 1000: p01 has 10 rows below, p99 has 10 above; p99.1 .. p99.9 fewer.
        assert!(q.at.contains_key("p01") && q.at.contains_key("p99"));
        assert!(!q.at.contains_key("p99.1") && !q.at.contains_key("p99.9"));
        assert_eq!(q.max_rounded, Some(120.0));
        assert!(g.quantiles("y", 9, &vals, None, None, None).is_none());
        let mix = g.mix(
            "m",
            &[("A".to_string(), 95u64), ("B".to_string(), 5)]
                .into_iter()
                .collect(),
        );
        assert_eq!(mix.shares.len(), 1);
        assert_eq!(g.share("s", 3, 1000), None);
        assert_eq!(g.share("s0", 0, 1000), Some(0.0));
        assert!(g.suppressed.iter().any(|s| s.starts_with("x.p99.1")));
        assert!(g.suppressed.contains(&"m.B".to_string()));
    }
}
