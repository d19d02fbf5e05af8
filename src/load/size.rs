//! The preflight's size estimate: how many bytes a load will put on the
//! server's disk (heap, indexes, WAL), from the plan's row counts and measured
//! per-row averages. On the private cluster the estimate is compared with the
//! free space of the cluster's disk (the old tables stay until the swap, so
//! the whole new dataset must fit beside them); on any other server it is
//! reported beside the database's current size.

use std::path::Path;

use crate::error::{Error, Result};
use crate::model::{PerTable, Table};
use crate::report::SizeEstimate;
use crate::util::num::group;

/// Bytes per row on disk: `(heap, indexes)`, per table.
///
/// Measured from a dev-band load (seed 42, PostgreSQL 15, 8 kB pages, the
/// default `fillfactor`, the indexes of `sql/schema.sql`) after its ANALYZE:
/// `pg_table_size(t) / rows` (heap with TOAST, free-space and visibility
/// maps) and `pg_indexes_size(t) / rows`. A 4x dev load (2M messages) gave
/// per-row figures within a few percent (docs/scale.md, "Size estimate").
const BYTES_PER_ROW: PerTable<(f64, f64)> = PerTable::from_array([
    (221.2, 178.6), // users: 1,105,920 / 5,000 and 892,928 / 5,000
    (185.3, 107.5), // conversations: 1,482,752 / 8,000 and 860,160 / 8,000
    (176.5, 237.3), // conversation_users: 7,094,272 / 40,188 and 9,535,488 / 40,188
    (363.4, 361.5), // messages: 181,706,752 / 500,000 and 180,772,864 / 500,000
    (311.4, 102.5), // attachments: 35,037,184 / 112,508 and 11,534,336 / 112,508
    (141.3, 160.7), // message_reads: 114,139,136 / 807,695 and 129,769,472 / 807,695
    (141.3, 158.4), // message_receipts: 247,349,248 / 1,750,564 and 277,274,624 / 1,750,564
]);

/// Child rows per message: attachments, reads and receipts are decided while
/// generating, so the plan does not know their counts. Measured from the same
/// dev load (112,508, 807,695 and 1,750,564 rows for 500,000 messages; the
/// 4x load had 0.225, 1.68 and 3.63 per message). They follow the shape
/// settings (attachment shares, read share, room sizes), so a config far
/// from the bands' moves them.
const CHILDREN_PER_MESSAGE: [(Table, f64); 3] = [
    (Table::Attachments, 0.2250),
    (Table::MessageReads, 1.6154),
    (Table::MessageReceipts, 3.5011),
];

/// WAL written per byte of heap. COPY into the staging tables (created in an
/// earlier transaction) logs every tuple. Measured with `pg_current_wal_lsn()`
/// around a dev load on an otherwise idle private cluster (`wal_level =
/// minimal`, so the index builds write no WAL): 530,891,088 bytes of WAL for
/// 587,939,840 bytes of heap.
const WAL_PER_HEAP_BYTE: f64 = 0.90;

/// WAL written per byte of index above `wal_level = minimal` (the builds log
/// their pages). Measured around a dev load on the shared server
/// (`wal_level = replica`, other sessions writing too, so an upper bound):
/// 1,078,084,912 bytes in all, minus the heap's 530,891,088, for 610,656,256
/// bytes of indexes.
const WAL_PER_INDEX_BYTE: f64 = 0.90;

/// The row count the estimate uses for each table: exact for users,
/// conversations, memberships and messages, per message for the children.
pub(crate) fn rows(exact: &PerTable<Option<u64>>) -> PerTable<u64> {
    let messages = exact[Table::Messages].unwrap_or(0) as f64;
    PerTable::from_fn(|t| match exact[t] {
        Some(n) => n,
        None => CHILDREN_PER_MESSAGE
            .iter()
            .find(|(c, _)| *c == t)
            .map_or(0, |(_, per)| (messages * per).round() as u64),
    })
}

/// The estimate for `rows`. `wal_logs_indexes`: the server's `wal_level` is
/// above `minimal`, so index builds write their pages to the WAL too.
/// `max_wal_bytes`: the server's `max_wal_size`, which bounds the WAL kept on
/// disk at a time.
pub(crate) fn estimate(
    rows: &PerTable<u64>,
    wal_logs_indexes: bool,
    max_wal_bytes: u64,
) -> SizeEstimate {
    let (mut heap, mut index) = (0.0, 0.0);
    for t in Table::ALL {
        let (h, i) = BYTES_PER_ROW[t];
        heap += rows[t] as f64 * h;
        index += rows[t] as f64 * i;
    }
    let wal = heap * WAL_PER_HEAP_BYTE
        + if wal_logs_indexes {
            index * WAL_PER_INDEX_BYTE
        } else {
            0.0
        };
    let (heap, index, wal) = (heap as u64, index as u64, wal as u64);
    SizeEstimate {
        heap_bytes: heap,
        index_bytes: index,
        wal_bytes: wal,
        // WAL is recycled at checkpoints: at most about max_wal_size of it is
        // on disk at once.
        needed_on_disk_bytes: heap + index + wal.min(max_wal_bytes),
        free_bytes: None,
        database_bytes: None,
        checked: false,
    }
}

