//! The charts of the HTML reports, drawn with `plotters` into SVG strings that
//! the pages inline. Pure: numbers in, markup out. Text is laid out with
//! plotters' built-in estimate (no font files are read) and drawn by the
//! browser with its own sans-serif font.

use plotters::coord::ranged1d::SegmentValue;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// An SVG document, or why it could not be drawn.
pub(crate) type Svg = std::result::Result<String, String>;
type Drawn = std::result::Result<(), Box<dyn std::error::Error>>;

pub(crate) const DATASET: RGBColor = RGBColor(31, 119, 180);
pub(crate) const TARGET: RGBColor = RGBColor(214, 39, 40);
pub(crate) const BEFORE: RGBColor = RGBColor(150, 150, 150);
pub(crate) const AFTER: RGBColor = RGBColor(31, 119, 180);
pub(crate) const BEFORE_P95: RGBColor = RGBColor(205, 205, 205);
pub(crate) const AFTER_P95: RGBColor = RGBColor(158, 202, 225);

const WIDTH: u32 = 640;
const HEIGHT: u32 = 360;
const FONT: &str = "sans-serif";

fn draw(
    width: u32,
    height: u32,
    f: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Drawn,
) -> Svg {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        f(&root).map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(out)
}

/// One line of a chart.
#[derive(Debug, Clone)]
pub(crate) struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub color: RGBColor,
    /// Line width in pixels; wide lines are drawn half transparent, so a
    /// thin line drawn after one stays visible where they overlap.
    pub width: u32,
}

impl Series {
    fn style(&self) -> ShapeStyle {
        let alpha = if self.width > 2 { 0.5 } else { 1.0 };
        ShapeStyle::from(&self.color.mix(alpha)).stroke_width(self.width)
    }
}

fn positive_bounds(series: &[Series], pick: impl Fn(&(f64, f64)) -> f64) -> Option<(f64, f64)> {
    let vals = series
        .iter()
        .flat_map(|s| s.points.iter().map(&pick))
        .filter(|v| v.is_finite() && *v > 0.0);
    let (mut lo, mut hi) = (f64::MAX, f64::MIN);
    for v in vals {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    (lo <= hi).then_some((lo, hi))
}

/// `1`, `10`, `100`, `1k`, `10k`, `1M`: labels for log axes of counts.
pub(crate) fn fmt_count(v: f64) -> String {
    let a = v.abs();
    let (x, unit) = if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    if x.fract().abs() < 1e-9 || x.abs() >= 10.0 {
        format!("{x:.0}{unit}")
    } else if x.abs() >= 0.01 {
        format!("{}{unit}", format!("{x:.2}").trim_end_matches('0'))
    } else {
        format!("{x:.0e}")
    }
}

/// `500ms`, `30s`, `5m`, `2h`, `3d`: labels for a log axis of seconds.
pub(crate) fn fmt_seconds(s: f64) -> String {
    let (x, unit) = if s >= 86_400.0 {
        (s / 86_400.0, "d")
    } else if s >= 3_600.0 {
        (s / 3_600.0, "h")
    } else if s >= 60.0 {
        (s / 60.0, "m")
    } else if s >= 1.0 {
        (s, "s")
    } else {
        (s * 1_000.0, "ms")
    };
    if x >= 10.0 || x.fract().abs() < 0.05 {
        format!("{x:.0}{unit}")
    } else {
        format!("{x:.1}{unit}")
    }
}

/// Lines on log-log axes (zeros and negatives are left out).
pub(crate) fn log_log_lines(title: &str, x_desc: &str, y_desc: &str, series: &[Series]) -> Svg {
    let (x0, x1) = positive_bounds(series, |p| p.0).ok_or("no positive values to plot")?;
    let (y0, y1) = positive_bounds(series, |p| p.1).ok_or("no positive values to plot")?;
    draw(WIDTH, HEIGHT, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 22))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(
                (x0 * 0.8..x1 * 1.25).log_scale(),
                (y0 * 0.8..y1 * 1.25).log_scale(),
            )?;
        chart
            .configure_mesh()
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 16))
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_label_formatter(&|v| fmt_count(*v))
            .y_label_formatter(&|v| fmt_count(*v))
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        for s in series {
            let pts = s
                .points
                .iter()
                .copied()
                .filter(|(x, y)| *x > 0.0 && *y > 0.0);
            let style = s.style();
            chart
                .draw_series(LineSeries::new(pts, style))?
                .label(s.name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.3))
            .label_font((FONT, 16))
            .draw()?;
        Ok(())
    })
}

