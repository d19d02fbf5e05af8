//! Child tables declared in the config (`[tables.<name>]`): tables of the
//! team's schema that hang off messages, conversations or users and that
//! chatsynth fills beside the built-in ones (docs/config.md, "Child tables").
//!
//! A declaration says which parent a row hangs off, how many rows a parent
//! gets (a capped distribution), who acts (a member of the room, a member
//! other than the message's sender, or nobody), which value column joins the
//! parent and the actor in the unique key, and when a row happens relative to
//! its parent. The declaration is part of [`super::DatasetConfig`], so the
//! report echoes it and the config digest covers it. Whether the target's
//! catalog agrees (the table exists, its foreign keys point where the
//! declaration says) is checked by the load's preflight.

use serde::{Deserialize, Serialize};

/// The most rows one parent may get (the generators keep a parent's chosen
/// keys in a fixed array to keep them distinct).
pub const MAX_ROWS_PER_PARENT: u32 = 64;

/// The chat table a child table hangs off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Parent {
    Messages,
    Conversations,
    Users,
}

impl Parent {
    pub fn table(self) -> &'static str {
        match self {
            Parent::Messages => "messages",
            Parent::Conversations => "conversations",
            Parent::Users => "users",
        }
    }

    /// The usual name of the column that refers to this parent (Prisma's habit).
    fn default_column(self) -> &'static str {
        match self {
            Parent::Messages => "messageId",
            Parent::Conversations => "conversationId",
            Parent::Users => "userId",
        }
    }
}

/// How many rows a parent gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Dist {
    #[default]
    Poisson,
    /// Geometric on 0, 1, 2, ... with mean `rate`.
    Geometric,
}

/// Who a row is by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// A member of the message's room other than its sender (messages only).
    #[default]
    MemberNotSender,
    /// Any member of the room (messages or conversations).
    Member,
    /// No actor column (the only choice for tables off users).
    None,
}

/// One `[tables.<name>]` declaration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChildTable {
    pub parent: Parent,
    /// Column holding the parent's id; default `messageId`, `conversationId`
    /// or `userId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_column: Option<String>,
    /// Mean rows per parent before the cap.
    pub rate: f64,
    #[serde(default)]
    pub dist: Dist,
    /// At most this many rows per parent (1..=64).
    #[serde(default = "default_max")]
    pub max: u32,
    #[serde(default)]
    pub actor: Actor,
    /// Column holding the actor's user id.
    #[serde(default = "default_actor_column")]
    pub actor_column: String,
    /// Primary-key column, filled with a time-ordered cuid-shaped id; `""`
    /// leaves it to the column's default.
    #[serde(default = "default_id_column")]
    pub id_column: String,
    /// Timestamp columns set to the row's time; `""` leaves them out.
    #[serde(default = "default_created_column")]
    pub created_column: String,
    #[serde(default = "default_updated_column")]
    pub updated_column: String,
    /// Mean delay (seconds, exponential) of a row after its parent's createdAt;
    /// a row never falls after the window's end.
    #[serde(default = "default_delay")]
    pub delay_mean_s: f64,
    /// The value column that completes the unique key (parent, actor, value),
    /// e.g. a reaction's emoji, with its values and weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<KeyColumn>,
}

/// A value column of the unique key: each (parent, actor, value) appears at
/// most once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyColumn {
    pub column: String,
    pub values: Vec<String>,
    /// One weight per value; equal weights when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weights: Vec<f64>,
}

impl KeyColumn {
    /// The weighted choice among the values: the same code (and checks) as
    /// a `choice` column rule's, the values written as text.
    pub fn choice(&self) -> Result<crate::rules::Choice, String> {
        let values: Vec<serde_json::Value> = self
            .values
            .iter()
            .map(|v| serde_json::Value::String(v.clone()))
            .collect();
        let weights = (!self.weights.is_empty()).then_some(self.weights.as_slice());
        crate::rules::Choice::new(&crate::rules::PgType::Text, &values, weights)
    }
}

