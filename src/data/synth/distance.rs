//! Signed distances of the solids a synthetic hand is made of, and their smooth minimum: what
//! [`skin`](super::skin) sphere-traces.

use glam::{Mat3, Vec3};

use super::render::Primitive;

/// A solid's signed distance in f32, positions relative to the skin's origin (near the hand, so
/// that f32 keeps hundredths of a millimetre).
#[derive(Debug, Clone, Copy)]
pub(super) enum Distance {
    Sphere {
        c: Vec3,
        r: f32,
    },
    /// The convex hull of two balls, in the axial (`y`) and radial (`x`) coordinates of its
    /// axis: the side is the line `y·sin + x·cos = ra`, tangent to both balls, and a point is
    /// nearest the side while its coordinate along that line, `y·cos − x·sin`, lies within
    /// `0 ..= len·cos`; before it ball `a` is nearest, after it ball `b`.
    RoundCone {
        a: Vec3,
        b: Vec3,
        axis: Vec3,
        len: f32,
        ra: f32,
        rb: f32,
        sin: f32,
        cos: f32,
    },
    /// `k0·(k0 − 1)/k1` with `k0 = |q|`, `k1 = |q / r|` and `q` the point in unit-sphere
    /// space: exact on the surface, a close estimate near it.
    Ellipsoid {
        c: Vec3,
        to_unit: Mat3,
        inv_radii: Vec3,
        min_radius: f32,
    },
}

impl Distance {
    pub(super) fn new(prim: &Primitive, origin: Vec3) -> Distance {
        match *prim {
            Primitive::Sphere { centre, radius } => Distance::Sphere {
                c: centre - origin,
                r: radius,
            },
            Primitive::RoundCone { a, b, ra, rb } => {
                let len = (b - a).length();
                if len <= (ra - rb).abs() {
                    // One ball holds the other: the hull is the bigger ball.
                    let (c, r) = if ra >= rb { (a, ra) } else { (b, rb) };
                    return Distance::Sphere { c: c - origin, r };
                }
                let sin = (ra - rb) / len;
                Distance::RoundCone {
                    a: a - origin,
                    b: b - origin,
                    axis: (b - a) / len,
                    len,
                    ra,
                    rb,
                    sin,
                    cos: (1.0 - sin * sin).sqrt(),
                }
            }
            Primitive::Ellipsoid {
                centre,
                axes,
                radii,
            } => Distance::Ellipsoid {
                c: centre - origin,
                to_unit: Mat3::from_diagonal(radii.recip()) * axes.transpose(),
                inv_radii: radii.recip(),
                min_radius: radii.min_element(),
            },
        }
    }

    /// Signed distance from `p` (negative inside).
    pub(super) fn at(&self, p: Vec3) -> f32 {
        match *self {
            Distance::Sphere { c, r } => (p - c).length() - r,
            Distance::RoundCone {
                a,
                b,
                axis,
                len,
                ra,
                rb,
                sin,
                cos,
            } => {
                let pa = p - a;
                let y = pa.dot(axis);
                let x = (pa.length_squared() - y * y).max(0.0).sqrt();
                let along = y * cos - x * sin;
                if along < 0.0 {
                    pa.length() - ra
                } else if along > len * cos {
                    (p - b).length() - rb
                } else {
                    y * sin + x * cos - ra
                }
            }
            Distance::Ellipsoid {
                c,
                to_unit,
                inv_radii,
                min_radius,
            } => {
                let q = to_unit * (p - c);
                let k1 = (q * inv_radii).length();
                if k1 < 1e-9 {
                    return -min_radius;
                }
                let k0 = q.length();
                k0 * (k0 - 1.0) / k1
            }
        }
    }
}