/// Tick marks of a log axis of seconds: round units of time.
const TIME_TICKS_S: [f64; 12] = [
    0.1,
    1.0,
    10.0,
    60.0,
    600.0,
    3_600.0,
    6.0 * 3_600.0,
    86_400.0,
    7.0 * 86_400.0,
    30.0 * 86_400.0,
    90.0 * 86_400.0,
    365.0 * 86_400.0,
];

/// Cumulative shares (y in 0..1) over a log x axis of seconds.
pub(crate) fn cdf_lines(title: &str, x_desc: &str, series: &[Series]) -> Svg {
    let (x0, x1) = positive_bounds(series, |p| p.0).ok_or("no positive values to plot")?;
    draw(WIDTH, HEIGHT, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 22))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(
                (x0..x1).log_scale().with_key_points(
                    TIME_TICKS_S
                        .iter()
                        .copied()
                        .filter(|t| (x0..=x1).contains(t))
                        .collect(),
                ),
                0f64..1.0,
            )?;
        chart
            .configure_mesh()
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 16))
            .x_desc(x_desc)
            .y_desc("share of reads at or below")
            .x_label_formatter(&|v| fmt_seconds(*v))
            .y_label_formatter(&|v| format!("{:.0}%", v * 100.0))
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        for s in series {
            let style = s.style();
            chart
                .draw_series(LineSeries::new(
                    s.points.iter().copied().filter(|p| p.0 > 0.0),
                    style,
                ))?
                .label(s.name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.3))
            .label_font((FONT, 16))
            .draw()?;
        Ok(())
    })
}

/// One bin of a histogram over a log x axis: `[lo, hi)`, the measured share
/// and, when known, the target share.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bin {
    pub lo: f64,
    pub hi: f64,
    pub measured: f64,
    pub target: Option<f64>,
}

/// A histogram over a log x axis: measured bars, the target as a step line.
pub(crate) fn log_histogram(title: &str, x_desc: &str, y_desc: &str, bins: &[Bin]) -> Svg {
    let first = bins.first().ok_or("no bins")?;
    let last = bins.last().ok_or("no bins")?;
    let ymax = bins
        .iter()
        .map(|b| b.measured.max(b.target.unwrap_or(0.0)))
        .fold(0.0, f64::max)
        .max(1e-9)
        * 1.1;
    draw(WIDTH, HEIGHT, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 22))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d((first.lo..last.hi).log_scale(), 0f64..ymax)?;
        chart
            .configure_mesh()
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 16))
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_label_formatter(&|v| fmt_count(*v))
            .y_label_formatter(&|v| format!("{:.1}%", v * 100.0))
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        chart
            .draw_series(bins.iter().map(|b| {
                Rectangle::new(
                    [(b.lo, 0.0), (b.hi, b.measured)],
                    DATASET.mix(0.75).filled(),
                )
            }))?
            .label("dataset")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 20, y + 5)], DATASET.filled()));
        if bins.iter().any(|b| b.target.is_some()) {
            let steps = bins
                .iter()
                .filter_map(|b| b.target.map(|t| [(b.lo, t), (b.hi, t)]))
                .flatten();
            chart
                .draw_series(LineSeries::new(steps, TARGET.stroke_width(2)))?
                .label("target")
                .legend(|(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], TARGET.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.3))
            .label_font((FONT, 16))
            .draw()?;
        Ok(())
    })
}

