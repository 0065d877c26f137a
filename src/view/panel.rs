//! The side panel (what is open, what is shown, where the network runs and how fast, the
//! frame's errors joint by joint, the sequence's mean and success-rate curve) and the timeline.

use eframe::egui::{self, Color32, RichText};
use egui_plot::{AxisHints, Corner, Legend, Line, Plot, PlotPoints};

use crate::data::joints::EVAL_JOINT_LABELS;
use crate::estimator::{MAX_ROTATIONS, describe_rotations};

use super::app::{EngineState, ViewerApp};
use super::palette;
use super::sequence::Sequence;

/// A colour swatch for a legend line.
fn swatch(ui: &mut egui::Ui, colours: &[Color32]) {
    let (rect, _) = ui.allocate_exact_size(
        egui::vec2(10.0 * colours.len() as f32, 10.0),
        egui::Sense::hover(),
    );
    for (i, c) in colours.iter().enumerate() {
        let r = egui::Rect::from_min_size(
            rect.min + egui::vec2(10.0 * i as f32, 0.0),
            egui::vec2(9.0, 10.0),
        );
        ui.painter().rect_filled(r, 2.0, *c);
    }
}

impl ViewerApp {
    /// The bottom bar: play, step, scrub.
    pub(super) fn timeline(&mut self, ui: &mut egui::Ui) {
        let len = self.sequence.as_ref().map_or(0, Sequence::len);
        let name = self
            .shown
            .as_ref()
            .map_or(String::new(), |f| f.name.clone());
        egui::Panel::bottom("timeline").show(ui, |ui| {
            ui.add_space(3.0);
            self.settings.playback.ui(ui, len, &name);
            ui.add_space(1.0);
        });
    }

