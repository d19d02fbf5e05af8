//! The printed table and the report's summaries: every variant's figures, the
//! ideal and the messages reference, the ratios between them (per repeat,
//! then median [min .. max]), generation alone, and the scale run.

use serde_json::{json, Value};

use chatsynth::model::Table;

use crate::args::{Variant, PROFILE_VARIANT, RULES_VARIANT};
use crate::ideal::IdealRun;
use crate::reports::{f, table_of};
use crate::series::LoadSeries;
use crate::stats::{line, stats, stats_json, verdict};
use crate::{Ctx, Measured, ScaleExtras};

/// The ORM generator chatsynth replaced: 500,000 messages in ten minutes.
const OLD_GENERATOR_S: f64 = 600.0;
const OLD_GENERATOR_MESSAGES: f64 = 500_000.0;

/// The tables of the messages phase and the "message children" phase.
const MESSAGE_TABLES: [Table; 4] = [
    Table::Messages,
    Table::Attachments,
    Table::MessageReads,
    Table::MessageReceipts,
];

/// Prints the table and fills `out`'s `ideal`, `messages_reference`,
/// `scale`, `loads` and `ratios`.
pub fn summarise(
    cx: &Ctx,
    m: &Measured,
    scale: Option<&(LoadSeries, ScaleExtras)>,
    out: &mut Value,
) {
    let base = &m.series[0];
    let messages_rows =
        table_of(&base.reports[0], "messages").map_or(f64::NAN, |t| f(t, &["rows"]));
    println!();
    println!(
        "chatsynth benchmark: band {}, {} repeat(s), medians [min .. max]",
        cx.o.band,
        cx.o.repeat()
    );
    println!("{}", "-".repeat(100));
    for (v, s) in cx.variants.iter().zip(&m.series) {
        print_variant(v, s);
    }
    let mut ratios = json!({});
    if !m.ideal_runs.is_empty() {
        against_ideal(cx, m, messages_rows, out, &mut ratios);
    }
    if let Some(g) = generation(cx, out) {
        ratios["generation_messages_per_sec_per_core"] = g;
    }
    if let Some(r) = rules_vs_default(cx, m) {
        ratios["rules_vs_default_messages_rows_per_sec"] = r;
    }
    if let Some(r) = profile_vs_preset(cx, m, out) {
        ratios["profile_vs_preset_messages_rows_per_sec"] = r;
    }
    ratios["vs_old_generator"] = vs_old_generator(base, messages_rows);
    if let Some((s, extras)) = scale {
        ratios["scale"] = scale_summary(cx, base, s, out);
        scale_extras(base, s, extras, &mut ratios["scale"]);
    }
    out["loads"] = Value::Object(
        cx.variants
            .iter()
            .zip(&m.series)
            .map(|(v, s)| (v.name.clone(), s.json()))
            .collect(),
    );
    out["ratios"] = ratios;
}

/// One load variant's medians.
fn print_variant(v: &Variant, s: &LoadSeries) {
    let settings: Vec<String> = v
        .db_settings
        .iter()
        .map(|(k, x)| format!("{k}={x}"))
        .collect();
    println!(
        "load variant {:?} {}",
        v.name,
        [v.load_args.join(" "), settings.join(" ")].join(" ").trim()
    );
    line("  end-to-end wall clock", &s.wall_s, "s", 1.0, 2);
    line("  load phases", &s.load_phases_ms, "s", 1e-3, 2);
    line(
        "  messages + children phases",
        &s.messages_phase_ms,
        "s",
        1e-3,
        2,
    );
    line("  messages table rows/s", &s.messages_rps, "rows/s", 1.0, 0);
    line(
        "  messages phase generators busy",
        &s.gen_busy_ms,
        "s",
        1e-3,
        2,
    );
    line(
        "  messages phase generators blocked",
        &s.gen_blocked_ms,
        "s",
        1e-3,
        2,
    );
    line("  indexes (all)", &s.indexes_ms, "s", 1e-3, 2);
    line("  foreign keys (all)", &s.fks_ms, "s", 1e-3, 2);
    line("  ANALYZE", &s.analyze_ms, "s", 1e-3, 2);
    line("  peak RSS", &s.peak_rss_mb, "MB", 1.0, 0);
    for t in MESSAGE_TABLES {
        print_table_rate(s, t);
    }
}

