//! Z-buffer rasterization of the solid primitives a synthetic scene is made of.
//!
//! Each primitive is drawn over the pixels of its own projected bounding box only: the eight
//! corners of its camera-space bounding box are projected (all in front of the camera, so the
//! projected hull of the box covers the projected solid), and every pixel in that rectangle
//! casts its ray from the camera centre through the pixel and intersects that one primitive
//! exactly. The nearest depth wins. Pixel `(u, v)` looks along `((u − cx)/fx, (cy − v)/fy, 1)`,
//! the same convention as [`Intrinsics::uvd_to_xyz`], so a joint's projected `(u, v)` and the
//! depth found at that pixel refer to the same ray.
//!
//! The intersection maths runs in `f64` with the ray origin shifted next to the primitive
//! before solving the quadratic: at 1 m, `|c|² − r²` in `f32` would lose the millimetres.

use glam::{DMat3, DVec3, Mat3, Vec3};

use crate::data::Intrinsics;

/// A solid the scene is built from, in camera space (millimetres, y up, z away from the camera).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Primitive {
    /// A ball.
    Sphere {
        /// Centre.
        centre: Vec3,
        /// Radius.
        radius: f32,
    },
    /// The convex hull of two balls (a tapered capsule): a finger segment, a forearm.
    RoundCone {
        /// Centre of the first ball.
        a: Vec3,
        /// Centre of the second ball.
        b: Vec3,
        /// Radius at `a`.
        ra: f32,
        /// Radius at `b`.
        rb: f32,
    },
    /// An ellipsoid with semi-axes `radii` along the (orthonormal) columns of `axes`.
    Ellipsoid {
        /// Centre.
        centre: Vec3,
        /// Orthonormal axes, as columns.
        axes: Mat3,
        /// Semi-axis lengths along the columns of `axes`.
        radii: Vec3,
    },
}

impl Primitive {
    /// The axis-aligned bounding box, `(min, max)`.
    pub fn bounds(&self) -> (Vec3, Vec3) {
        match *self {
            Primitive::Sphere { centre, radius } => (centre - radius, centre + radius),
            Primitive::RoundCone { a, b, ra, rb } => ((a - ra).min(b - rb), (a + ra).max(b + rb)),
            Primitive::Ellipsoid {
                centre,
                axes,
                radii,
            } => {
                // Half-extent along world axis i: the length of row i of axes·diag(radii).
                let m = axes * Mat3::from_diagonal(radii);
                let half = Vec3::new(m.row(0).length(), m.row(1).length(), m.row(2).length());
                (centre - half, centre + half)
            }
        }
    }

    fn prepare(&self) -> Prepared {
        match *self {
            Primitive::Sphere { centre, radius } => Prepared::Sphere {
                c: centre.as_dvec3(),
                r: radius as f64,
            },
            Primitive::RoundCone { a, b, ra, rb } => {
                let (a, b, ra, rb) = (a.as_dvec3(), b.as_dvec3(), ra as f64, rb as f64);
                let len = (b - a).length();
                if len <= (ra - rb).abs() {
                    // One ball contains the other: the hull is the bigger ball.
                    return if ra >= rb {
                        Prepared::Sphere { c: a, r: ra }
                    } else {
                        Prepared::Sphere { c: b, r: rb }
                    };
                }
                let sin = (ra - rb) / len;
                Prepared::RoundCone {
                    a,
                    b,
                    ra,
                    rb,
                    axis: (b - a) / len,
                    len,
                    sin,
                    cos2: 1.0 - sin * sin,
                }
            }
            Primitive::Ellipsoid {
                centre,
                axes,
                radii,
            } => {
                let inv = DMat3::from_diagonal(1.0 / radii.as_dvec3());
                // Maps a camera-space vector into the ellipsoid's unit-sphere space.
                let to_unit = inv * axes.as_dmat3().transpose();
                Prepared::Ellipsoid {
                    origin: to_unit * -centre.as_dvec3(),
                    to_unit,
                }
            }
        }
    }
}

/// A primitive with what every pixel's intersection needs precomputed.
enum Prepared {
    Sphere {
        c: DVec3,
        r: f64,
    },
    RoundCone {
        a: DVec3,
        b: DVec3,
        ra: f64,
        rb: f64,
        axis: DVec3,
        len: f64,
        sin: f64,
        cos2: f64,
    },
    Ellipsoid {
        /// The camera centre in unit-sphere space.
        origin: DVec3,
        to_unit: DMat3,
    },
}

/// Distance along the unit ray `dir` (from the origin) to where it enters the ball, if it does.
fn ray_sphere(dir: DVec3, c: DVec3, r: f64) -> Option<f64> {
    let tc = c.dot(dir);
    let perp = c - dir * tc;
    let h2 = r * r - perp.length_squared();
    (h2 >= 0.0).then(|| tc - h2.sqrt())
}

