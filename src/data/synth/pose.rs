//! Finger articulation within anatomical limits: random poses with inter-finger correlation,
//! and perturbed canonical gestures.
//!
//! Half of the poses come from each source. Random poses share one "grip" level across the
//! hand (neighbouring fingers deviate from it together, as the shared tendons and the habits
//! of real hands make them), and the fingers spread less the more the knuckles bend.
//! Gestures are the classic hand shapes (open, fist, point, pinch, OK, victory, thumbs up,
//! claw, counting one to five, a power grasp …) with every angle jittered by ≈ 10°, so both
//! natural and varied poses appear. The DIP follows the PIP at about two thirds of its
//! flexion, with noise. The generator's second generation draws the same kinds of poses
//! mostly open, as NYU's subjects hold their hands ([`OPEN_GRIP_POWER`],
//! [`OPEN_GESTURE_WEIGHTS`]).

use rand::Rng;

use super::{Generation, gauss};

/// Anatomical ranges, in degrees, as `(min, max)`.
pub mod limits {
    /// Finger MCP flexion (negative: hyperextension).
    pub const MCP_FLEX: (f32, f32) = (-10.0, 90.0);
    /// Finger MCP abduction, radial positive.
    pub const MCP_ABD: (f32, f32) = (-15.0, 15.0);
    /// Finger PIP flexion.
    pub const PIP: (f32, f32) = (0.0, 105.0);
    /// Finger DIP flexion.
    pub const DIP: (f32, f32) = (0.0, 80.0);
    /// Thumb CMC flexion (across the palm).
    pub const CMC_FLEX: (f32, f32) = (-20.0, 45.0);
    /// Thumb CMC palmar abduction (away from the palm plane).
    pub const CMC_ABD: (f32, f32) = (-15.0, 50.0);
    /// Thumb MCP flexion.
    pub const THUMB_MCP: (f32, f32) = (-10.0, 60.0);
    /// Thumb IP flexion.
    pub const THUMB_IP: (f32, f32) = (-15.0, 80.0);
}

/// One finger's joint angles, radians.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FingerPose {
    /// MCP flexion.
    pub mcp_flex: f32,
    /// MCP abduction, radial positive.
    pub mcp_abd: f32,
    /// PIP flexion.
    pub pip: f32,
    /// DIP flexion.
    pub dip: f32,
}

/// The thumb's joint angles, radians.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ThumbPose {
    /// CMC flexion across the palm.
    pub cmc_flex: f32,
    /// CMC palmar abduction.
    pub cmc_abd: f32,
    /// MCP flexion.
    pub mcp_flex: f32,
    /// IP flexion.
    pub ip: f32,
}

/// The articulation of a whole hand.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct HandPose {
    /// Little, ring, middle, index (NYU F1..F4).
    pub fingers: [FingerPose; 4],
    /// The thumb.
    pub thumb: ThumbPose,
}

/// The canonical hand shapes poses are drawn around.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gesture {
    /// Flat hand, fingers spread.
    Open,
    /// The resting half-curl.
    Relaxed,
    /// Closed fist, thumb over the fingers.
    Fist,
    /// Index extended.
    Point,
    /// Index and thumb tips together, others loosely extended.
    Pinch,
    /// Index curled onto the thumb, others extended and spread.
    Ok,
    /// Index and middle extended and spread.
    Victory,
    /// Fist with the thumb extended.
    ThumbsUp,
    /// MCPs straight, PIPs and DIPs bent.
    Claw,
    /// Index, middle and ring extended.
    Three,
    /// Thumb and little finger extended.
    Call,
    /// Index and little finger extended.
    Horns,
    /// Fingers straight, bent at the knuckles (a flat grasp).
    Flat,
    /// Four fingers extended and spread, the thumb folded across the palm (counting four).
    Four,
    /// Every finger curled round a cylinder about 40 mm across, the thumb opposed to them (a
    /// power grasp: a cup, a bottle, a handle).
    Grasp,
}

