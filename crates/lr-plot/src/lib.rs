//! # lr-plot — drawing a learning-rate-control curve
//!
//! Owns the picture only: a [`Chart`] (one series per score key, the learning rate per epoch,
//! the best epoch, the epochs a cleanup keeps) rendered to SVG or PNG bytes with `plotters`
//! (pure Rust: the SVG backend, the in-memory bitmap backend encoded by the `png` crate, text
//! through `ab_glyph` with an embedded DejaVu Sans subset, `font/LICENSE`).
//!
//! It never decides anything the chart shows — which epoch is best, which are kept, what a
//! score key is: those come in the [`Chart`] from the library layer (`engine`). It never opens,
//! writes or reads files and never prints; the caller writes the returned bytes.
//!
//! Layout: the scores in the upper panel (one line with point markers per key, legend), the
//! kept epochs as green bands behind them, the best epoch as a red ring on its score with a
//! dashed vertical line and a caption; the learning rate in its own lower panel, on a log
//! scale when its values span a factor of 10 or more.

use std::ops::Range;
use std::sync::Once;

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use plotters::style::FontStyle;

/// The embedded font: DejaVu Sans reduced to printable ASCII (`font/LICENSE`).
const FONT: &[u8] = include_bytes!("../font/DejaVuSans-ascii.ttf");
const FONT_NAME: &str = "sans-serif";

/// The colours of the score series, in key order (then repeating). Public so a reader of the
/// SVG can tell the series apart.
pub const SERIES_COLORS: [(u8, u8, u8); 8] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (23, 190, 207),
];
/// The learning-rate line.
pub const LR_COLOR: (u8, u8, u8) = (0, 0, 0);
/// The best-epoch marker (ring and dashed line).
pub const BEST_COLOR: (u8, u8, u8) = (214, 39, 40);
/// The bands behind kept epochs (drawn with opacity [`KEPT_OPACITY`]).
pub const KEPT_COLOR: (u8, u8, u8) = (44, 160, 44);
pub const KEPT_OPACITY: f64 = 0.15;

/// One score key's values per epoch (ascending epochs).
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(u64, f64)>,
}

/// The best epoch: its key, epoch and value.
#[derive(Clone, Debug, PartialEq)]
pub struct Best {
    pub key: String,
    pub epoch: u64,
    pub value: f64,
}

/// Everything drawn.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Chart {
    pub title: String,
    pub scores: Vec<Series>,
    /// `(epoch, learning rate)`, ascending epochs.
    pub learning_rate: Vec<(u64, f64)>,
    pub best: Option<Best>,
    /// Epochs kept (drawn as bands).
    pub kept: Vec<u64>,
}

/// The output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Svg,
    Png,
}

impl Format {
    /// The format named by a file extension (`svg`, `png`, any case).
    pub fn from_extension(ext: &str) -> Option<Format> {
        match ext.to_ascii_lowercase().as_str() {
            "svg" => Some(Format::Svg),
            "png" => Some(Format::Png),
            _ => None,
        }
    }
}

/// Why a chart could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("invalid picture size {0}x{1}: both sides must be between 200 and 8000 pixels")]
    Size(u32, u32),
    #[error("drawing failed: {0}")]
    Draw(String),
    #[error("PNG encoding failed: {0}")]
    Png(#[from] png::EncodingError),
}

/// What [`render`] drew, for a caller's summary.
#[derive(Clone, Debug, PartialEq)]
pub struct Drawn {
    /// Whether the learning-rate panel uses a log scale.
    pub lr_log_scale: bool,
    /// Points drawn per score key (non-finite values are left out).
    pub points: Vec<(String, usize)>,
}

/// Whether learning rates get a log axis: all positive and spanning a factor of 10 or more.
pub fn lr_log_scale(lr: &[(u64, f64)]) -> bool {
    let v: Vec<f64> = lr.iter().map(|p| p.1).filter(|x| x.is_finite()).collect();
    let (lo, hi) = min_max(&v);
    !v.is_empty() && lo > 0.0 && hi / lo >= 10.0
}

/// Draws `chart` as `format` in `width` x `height` pixels.
pub fn render(
    chart: &Chart,
    format: Format,
    width: u32,
    height: u32,
) -> Result<(Vec<u8>, Drawn), PlotError> {
    if !(200..=8000).contains(&width) || !(200..=8000).contains(&height) {
        return Err(PlotError::Size(width, height));
    }
    register_font();
    match format {
        Format::Svg => {
            let mut s = String::new();
            let drawn = {
                let root = SVGBackend::with_string(&mut s, (width, height)).into_drawing_area();
                let d = draw(&root, chart)?;
                root.present().map_err(draw_err)?;
                d
            };
            Ok((s.into_bytes(), drawn))
        }
        Format::Png => {
            let mut buf = vec![255u8; width as usize * height as usize * 3];
            let drawn = {
                let root =
                    BitMapBackend::with_buffer(&mut buf, (width, height)).into_drawing_area();
                let d = draw(&root, chart)?;
                root.present().map_err(draw_err)?;
                d
            };
            let mut out = Vec::new();
            {
                let mut enc = png::Encoder::new(&mut out, width, height);
                enc.set_color(png::ColorType::Rgb);
                enc.set_depth(png::BitDepth::Eight);
                let mut w = enc.write_header()?;
                w.write_image_data(&buf)?;
                w.finish()?;
            }
            Ok((out, drawn))
        }
    }
}