/// One table's rows/s over the repeats, with its send p99 and starvation.
fn print_table_rate(s: &LoadSeries, t: Table) {
    let rows: Vec<&Value> = s
        .reports
        .iter()
        .filter_map(|r| table_of(r, t.name()))
        .collect();
    let col = |p: &[&str]| rows.iter().map(|x| f(x, p)).collect::<Vec<f64>>();
    let (p99, _, _) = stats(&col(&["chunk_send_latency_us", "p99"]));
    let (starved, _, _) = stats(&col(&["streams_waiting_for_generators_ms"]));
    line(
        &format!(
            "  {} rows/s (send p99 {p99:.0}us, starved {starved:.0}ms)",
            t.name()
        ),
        &col(&["rows_per_sec"]),
        "rows/s",
        1.0,
        0,
    );
}

/// The ideal's and the reference's figures, and every variant's ratios to them.
fn against_ideal(cx: &Ctx, m: &Measured, messages_rows: f64, out: &mut Value, ratios: &mut Value) {
    let runs = &m.ideal_runs;
    let col = |g: &dyn Fn(&IdealRun) -> f64| runs.iter().map(g).collect::<Vec<f64>>();
    let ideal_total = col(&|r| r.total_ms);
    let copy_all = col(&|r| r.copy_ms.values().sum());
    let msg_children = col(&|r| MESSAGE_TABLES.iter().map(|t| r.copy_ms[t.name()]).sum());
    print_ideal(runs, &ideal_total, &copy_all);
    let ref_rps: Vec<f64> = m
        .ref_ms
        .iter()
        .map(|ms| messages_rows / (ms / 1e3))
        .collect();
    line(
        "messages reference: server COPY of messages alone",
        &m.ref_ms,
        "s",
        1e-3,
        2,
    );
    line("  rows/s", &ref_rps, "rows/s", 1.0, 0);
    println!("{}", "-".repeat(100));
    for (v, s) in cx.variants.iter().zip(&m.series) {
        ratios[&v.name] = variant_ratios(v, s, &ref_rps, &msg_children, &ideal_total);
    }
    out["ideal"] = json!({
        "total_ms": stats_json(&ideal_total),
        "copy_all_ms": stats_json(&copy_all),
        "copy_messages_phase_tables_ms": stats_json(&msg_children),
        "copy_ms": Table::ALL.iter().map(|t| (t.name().to_string(), stats_json(&col(&|r| r.copy_ms[t.name()])))).collect::<serde_json::Map<_, _>>(),
        "indexes_ms": stats_json(&col(&|r| r.indexes_ms)),
        "foreign_keys_ms": stats_json(&col(&|r| r.foreign_keys_ms)),
        "analyze_ms": stats_json(&col(&|r| r.analyze_ms)),
        "builds_ms_first_run": runs[0].builds.iter().map(|(n, ms)| json!([n, ms])).collect::<Vec<_>>(),
    });
    out["messages_reference"] = json!({
        "rows": messages_rows,
        "elapsed_ms": stats_json(&m.ref_ms),
        "rows_per_sec": stats_json(&ref_rps),
    });
}

fn print_ideal(runs: &[IdealRun], ideal_total: &[f64], copy_all: &[f64]) {
    let col = |g: &dyn Fn(&IdealRun) -> f64| runs.iter().map(g).collect::<Vec<f64>>();
    println!("ideal: server-side COPY from files + sequential builds");
    line("  COPY of every table", copy_all, "s", 1e-3, 2);
    for t in Table::ALL {
        let label = format!("    COPY {}", t.name());
        line(&label, &col(&|r| r.copy_ms[t.name()]), "s", 1e-3, 2);
    }
    let indexes = col(&|r| r.indexes_ms);
    line(
        "  indexes + PK/unique, one after another",
        &indexes,
        "s",
        1e-3,
        2,
    );
    let fks = col(&|r| r.foreign_keys_ms);
    line("  foreign keys, one after another", &fks, "s", 1e-3, 2);
    line("  ANALYZE", &col(&|r| r.analyze_ms), "s", 1e-3, 2);
    line("  ideal total", ideal_total, "s", 1e-3, 2);
}

/// `a[i] op b[i]` per repeat.
fn per_repeat(a: &[f64], b: &[f64], op: impl Fn(f64, f64) -> f64) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| op(*x, *y)).collect()
}

