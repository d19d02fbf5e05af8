//! `chatsynth profile`, `profile --compare` and `validate --against`: the
//! shape of a database (production, or a loaded dataset) measured as
//! aggregates only, and two shapes compared.
//!
//! - [`measure`]: `sql/profile/*.sql`, one `REPEATABLE READ READ ONLY`
//!   transaction with a statement timeout, block sampling of messages and its
//!   child tables, and the privacy rule (k rows per value).
//! - [`format`]: the versioned profile file (`docs/profile.md`), written
//!   atomically and read back strictly.
//! - [`compare`]: metric-by-metric distances and the GO / NO-GO decision.
//!
//! The profile is also what a generator is fitted from (`load --profile`,
//! built on top of this format).

pub mod compare;
pub mod fit;
pub mod format;
pub mod measure;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::db::Target;
use crate::error::{Error, Result};
use compare::Comparison;
use format::Profile;

/// Checks `--tolerance` for profile comparisons.
pub(crate) fn check_tolerance(t: f64) -> Result<()> {
    if t > 0.0 && t <= 1.0 {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "--tolerance must be above 0 and at most 1 when comparing profiles (got {t})"
        )))
    }
}

/// Errors after connecting mean the profile could not be taken: exit 2.
fn could_not_run(e: Error) -> Error {
    match e {
        Error::Config(_) | Error::Connect { .. } | Error::Interrupted { .. } => e,
        other => Error::Config(format!("profile could not run: {other}")),
    }
}

/// `chatsynth profile --out FILE`: measures `target` and writes the profile.
/// With `html`, also the page of its charts and summary table.
pub async fn run(
    target: &Target,
    opts: &measure::Options,
    out: &Path,
    html: Option<&Path>,
) -> Result<u8> {
    let started = Instant::now();
    let client = target.connect().await?;
    let profile = measure::profile(&client, &target.schema, opts, false)
        .await
        .map_err(could_not_run)?;
    write_atomic(out, &profile)?;
    print!("{}", summary(&profile));
    println!(
        "profile of {} schema {} written to {} in {:.1} s",
        target.display,
        target.schema,
        out.display(),
        started.elapsed().as_secs_f64()
    );
    if let Some(page) = html {
        let source = format!("{} schema {}", target.display, target.schema);
        write_page(page, &profile, &source)?;
        println!("HTML report written to {}", page.display());
    }
    Ok(0)
}

#[derive(Serialize)]
struct ComparisonFile<'a> {
    format_version: u32,
    tool: &'static str,
    tool_version: &'static str,
    reference: Source<'a>,
    compared: Source<'a>,
    decision: &'static str,
    comparison: &'a Comparison,
    /// The dataset's own profile (validate --against only).
    #[serde(skip_serializing_if = "Option::is_none")]
    dataset_profile: Option<&'a Profile>,
}

#[derive(Serialize)]
struct Source<'a> {
    source: String,
    profiled_on: &'a str,
    messages: u64,
}

/// `chatsynth profile --compare OLD NEW`: no database.
pub fn compare_files(old: &Path, new: &Path, tolerance: f64, out: Option<&Path>) -> Result<u8> {
    check_tolerance(tolerance)?;
    let (a, b) = (format::read(old)?, format::read(new)?);
    let c = compare::compare(&a, &b, tolerance);
    let out = out_path(out, "profile-compare");
    let file = ComparisonFile {
        format_version: format::FORMAT_VERSION,
        tool: "chatsynth",
        tool_version: env!("CARGO_PKG_VERSION"),
        reference: source(&a, old.display().to_string()),
        compared: source(&b, new.display().to_string()),
        decision: if c.go { "GO" } else { "NO-GO" },
        comparison: &c,
        dataset_profile: None,
    };
    write_atomic(&out, &file)?;
    print!(
        "{}",
        compare::render(&c, &old.display().to_string(), &new.display().to_string())
    );
    println!("comparison written to {}", out.display());
    Ok(if c.go { 0 } else { 1 })
}