fn register_font() {
    static ONCE: Once = Once::new();
    // The embedded font is a valid TrueType file (a unit test parses it); were it not, text
    // drawing would fail with an error, not a panic.
    ONCE.call_once(|| {
        let _ = plotters::style::register_font(FONT_NAME, FontStyle::Normal, FONT);
    });
}

fn draw_err(e: impl std::fmt::Display) -> PlotError {
    PlotError::Draw(e.to_string())
}

fn rgb(c: (u8, u8, u8)) -> RGBColor {
    RGBColor(c.0, c.1, c.2)
}

fn min_max(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        })
}

/// A value range with a margin; a single value gets a unit-sized one.
fn padded(lo: f64, hi: f64) -> Range<f64> {
    if !(lo.is_finite() && hi.is_finite()) {
        return 0.0..1.0;
    }
    let span = hi - lo;
    let pad = if span > 0.0 {
        span * 0.08
    } else {
        (lo.abs() * 0.1).max(1e-3)
    };
    (lo - pad)..(hi + pad)
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    chart: &Chart,
) -> Result<Drawn, PlotError> {
    root.fill(&WHITE).map_err(draw_err)?;
    let root = root
        .titled(&chart.title, (FONT_NAME, 20))
        .map_err(draw_err)?;
    let epochs: Vec<u64> = chart
        .scores
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .chain(chart.learning_rate.iter().map(|p| p.0))
        .chain(chart.kept.iter().copied())
        .chain(chart.best.iter().map(|b| b.epoch))
        .collect();
    let first = epochs.iter().min().copied().unwrap_or(1) as f64;
    let last = epochs.iter().max().copied().unwrap_or(1) as f64;
    let x = (first - 0.5)..(last + 0.5);
    let has_lr = chart.learning_rate.iter().any(|p| p.1.is_finite());
    let (top, bottom) = if has_lr {
        let h = root.dim_in_pixel().1;
        let (t, b) = root.split_vertically(h * 62 / 100);
        (t, Some(b))
    } else {
        (root, None)
    };
    let points = draw_scores(&top, chart, x.clone())?;
    let mut lr_log = false;
    if let Some(bottom) = bottom {
        let v: Vec<f64> = chart
            .learning_rate
            .iter()
            .map(|p| p.1)
            .filter(|x| x.is_finite())
            .collect();
        let (lo, hi) = min_max(&v);
        lr_log = lr_log_scale(&chart.learning_rate);
        if lr_log {
            let y = (lo / 1.5)..(hi * 1.5);
            draw_lr(&bottom, chart, x, y.log_scale())?;
        } else {
            draw_lr(&bottom, chart, x, padded(lo, hi))?;
        }
    }
    Ok(Drawn {
        lr_log_scale: lr_log,
        points,
    })
}

fn epoch_label(v: &f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        String::new()
    }
}

fn draw_scores<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    chart: &Chart,
    x: Range<f64>,
) -> Result<Vec<(String, usize)>, PlotError> {
    let values: Vec<f64> = chart
        .scores
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .filter(|v| v.is_finite())
        .collect();
    let (lo, hi) = min_max(&values);
    let y = padded(lo, hi);
    let (y0, y1) = (y.start, y.end);
    let mut c = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(70)
        .build_cartesian_2d(x, y)
        .map_err(draw_err)?;
    c.configure_mesh()
        .x_desc("epoch")
        .y_desc("score / error")
        .x_label_formatter(&epoch_label)
        .label_style((FONT_NAME, 13))
        .axis_desc_style((FONT_NAME, 15))
        .draw()
        .map_err(draw_err)?;
    let kept = rgb(KEPT_COLOR).mix(KEPT_OPACITY);
    if !chart.kept.is_empty() {
        c.draw_series(chart.kept.iter().map(|&e| {
            let e = e as f64;
            Rectangle::new([(e - 0.35, y0), (e + 0.35, y1)], kept.filled())
        }))
        .map_err(draw_err)?
        .label("kept by cleanup")
        .legend(move |(px, py)| Rectangle::new([(px, py - 6), (px + 18, py + 6)], kept.filled()));
    }
    let mut points = Vec::new();
    for (i, s) in chart.scores.iter().enumerate() {
        let color = rgb(SERIES_COLORS[i % SERIES_COLORS.len()]);
        let pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .filter(|p| p.1.is_finite())
            .map(|&(e, v)| (e as f64, v))
            .collect();
        points.push((s.name.clone(), pts.len()));
        c.draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
            .map_err(draw_err)?
            .label(s.name.as_str())
            .legend(move |(px, py)| {
                Rectangle::new([(px, py - 2), (px + 18, py + 2)], color.filled())
            });
        c.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
            .map_err(draw_err)?;
    }
    if let Some(b) = &chart.best {
        let red = rgb(BEST_COLOR);
        let e = b.epoch as f64;
        let dash = (y1 - y0) / 40.0;
        let mut segs = Vec::new();
        let mut t = y0;
        while t < y1 {
            segs.push(PathElement::new(
                vec![(e, t), (e, (t + dash).min(y1))],
                red.stroke_width(1),
            ));
            t += 2.0 * dash;
        }
        c.draw_series(segs).map_err(draw_err)?;
        if b.value.is_finite() {
            c.draw_series(std::iter::once(Circle::new(
                (e, b.value),
                7,
                red.stroke_width(2),
            )))
            .map_err(draw_err)?
            .label(format!(
                "best: epoch {} ({} {})",
                b.epoch,
                b.key,
                short(b.value)
            ))
            .legend(move |(px, py)| Circle::new((px + 9, py), 5, red.stroke_width(2)));
        }
    }
    c.configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FONT_NAME, 13))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(draw_err)?;
    Ok(points)
}