/// Shares by category: a bar per category, the target (when known) as a red
/// tick across it, the measured share printed above.
pub(crate) fn category_bars(title: &str, y_desc: &str, cats: &[(String, f64, Option<f64>)]) -> Svg {
    if cats.is_empty() {
        return Err("no categories".into());
    }
    let n = cats.len() as i32;
    let ymax = cats
        .iter()
        .map(|c| c.1.max(c.2.unwrap_or(0.0)))
        .fold(0.0, f64::max)
        .max(1e-9)
        * 1.18;
    draw(WIDTH, HEIGHT, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 22))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d((0..n - 1).into_segmented(), 0f64..ymax)?;
        chart
            .configure_mesh()
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 16))
            .disable_x_mesh()
            .x_labels(cats.len())
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => cats
                    .get(*i as usize)
                    .map(|c| c.0.clone())
                    .unwrap_or_default(),
                SegmentValue::Last => String::new(),
            })
            .y_desc(y_desc)
            .y_label_formatter(&|v| format!("{:.0}%", v * 100.0))
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        chart
            .draw_series(cats.iter().enumerate().map(|(i, c)| {
                let i = i as i32;
                let mut r = Rectangle::new(
                    [
                        (SegmentValue::Exact(i), 0.0),
                        (SegmentValue::Exact(i + 1), c.1),
                    ],
                    DATASET.mix(0.8).filled(),
                );
                r.set_margin(0, 0, 8, 8);
                r
            }))?
            .label("dataset")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 20, y + 5)], DATASET.filled()));
        let label_style = TextStyle::from((FONT, 15).into_font())
            .pos(Pos::new(HPos::Center, VPos::Bottom))
            .color(&BLACK);
        chart.draw_series(cats.iter().enumerate().map(|(i, c)| {
            Text::new(
                format!("{:.1}%", c.1 * 100.0),
                (
                    SegmentValue::CenterOf(i as i32),
                    c.1.max(c.2.unwrap_or(0.0)),
                ),
                label_style.clone(),
            )
        }))?;
        if cats.iter().any(|c| c.2.is_some()) {
            chart
                .draw_series(cats.iter().enumerate().filter_map(|(i, c)| {
                    let i = i as i32;
                    c.2.map(|t| {
                        PathElement::new(
                            vec![(SegmentValue::Exact(i), t), (SegmentValue::Exact(i + 1), t)],
                            TARGET.stroke_width(3),
                        )
                    })
                }))?
                .label("target")
                .legend(|(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], TARGET.stroke_width(3))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.3))
            .label_font((FONT, 16))
            .draw()?;
        Ok(())
    })
}

/// Weekday names, ISO order (index 0 = Monday).
pub(crate) const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// Colour of a heat-map cell at `t` in 0..1 (the minimum to the maximum): pale
/// to dark blue.
fn heat(t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    let mix = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    RGBColor(mix(247.0, 8.0), mix(251.0, 48.0), mix(255.0, 107.0))
}

