//! The PGCOPY binary encoder round-trips every column type the schema uses
//! (text, boolean, integer, timestamp(3), jsonb, enums; NULLs, unicode, empty
//! strings, extreme timestamps) through a real COPY and a SELECT.

mod common;

use bytes::{Bytes, BytesMut};
use chatsynth::copy;
use common::*;

#[tokio::test]
async fn every_column_type_round_trips_through_a_real_copy() {
    let db = TestDb::new("encoder").await;
    let c = db.client().await;
    c.batch_execute(
        "CREATE TYPE \"Mood\" AS ENUM ('HAPPY', 'SAD');
         CREATE TABLE t (n integer, s text, b boolean, ts timestamp(3), j jsonb, m \"Mood\")",
    )
    .await
    .unwrap();
    // (n, s, b, ts unix ms, json, enum)
    type Row = (
        Option<i32>,
        Option<&'static str>,
        Option<bool>,
        Option<i64>,
        Option<&'static str>,
        Option<&'static str>,
    );
    let rows: Vec<Row> = vec![
        (
            Some(1),
            Some("plain"),
            Some(true),
            Some(0),
            Some("{\"a\": 1}"),
            Some("HAPPY"),
        ),
        (
            Some(-2147483648),
            Some(""),
            Some(false),
            Some(946_684_800_000),
            Some("[]"),
            Some("SAD"),
        ),
        (
            Some(2147483647),
            Some("héllo wörld ✓ 👍 中文"),
            None,
            Some(-2_208_988_800_000),
            Some("{\"k\": \"ü 👍\", \"n\": null}"),
            None,
        ),
        (None, None, None, None, None, None),
        (
            Some(0),
            Some("quote ' and \" and \\ and \n newline"),
            Some(true),
            Some(7_258_118_399_999),
            Some("\"str\""),
            Some("HAPPY"),
        ),
    ];
    let mut buf = BytesMut::new();
    for r in &rows {
        copy::row(&mut buf, 6);
        copy::opt_int4(&mut buf, r.0);
        copy::opt_text(&mut buf, r.1);
        match r.2 {
            Some(v) => copy::boolean(&mut buf, v),
            None => copy::null(&mut buf),
        }
        copy::opt_timestamp_ms(&mut buf, r.3);
        match r.4 {
            Some(j) => copy::jsonb_with(&mut buf, |b| b.extend_from_slice(j.as_bytes())),
            None => copy::null(&mut buf),
        }
        copy::opt_text(&mut buf, r.5);
    }
    let sink = c
        .copy_in::<_, Bytes>("COPY t (n, s, b, ts, j, m) FROM STDIN (FORMAT binary)")
        .await
        .unwrap();
    futures::pin_mut!(sink);
    let mut writer = copy::SinkWriter::start(sink.as_mut()).await.unwrap();
    writer.send(buf.freeze()).await.unwrap();
    writer.finish().await.unwrap();
    assert_eq!(sink.as_mut().finish().await.unwrap(), rows.len() as u64);

    let back = c
        .query(
            "SELECT n, s, b, (extract(epoch FROM ts) * 1000)::int8, j::text, m::text FROM t ORDER BY n NULLS LAST, s",
            &[],
        )
        .await
        .unwrap();
    let mut expected = rows.clone();
    expected.sort_by_key(|r| (r.0.is_none(), r.0, r.1));
    assert_eq!(back.len(), expected.len());
    for (got, want) in back.iter().zip(&expected) {
        assert_eq!(got.get::<_, Option<i32>>(0), want.0);
        assert_eq!(got.get::<_, Option<String>>(1).as_deref(), want.1);
        assert_eq!(got.get::<_, Option<bool>>(2), want.2);
        assert_eq!(got.get::<_, Option<i64>>(3), want.3);
        let json: Option<String> = got.get(4);
        match (json, want.4) {
            (Some(g), Some(w)) => assert_eq!(
                serde_json::from_str::<serde_json::Value>(&g).unwrap(),
                serde_json::from_str::<serde_json::Value>(w).unwrap()
            ),
            (g, w) => assert_eq!(g.as_deref(), w),
        }
        assert_eq!(got.get::<_, Option<String>>(5).as_deref(), want.5);
    }
}