impl Gesture {
    /// Every gesture.
    pub const ALL: [Gesture; 15] = [
        Gesture::Open,
        Gesture::Relaxed,
        Gesture::Fist,
        Gesture::Point,
        Gesture::Pinch,
        Gesture::Ok,
        Gesture::Victory,
        Gesture::ThumbsUp,
        Gesture::Claw,
        Gesture::Three,
        Gesture::Call,
        Gesture::Horns,
        Gesture::Flat,
        Gesture::Four,
        Gesture::Grasp,
    ];

    /// `(mcp, pip)` per finger (little..index), spread (−0.2..1) and thumb
    /// `(cmc_flex, cmc_abd, mcp, ip)`, degrees.
    fn angles(self) -> ([(f32, f32); 4], f32, [f32; 4]) {
        const OUT: (f32, f32) = (0.0, 0.0);
        const IN: (f32, f32) = (85.0, 100.0);
        const TUCKED: [f32; 4] = [35.0, 10.0, 40.0, 30.0];
        match self {
            Gesture::Open => ([OUT; 4], 0.9, [-15.0, 5.0, 0.0, 0.0]),
            Gesture::Relaxed => (
                [(35.0, 45.0), (30.0, 40.0), (25.0, 30.0), (20.0, 25.0)],
                0.3,
                [5.0, 20.0, 15.0, 15.0],
            ),
            Gesture::Fist => ([IN; 4], 0.0, TUCKED),
            Gesture::Point => ([IN, IN, IN, OUT], 0.0, TUCKED),
            Gesture::Pinch => (
                [(15.0, 20.0), (15.0, 20.0), (15.0, 15.0), (45.0, 50.0)],
                0.3,
                [25.0, 40.0, 20.0, 20.0],
            ),
            Gesture::Ok => (
                [(5.0, 10.0), (5.0, 10.0), (10.0, 10.0), (50.0, 65.0)],
                0.7,
                [25.0, 40.0, 25.0, 30.0],
            ),
            Gesture::Victory => ([IN, IN, OUT, OUT], 1.0, TUCKED),
            Gesture::ThumbsUp => ([IN; 4], 0.0, [-15.0, 10.0, 0.0, 0.0]),
            Gesture::Claw => ([(10.0, 85.0); 4], 0.6, [20.0, 30.0, 30.0, 50.0]),
            Gesture::Three => ([IN, OUT, OUT, OUT], 0.6, TUCKED),
            Gesture::Call => ([OUT, IN, IN, IN], 0.8, [-15.0, 5.0, 0.0, 0.0]),
            Gesture::Horns => ([OUT, IN, IN, OUT], 0.6, TUCKED),
            Gesture::Flat => ([(75.0, 5.0); 4], 0.1, [10.0, 40.0, 5.0, 5.0]),
            Gesture::Four => ([OUT; 4], 0.7, [45.0, 15.0, 45.0, 35.0]),
            Gesture::Grasp => ([(50.0, 70.0); 4], 0.1, [30.0, 45.0, 20.0, 20.0]),
        }
    }
}

/// [`Generation::Second`]'s random grips are `u^OPEN_GRIP_POWER` for uniform `u`: mostly
/// open, a fist now and then.
pub const OPEN_GRIP_POWER: f32 = 4.0;

/// [`Generation::Second`]'s weights of [`Gesture::ALL`], in its order: open hands, pinches and
/// counting likelier, fists and grasps rarer, as NYU's subjects hold them.
pub const OPEN_GESTURE_WEIGHTS: [f32; 15] = [
    4.0,  // Open
    3.0,  // Relaxed
    0.25, // Fist
    0.5,  // Point
    2.0,  // Pinch
    2.0,  // Ok
    0.5,  // Victory
    0.25, // ThumbsUp
    0.25, // Claw
    0.5,  // Three
    0.25, // Call
    0.25, // Horns
    1.5,  // Flat
    2.0,  // Four
    0.25, // Grasp
];

/// How far each finger moves when the hand spreads (degrees, radial positive): the middle
/// finger stays put, the others fan out from it.
const SPREAD: [f32; 4] = [-14.0, -6.0, 0.0, 11.0];

fn clamp_deg(v: f32, (lo, hi): (f32, f32)) -> f32 {
    v.clamp(lo, hi).to_radians()
}

fn lerp((lo, hi): (f32, f32), t: f32) -> f32 {
    lo + (hi - lo) * t.clamp(0.0, 1.0)
}

