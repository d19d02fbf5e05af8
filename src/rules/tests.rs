use super::*;

fn specs(toml_text: &str) -> BTreeMap<String, RuleSpec> {
    #[derive(serde::Deserialize)]
    struct F {
        columns: BTreeMap<String, RuleSpec>,
    }
    toml::from_str::<F>(toml_text).unwrap().columns
}

/// The rule fields of a row without built-in fields (a tuple of none).
fn row(tr: &TableRules, ctx: &RowCtx) -> Vec<u8> {
    let mut b = BytesMut::new();
    b.put_i16(0);
    tr.encode_row(ctx, 0, &mut b);
    b[2..].to_vec()
}

const PRISMA_LIKE: &str = r#"
[columns."users.tenantId"]
kind = "choice"
type = "text"
values = ["t1", "t2", "t3"]
[columns."conversations.tenantId"]
kind = "parent"
type = "text"
parent = "users"
[columns."messages.tenantId"]
kind = "parent"
type = "text"
parent = "conversations"
"#;

#[test]
fn parent_values_are_recomputed_from_the_parent_key() {
    let r = Rules::compile(7, &specs(PRISMA_LIKE)).unwrap();
    let user = ParentRow {
        table: "users",
        key: 5,
        created_ms: 0,
        parents: &[],
    };
    let users = [user];
    let conv = ParentRow {
        table: "conversations",
        key: 9,
        created_ms: 0,
        parents: &users,
    };
    let u = row(r.for_table("users"), &user.ctx());
    let c = row(r.for_table("conversations"), &conv.ctx());
    let convs = [conv];
    let m = row(
        r.for_table("messages"),
        &RowCtx {
            key: 123,
            created_ms: 1,
            parents: &convs,
        },
    );
    assert_eq!(u, c);
    assert_eq!(u, m);
    assert_eq!(r.for_table("messages").extra_columns(), ["tenantId"]);
    assert!(r.for_table("attachments").is_empty());
}

#[test]
fn values_depend_on_the_key_only_and_choices_follow_weights() {
    let s = specs(
        r#"
[columns."messages.score"]
kind = "choice"
type = "integer"
values = [1, 2]
weights = [0.9, 0.1]
"#,
    );
    let r = Rules::compile(1, &s).unwrap();
    let t = r.for_table("messages");
    let ctx = |k| RowCtx {
        key: k,
        created_ms: 0,
        parents: &[],
    };
    assert_eq!(row(t, &ctx(77)), row(t, &ctx(77)));
    let ones = (0..10_000).filter(|&k| row(t, &ctx(k))[7] == 1).count();
    assert!((8_700..9_300).contains(&ones), "{ones}");
    // Another seed, other values.
    let r2 = Rules::compile(2, &s).unwrap();
    assert!((0..50).any(|k| row(t, &ctx(k)) != row(r2.for_table("messages"), &ctx(k))));
}

#[test]
fn every_problem_is_listed_at_once() {
    let s = specs(
        r#"
[columns."nosuch.x"]
kind = "constant"
type = "text"
value = "a"
[columns."messages.content"]
kind = "constant"
type = "text"
value = "a"
[columns."messages.n"]
kind = "number"
type = "text"
min = 1
max = 2
[columns."messages.v"]
kind = "constant"
type = "varchar(2)"
value = "abc"
[columns."users.p"]
kind = "parent"
type = "text"
parent = "messages"
"#,
    );
    let e = Rules::compile(1, &s).unwrap_err();
    assert_eq!(e.len(), 5, "{e:?}");
    let all = e.join("\n");
    for needle in [
        "unknown table 'nosuch'",
        "fills messages.content itself",
        "number rule cannot fill a column of type text",
        "longer than varchar(2)",
        "users rows have no messages parent",
    ] {
        assert!(all.contains(needle), "{needle}: {all}");
    }
}

