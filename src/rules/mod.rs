//! Column rules: the config file's `[columns."table.column"]` entries, compiled
//! once and encoded straight into each row's PGCOPY fields by the generators.
//! It sits below `gen` (which calls it per row) and beside `copy` (whose field
//! functions it uses); `config` holds the rules as written ([`RuleSpec`]).
//!
//! # The stable API (child tables build on it)
//!
//! - [`Rules::compile`] turns the specs into [`Rules`], or lists every problem.
//! - [`Rules::for_table`] gives a table's [`TableRules`] (empty when it has none).
//! - [`TableRules::extra_columns`] are appended, in order, to the table's COPY
//!   column list; [`TableRules::encode_row`] appends their fields to a row.
//! - [`RowCtx`] is what a rule may depend on: the row's key (a u64 unique in
//!   its table), its `createdAt` (Unix ms) and its parents' rows ([`ParentRow`],
//!   each with its own key, `createdAt` and parents).
//!
//! # Determinism
//!
//! A rule's value is a pure function of (seed, table, column, row key, and the
//! parents' keys and times): no RNG state is carried from row to row. So the
//! bytes do not depend on how rows are split among workers, and a child row
//! computes its parent's value (`kind = "parent"`) by evaluating the parent's
//! rule at the parent's key, without storing it. The row keys of the built-in
//! tables: users `u`, conversations `c`, conversation_users `member_off[c] +
//! slot`, messages the global message index `g`, attachments `g*8 + j`,
//! message_reads `g*32 + slot`, message_receipts `g*64 + 2*slot (+1 for READ)`.
//! A declared child table's row: `parent index * 64 + rank among the parent's rows`.
//!
//! # Types
//!
//! Every column rule names its column's type (`type = "varchar(64)"`), so
//! `generate` (no database) and `load` write the same bytes; with a database,
//! [`check_target`] checks the declared type against the catalog's.

mod spec;
mod types;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use bytes::{BufMut, BytesMut};

pub use spec::RuleSpec;
pub use types::PgType;

use crate::copy;

/// The compiled rules of every table that has some.
#[derive(Debug, Default)]
pub struct Rules {
    tables: Vec<TableRules>,
    empty: TableRules,
}

/// One table's rules, in the order their columns follow the built-in ones.
#[derive(Debug, Clone, Default)]
pub struct TableRules {
    table: String,
    columns: Vec<String>,
    rules: Vec<Compiled>,
}

/// What a row's rule values may depend on (see the module doc).
#[derive(Debug, Clone, Copy)]
pub struct RowCtx<'a> {
    /// Unique within the table; the same row always has the same key.
    pub key: u64,
    pub created_ms: i64,
    pub parents: &'a [ParentRow<'a>],
}

/// A parent row reached through one of the row's foreign keys.
#[derive(Debug, Clone, Copy)]
pub struct ParentRow<'a> {
    pub table: &'a str,
    pub key: u64,
    pub created_ms: i64,
    pub parents: &'a [ParentRow<'a>],
}

impl<'a> ParentRow<'a> {
    /// The parent row as a row of its own table.
    pub fn ctx(&self) -> RowCtx<'a> {
        RowCtx {
            key: self.key,
            created_ms: self.created_ms,
            parents: self.parents,
        }
    }
}

/// A column's target, as the database's catalog describes it.
#[derive(Debug, Clone)]
pub struct TargetColumn {
    /// `None`: a type no rule can fill.
    pub ty: Option<PgType>,
    /// The labels, when the column is an enum.
    pub enum_labels: Vec<String>,
}

/// A table declared in the config (`[tables.X]`) as the rules see it: the
/// parents its rows carry in [`RowCtx::parents`], and the columns its
/// generator fills itself (no rule may name those).
#[derive(Debug, Clone, Default)]
pub struct DeclaredTable {
    pub name: String,
    /// `None`: any parent name is accepted (ad hoc tables in tests).
    pub parents: Option<Vec<&'static str>>,
    /// The columns the generator fills, in the row's field order, with the
    /// type each is written as.
    pub filled: Vec<(String, PgType)>,
}

/// The parents a built-in table's rows carry in [`RowCtx::parents`].
pub fn builtin_parents(table: &str) -> Option<&'static [&'static str]> {
    Some(match table {
        "users" => &[],
        "conversations" => &["users"],
        "conversation_users" | "messages" => &["conversations", "users"],
        "attachments" | "message_reads" | "message_receipts" => &["messages", "users"],
        _ => return None,
    })
}

pub const KINDS: &[&str] = &[
    "constant",
    "choice",
    "number",
    "copy",
    "created_plus",
    "parent",
    "uuid",
    "cuid",
    "text",
    "json",
    "array",
];

impl Rules {
    /// No rules at all (the built-in tables as they always were).
    pub fn none() -> Rules {
        Rules::default()
    }

    /// Compiles `specs` (keys `"table.column"`) for the built-in tables.
    pub fn compile(seed: u64, specs: &BTreeMap<String, RuleSpec>) -> Result<Rules, Vec<String>> {
        Rules::compile_with_tables(seed, specs, &[])
    }

    /// As [`Rules::compile`], also accepting rules on any column of the ad hoc
    /// tables `names` (rows without parents; for tests of the encoders).
    pub fn compile_with_tables(
        seed: u64,
        specs: &BTreeMap<String, RuleSpec>,
        names: &[String],
    ) -> Result<Rules, Vec<String>> {
        let declared: Vec<DeclaredTable> = names
            .iter()
            .map(|n| DeclaredTable {
                name: n.clone(),
                ..DeclaredTable::default()
            })
            .collect();
        Rules::compile_declared(seed, specs, &declared)
    }

