//! The hand's skin: one smooth surface over the solids of the hand and forearm.
//!
//! Drawn solid by solid ([`render::rasterize`]), a hand is a union of capsules and ellipsoids
//! with a crease wherever two meet: a finger stands on the palm like a peg, the thenar pad ends
//! in a ridge, the wrist is a step. A depth camera sees a real hand's skin run over those
//! places in fillets: the webs between the fingers, soft tissue around the knuckles and the
//! heel of the hand. Here every solid has a signed distance function and the skin is the zero
//! set of their smooth minimum (the quadratic `smin` with blend width `k`): two surfaces closer
//! than `k` merge in a fillet, and nowhere is the skin more than `k/4` outside the plain union.
//! Joints, which lie inside the solids, stay inside the skin.
//!
//! The skin is found per pixel by sphere tracing along the pixel's ray, which needs only a
//! distance bound, not an intersection formula. To keep it fast a pixel evaluates only the
//! solids whose box, grown by `k`, covers it (lists per 16×16 tile), and starts just in front of
//! the plain union's exact depth, since the skin is never behind it: a few steps reach it. Near
//! the skin a ray steps at least [`HIT_MM`] and the step that lands inside is bisected, so the
//! depth found is where the ray enters the zero set (bisected to `HIT_MM`, then interpolated),
//! also for grazing rays and for the ellipsoid, whose distance is an estimate rather than a
//! bound. The distances are in `distance.rs`.
//!
//! [`render::rasterize`]: super::render::rasterize

use glam::Vec3;

use super::distance::{Distance, smin};
use super::render::{Primitive, pixel_box, rasterize};
use crate::data::Intrinsics;

/// Side of the square pixel tiles that share one list of candidate solids.
const TILE: usize = 16;
/// The least step (mm) a ray takes near the skin; its crossing is then bisected to this
/// and interpolated.
pub const HIT_MM: f32 = 0.02;
/// At most this many sphere-tracing steps per pixel; a ray that grazes the skin this long
/// without entering it counts as a hit if it is within half a millimetre.
const MAX_STEPS: usize = 128;

/// A solid's box grown by the blend width: the pixels `(u0, u1, v0, v1)` it covers, inclusive,
/// and its nearest and farthest z.
#[derive(Debug, Clone, Copy)]
struct Grown {
    pixels: (usize, usize, usize, usize),
    near: f32,
    far: f32,
}

