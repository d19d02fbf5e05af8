//! Runs the chatsynth binary and reads figures out of its report JSON.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use serde_json::Value;

use crate::pg::shown_url;
use crate::R;

/// Runs the chatsynth binary (built by cargo with the release-based bench
/// profile); returns wall seconds and its report JSON.
pub fn chatsynth(args: &[String], report: &Path) -> R<(f64, Value)> {
    chatsynth_writing(args, "--report", report)
}

/// As [`chatsynth`], for a command that writes its JSON to `flag FILE`
/// (`validate --out`).
pub fn chatsynth_writing(args: &[String], flag: &str, report: &Path) -> R<(f64, Value)> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chatsynth"));
    cmd.args(args)
        .arg(flag)
        .arg(report)
        .env_remove("DATABASE_URL");
    let shown = shown_args(args);
    eprintln!("  $ chatsynth {shown}");
    let t = Instant::now();
    let out = cmd.output()?;
    let secs = t.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(format!(
            "chatsynth {shown} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let v: Value = serde_json::from_slice(&std::fs::read(report)?)?;
    Ok((secs, v))
}

/// The arguments with every `--database-url` value redacted.
fn shown_args(args: &[String]) -> String {
    let mut shown = Vec::with_capacity(args.len());
    let mut url_next = false;
    for a in args {
        shown.push(if url_next { shown_url(a) } else { a.clone() });
        url_next = a == "--database-url";
    }
    shown.join(" ")
}

pub fn f(v: &Value, path: &[&str]) -> f64 {
    let mut x = v;
    for p in path {
        x = &x[*p];
    }
    x.as_f64().unwrap_or(f64::NAN)
}

pub fn table_of<'a>(report: &'a Value, name: &str) -> Option<&'a Value> {
    report["phases"]
        .as_array()?
        .iter()
        .flat_map(|p| p["tables"].as_array().into_iter().flatten())
        .find(|t| t["table"] == name)
}

pub fn phase_of<'a>(report: &'a Value, name: &str) -> Option<&'a Value> {
    report["phases"]
        .as_array()?
        .iter()
        .find(|p| p["phase"] == name)
}

pub fn step_ms(report: &Value, step: &str) -> f64 {
    report["post_load"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["step"] == step))
        .map_or(f64::NAN, |s| f(s, &["elapsed_ms"]))
}