#[test]
fn json_templates_and_arrays_render() {
    let s = specs(
        r#"
[columns."messages.meta"]
kind = "json"
type = "jsonb"
template = '{"n": {{n}}, "k": {{key}}, "tag": {{tag}}}'
[columns."messages.meta".fields.n]
kind = "number"
type = "integer"
min = 3
max = 3
[columns."messages.meta".fields.tag]
kind = "constant"
value = "x"
[columns."messages.tags"]
kind = "array"
type = "text[]"
len_min = 2
len_max = 2
element = { kind = "constant", value = "ab" }
"#,
    );
    let r = Rules::compile(1, &s).unwrap();
    let t = r.for_table("messages");
    assert_eq!(t.extra_columns(), ["meta", "tags"]);
    let b = row(
        t,
        &RowCtx {
            key: 41,
            created_ms: 0,
            parents: &[],
        },
    );
    let jl = i32::from_be_bytes(b[0..4].try_into().unwrap()) as usize;
    assert_eq!(b[4], 1);
    assert_eq!(&b[5..4 + jl], br#"{"n": 3, "k": 41, "tag": "x"}"#);
    let a = &b[4 + jl..];
    // length, ndim 1, no nulls, oid 25, 2 elements from 1, then ab ab
    assert_eq!(
        a,
        &[
            0, 0, 0, 32, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 25, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2,
            b'a', b'b', 0, 0, 0, 2, b'a', b'b'
        ][..]
    );
    let bad = specs(
        r#"
[columns."messages.meta"]
kind = "json"
type = "jsonb"
template = '{"n": {{n}'
"#,
    );
    assert!(Rules::compile(1, &bad).is_err());
}

#[test]
fn varchar_lengths_are_respected_and_null_share_applies() {
    let s = specs(
        r#"
[columns."messages.v"]
kind = "text"
type = "varchar(8)"
min = 0
max = 100
null_share = 0.25
"#,
    );
    let r = Rules::compile(3, &s).unwrap();
    let t = r.for_table("messages");
    let mut nulls = 0;
    for k in 0..4000 {
        let b = row(
            t,
            &RowCtx {
                key: k,
                created_ms: 0,
                parents: &[],
            },
        );
        let len = i32::from_be_bytes(b[0..4].try_into().unwrap());
        if len < 0 {
            nulls += 1;
        } else {
            assert!(len <= 8, "{len}");
        }
    }
    assert!((800..1200).contains(&nulls), "{nulls}");
}

#[test]
fn a_copied_field_longer_than_one_chunk_is_copied_whole() {
    // Field 1 of a tuple (NULL, 200 bytes, "x"), copied after the tuple.
    let long: String = (0..200).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    let mut b = BytesMut::with_capacity(8);
    b.put_i16(3);
    crate::copy::null(&mut b);
    crate::copy::text(&mut b, &long);
    crate::copy::text(&mut b, "x");
    let before = b.len();
    copy_field(&mut b, 0, 1);
    let copied = &b[before..];
    assert_eq!(copied.len(), 4 + 200);
    assert_eq!(&copied[..4], &200i32.to_be_bytes());
    assert_eq!(&copied[4..], long.as_bytes());
}

#[test]
fn a_copy_reads_a_column_the_generator_fills_from_the_row() {
    let s = specs(
        r#"
[columns."messages.ref"]
kind = "copy"
type = "varchar(40)"
column = "id"
"#,
    );
    let r = Rules::compile(1, &s).unwrap();
    let tr = r.for_table("messages");
    assert_eq!(tr.column_kind(0), "copy");
    // A tuple of two fields, "abc" then NULL: the copy repeats field 0.
    let mut b = BytesMut::new();
    b.put_i16(2);
    crate::copy::text(&mut b, "abc");
    crate::copy::null(&mut b);
    let ctx = RowCtx {
        key: 0,
        created_ms: 0,
        parents: &[],
    };
    let row_at = 0;
    // messages.id is field 0 of the messages tuple.
    tr.encode_row(&ctx, row_at, &mut b);
    assert_eq!(&b[b.len() - 7..], &[0, 0, 0, 3, b'a', b'b', b'c']);

    // Refused: through a json field, into a type of other bytes.
    let bad = specs(
        r#"
[columns."messages.doc"]
kind = "json"
type = "jsonb"
template = '{"id": {{id}}}'
fields.id = { kind = "copy", column = "id" }
[columns."users.n"]
kind = "copy"
type = "integer"
column = "email"
"#,
    );
    let e = Rules::compile(1, &bad).unwrap_err();
    assert!(
        e.iter()
            .any(|p| p.contains("works only as a column's own rule")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|p| p.contains("writes it as text, which is not integer")),
        "{e:?}"
    );
}