/// Draws the skin over `parts` (each solid with the label its pixels get) into `zbuf` and
/// `labels` as [`rasterize`] does: nearest surface wins, `zbuf` holds z in mm (∞ where
/// nothing), and a pixel the skin wins takes the label of the solid nearest the hit. `blend`
/// is the width `k` of the fillets (mm); `blend = 0` gives the plain union.
pub fn draw(
    parts: &[(Primitive, u8)],
    blend: f32,
    k: &Intrinsics,
    width: usize,
    height: usize,
    zbuf: &mut [f32],
    labels: &mut [u8],
) {
    assert_eq!(zbuf.len(), width * height, "depth buffer size");
    assert_eq!(labels.len(), width * height, "label buffer size");
    if blend <= 0.0 {
        for (prim, label) in parts {
            rasterize(
                std::slice::from_ref(prim),
                *label,
                k,
                width,
                height,
                zbuf,
                labels,
            );
        }
        return;
    }
    // The plain union's exact depth: where the march starts.
    let prims: Vec<Primitive> = parts.iter().map(|(p, _)| *p).collect();
    let mut plain = vec![f32::INFINITY; width * height];
    let mut scratch = vec![0u8; width * height];
    rasterize(&prims, 0, k, width, height, &mut plain, &mut scratch);
    let reach = within_reach(&plain, blend, k, width, height);

    // Every solid's box grown by the blend width, in pixels and in z.
    let grown: Vec<Option<Grown>> = prims
        .iter()
        .map(|p| {
            let (lo, hi) = p.bounds();
            let (lo, hi) = (lo - blend, hi + blend);
            pixel_box((lo, hi), k, width, height).map(|pixels| Grown {
                pixels,
                near: lo.z,
                far: hi.z,
            })
        })
        .collect();
    let Some(origin) = grown
        .iter()
        .zip(&prims)
        .filter(|(g, _)| g.is_some())
        .map(|(_, p)| {
            let (lo, hi) = p.bounds();
            (lo + hi) * 0.5
        })
        .reduce(|a, b| a + b)
        .map(|sum| sum / grown.iter().flatten().count() as f32)
    else {
        return;
    };
    let distances: Vec<Distance> = prims.iter().map(|p| Distance::new(p, origin)).collect();

    let (tiles_x, tiles_y) = (width.div_ceil(TILE), height.div_ceil(TILE));
    let mut tiles: Vec<Vec<u16>> = vec![Vec::new(); tiles_x * tiles_y];
    for (j, g) in grown.iter().enumerate() {
        if let Some(Grown {
            pixels: (u0, u1, v0, v1),
            ..
        }) = *g
        {
            for ty in v0 / TILE..=v1 / TILE {
                for tx in u0 / TILE..=u1 / TILE {
                    tiles[ty * tiles_x + tx].push(j as u16);
                }
            }
        }
    }

    let mut candidates: Vec<usize> = Vec::with_capacity(parts.len());
    let mut at_start: Vec<f32> = Vec::with_capacity(parts.len());
    for ty in 0..tiles_y {
        for tx in 0..tiles_x {
            let list = &tiles[ty * tiles_x + tx];
            if list.is_empty() {
                continue;
            }
            for v in ty * TILE..((ty + 1) * TILE).min(height) {
                for u in tx * TILE..((tx + 1) * TILE).min(width) {
                    let i = v * width + u;
                    if !reach[i] {
                        continue;
                    }
                    candidates.clear();
                    let (mut near, mut far) = (f32::INFINITY, f32::NEG_INFINITY);
                    for &j in list {
                        let j = j as usize;
                        let g = grown[j].expect("listed solids have a box");
                        let (u0, u1, v0, v1) = g.pixels;
                        if (u0..=u1).contains(&u) && (v0..=v1).contains(&v) {
                            candidates.push(j);
                            near = near.min(g.near);
                            far = far.max(g.far);
                        }
                    }
                    if candidates.is_empty() {
                        continue;
                    }
                    let ray = Vec3::new(
                        ((u as f64 - k.cx) / k.fx) as f32,
                        ((k.cy - v as f64) / k.fy) as f32,
                        1.0,
                    );
                    let ray_len = ray.length();
                    let eval = |j: usize, z: f32| distances[j].at(ray * z - origin);
                    // Where the plain union is hit, start just in front of it. The skin is
                    // entered within `travel` of there, where only solids within `1.25·blend
                    // + travel` of the start can be within `blend` of the nearest (which is at
                    // most blend/4 away on the skin): the others leave the skin's value there
                    // unchanged and are dropped, which saves most of the work.
                    let mut start = near;
                    if plain[i].is_finite() {
                        // Just in front (as far as the fillets reach along a frontal ray),
                        // else further, if the ray is already inside the skin there.
                        for ahead in [0.3 * blend + 0.5, blend + 1.0] {
                            let s = (plain[i] - ahead).max(near);
                            at_start.clear();
                            at_start.extend(candidates.iter().map(|&j| eval(j, s)));
                            let d = at_start
                                .iter()
                                .fold(f32::INFINITY, |d, &dj| smin(d, dj, blend));
                            if d > 0.0 {
                                start = s;
                                let keep = 1.25 * blend + (plain[i] - s) * ray_len;
                                let mut n = 0;
                                for c in 0..candidates.len() {
                                    if at_start[c] <= keep {
                                        candidates[n] = candidates[c];
                                        n += 1;
                                    }
                                }
                                candidates.truncate(n);
                                break;
                            }
                        }
                    }
                    let skin = |z: f32| {
                        let p = ray * z - origin;
                        let mut d = f32::INFINITY;
                        let (mut nearest, mut best) = (candidates[0], f32::INFINITY);
                        for &j in &candidates {
                            let dj = distances[j].at(p);
                            if dj < best {
                                (nearest, best) = (j, dj);
                            }
                            d = smin(d, dj, blend);
                        }
                        (d, nearest)
                    };
                    if let Some((z, j)) = march(&skin, ray_len, start, near, far)
                        && z > 0.0
                        && z < zbuf[i]
                    {
                        zbuf[i] = z;
                        labels[i] = parts[j].1;
                    }
                }
            }
        }
    }
}