/// A value as a short label: 4 significant digits.
fn short(v: f64) -> String {
    if v != 0.0 && (v.abs() < 1e-3 || v.abs() >= 1e5) {
        format!("{v:.3e}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn draw_lr<DB, Y>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    chart: &Chart,
    x: Range<f64>,
    y: Y,
) -> Result<(), PlotError>
where
    DB: DrawingBackend,
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let mut c = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(70)
        .build_cartesian_2d(x, y)
        .map_err(draw_err)?;
    c.configure_mesh()
        .x_desc("epoch")
        .y_desc("learning rate")
        .x_label_formatter(&epoch_label)
        .y_label_formatter(&|v| short(*v))
        .label_style((FONT_NAME, 13))
        .axis_desc_style((FONT_NAME, 15))
        .draw()
        .map_err(draw_err)?;
    let black = rgb(LR_COLOR);
    let pts: Vec<(f64, f64)> = chart
        .learning_rate
        .iter()
        .filter(|p| p.1.is_finite())
        .map(|&(e, v)| (e as f64, v))
        .collect();
    c.draw_series(LineSeries::new(pts.clone(), black.stroke_width(2)))
        .map_err(draw_err)?;
    c.draw_series(pts.iter().map(|&p| Circle::new(p, 3, black.filled())))
        .map_err(draw_err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart() -> Chart {
        Chart {
            title: "t".into(),
            scores: vec![
                Series {
                    name: "dev_score".into(),
                    points: vec![(1, 0.5), (2, 0.4), (3, 0.3)],
                },
                Series {
                    name: "dev_error".into(),
                    points: vec![(1, 0.2), (2, f64::NAN), (3, 0.1)],
                },
            ],
            learning_rate: vec![(1, 1.0), (2, 0.1), (3, 0.01)],
            best: Some(Best {
                key: "dev_score".into(),
                epoch: 3,
                value: 0.3,
            }),
            kept: vec![2, 3],
        }
    }

    #[test]
    fn the_embedded_font_parses() {
        assert!(plotters::style::register_font("lr-plot-test", FontStyle::Normal, FONT).is_ok());
    }

    #[test]
    fn log_scale_only_over_decades_of_positive_rates() {
        assert!(lr_log_scale(&[(1, 1.0), (2, 0.1)]));
        assert!(!lr_log_scale(&[(1, 1.0), (2, 0.2)]));
        assert!(!lr_log_scale(&[(1, 0.0), (2, 1.0)]));
        assert!(!lr_log_scale(&[]));
    }

    #[test]
    fn non_finite_values_are_left_out() {
        let (_, d) = render(&chart(), Format::Svg, 800, 600).unwrap();
        assert_eq!(
            d.points,
            vec![("dev_score".to_string(), 3), ("dev_error".to_string(), 2)]
        );
        assert!(d.lr_log_scale);
    }

    #[test]
    fn sizes_are_bounded() {
        assert!(matches!(
            render(&chart(), Format::Png, 100, 600),
            Err(PlotError::Size(100, 600))
        ));
        assert!(render(&chart(), Format::Png, 9000, 600).is_err());
    }

    #[test]
    fn an_empty_chart_draws() {
        let (svg, d) = render(&Chart::default(), Format::Svg, 400, 300).unwrap();
        assert!(String::from_utf8(svg).unwrap().starts_with("<svg"));
        assert!(d.points.is_empty());
    }

    #[test]
    fn extensions() {
        assert_eq!(Format::from_extension("SVG"), Some(Format::Svg));
        assert_eq!(Format::from_extension("png"), Some(Format::Png));
        assert_eq!(Format::from_extension("pdf"), None);
    }
}