/// DIP flexion from PIP flexion (degrees): about two thirds, with noise.
fn dip_from_pip(rng: &mut impl Rng, pip_deg: f32) -> f32 {
    clamp_deg(pip_deg * 2.0 / 3.0 + 7.0 * gauss(rng), limits::DIP)
}

/// Abduction (degrees) for `spread`, less the more the knuckle is bent (a fist closes up).
fn abduction(rng: &mut impl Rng, finger: usize, spread: f32, mcp_deg: f32) -> f32 {
    let bend = (mcp_deg / 90.0).clamp(0.0, 1.0);
    clamp_deg(
        SPREAD[finger] * spread * (1.0 - 0.7 * bend) + 3.0 * gauss(rng),
        limits::MCP_ABD,
    )
}

impl HandPose {
    /// All joints straight, fingers together.
    pub fn rest() -> HandPose {
        HandPose::default()
    }

    /// Half random within limits, half a perturbed gesture. [`Generation::First`] draws the
    /// random poses' grip uniformly and every gesture alike; [`Generation::Second`] and later
    /// hold hands as open as NYU's subjects do (see [`OPEN_GRIP_POWER`] and
    /// [`OPEN_GESTURE_WEIGHTS`]).
    pub fn sample(rng: &mut impl Rng, generation: Generation) -> HandPose {
        let random = rng.random_bool(0.5);
        match (generation, random) {
            (Generation::First, true) => HandPose::random(rng),
            (Generation::First, false) => {
                let g = Gesture::ALL[rng.random_range(0..Gesture::ALL.len())];
                HandPose::gesture(rng, g)
            }
            (Generation::Second | Generation::Third, true) => {
                let grip = rng.random::<f32>().powf(OPEN_GRIP_POWER);
                HandPose::random_with_grip(rng, grip)
            }
            (Generation::Second | Generation::Third, false) => {
                let total: f32 = OPEN_GESTURE_WEIGHTS.iter().sum();
                let mut pick = rng.random::<f32>() * total;
                let mut g = Gesture::ALL[0];
                for (&gesture, &weight) in Gesture::ALL.iter().zip(&OPEN_GESTURE_WEIGHTS) {
                    g = gesture;
                    if pick < weight {
                        break;
                    }
                    pick -= weight;
                }
                HandPose::gesture(rng, g)
            }
        }
    }

    /// A random pose: a shared grip level, correlated per-finger deviations from it.
    pub fn random(rng: &mut impl Rng) -> HandPose {
        let grip: f32 = rng.random();
        HandPose::random_with_grip(rng, grip)
    }

    /// A random pose around `grip` (0 open, 1 closed): correlated per-finger deviations from
    /// it, the thumb following it loosely.
    pub fn random_with_grip(rng: &mut impl Rng, grip: f32) -> HandPose {
        let spread = rng.random_range(-0.2f32..1.0);
        let mut prev = 0.0;
        let fingers = std::array::from_fn(|f| {
            // Neighbouring fingers share part of their deviation from the grip.
            let own = 0.35 * gauss(rng);
            let dev = 0.65 * own + 0.35 * prev;
            prev = dev;
            let curl = grip + dev;
            let mcp = lerp(limits::MCP_FLEX, curl + 0.15 * gauss(rng));
            let pip = lerp(limits::PIP, curl + 0.15 * gauss(rng));
            FingerPose {
                mcp_flex: mcp.to_radians(),
                mcp_abd: abduction(rng, f, spread, mcp),
                pip: pip.to_radians(),
                dip: dip_from_pip(rng, pip),
            }
        });
        let mut follow = |range| lerp(range, grip + 0.4 * gauss(rng));
        let thumb = ThumbPose {
            cmc_flex: follow(limits::CMC_FLEX).to_radians(),
            cmc_abd: follow(limits::CMC_ABD).to_radians(),
            mcp_flex: follow(limits::THUMB_MCP).to_radians(),
            ip: follow(limits::THUMB_IP).to_radians(),
        };
        HandPose { fingers, thumb }
    }

