//! The synthetic hand generator: determinism, anatomy, and that the rendered hand is where the
//! joints say it is.

use glam::Vec3;
use hourhand::data::synth::{
    Generation, HandPose, HandShape, LABEL_FOREARM, LABEL_HAND, SynthOptions, generate, scene,
};
use hourhand::data::{Intrinsics, NUM_JOINTS, PRIOR_JOINT};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

fn clean() -> SynthOptions {
    SynthOptions {
        sensor: false,
        ..SynthOptions::default()
    }
}

#[test]
fn same_seed_and_index_give_the_same_bytes_in_any_thread() {
    let o = SynthOptions::default();
    let a = generate(11, 3, &o);
    let b = generate(11, 3, &o);
    assert_eq!(a, b);
    let bits = |f: &hourhand::data::synth::SynthFrame| {
        f.depth
            .values()
            .iter()
            .map(|v| v.to_bits())
            .collect::<Vec<u32>>()
    };
    assert_eq!(bits(&a), bits(&b));
    let c = generate(11, 4, &o);
    assert_ne!(a.joints_xyz, c.joints_xyz);
    assert_ne!(a.depth, c.depth);
    assert_ne!(generate(12, 3, &o).joints_xyz, a.joints_xyz);
    // Made in parallel, frames are the same as made one by one.
    let parallel: Vec<_> = (0..8u64)
        .into_par_iter()
        .map(|i| generate(11, i, &o))
        .collect();
    for (i, f) in parallel.iter().enumerate() {
        assert_eq!(*f, generate(11, i as u64, &o), "frame {i}");
    }
}

#[test]
fn frames_are_nyu_shaped_and_uvd_matches_xyz() {
    let o = SynthOptions::default();
    for i in 0..6 {
        let f = generate(3, i, &o);
        assert_eq!((f.depth.width(), f.depth.height()), (640, 480));
        assert!(
            f.depth
                .values()
                .iter()
                .all(|d| d.is_finite() && *d >= 0.0 && *d <= 4000.0)
        );
        assert!(
            f.depth.values().iter().all(|d| d.fract() == 0.0),
            "whole millimetres"
        );
        for j in 0..NUM_JOINTS {
            let (xyz, uvd) = (f.joints_xyz[j], f.joints_uvd[j]);
            let back = Intrinsics::NYU.uvd_to_xyz(uvd);
            assert!(
                (back - xyz).length() < 1e-3 * xyz.z,
                "joint {j}: {back} vs {xyz}"
            );
            let (u, v) = (uvd.x, uvd.y);
            assert!(
                (30.0..610.0).contains(&u) && (30.0..450.0).contains(&v),
                "joint {j} at ({u}, {v})"
            );
            assert!((400.0..1400.0).contains(&uvd.z));
        }
        let z3 = f.joints_xyz[PRIOR_JOINT].z;
        assert!((550.0..1100.0).contains(&z3), "palm at {z3}");
    }
}

/// The clean depth along the ray through a joint's pixel never lies behind the joint: every
/// joint is inside a solid (PALM_3 inside the palm), and the pixel's ray is < 1 px from it.
#[test]
fn joints_are_inside_the_rendered_surface() {
    let o = clean();
    for i in 0..40 {
        let f = generate(5, i, &o);
        for j in 0..NUM_JOINTS {
            let p = f.joints_uvd[j];
            let d = f.depth.get(p.x.round() as i64, p.y.round() as i64).unwrap();
            assert!(
                d > 0.0 && d <= p.z + 1.5,
                "frame {i} joint {j}: surface {d} behind joint {}",
                p.z
            );
        }
        let p = f.joints_uvd[PRIOR_JOINT];
        let at = p.y.round() as usize * 640 + p.x.round() as usize;
        assert!(
            matches!(f.labels[at], LABEL_HAND | LABEL_FOREARM),
            "frame {i}: PALM_3 not on the hand"
        );
    }
}