impl Prepared {
    /// Distance along the unit ray `dir` from the camera centre to the first surface hit.
    fn hit(&self, dir: DVec3) -> Option<f64> {
        match *self {
            Prepared::Sphere { c, r } => ray_sphere(dir, c, r),
            Prepared::RoundCone {
                a,
                b,
                ra,
                rb,
                axis,
                len,
                sin,
                cos2,
            } => {
                // The hull is convex and made of the two balls' caps and a cone band tangent to
                // both; the entry point is the nearest hit over the three pieces.
                let mut best = ray_sphere(dir, a, ra);
                let hb = ray_sphere(dir, b, rb);
                if let Some(t) = hb {
                    best = Some(best.map_or(t, |s| s.min(t)));
                }
                // Cone band: h·sin + ρ·cos = ra, h the axial and ρ the radial coordinate from
                // `a`, for h in [ra·sin, len + rb·sin] (the tangent circles). The ray is
                // parametrised from its point nearest `a` (t = ta + s), so w ⟂ dir.
                let ta = a.dot(dir);
                let w = dir * ta - a;
                let h0 = w.dot(axis);
                let hd = dir.dot(axis);
                let k = ra - sin * h0;
                let qa = cos2 - hd * hd;
                let qb = 2.0 * (k * sin * hd - cos2 * h0 * hd);
                let qc = cos2 * (w.length_squared() - h0 * h0) - k * k;
                let (lo, hi) = (ra * sin, len + rb * sin);
                let mut consider = |s: f64| {
                    let h = h0 + s * hd;
                    if (lo..=hi).contains(&h) {
                        let t = ta + s;
                        best = Some(best.map_or(t, |b: f64| b.min(t)));
                    }
                };
                if qa.abs() > 1e-12 {
                    let disc = qb * qb - 4.0 * qa * qc;
                    if disc >= 0.0 {
                        let sq = disc.sqrt();
                        consider((-qb - sq) / (2.0 * qa));
                        consider((-qb + sq) / (2.0 * qa));
                    }
                } else if qb.abs() > 1e-12 {
                    consider(-qc / qb);
                }
                best
            }
            Prepared::Ellipsoid { origin, to_unit } => {
                // In unit-sphere space the ray is origin + t·d (same t as in camera space).
                let d = to_unit * dir;
                let dd = d.length_squared();
                let tc = -origin.dot(d) / dd;
                let perp = origin + d * tc;
                let h2 = (1.0 - perp.length_squared()) / dd;
                (h2 >= 0.0).then(|| tc - h2.sqrt())
            }
        }
    }
}