fn default_max() -> u32 {
    8
}
fn default_actor_column() -> String {
    "userId".into()
}
fn default_id_column() -> String {
    "id".into()
}
fn default_created_column() -> String {
    "createdAt".into()
}
fn default_updated_column() -> String {
    "updatedAt".into()
}
fn default_delay() -> f64 {
    3_600.0
}

/// The names chatsynth fills itself; a declared table may not take one.
pub const BUILT_IN_TABLES: [&str; 7] = [
    "users",
    "conversations",
    "conversation_users",
    "messages",
    "attachments",
    "message_reads",
    "message_receipts",
];

impl ChildTable {
    pub fn parent_column(&self) -> &str {
        self.parent_column
            .as_deref()
            .unwrap_or(self.parent.default_column())
    }

    /// Whether rows name an actor.
    pub fn has_actor(&self) -> bool {
        self.actor != Actor::None
    }

    /// The columns chatsynth writes, in COPY order: id, parent, actor, key
    /// value, createdAt, updatedAt (those declared).
    pub fn columns(&self) -> Vec<&str> {
        let mut c = Vec::new();
        if !self.id_column.is_empty() {
            c.push(self.id_column.as_str());
        }
        c.push(self.parent_column());
        if self.has_actor() {
            c.push(self.actor_column.as_str());
        }
        if let Some(k) = &self.key {
            c.push(k.column.as_str());
        }
        for t in [&self.created_column, &self.updated_column] {
            if !t.is_empty() {
                c.push(t.as_str());
            }
        }
        c
    }

    /// The declaration as the column rules see it: the parents its rows
    /// carry (the parent row, then the actor as `users`) and the columns it
    /// fills itself.
    pub fn for_rules(&self, name: &str) -> crate::rules::DeclaredTable {
        let mut parents = vec![self.parent.table()];
        if self.has_actor() && self.parent != Parent::Users {
            parents.push("users");
        }
        crate::rules::DeclaredTable {
            name: name.to_string(),
            parents: Some(parents),
            filled: self
                .columns()
                .iter()
                .map(|c| {
                    let time = [&self.created_column, &self.updated_column]
                        .iter()
                        .any(|t| t.as_str() == *c);
                    let ty = if time {
                        crate::rules::PgType::Timestamp
                    } else {
                        crate::rules::PgType::Text
                    };
                    (c.to_string(), ty)
                })
                .collect(),
        }
    }

    /// Every problem with the declaration of table `name`, as sentences.
    pub fn problems(&self, name: &str) -> Vec<String> {
        let mut p = Vec::new();
        let at = |s: String| format!("[tables.{name}]: {s}");
        if BUILT_IN_TABLES.contains(&name) {
            p.push(at(
                "is one of the tables chatsynth fills itself; declare only new child tables".into(),
            ));
        }
        if name.is_empty() || name.len() > 63 {
            p.push(at("a table name must have 1 to 63 characters".into()));
        }
        if !self.rate.is_finite() || self.rate < 0.0 {
            p.push(at(format!(
                "rate must be a finite number >= 0 (got {})",
                self.rate
            )));
        }
        if self.dist == Dist::Geometric && self.rate.is_finite() && self.rate > 1e6 {
            p.push(at("rate is too large for a geometric distribution".into()));
        }
        if self.max < 1 || self.max > MAX_ROWS_PER_PARENT {
            p.push(at(format!(
                "max must be within 1..={MAX_ROWS_PER_PARENT} (got {})",
                self.max
            )));
        }
        if !self.delay_mean_s.is_finite() || self.delay_mean_s < 0.0 {
            p.push(at(format!(
                "delay_mean_s must be a finite number >= 0 (got {})",
                self.delay_mean_s
            )));
        }
        match (self.parent, self.actor) {
            (Parent::Messages, _) => {}
            (Parent::Conversations, Actor::MemberNotSender) => p.push(at(
                "actor = \"member_not_sender\" needs parent = \"messages\" (a conversation has no sender); use \"member\"".into(),
            )),
            (Parent::Conversations, _) => {}
            (Parent::Users, Actor::None) => {}
            (Parent::Users, _) => p.push(at(
                "a table off users has no room to pick an actor from: set actor = \"none\"".into(),
            )),
        }
        if let Some(k) = &self.key {
            if let Err(e) = k.choice() {
                p.push(at(format!("key: {e}")));
            }
            let mut seen = std::collections::BTreeSet::new();
            for v in &k.values {
                if !seen.insert(v) {
                    p.push(at(format!("key.values lists {v:?} twice")));
                }
            }
        }
        let cols = self.columns();
        for (i, c) in cols.iter().enumerate() {
            if c.is_empty() {
                p.push(at("a column name may not be empty".into()));
            } else if cols[..i].contains(c) {
                p.push(at(format!("column {c:?} is given two roles")));
            }
        }
        p
    }