#[test]
fn sensor_depth_is_near_visible_joints_and_the_hand_is_closest() {
    let o = SynthOptions::default();
    let (mut near, mut total) = (0, 0);
    for i in 0..30 {
        let f = generate(8, i, &o);
        let d = f.depth.values();
        let hand_px = f.labels.iter().filter(|&&l| l == LABEL_HAND).count();
        assert!(hand_px > 800, "frame {i}: {hand_px} hand pixels");
        let mut frame_near = 0;
        for p in f.joints_uvd {
            // A reading within 25 mm of the joint depth in its 5×5 neighbourhood.
            let hit = (-2..=2).any(|dv| {
                (-2..=2).any(|du| {
                    let z = f
                        .depth
                        .get(p.x.round() as i64 + du, p.y.round() as i64 + dv)
                        .unwrap_or(0.0);
                    z > 0.0 && (z - p.z).abs() <= 25.0
                })
            });
            frame_near += hit as usize;
        }
        assert!(
            frame_near >= 12,
            "frame {i}: only {frame_near} joints have depth near them"
        );
        near += frame_near;
        total += NUM_JOINTS;
        // Hand (and arm) in front of everything else by far.
        let nearest = |keep: &dyn Fn(u8) -> bool| {
            d.iter()
                .zip(&f.labels)
                .filter(|(z, l)| **z > 0.0 && keep(**l))
                .map(|(z, _)| *z)
                .fold(f32::MAX, f32::min)
        };
        let hand = nearest(&|l| l != 0);
        let rest = nearest(&|l| l == 0);
        let far_joint = f.joints_xyz.iter().map(|j| j.z).fold(f32::MIN, f32::max);
        assert!(
            hand < rest - 200.0,
            "frame {i}: hand at {hand}, background at {rest}"
        );
        assert!(
            rest >= far_joint + 200.0,
            "frame {i}: background {rest}, farthest joint {far_joint}"
        );
        let min_joint = f.joints_xyz.iter().map(|j| j.z).fold(f32::MAX, f32::min);
        assert!(
            hand > min_joint - 60.0,
            "frame {i}: nearest reading {hand}, nearest joint {min_joint}"
        );
    }
    assert!(
        near * 10 >= total * 7,
        "{near} of {total} joints have depth near them"
    );
}

fn angle(a: Vec3, b: Vec3) -> f32 {
    a.normalize()
        .dot(b.normalize())
        .clamp(-1.0, 1.0)
        .acos()
        .to_degrees()
}

#[test]
fn bones_keep_their_lengths_and_joints_their_limits() {
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let shape = HandShape::sample(&mut rng);
    let o = SynthOptions::default();
    let mut reference: Option<Vec<f32>> = None;
    for _ in 0..300 {
        let pose = HandPose::sample(&mut rng, Generation::First);
        let j = scene::place_hand(&mut rng, &shape, &pose, &o).joints;
        let mut lengths = Vec::new();
        for f in 0..5 {
            let c = &j[f * 6..f * 6 + 6];
            // tip–DIP, DIP–PIP, PIP–MCP (thumb: tip–IP, IP–MCP, MCP–CMC).
            lengths.extend([
                (c[0] - c[1]).length(),
                (c[1] - c[3]).length(),
                (c[3] - c[5]).length(),
            ]);
            // The _A points sit 80 % of the way along their segments.
            assert!(((c[2] - c[3]).length() / (c[1] - c[3]).length() - 0.8).abs() < 1e-3);
            assert!(((c[4] - c[5]).length() / (c[3] - c[5]).length() - 0.8).abs() < 1e-3);
            // Knuckles and palm points are rigid with the palm centre.
            lengths.push((c[5] - j[PRIOR_JOINT]).length());
            if f < 4 {
                let (d1, d2, d3) = (c[3] - c[5], c[1] - c[3], c[0] - c[1]);
                let (pip, dip) = (angle(d1, d2), angle(d2, d3));
                assert!(
                    pip <= 105.5 && dip <= 80.5,
                    "finger {f}: PIP {pip}, DIP {dip}"
                );
                // PIP and DIP bend the same way (both flex; neither hyperextends).
                if pip > 2.0 && dip > 2.0 {
                    assert!(
                        d1.cross(d2).dot(d2.cross(d3)) > 0.0,
                        "finger {f} bends both ways"
                    );
                }
            }
        }
        for p in [33, 34, 35] {
            lengths.push((j[p] - j[PRIOR_JOINT]).length());
        }
        // The middle finger's proximal phalanx against its metacarpal (PALM_5 → MCP):
        // flexion ≤ 90° combined with abduction ≤ 15° and the metacarpal's own slant.
        let mcp = angle(j[17] - j[34], j[15] - j[17]);
        assert!(mcp <= 97.0, "middle MCP {mcp}");
        assert!((j[30] - j[31]).length() > 20.0, "wrist points apart");
        match &reference {
            None => reference = Some(lengths),
            Some(r) => {
                for (k, (a, b)) in r.iter().zip(&lengths).enumerate() {
                    assert!((a - b).abs() < 0.02, "bone {k}: {a} vs {b}");
                }
            }
        }
    }
}

#[test]
fn hand_size_is_adult() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for _ in 0..50 {
        let shape = HandShape::sample(&mut rng);
        assert!((0.9..1.1).contains(&shape.scale));
        let j = scene::place_hand(
            &mut rng,
            &shape,
            &HandPose::rest(),
            &SynthOptions::default(),
        )
        .joints;
        // Wrist to middle fingertip, straight: 170–210 mm for adults.
        let len = (j[12] - (j[30] + j[31]) * 0.5).length();
        assert!((160.0..215.0).contains(&len), "hand length {len}");
        // Knuckle breadth index–little (joint centres).
        let breadth = (j[23] - j[5]).length();
        assert!((45.0..70.0).contains(&breadth), "knuckle span {breadth}");
    }
}
