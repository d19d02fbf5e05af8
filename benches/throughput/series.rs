//! The figures of one load variant over the repeats, from chatsynth's reports.

use serde_json::{json, Value};

use chatsynth::model::Table;

use crate::reports::{f, phase_of, step_ms, table_of};
use crate::stats::stats_json;

#[derive(Default)]
pub struct LoadSeries {
    pub wall_s: Vec<f64>,
    pub total_ms: Vec<f64>,
    pub messages_rps: Vec<f64>,
    pub messages_phase_ms: Vec<f64>,
    pub load_phases_ms: Vec<f64>,
    pub indexes_ms: Vec<f64>,
    pub fks_ms: Vec<f64>,
    pub analyze_ms: Vec<f64>,
    pub peak_rss_mb: Vec<f64>,
    pub gen_busy_ms: Vec<f64>,
    pub gen_blocked_ms: Vec<f64>,
    pub reports: Vec<Value>,
}

impl LoadSeries {
    pub fn push(&mut self, wall: f64, r: Value) {
        self.wall_s.push(wall);
        self.total_ms.push(f(&r, &["totals", "elapsed_ms"]));
        self.load_phases_ms
            .push(f(&r, &["totals", "load_phases_ms"]));
        self.messages_rps
            .push(table_of(&r, "messages").map_or(f64::NAN, |t| f(t, &["rows_per_sec"])));
        let mp = phase_of(&r, "messages");
        // The messages table has a phase of its own; attachments, reads and
        // receipts follow in "message children". Together they load the four
        // tables the reference copies one after another.
        let children_ms = phase_of(&r, "message children").map_or(0.0, |p| f(p, &["elapsed_ms"]));
        self.messages_phase_ms
            .push(mp.map_or(f64::NAN, |p| f(p, &["elapsed_ms"])) + children_ms);
        self.gen_busy_ms
            .push(mp.map_or(f64::NAN, |p| f(p, &["generator", "generating_ms"])));
        self.gen_blocked_ms
            .push(mp.map_or(f64::NAN, |p| f(p, &["generator", "blocked_on_channel_ms"])));
        self.indexes_ms.push(step_ms(&r, "indexes (all)"));
        self.fks_ms.push(step_ms(&r, "foreign keys (all)"));
        self.analyze_ms.push(step_ms(&r, "ANALYZE"));
        self.peak_rss_mb.push(f(&r, &["peak_rss_mb"]));
        self.reports.push(r);
    }

    pub fn json(&self) -> Value {
        json!({
            "wall_s": stats_json(&self.wall_s),
            "totals_elapsed_ms": stats_json(&self.total_ms),
            "load_phases_ms": stats_json(&self.load_phases_ms),
            "messages_rows_per_sec": stats_json(&self.messages_rps),
            "messages_phase_ms": stats_json(&self.messages_phase_ms),
            "messages_phase_generating_ms": stats_json(&self.gen_busy_ms),
            "messages_phase_generators_blocked_ms": stats_json(&self.gen_blocked_ms),
            "indexes_ms": stats_json(&self.indexes_ms),
            "foreign_keys_ms": stats_json(&self.fks_ms),
            "analyze_ms": stats_json(&self.analyze_ms),
            "peak_rss_mb": stats_json(&self.peak_rss_mb),
            "per_table": per_table_json(&self.reports),
        })
    }
}

/// Per table of the messages phase: rows/s, send latency, stream starvation.
pub fn per_table_json(reports: &[Value]) -> Value {
    let mut out = serde_json::Map::new();
    for t in Table::ALL {
        let rows: Vec<&Value> = reports
            .iter()
            .filter_map(|r| table_of(r, t.name()))
            .collect();
        let col = |p: &[&str]| stats_json(&rows.iter().map(|x| f(x, p)).collect::<Vec<_>>());
        out.insert(
            t.name().into(),
            json!({
                "rows": rows.first().map(|x| x["rows"].clone()),
                "streams": rows.first().map(|x| x["streams"].clone()),
                "rows_per_sec": col(&["rows_per_sec"]),
                "send_p50_us": col(&["chunk_send_latency_us", "p50"]),
                "send_p99_us": col(&["chunk_send_latency_us", "p99"]),
                "streams_waiting_for_generators_ms": col(&["streams_waiting_for_generators_ms"]),
                "server_ack_ms": col(&["server_ack_ms"]),
            }),
        );
    }
    Value::Object(out)
}
