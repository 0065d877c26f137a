//! Synthetic NYU-style hand depth frames with exact joint annotations.
//!
//! No NYU images can be shipped, so the network is trained and tested on frames made here;
//! they follow NYU's conventions (640×480 millimetre depth from a Kinect v1 at NYU's
//! intrinsics, the 36 NYU joints in NYU's order, inside the surface at the bone) and vary
//! widely. One frame is made in five steps, each in its own file:
//!
//! 1. [`skeleton`]: a random adult right hand ([`HandShape`]: global scale ±10 %, each bone
//!    ±4 %), built from spheres, tapered capsules and ellipsoids; forward kinematics gives the
//!    joints and the solids.
//! 2. [`pose`]: finger and thumb angles within anatomical limits, half random with
//!    inter-finger correlation, half perturbed canonical gestures.
//! 3. [`scene`]: the global pose (palm or back to the camera, rolled and tilted, 550–1100 mm
//!    away, anywhere in the image) and a background (a tilted wall or nothing in range,
//!    sometimes a torso, a table and clutter, all at least 250 mm behind the hand).
//! 4. [`render`]: z-buffer rasterization, each solid over its own projected bounding box with
//!    the exact ray–solid depth per pixel.
//! 5. [`sensor`]: a Kinect-like sensor (projector shadows, dropouts at edges, holes, noise,
//!    disparity quantization, range).
//!
//! A frame is a pure function of `(seed, index, options)`: the random stream is a
//! `ChaCha8Rng` seeded with `seed` on stream `index`, everything runs on one thread in a fixed
//! order, so frames can be made in parallel and the same seed gives the same bytes.

mod distance;
pub mod pose;
pub mod render;
pub mod scene;
pub mod sensor;
pub mod skeleton;
pub mod skin;
mod source;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::data::nyu::SplitFrame;
use crate::data::{DepthMap, Intrinsics, Joints, Labels};

pub use pose::{Gesture, HandPose};
pub use skeleton::{HandShape, LABEL_FOREARM, LABEL_HAND};
pub use source::{SynthSource, SynthSpec, parse_spec};

/// Width of the skin's fillets where the hand's solids meet ([`skin`]): webs between the
/// fingers' bases, soft tissue around the knuckles, thenar and wrist, up to 2 mm of it.
pub const SKIN_BLEND_MM: f32 = 8.0;

/// Which generation of the generator's labels and poses frames follow. Frames stay a pure
/// function of `(seed, index, options)`, so runs and figures made with an earlier generation
/// can be made again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Generation {
    /// The generator through 2026-12-05, which the bundled model's first nine stages were
    /// trained on: every joint at its anatomical landmark (`PALM_3` the centre of the palm's
    /// body, `TH_KNU3_B` the thumb's interphalangeal joint) and half the poses uniformly random
    /// grips, half the 15 gestures alike. The library's default, so code written before the
    /// second keeps making the same frames; `hourhand synth` defaults to the third.
    #[default]
    First,
    /// NYU's annotation conventions and hands as open as NYU's subjects hold them (the bundled
    /// model's last stage and the bundled sample since 2026-12-05), measured
    /// against NYU's 8,252 test labels (`examples/nyu_proportions.rs`): `PALM_3` halfway from
    /// the wrists to the middle finger's PIP ([`skeleton::NYU_PALM_SHIFT_MM`] distal of the
    /// palm's body), `TH_KNU3_B` [`skeleton::NYU_THUMB_MID_SHIFT_MM`] from the thumb's IP
    /// towards its tip, grips drawn towards open and open gestures likelier
    /// ([`pose::HandPose::sample`]).
    Second,
    /// The second's labels and hand poses, the hand held before the camera as NYU's subjects
    /// hold theirs ([`scene::place_hand`]), measured against NYU's test labels like the second
    /// (`examples/nyu_proportions.rs`): the palm towards the camera in seven frames of ten, the
    /// back in one or two, edge-on in one or two (the second drew the back in a third of its
    /// frames and never an edge-on hand); fingers leaning towards the camera (NYU's median 20°)
    /// and rolled clockwise as the camera sees them (median 10°) instead of upright and rolled
    /// anticlockwise. `hourhand synth`'s default since 2026-12-05.
    Third,
}

impl Generation {
    /// Every generation, oldest first.
    pub const ALL: [Generation; 3] = [Generation::First, Generation::Second, Generation::Third];

    /// The label convention its joints follow.
    pub fn labels(self) -> Labels {
        match self {
            Generation::First => Labels::Anatomical,
            Generation::Second | Generation::Third => Labels::Nyu,
        }
    }

    /// The first generation whose joints follow `labels` (each convention has one; later
    /// generations keep their labels and change what they draw).
    pub fn labelled(labels: Labels) -> Generation {
        Generation::ALL
            .into_iter()
            .find(|g| g.labels() == labels)
            .expect("every label convention has a generation of the generator")
    }
}