/// Where the camera-space box `(lo, hi)` covers the image: a pixel rectangle `(u0, u1, v0,
/// v1)`, inclusive, clipped to the image.
pub(super) fn pixel_box(
    (lo, hi): (Vec3, Vec3),
    k: &Intrinsics,
    width: usize,
    height: usize,
) -> Option<(usize, usize, usize, usize)> {
    // Primitives reaching behind the camera plane are not part of any scene we build.
    if lo.z <= 1.0 {
        return None;
    }
    let (mut u0, mut u1, mut v0, mut v1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for i in 0..8 {
        let x = if i & 1 == 0 { lo.x } else { hi.x } as f64;
        let y = if i & 2 == 0 { lo.y } else { hi.y } as f64;
        let z = if i & 4 == 0 { lo.z } else { hi.z } as f64;
        let u = k.cx + x * k.fx / z;
        let v = k.cy - y * k.fy / z;
        (u0, u1, v0, v1) = (u0.min(u), u1.max(u), v0.min(v), v1.max(v));
    }
    let (u0, v0) = (u0.floor().max(0.0), v0.floor().max(0.0));
    let (u1, v1) = (
        u1.ceil().min(width as f64 - 1.0),
        v1.ceil().min(height as f64 - 1.0),
    );
    (u0 <= u1 && v0 <= v1).then_some((u0 as usize, u1 as usize, v0 as usize, v1 as usize))
}

/// Draws `prims` into the depth buffer `zbuf` (row-major `width × height`, millimetres of z,
/// `f32::INFINITY` where nothing has been drawn), keeping the nearest surface per pixel. Where
/// a primitive wins a pixel, `labels` (same size) gets `label`.
pub fn rasterize(
    prims: &[Primitive],
    label: u8,
    k: &Intrinsics,
    width: usize,
    height: usize,
    zbuf: &mut [f32],
    labels: &mut [u8],
) {
    assert_eq!(zbuf.len(), width * height, "depth buffer size");
    assert_eq!(labels.len(), width * height, "label buffer size");
    for prim in prims {
        let Some((u0, u1, v0, v1)) = pixel_box(prim.bounds(), k, width, height) else {
            continue;
        };
        let prepared = prim.prepare();
        for v in v0..=v1 {
            let y = (k.cy - v as f64) / k.fy;
            for u in u0..=u1 {
                let ray = DVec3::new((u as f64 - k.cx) / k.fx, y, 1.0);
                let inv_len = 1.0 / ray.length();
                if let Some(t) = prepared.hit(ray * inv_len) {
                    // z of the hit: the unnormalized ray has z = 1.
                    let z = (t * inv_len) as f32;
                    let i = v * width + u;
                    if z > 0.0 && z < zbuf[i] {
                        zbuf[i] = z;
                        labels[i] = label;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: Intrinsics = Intrinsics::NYU;

    fn draw(prim: Primitive) -> Vec<f32> {
        let mut z = vec![f32::INFINITY; 640 * 480];
        let mut l = vec![0u8; 640 * 480];
        rasterize(&[prim], 1, &K, 640, 480, &mut z, &mut l);
        z
    }

    /// The analytic depth of a sphere along a pixel's ray.
    fn sphere_depth(u: usize, v: usize, c: DVec3, r: f64) -> Option<f64> {
        let d = DVec3::new((u as f64 - K.cx) / K.fx, (K.cy - v as f64) / K.fy, 1.0);
        // |t·d − c|² = r², t is z since d.z = 1.
        let (a, b, cc) = (d.dot(d), -2.0 * d.dot(c), c.dot(c) - r * r);
        let disc = b * b - 4.0 * a * cc;
        (disc >= 0.0).then(|| (-b - disc.sqrt()) / (2.0 * a))
    }

    #[test]
    fn sphere_matches_analytic_depth() {
        let c = DVec3::new(-60.0, 35.0, 800.0);
        let z = draw(Primitive::Sphere {
            centre: c.as_vec3(),
            radius: 40.0,
        });
        let mut covered = 0;
        for v in 0..480 {
            for u in 0..640 {
                let got = z[v * 640 + u];
                match sphere_depth(u, v, c, 40.0) {
                    Some(want) => {
                        covered += 1;
                        assert!(
                            (got as f64 - want).abs() < 1e-3,
                            "({u}, {v}): {got} vs {want}"
                        );
                    }
                    None => assert!(got.is_infinite(), "({u}, {v}) drawn outside the sphere"),
                }
            }
        }
        // π·(40·588/800)² ≈ 2700 pixels.
        assert!((2400..3100).contains(&covered), "{covered}");
        let (u, v) = (
            (K.cx + c.x * K.fx / c.z).round() as usize,
            (K.cy - c.y * K.fy / c.z).round() as usize,
        );
        assert!((z[v * 640 + u] - 760.0).abs() < 0.5, "{}", z[v * 640 + u]);
    }

    #[test]
    fn round_cone_is_the_hull_of_its_balls() {
        let (a, b) = (Vec3::new(0.0, -50.0, 700.0), Vec3::new(30.0, 60.0, 760.0));
        let cone = draw(Primitive::RoundCone {
            a,
            b,
            ra: 20.0,
            rb: 10.0,
        });
        let balls = [(a, 20.0), (b, 10.0)].map(|(c, r)| {
            draw(Primitive::Sphere {
                centre: c,
                radius: r,
            })
        });
        let mut band = 0;
        for i in 0..cone.len() {
            let ball = balls[0][i].min(balls[1][i]);
            // Every pixel of either ball is covered, never behind the ball's front.
            assert!(
                cone[i] <= ball + 1e-3,
                "pixel {i}: {} behind {ball}",
                cone[i]
            );
            if cone[i].is_finite() && ball.is_infinite() {
                band += 1;
                assert!((675.0..770.0).contains(&cone[i]), "{}", cone[i]);
            }
        }
        assert!(band > 500, "the band between the balls is drawn: {band}");
        // A cylinder's silhouette centre line: the depth is the axis depth minus the radius.
        let cyl = draw(Primitive::RoundCone {
            a: Vec3::new(0.0, -100.0, 600.0),
            b: Vec3::new(0.0, 100.0, 600.0),
            ra: 15.0,
            rb: 15.0,
        });
        assert!((cyl[240 * 640 + 320] - 585.0).abs() < 1e-3);
        assert!((cyl[200 * 640 + 320] - 585.0).abs() < 1e-2);
    }

    #[test]
    fn ellipsoid_front_and_extent() {
        let axes = Mat3::from_rotation_z(0.5);
        let z = draw(Primitive::Ellipsoid {
            centre: Vec3::new(0.0, 0.0, 900.0),
            axes,
            radii: Vec3::new(60.0, 20.0, 10.0),
        });
        assert!((z[240 * 640 + 320] - 890.0).abs() < 1e-3);
        // Along its long axis (rotated 0.5 rad from +x) it reaches ~60 mm, ≈ 39 px at 900 mm.
        let along = |px: f32| {
            let (u, v) = (320.0 + px * 0.5f32.cos(), 240.0 - px * 0.5f32.sin());
            z[v.round() as usize * 640 + u.round() as usize]
        };
        assert!(along(34.0).is_finite() && along(42.0).is_infinite());
    }
}
