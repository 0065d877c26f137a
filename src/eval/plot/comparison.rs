//! Methods compared: the success-rate curves (the figure every hand-pose paper shows) above a
//! grouped bar chart of per-joint mean errors, in one image.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{DrawResult, FONT, Figure, PALETTE, draw_legend};
use crate::eval::metrics::{Report, SUCCESS_MAX_MM};

/// One method to plot.
#[derive(Debug, Clone, Copy)]
pub struct Series<'a> {
    /// Its name in the legend.
    pub label: &'a str,
    /// Its metrics.
    pub report: &'a Report,
}

/// Image size in pixels: two charts stacked, each wide enough for 14 joint labels.
const SIZE: (u32, u32) = (1200, 1250);

/// Height of the success-rate chart (with the image title); the bars get the rest.
const TOP_HEIGHT: u32 = 640;

/// Methods' success-rate curves over their per-joint mean errors.
#[derive(Debug, Clone, Copy)]
pub struct Comparison<'a> {
    /// The image's title.
    pub title: &'a str,
    /// The methods, in legend order.
    pub series: &'a [Series<'a>],
    /// Names of the joints on the bar chart (joint numbers where it runs out).
    pub joint_labels: &'a [&'a str],
}

impl Figure for Comparison<'_> {
    fn size(&self) -> (u32, u32) {
        SIZE
    }

    fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Both charts on one drawing area.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        let (top, bottom) = root.split_vertically(TOP_HEIGHT);
        let top = top.titled(self.title, (FONT, 30)).map_err(e)?;
        success_chart(&top, self.series).map_err(e)?;
        joint_chart(&bottom, self.series, self.joint_labels).map_err(e)?;
        Ok(())
    }
}

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
    draw_legend(&mut chart, SeriesLabelPosition::LowerRight)
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
    draw_legend(&mut chart, SeriesLabelPosition::UpperRight)
}
