//! The two views side by side: the 2D depth frame (centre) and the 3D orbit view (right panel),
//! fed from the frame on screen, its prediction, its annotation and the other methods.

use std::sync::Arc;

use eframe::egui;
use glam::Vec3;

use crate::data::joints::{BONES, EVAL_BONES, EVAL_JOINT_LABELS, EVAL_SUBSET, JOINT_NAMES};
use crate::data::source::Frame;

use super::app::ViewerApp;
use super::depth_image::depth_image;
use super::input_inset::{self, InsetKey};
use super::palette;
use super::scene3d::{self, DepthCloud, Scene3d, Skeleton3d};
use super::view2d::Overlay2d;

/// What a 3D scene was built from; a new key means a new scene.
#[derive(Debug, Clone, PartialEq)]
pub struct SceneKey {
    frame: usize,
    prediction: Option<usize>,
    show: super::settings::Show,
    methods: Vec<bool>,
}

/// One skeleton, in (u, v, d), with how to draw it.
struct Skeleton<'a> {
    name: String,
    uvd: Vec<Vec3>,
    labels: &'a [&'a str],
    bones: &'a [(usize, usize)],
    joint: egui::Color32,
    bone: egui::Color32,
    errors: Option<Vec<f64>>,
}

impl ViewerApp {
    /// Every skeleton to draw on the frame on screen, back to front: other methods, ground
    /// truth, prediction.
    fn skeletons(&self, frame: &Frame) -> Vec<Skeleton<'static>> {
        let show = &self.settings.show;
        let mut out = Vec::new();
        for (method, scores) in &self.methods {
            if let Some(joints) = method.frame(frame.index).filter(|_| method.visible) {
                out.push(Skeleton {
                    name: method.name.clone(),
                    uvd: joints.to_vec(),
                    labels: &EVAL_JOINT_LABELS,
                    bones: &EVAL_BONES,
                    joint: method.colour,
                    bone: palette::bone_of(method.colour),
                    errors: scores.get(frame.index).map(|s| s.errors.to_vec()),
                });
            }
        }
        let full = show.all_joints;
        if show.ground_truth
            && let Some(gt) = &frame.ground_truth
        {
            let (uvd, labels, bones): (Vec<Vec3>, &[&str], &[(usize, usize)]) =
                match (full, gt.full_uvd()) {
                    (true, Some(all)) => (all.to_vec(), &JOINT_NAMES, &BONES),
                    _ => (gt.eval_uvd().to_vec(), &EVAL_JOINT_LABELS, &EVAL_BONES),
                };
            out.push(Skeleton {
                name: "ground truth".into(),
                uvd,
                labels,
                bones,
                joint: palette::GT_JOINT,
                bone: palette::GT_BONE,
                errors: None,
            });
        }
        if show.prediction
            && let Some((index, p)) = self.prediction()
        {
            let stale = index != frame.index;
            let name = if stale {
                format!("prediction of frame {}", index + 1)
            } else {
                "prediction".into()
            };
            let errors = p.score.filter(|_| !stale).map(|s| s.errors.to_vec());
            let (uvd, labels, bones, errors): (Vec<Vec3>, &[&str], &[(usize, usize)], _) = if full {
                let errors = frame.joints_xyz().filter(|_| !stale).map(|gt| {
                    gt.iter()
                        .zip(&p.estimate.xyz)
                        .map(|(g, q)| f64::from(g.distance(*q)))
                        .collect()
                });
                (p.estimate.uvd.to_vec(), &JOINT_NAMES, &BONES, errors)
            } else {
                let uvd = EVAL_SUBSET.map(|j| p.estimate.uvd[j]).to_vec();
                (uvd, &EVAL_JOINT_LABELS, &EVAL_BONES, errors)
            };
            out.push(Skeleton {
                name,
                uvd,
                labels,
                bones,
                joint: palette::PRED_JOINT,
                bone: palette::PRED_BONE,
                errors,
            });
        }
        out
    }

    /// The 3D scene for the frame on screen, rebuilt only when what it shows changed.
    fn scene(&mut self, frame: &Frame) -> Arc<Scene3d> {
        let key = SceneKey {
            frame: frame.index,
            prediction: self.prediction().map(|(i, _)| i),
            show: self.settings.show.clone(),
            methods: self.methods.iter().map(|(m, _)| m.visible).collect(),
        };
        if let Some((k, scene)) = &self.scene
            && *k == key
        {
            return scene.clone();
        }
        let k = frame.intrinsics;
        let skeletons = self
            .skeletons(frame)
            .into_iter()
            .map(|s| Skeleton3d {
                joints: s.uvd.iter().map(|&p| k.uvd_to_xyz(p)).collect(),
                bones: s.bones.to_vec(),
                joint_color: s.joint,
                bone_color: s.bone,
                joint_radius: 4.0,
            })
            .collect();
        let crop = self.prediction().map(|(_, p)| p.estimate.crop);
        let cloud = crop.filter(|_| self.settings.show.cloud).map(|crop| {
            let [u0, v0, u1, v1] = crop.window;
            let (w, h) = (frame.depth.width() as f32, frame.depth.height() as f32);
            let (u0, v0) = (u0.clamp(0.0, w) as u32, v0.clamp(0.0, h) as u32);
            let (u1, v1) = (
                u1.ceil().clamp(0.0, w) as u32,
                v1.ceil().clamp(0.0, h) as u32,
            );
            let (width, height) = (u1.saturating_sub(u0).max(1), v1.saturating_sub(v0).max(1));
            let values = frame.depth.values();
            let row = frame.depth.width();
            let depth_mm = (0..height)
                .flat_map(|y| {
                    (0..width).map(move |x| {
                        values
                            .get((v0 + y) as usize * row + (u0 + x) as usize)
                            .copied()
                            .unwrap_or(0.0)
                    })
                })
                .collect();
            DepthCloud {
                width,
                height,
                origin: [u0, v0],
                depth_mm,
                intrinsics: k,
                near: crop.center.z - crop.cube.z / 2.0,
                far: crop.center.z + crop.cube.z / 2.0,
            }
        });
        if let Some(crop) = crop {
            self.camera.set_home(crop.center, 2.0 * crop.cube.z);
        }
        let scene = Arc::new(Scene3d { cloud, skeletons });
        self.scene_version += 1;
        self.scene = Some((key, scene.clone()));
        scene
    }

    /// The 3D panel (right) and the 2D view (centre).
    pub(super) fn views(&mut self, ui: &mut egui::Ui) {
        let Some(frame) = self.shown.clone() else {
            egui::CentralPanel::default().show(ui, |ui| {
                ui.centered_and_justified(|ui| {
                    let text = if self.sequence.is_some() {
                        "Decoding the first frame…"
                    } else {
                        "Open a sequence: File › Open sequence…, or drop an NYU folder or a folder of depth PNGs here."
                    };
                    ui.label(text);
                });
            });
            return;
        };
        let available = ui.available_width();
        egui::Panel::right("view3d")
            .resizable(true)
            .default_size(available * 0.45)
            .show(ui, |ui| {
                ui.horizontal(|ui| {
                    ui.strong("3D");
                    ui.weak(
                        "drag: orbit · right/shift-drag: pan · scroll: zoom · double-click: reset",
                    );
                });
                let scene = self.scene(&frame);
                let (rect, response) =
                    ui.allocate_exact_size(ui.available_size(), egui::Sense::click_and_drag());
                self.camera.handle_input(ui, &response);
                scene3d::paint(ui, rect, &self.camera, scene, self.scene_version);
            });
        egui::CentralPanel::default().show(ui, |ui| {
            self.view2d(ui, &frame);
        });
    }

    fn view2d(&mut self, ui: &mut egui::Ui, frame: &Frame) {
        let crop = self.prediction().map(|(_, p)| p.estimate.crop);
        let fresh = self
            .view2d_texture
            .as_ref()
            .is_some_and(|(i, _)| *i == frame.index);
        if !fresh {
            // The hand's range: the crop cube when there is a prediction, else around the
            // annotated palm, else the scene's own range.
            let (near, far) = match (crop, frame.palm_xyz()) {
                (Some(c), _) => (c.center.z - c.cube.z / 2.0, c.center.z + c.cube.z / 2.0),
                (None, Some(p)) => (p.z - 150.0, p.z + 150.0),
                _ => {
                    let valid = frame.depth.values().iter().copied().filter(|d| *d > 0.0);
                    let (lo, hi) = valid.fold((f32::MAX, 0.0f32), |(a, b), d| (a.min(d), b.max(d)));
                    (lo, hi.max(lo + 1.0))
                }
            };
            let image = depth_image(&frame.depth, near, far);
            let texture = ui
                .ctx()
                .load_texture("depth", image, egui::TextureOptions::NEAREST);
            self.view2d_texture = Some((frame.index, texture));
        }
        let skeletons = self.skeletons(frame);
        let overlays: Vec<Overlay2d> = skeletons
            .iter()
            .map(|s| Overlay2d {
                name: &s.name,
                joints: &s.uvd,
                labels: s.labels,
                bones: s.bones,
                joint: s.joint,
                bone: s.bone,
                errors: s.errors.as_deref(),
            })
            .collect();
        let texture = self.view2d_texture.as_ref().map(|(_, t)| t);
        let size = [frame.depth.width(), frame.depth.height()];
        let area = self
            .settings
            .view2d
            .ui(ui, texture, size, crop.map(|c| c.window), &overlays)
            .rect;
        if let Some(crop) = crop.filter(|_| self.settings.show.network_input) {
            let key = InsetKey::new(frame.index, &crop);
            if self.input_texture.as_ref().is_none_or(|(k, _)| *k != key) {
                let image = input_inset::input_image(&crop, &frame.depth);
                let texture =
                    ui.ctx()
                        .load_texture("network input", image, egui::TextureOptions::NEAREST);
                self.input_texture = Some((key, texture));
            }
            if let Some((_, texture)) = &self.input_texture {
                input_inset::paint(ui.painter(), area, texture, &crop, &overlays);
            }
        }
    }
}