/// Hour of day (columns) x weekday (rows, Monday on top) heat map of counts.
pub(crate) fn heatmap(title: &str, cells: &[[u64; 24]; 7]) -> Svg {
    let max = cells.iter().flatten().copied().max().unwrap_or(0);
    let min = cells.iter().flatten().copied().min().unwrap_or(0);
    if max == 0 {
        return Err("no messages".into());
    }
    let span = (max - min).max(1) as f64;
    draw(WIDTH, 320, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 22))
            .margin(12)
            .margin_right(90)
            .x_label_area_size(44)
            .y_label_area_size(48)
            .build_cartesian_2d((0i32..23).into_segmented(), (0i32..6).into_segmented())?;
        chart
            .configure_mesh()
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 16))
            .disable_mesh()
            .x_labels(24)
            .y_labels(7)
            .x_desc("hour of day (UTC)")
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(h) if h % 3 == 0 => format!("{h:02}"),
                _ => String::new(),
            })
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(r) if (0..7).contains(r) => {
                    WEEKDAYS[(6 - r) as usize].to_string()
                }
                _ => String::new(),
            })
            .draw()?;
        chart.draw_series((0..7i32).flat_map(|d| {
            (0..24i32).map(move |h| {
                let v = cells[d as usize][h as usize];
                let row = 6 - d;
                let mut r = Rectangle::new(
                    [
                        (SegmentValue::Exact(h), SegmentValue::Exact(row)),
                        (SegmentValue::Exact(h + 1), SegmentValue::Exact(row + 1)),
                    ],
                    heat((v - min) as f64 / span).filled(),
                );
                r.set_margin(1, 1, 1, 1);
                r
            })
        }))?;
        // The colour scale: a vertical strip in the right margin, the busiest
        // slot's count on top, the quietest's below.
        let (w, h) = root.dim_in_pixel();
        let style = TextStyle::from((FONT, 15).into_font()).color(&BLACK);
        let (x, top, steps) = (w as i32 - 62, 70, 20);
        let step = (h as i32 - 150) / steps;
        for i in 0..steps {
            root.draw(&Rectangle::new(
                [(x, top + i * step), (x + 16, top + (i + 1) * step)],
                heat(1.0 - i as f64 / (steps - 1) as f64).filled(),
            ))?;
        }
        root.draw(&Text::new(
            fmt_count(max as f64),
            (x + 8, top - 6),
            style.pos(Pos::new(HPos::Center, VPos::Bottom)),
        ))?;
        root.draw(&Text::new(
            fmt_count(min as f64),
            (x + 8, top + steps * step + 6),
            style.pos(Pos::new(HPos::Center, VPos::Top)),
        ))?;
        Ok(())
    })
}

/// One row of the latency chart: a query case, before and after, in ms.
#[derive(Debug, Clone)]
pub(crate) struct LatencyRow {
    pub label: String,
    pub p50_before: f64,
    pub p50_after: f64,
    pub p95_before: f64,
    pub p95_after: f64,
}

/// Picks one figure of a [`LatencyRow`].
type Pick = fn(&LatencyRow) -> f64;

/// Horizontal bars on a log axis of milliseconds: for each row, p50 and p95
/// before and after.
pub(crate) fn latency_bars(title: &str, rows: &[LatencyRow]) -> Svg {
    if rows.is_empty() {
        return Err("no queries".into());
    }
    let vals = rows
        .iter()
        .flat_map(|r| [r.p50_before, r.p50_after, r.p95_before, r.p95_after])
        .filter(|v| v.is_finite() && *v > 0.0);
    let (mut lo, mut hi) = (f64::MAX, f64::MIN);
    for v in vals {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return Err("no positive latencies".into());
    }
    let (x0, x1) = (lo / 2.0, hi * 3.0);
    // Five slots per row: four bars and a gap; row 0 on top.
    let n = rows.len() as i32;
    let slots = n * 5;
    let height = 100 + 12 * slots as u32;
    let bars: [(&str, RGBColor, Pick); 4] = [
        ("p50 before", BEFORE, |r| r.p50_before),
        ("p50 after", AFTER, |r| r.p50_after),
        ("p95 before", BEFORE_P95, |r| r.p95_before),
        ("p95 after", AFTER_P95, |r| r.p95_after),
    ];
    let slot = |row: usize, k: usize| slots - 1 - (row as i32 * 5 + k as i32);
    draw(WIDTH + 160, height, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 22))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(150)
            .build_cartesian_2d((x0..x1).log_scale(), (0..slots - 1).into_segmented())?;
        chart
            .configure_mesh()
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 16))
            .disable_y_mesh()
            .set_tick_mark_size(LabelAreaPosition::Left, 0)
            .y_labels(slots as usize)
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(s) => {
                    let from_top = slots - 1 - s;
                    if from_top % 5 == 2 {
                        rows[(from_top / 5) as usize].label.clone()
                    } else {
                        String::new()
                    }
                }
                _ => String::new(),
            })
            .x_desc("latency, planning + execution (ms, log scale)")
            .x_label_formatter(&|v| fmt_count(*v))
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        let value_style = TextStyle::from((FONT, 13).into_font())
            .pos(Pos::new(HPos::Left, VPos::Center))
            .color(&BLACK);
        for (k, (name, color, get)) in bars.iter().enumerate() {
            let color = *color;
            chart
                .draw_series(rows.iter().enumerate().map(|(i, r)| {
                    let s = slot(i, k);
                    let mut rect = Rectangle::new(
                        [
                            (x0, SegmentValue::Exact(s)),
                            (get(r).max(x0), SegmentValue::Exact(s + 1)),
                        ],
                        color.filled(),
                    );
                    rect.set_margin(1, 1, 0, 0);
                    rect
                }))?
                .label(*name)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 20, y + 5)], color.filled())
                });
            chart.draw_series(rows.iter().enumerate().map(|(i, r)| {
                Text::new(
                    format!(" {}", fmt_ms(get(r))),
                    (get(r).max(x0), SegmentValue::CenterOf(slot(i, k))),
                    value_style.clone(),
                )
            }))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.3))
            .label_font((FONT, 16))
            .draw()?;
        Ok(())
    })
}

