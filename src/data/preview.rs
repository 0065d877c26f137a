//! Still pictures of frames with their joints: a grid of hand crops, depth in a colour map,
//! ground truth drawn the way the paper does (yellow joints, red bones). For the README and for
//! checking data by eye; the viewer draws on the GPU instead.

use std::path::Path;

use glam::Vec2;

use super::depth::DepthMap;
use super::error::DataError;
use super::joints::{BONES, Joints};

/// An 8-bit RGB image.
pub struct RgbImage {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Row-major RGB bytes.
    pub pixels: Vec<u8>,
}

const YELLOW: [u8; 3] = [255, 220, 0];
const RED: [u8; 3] = [230, 30, 30];

impl RgbImage {
    fn new(width: usize, height: usize) -> RgbImage {
        RgbImage {
            width,
            height,
            pixels: vec![16; width * height * 3],
        }
    }

    fn put(&mut self, x: i64, y: i64, c: [u8; 3]) {
        if x >= 0 && y >= 0 && (x as usize) < self.width && (y as usize) < self.height {
            let i = (y as usize * self.width + x as usize) * 3;
            self.pixels[i..i + 3].copy_from_slice(&c);
        }
    }

    fn line(&mut self, a: Vec2, b: Vec2, c: [u8; 3]) {
        let steps = (b - a).abs().max_element().ceil().max(1.0) as usize;
        for s in 0..=steps {
            let p = a + (b - a) * (s as f32 / steps as f32);
            for (dx, dy) in [(0, 0), (1, 0), (0, 1)] {
                self.put(p.x as i64 + dx, p.y as i64 + dy, c);
            }
        }
    }

    fn disc(&mut self, p: Vec2, r: f32, c: [u8; 3]) {
        let ri = r.ceil() as i64;
        for dy in -ri..=ri {
            for dx in -ri..=ri {
                if ((dx * dx + dy * dy) as f32) <= r * r {
                    self.put(p.x as i64 + dx, p.y as i64 + dy, c);
                }
            }
        }
    }

    /// Writes the image as a PNG; refuses to replace an existing file unless `overwrite`.
    pub fn save_png(&self, path: &Path, overwrite: bool) -> Result<(), DataError> {
        let (w, h) = (self.width as u32, self.height as u32);
        let out = crate::files::png_bytes(
            w,
            h,
            png::ColorType::Rgb,
            png::BitDepth::Eight,
            &self.pixels,
            png::Compression::Balanced,
        );
        Ok(crate::files::write_atomic(path, &out, overwrite)?)
    }
}

/// A perceptually ordered colour map (near = warm, far = cool) over [0, 1].
pub fn depth_colour(t: f32) -> [u8; 3] {
    // Piecewise-linear "turbo"-like ramp: red → yellow → green → cyan → blue.
    const STOPS: [[f32; 3]; 5] = [
        [0.85, 0.15, 0.1],
        [0.98, 0.8, 0.2],
        [0.4, 0.85, 0.35],
        [0.2, 0.6, 0.85],
        [0.15, 0.2, 0.55],
    ];
    let t = t.clamp(0.0, 1.0) * (STOPS.len() - 1) as f32;
    let i = (t.floor() as usize).min(STOPS.len() - 2);
    let f = t - i as f32;
    std::array::from_fn(|c| ((STOPS[i][c] * (1.0 - f) + STOPS[i + 1][c] * f) * 255.0) as u8)
}

/// A grid of `tile`-pixel square crops around each frame's hand (the joints' bounding box plus a
/// margin), depth coloured over the hand's range, joints and bones drawn on top.
pub fn hand_grid(frames: &[(&DepthMap, &Joints)], columns: usize, tile: usize) -> RgbImage {
    let columns = columns.max(1);
    let rows = frames.len().div_ceil(columns);
    let mut image = RgbImage::new(columns * tile, rows * tile);
    for (n, (depth, uvd)) in frames.iter().enumerate() {
        let (ox, oy) = ((n % columns) * tile, (n / columns) * tile);
        let (mut lo, mut hi) = (Vec2::splat(f32::MAX), Vec2::splat(f32::MIN));
        let (mut near, mut far) = (f32::MAX, f32::MIN);
        for p in uvd.iter() {
            lo = lo.min(p.truncate());
            hi = hi.max(p.truncate());
            near = near.min(p.z);
            far = far.max(p.z);
        }
        let side = (hi - lo).max_element() * 1.3 + 10.0;
        let corner = (lo + hi) / 2.0 - Vec2::splat(side / 2.0);
        let scale = side / tile as f32;
        let (near, far) = (near - 20.0, far + 20.0);
        for y in 0..tile {
            for x in 0..tile {
                let p = corner + Vec2::new(x as f32 + 0.5, y as f32 + 0.5) * scale;
                let colour = match depth.get(p.x as i64, p.y as i64) {
                    Some(d) if d > 0.0 && d < far + 150.0 => {
                        depth_colour((d - near) / (far - near))
                    }
                    Some(d) if d > 0.0 => [40, 40, 48],
                    _ => [0, 0, 0],
                };
                image.put((ox + x) as i64, (oy + y) as i64, colour);
            }
        }
        let to_tile =
            |p: glam::Vec3| (p.truncate() - corner) / scale + Vec2::new(ox as f32, oy as f32);
        for (a, b) in BONES {
            image.line(to_tile(uvd[a]), to_tile(uvd[b]), RED);
        }
        for p in uvd.iter() {
            image.disc(to_tile(*p), 2.5, YELLOW);
        }
    }
    image
}
