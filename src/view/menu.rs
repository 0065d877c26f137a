//! The menu bar, native file dialogs and drag-and-drop. Dialogs run on their own thread so the
//! window keeps drawing (and playing) while one is open; what they pick comes back as a
//! [`Pick`], as does anything dropped on the window.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};

use eframe::egui;

use super::app::ViewerApp;
use super::inference::EngineChoice;

/// Something the user chose to open.
#[derive(Debug, Clone, PartialEq)]
pub enum Pick {
    /// A sequence folder.
    Source(PathBuf),
    /// A weights file.
    Weights(PathBuf),
    /// A results file of another method.
    Results(PathBuf),
}

impl Pick {
    /// What a dropped path is: folders are sequences, `.safetensors` are weights, anything else
    /// is taken for a results file (whose reader says clearly if it is not one).
    pub fn classify(path: &Path) -> Pick {
        if path.is_dir() {
            Pick::Source(path.into())
        } else if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"))
        {
            Pick::Weights(path.into())
        } else {
            Pick::Results(path.into())
        }
    }
}

/// Dialog results on their way back.
pub struct Picks {
    tx: Sender<Vec<Pick>>,
    rx: Receiver<Vec<Pick>>,
}

impl Default for Picks {
    fn default() -> Self {
        let (tx, rx) = channel();
        Picks { tx, rx }
    }
}

/// Which dialog to show.
#[derive(Debug, Clone, Copy)]
enum Dialog {
    Source,
    Weights,
    Results,
}

impl ViewerApp {
    fn dialog(&self, ctx: &egui::Context, which: Dialog) {
        let tx = self.picks.tx.clone();
        let ctx = ctx.clone();
        let start = self.settings.last_dir.clone();
        std::thread::spawn(move || {
            let mut d = rfd::FileDialog::new();
            if let Some(dir) = start {
                d = d.set_directory(dir);
            }
            let picks: Vec<Pick> = match which {
                Dialog::Source => d
                    .set_title("Open an NYU folder or a folder of depth frames")
                    .pick_folder()
                    .map(Pick::Source)
                    .into_iter()
                    .collect(),
                Dialog::Weights => d
                    .set_title("Open weights")
                    .add_filter("safetensors", &["safetensors"])
                    .pick_file()
                    .map(Pick::Weights)
                    .into_iter()
                    .collect(),
                Dialog::Results => d
                    .set_title("Add results files (14 NYU joints, u v d per line)")
                    .add_filter("results", &["txt"])
                    .pick_files()
                    .unwrap_or_default()
                    .into_iter()
                    .map(Pick::Results)
                    .collect(),
            };
            let _ = tx.send(picks);
            ctx.request_repaint();
        });
    }

    /// Shows the dialog to add results files.
    pub(super) fn open_results_dialog(&self, ctx: &egui::Context) {
        self.dialog(ctx, Dialog::Results);
    }

