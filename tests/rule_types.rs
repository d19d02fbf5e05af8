//! Column rules round-trip every type Prisma maps to on PostgreSQL: values a
//! rule generates go through a real binary COPY into a column of that type
//! and come back, read with SQL as text, equal to what the rule generated.

mod common;

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};
use chatsynth::rules::{RowCtx, RuleSpec, Rules};
use common::*;
use futures::SinkExt;

const ROWS: u64 = 300;

/// (column type in SQL, rule as TOML, SQL that reads `v` back as text)
const CASES: &[(&str, &str, &str)] = &[
    (
        "text",
        r#"kind = "text"
type = "text"
min = 0
max = 40
null_share = 0.1"#,
        "v",
    ),
    (
        "varchar(64)",
        r#"kind = "text"
type = "varchar(64)"
dist = "normal"
mean = 50
sd = 30
min = 1
max = 200"#,
        "v",
    ),
    (
        "varchar(64)",
        r#"kind = "cuid"
type = "varchar(64)""#,
        "v",
    ),
    (
        "integer",
        r#"kind = "number"
type = "integer"
min = -2147483648
max = 2147483647"#,
        "v::text",
    ),
    (
        "bigint",
        r#"kind = "number"
type = "bigint"
dist = "lognormal"
mean = 20
sd = 3
min = 0
max = 9e15"#,
        "v::text",
    ),
    (
        "double precision",
        r#"kind = "number"
type = "double precision"
dist = "normal"
mean = 0
sd = 1e6
min = -1e9
max = 1e9"#,
        "v::text",
    ),
    (
        "decimal(10,2)",
        r#"kind = "number"
type = "decimal(10,2)"
min = -99999999.99
max = 99999999.99"#,
        "v::text",
    ),
    (
        "decimal(12,5)",
        r#"kind = "number"
type = "decimal(12,5)"
dist = "lognormal"
mean = 0
sd = 4
min = 0
max = 9999999"#,
        "v::text",
    ),
    (
        "decimal(10,2)",
        r#"kind = "choice"
type = "decimal(10,2)"
values = [0, 0.01, -0.05, 10000, 12345678.9, -99999999.99]"#,
        "v::text",
    ),
    (
        "boolean",
        r#"kind = "choice"
type = "boolean"
values = [true, false]"#,
        "v::text",
    ),
    (
        "timestamp(3)",
        r#"kind = "created_plus"
type = "timestamp(3)"
dist = "lognormal"
mean = 10
sd = 2
min = 0
max = 864000000"#,
        "to_char(v, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')",
    ),
    (
        "timestamptz",
        r#"kind = "created_plus"
type = "timestamptz"
min = -86400000
max = 86400000"#,
        "to_char(v AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')",
    ),
    (
        "date",
        r#"kind = "created_plus"
type = "date"
min = -864000000000
max = 864000000000"#,
        "v::text",
    ),
    (
        "jsonb",
        r#"kind = "json"
type = "jsonb"
template = '{"id": {{id}}, "n": {{n}}, "k": {{key}}, "tags": {{tags}}}'
fields.id = { kind = "uuid" }
fields.n = { kind = "number", type = "decimal(6,1)", min = -5, max = 5 }
fields.tags = { kind = "array", type = "text[]", len_min = 0, len_max = 3, element = { kind = "text", min = 1, max = 5 } }"#,
        "v::text",
    ),
    (
        "json",
        r#"kind = "json"
type = "json"
template = '[{{a}}, {{b}}]'
fields.a = { kind = "choice", values = ["x", "y\"z"] }
fields.b = { kind = "number", type = "integer", min = 1, max = 9 }"#,
        "v::text",
    ),
    (
        "uuid",
        r#"kind = "uuid"
type = "uuid""#,
        "v::text",
    ),
    (
        "bytea",
        r#"kind = "text"
type = "bytea"
min = 0
max = 20"#,
        "encode(v, 'escape')",
    ),
    (
        "text[]",
        r#"kind = "array"
type = "text[]"
len_min = 0
len_max = 4
element = { kind = "text", min = 0, max = 8, null_share = 0.2 }"#,
        "array_to_json(v)::text",
    ),
    (
        "integer[]",
        r#"kind = "array"
type = "integer[]"
len_min = 1
len_max = 3
element = { kind = "number", min = -5, max = 5 }"#,
        "array_to_json(v)::text",
    ),
    (
        "\"Mood\"",
        r#"kind = "choice"
type = "enum:Mood"
values = ["HAPPY", "SAD"]
weights = [3, 1]"#,
        "v::text",
    ),
];