    /// As [`Rules::compile`], also accepting rules on the columns of the
    /// `declared` child tables that their generator does not fill itself.
    pub fn compile_declared(
        seed: u64,
        specs: &BTreeMap<String, RuleSpec>,
        declared: &[DeclaredTable],
    ) -> Result<Rules, Vec<String>> {
        let mut problems = Vec::new();
        let mut tables: Vec<TableRules> = Vec::new();
        for (key, spec) in specs {
            let Some((table, column)) = key.split_once('.') else {
                problems.push(format!(
                    "columns.\"{key}\": name the column as \"table.column\""
                ));
                continue;
            };
            let builtin = crate::model::Table::ALL
                .into_iter()
                .find(|t| t.name() == table);
            let decl = declared.iter().find(|d| d.name == table);
            let fills_itself = match (builtin, decl) {
                (Some(t), _) => t.columns().iter().any(|c| c.name == column),
                (None, Some(d)) => d.filled.iter().any(|(c, _)| c == column),
                (None, None) => {
                    problems.push(format!(
                        "columns.\"{key}\": unknown table '{table}' (the chat tables are {}{})",
                        crate::model::Table::ALL.map(|t| t.name()).join(", "),
                        if declared.is_empty() {
                            String::new()
                        } else {
                            format!(
                                "; the declared ones {}",
                                declared
                                    .iter()
                                    .map(|d| d.name.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        }
                    ));
                    continue;
                }
            };
            if fills_itself {
                problems.push(format!(
                    "columns.\"{key}\": chatsynth fills {table}.{column} itself; only columns it does not fill can have a rule"
                ));
                continue;
            }
            let ctx = Cx {
                seed,
                specs,
                table,
                declared,
            };
            match ctx.compile(column, spec, None, 0) {
                Ok(c) => {
                    let i = match tables.iter().position(|t| t.table == table) {
                        Some(i) => i,
                        None => {
                            tables.push(TableRules {
                                table: table.to_string(),
                                ..TableRules::default()
                            });
                            tables.len() - 1
                        }
                    };
                    tables[i].columns.push(column.to_string());
                    tables[i].rules.push(c);
                }
                Err(e) => problems.push(format!("columns.\"{key}\": {e}")),
            }
        }
        if problems.is_empty() {
            Ok(Rules {
                tables,
                empty: TableRules::default(),
            })
        } else {
            Err(problems)
        }
    }

    /// The rules of `table`; empty when it has none.
    pub fn for_table(&self, table: &str) -> &TableRules {
        self.tables
            .iter()
            .find(|t| t.table == table)
            .unwrap_or(&self.empty)
    }

    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }
}

impl TableRules {
    /// The columns these rules fill, appended in this order to the table's
    /// COPY column list.
    pub fn extra_columns(&self) -> &[String] {
        &self.columns
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The declared type of extra column `i`.
    pub fn column_type(&self, i: usize) -> &PgType {
        &self.rules[i].ty
    }

    /// The rule's kind of extra column `i` (`constant`, `parent`...).
    pub fn column_kind(&self, i: usize) -> &'static str {
        self.rules[i].kind()
    }

    /// Appends extra column `i`'s value for `ctx` as JSON text (the way a
    /// json template embeds it): for tests and `schema check`, not the hot path.
    pub fn render_json(&self, i: usize, ctx: &RowCtx, out: &mut BytesMut) {
        let r = &self.rules[i];
        r.emit(ctx, r.base_for(ctx.key), out, Mode::Json);
    }

    /// Appends one field per extra column to the row being written, whose
    /// tuple starts at `out[row_at]` (its field count; a `copy` of a column
    /// the generator fills reads that column's field there).
    #[inline]
    pub fn encode_row(&self, ctx: &RowCtx, row_at: usize, out: &mut BytesMut) {
        for r in &self.rules {
            let base = r.base_for(ctx.key);
            match r.gen {
                G::Field(j) if !(r.null_share > 0.0 && unit(base, 0) < r.null_share) => {
                    copy_field(out, row_at, j)
                }
                _ => r.emit(ctx, base, out, Mode::Field),
            }
        }
    }
}

// ------------------------------------------------------------ weighted choice

/// A weighted choice among values of one type: a `choice` rule's, and a
/// declared child table's key column (`[tables.X] key`): one syntax (JSON
/// values, optional weights), one check and one draw for both.
#[derive(Debug, Clone)]
pub struct Choice {
    cdf: Vec<f64>,
    /// Each value's PGCOPY field (length included) and its JSON text.
    fields: Vec<Vec<u8>>,
    json: Vec<Vec<u8>>,
}

impl Choice {
    /// `values` of type `ty` with `weights` (one per value; equal without).
    pub fn new(
        ty: &PgType,
        values: &[serde_json::Value],
        weights: Option<&[f64]>,
    ) -> Result<Choice, String> {
        if values.is_empty() {
            return Err("a choice needs at least one value".into());
        }
        let weights = match weights {
            Some(w) if w.len() != values.len() => {
                return Err(format!("{} weights for {} values", w.len(), values.len()))
            }
            Some(w)
                if w.iter().any(|x| !x.is_finite() || *x < 0.0) || w.iter().sum::<f64>() <= 0.0 =>
            {
                return Err("weights must be finite, non-negative and not all zero".into())
            }
            Some(w) => w.to_vec(),
            None => vec![1.0; values.len()],
        };
        let mut cdf = Vec::with_capacity(weights.len());
        let mut acc = 0.0;
        for w in weights {
            acc += w;
            cdf.push(acc);
        }
        let mut fields = Vec::new();
        let mut json = Vec::new();
        for v in values {
            let (f, j) = encode_value(ty, v)?;
            fields.push(f);
            json.push(j);
        }
        Ok(Choice { cdf, fields, json })
    }