/// `0.042 ms`, `1.3 ms`, `250 ms`.
pub(crate) fn fmt_ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0} ms")
    } else if v >= 1.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.3} ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(fmt_count(1.0), "1");
        assert_eq!(fmt_count(1000.0), "1k");
        assert_eq!(fmt_count(20_000.0), "20k");
        assert_eq!(fmt_count(0.5), "0.5");
        assert_eq!(fmt_seconds(0.5), "500ms");
        assert_eq!(fmt_seconds(30.0), "30s");
        assert_eq!(fmt_seconds(3_600.0), "1h");
        assert_eq!(fmt_seconds(2.0 * 86_400.0), "2d");
        assert_eq!(fmt_ms(0.0421), "0.042 ms");
    }

    fn has_text(svg: &str, t: &str) -> bool {
        svg.contains(&format!("\n{t}\n</text>"))
    }

    #[test]
    fn charts_are_svg_with_their_labels() {
        let s = Series {
            name: "dataset".into(),
            points: vec![(1.0, 1.0), (10.0, 0.1), (100.0, 0.01)],
            color: DATASET,
            width: 2,
        };
        let svg = log_log_lines("rooms", "messages", "share", &[s]).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..40]);
        assert!(has_text(&svg, "dataset") && has_text(&svg, "rooms"));
        assert!(log_log_lines("x", "x", "y", &[]).is_err());

        let mut cells = [[0u64; 24]; 7];
        cells[0][9] = 5;
        let svg = heatmap("when", &cells).unwrap();
        assert!(has_text(&svg, "Mon") && has_text(&svg, "Sun"));
        assert!(heatmap("when", &[[0; 24]; 7]).is_err());

        let svg = category_bars(
            "types",
            "share",
            &[
                ("TEXT".into(), 0.8, None),
                ("IMAGE".into(), 0.2, Some(0.25)),
            ],
        )
        .unwrap();
        assert!(has_text(&svg, "TEXT") && has_text(&svg, "80.0%") && has_text(&svg, "target"));

        let svg = latency_bars(
            "latency",
            &[LatencyRow {
                label: "Q1 heavy".into(),
                p50_before: 2.0,
                p50_after: 0.5,
                p95_before: 3.0,
                p95_after: 0.7,
            }],
        )
        .unwrap();
        assert!(has_text(&svg, "Q1 heavy") && svg.contains("p95 after"));
    }
}
