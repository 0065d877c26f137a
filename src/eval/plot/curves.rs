//! Training runs compared: the validation error per epoch (what `best.safetensors` is chosen
//! by) above the training loss per epoch on a log scale, one colour per run, from the runs'
//! `log.csv` files.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{DrawResult, FONT, Figure, PALETTE, draw_legend};
use crate::train::log::EpochRecord;

/// One training run to plot.
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    /// Its name in the legend.
    pub label: &'a str,
    /// Its epochs in order, as [`crate::train::log::read_log`] gives them.
    pub epochs: &'a [EpochRecord],
}

/// Runs' validation error and training loss per epoch.
#[derive(Debug, Clone, Copy)]
pub struct LearningCurves<'a> {
    /// The image's title.
    pub title: &'a str,
    /// The runs, in legend order.
    pub runs: &'a [Run<'a>],
}

/// Image size in pixels.
const SIZE: (u32, u32) = (1200, 1000);
/// Height of the validation chart (with the image title); the loss gets the rest.
const TOP_HEIGHT: u32 = 600;

impl Figure for LearningCurves<'_> {
    fn size(&self) -> (u32, u32) {
        SIZE
    }

    fn is_empty(&self) -> bool {
        self.runs.iter().all(|r| r.epochs.is_empty())
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        let (top, bottom) = root.split_vertically(TOP_HEIGHT);
        let top = top.titled(self.title, (FONT, 30)).map_err(e)?;
        let last = self
            .runs
            .iter()
            .flat_map(|r| r.epochs.iter().map(|x| x.epoch))
            .max()
            .unwrap_or(1);
        // At least two epochs wide, so a one-epoch run is a point inside the frame.
        let epochs = 0.5..(last.max(2) as f64 + 0.5);
        validation_chart(&top, self.runs, epochs.clone()).map_err(e)?;
        loss_chart(&bottom, self.runs, epochs).map_err(e)?;
        Ok(())
    }
}

/// An epoch axis label: whole epochs only (with few epochs the axis puts ticks between them).
fn epoch_label(x: &f64) -> String {
    if (x - x.round()).abs() < 1e-6 {
        format!("{x:.0}")
    } else {
        String::new()
    }
}

fn validation_chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    runs: &[Run],
    epochs: std::ops::Range<f64>,
) -> DrawResult<DB> {
    let top = runs
        .iter()
        .flat_map(|r| r.epochs.iter().filter_map(|x| x.val_mm))
        .fold(0.0, f64::max);
    let mut chart = ChartBuilder::on(area)
        .caption("Validation mean error after each epoch", (FONT, 22))
        .margin(20)
        .x_label_area_size(55)
        .y_label_area_size(75)
        .build_cartesian_2d(epochs, 0f64..(top * 1.1).max(1.0))?;
    chart
        .configure_mesh()
        .x_label_formatter(&epoch_label)
        .y_label_formatter(&|y| format!("{y:.0}"))
        .x_desc("epoch")
        .y_desc("mean joint error (mm)")
        .label_style((FONT, 17))
        .axis_desc_style((FONT, 19))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    for (i, run) in runs.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let points: Vec<(f64, f64)> = run
            .epochs
            .iter()
            .filter_map(|x| x.val_mm.map(|v| (x.epoch as f64, v)))
            .collect();
        let Some(&(best_epoch, best)) = points.iter().min_by(|a, b| a.1.total_cmp(&b.1)) else {
            continue;
        };
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                colour.stroke_width(3),
            ))?
            .label(format!(
                "{} (best {best:.2} mm, epoch {best_epoch:.0})",
                run.label
            ))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], colour.stroke_width(3)));
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, colour.filled())))?;
        chart.draw_series([Circle::new((best_epoch, best), 7, colour.stroke_width(2))])?;
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperRight)
}