/// A variant's ratios to the reference and the ideal, printed and as JSON.
fn variant_ratios(
    v: &Variant,
    s: &LoadSeries,
    ref_rps: &[f64],
    msg_children: &[f64],
    ideal_total: &[f64],
) -> Value {
    let raw = per_repeat(&s.messages_rps, ref_rps, |a, b| a / b);
    let phase = per_repeat(&s.messages_phase_ms, msg_children, |a, b| b / a);
    let e2e = per_repeat(&s.total_ms, ideal_total, |a, b| a / b);
    let e2e_wall = per_repeat(&s.wall_s, ideal_total, |a, b| a * 1e3 / b);
    println!(
        "ratios for load variant {:?} (per repeat, then median [min .. max])",
        v.name
    );
    line(
        "  messages rows/s / server COPY rows/s (>= 1.0)",
        &raw,
        "x",
        1.0,
        3,
    );
    line(
        "  messages + children phases: server COPY of the 4 tables / phases",
        &phase,
        "x",
        1.0,
        3,
    );
    line("  end-to-end / ideal (<= 1.0)", &e2e, "x", 1.0, 3);
    line("  end-to-end wall clock / ideal", &e2e_wall, "x", 1.0, 3);
    let (r1, _, _) = stats(&raw);
    let (r3, _, _) = stats(&e2e);
    println!(
        "    messages rows/s target >= 1.0: {}; end-to-end target <= 1.0: {}",
        verdict(r1 >= 1.0),
        verdict(r3 <= 1.0)
    );
    json!({
        "messages_rows_per_sec_vs_server_copy": stats_json(&raw),
        "messages_phase_vs_server_copy_of_its_tables": stats_json(&phase),
        "end_to_end_vs_ideal": stats_json(&e2e),
        "end_to_end_wall_vs_ideal": stats_json(&e2e_wall),
    })
}

/// The variant `name`'s messages rows/s against the default load's, per
/// repeat (the two ran back to back in each repeat), printed with its
/// target: within `within` (0.05 for 5%).
fn variant_vs_default(
    cx: &Ctx,
    m: &Measured,
    name: &str,
    what: &str,
    within: f64,
) -> Option<Vec<f64>> {
    let i = cx.variants.iter().position(|v| v.name == name)?;
    let ratio = per_repeat(
        &m.series[i].messages_rps,
        &m.series[0].messages_rps,
        |a, b| a / b,
    );
    let pct = within * 100.0;
    line(
        &format!("{what} messages rows/s / default load's (target within {pct:.0}%)"),
        &ratio,
        "x",
        1.0,
        3,
    );
    let (med, _, _) = stats(&ratio);
    println!("    within {pct:.0}%: {}", verdict(med >= 1.0 - within));
    Some(ratio)
}

/// `--rules`: the load with issue 11's three schema changes against the
/// default load (target: within 10%).
fn rules_vs_default(cx: &Ctx, m: &Measured) -> Option<Value> {
    variant_vs_default(cx, m, RULES_VARIANT, "load with rules", 0.10).map(|r| stats_json(&r))
}

/// `load --profile` against the preset load of the same counts: messages
/// rows/s per repeat, and the same for generation alone (CPU only, less
/// noisy).
fn profile_vs_preset(cx: &Ctx, m: &Measured, out: &Value) -> Option<Value> {
    let ratio = variant_vs_default(cx, m, PROFILE_VARIANT, "load --profile", 0.05)?;
    let gen = &out["generation"]["profile_vs_preset"]["ratio"]["runs"];
    let gen_ratio: Vec<f64> = gen
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default();
    if !gen_ratio.is_empty() {
        line(
            "generate --discard --profile messages/s / preset's, 1 worker",
            &gen_ratio,
            "x",
            1.0,
            3,
        );
        let (g, _, _) = stats(&gen_ratio);
        println!("    within 5%: {}", verdict(g >= 0.95));
    }
    Some(json!({
        "load_messages_rows_per_sec": stats_json(&ratio),
        "generation_messages_per_sec": stats_json(&gen_ratio),
    }))
}