    /// How many values.
    pub fn len(&self) -> usize {
        self.cdf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cdf.is_empty()
    }

    /// The value a uniform `u` in [0, 1) picks (by weight).
    #[inline]
    pub fn pick(&self, u: f64) -> usize {
        let x = u * self.cdf[self.cdf.len() - 1];
        self.cdf
            .partition_point(|&c| c <= x)
            .min(self.cdf.len() - 1)
    }

    /// Value `i` as a whole PGCOPY field (length, then bytes).
    #[inline]
    pub fn field(&self, i: usize) -> &[u8] {
        &self.fields[i]
    }
}

// ------------------------------------------------------------ compiled rules

#[derive(Debug, Clone, Copy, PartialEq)]
enum DistKind {
    Uniform,
    Normal,
    Lognormal,
}

#[derive(Debug, Clone, Copy)]
struct Dist {
    kind: DistKind,
    min: f64,
    max: f64,
    mean: f64,
    sd: f64,
}

impl Dist {
    /// A draw from two uniforms in [0, 1), clamped to [min, max].
    #[inline]
    fn sample(&self, u1: f64, u2: f64) -> f64 {
        let z = || (-2.0 * (1.0 - u1).ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        let x = match self.kind {
            DistKind::Uniform => self.min + u1 * (self.max - self.min),
            DistKind::Normal => self.mean + self.sd * z(),
            DistKind::Lognormal => (self.mean + self.sd * z()).exp(),
        };
        x.clamp(self.min, self.max)
    }

    /// An integer draw; uniform gives every integer of [min, max] equal odds.
    #[inline]
    fn sample_int(&self, u1: f64, u2: f64) -> i64 {
        if self.kind == DistKind::Uniform {
            let (lo, hi) = (self.min.ceil() as i64, self.max.floor() as i64);
            (lo + (u1 * (hi - lo + 1) as f64) as i64).min(hi)
        } else {
            self.sample(u1, u2).round() as i64
        }
    }
}

#[derive(Debug, Clone)]
enum Part {
    Lit(Vec<u8>),
    Sub(Compiled),
    Key,
    Created,
}

#[derive(Debug, Clone)]
enum G {
    /// A constant: its field bytes (length included) and its JSON text.
    Fixed {
        field: Vec<u8>,
        json: Vec<u8>,
    },
    Choice(Choice),
    Number(Dist),
    CreatedPlus(Dist),
    Copy(Box<Compiled>),
    /// A copy of field `.0` of the row, a column its generator fills.
    Field(usize),
    Parent {
        table: String,
        rule: Box<Compiled>,
    },
    Uuid,
    Cuid,
    Text(Dist),
    Json(Vec<Part>),
    Array {
        elem: Box<Compiled>,
        len_min: u32,
        len_max: u32,
    },
}

#[derive(Debug, Clone)]
struct Compiled {
    /// Mixed from (seed, table, column): the rule's family of draws.
    key: u64,
    null_share: f64,
    ty: PgType,
    gen: G,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// A whole PGCOPY field of the rule's type (length, then value).
    Field,
    /// A JSON value (inside a json template or a json array).
    Json,
}

#[inline]
fn mix64(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[inline]
fn draw(base: u64, k: u64) -> u64 {
    mix64(base.wrapping_add(k.wrapping_mul(0x632b_e59b_d9b4_e019)))
}

#[inline]
fn unit(base: u64, k: u64) -> f64 {
    (draw(base, k) >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

const BASE36: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
const HEX: &[u8; 16] = b"0123456789abcdef";
const WORDS: &[&str] = &[
    "alpha", "bravo", "cedar", "delta", "ember", "fable", "grove", "harbor", "island", "jolly",
    "kettle", "lumen", "maple", "nectar", "orbit", "pebble", "quartz", "river", "summit", "timber",
    "umber", "velvet", "willow", "xenon", "yonder", "zephyr", "amber", "breeze", "canyon", "dune",
    "echo", "fjord",
];

impl Compiled {
    #[inline]
    fn base_for(&self, key: u64) -> u64 {
        mix64(self.key ^ mix64(key))
    }

    fn kind(&self) -> &'static str {
        match self.gen {
            G::Fixed { .. } => "constant",
            G::Choice(_) => "choice",
            G::Number(_) => "number",
            G::CreatedPlus(_) => "created_plus",
            G::Copy(_) | G::Field(_) => "copy",
            G::Parent { .. } => "parent",
            G::Uuid => "uuid",
            G::Cuid => "cuid",
            G::Text(_) => "text",
            G::Json(_) => "json",
            G::Array { .. } => "array",
        }
    }

    fn emit(&self, ctx: &RowCtx, base: u64, out: &mut BytesMut, mode: Mode) {
        if self.null_share > 0.0 && unit(base, 0) < self.null_share {
            match mode {
                Mode::Field => copy::null(out),
                Mode::Json => out.put_slice(b"null"),
            }
            return;
        }
        match &self.gen {
            G::Fixed { field, json } => {
                out.put_slice(if mode == Mode::Field { field } else { json })
            }
            G::Choice(c) => {
                let i = c.pick(unit(base, 1));
                out.put_slice(if mode == Mode::Field {
                    &c.fields[i]
                } else {
                    &c.json[i]
                });
            }
            G::Number(d) => self.number(d, base, out, mode),
            G::CreatedPlus(d) => {
                let t = ctx.created_ms + d.sample(unit(base, 1), unit(base, 2)).round() as i64;
                match (mode, &self.ty) {
                    (Mode::Field, PgType::Date) => types::date(out, t),
                    (Mode::Field, _) => copy::timestamp_ms(out, t),
                    (Mode::Json, PgType::Date) => {
                        out.put_u8(b'"');
                        put_iso(out, t, false);
                        out.put_u8(b'"');
                    }
                    (Mode::Json, _) => {
                        out.put_u8(b'"');
                        put_iso(out, t, true);
                        out.put_u8(b'"');
                    }
                }
            }
            G::Copy(src) => src.emit(ctx, src.base_for(ctx.key), out, mode),
            // Only a column's own rule (encode_row) reads the row's fields;
            // a rendering without the row has none.
            G::Field(_) => match mode {
                Mode::Field => copy::null(out),
                Mode::Json => out.put_slice(b"null"),
            },
            G::Parent { table, rule } => match ctx.parents.iter().find(|p| p.table == table) {
                Some(p) => rule.emit(&p.ctx(), rule.base_for(p.key), out, mode),
                None => {
                    debug_assert!(false, "a parent rule's row has no {table} parent");
                    copy::null(out)
                }
            },
            G::Uuid => {
                let mut u = [0u8; 16];
                u[..8].copy_from_slice(&draw(base, 1).to_be_bytes());
                u[8..].copy_from_slice(&draw(base, 2).to_be_bytes());
                u[6] = (u[6] & 0x0f) | 0x40;
                u[8] = (u[8] & 0x3f) | 0x80;
                match (mode, &self.ty) {
                    (Mode::Field, PgType::Uuid | PgType::Bytea) => copy::bytes(out, &u),
                    (Mode::Field, _) => types::field_with(out, |b| put_uuid_text(b, &u)),
                    (Mode::Json, _) => {
                        out.put_u8(b'"');
                        put_uuid_text(out, &u);
                        out.put_u8(b'"');
                    }
                }
            }
            G::Cuid => {
                let write = |b: &mut BytesMut| {
                    b.put_u8(b'c');
                    let mut t = ctx.created_ms.clamp(0, 36i64.pow(8) - 1) as u64;
                    let mut ts = [0u8; 8];
                    for d in ts.iter_mut().rev() {
                        *d = BASE36[(t % 36) as usize];
                        t /= 36;
                    }
                    b.put_slice(&ts);
                    for k in 0..2 {
                        let mut r = draw(base, 1 + k);
                        for _ in 0..8 {
                            b.put_u8(BASE36[(r % 36) as usize]);
                            r /= 36;
                        }
                    }
                };
                match mode {
                    Mode::Field => types::field_with(out, write),
                    Mode::Json => {
                        out.put_u8(b'"');
                        write(out);
                        out.put_u8(b'"');
                    }
                }
            }
            G::Text(d) => {
                let mut len = d.sample_int(unit(base, 1), unit(base, 2)).max(0) as usize;
                if let Some(n) = self.ty.max_chars() {
                    len = len.min(n as usize);
                }
                let write = |b: &mut BytesMut| {
                    let mut left = len;
                    let mut k = 3;
                    while left > 0 {
                        if k > 3 {
                            b.put_u8(b' ');
                            left -= 1;
                            if left == 0 {
                                break;
                            }
                        }
                        let w = WORDS[(draw(base, k) % WORDS.len() as u64) as usize].as_bytes();
                        let n = w.len().min(left);
                        b.put_slice(&w[..n]);
                        left -= n;
                        k += 1;
                    }
                };
                match mode {
                    Mode::Field => types::field_with(out, write),
                    Mode::Json => {
                        out.put_u8(b'"');
                        write(out);
                        out.put_u8(b'"');
                    }
                }
            }
            G::Json(parts) => {
                let write = |b: &mut BytesMut| {
                    for p in parts {
                        match p {
                            Part::Lit(l) => b.put_slice(l),
                            Part::Sub(c) => c.emit(ctx, mix64(c.key ^ base), b, Mode::Json),
                            Part::Key => copy::put_decimal(b, ctx.key),
                            Part::Created => {
                                let _ = write!(b, "{}", ctx.created_ms);
                            }
                        }
                    }
                };
                match (mode, &self.ty) {
                    (Mode::Field, PgType::Jsonb) => types::field_with(out, |b| {
                        b.put_u8(1);
                        write(b)
                    }),
                    (Mode::Field, _) => types::field_with(out, write),
                    (Mode::Json, _) => write(out),
                }
            }
            G::Array {
                elem,
                len_min,
                len_max,
            } => {
                let span = (len_max - len_min + 1) as f64;
                let n = (*len_min + (unit(base, 1) * span) as u32).min(*len_max);
                let at = |j: u32| mix64(elem.key ^ base.wrapping_add(j as u64 + 1));
                match mode {
                    Mode::Field => types::field_with(out, |b| {
                        let oid = elem.ty.oid().unwrap_or(25) as i32;
                        if n == 0 {
                            b.put_i32(0);
                            b.put_i32(0);
                            b.put_i32(oid);
                            return;
                        }
                        b.put_i32(1);
                        b.put_i32((elem.null_share > 0.0) as i32);
                        b.put_i32(oid);
                        b.put_i32(n as i32);
                        b.put_i32(1);
                        for j in 0..n {
                            elem.emit(ctx, at(j), b, Mode::Field);
                        }
                    }),
                    Mode::Json => {
                        out.put_u8(b'[');
                        for j in 0..n {
                            if j > 0 {
                                out.put_u8(b',');
                            }
                            elem.emit(ctx, at(j), out, Mode::Json);
                        }
                        out.put_u8(b']');
                    }
                }
            }
        }
    }

    fn number(&self, d: &Dist, base: u64, out: &mut BytesMut, mode: Mode) {
        let (u1, u2) = (unit(base, 1), unit(base, 2));
        match &self.ty {
            PgType::Int4 | PgType::Int8 => {
                let v = d.sample_int(u1, u2);
                match (mode, &self.ty) {
                    (Mode::Field, PgType::Int4) => copy::int4(out, v as i32),
                    (Mode::Field, _) => {
                        out.put_i32(8);
                        out.put_i64(v);
                    }
                    (Mode::Json, _) => {
                        let _ = write!(out, "{v}");
                    }
                }
            }
            PgType::Numeric(_, s) => {
                let scaled = (d.sample(u1, u2) * 10f64.powi(*s as i32)).round() as i128;
                match mode {
                    Mode::Field => types::numeric(out, scaled, *s),
                    Mode::Json => types::put_scaled(out, scaled, *s),
                }
            }
            _ => {
                let v = d.sample(u1, u2);
                match mode {
                    Mode::Field => {
                        out.put_i32(8);
                        out.put_f64(v);
                    }
                    Mode::Json => {
                        let _ = write!(out, "{v}");
                    }
                }
            }
        }
    }
}

/// Appends a copy of field `j` of the tuple at `out[row_at..]` (length
/// included; NULL stays NULL).
#[inline]
fn copy_field(out: &mut BytesMut, row_at: usize, j: usize) {
    let len_at = |out: &BytesMut, p: usize| {
        i32::from_be_bytes(out[p..p + 4].try_into().expect("4 bytes")).max(0) as usize
    };
    let mut p = row_at + 2;
    for _ in 0..j {
        p += 4 + len_at(out, p);
    }
    let end = p + 4 + len_at(out, p);
    // Through a stack buffer, 64 bytes at a time: `out` may grow (and move)
    // while it is appended to, so the field is read by offset, not borrowed.
    let mut chunk = [0u8; 64];
    while p < end {
        let n = (end - p).min(chunk.len());
        chunk[..n].copy_from_slice(&out[p..p + n]);
        out.put_slice(&chunk[..n]);
        p += n;
    }
}

fn put_uuid_text(b: &mut BytesMut, u: &[u8; 16]) {
    for (i, x) in u.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            b.put_u8(b'-');
        }
        b.put_u8(HEX[(x >> 4) as usize]);
        b.put_u8(HEX[(x & 15) as usize]);
    }
}

/// `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SS.mmmZ` of Unix ms (UTC).
fn put_iso(b: &mut BytesMut, ms: i64, time: bool) {
    let days = ms.div_euclid(86_400_000);
    let (y, m, d) = crate::util::calendar::civil_from_days(days);
    let _ = write!(b, "{y:04}-{m:02}-{d:02}");
    if time {
        let r = ms.rem_euclid(86_400_000);
        let _ = write!(
            b,
            "T{:02}:{:02}:{:02}.{:03}Z",
            r / 3_600_000,
            r / 60_000 % 60,
            r / 1000 % 60,
            r % 1000
        );
    }
}

// ----------------------------------------------------------------- compiling

struct Cx<'a> {
    seed: u64,
    specs: &'a BTreeMap<String, RuleSpec>,
    table: &'a str,
    declared: &'a [DeclaredTable],
}

/// Which kinds fill which types.
fn kind_fits(kind: &str, ty: &PgType) -> bool {
    use PgType::*;
    match kind {
        "constant" | "choice" | "copy" | "parent" => true,
        "number" => matches!(ty, Int4 | Int8 | Float8 | Numeric(..)),
        "created_plus" => matches!(ty, Timestamp | Timestamptz | Date),
        "uuid" => {
            matches!(ty, Uuid | Text | Bytea)
                || matches!(ty, Varchar(n) if n.is_none_or(|n| n >= 36))
        }
        "cuid" => matches!(ty, Text) || matches!(ty, Varchar(n) if n.is_none_or(|n| n >= 25)),
        "text" => matches!(ty, Text | Varchar(_) | Bytea),
        "json" => matches!(ty, Json | Jsonb | Text),
        "array" => matches!(ty, Array(_)),
        _ => false,
    }
}

/// Whether a field written as `a` is valid bytes of type `b` (text, varchar
/// and enums share their encoding; so do the two timestamps).
fn same_bytes(a: &PgType, b: &PgType) -> bool {
    use PgType::*;
    let texty = |t: &PgType| matches!(t, Text | Varchar(_) | Enum(_));
    let time = |t: &PgType| matches!(t, Timestamp | Timestamptz);
    a == b || (texty(a) && matches!(b, Text | Varchar(_))) || (time(a) && time(b))
}

impl Cx<'_> {
    /// Column `col` of the row when its generator fills it: its field index
    /// in the row and the type it is written as.
    fn filled_column(&self, col: &str) -> Option<(usize, PgType)> {
        if let Some(t) = crate::model::Table::ALL
            .into_iter()
            .find(|t| t.name() == self.table)
        {
            let (j, c) = t
                .columns()
                .iter()
                .enumerate()
                .find(|(_, c)| c.name == col)?;
            let sql = c.ty.sql();
            let is_enum = matches!(c.ty, crate::model::ColType::Enum(..));
            return PgType::of_catalog(sql, is_enum, sql.trim_matches('"')).map(|t| (j, t));
        }
        let d = self.declared.iter().find(|d| d.name == self.table)?;
        d.filled
            .iter()
            .enumerate()
            .find(|(_, (c, _))| c == col)
            .map(|(j, (_, t))| (j, t.clone()))
    }

