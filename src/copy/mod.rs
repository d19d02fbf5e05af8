//! The PGCOPY binary format, the layer every row passes through between the
//! generators (`gen`) and the consumers of chunks (`load`'s COPY streams,
//! `generate`'s files).
//!
//! - [`encode`]'s free functions append one field to a `BytesMut` (no
//!   per-field `dyn ToSql`, no per-value allocation);
//! - [`Rows`] is one table's chunk of whole rows; in debug builds it checks
//!   that every row holds exactly the table's field count;
//! - [`FileWriter`] and [`SinkWriter`] frame a stream: they own the header and
//!   the trailer, so chunks hold whole rows only and nobody writes either by
//!   hand.

mod encode;
mod stream;

pub use encode::*;
pub use stream::SinkWriter;
pub(crate) use stream::{FileWriter, Rows};