/// What to make.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SynthOptions {
    /// The camera.
    pub intrinsics: Intrinsics,
    /// Image width in pixels.
    pub width: usize,
    /// Image height in pixels.
    pub height: usize,
    /// Apply the sensor model (noise, quantization, dropouts); `false` gives the clean
    /// rendered depth (0 where no surface is within range).
    pub sensor: bool,
    /// Width of the skin's fillets (mm, [`skin`]); 0 draws the hand as the plain union of
    /// its solids, creased where they meet.
    pub skin_blend_mm: f32,
    /// The labels' conventions and the poses' mix.
    pub generation: Generation,
}

impl Default for SynthOptions {
    /// NYU's Kinect at 640×480 with the sensor model and the smooth skin.
    fn default() -> SynthOptions {
        SynthOptions {
            intrinsics: Intrinsics::NYU,
            width: 640,
            height: 480,
            sensor: true,
            skin_blend_mm: SKIN_BLEND_MM,
            generation: Generation::First,
        }
    }
}

/// One synthetic frame.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthFrame {
    /// Depth in millimetres, 0 for no reading.
    pub depth: DepthMap,
    /// NYU's 36 joints, camera space (mm, y up).
    pub joints_xyz: Joints,
    /// The same joints as (u, v, d) through the options' intrinsics.
    pub joints_uvd: Joints,
    /// Per pixel, which solid is visible before the sensor model: 0 background,
    /// [`LABEL_HAND`] or [`LABEL_FOREARM`].
    pub labels: Vec<u8>,
}

/// A synthetic frame as a frame of an NYU split folder (`hourhand synth`).
impl From<SynthFrame> for SplitFrame {
    fn from(f: SynthFrame) -> SplitFrame {
        SplitFrame {
            depth: f.depth,
            xyz: f.joints_xyz,
            uvd: f.joints_uvd,
        }
    }
}

/// A standard normal deviate (Box–Muller; `rand` alone has no normal distribution).
pub(crate) fn gauss(rng: &mut impl Rng) -> f32 {
    gauss_pair(rng).0
}

/// Two independent standard normal deviates.
pub(crate) fn gauss_pair(rng: &mut impl Rng) -> (f32, f32) {
    // 1 − U is in (0, 1], so the logarithm is finite.
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    let r = (-2.0 * u1.ln()).sqrt();
    let a = std::f64::consts::TAU * u2;
    ((r * a.cos()) as f32, (r * a.sin()) as f32)
}

/// The first draws of frame `index`: the hand's shape, pose and place, and the random stream
/// where [`generate`] goes on from (the background, the sensor).
fn posed_hand(seed: u64, index: u64, options: &SynthOptions) -> (ChaCha8Rng, skeleton::PosedHand) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    let shape = HandShape::sample(&mut rng);
    let pose = HandPose::sample(&mut rng, options.generation);
    let hand = scene::place_hand(&mut rng, &shape, &pose, options);
    (rng, hand)
}

/// The joints of frame `index` in camera space (mm), exactly [`generate`]'s `joints_xyz`,
/// without rendering the frame (a few microseconds instead of tens of milliseconds).
pub fn joints_xyz(seed: u64, index: u64, options: &SynthOptions) -> Joints {
    posed_hand(seed, index, options).1.joints
}

/// The joints of frame `index` as (u, v, d), exactly [`generate`]'s `joints_uvd`, without
/// rendering the frame.
pub fn joints_uvd(seed: u64, index: u64, options: &SynthOptions) -> Joints {
    joints_xyz(seed, index, options).map(|j| options.intrinsics.xyz_to_uvd(j))
}

/// Frame `index` of the synthetic sequence `seed`: a pure function of (seed, index, options),
/// so frames can be made in parallel and the same seed gives the same bytes.
pub fn generate(seed: u64, index: u64, options: &SynthOptions) -> SynthFrame {
    let (mut rng, hand) = posed_hand(seed, index, options);
    let (w, h, k) = (options.width, options.height, &options.intrinsics);
    let far = hand.joints.iter().map(|j| j.z).fold(f32::MIN, f32::max);
    let background = scene::Background::sample(
        &mut rng,
        hand.joints[crate::data::PRIOR_JOINT],
        far,
        options,
    );

    let mut z = vec![f32::INFINITY; w * h];
    let mut labels = vec![0u8; w * h];
    background.draw_planes(k, w, h, &mut z);
    render::rasterize(&background.solids, 0, k, w, h, &mut z, &mut labels);
    let parts: Vec<(render::Primitive, u8)> = (hand.forearm.iter().map(|&p| (p, LABEL_FOREARM)))
        .chain(hand.hand.iter().map(|&p| (p, LABEL_HAND)))
        .collect();
    skin::draw(&parts, options.skin_blend_mm, k, w, h, &mut z, &mut labels);

    let mm = if options.sensor {
        sensor::apply(&mut rng, &z, &labels, k, w, h)
    } else {
        z.iter()
            .map(|&d| if d <= sensor::MAX_RANGE_MM { d } else { 0.0 })
            .collect()
    };
    let depth = DepthMap::new(w, h, mm).expect("rendered depth is finite, non-negative and w×h");
    SynthFrame {
        depth,
        joints_xyz: hand.joints,
        joints_uvd: hand.joints.map(|j| k.xyz_to_uvd(j)),
        labels,
    }
}