    fn key(&self, column: &str) -> u64 {
        mix64(self.seed ^ mix64(fnv(self.table) ^ fnv(column).rotate_left(17)))
    }

    fn dist(&self, s: &RuleSpec, what: &str) -> Result<Dist, String> {
        let (Some(min), Some(max)) = (s.min, s.max) else {
            return Err(format!("{what} needs min and max"));
        };
        if min > max || !min.is_finite() || !max.is_finite() {
            return Err(format!("min ({min}) must not exceed max ({max})"));
        }
        let kind = match s.dist.as_deref().unwrap_or("uniform") {
            "uniform" => DistKind::Uniform,
            "normal" => DistKind::Normal,
            "lognormal" => DistKind::Lognormal,
            d => {
                return Err(format!(
                    "unknown dist '{d}': expected uniform, normal or lognormal"
                ))
            }
        };
        let (mean, sd) = match kind {
            DistKind::Uniform => (0.0, 0.0),
            _ => match (s.mean, s.sd) {
                (Some(m), Some(sd)) if sd >= 0.0 => (m, sd),
                _ => return Err("normal and lognormal need mean and sd (sd >= 0)".into()),
            },
        };
        Ok(Dist {
            kind,
            min,
            max,
            mean,
            sd,
        })
    }

    /// Compiles the rule of `column` (or of a json field / array element when
    /// `inherited` gives its type).
    fn compile(
        &self,
        column: &str,
        s: &RuleSpec,
        inherited: Option<PgType>,
        depth: u32,
    ) -> Result<Compiled, String> {
        if depth > 8 {
            return Err("rules refer to each other in a loop (copy or parent)".into());
        }
        let ty = match (&s.ty, inherited) {
            (Some(t), _) => PgType::parse(t).ok_or_else(|| {
                format!("unknown type '{t}' (text, varchar(n), integer, bigint, double precision, decimal(p,s), boolean, timestamp(3), timestamptz, date, jsonb, json, uuid, bytea, enum:Name, or any of these followed by [])")
            })?,
            (None, Some(t)) => t,
            (None, None) => return Err("a `type` is required (e.g. type = \"text\")".into()),
        };
        if matches!(ty, PgType::Numeric(_, sc) if sc > 30) {
            return Err("decimal scales above 30 are not supported".into());
        }
        if !KINDS.contains(&s.kind.as_str()) {
            return Err(format!(
                "unknown kind '{}': expected one of {}",
                s.kind,
                KINDS.join(", ")
            ));
        }
        if !kind_fits(&s.kind, &ty) {
            return Err(format!(
                "a {} rule cannot fill a column of type {}",
                s.kind,
                ty.name()
            ));
        }
        let null_share = s.null_share.unwrap_or(0.0);
        if !(0.0..=1.0).contains(&null_share) {
            return Err(format!(
                "null_share must be within 0..=1 (got {null_share})"
            ));
        }
        let key = self.key(column);
        let gen = match s.kind.as_str() {
            "constant" => {
                let v = s.value.as_ref().ok_or("a constant needs a value")?;
                let (field, json) = encode_value(&ty, v)?;
                G::Fixed { field, json }
            }
            "choice" => {
                let values = match (&s.values, &ty) {
                    (Some(v), _) => v,
                    (None, PgType::Enum(name)) => {
                        return Err(format!(
                            "a choice on enum {name} without values takes the enum's labels from the target's catalog: \
                             list the values (generate has no database), or load into a database"
                        ))
                    }
                    (None, _) => return Err("a choice needs values".into()),
                };
                G::Choice(Choice::new(&ty, values, s.weights.as_deref())?)
            }
            "number" => G::Number(self.dist(s, "a number")?),
            "created_plus" => {
                let d = match (s.min, s.max) {
                    (None, None) => Dist {
                        kind: DistKind::Uniform,
                        min: 0.0,
                        max: 0.0,
                        mean: 0.0,
                        sd: 0.0,
                    },
                    _ => self.dist(s, "created_plus")?,
                };
                G::CreatedPlus(d)
            }
            "text" => {
                let d = self.dist(s, "a text's length")?;
                if d.min < 0.0 {
                    return Err("a text's length min must be at least 0".into());
                }
                if let Some(n) = ty.max_chars() {
                    if d.min > n as f64 {
                        return Err(format!(
                            "texts of at least {} characters do not fit {}",
                            d.min,
                            ty.name()
                        ));
                    }
                }
                G::Text(d)
            }
            "uuid" => G::Uuid,
            "cuid" => G::Cuid,
            "copy" => {
                let col = s.column.as_deref().ok_or("a copy needs a column")?;
                if col == "createdAt" {
                    if !matches!(ty, PgType::Timestamp | PgType::Timestamptz | PgType::Date) {
                        return Err(format!("createdAt does not fit {}", ty.name()));
                    }
                    G::CreatedPlus(Dist {
                        kind: DistKind::Uniform,
                        min: 0.0,
                        max: 0.0,
                        mean: 0.0,
                        sd: 0.0,
                    })
                } else if let Some((j, filled)) = self.filled_column(col) {
                    if depth > 0 {
                        return Err(format!(
                            "a copy of {col}, a column chatsynth fills, works only as a column's own rule (not through parent, copy, json or array)"
                        ));
                    }
                    if !same_bytes(&filled, &ty) {
                        return Err(format!(
                            "copy of {}.{col}: chatsynth writes it as {}, which is not {}",
                            self.table,
                            filled.name(),
                            ty.name()
                        ));
                    }
                    G::Field(j)
                } else {
                    let name = format!("{}.{col}", self.table);
                    let src = self.specs.get(&name).ok_or_else(|| {
                        format!("copy of {name}: that column has neither a rule nor is it one chatsynth fills (a copy reads another rule's column, a column chatsynth fills, or createdAt)")
                    })?;
                    let c = self.compile(col, src, None, depth + 1)?;
                    if c.ty != ty {
                        return Err(format!(
                            "copy of {name}: its type {} is not {}",
                            c.ty.name(),
                            ty.name()
                        ));
                    }
                    G::Copy(Box::new(c))
                }
            }
            "parent" => {
                let parent = s
                    .parent
                    .as_deref()
                    .ok_or("a parent rule needs parent (a table)")?;
                let theirs: Option<Vec<&str>> = match builtin_parents(self.table) {
                    Some(ps) => Some(ps.to_vec()),
                    None => self
                        .declared
                        .iter()
                        .find(|d| d.name == self.table)
                        .and_then(|d| d.parents.clone()),
                };
                if let Some(ps) = theirs.filter(|ps| !ps.contains(&parent)) {
                    return Err(format!(
                        "{} rows have no {parent} parent (theirs: {})",
                        self.table,
                        ps.join(", ")
                    ));
                }
                let col = s.column.as_deref().unwrap_or(column);
                let name = format!("{parent}.{col}");
                let src = self
                    .specs
                    .get(&name)
                    .ok_or_else(|| format!("parent {name} has no rule to copy"))?;
                let pcx = Cx {
                    seed: self.seed,
                    specs: self.specs,
                    table: parent,
                    declared: self.declared,
                };
                let c = pcx.compile(col, src, None, depth + 1)?;
                if !c.ty.fits(&ty) {
                    return Err(format!(
                        "parent {name}: its type {} does not fit {}",
                        c.ty.name(),
                        ty.name()
                    ));
                }
                G::Parent {
                    table: parent.to_string(),
                    rule: Box::new(c),
                }
            }
            "json" => {
                let template = s
                    .template
                    .as_deref()
                    .ok_or("a json rule needs a template")?;
                let fields = s.fields.clone().unwrap_or_default();
                let mut parts = Vec::new();
                let mut check = String::new();
                let mut rest = template;
                while let Some(open) = rest.find("{{") {
                    let close = rest[open..].find("}}").ok_or("template: a {{ without }}")? + open;
                    let lit = &rest[..open];
                    parts.push(Part::Lit(lit.as_bytes().to_vec()));
                    check.push_str(lit);
                    let name = rest[open + 2..close].trim();
                    match name {
                        "key" => parts.push(Part::Key),
                        "created_ms" => parts.push(Part::Created),
                        _ => {
                            let sub = fields.get(name).ok_or_else(|| {
                                format!("template: {{{{{name}}}}} is neither a field, key nor created_ms")
                            })?;
                            let sub_ty = match &sub.ty {
                                Some(_) => None,
                                None => Some(PgType::Text),
                            };
                            let mut c = self
                                .compile(&format!("{column}.{name}"), sub, sub_ty, depth + 1)
                                .map_err(|e| format!("field {name}: {e}"))?;
                            c.key = mix64(key ^ fnv(name));
                            parts.push(Part::Sub(c));
                        }
                    }
                    check.push('0');
                    rest = &rest[close + 2..];
                }
                parts.push(Part::Lit(rest.as_bytes().to_vec()));
                check.push_str(rest);
                serde_json::from_str::<serde_json::Value>(&check).map_err(|e| {
                    format!("template is not JSON once its placeholders are filled: {e}")
                })?;
                G::Json(parts)
            }
            "array" => {
                let PgType::Array(elem_ty) = &ty else {
                    unreachable!("kind_fits")
                };
                if elem_ty.oid().is_none() {
                    return Err(format!("arrays of {} are not supported", elem_ty.name()));
                }
                let e = s
                    .element
                    .as_deref()
                    .ok_or("an array needs an element rule")?;
                let mut elem = self
                    .compile(column, e, Some((**elem_ty).clone()), depth + 1)
                    .map_err(|e| format!("element: {e}"))?;
                if !elem.ty.fits(elem_ty) {
                    return Err(format!(
                        "element type {} is not {}",
                        elem.ty.name(),
                        elem_ty.name()
                    ));
                }
                elem.ty = (**elem_ty).clone();
                elem.key = mix64(key ^ fnv("[]"));
                let (lo, hi) = (s.len_min.unwrap_or(0), s.len_max.unwrap_or(3));
                if lo > hi {
                    return Err(format!("len_min ({lo}) exceeds len_max ({hi})"));
                }
                G::Array {
                    elem: Box::new(elem),
                    len_min: lo,
                    len_max: hi,
                }
            }
            _ => unreachable!("kinds are checked above"),
        };
        Ok(Compiled {
            key,
            null_share,
            ty,
            gen,
        })
    }
}

