//! HTML reports: the last step of `validate --html FILE` and
//! `explain --compare BEFORE AFTER --html FILE`. It takes results that are
//! already computed (the validate report and the comparison as their JSON
//! values, plus the distributions `validate` measured for the charts) and turns
//! them into one self-contained page: charts drawn by `plotters` into inline
//! SVG ([`charts`]), the page laid out by a `minijinja` template
//! (`templates/*.html`, compiled in), styles inline and no script at all, so the
//! file opens offline and from anywhere.
//!
//! - The page's path is checked before any work, with the metrics file's
//!   (`util::json::check_writable`, called by `main`).
//! - [`write_atomically`] writes a temporary file beside the target and renames
//!   it, so a reader never sees half a page.
//! - [`validate`], [`explain`] and [`profile`] build the three pages.

pub mod charts;
pub mod explain;
pub mod profile;
pub mod validate;

use std::path::Path;

use minijinja::{Environment, UndefinedBehavior, Value};

use crate::error::{Error, Result};

const BASE: &str = include_str!("../../templates/base.html");
const VALIDATE: &str = include_str!("../../templates/validate.html");
const EXPLAIN: &str = include_str!("../../templates/explain.html");
const PROFILE: &str = include_str!("../../templates/profile.html");
const CHARTS: &str = include_str!("../../templates/charts.html");

/// Writes `contents` to `path` atomically (the crate's one file writer).
pub(crate) fn write_atomically(path: &Path, contents: &str) -> Result<()> {
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
        ("charts.html", CHARTS),
        ("validate.html", VALIDATE),
        ("explain.html", EXPLAIN),
        ("profile.html", PROFILE),
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

/// One chart of a page: its anchor, title, caption and drawing.
pub(crate) struct Chart {
    pub(crate) id: &'static str,
    pub(crate) title: &'static str,
    pub(crate) caption: String,
    pub(crate) svg: Value,
}

impl Chart {
    /// The chart as the templates read it (`c.id`, `c.svg`, ...).
    fn into_value(self) -> Value {
        minijinja::context! { id => self.id, title => self.title, caption => self.caption, svg => self.svg }
    }
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

    fn dir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("chatsynth-html-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
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
