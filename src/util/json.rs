//! The one file writer: every report, capture, comparison, state, metrics and
//! HTML file goes through [`write_text_atomic`] (JSON through [`write_atomic`]),
//! so none is ever half-written.

use std::io;
use std::path::Path;

use serde::Serialize;

/// Writes `value` as pretty JSON (with a final newline) to `path`, creating the
/// parent folder, through [`write_text_atomic`].
pub fn write_atomic<T: Serialize + ?Sized>(path: &Path, value: &T) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut text = serde_json::to_string_pretty(value).map_err(io::Error::other)?;
    text.push('\n');
    write_text_atomic(path, &text)
}

/// The one atomic file writer (JSON here, and the metrics and HTML files):
/// `text` goes to a temporary file in the same folder (`.<name>.<pid>.tmp`, so
/// a textfile collector reading `*.prom` skips it), is synced, then renamed
/// over `path`: a reader sees the old file or the new one, never a part. On any
/// failure the temporary file is removed and `path` is left as it was.
pub fn write_text_atomic(path: &Path, text: &str) -> io::Result<()> {
    use std::io::Write;
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other(format!("{} is not a file path", path.display())))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_whole_files_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("cs-json-{}", std::process::id()));
        let path = dir.join("sub").join("x.json");
        write_atomic(&path, &serde_json::json!({"a": 1})).unwrap();
        write_atomic(&path, &serde_json::json!({"a": 2})).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "{\n  \"a\": 2\n}\n");
        let names: Vec<_> = std::fs::read_dir(dir.join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("x.json")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