/// Reads and checks the reference of `validate --against` before connecting.
pub fn load_reference(path: &Path, tolerance: f64) -> Result<Profile> {
    check_tolerance(tolerance)?;
    format::read(path)
}

/// `chatsynth validate --against FILE`: profiles the dataset in `target` the
/// same way (same k) and compares it with the reference.
pub async fn validate_against(
    target: &Target,
    reference: &Profile,
    reference_path: &Path,
    tolerance: f64,
    out: Option<&Path>,
) -> Result<u8> {
    let client = target.connect().await?;
    let opts = measure::Options {
        sample_percent: None,
        statement_timeout: std::time::Duration::from_secs(60),
        min_bucket: reference.privacy.min_bucket,
        child_tables: Default::default(),
    };
    let dataset = measure::profile(&client, &target.schema, &opts, false)
        .await
        .map_err(could_not_run)?;
    let c = compare::compare(reference, &dataset, tolerance);
    let out = out_path(out, "validate-against");
    let label = format!("{} schema {}", target.display, target.schema);
    let file = ComparisonFile {
        format_version: format::FORMAT_VERSION,
        tool: "chatsynth",
        tool_version: env!("CARGO_PKG_VERSION"),
        reference: source(reference, reference_path.display().to_string()),
        compared: source(&dataset, label.clone()),
        decision: if c.go { "GO" } else { "NO-GO" },
        comparison: &c,
        dataset_profile: Some(&dataset),
    };
    write_atomic(&out, &file)?;
    print!(
        "{}",
        compare::render(&c, &reference_path.display().to_string(), &label)
    );
    println!("result written to {}", out.display());
    Ok(if c.go { 0 } else { 1 })
}

fn source(p: &Profile, source: String) -> Source<'_> {
    Source {
        source,
        profiled_on: &p.profiled_on,
        messages: p.counts.messages,
    }
}

fn out_path(given: Option<&Path>, prefix: &str) -> PathBuf {
    match given {
        Some(p) => p.to_path_buf(),
        None => PathBuf::from("reports").join(format!(
            "{prefix}-{}.json",
            crate::util::calendar::compact(crate::util::calendar::now_ms())
        )),
    }
}

/// Pretty JSON through the crate's one atomic writer (temp file + rename).
fn write_atomic(path: &Path, value: &impl Serialize) -> Result<()> {
    crate::util::json::write_atomic(path, value)
        .map_err(|e| Error::Config(format!("cannot write {}: {e}", path.display())))
}

/// The rows per table, as (table, rows), "(estimated)" where sampled.
fn count_rows(p: &Profile) -> Vec<(String, String)> {
    let c = &p.counts;
    [
        ("users", c.users),
        ("conversations", c.conversations),
        ("conversation_users", c.conversation_users),
        ("messages", c.messages),
        ("attachments", c.attachments),
        ("message_reads", c.message_reads),
        ("message_receipts", c.message_receipts),
    ]
    .into_iter()
    .map(|(t, n)| {
        let est = if c.estimated_from_sample.iter().any(|e| e == t) {
            " (estimated)"
        } else {
            ""
        };
        (t.to_string(), format!("{n}{est}"))
    })
    .collect()
}

