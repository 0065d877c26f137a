//! Plots comparing methods: the success-rate curves (the figure every hand-pose paper shows)
//! above a grouped bar chart of per-joint mean errors, in one image.
//!
//! The image is SVG or PNG, chosen by the file extension. Text is laid out with a font compiled
//! into the binary (Ubuntu Light from `epaint_default_fonts`), registered with plotters as
//! `sans-serif`: plotters' `ab_glyph` text has no system-font fallback, and CI machines have no
//! fonts. PNGs are drawn into memory and encoded with the `png` crate, so every file is
//! written atomically like the rest of hourhand's outputs.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, register_font};

use super::metrics::{Report, SUCCESS_MAX_MM};
use crate::files::{WriteError, write_atomic};

/// One method to plot.
#[derive(Debug, Clone, Copy)]
pub struct Series<'a> {
    /// Its name in the legend.
    pub label: &'a str,
    /// Its metrics.
    pub report: &'a Report,
}

/// Why a plot could not be written. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The extension names no supported image type.
    #[error("{path}: unknown image type; use a .svg or .png file name")]
    Extension {
        /// The file.
        path: PathBuf,
    },
    /// The file exists and overwriting was not asked for.
    #[error("{path}: already exists; refusing to overwrite it (pass --force to replace it)")]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// Nothing to plot.
    #[error("{path}: no results to plot")]
    NoSeries {
        /// The file.
        path: PathBuf,
    },
    /// Plotters or the PNG encoder failed.
    #[error("{path}: cannot draw the plot: {message}")]
    Draw {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// The file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// The image types [`write`] produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// Scalable vector graphics: text stays text.
    Svg,
    /// A bitmap.
    Png,
}

impl ImageFormat {
    /// The format a file name asks for (`.svg` or `.png`, any case).
    pub fn from_path(path: &Path) -> Option<ImageFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "svg" => Some(ImageFormat::Svg),
            "png" => Some(ImageFormat::Png),
            _ => None,
        }
    }
}

/// Image size in pixels: two charts stacked, each wide enough for 14 joint labels.
const SIZE: (u32, u32) = (1200, 1250);

/// Height of the success-rate chart (with the image title); the bars get the rest.
const TOP_HEIGHT: u32 = 640;

/// Tableau 10: colours that stay distinct from each other, in print and for most colour-blind
/// readers.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

const FONT: &str = "sans-serif";

/// Registers the embedded font once per process; plotters keeps fonts in a global table.
fn register_fonts() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        register_font(FONT, FontStyle::Normal, epaint_default_fonts::UBUNTU_LIGHT)
            .map_err(|_| "the embedded Ubuntu Light font does not parse".to_string())
    })
    .clone()
}

/// Draws the success-rate curves and the per-joint bars of `series` into `path` (SVG or PNG by
/// extension), atomically; refuses to replace an existing file unless `overwrite` is set.
/// `joint_labels` name the joints on the bar chart (joint numbers where it runs out).
pub fn write(
    path: &Path,
    title: &str,
    series: &[Series],
    joint_labels: &[&str],
    overwrite: bool,
) -> Result<(), PlotError> {
    let format =
        ImageFormat::from_path(path).ok_or_else(|| PlotError::Extension { path: path.into() })?;
    if series.is_empty() {
        return Err(PlotError::NoSeries { path: path.into() });
    }
    // Checked before drawing, so a refused plot costs nothing.
    if !overwrite && path.exists() {
        return Err(PlotError::Exists { path: path.into() });
    }
    let draw_error = |message: String| PlotError::Draw {
        path: path.into(),
        message,
    };
    register_fonts().map_err(draw_error)?;
    let bytes = match format {
        ImageFormat::Svg => {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
                draw(&root, title, series, joint_labels).map_err(draw_error)?;
                root.present().map_err(|e| draw_error(e.to_string()))?;
            }
            svg.into_bytes()
        }
        ImageFormat::Png => {
            let mut rgb = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
            {
                let root = BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area();
                draw(&root, title, series, joint_labels).map_err(draw_error)?;
                root.present().map_err(|e| draw_error(e.to_string()))?;
            }
            crate::files::png_bytes(
                SIZE.0,
                SIZE.1,
                png::ColorType::Rgb,
                png::BitDepth::Eight,
                &rgb,
                png::Compression::Balanced,
            )
        }
    };
    write_atomic(path, &bytes, overwrite).map_err(|e| match e {
        WriteError::Exists { path } => PlotError::Exists { path },
        WriteError::Io { path, source } => PlotError::Io { path, source },
    })
}

