//! The 3D orbit view: camera math, headless renders on a real wgpu device (lavapipe in CI)
//! checked against CPU references, and portability of the view's shaders.

use std::process::Command;

mod common;
#[path = "common/spirv.rs"]
mod spirv;

use common::gpu;
use eframe::egui::Color32;
use glam::{Vec3, Vec4Swizzles};
use hourhand::data::intrinsics::Intrinsics;
use hourhand::gpu::GpuContext;
use hourhand::view::scene3d::{
    BACKGROUND, DepthCloud, OrbitCamera, SHADERS, Scene3d, Scene3dRenderer, Skeleton3d,
    UNIFORM_SIZES,
};
use naga::valid::{Capabilities, ValidationFlags, Validator};

const W: u32 = 96;
const H: u32 = 72;
const JOINT: Color32 = Color32::from_rgb(40, 110, 255);
const BONE: Color32 = Color32::from_rgb(40, 200, 80);

/// Where `p` lands in a `width`×`height` image, pixels (x right, y down, continuous).
fn project(camera: &OrbitCamera, p: Vec3, width: u32, height: u32) -> (f32, f32) {
    let clip = camera.view_proj(width as f32 / height as f32) * p.extend(1.0);
    let ndc = clip.xyz() / clip.w;
    (
        (ndc.x + 1.0) * 0.5 * width as f32,
        (1.0 - ndc.y) * 0.5 * height as f32,
    )
}

// ---- camera math ----

#[test]
fn default_camera_centres_the_target_and_is_not_mirrored() {
    let target = Vec3::new(-30.0, 20.0, 600.0);
    let cam = OrbitCamera::looking_at(target, 400.0);
    let (x, y) = project(&cam, target, W, H);
    assert!(
        (x - 48.0).abs() < 1e-3 && (y - 36.0).abs() < 1e-3,
        "{x} {y}"
    );
    // Seen as the depth camera sees: +x to the right, +y up, the eye on the −z side.
    let (xr, _) = project(&cam, target + Vec3::X * 10.0, W, H);
    let (_, yu) = project(&cam, target + Vec3::Y * 10.0, W, H);
    assert!(xr > x + 1.0, "x points left: {xr} vs {x}");
    assert!(yu < y - 1.0, "y points down: {yu} vs {y}");
    assert!((cam.eye() - Vec3::new(-30.0, 20.0, 200.0)).length() < 1e-3);
    // In front of the camera, depth within 0..1.
    let clip = cam.view_proj(1.0) * target.extend(1.0);
    let z = clip.z / clip.w;
    assert!(clip.w > 0.0 && (0.0..1.0).contains(&z), "{z}");
}

#[test]
fn orbit_moves_the_eye_around_a_fixed_target() {
    let target = Vec3::new(10.0, -5.0, 500.0);
    let mut cam = OrbitCamera::looking_at(target, 300.0);
    let eye0 = cam.eye();
    cam.orbit(40.0, -25.0);
    assert!((cam.eye() - eye0).length() > 50.0);
    assert!(((cam.eye() - target).length() - 300.0).abs() < 1e-2);
    assert_eq!(cam.target(), target);
    let (x, y) = project(&cam, target, W, H);
    assert!(
        (x - 48.0).abs() < 1e-2 && (y - 36.0).abs() < 1e-2,
        "{x} {y}"
    );
    // Dragging right moves the eye left (−x) of where it was; pitch is clamped short of the pole.
    let mut c = OrbitCamera::looking_at(target, 300.0);
    c.orbit(30.0, 0.0);
    assert!(c.eye().x < target.x);
    c.orbit(0.0, 1e6);
    assert!(c.eye().is_finite() && c.view_proj(1.0).is_finite());
    assert!(c.eye().y > target.y + 299.0);
    assert!(cam.moved());
}

