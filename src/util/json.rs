//! The one JSON file writer: every report, capture, comparison and state file
//! goes through [`write_atomic`], so none is ever half-written.

use std::io;
use std::path::Path;

use serde::Serialize;

/// Writes `value` as pretty JSON (with a final newline) to `path`, creating the
/// parent folder. The text goes to a temporary file in the same folder first,
/// which is then renamed over `path`: a reader sees the old file or the new
/// one, never a part.
pub fn write_atomic<T: Serialize + ?Sized>(path: &Path, value: &T) -> io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir)?;
    }
    let mut text = serde_json::to_string_pretty(value).map_err(io::Error::other)?;
    text.push('\n');
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other(format!("{} is not a file path", path.display())))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = match dir {
        Some(d) => d.join(tmp_name),
        None => std::path::PathBuf::from(tmp_name),
    };
    if let Err(e) = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(())
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
