//! PGCOPY binary format: the encoder that generators write rows into, straight
//! into `BytesMut` chunks (no per-field `dyn ToSql`, no per-value allocation).
//!
//! A stream is `HEADER`, then any number of rows, then `TRAILER`. Chunks sent
//! to one COPY hold whole rows only; the sink adds the header and trailer.

mod encode;

pub use encode::*;