#[test]
fn pan_moves_the_target_with_the_pointer() {
    let target = Vec3::new(0.0, 0.0, 500.0);
    let mut cam = OrbitCamera::looking_at(target, 400.0);
    cam.pan(12.0, 0.0, H as f32);
    assert!(cam.target().x < -1.0, "{:?}", cam.target());
    assert!((cam.distance() - 400.0).abs() < 1e-3);
    // The old target now sits 12 points right of the centre: it followed the pointer.
    let (x, y) = project(&cam, target, W, H);
    assert!(
        (x - 60.0).abs() < 0.05 && (y - 36.0).abs() < 0.05,
        "{x} {y}"
    );
    cam.pan(0.0, 10.0, H as f32);
    let (_, y) = project(&cam, target, W, H);
    assert!((y - 46.0).abs() < 0.05, "{y}");
}

#[test]
fn zoom_scales_the_distance_and_stays_positive() {
    let mut cam = OrbitCamera::looking_at(Vec3::ZERO, 400.0);
    cam.zoom(0.5);
    assert!((cam.distance() - 200.0).abs() < 1e-3);
    for _ in 0..100 {
        cam.zoom(0.1);
    }
    assert!(cam.distance() > 0.0 && cam.distance() <= hourhand::view::scene3d::MIN_DISTANCE);
    cam.zoom(f32::NAN);
    cam.zoom(-2.0);
    cam.zoom(0.0);
    assert!(cam.distance() > 0.0 && cam.view_proj(1.5).is_finite());
}

#[test]
fn reset_and_set_home() {
    let home = Vec3::new(1.0, 2.0, 500.0);
    let mut cam = OrbitCamera::looking_at(home, 350.0);
    let fresh = cam.clone();
    cam.orbit(10.0, 20.0);
    cam.pan(5.0, 5.0, 100.0);
    cam.zoom(2.0);
    assert_ne!(cam, fresh);
    cam.reset();
    assert_eq!(cam, fresh);
    // Not moved since: a new home moves the camera.
    let next = Vec3::new(40.0, 0.0, 700.0);
    cam.set_home(next, 300.0);
    assert_eq!(cam.target(), next);
    assert_eq!(cam.distance(), 300.0);
    // Moved by the user: the view stays, reset goes to the new home.
    cam.orbit(20.0, 0.0);
    let moved = cam.clone();
    cam.set_home(home, 350.0);
    assert_eq!(cam, moved.clone().with_home_of(&cam));
    cam.reset();
    assert_eq!(cam, fresh);
}

/// Test helper: `self` with `other`'s home (only the home may differ after `set_home`).
trait WithHome {
    fn with_home_of(self, other: &OrbitCamera) -> OrbitCamera;
}
impl WithHome for OrbitCamera {
    fn with_home_of(mut self, other: &OrbitCamera) -> OrbitCamera {
        let (t, d) = (self.target(), self.distance());
        let moved = self.moved();
        self = other.clone();
        assert_eq!(
            (t, d, moved),
            (self.target(), self.distance(), self.moved())
        );
        self
    }
}

// ---- rendering ----

fn render(gpu: &GpuContext, scene: &Scene3d, cam: &OrbitCamera, w: u32, h: u32) -> Vec<u8> {
    let mut r = Scene3dRenderer::new(&gpu.device, wgpu::TextureFormat::Rgba8Unorm);
    let img = r.render_to_image(&gpu.device, &gpu.queue, scene, cam, w, h);
    assert_eq!(img.len(), (w * h * 4) as usize);
    img
}

fn pixel(img: &[u8], w: u32, x: u32, y: u32) -> [u8; 4] {
    let i = ((y * w + x) * 4) as usize;
    [img[i], img[i + 1], img[i + 2], img[i + 3]]
}

fn rgb(c: Color32) -> [u8; 4] {
    [c.r(), c.g(), c.b(), 255]
}

/// Pixels that differ between two renders, as (x, y).
fn changed(a: &[u8], b: &[u8], w: u32) -> Vec<(u32, u32)> {
    a.chunks(4)
        .zip(b.chunks(4))
        .enumerate()
        .filter(|(_, (p, q))| p != q)
        .map(|(i, _)| (i as u32 % w, i as u32 / w))
        .collect()
}

fn joint_at(p: Vec3, radius: f32) -> Skeleton3d {
    Skeleton3d {
        joints: vec![p],
        bones: vec![],
        joint_color: JOINT,
        bone_color: BONE,
        joint_radius: radius,
    }
}