    /// The left panel.
    pub(super) fn side_panel(&mut self, ui: &mut egui::Ui) {
        egui::Panel::left("side")
            .resizable(true)
            .default_size(300.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    self.notices_ui(ui);
                    self.open_ui(ui);
                    ui.separator();
                    if self.is_live() {
                        self.live_ui(ui);
                        ui.separator();
                    }
                    self.show_ui(ui);
                    ui.separator();
                    self.network_ui(ui);
                    ui.separator();
                    self.sequence_ui(ui);
                    ui.separator();
                    self.frame_ui(ui);
                });
            });
    }

    fn notices_ui(&mut self, ui: &mut egui::Ui) {
        if let Some(stopped) = self.live_stopped() {
            egui::Frame::new()
                .fill(Color32::from_rgb(70, 50, 20))
                .inner_margin(6.0)
                .corner_radius(4.0)
                .show(ui, |ui| {
                    ui.label(RichText::new(stopped).color(Color32::from_rgb(255, 220, 170)));
                });
            ui.add_space(4.0);
        }
        if self.notices.is_empty() {
            return;
        }
        let mut clear = false;
        egui::Frame::new()
            .fill(Color32::from_rgb(70, 30, 30))
            .inner_margin(6.0)
            .corner_radius(4.0)
            .show(ui, |ui| {
                for n in self.notices.iter().rev().take(4) {
                    ui.label(RichText::new(n).color(Color32::from_rgb(255, 200, 190)));
                }
                if self.notices.len() > 4 {
                    ui.weak(format!("and {} more", self.notices.len() - 4));
                }
                clear = ui.small_button("Dismiss").clicked();
            });
        if clear {
            self.notices.clear();
        }
        ui.add_space(4.0);
    }

    fn open_ui(&mut self, ui: &mut egui::Ui) {
        match &self.sequence {
            Some(seq) => {
                ui.strong("Sequence");
                ui.label(&seq.description)
                    .on_hover_text(seq.path.display().to_string());
            }
            None => {
                ui.label("No sequence open.");
            }
        }
        ui.label(format!("Weights: {}", self.weights_name));
    }

    fn show_ui(&mut self, ui: &mut egui::Ui) {
        ui.strong("Show");
        let show = &mut self.settings.show;
        ui.horizontal(|ui| {
            swatch(ui, &[palette::PRED_JOINT, palette::PRED_BONE]);
            ui.checkbox(&mut show.prediction, "Prediction (hourhand)");
        });
        ui.horizontal(|ui| {
            swatch(ui, &[palette::GT_JOINT, palette::GT_BONE]);
            ui.checkbox(&mut show.ground_truth, "Ground truth");
        });
        let mut remove = None;
        for (i, (method, _)) in self.methods.iter_mut().enumerate() {
            ui.horizontal(|ui| {
                swatch(ui, &[method.colour, palette::bone_of(method.colour)]);
                ui.checkbox(&mut method.visible, &method.name)
                    .on_hover_text(method.path.display().to_string());
                if ui.small_button("✖").on_hover_text("Remove").clicked() {
                    remove = Some(i);
                }
            });
        }
        if let Some(i) = remove {
            self.methods.remove(i);
        }
        if ui.small_button("Add results…").clicked() {
            self.open_results_dialog(ui.ctx());
        }
        // A frame without annotation is always cropped on the detected hand.
        let annotated = self.shown.as_ref().is_none_or(|f| f.ground_truth.is_some());
        let show = &mut self.settings.show;
        ui.checkbox(
            &mut show.all_joints,
            "All 36 joints (else the 14 evaluated)",
        );
        ui.checkbox(&mut show.cloud, "Point cloud in 3D");
        ui.checkbox(&mut show.network_input, "Network input (2D inset)")
            .on_hover_text(
                "The crop as the network received it, normalized, with the skeletons on it",
            );
        let detected = match self.options.refine {
            0 => "The closest object's centre (`hourhand view --refine N` re-centres it on the palm the network predicts)".to_string(),
            n => format!(
                "The closest object's centre, then re-centred {n} time{} on the palm the network predicts (as `hourhand infer --center detect` does): {} network runs a frame",
                if n == 1 { "" } else { "s" },
                n + 1
            ),
        };
        if annotated {
            let before = show.detect;
            ui.checkbox(
                &mut show.detect,
                "Crop on the detected hand (else the annotated palm)",
            )
            .on_hover_text(detected);
            if show.detect != before {
                self.forget_predictions();
            }
        } else {
            ui.add_enabled(
                false,
                egui::Checkbox::new(&mut true, "Crop on the detected hand (no annotation here)"),
            )
            .on_disabled_hover_text(detected);
        }
    }

    fn network_ui(&mut self, ui: &mut egui::Ui) {
        let heading = ui.strong("Network");
        // The list is enumerated only once the selector opens: adapters take a while to list.
        let current = self.engine_label(&self.engine);
        let mut chosen = None;
        egui::ComboBox::from_id_salt("engine")
            .selected_text(current)
            .width(ui.available_width() - 8.0)
            .show_ui(ui, |ui| {
                for (choice, label) in self.engine_choices().iter() {
                    if ui.selectable_label(*choice == self.engine, label).clicked() {
                        chosen = Some(choice.clone());
                    }
                }
            })
            .response
            .labelled_by(heading.id)
            .on_hover_text("Where the network runs");
        if let Some(c) = chosen.filter(|c| *c != self.engine) {
            self.set_engine(c);
        }
        match &self.engine_state {
            EngineState::Starting => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("building the network…");
                });
            }
            EngineState::Ready(d) => {
                ui.weak("ready").on_hover_text(d);
            }
            EngineState::Failed(e) => {
                ui.colored_label(Color32::from_rgb(255, 120, 100), e);
            }
        }
        if let Some(note) = &self.engine_note {
            ui.weak(note).on_hover_text(
                "The viewer's device draws the window in software on the CPU's cores; run on it, the network is several times slower than on the CPU backend. Pick it above to compare.",
            );
        }
        self.rotations_ui(ui);
        if !self.options.show_timings {
            return;
        }
        let t = &self.timing;
        let ms = |v: Option<f32>| v.map_or("–".into(), |v| format!("{v:.1} ms"));
        egui::Grid::new("timing").num_columns(2).show(ui, |ui| {
            ui.label("Inference, last");
            ui.label(ms(t.last_latency_ms()));
            ui.end_row();
            ui.label("Inference, mean");
            let fps = t
                .latency_ms()
                .map_or("".into(), |l| format!(" ({:.0} FPS)", 1000.0 / l));
            ui.label(format!("{}{fps}", ms(t.latency_ms())));
            ui.end_row();
            ui.label("UI frame, CPU");
            ui.label(ms(t.cpu_ms()));
            ui.end_row();
            ui.label("UI frame interval");
            ui.label(ms(t.frame_ms()));
            ui.end_row();
        });
    }

    /// Test-time rotation: how many turned crops each estimate averages over.
    fn rotations_ui(&mut self, ui: &mut egui::Ui) {
        let before = self.options.rotations;
        ui.horizontal(|ui| {
            let label = ui.label("Rotations");
            egui::ComboBox::from_id_salt("rotations")
                .selected_text(describe_rotations(before))
                .show_ui(ui, |ui| {
                    for n in (1..=MAX_ROTATIONS).step_by(2) {
                        ui.selectable_value(&mut self.options.rotations, n, describe_rotations(n));
                    }
                })
                .response
                .labelled_by(label.id)
                .on_hover_text(
                    "Test-time rotation: the mean of the network's estimates on crops of the frame turned 0°, ±15°, ±30° … and turned back; more accurate, one more network run a frame per crop (`hourhand view --rotations N`)",
                );
        });
        if self.options.rotations != before {
            self.forget_predictions();
        }
    }

    fn frame_ui(&mut self, ui: &mut egui::Ui) {
        ui.strong("This frame");
        let index = self.settings.playback.index;
        let ours = self
            .prediction()
            .filter(|(i, _)| *i == index)
            .and_then(|(_, p)| p.score);
        let Some(score) = ours else {
            ui.weak(
                if self
                    .shown
                    .as_ref()
                    .is_some_and(|f| f.ground_truth.is_none())
                {
                    "no annotation to score against"
                } else {
                    "waiting for the prediction…"
                },
            );
            return;
        };
        let (worst, worst_mm) = score.worst();
        ui.label(format!(
            "mean {:.1} mm · worst {:.1} mm ({})",
            score.mean(),
            worst_mm,
            EVAL_JOINT_LABELS[worst]
        ));
        // Per joint: ours, then each visible method, as bars on one scale.
        let mut series = vec![(palette::PRED_JOINT, score.errors)];
        for (method, scores) in &self.methods {
            if let Some(s) = scores.get(index).filter(|_| method.visible) {
                series.push((method.colour, s.errors));
            }
        }
        let top = series
            .iter()
            .flat_map(|(_, e)| e.iter().copied())
            .fold(20.0f64, f64::max);
        let bar = (10.0 / series.len() as f32).clamp(3.0, 6.0);
        // Rows close together: fourteen of them fit with the curve below on a laptop screen.
        ui.scope(|ui| {
            ui.spacing_mut().item_spacing.y = 1.0;
            for (j, label) in EVAL_JOINT_LABELS.iter().enumerate() {
                ui.horizontal(|ui| {
                    ui.add_sized(
                        [72.0, 12.0],
                        egui::Label::new(RichText::new(*label).small()),
                    );
                    let width = (ui.available_width() - 48.0).max(40.0);
                    let (rect, _) = ui.allocate_exact_size(
                        egui::vec2(width, bar * series.len() as f32),
                        egui::Sense::hover(),
                    );
                    for (k, (colour, errors)) in series.iter().enumerate() {
                        let w = (errors[j] / top) as f32 * width;
                        let r = egui::Rect::from_min_size(
                            rect.min + egui::vec2(0.0, bar * k as f32),
                            egui::vec2(w, bar - 1.0),
                        );
                        ui.painter().rect_filled(r, 0.0, *colour);
                    }
                    ui.label(RichText::new(format!("{:.1}", score.errors[j])).small());
                });
            }
        });
    }

    fn sequence_ui(&mut self, ui: &mut egui::Ui) {
        let (done, len) = self.coverage();
        ui.horizontal(|ui| {
            ui.strong(if done == len && len > 0 {
                "Whole sequence"
            } else {
                "Frames seen so far"
            });
            if self.sweep.is_some() && done < len {
                if ui.small_button("Stop").clicked() {
                    self.stop_sweep();
                }
            } else if done < len && !self.is_live() {
                let ready = matches!(self.engine_state, EngineState::Ready(_));
                let run = ui
                    .add_enabled(ready, egui::Button::new(format!("Run on all {len} frames")).small())
                    .on_hover_text("Run the network over every frame in the background, so the mean and the curve cover the whole sequence");
                if run.clicked() {
                    self.start_sweep();
                }
            }
        });
        if self.sweep.is_some() && done < len {
            ui.add(
                egui::ProgressBar::new(done as f32 / len.max(1) as f32)
                    .text(format!("{done} / {len} frames")),
            );
        }
        let mut lines = Vec::new();
        if let Some(r) = self.ours.report() {
            ui.label(format!(
                "hourhand: {:.2} mm mean over {} frames",
                r.mean, r.frames
            ));
            lines.push((
                "hourhand".to_string(),
                palette::PRED_JOINT,
                r.success_curve.clone(),
            ));
        }
        for (method, scores) in &mut self.methods {
            if let Some(r) = scores.report() {
                ui.label(format!(
                    "{}: {:.2} mm mean over {} frames",
                    method.name, r.mean, r.frames
                ));
                lines.push((method.name.clone(), method.colour, r.success_curve.clone()));
            }
        }
        if lines.is_empty() {
            ui.weak("no scored frames yet");
            return;
        }
        Plot::new("success")
            .height(150.0)
            .legend(Legend::default().position(Corner::LeftTop))
            // Ticks every 10 mm fit a side panel; the default wants 60 points between labels.
            .custom_x_axes(vec![
                AxisHints::new_x()
                    .label("max joint error ≤ (mm)")
                    .label_spacing(20.0..=30.0),
            ])
            .y_axis_label("fraction of frames")
            .default_x_bounds(0.0, 80.0)
            .default_y_bounds(0.0, 1.0)
            .allow_scroll(false)
            .show(ui, |plot| {
                for (name, colour, curve) in lines {
                    let points: PlotPoints = curve
                        .iter()
                        .enumerate()
                        .map(|(t, f)| [t as f64, *f])
                        .collect();
                    plot.line(Line::new(name, points).color(colour).width(2.0));
                }
            });
    }
}