/// The profile's headline figures as (what, value).
fn headline_rows(p: &Profile) -> Vec<(String, String)> {
    let opt = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{:.1}%", x * 100.0));
    let q =
        |t: &format::Quantiles, k: &str| t.at.get(k).map_or("-".to_string(), |v| format!("{v}"));
    let mix = |m: &format::Mix| {
        m.shares
            .iter()
            .map(|(k, v)| format!("{k} {:.1}%", v * 100.0))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (r, m, a, d) = (
        &p.messages_per_conversation,
        &p.messages,
        &p.attachments,
        &p.delivery,
    );
    let by_hour = m
        .hour_by_weekday
        .counts
        .iter()
        .fold(vec![0u64; 24], |mut acc, row| {
            for (h, c) in row.iter().enumerate().take(24) {
                acc[h] += c.unwrap_or(0);
            }
            acc
        });
    let peak_hour = (0..24).max_by_key(|&h| by_hour[h]).unwrap_or(0);
    [
        (
            "sample",
            format!(
                "{}% ({}): {} messages seen",
                p.sample.percent, p.sample.chosen_by, p.sample.messages_seen
            ),
        ),
        (
            "window",
            format!(
                "{} .. {} ({} days)",
                p.window.first_day.as_deref().unwrap_or("-"),
                p.window.last_day.as_deref().unwrap_or("-"),
                p.window.days
            ),
        ),
        ("conversation types", mix(&p.conversations.types)),
        (
            "messages per room",
            format!(
                "p50 {}  p90 {}  p99 {}  top 2% rooms hold {}",
                q(&r.per_conversation, "p50"),
                q(&r.per_conversation, "p90"),
                q(&r.per_conversation, "p99"),
                opt(r.top_2pct_rooms_message_share)
            ),
        ),
        ("message types", mix(&m.types)),
        (
            "text length",
            format!(
                "p50 {}  p90 {}  p99 {}",
                q(&m.text_length, "p50"),
                q(&m.text_length, "p90"),
                q(&m.text_length, "p99")
            ),
        ),
        (
            "replies, edited",
            format!(
                "replies {}  edited {}  deleted {}  system {}",
                opt(m.reply_share),
                opt(m.edited_share),
                opt(m.deleted_share),
                opt(m.system_share)
            ),
        ),
        ("busiest UTC hour", format!("{peak_hour:02}:00")),
        (
            "attachments/message",
            format!(
                "{}  types {}",
                a.mean_per_message
                    .map_or("-".to_string(), |v| format!("{v:.3}")),
                mix(&a.types)
            ),
        ),
        (
            "top 10% users",
            format!(
                "send {} of messages, hold {} of memberships",
                opt(p.activity.top_users_message_share),
                opt(p.activity.top_users_membership_share)
            ),
        ),
        (
            "delivery",
            format!(
                "delivered {}  read {}  read delay p50 {} s",
                opt(d.delivered_share),
                opt(d.read_share),
                q(&d.read_delay_seconds, "p50")
            ),
        ),
        (
            "privacy",
            format!(
                "k = {}, {} values suppressed",
                p.privacy.min_bucket,
                p.privacy.suppressed.len()
            ),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .chain(p.child_tables.iter().map(|(name, c)| {
        (
            name.clone(),
            format!(
                "{} rows per {} parent; parents by rows: {}",
                c.mean_per_parent
                    .map_or("-".to_string(), |x| format!("{x:.4}")),
                c.parent.trim_end_matches('s'),
                mix(&c.per_parent)
            ),
        )
    }))
    .collect()
}

/// The profile's summary table, for the terminal: rows per table, then the
/// headline figures (the HTML page shows the same rows).
pub fn summary(p: &Profile) -> String {
    let mut s = String::from("table               rows\n");
    for (t, n) in count_rows(p) {
        let _ = writeln!(s, "{t:<18}  {n:>12}");
    }
    s.push('\n');
    for (what, v) in headline_rows(p) {
        let _ = writeln!(s, "{what:<21}{v}");
    }
    s
}

/// Writes the `--html` page of profile `p` of `source`.
fn write_page(path: &Path, p: &Profile, source: &str) -> Result<()> {
    let value =
        serde_json::to_value(p).map_err(|e| Error::Other(format!("the profile as JSON: {e}")))?;
    let mut rows = count_rows(p);
    rows.extend(headline_rows(p));
    crate::html::write_atomically(path, &crate::html::profile::page(&value, source, &rows)?)
}