/// A `width`×`height` window at `origin` of NYU intrinsics, every depth `d` (0 = none).
fn wall(origin: [u32; 2], width: u32, height: u32, d: f32) -> DepthCloud {
    DepthCloud {
        width,
        height,
        origin,
        depth_mm: vec![d; (width * height) as usize],
        intrinsics: Intrinsics::NYU,
        near: 200.0,
        far: 1000.0,
    }
}

#[test]
fn empty_scene_shows_only_background_grid_and_axes() {
    let gpu = gpu();
    let cam = OrbitCamera::looking_at(Vec3::new(0.0, 0.0, 600.0), 400.0);
    let img = render(&gpu, &Scene3d::default(), &cam, W, H);
    let bg = rgb(BACKGROUND);
    let (mut background, mut grid_below) = (0, 0);
    for y in 0..H {
        for x in 0..W {
            let p = pixel(&img, W, x, y);
            assert_eq!(p[3], 255);
            if p == bg {
                background += 1;
                continue;
            }
            let grey = (p[0] as i32 - p[1] as i32).abs() <= 4 && (p[2] as i32 - p[1] as i32) <= 20;
            if grey {
                grid_below += usize::from(y > H / 2);
                continue;
            }
            // Coloured pixels are the axes, near the target in the centre (25 mm ≈ 6 px).
            let (dx, dy) = (x as f32 - 48.0, y as f32 - 36.0);
            assert!(
                dx.abs() <= 9.0 && dy.abs() <= 9.0,
                "unexpected colour {p:?} at ({x}, {y})"
            );
        }
    }
    assert!(background > (W * H / 2) as usize, "{background}");
    assert!(grid_below > 20, "no grid under the target: {grid_below}");
}

#[test]
fn joint_at_the_target_covers_the_centre_pixel() {
    let gpu = gpu();
    let target = Vec3::new(20.0, -10.0, 550.0);
    let cam = OrbitCamera::looking_at(target, 200.0);
    let scene = Scene3d {
        cloud: None,
        skeletons: vec![joint_at(target, 6.0)],
    };
    let img = render(&gpu, &scene, &cam, W, H);
    assert_eq!(pixel(&img, W, W / 2, H / 2), rgb(JOINT));
    // A disc, not a square: the corners of its bounding box are not joint-coloured.
    let r = (6.0 * (H as f32 * 0.5 / (hourhand::view::scene3d::FOV_Y * 0.5).tan()) / 194.0) as u32;
    assert!(r >= 2, "{r}");
    assert_ne!(pixel(&img, W, W / 2 + r, H / 2 + r), rgb(JOINT));
    assert_eq!(pixel(&img, W, 0, 0), rgb(BACKGROUND));
}

#[test]
fn cloud_point_lands_where_the_cpu_back_projection_says() {
    let gpu = gpu();
    let (w, h) = (97, 61);
    let k = Intrinsics::NYU;
    let origin = [200, 150];
    let (lu, lv) = (7u32, 3u32);
    let depth = 640.0;
    let mut cloud = wall(origin, 13, 9, 0.0);
    cloud.depth_mm[(lv * 13 + lu) as usize] = depth;
    let (u, v) = (origin[0] + lu, origin[1] + lv);
    assert!(u % 2 == 1 && v % 2 == 1);
    let p = k.uvd_to_xyz(Vec3::new(u as f32, v as f32, depth));
    // Looking at a point off to the side, orbited: the point is nowhere special on screen.
    let mut cam = OrbitCamera::looking_at(p + Vec3::new(25.0, -15.0, 10.0), 300.0);
    cam.orbit(25.0, -15.0);
    let empty = render(&gpu, &Scene3d::default(), &cam, w, h);
    let scene = Scene3d {
        cloud: Some(cloud),
        skeletons: vec![],
    };
    let img = render(&gpu, &scene, &cam, w, h);
    let diff = changed(&empty, &img, w);
    assert!(!diff.is_empty() && diff.len() <= 9, "{} pixels", diff.len());
    let (ex, ey) = project(&cam, p, w, h);
    for &(x, y) in &diff {
        let (dx, dy) = (x as f32 + 0.5 - ex, y as f32 + 0.5 - ey);
        assert!(
            dx.abs() <= 1.5 && dy.abs() <= 1.5,
            "pixel ({x}, {y}) drawn, CPU says ({ex:.1}, {ey:.1})"
        );
    }
}

