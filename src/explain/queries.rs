//! The six hot-path queries (SQL in `sql/queries/`), what each is for, which
//! candidate index targets it, and the parameter values a case binds (stored in
//! the capture JSON so a later capture can reuse them).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use postgres_types::{ToSql, Type};
use serde::{Deserialize, Serialize};

/// A hot-path query (docs/explain.md, "The queries and their cases").
#[derive(Debug)]
pub struct QueryDef {
    pub id: &'static str,
    pub name: &'static str,
    pub sql: &'static str,
    /// A write: measured inside a transaction that is rolled back.
    pub write: bool,
    pub p95_target_ms: f64,
    pub traffic_per_min: u32,
    /// Candidate indexes meant to serve it (empty: not targeted). The query
    /// "uses its candidate" when its plan after names any one of them.
    pub targeted_by: &'static [&'static str],
    /// The table a write changes (its index maintenance cost grows with new indexes there).
    pub writes_to: Option<&'static str>,
}

pub(crate) const IDX_MESSAGES_DESC: &str = "idx_messages_conversation_created_desc";
pub(crate) const IDX_CU_USER_ACTIVE: &str = "idx_conversation_users_user_active";
pub(crate) const IDX_CONVERSATIONS_UPDATED: &str = "idx_conversations_updated_desc";

pub(crate) const QUERIES: [QueryDef; 6] = [
    QueryDef {
        id: "Q1",
        name: "message history",
        sql: include_str!("../../sql/queries/q1_message_history.sql"),
        write: false,
        p95_target_ms: 50.0,
        traffic_per_min: 50_000,
        targeted_by: &[IDX_MESSAGES_DESC],
        writes_to: None,
    },
    QueryDef {
        id: "Q2",
        name: "message insert",
        sql: include_str!("../../sql/queries/q2_message_insert.sql"),
        write: true,
        p95_target_ms: 100.0,
        traffic_per_min: 30_000,
        targeted_by: &[],
        writes_to: Some("messages"),
    },
    QueryDef {
        id: "Q3",
        name: "conversation list",
        sql: include_str!("../../sql/queries/q3_conversation_list.sql"),
        write: false,
        p95_target_ms: 75.0,
        traffic_per_min: 20_000,
        targeted_by: &[IDX_CU_USER_ACTIVE, IDX_CONVERSATIONS_UPDATED],
        writes_to: None,
    },
    QueryDef {
        id: "Q4",
        name: "unread count",
        sql: include_str!("../../sql/queries/q4_unread_count.sql"),
        write: false,
        p95_target_ms: 30.0,
        traffic_per_min: 15_000,
        targeted_by: &[IDX_MESSAGES_DESC],
        writes_to: None,
    },
    QueryDef {
        id: "Q5",
        name: "read receipt upsert",
        sql: include_str!("../../sql/queries/q5_read_receipt_upsert.sql"),
        write: true,
        p95_target_ms: 80.0,
        traffic_per_min: 25_000,
        targeted_by: &[],
        writes_to: Some("message_reads"),
    },
    QueryDef {
        id: "Q6",
        name: "presence",
        sql: include_str!("../../sql/queries/q6_presence.sql"),
        write: false,
        p95_target_ms: 20.0,
        traffic_per_min: 10_000,
        targeted_by: &[],
        writes_to: None,
    },
];

pub fn query(id: &str) -> Option<&'static QueryDef> {
    QUERIES.iter().find(|q| q.id == id)
}

/// One bound parameter, named after what it means. Stored as JSON in captures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Param {
    pub name: String,
    #[serde(flatten)]
    pub value: ParamValue,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum ParamValue {
    Text(String),
    Int(i64),
    /// A `TIMESTAMP(3)` as milliseconds since the Unix epoch (UTC, as stored).
    TimestampMs(i64),
    TextArray(Vec<String>),
}

impl Param {
    pub fn text(name: &str, v: impl Into<String>) -> Param {
        Param {
            name: name.into(),
            value: ParamValue::Text(v.into()),
        }
    }
    pub fn int(name: &str, v: i64) -> Param {
        Param {
            name: name.into(),
            value: ParamValue::Int(v),
        }
    }
    pub fn timestamp_ms(name: &str, v: i64) -> Param {
        Param {
            name: name.into(),
            value: ParamValue::TimestampMs(v),
        }
    }
    pub(crate) fn text_array(name: &str, v: Vec<String>) -> Param {
        Param {
            name: name.into(),
            value: ParamValue::TextArray(v),
        }
    }
}

/// Why a stored parameter cannot be bound to the prepared statement's type.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("parameter ${position} ({name}) is {have} but the query expects {want}")]
pub(crate) struct BindError {
    pub position: usize,
    pub name: String,
    pub have: &'static str,
    pub want: String,
}

