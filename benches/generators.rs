//! Criterion benches of generation and encoding alone (no database): the
//! three generator passes through the library (rows/s and bytes/s of PGCOPY
//! output), and the field encoder. Small sample sizes: a run takes ~1 minute.
//!
//! ```sh
//! cargo bench --bench generators
//! ```

use std::time::Duration;

use bytes::BytesMut;
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

use chatsynth::config::Band;
use chatsynth::copy;
use chatsynth::gen::tables::{ChunkSink, Gen, Out, Scratch};
use chatsynth::gen::{pools::Pools, Plan};
use chatsynth::model::Table;

/// Counts rows and bytes, drops the chunks (like `generate --discard`).
#[derive(Default)]
struct Count {
    rows: u64,
    bytes: u64,
}

impl ChunkSink for Count {
    fn send(&mut self, _t: Table, chunk: BytesMut, rows: u64) -> bool {
        self.rows += rows;
        self.bytes += chunk.len() as u64;
        true
    }
}

const CHUNK_BYTES: usize = 256 * 1024;

#[derive(Clone, Copy)]
enum Pass {
    Users,
    Conversations,
    Messages,
}

fn run_pass(g: &Gen, pass: Pass, units: &[std::ops::Range<u64>]) -> Count {
    let mut sink = Count::default();
    let mut scratch = Scratch::default();
    let mut out = Out::new(&mut sink, CHUNK_BYTES, &chatsynth::model::Table::ALL);
    for u in units {
        match pass {
            Pass::Users => g.users(u.clone(), &mut out),
            Pass::Conversations => g.conversations(u.clone(), &mut out, &mut scratch),
            Pass::Messages => g.messages(u.clone(), &mut out, &mut scratch),
        }
    }
    out.flush();
    drop(out);
    sink
}

fn generators(c: &mut Criterion) {
    // The dev band's plan; the messages pass runs over a prefix of its units
    // (~100k messages with their children) so a sample stays short.
    let cfg = Band::Dev.preset();
    let plan = Plan::build(&cfg);
    let pools = Pools::new(cfg.seed);
    let g = Gen::new(&plan, &pools);
    let msg_units: Vec<_> = {
        let mut n = 0;
        plan.message_units
            .iter()
            .take_while(|u| {
                let go = n < 100_000;
                n += plan.msg_off[u.end as usize] - plan.msg_off[u.start as usize];
                go
            })
            .cloned()
            .collect()
    };
    let cases: [(&str, Pass, &[std::ops::Range<u64>]); 3] = [
        ("users", Pass::Users, &plan.user_units),
        (
            "conversations+members",
            Pass::Conversations,
            &plan.conversation_units,
        ),
        ("messages+children", Pass::Messages, &msg_units),
    ];
    for (name, pass, units) in cases {
        // One dry run gives the row and byte counts for the throughput figures.
        let probe = run_pass(&g, pass, units);
        let mut group = c.benchmark_group(format!("gen/{name}"));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3));
        group.throughput(Throughput::Elements(probe.rows));
        group.bench_function(BenchmarkId::new("rows", probe.rows), |b| {
            b.iter(|| black_box(run_pass(&g, pass, units)))
        });
        group.throughput(Throughput::Bytes(probe.bytes));
        group.bench_function(BenchmarkId::new("bytes", probe.bytes), |b| {
            b.iter(|| black_box(run_pass(&g, pass, units)))
        });
        group.finish();
    }
}

fn encoder(c: &mut Criterion) {
    const ROWS: u64 = 100_000;
    let text =
        "a message of about ninety characters, the median length of the log-normal text law here";
    let mut group = c.benchmark_group("copy/encode");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(ROWS));
    let mut buf = BytesMut::with_capacity(64 << 20);
    // A message-shaped row: ids, text, ints, bools, timestamps, NULLs, jsonb.
    group.bench_function("message-shaped rows", |b| {
        b.iter(|| {
            buf.clear();
            for i in 0..ROWS {
                copy::row(&mut buf, 12);
                copy::bytes(&mut buf, b"c0123456789abcdefghijklmn");
                copy::text(&mut buf, text);
                copy::text(&mut buf, "TEXT");
                copy::int4(&mut buf, i as i32);
                copy::boolean(&mut buf, i % 3 == 0);
                copy::timestamp_ms(&mut buf, 1_760_000_000_000 + i as i64);
                copy::opt_timestamp_ms(&mut buf, None);
                copy::null(&mut buf);
                copy::text_with(&mut buf, |b| copy::put_decimal(b, i));
                copy::jsonb_with(&mut buf, |b| {
                    b.extend_from_slice(b"{\"k\":");
                    copy::put_decimal(b, i);
                    b.extend_from_slice(b"}");
                });
                copy::opt_int4(&mut buf, Some(7));
                copy::opt_text(&mut buf, None);
            }
            black_box(buf.len())
        })
    });
    group.finish();
}

criterion_group!(benches, generators, encoder);
criterion_main!(benches);