/// A constant's field bytes (length included) and JSON text.
fn encode_value(ty: &PgType, v: &serde_json::Value) -> Result<(Vec<u8>, Vec<u8>), String> {
    use serde_json::Value as V;
    let mut json = serde_json::to_vec(v).expect("a JSON value serialises");
    let mut b = BytesMut::new();
    let bad = || format!("value {v} does not fit {}", ty.name());
    match (ty, v) {
        (_, V::Null) => copy::null(&mut b),
        (PgType::Text | PgType::Varchar(_) | PgType::Enum(_) | PgType::Bytea, V::String(s)) => {
            if let Some(n) = ty.max_chars() {
                if s.chars().count() > n as usize {
                    return Err(format!("value \"{s}\" is longer than {}", ty.name()));
                }
            }
            copy::text(&mut b, s);
        }
        (PgType::Int4, V::Number(n)) => {
            let x = n
                .as_i64()
                .filter(|x| i32::try_from(*x).is_ok())
                .ok_or_else(bad)?;
            copy::int4(&mut b, x as i32);
        }
        (PgType::Int8, V::Number(n)) => {
            b.put_i32(8);
            b.put_i64(n.as_i64().ok_or_else(bad)?);
        }
        (PgType::Float8, V::Number(n)) => {
            b.put_i32(8);
            b.put_f64(n.as_f64().ok_or_else(bad)?);
        }
        (PgType::Numeric(p, s), V::Number(n)) => {
            let x = n.as_f64().ok_or_else(bad)?;
            let scaled = (x * 10f64.powi(*s as i32)).round() as i128;
            if scaled.unsigned_abs() >= 10u128.pow(*p) {
                return Err(bad());
            }
            types::numeric(&mut b, scaled, *s);
            let mut j = BytesMut::new();
            types::put_scaled(&mut j, scaled, *s);
            json = j.to_vec();
        }
        (PgType::Bool, V::Bool(x)) => copy::boolean(&mut b, *x),
        (PgType::Timestamp | PgType::Timestamptz | PgType::Date, _) => {
            let ms = match v {
                V::Number(n) => n.as_i64(),
                V::String(s) => types::parse_time_ms(s),
                _ => None,
            }
            .ok_or_else(|| {
                format!("value {v} is not a time (Unix ms or YYYY-MM-DD[THH:MM:SS[.mmm]Z])")
            })?;
            let date = *ty == PgType::Date;
            if date {
                types::date(&mut b, ms);
            } else {
                copy::timestamp_ms(&mut b, ms);
            }
            let mut j = BytesMut::new();
            j.put_u8(b'"');
            put_iso(&mut j, ms, !date);
            j.put_u8(b'"');
            json = j.to_vec();
        }
        (PgType::Json, _) => copy::bytes(&mut b, &json),
        (PgType::Jsonb, _) => copy::jsonb_with(&mut b, |b| b.put_slice(&json)),
        (PgType::Uuid, V::String(s)) => {
            let hex: Vec<u8> = s.bytes().filter(|c| *c != b'-').collect();
            if hex.len() != 32 || s.len() != 36 {
                return Err(bad());
            }
            let mut u = [0u8; 16];
            for (i, x) in u.iter_mut().enumerate() {
                let h = std::str::from_utf8(&hex[2 * i..2 * i + 2]).map_err(|_| bad())?;
                *x = u8::from_str_radix(h, 16).map_err(|_| bad())?;
            }
            copy::bytes(&mut b, &u);
        }
        (PgType::Array(e), V::Array(items)) => {
            let oid = e
                .oid()
                .ok_or_else(|| format!("arrays of {} are not supported", e.name()))?;
            let mut elems = Vec::new();
            let mut has_null = 0;
            for it in items {
                has_null |= it.is_null() as i32;
                elems.extend(encode_value(e, it)?.0);
            }
            types::field_with(&mut b, |b| {
                if items.is_empty() {
                    b.put_i32(0);
                    b.put_i32(0);
                    b.put_i32(oid as i32);
                } else {
                    b.put_i32(1);
                    b.put_i32(has_null);
                    b.put_i32(oid as i32);
                    b.put_i32(items.len() as i32);
                    b.put_i32(1);
                    b.put_slice(&elems);
                }
            });
        }
        _ => return Err(bad()),
    }
    Ok((b.to_vec(), json))
}

