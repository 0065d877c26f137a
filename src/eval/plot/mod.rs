//! Plots: methods compared (success-rate curves over per-joint bars, [`Comparison`]) and
//! training runs compared (validation error and training loss per epoch, [`LearningCurves`]).
//!
//! The image is SVG or PNG, chosen by the file extension. Text is laid out with a font compiled
//! into the binary (Ubuntu Light from `epaint_default_fonts`), registered with plotters as
//! `sans-serif`: plotters' `ab_glyph` text has no system-font fallback, and CI machines have no
//! fonts. PNGs are drawn into memory and encoded with the `png` crate, so every file is
//! written atomically like the rest of hourhand's outputs.

mod comparison;
mod curves;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use crate::files::{WriteError, write_atomic};

pub use comparison::{Comparison, Series};
pub use curves::{LearningCurves, Run};

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
    #[error("{path}: nothing to plot")]
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

/// The image types [`write()`] produces.
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

/// Tableau 10: colours that stay distinct from each other, in print and for most colour-blind
/// readers.
pub(crate) const PALETTE: [RGBColor; 10] = [
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

pub(crate) const FONT: &str = "sans-serif";

/// Registers the embedded font once per process; plotters keeps fonts in a global table.
fn register_fonts() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        register_font(FONT, FontStyle::Normal, epaint_default_fonts::UBUNTU_LIGHT)
            .map_err(|_| "the embedded Ubuntu Light font does not parse".to_string())
    })
    .clone()
}

/// What a drawing area's errors become: their message.
pub(crate) type DrawResult<DB> =
    Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// Draws the legend of `chart`'s labelled series in a framed white box at `corner`, as every
/// chart here does.
pub(crate) fn draw_legend<'a, DB, CT>(
    chart: &mut ChartContext<'a, DB, CT>,
    corner: SeriesLabelPosition,
) -> DrawResult<DB>
where
    DB: DrawingBackend + 'a,
    CT: plotters::coord::CoordTranslate,
{
    chart
        .configure_series_labels()
        .position(corner)
        .margin(15)
        .label_font((FONT, 18))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.5))
        .draw()
}

/// A picture [`write()`] can draw on any backend.
pub trait Figure {
    /// Its size in pixels.
    fn size(&self) -> (u32, u32);
    /// Whether there is nothing to draw (then [`write()`] refuses with [`PlotError::NoSeries`]).
    fn is_empty(&self) -> bool;
    /// Draws it on `root`, which is white and `size()` large.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

/// Checks that `path` can take a plot before any work is done: a known extension, and no
/// existing file unless `overwrite`. Returns the format the extension asks for.
pub fn check_target(path: &Path, overwrite: bool) -> Result<ImageFormat, PlotError> {
    let format =
        ImageFormat::from_path(path).ok_or_else(|| PlotError::Extension { path: path.into() })?;
    if !overwrite && path.exists() {
        return Err(PlotError::Exists { path: path.into() });
    }
    Ok(format)
}

/// Draws `figure` into `path` (SVG or PNG by extension), atomically; refuses to replace an
/// existing file unless `overwrite` is set.
pub fn write(path: &Path, figure: &impl Figure, overwrite: bool) -> Result<(), PlotError> {
    let format = check_target(path, overwrite)?;
    if figure.is_empty() {
        return Err(PlotError::NoSeries { path: path.into() });
    }
    let draw_error = |message: String| PlotError::Draw {
        path: path.into(),
        message,
    };
    register_fonts().map_err(draw_error)?;
    let size = figure.size();
    let bytes = match format {
        ImageFormat::Svg => {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
                root.fill(&WHITE).map_err(|e| draw_error(e.to_string()))?;
                figure.draw(&root).map_err(draw_error)?;
                root.present().map_err(|e| draw_error(e.to_string()))?;
            }
            svg.into_bytes()
        }
        ImageFormat::Png => {
            let mut rgb = vec![0u8; (size.0 * size.1 * 3) as usize];
            {
                let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
                root.fill(&WHITE).map_err(|e| draw_error(e.to_string()))?;
                figure.draw(&root).map_err(draw_error)?;
                root.present().map_err(|e| draw_error(e.to_string()))?;
            }
            crate::files::png_bytes(
                size.0,
                size.1,
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
        let figure = Comparison {
            title: "t",
            series: &s,
            joint_labels: &[],
        };
        let e = write(Path::new("out.pdf"), &figure, false).unwrap_err();
        assert!(e.to_string().contains("out.pdf: unknown image type"), "{e}");
        let empty = Comparison {
            title: "t",
            series: &[],
            joint_labels: &[],
        };
        let e = write(Path::new("out.svg"), &empty, false).unwrap_err();
        assert!(matches!(e, PlotError::NoSeries { .. }));
    }
}