    /// Opens what dialogs picked and what was dropped on the window.
    pub(super) fn take_picks(&mut self, ctx: &egui::Context) {
        let dropped: Vec<Pick> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| Pick::classify(f.path()))
                .collect()
        });
        let picked: Vec<Pick> = self.picks.rx.try_iter().flatten().collect();
        for pick in dropped.into_iter().chain(picked) {
            self.open_pick(pick);
        }
    }

    /// Opens one pick.
    pub fn open_pick(&mut self, pick: Pick) {
        match pick {
            Pick::Source(p) => self.open_source(&p),
            Pick::Weights(p) => self.load_weights(&p),
            Pick::Results(p) => self.add_results(&p),
        }
    }

    /// File, View and Help.
    pub(super) fn menu_bar(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        egui::Panel::top("menu").show(ui, |ui| {
            egui::MenuBar::new().ui(ui, |ui| {
                ui.menu_button("File", |ui| {
                    if ui.button("Open sequence…").clicked() {
                        self.dialog(&ctx, Dialog::Source);
                    }
                    if ui.button("Open weights…").clicked() {
                        self.dialog(&ctx, Dialog::Weights);
                    }
                    if ui.button("Add results…").clicked() {
                        self.dialog(&ctx, Dialog::Results);
                    }
                    if ui
                        .button("Open a path…")
                        .on_hover_text("Type or paste a path: where the desktop has no file dialog")
                        .clicked()
                    {
                        self.path_prompt = Some(String::new());
                    }
                    if ui.button("Use the bundled weights").clicked() {
                        self.use_bundled_weights();
                    }
                    if ui
                        .button("Open camera")
                        .on_hover_text("The first depth camera found (hourhand info lists them)")
                        .clicked()
                    {
                        self.open_camera(&crate::camera::CameraSpec::Auto);
                    }
                    ui.separator();
                    self.recent_menu(ui);
                    ui.separator();
                    if ui.button("Quit").clicked() {
                        ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                    }
                });
                ui.menu_button("View", |ui| {
                    if ui.button("Reset the 3D camera").clicked() {
                        self.camera.reset();
                    }
                    if ui.button("Frame the hand in 2D").clicked() {
                        self.settings.view2d = Default::default();
                    }
                });
                ui.menu_button("Help", |ui| {
                    ui.label("Space: play / pause · ←/→: step · Home/End: first / last frame");
                    ui.label("Drop folders (sequences), .safetensors (weights) or results files on the window.");
                    ui.label("Prediction: blue joints, green bones. Ground truth: yellow joints, red bones.");
                });
            });
        });
    }

    /// The "Open a path…" window: a folder opens as a sequence, a `.safetensors` file as
    /// weights, anything else as a results file.
    pub(super) fn path_prompt_ui(&mut self, ctx: &egui::Context) {
        let Some(text) = &mut self.path_prompt else {
            return;
        };
        let (mut open, mut cancel) = (false, false);
        egui::Window::new("Open a path")
            .collapsible(false)
            .resizable(false)
            .anchor(egui::Align2::CENTER_CENTER, egui::Vec2::ZERO)
            .show(ctx, |ui| {
                ui.label("A sequence folder, a weights file (.safetensors) or a results file:");
                let edit = ui.add(egui::TextEdit::singleline(text).desired_width(420.0));
                edit.request_focus();
                let enter = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                ui.horizontal(|ui| {
                    open = ui.button("Open").clicked() || enter;
                    cancel = ui.button("Cancel").clicked()
                        || ui.input(|i| i.key_pressed(egui::Key::Escape));
                });
            });
        if open && !text.trim().is_empty() {
            let pick = Pick::classify(Path::new(text.trim()));
            self.path_prompt = None;
            self.open_pick(pick);
        } else if cancel {
            self.path_prompt = None;
        }
    }

    fn recent_menu(&mut self, ui: &mut egui::Ui) {
        let recent: Vec<Pick> = self
            .settings
            .recent_sources
            .iter()
            .map(|p| Pick::Source(p.clone()))
            .chain(
                self.settings
                    .recent_weights
                    .iter()
                    .map(|p| Pick::Weights(p.clone())),
            )
            .chain(
                self.settings
                    .recent_results
                    .iter()
                    .map(|p| Pick::Results(p.clone())),
            )
            .collect();
        ui.add_enabled_ui(!recent.is_empty(), |ui| {
            ui.menu_button("Recent", |ui| {
                for pick in recent {
                    let (kind, path) = match &pick {
                        Pick::Source(p) => ("sequence", p),
                        Pick::Weights(p) => ("weights", p),
                        Pick::Results(p) => ("results", p),
                    };
                    if ui.button(format!("{kind}: {}", path.display())).clicked() {
                        self.open_pick(pick.clone());
                    }
                }
            });
        });
    }

    /// The choices of where the network runs: the viewer's own device, every other adapter,
    /// the CPU. Enumerated once, when first asked for (the selector opened).
    pub fn engine_choices(&self) -> &[(EngineChoice, String)] {
        // Enumerating adapters creates instances: once per run is enough.
        self.engine_list.get_or_init(|| self.list_engines())
    }

    fn list_engines(&self) -> Vec<(EngineChoice, String)> {
        let shared = self.shared_gpu.as_ref().map(|_| EngineChoice::Shared);
        let adapters = crate::gpu::list_adapters(&Default::default())
            .into_iter()
            .map(|a| EngineChoice::Adapter(a.info.name, a.info.backend));
        shared
            .into_iter()
            .chain(adapters)
            .chain([EngineChoice::Cpu])
            .map(|c| {
                let label = self.engine_label(&c);
                (c, label)
            })
            .collect()
    }

    /// How a choice of where the network runs reads in the selector.
    pub(super) fn engine_label(&self, choice: &EngineChoice) -> String {
        match choice {
            EngineChoice::Shared => match &self.shared_gpu {
                Some(gpu) => format!(
                    "{} ({:?}, the viewer's device)",
                    gpu.info.name, gpu.info.backend
                ),
                None => "the viewer's device (none)".into(),
            },
            EngineChoice::Adapter(name, backend) => format!("{name} ({backend:?}, own device)"),
            EngineChoice::Cpu => format!("CPU ({} threads)", rayon::current_num_threads()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_paths_are_classified_by_kind() {
        let dir = std::env::temp_dir();
        assert_eq!(Pick::classify(&dir), Pick::Source(dir.clone()));
        let w = Path::new("/nowhere/model.SafeTensors");
        assert_eq!(Pick::classify(w), Pick::Weights(w.into()));
        let r = Path::new("/nowhere/deepprior.txt");
        assert_eq!(Pick::classify(r), Pick::Results(r.into()));
    }
}