/// Both charts on one drawing area; any backend.
fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    series: &[Series],
    joint_labels: &[&str],
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let (top, bottom) = root.split_vertically(TOP_HEIGHT);
    let top = top.titled(title, (FONT, 30)).map_err(e)?;
    success_chart(&top, series).map_err(e)?;
    joint_chart(&bottom, series, joint_labels).map_err(e)?;
    Ok(())
}

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn success_chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    series: &[Series],
) -> DrawResult<DB> {
    let mut chart = ChartBuilder::on(area)
        .caption(
            "Success rate: frames whose worst joint is within the threshold",
            (FONT, 22),
        )
        .margin(20)
        .x_label_area_size(55)
        .y_label_area_size(75)
        .build_cartesian_2d(0f64..SUCCESS_MAX_MM as f64, 0f64..100f64)?;
    chart
        .configure_mesh()
        .x_labels(9)
        .y_labels(11)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .x_desc("maximum joint error threshold (mm)")
        .y_desc("fraction of frames (%)")
        .label_style((FONT, 17))
        .axis_desc_style((FONT, 19))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    for (i, s) in series.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let points = s
            .report
            .success_curve
            .iter()
            .enumerate()
            .map(|(t, f)| (t as f64, 100.0 * f));
        chart
            .draw_series(LineSeries::new(points, colour.stroke_width(3)))?
            .label(format!("{} (mean {:.2} mm)", s.label, s.report.mean))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], colour.stroke_width(3)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .margin(15)
        .label_font((FONT, 18))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.5))
        .draw()
}

fn joint_chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    series: &[Series],
    joint_labels: &[&str],
) -> DrawResult<DB> {
    let joints = series
        .iter()
        .map(|s| s.report.per_joint.len())
        .max()
        .unwrap_or(0);
    let top = series
        .iter()
        .flat_map(|s| s.report.per_joint.iter().copied())
        .fold(0.0, f64::max);
    // Headroom above the tallest bar for the legend.
    let y_max = (top * 1.3).max(1.0);
    let name = |j: usize| {
        joint_labels
            .get(j)
            .map_or_else(|| j.to_string(), |l| l.to_string())
    };
    // Beyond NYU's 14 joints the names no longer fit side by side: they stand on end, drawn
    // here rather than by the mesh, which anchors rotated labels at their middle and so hides
    // half of each behind the bars.
    let upright = joints > 14;
    let label_of = |x: &f64| {
        let j = x.round();
        if upright || (x - j).abs() > 1e-6 || j < 0.0 {
            return String::new();
        }
        name(j as usize)
    };
    let mut chart = ChartBuilder::on(area)
        .caption("Mean error per joint", (FONT, 22))
        .margin(20)
        .x_label_area_size(if upright { 120 } else { 55 })
        .y_label_area_size(75)
        .build_cartesian_2d(-0.5f64..joints as f64 - 0.5, 0f64..y_max)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(joints)
        .x_label_formatter(&label_of)
        .y_label_formatter(&|y| format!("{y:.0}"))
        .y_desc("mean error (mm)")
        .x_desc(if upright { "" } else { "joint" })
        .x_label_style((FONT, 15))
        .y_label_style((FONT, 15))
        .axis_desc_style((FONT, 19))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    if upright {
        let style = TextStyle::from((FONT, 14).into_font().transform(FontTransform::Rotate90))
            .pos(Pos::new(HPos::Left, VPos::Center));
        let (bx, by) = area.get_base_pixel();
        for j in 0..joints {
            let (x, y) = chart.backend_coord(&(j as f64, 0.0));
            area.draw_text(&name(j), &style, (x - bx, y - by + 8))?;
        }
    }
    // Bars of one joint share 80% of its slot; a small gap keeps neighbours apart.
    let slot = 0.8 / series.len() as f64;
    for (i, s) in series.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let bars = s.report.per_joint.iter().enumerate().map(|(j, &v)| {
            let x0 = j as f64 - 0.4 + i as f64 * slot;
            Rectangle::new([(x0, 0.0), (x0 + 0.9 * slot, v)], colour.filled())
        });
        chart
            .draw_series(bars)?
            .label(s.label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], colour.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .margin(15)
        .label_font((FONT, 18))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.5))
        .draw()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::Accumulator;

    #[test]
    fn the_extension_picks_the_format() {
        assert_eq!(
            ImageFormat::from_path(Path::new("a/b.SVG")),
            Some(ImageFormat::Svg)
        );
        assert_eq!(
            ImageFormat::from_path(Path::new("b.png")),
            Some(ImageFormat::Png)
        );
        assert_eq!(ImageFormat::from_path(Path::new("b.jpg")), None);
        assert_eq!(ImageFormat::from_path(Path::new("png")), None);
        let mut acc = Accumulator::new(1, &[]);
        acc.add(&[1.0]).unwrap();
        let report = acc.report().unwrap();
        let s = [Series {
            label: "a",
            report: &report,
        }];
        let e = write(Path::new("out.pdf"), "t", &s, &[], false).unwrap_err();
        assert!(e.to_string().contains("out.pdf: unknown image type"), "{e}");
        let e = write(Path::new("out.svg"), "t", &[], &[], false).unwrap_err();
        assert!(matches!(e, PlotError::NoSeries { .. }));
    }
}