/// Which pixels the skin may cover: those of the plain union and those within the fillets'
/// reach of one (the skin is at most `blend/4` outside the union, a few pixels at the nearest
/// depth drawn). Every other pixel of the solids' boxes is skipped without a march.
fn within_reach(
    plain: &[f32],
    blend: f32,
    k: &Intrinsics,
    width: usize,
    height: usize,
) -> Vec<bool> {
    let nearest = plain.iter().copied().fold(f32::INFINITY, f32::min);
    if !nearest.is_finite() {
        return vec![false; width * height];
    }
    let mm_per_px = nearest as f64 / k.fx.min(k.fy);
    let r = (0.25 * blend as f64 / mm_per_px).ceil() as usize + 1;
    // A square max filter, rows then columns.
    let mut rows = vec![false; width * height];
    for v in 0..height {
        let hit = &plain[v * width..(v + 1) * width];
        for u in 0..width {
            let (a, b) = (u.saturating_sub(r), (u + r).min(width - 1));
            rows[v * width + u] = hit[a..=b].iter().any(|z| z.is_finite());
        }
    }
    let mut out = vec![false; width * height];
    for v in 0..height {
        let (a, b) = (v.saturating_sub(r), (v + r).min(height - 1));
        for u in 0..width {
            out[v * width + u] = (a..=b).any(|w| rows[w * width + u]);
        }
    }
    out
}

/// Sphere-traces `skin` (distance and nearest solid at depth z) along a ray of length
/// `ray_len` per unit of z, from `start` (or from `near` if `start` is already inside) to
/// `far`; returns the depth of the skin and the solid nearest it.
fn march(
    skin: &impl Fn(f32) -> (f32, usize),
    ray_len: f32,
    start: f32,
    near: f32,
    far: f32,
) -> Option<(f32, usize)> {
    let mut z = start;
    let (mut d, mut j) = skin(z);
    if d <= 0.0 && start > near {
        z = near;
        (d, j) = skin(z);
    }
    if d <= 0.0 {
        // The ray starts inside: nothing in front of `near` to draw it against.
        return Some((z, j));
    }
    for _ in 0..MAX_STEPS {
        // Near the skin, steps of at least HIT_MM until one lands inside: a grazing ray's
        // bound shrinks without the ray entering, and only a sign change says where it does.
        let next = z + d.max(HIT_MM) / ray_len;
        if next > far {
            return None;
        }
        let (dn, jn) = skin(next);
        if dn < 0.0 {
            // The skin is between z and next: bisect to HIT_MM, then interpolate.
            let (mut lo, mut hi, mut found) = ((z, d), (next, dn), jn);
            while (hi.0 - lo.0) * ray_len > HIT_MM {
                let mid = 0.5 * (lo.0 + hi.0);
                let (dm, jm) = skin(mid);
                if dm < 0.0 {
                    (hi, found) = ((mid, dm), jm);
                } else {
                    lo = (mid, dm);
                }
            }
            let t = lo.1 / (lo.1 - hi.1);
            return Some((lo.0 + t * (hi.0 - lo.0), found));
        }
        (z, d, j) = (next, dn, jn);
    }
    (d < 0.5).then_some((z, j))
}

#[cfg(test)]
mod tests {
    use super::*;
    use glam::{DVec3, Mat3};

    const K: Intrinsics = Intrinsics::NYU;
    const W: usize = 640;
    const H: usize = 480;

    fn plain(parts: &[(Primitive, u8)]) -> (Vec<f32>, Vec<u8>) {
        let mut z = vec![f32::INFINITY; W * H];
        let mut l = vec![0u8; W * H];
        for (p, label) in parts {
            rasterize(std::slice::from_ref(p), *label, &K, W, H, &mut z, &mut l);
        }
        (z, l)
    }

    fn skin(parts: &[(Primitive, u8)], blend: f32) -> (Vec<f32>, Vec<u8>) {
        let mut z = vec![f32::INFINITY; W * H];
        let mut l = vec![0u8; W * H];
        draw(parts, blend, &K, W, H, &mut z, &mut l);
        (z, l)
    }

    /// A finger on a palm: a tapered capsule leaving a flat ellipsoid, and a ball beside them;
    /// tilted so that every solid is seen at an angle.
    fn hand_like() -> Vec<(Primitive, u8)> {
        let tilt = Mat3::from_rotation_x(0.5) * Mat3::from_rotation_y(-0.3);
        let at = |x: f32, y: f32, z: f32| tilt * Vec3::new(x, y, z) + Vec3::new(13.0, -21.0, 700.0);
        vec![
            (
                Primitive::Ellipsoid {
                    centre: at(0.0, 0.0, 0.0),
                    axes: tilt,
                    radii: Vec3::new(37.0, 41.0, 13.0),
                },
                1,
            ),
            (
                Primitive::RoundCone {
                    a: at(9.0, 33.0, 0.0),
                    b: at(13.0, 81.0, 3.0),
                    ra: 9.5,
                    rb: 7.3,
                },
                1,
            ),
            (
                Primitive::Sphere {
                    centre: at(-41.0, 44.0, 2.0),
                    radius: 11.0,
                },
                2,
            ),
        ]
    }