/// NYU annotates joints on the skin, among the cloud's points: the skeletons are drawn over the
/// cloud (a joint behind the wall stays visible, the wall around it grey), and still hide each
/// other (of two joints on one line of sight, the nearer one's colour shows).
#[test]
fn skeletons_stay_visible_over_the_cloud_and_hide_each_other() {
    let gpu = gpu();
    let k = Intrinsics::NYU;
    let target = k.uvd_to_xyz(Vec3::new(320.0, 240.0, 500.0));
    let cam = OrbitCamera::looking_at(target, 300.0);
    let render_with = |wall_mm: f32, skeletons: Vec<Skeleton3d>| {
        let scene = Scene3d {
            cloud: Some(wall([300, 220], 41, 41, wall_mm)),
            skeletons,
        };
        render(&gpu, &scene, &cam, W, H)
    };
    let img = render_with(520.0, vec![joint_at(target, 4.0)]);
    assert_eq!(
        pixel(&img, W, W / 2, H / 2),
        rgb(JOINT),
        "joint in front of the wall"
    );
    let img = render_with(480.0, vec![joint_at(target, 4.0)]);
    assert_eq!(
        pixel(&img, W, W / 2, H / 2),
        rgb(JOINT),
        "joint 20 mm behind the wall"
    );
    let wall_pixel = pixel(&img, W, W / 2 + 5, H / 2);
    assert!(
        wall_pixel[0] == wall_pixel[1] && wall_pixel[0] > 60,
        "wall is grey beside the joint: {wall_pixel:?}"
    );
    // A second, yellow joint 30 mm further along the line of sight is hidden by the first.
    let yellow = Color32::from_rgb(250, 220, 40);
    let far = target + (target - cam.eye()).normalize() * 30.0;
    let mut behind = joint_at(far, 4.0);
    behind.joint_color = yellow;
    let img = render_with(480.0, vec![behind.clone(), joint_at(target, 4.0)]);
    assert_eq!(
        pixel(&img, W, W / 2, H / 2),
        rgb(JOINT),
        "the nearer joint shows"
    );
    let mut front = joint_at(target, 4.0);
    front.joint_color = yellow;
    let img = render_with(480.0, vec![front, joint_at(far, 4.0)]);
    assert_eq!(
        pixel(&img, W, W / 2, H / 2),
        rgb(yellow),
        "drawn first, still in front"
    );
}

#[test]
fn odd_sizes_keep_rows_aligned() {
    let gpu = gpu();
    let (w, h) = (97, 61);
    let k = Intrinsics::NYU;
    let (origin, cw, ch, d) = ([251, 187], 13, 9, 450.0);
    let centre = k.uvd_to_xyz(Vec3::new(257.0, 191.0, d));
    let mut cam = OrbitCamera::looking_at(centre, 250.0);
    cam.orbit(-20.0, 10.0);
    let empty = render(&gpu, &Scene3d::default(), &cam, w, h);
    let scene = Scene3d {
        cloud: Some(wall(origin, cw, ch, d)),
        skeletons: vec![],
    };
    let img = render(&gpu, &scene, &cam, w, h);
    let diff = changed(&empty, &img, w);
    assert!(!diff.is_empty());
    // Bounding box of the drawn points vs the CPU projection of the window's corner pixels.
    let corners = [(0, 0), (cw - 1, 0), (0, ch - 1), (cw - 1, ch - 1)].map(|(a, b)| {
        let p = k.uvd_to_xyz(Vec3::new((origin[0] + a) as f32, (origin[1] + b) as f32, d));
        project(&cam, p, w, h)
    });
    let lo_x = corners.iter().map(|c| c.0).fold(f32::MAX, f32::min);
    let hi_x = corners.iter().map(|c| c.0).fold(f32::MIN, f32::max);
    let lo_y = corners.iter().map(|c| c.1).fold(f32::MAX, f32::min);
    let hi_y = corners.iter().map(|c| c.1).fold(f32::MIN, f32::max);
    let min_x = diff.iter().map(|p| p.0).min().unwrap() as f32;
    let max_x = diff.iter().map(|p| p.0).max().unwrap() as f32 + 1.0;
    let min_y = diff.iter().map(|p| p.1).min().unwrap() as f32;
    let max_y = diff.iter().map(|p| p.1).max().unwrap() as f32 + 1.0;
    let near = |a: f32, b: f32| (a - b).abs() <= 2.0;
    assert!(
        near(min_x, lo_x) && near(max_x, hi_x) && near(min_y, lo_y) && near(max_y, hi_y),
        "drawn x {min_x}..{max_x} y {min_y}..{max_y}, CPU x {lo_x:.1}..{hi_x:.1} y {lo_y:.1}..{hi_y:.1}"
    );
    // Points outside [near, far] are not drawn.
    let mut far = wall(origin, cw, ch, 1500.0);
    far.depth_mm[0] = f32::NAN;
    far.depth_mm[1] = f32::INFINITY;
    let scene = Scene3d {
        cloud: Some(far),
        skeletons: vec![],
    };
    assert_eq!(render(&gpu, &scene, &cam, w, h), empty);
}

