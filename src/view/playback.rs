//! The timeline: which frame is on screen, playing at a chosen rate, stepping, scrubbing and
//! looping; the keys people expect (space plays and pauses, arrows step, Home/End jump).

use eframe::egui;

/// Playback rates offered (frames per second).
pub const RATES: [f32; 6] = [1.0, 5.0, 10.0, 15.0, 30.0, 60.0];

/// Where the playhead is and how it moves.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Playback {
    /// The frame on screen (0-based).
    #[serde(skip)]
    pub index: usize,
    /// Whether it is playing.
    #[serde(skip)]
    pub playing: bool,
    /// Frames per second while playing.
    pub fps: f32,
    /// Whether playing wraps around at the end.
    pub looping: bool,
    /// Time since the last frame change, in seconds.
    #[serde(skip)]
    pending: f64,
}

impl Default for Playback {
    fn default() -> Self {
        Playback {
            index: 0,
            playing: false,
            fps: 15.0,
            looping: true,
            pending: 0.0,
        }
    }
}

impl Playback {
    /// Moves on by the frames `dt` seconds are worth at the playback rate; returns whether the
    /// frame changed. At the end it wraps when looping, else stops.
    pub fn advance(&mut self, dt: f64, len: usize) -> bool {
        if !self.playing || len == 0 {
            self.pending = 0.0;
            return false;
        }
        self.pending += dt;
        let period = 1.0 / f64::from(self.fps.max(0.1));
        // A long stall (a dialog, a slow frame) does not turn into a burst of skipped frames.
        let steps = ((self.pending / period) as usize).min((len / 10).max(4));
        if steps == 0 {
            return false;
        }
        self.pending -= steps as f64 * period;
        self.pending = self.pending.min(period);
        let before = self.index;
        let next = self.index + steps;
        if next < len {
            self.index = next;
        } else if self.looping {
            self.index = next % len;
        } else {
            self.index = len - 1;
            self.playing = false;
        }
        self.index != before
    }

    /// Seconds until the next frame is due while playing (for the repaint timer).
    pub fn until_next(&self) -> f64 {
        (1.0 / f64::from(self.fps.max(0.1)) - self.pending).max(0.0)
    }

    /// Steps `delta` frames, clamped to the sequence (or wrapping when looping); pauses.
    pub fn step(&mut self, delta: isize, len: usize) {
        if len == 0 {
            return;
        }
        self.playing = false;
        let n = len as isize;
        let target = self.index as isize + delta;
        self.index = if self.looping {
            target.rem_euclid(n) as usize
        } else {
            target.clamp(0, n - 1) as usize
        };
    }

    /// Starts or pauses; playing from the last frame without looping starts over.
    pub fn toggle(&mut self, len: usize) {
        self.playing = !self.playing;
        if self.playing && !self.looping && self.index + 1 >= len {
            self.index = 0;
        }
        self.pending = 0.0;
    }

    /// The keys: space, ←/→, Home/End. Ignored while a text field has focus.
    pub fn handle_keys(&mut self, ctx: &egui::Context, len: usize) {
        if ctx.memory(|m| m.focused().is_some()) {
            return;
        }
        let (space, left, right, home, end) = ctx.input_mut(|i| {
            (
                i.consume_key(egui::Modifiers::NONE, egui::Key::Space),
                i.consume_key(egui::Modifiers::NONE, egui::Key::ArrowLeft),
                i.consume_key(egui::Modifiers::NONE, egui::Key::ArrowRight),
                i.consume_key(egui::Modifiers::NONE, egui::Key::Home),
                i.consume_key(egui::Modifiers::NONE, egui::Key::End),
            )
        });
        if space {
            self.toggle(len);
        }
        if left {
            self.step(-1, len);
        }
        if right {
            self.step(1, len);
        }
        if home {
            self.playing = false;
            self.index = 0;
        }
        if end && len > 0 {
            self.playing = false;
            self.index = len - 1;
        }
    }

    /// The timeline bar: buttons, the scrubber, the frame's name, rate and loop.
    pub fn ui(&mut self, ui: &mut egui::Ui, len: usize, frame_name: &str) {
        ui.horizontal(|ui| {
            if ui.button("⏮").on_hover_text("First frame (Home)").clicked() {
                self.playing = false;
                self.index = 0;
            }
            if ui.button("⏴").on_hover_text("Previous frame (←)").clicked() {
                self.step(-1, len);
            }
            let (icon, tip) = if self.playing {
                ("⏸", "Pause (space)")
            } else {
                ("▶", "Play (space)")
            };
            if ui.button(icon).on_hover_text(tip).clicked() {
                self.toggle(len);
            }
            if ui.button("⏵").on_hover_text("Next frame (→)").clicked() {
                self.step(1, len);
            }
            if ui.button("⏭").on_hover_text("Last frame (End)").clicked() {
                self.playing = false;
                self.index = len.saturating_sub(1);
            }
            ui.separator();
            egui::ComboBox::from_id_salt("fps")
                .selected_text(format!("{} fps", self.fps))
                .width(70.0)
                .show_ui(ui, |ui| {
                    for r in RATES {
                        ui.selectable_value(&mut self.fps, r, format!("{r} fps"));
                    }
                })
                .response
                .on_hover_text("Playback rate");
            ui.checkbox(&mut self.looping, "Loop");
            ui.separator();
            let position_label =
                ui.label(format!("{} / {}  {frame_name}", self.index + 1, len.max(1)));
            let mut position = self.index;
            let last = len.saturating_sub(1);
            ui.spacing_mut().slider_width = (ui.available_width() - 16.0).max(60.0);
            let slider = egui::Slider::new(&mut position, 0..=last).show_value(false);
            let scrub = ui
                .add_enabled(len > 1, slider)
                .labelled_by(position_label.id);
            if scrub.changed() {
                self.index = position;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plays_at_its_rate_and_loops() {
        let mut p = Playback {
            playing: true,
            fps: 10.0,
            ..Playback::default()
        };
        assert!(!p.advance(0.05, 5));
        assert!(p.advance(0.06, 5));
        assert_eq!(p.index, 1);
        p.advance(0.3, 5);
        assert_eq!(p.index, 4);
        p.advance(0.1, 5);
        assert_eq!(p.index, 0, "wraps when looping");
        p.looping = false;
        p.index = 4;
        p.advance(0.1, 5);
        assert_eq!(p.index, 4);
        assert!(!p.playing, "stops at the end without looping");
    }

    #[test]
    fn a_stall_does_not_jump_far() {
        let mut p = Playback {
            playing: true,
            fps: 30.0,
            ..Playback::default()
        };
        p.advance(10.0, 1000);
        assert_eq!(p.index, 100, "at most a tenth of the sequence at once");
    }

    #[test]
    fn steps_clamp_or_wrap_and_pause() {
        let mut p = Playback {
            playing: true,
            looping: false,
            ..Playback::default()
        };
        p.step(-1, 10);
        assert_eq!((p.index, p.playing), (0, false));
        p.looping = true;
        p.step(-1, 10);
        assert_eq!(p.index, 9);
        p.step(3, 10);
        assert_eq!(p.index, 2);
        p.looping = false;
        p.index = 9;
        p.toggle(10);
        assert_eq!(
            (p.index, p.playing),
            (0, true),
            "play at the end starts over"
        );
    }
}