/// The quadratic smooth minimum: `min(a, b)` lowered by up to `k/4` where the two are within
/// `k` of each other; its gradient is a convex blend of theirs, so it stays a distance bound.
pub(super) fn smin(a: f32, b: f32, k: f32) -> f32 {
    let h = (k - (a - b).abs()).max(0.0);
    a.min(b) - h * h * (0.25 / k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smin_is_the_minimum_away_from_the_blend() {
        assert_eq!(smin(1.0, 9.0, 4.0), 1.0);
        assert_eq!(smin(9.0, 1.0, 4.0), 1.0);
        assert!((smin(2.0, 2.0, 4.0) - 1.0).abs() < 1e-6);
        assert!(smin(2.0, 3.0, 4.0) < 2.0 && smin(2.0, 3.0, 4.0) > 1.0);
    }

    /// Each distance is the true distance at points off the surface (spheres and capsules
    /// exactly, checked against the nearest of many surface points; the ellipsoid's estimate
    /// within 15 % near it), and zero on it.
    #[test]
    fn distances_against_sampled_surfaces() {
        let cone = Primitive::RoundCone {
            a: Vec3::new(1.0, 2.0, 3.0),
            b: Vec3::new(20.0, 41.0, -7.0),
            ra: 9.0,
            rb: 5.5,
        };
        let d = Distance::new(&cone, Vec3::ZERO);
        // The hull's surface: points of both balls' spheres and of the tangent band, keeping
        // those on no other part's inside.
        let (a, b) = (Vec3::new(1.0, 2.0, 3.0), Vec3::new(20.0, 41.0, -7.0));
        let mut surface = Vec::new();
        for i in 0..60 {
            for jj in 0..120 {
                let (th, ph) = (
                    std::f32::consts::PI * (i as f32 + 0.5) / 60.0,
                    std::f32::consts::TAU * jj as f32 / 120.0,
                );
                let n = Vec3::new(th.sin() * ph.cos(), th.sin() * ph.sin(), th.cos());
                for (c, r) in [(a, 9.0), (b, 5.5)] {
                    let s = c + n * r;
                    if d.at(s).abs() < 1e-3 {
                        surface.push(s);
                    }
                }
                // Band: points between the tangent circles along each meridian.
                for t in 0..20 {
                    let f = t as f32 / 19.0;
                    let s = a + (b - a) * f + n * (9.0 + (5.5 - 9.0) * f);
                    if d.at(s).abs() < 0.3 {
                        surface.push(s);
                    }
                }
            }
        }
        assert!(surface.len() > 5000);
        for p in [
            Vec3::new(30.0, 10.0, 0.0),
            Vec3::new(-12.0, -3.0, 9.0),
            Vec3::new(10.0, 25.0, 15.0),
            Vec3::new(27.0, 53.0, -9.0),
        ] {
            let want = surface
                .iter()
                .map(|s| (p - *s).length())
                .fold(f32::INFINITY, f32::min);
            let got = d.at(p);
            assert!(
                (got - want).abs() < 0.5,
                "{p}: {got} vs nearest sampled {want}"
            );
        }
        let e = Primitive::Ellipsoid {
            centre: Vec3::new(3.0, -2.0, 1.0),
            axes: Mat3::from_rotation_z(0.4) * Mat3::from_rotation_x(0.2),
            radii: Vec3::new(30.0, 20.0, 10.0),
        };
        let de = Distance::new(&e, Vec3::ZERO);
        let Primitive::Ellipsoid {
            centre,
            axes,
            radii,
        } = e
        else {
            unreachable!()
        };
        for n in [
            Vec3::X,
            Vec3::Y,
            Vec3::Z,
            Vec3::new(1.0, 1.0, 1.0).normalize(),
        ] {
            let on = centre + axes * (n * radii);
            assert!(de.at(on).abs() < 1e-3, "on the surface: {}", de.at(on));
            // Out along the axis: the true distance is known.
            if n.max_element() == 1.0 {
                let r = (n * radii).length();
                let p = centre + axes * (n * (r + 4.0));
                assert!((de.at(p) - 4.0).abs() < 0.6, "{n}: {}", de.at(p));
            }
        }
    }
}