/// What the rule generated, as JSON, and what the database read back, made
/// comparable: JSON values are compared as values, strings unquoted.
fn same(generated: &str, read: Option<&str>, sql_type: &str) -> bool {
    let Some(read) = read else {
        return generated == "null";
    };
    let g: serde_json::Value = serde_json::from_str(generated).unwrap();
    match &g {
        serde_json::Value::String(s) => s == read,
        serde_json::Value::Number(n) if sql_type == "double precision" => {
            // serde_json's float parsing may be one ulp off; Rust's is exact.
            let _ = n;
            generated.parse::<f64>().ok() == read.parse::<f64>().ok()
        }
        serde_json::Value::Number(_) if sql_type.starts_with("decimal") => {
            // Both print exactly the scale's decimals.
            generated == read
        }
        _ => {
            serde_json::from_str::<serde_json::Value>(read)
                .ok()
                .as_ref()
                == Some(&g)
        }
    }
}

#[tokio::test]
async fn every_prisma_type_round_trips_through_binary_copy() {
    let db = TestDb::new("ruletypes").await;
    let c = db.client().await;
    c.batch_execute("CREATE TYPE \"Mood\" AS ENUM ('HAPPY', 'SAD')")
        .await
        .unwrap();
    for (i, (sql_type, rule, read_sql)) in CASES.iter().enumerate() {
        let table = format!("rt{i}");
        c.batch_execute(&format!(
            "CREATE TABLE {table} (k bigint PRIMARY KEY, v {sql_type})"
        ))
        .await
        .unwrap();
        let spec: RuleSpec = toml::from_str(rule).unwrap_or_else(|e| panic!("{rule}: {e}"));
        let specs = BTreeMap::from([(format!("{table}.v"), spec)]);
        let rules = Rules::compile_with_tables(42, &specs, std::slice::from_ref(&table))
            .unwrap_or_else(|e| panic!("{sql_type}: {e:?}"));
        let tr = rules.for_table(&table);
        let mut buf = BytesMut::new();
        buf.put_slice(b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0");
        let mut expected = Vec::new();
        for k in 0..ROWS {
            let ctx = RowCtx {
                key: k,
                created_ms: 1_700_000_000_000 + k as i64 * 7_777_777,
                parents: &[],
            };
            let row_at = buf.len();
            buf.put_i16(2);
            buf.put_i32(8);
            buf.put_i64(k as i64);
            tr.encode_row(&ctx, row_at, &mut buf);
            let mut j = BytesMut::new();
            tr.render_json(0, &ctx, &mut j);
            expected.push(String::from_utf8(j.to_vec()).unwrap());
        }
        buf.put_i16(-1);
        let sink = c
            .copy_in::<_, Bytes>(&format!("COPY {table} (k, v) FROM STDIN (FORMAT binary)"))
            .await
            .unwrap();
        futures::pin_mut!(sink);
        sink.send(buf.freeze()).await.unwrap();
        let n = sink
            .finish()
            .await
            .unwrap_or_else(|e| panic!("{sql_type} COPY: {e:?}"));
        assert_eq!(n, ROWS, "{sql_type}");
        let rows = c
            .query(
                &format!("SELECT ({read_sql})::text FROM {table} ORDER BY k"),
                &[],
            )
            .await
            .unwrap();
        let mut distinct = std::collections::BTreeSet::new();
        for (k, row) in rows.iter().enumerate() {
            let read: Option<String> = row.get(0);
            assert!(
                same(&expected[k], read.as_deref(), sql_type),
                "{sql_type} row {k}: generated {} read {read:?}",
                expected[k]
            );
            distinct.insert(read);
        }
        assert!(distinct.len() > 1, "{sql_type}: every row has one value");
    }
}

#[test]
fn a_rule_whose_type_does_not_fit_is_refused() {
    let spec: RuleSpec = toml::from_str("kind = \"uuid\"\ntype = \"integer\"").unwrap();
    let specs = BTreeMap::from([("t.v".to_string(), spec)]);
    let e = Rules::compile_with_tables(1, &specs, &["t".into()]).unwrap_err();
    assert!(
        e[0].contains("cannot fill a column of type integer"),
        "{e:?}"
    );
}