    /// Expected rows of one parent: `E[min(N, max, capacity)]` for the
    /// configured distribution, where `capacity` is how many distinct keys
    /// the parent offers (actors x values).
    pub fn expected_rows(&self, capacity: u64) -> f64 {
        let cap = (self.max as u64).min(capacity);
        if cap == 0 {
            return 0.0;
        }
        let pmf = |k: u64| -> f64 {
            match self.dist {
                Dist::Poisson => {
                    let mut p = (-self.rate).exp();
                    for i in 1..=k {
                        p *= self.rate / i as f64;
                    }
                    p
                }
                Dist::Geometric => {
                    let q = self.rate / (1.0 + self.rate);
                    (1.0 - q) * q.powi(k as i32)
                }
            }
        };
        // E[min(N, cap)] = sum_{k < cap} k p(k) + cap * P(N >= cap).
        let mut below = 0.0;
        let mut mean = 0.0;
        for k in 0..cap {
            let p = pmf(k);
            below += p;
            mean += k as f64 * p;
        }
        mean + cap as f64 * (1.0 - below).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reactions() -> ChildTable {
        toml::from_str(
            r#"
            parent = "messages"
            rate = 0.2
            dist = "poisson"
            max = 5
            actor = "member_not_sender"
            key = { column = "emoji", values = ["a", "b"], weights = [3, 1] }
            "#,
        )
        .unwrap()
    }

    #[test]
    fn a_declaration_reads_with_defaults() {
        let t = reactions();
        assert!(t.problems("message_reactions").is_empty());
        assert_eq!(
            t.columns(),
            [
                "id",
                "messageId",
                "userId",
                "emoji",
                "createdAt",
                "updatedAt"
            ]
        );
    }

    #[test]
    fn every_problem_is_listed() {
        let mut t = reactions();
        t.rate = -1.0;
        t.max = 0;
        t.actor_column = "messageId".into();
        t.key.as_mut().unwrap().weights = vec![1.0];
        let p = t.problems("messages");
        assert_eq!(p.len(), 5, "{p:?}");
        let mut u = reactions();
        u.parent = Parent::Users;
        // An actor off users, and its column is the parent's ("userId").
        assert_eq!(u.problems("x").len(), 2);
        u.actor = Actor::None;
        assert!(u.problems("x").is_empty());
        assert!(toml::from_str::<ChildTable>("parent = \"posts\"\nrate = 1").is_err());
        assert!(toml::from_str::<ChildTable>(
            "parent = \"users\"\nrate = 1\ndist = \"zipf\"\nactor = \"none\""
        )
        .is_err());
    }

    #[test]
    fn expected_rows_follow_the_cap() {
        let mut t = reactions();
        // Far from the cap: the rate itself.
        assert!((t.expected_rows(1000) - 0.2).abs() < 1e-3);
        // Capacity 1: P(N >= 1).
        assert!((t.expected_rows(1) - (1.0 - (-0.2f64).exp())).abs() < 1e-12);
        t.dist = Dist::Geometric;
        t.rate = 2.0;
        t.max = 64;
        assert!((t.expected_rows(1000) - 2.0).abs() < 1e-6);
        assert_eq!(t.expected_rows(0), 0.0);
    }
}
