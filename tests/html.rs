//! The HTML reports in a real browser: a tiny band is loaded, `validate --html`,
//! `explain --compare --html` and `profile --html` write their pages, headless Chromium (Debian's
//! `chromium` package) opens each one and takes a screenshot, and the test
//! checks the PNG is not blank and the page logged nothing to the console. The
//! browser checks are proven on pages that are blank or throw. Bad `--html`
//! paths are refused before any work. A missing Chromium fails the tests.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{chatsynth, stderr, stdout, TestDb};
use serde_json::Value;

fn out_dir(tag: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("chatsynth-html-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Debian's chromium (or `CHATSYNTH_CHROMIUM`); never skipped when missing.
fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("CHATSYNTH_CHROMIUM") {
        return PathBuf::from(p);
    }
    for p in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!(
        "headless Chromium is needed to test the HTML reports and was not found at \
         /usr/bin/chromium: install Debian's package (apt-get install chromium; .ci/run \
         does this) or point CHATSYNTH_CHROMIUM at a chromium binary"
    );
}

/// What the browser made of a page: its screenshot and its log.
struct Shot {
    png: PathBuf,
    log: String,
}

/// Opens `page` in headless Chromium (fresh profile, no network features) and
/// screenshots it at 1400x3000.
fn shoot(page: &Path, png: &Path) -> Shot {
    let profile = png.with_extension("profile");
    let _ = std::fs::remove_dir_all(&profile);
    let log = png.with_extension("log");
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1400,3000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", page.canonicalize().unwrap().display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start chromium");
    // A guard against a hung browser, not a timing assertion.
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("chromium did not finish with {}", page.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        status.success(),
        "chromium failed on {}: {log}",
        page.display()
    );
    assert!(png.exists(), "chromium wrote no screenshot: {log}");
    let _ = std::fs::remove_dir_all(&profile);
    Shot {
        png: png.to_path_buf(),
        log,
    }
}

/// Lines the page logged to the console (uncaught errors included): Chromium
/// writes each as `...:CONSOLE...] "message", source: URL (line)`.
fn console_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
        .collect()
}

/// Share of pixels that are not near-white, luminance variance, and the RGB
/// pixels themselves.
fn pixels(png: &Path) -> (f64, f64, Vec<[u8; 3]>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    assert!(
        info.bit_depth == png::BitDepth::Eight && channels >= 3,
        "unexpected PNG format {:?} {:?}",
        info.color_type,
        info.bit_depth
    );
    let px: Vec<[u8; 3]> = buf[..info.buffer_size()]
        .chunks_exact(channels)
        .map(|c| [c[0], c[1], c[2]])
        .collect();
    let n = px.len() as f64;
    let lum: Vec<f64> = px
        .iter()
        .map(|p| 0.299 * p[0] as f64 + 0.587 * p[1] as f64 + 0.114 * p[2] as f64)
        .collect();
    let mean = lum.iter().sum::<f64>() / n;
    let var = lum.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / n;
    let non_white = px.iter().filter(|p| p.iter().any(|&c| c < 235)).count() as f64 / n;
    (non_white, var, px)
}

/// Asserts the screenshot shows a page: enough ink, contrast, and the colour
/// of the decision banner.
fn assert_not_blank(shot: &Shot, banner: [u8; 3]) {
    let (non_white, var, px) = pixels(&shot.png);
    assert!(
        non_white > 0.05 && var > 100.0,
        "{} looks blank: {:.1}% non-white pixels, luminance variance {var:.0}",
        shot.png.display(),
        non_white * 100.0
    );
    let near = |p: &[u8; 3]| (0..3).all(|i| (p[i] as i32 - banner[i] as i32).abs() <= 6);
    let banner_px = px.iter().filter(|p| near(p)).count();
    assert!(
        banner_px > 10_000,
        "{}: the decision banner's colour {banner:?} covers only {banner_px} pixels",
        shot.png.display()
    );
}

fn assert_quiet(shot: &Shot) {
    let lines = console_lines(&shot.log);
    assert!(
        lines.is_empty(),
        "{} logged to the console:\n{}",
        shot.png.display(),
        lines.join("\n")
    );
}

/// One file: no scripts, nothing fetched from anywhere.
fn assert_self_contained(html: &str) {
    let lower = html.to_ascii_lowercase();
    for bad in [
        "<script",
        "src=\"http",
        "href=\"http",
        "src=\"//",
        "href=\"//",
        "@import",
        "url(",
        "<link",
        "<iframe",
    ] {
        assert!(!lower.contains(bad), "the page contains {bad}");
    }
}

/// The markup of chart `id` on a page.
fn figure<'a>(html: &'a str, id: &str) -> &'a str {
    let at = html
        .find(&format!("<figure id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no chart {id}"));
    &html[at..at + html[at..].find("</figure>").unwrap()]
}