/// Converts stored parameters into values for the statement's declared
/// types (ints follow the server's choice of int2/int4/int8). Not a hot path:
/// boxing per parameter is fine here.
pub(crate) fn bind(
    params: &[Param],
    types: &[Type],
) -> Result<Vec<Box<dyn ToSql + Sync + Send>>, BindError> {
    if params.len() != types.len() {
        return Err(BindError {
            position: params.len().min(types.len()) + 1,
            name: "(count)".into(),
            have: "a different number of parameters",
            want: format!("{} parameters", types.len()),
        });
    }
    let mut out: Vec<Box<dyn ToSql + Sync + Send>> = Vec::with_capacity(params.len());
    for (i, (p, ty)) in params.iter().zip(types).enumerate() {
        let err = |have: &'static str| BindError {
            position: i + 1,
            name: p.name.clone(),
            have,
            want: ty.name().to_string(),
        };
        let b: Box<dyn ToSql + Sync + Send> = match (&p.value, ty) {
            (ParamValue::Text(s), t) if *t == Type::TEXT || *t == Type::VARCHAR => {
                Box::new(s.clone())
            }
            (ParamValue::Int(v), t) if *t == Type::INT8 => Box::new(*v),
            (ParamValue::Int(v), t) if *t == Type::INT4 => {
                Box::new(i32::try_from(*v).map_err(|_| err("an integer out of int4 range"))?)
            }
            (ParamValue::Int(v), t) if *t == Type::INT2 => {
                Box::new(i16::try_from(*v).map_err(|_| err("an integer out of int2 range"))?)
            }
            (ParamValue::TimestampMs(ms), t)
                if *t == Type::TIMESTAMP || *t == Type::TIMESTAMPTZ =>
            {
                Box::new(system_time(*ms))
            }
            (ParamValue::TextArray(v), t) if *t == Type::TEXT_ARRAY => Box::new(v.clone()),
            (ParamValue::Text(_), _) => return Err(err("text")),
            (ParamValue::Int(_), _) => return Err(err("an integer")),
            (ParamValue::TimestampMs(_), _) => return Err(err("a timestamp")),
            (ParamValue::TextArray(_), _) => return Err(err("a text array")),
        };
        out.push(b);
    }
    Ok(out)
}

fn system_time(ms: i64) -> SystemTime {
    if ms >= 0 {
        UNIX_EPOCH + Duration::from_millis(ms as u64)
    } else {
        UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
    }
}

/// A cuid-shaped id (25 characters, `c` + lower-case base36) from a counter
/// and a salt, for rows the write queries insert (always rolled back).
pub(crate) fn cuid_like(salt: u64, n: u64) -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut s = String::with_capacity(25);
    s.push('c');
    // splitmix64 over (salt, n): well spread, reproducible.
    let mut x = salt ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for _ in 0..3 {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        for _ in 0..8 {
            s.push(ALPHABET[(z % 36) as usize] as char);
            z /= 36;
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_numbered_and_parameterised() {
        for (i, q) in QUERIES.iter().enumerate() {
            assert_eq!(q.id, format!("Q{}", i + 1));
            assert!(q.sql.contains("$1"), "{} has no parameter", q.id);
            let code: String = q
                .sql
                .lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect();
            assert!(!code.contains(';'), "{} must be one statement", q.id);
        }
        assert!(query("Q4")
            .unwrap()
            .targeted_by
            .contains(&IDX_MESSAGES_DESC));
        assert!(query("Q2").unwrap().write && query("Q5").unwrap().write);
        assert!(query("Q7").is_none());
    }

    #[test]
    fn params_round_trip_through_json() {
        let ps = vec![
            Param::text("conversationId", "cabc"),
            Param::int("limit", 50),
            Param::timestamp_ms("lastReadAt", 1_700_000_000_123),
            Param::text_array("messageIds", vec!["a".into(), "b".into()]),
        ];
        let j = serde_json::to_string(&ps).unwrap();
        assert!(j.contains(r#""type":"timestamp_ms""#), "{j}");
        let back: Vec<Param> = serde_json::from_str(&j).unwrap();
        assert_eq!(back, ps);
    }

    #[test]
    fn binding_follows_the_statement_types() {
        let ps = vec![Param::text("c", "x"), Param::int("limit", 50)];
        assert_eq!(bind(&ps, &[Type::TEXT, Type::INT8]).unwrap().len(), 2);
        assert_eq!(bind(&ps, &[Type::TEXT, Type::INT4]).unwrap().len(), 2);
        let e = bind(&ps, &[Type::TEXT, Type::TEXT]).err().unwrap();
        assert_eq!(e.position, 2);
        assert!(bind(&ps, &[Type::TEXT]).is_err());
        let big = vec![Param::int("n", i64::MAX)];
        assert!(bind(&big, &[Type::INT4]).is_err());
    }

    #[test]
    fn cuid_like_ids_have_the_cuid_shape_and_differ() {
        let a = cuid_like(7, 1);
        let b = cuid_like(7, 2);
        assert_eq!(a.len(), 25);
        assert!(a.starts_with('c'));
        assert!(a[1..]
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase()));
        assert_ne!(a, b);
        assert_eq!(a, cuid_like(7, 1));
    }
}