#[test]
fn bones_join_their_joints() {
    let gpu = gpu();
    let a = Vec3::new(-40.0, 0.0, 500.0);
    let b = Vec3::new(40.0, 0.0, 500.0);
    let cam = OrbitCamera::looking_at(Vec3::new(0.0, 20.0, 500.0), 300.0);
    let scene = Scene3d {
        cloud: None,
        skeletons: vec![Skeleton3d {
            joints: vec![a, b],
            bones: vec![(0, 1), (0, 7)],
            joint_color: JOINT,
            bone_color: BONE,
            joint_radius: 4.0,
        }],
    };
    let img = render(&gpu, &scene, &cam, W, H);
    let (xa, y) = project(&cam, a, W, H);
    let (xb, _) = project(&cam, b, W, H);
    let mid = ((xa + xb) * 0.5) as u32;
    assert_eq!(pixel(&img, W, mid, y as u32), rgb(BONE));
    assert_eq!(pixel(&img, W, xa as u32, y as u32), rgb(JOINT));
}

// ---- shaders ----

#[test]
fn view_shaders_validate_and_translate_to_spirv() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders/view");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|f| f.strip_suffix(".wesl").map(str::to_string))
        .collect();
    on_disk.sort();
    let mut embedded: Vec<String> = SHADERS.iter().map(|(f, _)| f.to_string()).collect();
    embedded.sort();
    assert_eq!(on_disk, embedded);

    let spirv_val = Command::new("spirv-val").arg("--version").output().is_ok();
    assert!(
        spirv_val,
        "spirv-val not found: install Debian's `spirv-tools`"
    );
    let tmp = common::scratch("spirv", "view");
    for (file, wgsl) in SHADERS {
        assert!(
            !wgsl.contains("import "),
            "{file}: an import was left unresolved"
        );
        let module = naga::front::wgsl::parse_str(wgsl)
            .unwrap_or_else(|e| panic!("{file}: {}", e.emit_to_string(wgsl)));
        let info = Validator::new(ValidationFlags::all(), Capabilities::empty())
            .validate(&module)
            .unwrap_or_else(|e| panic!("{file}: {}", e.emit_to_string(wgsl)));
        assert!(
            module.entry_points.len() >= 2,
            "{file}: vertex and fragment"
        );
        // The Rust twins of the uniform structs have the WGSL sizes.
        for (name, size) in UNIFORM_SIZES {
            if let Some((_, ty)) = module
                .types
                .iter()
                .find(|(_, t)| t.name.as_deref() == Some(name))
            {
                let naga::TypeInner::Struct { span, .. } = &ty.inner else {
                    panic!("{file}: {name} is not a struct")
                };
                assert_eq!(*span as usize, size, "{file}: size of {name}");
            }
        }
        spirv::assert_valid_spirv(&module, &info, file, &tmp, (1, 0));
    }
}