    /// One solid alone: the skin is its exact surface (no other solid to blend with), every
    /// solid kind, seen at an angle; pixels may differ only on the silhouette.
    #[test]
    fn a_lone_solid_is_drawn_exactly() {
        for (prim, _) in hand_like() {
            let (want, _) = plain(&[(prim, 1)]);
            let (got, labels) = skin(&[(prim, 1)], 6.0);
            let mut covered = 0;
            let mut differ = 0;
            for i in 0..W * H {
                match (want[i].is_finite(), got[i].is_finite()) {
                    (true, true) => {
                        covered += 1;
                        assert!(
                            (want[i] - got[i]).abs() < 0.05,
                            "{prim:?} pixel {i}: {} vs {}",
                            want[i],
                            got[i]
                        );
                        assert_eq!(labels[i], 1);
                    }
                    (false, false) => {}
                    _ => differ += 1,
                }
            }
            assert!(covered > 200, "{prim:?} covers {covered} pixels");
            assert!(
                differ * 50 < covered,
                "{prim:?}: {differ} of {covered} pixels disagree"
            );
        }
    }

    /// The sphere's skin against its analytic depth in f64 (not only against the rasterizer).
    #[test]
    fn a_sphere_matches_its_analytic_depth() {
        let (c, r) = (DVec3::new(-30.0, 17.0, 640.0), 33.0);
        let (z, _) = skin(
            &[(
                Primitive::Sphere {
                    centre: c.as_vec3(),
                    radius: r as f32,
                },
                1,
            )],
            5.0,
        );
        let mut checked = 0;
        for v in 0..H {
            for u in 0..W {
                let d = DVec3::new((u as f64 - K.cx) / K.fx, (K.cy - v as f64) / K.fy, 1.0);
                let (a, b, cc) = (d.dot(d), -2.0 * d.dot(c), c.dot(c) - r * r);
                let disc = b * b - 4.0 * a * cc;
                // Well inside the silhouette (the ray passes within 0.8 r of the centre),
                // where the hit is not grazing.
                let miss = (c - d * (c.dot(d) / a)).length();
                if miss < 0.8 * r {
                    let want = (-b - disc.sqrt()) / (2.0 * a);
                    let got = z[v * W + u] as f64;
                    assert!((got - want).abs() < 0.05, "({u}, {v}): {got} vs {want}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 1000, "{checked}");
    }

    /// Several solids: the skin is never behind the plain union and never more than k/4 (plus
    /// the hit tolerance) in front of it along the surface normal; where solids meet it fills
    /// the crease (some pixel is clearly nearer), far from any seam it is the union itself, and
    /// with blend 0 it is the union exactly.
    #[test]
    fn the_skin_fills_creases_and_nothing_else() {
        let parts = hand_like();
        let (union, union_labels) = plain(&parts);
        let blend = 8.0;
        let (got, labels) = skin(&parts, blend);
        let (mut filled, mut same, mut grown) = (0, 0, 0);
        for i in 0..W * H {
            if union[i].is_finite() {
                assert!(
                    got[i] <= union[i] + 0.05,
                    "pixel {i} behind the union: {} vs {}",
                    got[i],
                    union[i]
                );
                let nearer = union[i] - got[i];
                if nearer > 1.0 {
                    filled += 1;
                } else if nearer.abs() < 0.05 {
                    same += 1;
                    assert_eq!(labels[i], union_labels[i], "pixel {i}");
                }
            } else if got[i].is_finite() {
                grown += 1;
            }
        }
        assert!(filled > 50, "the creases are filled at {filled} pixels");
        assert!(
            same > 10 * filled,
            "{same} pixels unchanged against {filled} filled"
        );
        // The fillets widen the silhouette a little at the seams, nowhere else.
        assert!(grown > 0 && grown < filled, "{grown} new pixels");
        let (zero, zero_labels) = skin(&parts, 0.0);
        assert_eq!(zero, union);
        assert_eq!(zero_labels, union_labels);
    }
}