/// Generation alone, per core with 1 and 2 workers (when it ran).
fn generation(cx: &Ctx, out: &Value) -> Option<Value> {
    let gen = &out["generation"];
    gen.get("workers_1")?;
    let per_core = |w: usize| {
        f(
            &gen[format!("workers_{w}")],
            &["messages_per_sec_per_core", "median"],
        )
    };
    let (w1, w2) = (per_core(1), per_core(2));
    println!(
        "generation + encoding alone ({} messages, generate --discard)",
        cx.o.gen_messages
    );
    for w in [1, 2] {
        let runs: Vec<f64> = gen[format!("workers_{w}")]["messages_per_sec_per_core"]["runs"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default();
        let label = format!("  messages/s per core, {w} worker(s) (>= 2,000,000)");
        line(&label, &runs, "msg/s", 1.0, 0);
    }
    println!(
        "    target >= 2,000,000/core: 1 worker {}, 2 workers {}",
        verdict(w1 >= 2e6),
        verdict(w2 >= 2e6)
    );
    Some(json!({ "workers_1": w1, "workers_2": w2 }))
}

/// The default load's wall clock against the old generator's rate.
fn vs_old_generator(base: &LoadSeries, messages_rows: f64) -> Value {
    let (dev_wall, _, _) = stats(&base.wall_s);
    let old_s = OLD_GENERATOR_S * messages_rows / OLD_GENERATOR_MESSAGES;
    println!(
        "old ORM generator: {:.0} s for {:.0} messages (830 msg/s, tables only) vs chatsynth end-to-end {:.1} s with every index and constraint: {:.0}x",
        old_s, messages_rows, dev_wall, old_s / dev_wall
    );
    json!({ "old_s": old_s, "chatsynth_wall_s": dev_wall, "speedup": old_s / dev_wall })
}

/// The scale run against the band's default load: rows/s and peak RSS.
fn scale_summary(cx: &Ctx, base: &LoadSeries, s: &LoadSeries, out: &mut Value) -> Value {
    let scale_args = cx.o.scale_args().unwrap_or_default();
    let (base_rps, _, _) = stats(&base.messages_rps);
    let (base_rss, _, _) = stats(&base.peak_rss_mb);
    let (rps, rss) = (s.messages_rps[0], s.peak_rss_mb[0]);
    println!("scale: {}", scale_args.join(" "));
    line("  end-to-end wall clock", &s.wall_s, "s", 1.0, 1);
    line("  load phases", &s.load_phases_ms, "s", 1e-3, 1);
    line("  indexes (all)", &s.indexes_ms, "s", 1e-3, 1);
    line("  foreign keys (all)", &s.fks_ms, "s", 1e-3, 1);
    line("  ANALYZE", &s.analyze_ms, "s", 1e-3, 1);
    line("  messages rows/s", &s.messages_rps, "rows/s", 1.0, 0);
    line("  peak RSS", &s.peak_rss_mb, "MB", 1.0, 0);
    let rr = rps / base_rps;
    let rss_ok = rss <= base_rss * 1.10 && rss < 256.0;
    println!(
        "    messages rows/s {:.2}x the band's (>= 0.8: {}); peak RSS {:.0} MB vs {:.0} MB (within 10% and < 256 MB: {})",
        rr, verdict(rr >= 0.8), rss, base_rss, verdict(rss_ok)
    );
    out["scale"] = s.json();
    out["scale"]["args"] = json!(scale_args);
    json!({ "messages_rows_per_sec_vs_band": rr, "peak_rss_mb": rss, "band_peak_rss_mb": base_rss, "rss_within_10pct_and_under_256mb": rss_ok })
}

/// The scale run's `validate` against the band's, and its messages against
/// the server's own COPY of the same rows at the same size.
fn scale_extras(base: &LoadSeries, s: &LoadSeries, e: &ScaleExtras, ratios: &mut Value) {
    if let (Some(dev), Some(big)) = (e.dev_validate_s, e.validate_s) {
        let rows = |l: &LoadSeries| {
            l.reports
                .first()
                .map_or(f64::NAN, |r| f(r, &["totals", "rows"]))
        };
        let growth = rows(s) / rows(base);
        println!(
            "  validate: {dev:.1} s on the band, {big:.1} s at scale: {:.1}x for {growth:.1}x the rows",
            big / dev
        );
        ratios["validate_s"] =
            json!({ "band": dev, "scale": big, "growth": big / dev, "rows_growth": growth });
    }
    if let (Some(ms), Some(rows)) = (e.messages_ref_ms, e.messages_ref_rows) {
        let server = rows / (ms / 1e3);
        let ours = s.messages_rps[0];
        println!(
            "  messages: {ours:.0} rows/s against the server's own COPY of the same {rows:.0} rows at {server:.0} rows/s: {:.3}x (>= 1.0: {})",
            ours / server,
            verdict(ours >= server)
        );
        ratios["messages_rows_per_sec_vs_server_copy"] = json!({ "chatsynth": ours, "server_copy": server, "ratio": ours / server, "rows": rows });
    }
}
