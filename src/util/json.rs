//! The one file writer: every report, capture, comparison, state, metrics and
//! HTML file goes through [`write_text_atomic`] (JSON through [`write_atomic`]),
//! so none is ever half-written. [`check_writable`] is its check before any
//! work starts (`--metrics-file`, `--html`).

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
pub(crate) fn write_text_atomic(path: &Path, text: &str) -> io::Result<()> {
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

/// The folder a file path lives in (`.` for a bare file name).
fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Checks, before any work starts, that a file can be written at `path`: it
/// is a file name, not a folder; its folder exists, is a folder, is not
/// read-only, and takes a new file (a probe file is created and removed, which
/// also catches read-only mounts and another owner's folder, and holds for
/// root). The reason, one sentence, on failure; nothing is left behind.
pub fn check_writable(path: &Path) -> Result<(), String> {
    if path.as_os_str().is_empty() || path.file_name().is_none() || path.is_dir() {
        return Err("is a folder or empty, not a file name (give one such as report.html)".into());
    }
    let dir = folder_of(path);
    let meta = match std::fs::metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(format!(
                "the folder {} does not exist (create it first)",
                dir.display()
            ))
        }
        Err(e) => return Err(format!("cannot read the folder {}: {e}", dir.display())),
    };
    if !meta.is_dir() {
        return Err(format!("{} is not a folder", dir.display()));
    }
    if meta.permissions().readonly() {
        return Err(format!(
            "cannot write in the folder {}: it is read-only",
            dir.display()
        ));
    }
    let mut probe = std::ffi::OsString::from(".");
    probe.push(path.file_name().unwrap_or_default());
    probe.push(format!(".{}.probe", std::process::id()));
    let probe = dir.join(probe);
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => Err(format!("cannot write in the folder {}: {e}", dir.display())),
    }
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

    #[test]
    fn destinations_in_missing_or_read_only_folders_are_refused() {
        let d = std::env::temp_dir().join(format!("cs-dest-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        assert_eq!(check_writable(&d.join("r.html")), Ok(()));
        assert_eq!(
            std::fs::read_dir(&d).unwrap().count(),
            0,
            "the check leaves nothing behind"
        );
        let e = check_writable(&d.join("missing/r.html")).unwrap_err();
        assert!(e.contains("does not exist"), "{e}");
        let e = check_writable(&d).unwrap_err();
        assert!(e.contains("is a folder"), "{e}");
        let e = check_writable(Path::new("")).unwrap_err();
        assert!(e.contains("not a file name"), "{e}");
        std::fs::write(d.join("file"), "x").unwrap();
        let e = check_writable(&d.join("file/r.html")).unwrap_err();
        assert!(e.contains("not a folder"), "{e}");

        use std::os::unix::fs::PermissionsExt;
        let ro = d.join("ro");
        std::fs::create_dir(&ro).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
        let e = check_writable(&ro.join("r.html")).unwrap_err();
        assert!(e.contains("read-only"), "{e}");
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::remove_dir_all(&d).unwrap();
    }
}
