//! A PGCOPY stream is the header, any number of rows, then the trailer. The
//! writers here own both ends; [`Rows`] holds the middle, a chunk at a time.

use bytes::{Bytes, BytesMut};
use futures::{Sink, SinkExt};

/// Signature, flags (no OIDs), header extension length 0.
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// The stream trailer: a field count of -1.
const TRAILER: &[u8] = &[0xff, 0xff];
/// Header and trailer together, for byte counts.
const FRAMING_BYTES: u64 = (HEADER.len() + TRAILER.len()) as u64;

/// A chunk of whole rows of one table, each of `fields` fields.
pub(crate) struct Rows {
    buf: BytesMut,
    rows: u64,
    fields: i16,
    /// Where the current row starts (debug builds check its field count).
    #[cfg(debug_assertions)]
    row_at: usize,
}

impl Rows {
    pub fn with_capacity(fields: i16, capacity: usize) -> Rows {
        Rows {
            buf: BytesMut::with_capacity(capacity),
            rows: 0,
            fields,
            #[cfg(debug_assertions)]
            row_at: 0,
        }
    }

    /// Starts a row: writes its field count and returns the buffer the
    /// `encode` functions append its fields to. Ends with [`Rows::end_row`].
    #[inline]
    pub(crate) fn begin_row(&mut self) -> &mut BytesMut {
        #[cfg(debug_assertions)]
        {
            self.row_at = self.buf.len();
        }
        super::row(&mut self.buf, self.fields);
        &mut self.buf
    }

    /// Ends the row begun last; returns the chunk's size in bytes.
    #[inline]
    pub(crate) fn end_row(&mut self) -> usize {
        #[cfg(debug_assertions)]
        {
            let written = fields_in_row(&self.buf[self.row_at..]);
            debug_assert_eq!(
                written,
                Some(self.fields),
                "a PGCOPY row must hold exactly its table's {} fields",
                self.fields
            );
        }
        self.rows += 1;
        self.buf.len()
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Bytes in the chunk so far.
    pub fn len_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Hands over the rows so far (bytes and count) and starts an empty chunk.
    pub fn take(&mut self, capacity: usize) -> (BytesMut, u64) {
        let full = std::mem::replace(&mut self.buf, BytesMut::with_capacity(capacity));
        (full, std::mem::take(&mut self.rows))
    }
}

/// The number of fields in `row` (a field count, then that many fields), or
/// `None` when the fields written do not match the count or the row's end.
#[cfg(debug_assertions)]
fn fields_in_row(mut row: &[u8]) -> Option<i16> {
    use bytes::Buf;
    if row.len() < 2 {
        return None;
    }
    let declared = row.get_i16();
    let mut found = 0i16;
    while row.len() >= 4 {
        let len = row.get_i32();
        if len > 0 {
            let len = len as usize;
            if row.len() < len {
                return None;
            }
            row.advance(len);
        }
        found += 1;
    }
    (row.is_empty() && found == declared).then_some(found)
}

/// Writes one PGCOPY stream into `W` (a file): the header on creation, then
/// chunks of whole rows, then the trailer on [`FileWriter::finish`].
pub(crate) struct FileWriter<W: std::io::Write> {
    out: W,
    bytes: u64,
}

impl<W: std::io::Write> FileWriter<W> {
    pub fn new(mut out: W) -> std::io::Result<Self> {
        out.write_all(HEADER)?;
        Ok(FileWriter { out, bytes: 0 })
    }

    /// Appends a chunk of whole rows (from [`Rows`]).
    pub fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        self.bytes += chunk.len() as u64;
        self.out.write_all(chunk)
    }

    /// Writes the trailer; returns the writer and the stream's size in bytes.
    pub fn finish(mut self) -> std::io::Result<(W, u64)> {
        self.out.write_all(TRAILER)?;
        Ok((self.out, self.bytes + FRAMING_BYTES))
    }
}

/// Writes one PGCOPY stream into an async sink of `Bytes` (a `COPY ... FROM
/// STDIN (FORMAT binary)`): the header on start, chunks of whole rows, the
/// trailer on [`SinkWriter::finish`]. Not finishing leaves the stream
/// incomplete, which the server rejects.
pub struct SinkWriter<S> {
    sink: S,
    bytes: u64,
}

impl<S: Sink<Bytes> + Unpin> SinkWriter<S> {
    pub async fn start(mut sink: S) -> Result<Self, S::Error> {
        sink.send(Bytes::from_static(HEADER)).await?;
        Ok(SinkWriter { sink, bytes: 0 })
    }

    /// Sends a chunk of whole rows (from [`Rows`]).
    pub async fn send(&mut self, chunk: Bytes) -> Result<(), S::Error> {
        self.bytes += chunk.len() as u64;
        self.sink.send(chunk).await
    }

    /// Sends the trailer; returns the sink (to finish the COPY) and the
    /// stream's size in bytes.
    pub async fn finish(mut self) -> Result<(S, u64), S::Error> {
        self.sink.send(Bytes::from_static(TRAILER)).await?;
        Ok((self.sink, self.bytes + FRAMING_BYTES))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_stream_is_header_rows_trailer() {
        let mut rows = Rows::with_capacity(2, 64);
        let b = rows.begin_row();
        super::super::int4(b, 7);
        super::super::null(b);
        rows.end_row();
        let (chunk, n) = rows.take(64);
        assert_eq!((n, rows.rows()), (1, 0));
        let mut w = FileWriter::new(Vec::new()).unwrap();
        w.write(&chunk).unwrap();
        let (out, bytes) = w.finish().unwrap();
        assert_eq!(bytes, out.len() as u64);
        assert_eq!(&out[..HEADER.len()], HEADER);
        assert_eq!(&out[HEADER.len()..out.len() - 2], &chunk[..]);
        assert_eq!(&out[out.len() - 2..], TRAILER);
    }

    #[cfg(debug_assertions)]
    #[test]
    fn debug_builds_count_the_fields_of_each_row() {
        let mut b = BytesMut::new();
        super::super::row(&mut b, 2);
        super::super::text(&mut b, "x");
        assert_eq!(fields_in_row(&b), None);
        super::super::null(&mut b);
        assert_eq!(fields_in_row(&b), Some(2));
        super::super::int4(&mut b, 1);
        assert_eq!(fields_in_row(&b), None);
    }

    #[cfg(debug_assertions)]
    #[test]
    #[should_panic(expected = "exactly its table's 3 fields")]
    fn a_row_with_a_missing_field_panics_in_debug_builds() {
        let mut rows = Rows::with_capacity(3, 64);
        let b = rows.begin_row();
        super::super::int4(b, 1);
        super::super::null(b);
        rows.end_row();
    }
}