/// The column rules that take their values from the target's catalog: a
/// `choice` on an enum without `values` (key, enum type name).
pub fn labels_needed(specs: &BTreeMap<String, RuleSpec>) -> Vec<(String, String)> {
    specs
        .iter()
        .filter(|(_, s)| s.kind == "choice" && s.values.is_none())
        .filter_map(|(k, s)| match s.ty.as_deref().and_then(PgType::parse) {
            Some(PgType::Enum(name)) => Some((k.clone(), name)),
            _ => None,
        })
        .collect()
}

/// Gives each rule of [`labels_needed`] the enum's labels as its values, in
/// the enum's order (`labels` answers `None` for a type the target lacks);
/// every problem, one line each.
pub fn fill_enum_labels(
    specs: &mut BTreeMap<String, RuleSpec>,
    labels: impl Fn(&str) -> Option<Vec<String>>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (key, name) in labels_needed(specs) {
        match labels(&name).filter(|l| !l.is_empty()) {
            Some(l) => {
                specs.get_mut(&key).expect("listed above").values =
                    Some(l.into_iter().map(serde_json::Value::String).collect());
            }
            None => problems.push(format!(
                "columns.\"{key}\": the target has no enum type {name:?} (with labels) to choose among"
            )),
        }
    }
    problems
}

