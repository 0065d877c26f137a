//! Writes a few synthetic frames as 8-bit RGB PNGs with the joints drawn, for looking at:
//! `cargo run --release --example synth_dump -- [seed] [count] [dir]` (defaults 1, 8, /tmp/synth).
//!
//! Depth is shown as grey from near (bright) to 400 mm behind the nearest reading (dark);
//! farther readings are dim blue, holes black. Joints: fingertips red, other finger joints
//! yellow, thumb green, palm cyan, PALM_3 white.

use std::io::BufWriter;

use hourhand::data::synth::{SynthOptions, generate};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let seed: u64 = args.get(1).map_or(Ok(1), |s| s.parse())?;
    let count: u64 = args.get(2).map_or(Ok(8), |s| s.parse())?;
    let dir = std::path::PathBuf::from(args.get(3).map_or("/tmp/synth", String::as_str));
    std::fs::create_dir_all(&dir)?;
    let options = SynthOptions::default();
    let t = std::time::Instant::now();
    // Every frame's hand view, 240×240, four to a row: one PNG to look at many poses.
    let mut tiles: Vec<Vec<u8>> = Vec::new();
    for index in 0..count {
        let frame = generate(seed, index, &options);
        let (w, h) = (frame.depth.width(), frame.depth.height());
        let d = frame.depth.values();
        let near = d
            .iter()
            .copied()
            .filter(|&z| z > 0.0)
            .fold(f32::MAX, f32::min);
        let mut rgb = vec![0u8; w * h * 3];
        for (i, &z) in d.iter().enumerate() {
            let px = &mut rgb[i * 3..i * 3 + 3];
            if z == 0.0 {
                continue;
            }
            let t = (z - near) / 400.0;
            if t <= 1.0 {
                let g = (255.0 - 200.0 * t) as u8;
                px.copy_from_slice(&[g, g, g]);
            } else {
                px.copy_from_slice(&[20, 20, 70]);
            }
        }
        for (j, p) in frame.joints_uvd.iter().enumerate() {
            let colour = match j {
                32 => [255, 255, 255],
                30.. => [0, 220, 220],
                24..30 => [0, 220, 0],
                _ if j % 6 == 0 => [255, 0, 0],
                _ => [230, 200, 0],
            };
            let (u, v) = (p.x.round() as i64, p.y.round() as i64);
            for dv in -1..=1 {
                for du in -1..=1 {
                    let (x, y) = (u + du, v + dv);
                    if x >= 0 && y >= 0 && (x as usize) < w && (y as usize) < h {
                        let i = (y as usize * w + x as usize) * 3;
                        rgb[i..i + 3].copy_from_slice(&colour);
                    }
                }
            }
        }
        // Right of the frame: a 480×480 view of the 300 mm cube around PALM_3 (what the
        // network's crop sees), depth from z_c − 150 (white) to z_c + 150 (dark).
        let c = frame.joints_uvd[32];
        let half_px = 150.0 * options.intrinsics.fx as f32 / c.z;
        let (cw, out_w) = (480usize, w + 480);
        let mut out = vec![0u8; out_w * h * 3];
        for y in 0..h {
            out[y * out_w * 3..(y * out_w + w) * 3]
                .copy_from_slice(&rgb[y * w * 3..(y + 1) * w * 3]);
            for x in 0..cw {
                let u = c.x - half_px + (x as f32 + 0.5) / cw as f32 * 2.0 * half_px;
                let v = c.y - half_px + (y as f32 + 0.5) / h as f32 * 2.0 * half_px;
                let z = frame
                    .depth
                    .get(u.floor() as i64, v.floor() as i64)
                    .unwrap_or(0.0);
                let t = (z - (c.z - 150.0)) / 300.0;
                let g = if z == 0.0 || !(0.0..=1.0).contains(&t) {
                    [10, 10, 40]
                } else {
                    let g = (255.0 - 215.0 * t) as u8;
                    [g, g, g]
                };
                let i = (y * out_w + w + x) * 3;
                out[i..i + 3].copy_from_slice(&g);
            }
        }
        for (j, p) in frame.joints_uvd.iter().enumerate() {
            let x = ((p.x - c.x + half_px) / (2.0 * half_px) * cw as f32) as i64;
            let y = ((p.y - c.y + half_px) / (2.0 * half_px) * h as f32) as i64;
            let colour = if j == 32 {
                [255, 255, 255]
            } else if j >= 30 {
                [0, 220, 220]
            } else if j >= 24 {
                [0, 200, 0]
            } else if j % 6 == 0 {
                [255, 0, 0]
            } else {
                [230, 180, 0]
            };
            for dy in -2..=2i64 {
                for dx in -2..=2i64 {
                    let (xx, yy) = (x + dx, y + dy);
                    if xx >= 0 && yy >= 0 && (xx as usize) < cw && (yy as usize) < h {
                        let i = (yy as usize * out_w + w + xx as usize) * 3;
                        out[i..i + 3].copy_from_slice(&colour);
                    }
                }
            }
        }
        let mut tile = vec![0u8; 240 * 240 * 3];
        for y in 0..240 {
            for x in 0..240 {
                let i = (y * 2 * out_w + w + x * 2) * 3;
                tile[(y * 240 + x) * 3..(y * 240 + x) * 3 + 3].copy_from_slice(&out[i..i + 3]);
            }
        }
        tiles.push(tile);
        let path = dir.join(format!("synth_{seed}_{index:04}.png"));
        let mut enc = png::Encoder::new(
            BufWriter::new(std::fs::File::create(&path)?),
            out_w as u32,
            h as u32,
        );
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.write_header()?.write_image_data(&out)?;
        println!(
            "{} (palm at {:.0} mm)",
            path.display(),
            frame.joints_xyz[32].z
        );
    }
    println!(
        "{:.2} ms/frame with PNG output",
        t.elapsed().as_secs_f64() * 1000.0 / count as f64
    );
    let rows = tiles.len().div_ceil(4);
    let mut montage = vec![0u8; 960 * 240 * rows * 3];
    for (n, tile) in tiles.iter().enumerate() {
        let (tx, ty) = (n % 4 * 240, n / 4 * 240);
        for y in 0..240 {
            let i = ((ty + y) * 960 + tx) * 3;
            montage[i..i + 720].copy_from_slice(&tile[y * 720..(y + 1) * 720]);
        }
    }
    let path = dir.join(format!("montage_{seed}.png"));
    let mut enc = png::Encoder::new(
        BufWriter::new(std::fs::File::create(&path)?),
        960,
        (240 * rows) as u32,
    );
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header()?.write_image_data(&montage)?;
    println!("{}", path.display());
    // Generation alone, without the PNG work.
    let n = 100;
    let t = std::time::Instant::now();
    for index in 0..n {
        std::hint::black_box(generate(seed, 10_000 + index, &options));
    }
    println!(
        "{:.2} ms/frame for generate() alone ({n} frames, one thread)",
        t.elapsed().as_secs_f64() * 1000.0 / n as f64
    );
    Ok(())
}