fn loss_chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    runs: &[Run],
    epochs: std::ops::Range<f64>,
) -> DrawResult<DB> {
    let losses = || {
        runs.iter()
            .flat_map(|r| r.epochs.iter().map(|x| x.train_loss))
            .filter(|l| l.is_finite() && *l > 0.0)
    };
    let lo = losses().fold(f64::INFINITY, f64::min);
    let hi = losses().fold(0.0, f64::max);
    let (lo, hi) = if lo.is_finite() {
        (lo / 1.5, hi * 1.5)
    } else {
        (0.1, 10.0)
    };
    let mut chart = ChartBuilder::on(area)
        .caption(
            "Training loss per epoch (log scale; a run's loss names where each phase starts)",
            (FONT, 20),
        )
        .margin(20)
        .x_label_area_size(55)
        .y_label_area_size(75)
        .build_cartesian_2d(epochs, (lo..hi).log_scale())?;
    chart
        .configure_mesh()
        .x_label_formatter(&epoch_label)
        .y_label_formatter(&|&y| match y {
            y if y >= 10.0 => format!("{y:.0}"),
            y if y >= 1.0 => format!("{y:.1}"),
            y => format!("{y:.3}"),
        })
        .x_desc("epoch")
        .y_desc("training loss")
        .label_style((FONT, 17))
        .axis_desc_style((FONT, 19))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    for (i, run) in runs.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let points: Vec<(f64, f64)> = run
            .epochs
            .iter()
            .filter(|x| x.train_loss.is_finite() && x.train_loss > 0.0)
            .map(|x| (x.epoch as f64, x.train_loss))
            .collect();
        chart.draw_series(LineSeries::new(
            points.iter().copied(),
            colour.stroke_width(3),
        ))?;
        // The loss trained changes between phases, and with it the loss's scale.
        let mut phase = None;
        for x in run.epochs {
            if phase != Some(&x.loss) && x.train_loss > 0.0 {
                phase = Some(&x.loss);
                // Above and right of the phase's first point, clear of the line.
                chart.draw_series([EmptyElement::at((x.epoch as f64, x.train_loss))
                    + Text::new(
                        x.loss.clone(),
                        (6, -24),
                        (FONT, 17).into_font().color(&colour),
                    )])?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::plot::write;

    fn epoch(epoch: usize, loss: &str, train_loss: f64, val_mm: Option<f64>) -> EpochRecord {
        EpochRecord {
            epoch,
            loss: loss.into(),
            train_loss,
            val_mm,
            lr: 1e-3,
            samples_per_s: 40.0,
            seconds: epoch as f64 * 60.0,
            best: false,
        }
    }

    #[test]
    fn epoch_ticks_are_labelled_only_at_whole_epochs() {
        assert_eq!(epoch_label(&3.0), "3");
        assert_eq!(epoch_label(&2.5), "");
    }

    /// Both formats draw, with two runs (one without validation, one changing loss), and the
    /// SVG names each run's best epoch.
    #[test]
    fn curves_draw_to_svg_and_png() {
        let a = [
            epoch(1, "mse", 900.0, Some(40.0)),
            epoch(2, "mse", 500.0, Some(31.5)),
            epoch(3, "max-out", 60.0, Some(33.0)),
        ];
        let b = [epoch(1, "smooth-l1", 20.0, None)];
        let runs = [
            Run {
                label: "first",
                epochs: &a,
            },
            Run {
                label: "second",
                epochs: &b,
            },
        ];
        let figure = LearningCurves {
            title: "runs",
            runs: &runs,
        };
        let dir = std::env::temp_dir().join(format!("hourhand-curves-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let svg = dir.join("c.svg");
        write(&svg, &figure, true).unwrap();
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(text.contains("first (best 31.50 mm, epoch 2)"), "legend");
        assert!(text.contains("max-out"), "phase label");
        let png = dir.join("c.png");
        write(&png, &figure, true).unwrap();
        assert!(std::fs::metadata(&png).unwrap().len() > 1000);
        let nothing = LearningCurves {
            title: "none",
            runs: &[Run {
                label: "empty",
                epochs: &[],
            }],
        };
        assert!(write(&dir.join("n.svg"), &nothing, true).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
