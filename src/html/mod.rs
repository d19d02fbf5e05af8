//! HTML reports: the last step of `validate --html FILE` and
//! `explain --compare BEFORE AFTER --html FILE`. It takes results that are
//! already computed (the validate report and the comparison as their JSON
//! values, plus the distributions `validate` measured for the charts) and turns
//! them into one self-contained page: charts drawn by `plotters` into inline
//! SVG ([`charts`]), the page laid out by a `minijinja` template
//! (`templates/*.html`, compiled in), styles inline and no script at all, so the
//! file opens offline and from anywhere.
//!
//! - [`check_destination`] runs before any work: a missing or read-only folder
//!   is one clear `Config` error (exit 2).
//! - [`write_atomically`] writes a temporary file beside the target and renames
//!   it, so a reader never sees half a page.
//! - [`validate`] and [`explain`] build the two pages.

pub mod charts;
pub mod explain;
pub mod validate;

use std::path::{Path, PathBuf};

use minijinja::{Environment, UndefinedBehavior, Value};

use crate::error::{Error, Result};

const BASE: &str = include_str!("../../templates/base.html");
const VALIDATE: &str = include_str!("../../templates/validate.html");
const EXPLAIN: &str = include_str!("../../templates/explain.html");

/// The folder a report path lives in (`.` for a bare file name).
fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Checks, before any work starts, that an `--html` report can be written to
/// `path`: its folder exists, is a folder, is not read-only, and a file can be
/// created in it; the path itself is not a folder. One sentence on failure.
pub fn check_destination(flag: &str, path: &Path) -> Result<()> {
    let bad = |why: String| Err(Error::Config(format!("{flag} {}: {why}", path.display())));
    if path.as_os_str().is_empty() || path.file_name().is_none() {
        return bad("not a file name".into());
    }
    if path.is_dir() {
        return bad("is a folder; give a file name such as report.html".into());
    }
    let dir = folder_of(path);
    let meta = match std::fs::metadata(&dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return bad(format!(
                "the folder {} does not exist (create it first)",
                dir.display()
            ))
        }
        Err(e) => return bad(format!("cannot read the folder {}: {e}", dir.display())),
    };
    if !meta.is_dir() {
        return bad(format!("{} is not a folder", dir.display()));
    }
    if meta.permissions().readonly() {
        return bad(format!("the folder {} is read-only", dir.display()));
    }
    // The permission bits do not tell everything (a read-only mount, another
    // owner): create and remove a probe file, as the real write will.
    let probe = temp_path(path, "probe");
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => bad(format!("cannot write in the folder {}: {e}", dir.display())),
    }
}

/// A hidden sibling of `path`, unique to this process.
fn temp_path(path: &Path, what: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    folder_of(path).join(format!(".{name}.{what}-{}", std::process::id()))
}

/// Writes `contents` to `path` atomically (the crate's one file writer).
pub fn write_atomically(path: &Path, contents: &str) -> Result<()> {
    crate::util::json::write_text_atomic(path, contents)
        .map_err(|e| Error::io(format!("writing the HTML report {}", path.display()), e))
}

/// The template environment: the shared layout and the two pages. Undefined
/// variables are errors, so a template that names a missing field fails in
/// the tests instead of rendering blank.
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    for (name, src) in [
        ("base.html", BASE),
        ("validate.html", VALIDATE),
        ("explain.html", EXPLAIN),
    ] {
        env.add_template(name, src)
            .unwrap_or_else(|e| panic!("built-in template {name} does not parse: {e}"));
    }
    env
}

/// Renders template `name` with `ctx`.
fn render(name: &str, ctx: Value) -> Result<String> {
    let env = environment();
    env.get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(|e| Error::Other(format!("rendering the HTML report ({name}): {e:#}")))
}

/// An SVG chart (trusted markup made by [`charts`]) for a template, or the
/// reason it could not be drawn, as escaped text.
fn svg_value(svg: std::result::Result<String, String>) -> Value {
    match svg {
        Ok(s) => Value::from_safe_string(s),
        Err(e) => Value::from(format!("chart not drawn: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("chatsynth-html-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn destinations_in_missing_or_read_only_folders_are_refused() {
        let d = dir("dest");
        assert!(check_destination("--html", &d.join("r.html")).is_ok());
        assert!(
            !d.join("r.html").exists(),
            "the check leaves nothing behind"
        );
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0);

        let e = check_destination("--html", &d.join("missing/r.html")).unwrap_err();
        assert!(matches!(e, Error::Config(_)));
        assert!(e.to_string().contains("does not exist"), "{e}");

        let e = check_destination("--html", &d).unwrap_err();
        assert!(e.to_string().contains("is a folder"), "{e}");

        std::fs::write(d.join("file"), "x").unwrap();
        let e = check_destination("--html", &d.join("file/r.html")).unwrap_err();
        assert!(e.to_string().contains("not a folder"), "{e}");

        use std::os::unix::fs::PermissionsExt;
        let ro = d.join("ro");
        std::fs::create_dir(&ro).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
        let e = check_destination("--html", &ro.join("r.html")).unwrap_err();
        assert!(e.to_string().contains("read-only"), "{e}");
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn atomic_writes_replace_the_file_and_leave_no_temporary() {
        let d = dir("atomic");
        let p = d.join("r.html");
        write_atomically(&p, "one").unwrap();
        write_atomically(&p, "two").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "two");
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1);
        // A failed write (the target is a folder) keeps nothing half-written.
        let sub = d.join("sub");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("x"), "x").unwrap();
        assert!(write_atomically(&sub, "three").is_err());
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 2);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