/// Checks the rules against the target's catalog: every problem, one line
/// each. `column` answers `None` for a column the target does not have.
pub fn check_target(
    specs: &BTreeMap<String, RuleSpec>,
    column: impl Fn(&str, &str) -> Option<TargetColumn>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (key, spec) in specs {
        let Some((table, col)) = key.split_once('.') else {
            continue;
        };
        let Some(target) = column(table, col) else {
            problems.push(format!(
                "columns.\"{key}\": the database has no column {table}.{col}"
            ));
            continue;
        };
        let Some(rule_ty) = spec.ty.as_deref().and_then(PgType::parse) else {
            continue; // compile reports it
        };
        match &target.ty {
            None => problems.push(format!(
                "columns.\"{key}\": chatsynth cannot encode the column's type"
            )),
            Some(t) if !rule_ty.fits(t) => problems.push(format!(
                "columns.\"{key}\": the rule's type {} does not fit the column's type {}",
                rule_ty.name(),
                t.name()
            )),
            Some(PgType::Enum(_)) => {
                let mut values: Vec<&serde_json::Value> = spec.value.iter().collect();
                values.extend(spec.values.iter().flatten());
                for v in values {
                    if let Some(s) = v.as_str() {
                        if !target.enum_labels.iter().any(|l| l == s) {
                            problems.push(format!(
                                "columns.\"{key}\": '{s}' is not a label of the enum (labels: {})",
                                target.enum_labels.join(", ")
                            ));
                        }
                    }
                }
            }
            Some(_) => {}
        }
    }
    problems
}

#[cfg(test)]
mod tests;