    /// `gesture` with every angle perturbed (σ ≈ 10°), clamped to the limits.
    pub fn gesture(rng: &mut impl Rng, gesture: Gesture) -> HandPose {
        let (curls, spread, thumb) = gesture.angles();
        let spread = spread + 0.15 * gauss(rng);
        let fingers = std::array::from_fn(|f| {
            let (mcp, pip) = curls[f];
            let mcp = (mcp + 10.0 * gauss(rng)).clamp(limits::MCP_FLEX.0, limits::MCP_FLEX.1);
            let pip = (pip + 10.0 * gauss(rng)).clamp(limits::PIP.0, limits::PIP.1);
            FingerPose {
                mcp_flex: mcp.to_radians(),
                mcp_abd: abduction(rng, f, spread, mcp),
                pip: pip.to_radians(),
                dip: dip_from_pip(rng, pip),
            }
        });
        let mut jitter = |v: f32, range| clamp_deg(v + 8.0 * gauss(rng), range);
        let thumb = ThumbPose {
            cmc_flex: jitter(thumb[0], limits::CMC_FLEX),
            cmc_abd: jitter(thumb[1], limits::CMC_ABD),
            mcp_flex: jitter(thumb[2], limits::THUMB_MCP),
            ip: jitter(thumb[3], limits::THUMB_IP),
        };
        HandPose { fingers, thumb }
    }

    /// Whether every angle is inside [`limits`] (with `slack_deg` tolerance).
    pub fn within_limits(&self, slack_deg: f32) -> bool {
        let ok = |rad: f32, (lo, hi): (f32, f32)| {
            let d = rad.to_degrees();
            d >= lo - slack_deg && d <= hi + slack_deg
        };
        self.fingers.iter().all(|f| {
            ok(f.mcp_flex, limits::MCP_FLEX)
                && ok(f.mcp_abd, limits::MCP_ABD)
                && ok(f.pip, limits::PIP)
                && ok(f.dip, limits::DIP)
        }) && ok(self.thumb.cmc_flex, limits::CMC_FLEX)
            && ok(self.thumb.cmc_abd, limits::CMC_ABD)
            && ok(self.thumb.mcp_flex, limits::THUMB_MCP)
            && ok(self.thumb.ip, limits::THUMB_IP)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn poses_stay_within_limits_and_vary() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let poses: Vec<HandPose> = (0..2000)
            .map(|_| HandPose::sample(&mut rng, Generation::First))
            .collect();
        assert!(poses.iter().all(|p| p.within_limits(1e-3)));
        // Both open and closed hands occur, and the DIP follows the PIP.
        let pip: Vec<f32> = poses
            .iter()
            .map(|p| p.fingers[2].pip.to_degrees())
            .collect();
        assert!(pip.iter().filter(|&&d| d < 15.0).count() > 200);
        assert!(pip.iter().filter(|&&d| d > 80.0).count() > 200);
        let (mut num, mut den) = (0.0, 0.0);
        for p in &poses {
            for f in &p.fingers {
                num += f.dip * f.pip;
                den += f.pip * f.pip;
            }
        }
        let ratio = num / den;
        assert!((0.55..0.75).contains(&ratio), "DIP/PIP slope {ratio}");
    }

    #[test]
    fn neighbouring_fingers_are_correlated() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let poses: Vec<HandPose> = (0..3000).map(|_| HandPose::random(&mut rng)).collect();
        let xs: Vec<(f32, f32)> = poses
            .iter()
            .map(|p| (p.fingers[1].pip, p.fingers[2].pip))
            .collect();
        let n = xs.len() as f32;
        let (ma, mb) = xs
            .iter()
            .fold((0.0, 0.0), |(a, b), x| (a + x.0 / n, b + x.1 / n));
        let cov: f32 = xs.iter().map(|x| (x.0 - ma) * (x.1 - mb)).sum::<f32>() / n;
        let va: f32 = xs.iter().map(|x| (x.0 - ma).powi(2)).sum::<f32>() / n;
        let vb: f32 = xs.iter().map(|x| (x.1 - mb).powi(2)).sum::<f32>() / n;
        let r = cov / (va * vb).sqrt();
        assert!(r > 0.5, "ring/middle PIP correlation {r}");
    }
}