/// Loads the tiny band into `db`, its report at `report`.
fn load_tiny(db: &TestDb, report: &Path) {
    let o = chatsynth(&[
        "load",
        "--band",
        "tiny",
        "--database-url",
        &db.url,
        "--report",
        path_str(report),
    ]);
    assert!(o.status.success(), "load failed: {}", stderr(&o));
}

/// Runs chatsynth with `args` and asserts one error line naming `flag` and
/// `why`, exit 2.
fn refused(args: &[&str], flag: &str, why: &str) {
    let o = chatsynth(args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.contains(flag) && err.contains(why), "{args:?}: {err}");
    assert_eq!(err.trim().lines().count(), 1, "one clear error: {err}");
}

const GO_GREEN: [u8; 3] = [0x1e, 0x7b, 0x34];
const NOGO_RED: [u8; 3] = [0xb3, 0x26, 0x1e];

#[test]
fn the_browser_checks_catch_blank_pages_and_script_errors() {
    let dir = out_dir("negative");
    let blank = dir.join("blank.html");
    std::fs::write(&blank, "<!doctype html><html><body></body></html>").unwrap();
    let shot = shoot(&blank, &dir.join("blank.png"));
    let (non_white, var, _) = pixels(&shot.png);
    assert!(non_white < 0.01 && var < 1.0, "{non_white} {var}");
    assert_quiet(&shot);

    let throws = dir.join("throws.html");
    std::fs::write(
        &throws,
        "<!doctype html><html><body><h1>page</h1>\
         <script>throw new Error('chatsynth-negative-check')</script></body></html>",
    )
    .unwrap();
    let shot = shoot(&throws, &dir.join("throws.png"));
    let lines = console_lines(&shot.log);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("Uncaught Error: chatsynth-negative-check")),
        "a thrown error must show in the log: {}",
        shot.log
    );
    assert!(std::panic::catch_unwind(|| assert_quiet(&shot)).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_and_explain_pages_render_in_chromium() {
    let db = TestDb::new("html").await;
    let dir = out_dir("pages");
    let load_report = dir.join("load.json");
    load_tiny(&db, &load_report);

    // validate --html
    let page = dir.join("validate.html");
    let json = dir.join("validate.json");
    let o = chatsynth(&[
        "validate",
        "--database-url",
        &db.url,
        "--report",
        path_str(&load_report),
        "--out",
        path_str(&json),
        "--html",
        path_str(&page),
    ]);
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "validate could not run: {}",
        stderr(&o)
    );
    assert!(
        stdout(&o).contains("HTML report written to"),
        "{}",
        stdout(&o)
    );
    let result: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let go = result["decision"]["go"].as_bool().unwrap();
    assert_eq!(o.status.code(), Some(if go { 0 } else { 1 }));
    let html = std::fs::read_to_string(&page).unwrap();
    assert_self_contained(&html);
    let drawn = [
        "rooms",
        "heatmap",
        "text-length",
        "types",
        "attachments",
        "read-delay",
    ];
    for id in drawn {
        assert!(
            figure(&html, id).contains("<svg"),
            "chart {id} was not drawn"
        );
    }
    // Every check is a row, coloured by its result.
    let checks = result["checks"].as_array().unwrap();
    let rows = ["pass", "fail", "warn", "skip"]
        .iter()
        .map(|c| html.matches(&format!("<tr class=\"{c}\">")).count())
        .sum::<usize>();
    assert_eq!(rows, checks.len());
    let passed = checks.iter().filter(|c| c["status"] == "pass").count();
    assert_eq!(html.matches("<tr class=\"pass\">").count(), passed);
    let shot = shoot(&page, &dir.join("validate.png"));
    assert_quiet(&shot);
    assert_not_blank(&shot, if go { GO_GREEN } else { NOGO_RED });

    // explain: capture, candidate indexes, capture with the same parameters, compare --html
    let before = dir.join("before.json");
    let after = dir.join("after.json");
    let o = chatsynth(&[
        "explain",
        "--database-url",
        &db.url,
        "--runs",
        "2",
        "--out",
        path_str(&before),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = chatsynth(&[
        "explain",
        "--database-url",
        &db.url,
        "--apply-indexes",
        "phase-2",
        "--out",
        path_str(&dir.join("indexes.json")),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = chatsynth(&[
        "explain",
        "--database-url",
        &db.url,
        "--runs",
        "2",
        "--params-from",
        path_str(&before),
        "--out",
        path_str(&after),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let page = dir.join("compare.html");
    let cmp_json = dir.join("compare.json");
    let o = chatsynth(&[
        "explain",
        "--compare",
        path_str(&before),
        path_str(&after),
        "--out",
        path_str(&cmp_json),
        "--html",
        path_str(&page),
    ]);
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "compare could not run: {}",
        stderr(&o)
    );
    let cmp: Value = serde_json::from_str(&std::fs::read_to_string(&cmp_json).unwrap()).unwrap();
    let go = cmp["go"].as_bool().unwrap();
    let html = std::fs::read_to_string(&page).unwrap();
    assert_self_contained(&html);
    let at = html.find("<figure id=\"latency\"").expect("latency chart");
    assert!(html[at..].contains("<svg"));
    for q in cmp["queries"].as_array().unwrap() {
        for c in q["cases"].as_array().unwrap() {
            let label = format!(
                "{} {}",
                q["id"].as_str().unwrap(),
                c["case"].as_str().unwrap()
            );
            assert!(
                html.contains(&format!("\n{label}\n</text>")),
                "{label} not on the chart"
            );
        }
    }
    // The candidate index changes some plan: it shows as added lines.
    assert!(
        html.contains("<span class=\"add\">"),
        "no plan change shown"
    );
    let shot = shoot(&page, &dir.join("compare.png"));
    assert_quiet(&shot);
    assert_not_blank(&shot, if go { GO_GREEN } else { NOGO_RED });
    eprintln!(
        "screenshots: {} and {}",
        dir.join("validate.png").display(),
        dir.join("compare.png").display()
    );
}

#[test]
fn bad_html_paths_are_refused_before_any_work() {
    let dir = out_dir("bad");
    let json = dir.join("result.json");
    // An unreachable database: the error must be about the path, not the connection.
    let url = "postgres://postgres@127.0.0.1:1/nowhere";
    let missing = dir.join("missing/report.html");
    refused(
        &[
            "validate",
            "--database-url",
            url,
            "--out",
            path_str(&json),
            "--html",
            path_str(&missing),
        ],
        "--html",
        "does not exist",
    );
    assert!(!json.exists() && !missing.exists());

    use std::os::unix::fs::PermissionsExt;
    let ro = dir.join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    let o = chatsynth(&[
        "validate",
        "--database-url",
        url,
        "--html",
        path_str(&ro.join("report.html")),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("read-only"), "{}", stderr(&o));
    assert_eq!(std::fs::read_dir(&ro).unwrap().count(), 0);
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();

    // explain --compare: refused before the captures are read (they do not exist).
    let o = chatsynth(&[
        "explain",
        "--compare",
        "no-before.json",
        "no-after.json",
        "--html",
        path_str(&missing),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("does not exist"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("no-before.json"), "{}", stderr(&o));

    // --html belongs to --compare.
    let o = chatsynth(&[
        "explain",
        "--database-url",
        url,
        "--html",
        path_str(&dir.join("x.html")),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--compare"), "{}", stderr(&o));

    // profile --html: refused before connecting, and not with --compare.
    let out = dir.join("profile.json");
    refused(
        &[
            "profile",
            "--database-url",
            url,
            "--out",
            path_str(&out),
            "--html",
            path_str(&missing),
        ],
        "--html",
        "does not exist",
    );
    assert!(!out.exists());
    // A usage error from the argument parser (several lines), exit 2.
    let o = chatsynth(&[
        "profile",
        "--compare",
        "a.json",
        "b.json",
        "--html",
        path_str(&dir.join("x.html")),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--compare"), "{}", stderr(&o));
    std::fs::remove_dir_all(&dir).unwrap();
}

const PROFILE_BLUE: [u8; 3] = [0x1f, 0x4e, 0x8c];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_page_renders_in_chromium() {
    let db = TestDb::new("htmlprof").await;
    let dir = out_dir("profile");
    load_tiny(&db, &dir.join("load.json"));
    let json = dir.join("profile.json");
    let page = dir.join("profile.html");
    let o = chatsynth(&[
        "profile",
        "--database-url",
        &db.url,
        "--out",
        path_str(&json),
        "--html",
        path_str(&page),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("HTML report written to"),
        "{}",
        stdout(&o)
    );
    let profile: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let html = std::fs::read_to_string(&page).unwrap();
    assert_self_contained(&html);
    let drawn = [
        "rooms",
        "heatmap",
        "text-length",
        "types",
        "conversation-types",
        "attachments",
        "attachments-per-message",
        "read-delay",
    ];
    for id in drawn {
        assert!(
            figure(&html, id).contains("<svg"),
            "chart {id} was not drawn"
        );
    }
    // The summary table: a row per table with the profile's count, and every
    // message type of the mix on the types chart.
    for t in ["users", "conversations", "messages", "message_reads"] {
        let n = profile["counts"][t].as_u64().unwrap();
        assert!(
            html.contains(&format!("<tr><td>{t}</td><td>{n}")),
            "no summary row for {t} ({n})"
        );
    }
    let fig = figure(&html, "types");
    for kind in profile["messages"]["types"]["shares"]
        .as_object()
        .unwrap()
        .keys()
    {
        assert!(fig.contains(kind.as_str()), "type {kind} not on the chart");
    }
    let shot = shoot(&page, &dir.join("profile.png"));
    assert_quiet(&shot);
    assert_not_blank(&shot, PROFILE_BLUE);
    eprintln!("screenshot: {}", dir.join("profile.png").display());
}