/// Free bytes for an unprivileged user on the file system holding `dir`.
/// `CHATSYNTH_TEST_FREE_BYTES` replaces the figure: a hook for the tests of
/// the refusal and of `--no-space-check` (docs/testing.md).
pub(crate) fn free_bytes(dir: &Path) -> Result<u64> {
    if let Some(v) = std::env::var_os(FREE_BYTES_OVERRIDE) {
        return v.to_str().and_then(|s| s.parse().ok()).ok_or_else(|| {
            Error::Config(format!("{FREE_BYTES_OVERRIDE} must be a number of bytes"))
        });
    }
    let s = nix::sys::statvfs::statvfs(dir).map_err(|e| {
        Error::Other(format!(
            "cannot read the free space of {}: {e}",
            dir.display()
        ))
    })?;
    Ok(s.blocks_available() as u64 * s.fragment_size() as u64)
}

/// The environment variable that replaces the free-space figure, for tests.
const FREE_BYTES_OVERRIDE: &str = "CHATSYNTH_TEST_FREE_BYTES";

/// Refuses when the estimate does not fit in `free` bytes.
pub(crate) fn check_fits(e: &SizeEstimate, free: u64, dir: &Path) -> Result<()> {
    if e.needed_on_disk_bytes <= free {
        return Ok(());
    }
    Err(Error::Refused(format!(
        "the dataset needs about {} on disk ({} heap, {} indexes, {} WAL) but the private cluster's disk ({}) has {} free; nothing was written. Free space, choose fewer rows, or pass --no-space-check to load anyway",
        gb(e.needed_on_disk_bytes),
        gb(e.heap_bytes),
        gb(e.index_bytes),
        gb(e.wal_bytes),
        dir.display(),
        gb(free)
    )))
}

/// One line for stderr.
pub(crate) fn describe(e: &SizeEstimate) -> String {
    let mut s = format!(
        "size estimate: about {} on disk ({} heap, {} indexes; {} WAL written)",
        gb(e.needed_on_disk_bytes),
        gb(e.heap_bytes),
        gb(e.index_bytes),
        gb(e.wal_bytes)
    );
    if let Some(free) = e.free_bytes {
        s.push_str(&format!(
            "; {} free on the private cluster's disk",
            gb(free)
        ));
        if !e.checked {
            s.push_str(" (not checked: --no-space-check)");
        }
    }
    if let Some(db) = e.database_bytes {
        s.push_str(&format!("; the database holds {} now", gb(db)));
    }
    s
}

fn gb(bytes: u64) -> String {
    if bytes >= 1_000_000_000 {
        format!("{:.1} GB", bytes as f64 / 1e9)
    } else {
        format!("{} MB", group(bytes.div_ceil(1_000_000)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev_rows() -> PerTable<u64> {
        let mut exact = PerTable::default();
        exact[Table::Users] = Some(5_000);
        exact[Table::Conversations] = Some(8_000);
        exact[Table::ConversationUsers] = Some(40_188);
        exact[Table::Messages] = Some(500_000);
        rows(&exact)
    }

    #[test]
    fn the_dev_band_comes_back_to_what_it_was_measured_from() {
        let r = dev_rows();
        assert_eq!(r[Table::MessageReceipts], 1_750_550);
        let e = estimate(&r, false, u64::MAX);
        // pg_table_size and pg_indexes_size summed over the dev load's tables.
        let heap: u64 = 1_105_920
            + 1_482_752
            + 7_094_272
            + 181_706_752
            + 35_037_184
            + 114_139_136
            + 247_349_248;
        let index: u64 =
            892_928 + 860_160 + 9_535_488 + 180_772_864 + 11_534_336 + 129_769_472 + 277_274_624;
        let near = |a: u64, b: u64| (a as f64 / b as f64 - 1.0).abs() < 0.001;
        assert!(near(e.heap_bytes, heap), "{} vs {heap}", e.heap_bytes);
        assert!(near(e.index_bytes, index), "{} vs {index}", e.index_bytes);
        assert_eq!(
            e.needed_on_disk_bytes,
            e.heap_bytes + e.index_bytes + e.wal_bytes
        );
    }

    #[test]
    fn wal_on_disk_is_bounded_and_index_wal_follows_the_level() {
        let r = dev_rows();
        let minimal = estimate(&r, false, u64::MAX);
        let replica = estimate(&r, true, u64::MAX);
        assert!(replica.wal_bytes > minimal.wal_bytes + minimal.index_bytes / 2);
        assert!(minimal.wal_bytes < minimal.heap_bytes);
        let bounded = estimate(&r, true, 1_000_000);
        assert_eq!(bounded.wal_bytes, replica.wal_bytes);
        assert_eq!(
            bounded.needed_on_disk_bytes,
            bounded.heap_bytes + bounded.index_bytes + 1_000_000
        );
    }

    #[test]
    fn grows_with_the_rows() {
        let r = dev_rows();
        let four = PerTable::from_fn(|t| r[t] * 4);
        let (a, b) = (estimate(&r, false, 0), estimate(&four, false, 0));
        assert!(b.needed_on_disk_bytes.abs_diff(4 * a.needed_on_disk_bytes) < 8);
    }

    #[test]
    fn refuses_only_what_does_not_fit() {
        let e = estimate(&dev_rows(), false, 0);
        let dir = Path::new("pgdata");
        assert!(check_fits(&e, e.needed_on_disk_bytes, dir).is_ok());
        let err = check_fits(&e, e.needed_on_disk_bytes - 1, dir).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("--no-space-check"), "{err}");
    }

    #[test]
    fn free_space_of_an_existing_directory_reads() {
        if std::env::var_os(FREE_BYTES_OVERRIDE).is_some() {
            return;
        }
        assert!(free_bytes(Path::new(".")).unwrap() > 0);
        assert!(free_bytes(Path::new("no/such/dir/here")).is_err());
    }
}
