//! The training data path: synthetic NYU frames read back through `TrainSet` as their plain
//! crops, sources that cannot train, determinism across seeds and thread counts, the depth
//! cache, and the batch loader.

mod common;

use common::write_synthetic_split;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use glam::Vec3;
use hourhand::data::crop::{Crop, OUTPUTS};
use hourhand::data::depth_png::{DepthPacking, write_depth_png};
use hourhand::data::source::{Frame, GroundTruth, Source};
use hourhand::data::synth::{Generation, SynthOptions, joints_uvd};
use hourhand::data::{DataError, DepthMap, Intrinsics, Joints, Labels, OpenOptions, PRIOR_JOINT};
use hourhand::train::augment::Augment;
use hourhand::train::dataset::{Loader, TrainSet, batch_count, derive_seed, epoch_order};

/// 614,400 bytes: one 640×480 frame as u16.
const NYU_FRAME_BYTES: usize = 640 * 480 * 2;

fn fill(
    set: &TrainSet,
    indices: &[usize],
    size: usize,
    augment: &Augment,
    seed: u64,
) -> (Vec<f32>, Vec<f32>) {
    let mut inputs = vec![0.0; indices.len() * size * size];
    let mut targets = vec![0.0; indices.len() * OUTPUTS];
    set.fill(indices, size, augment, seed, &mut inputs, &mut targets)
        .unwrap();
    (inputs, targets)
}

#[test]
fn synthetic_nyu_frames_come_back_as_their_plain_crops_cached_or_not() {
    let root = common::scratch("train", "synth");
    let dir = root.join("train");
    write_synthetic_split(&dir, 5, 3, false).unwrap();
    let set = TrainSet::open(&dir, &OpenOptions::default()).unwrap();
    assert_eq!(set.len(), 3);
    assert!(set.describe().contains("3 frames"), "{}", set.describe());
    let source = hourhand::data::open(&dir, &OpenOptions::default()).unwrap();
    let size = 48;
    let indices = [2, 0, 1, 2];
    let (inputs, targets) = fill(&set, &indices, size, &Augment::NONE, 9);
    for (k, &i) in indices.iter().enumerate() {
        let frame = source.load(i).unwrap();
        let xyz = frame.joints_xyz().unwrap();
        let crop = Crop::new(xyz[PRIOR_JOINT], set.cube(i), size, &frame.intrinsics).unwrap();
        assert_eq!(
            inputs[k * size * size..(k + 1) * size * size],
            crop.input(&frame.depth),
            "sample {k}"
        );
        assert_eq!(
            targets[k * OUTPUTS..(k + 1) * OUTPUTS],
            crop.normalize_joints(&xyz),
            "sample {k}"
        );
        // A hand crop has hand in it, not only background.
        assert!(
            inputs[k * size * size..(k + 1) * size * size]
                .iter()
                .any(|&v| v < 0.5)
        );
    }
    assert_eq!(set.cached_bytes(), 3 * NYU_FRAME_BYTES);
    // Augmented, from the cache, from a set that caches nothing, and from one with room for a
    // single frame: the same bytes.
    let augment = Augment::default();
    let cached = fill(&set, &indices, size, &augment, 9);
    for budget in [0, NYU_FRAME_BYTES + 1] {
        let fresh = TrainSet::open(&dir, &OpenOptions::default())
            .unwrap()
            .with_cache_budget(budget);
        assert_eq!(
            fill(&fresh, &indices, size, &augment, 9),
            cached,
            "budget {budget}"
        );
        assert_eq!(
            fresh.cached_bytes(),
            budget / NYU_FRAME_BYTES * NYU_FRAME_BYTES
        );
        assert_eq!(
            fill(&fresh, &indices, size, &augment, 9),
            cached,
            "budget {budget}, again"
        );
    }
    assert_ne!(cached.0, inputs);
}

#[test]
fn sources_without_all_36_joints_cannot_train() {
    let root = common::scratch("train", "bad");
    let frames = root.join("frames");
    std::fs::create_dir_all(&frames).unwrap();
    let depth = DepthMap::new(8, 6, vec![700.0; 48]).unwrap();
    for name in ["a.png", "b.png"] {
        write_depth_png(
            &frames.join(name),
            &depth,
            DepthPacking::Gray16,
            png::Compression::Fast,
            false,
        )
        .unwrap();
    }
    std::fs::write(
        frames.join("intrinsics.json"),
        r#"{"fx": 10, "fy": 10, "cx": 4, "cy": 3}"#,
    )
    .unwrap();
    let error = |path: &Path, options: &OpenOptions| match TrainSet::open(path, options) {
        Ok(_) => panic!("{} opened for training", path.display()),
        Err(e) => e.to_string(),
    };
    let e = error(&frames, &OpenOptions::default());
    assert!(e.contains(&frames.display().to_string()), "{e}");
    assert!(
        e.contains("training needs all 36 joints") && e.contains("no annotation"),
        "{e}"
    );
    assert!(e.contains("frame 1") && e.contains("a.png"), "{e}");
    // A results-format ground truth has the 14 evaluation joints only.
    let gt = root.join("gt.txt");
    std::fs::write(
        &gt,
        "4 3 700 ".repeat(14) + "\n" + &"4 3 700 ".repeat(14) + "\n",
    )
    .unwrap();
    let options = OpenOptions {
        ground_truth: Some(gt),
        ..OpenOptions::default()
    };
    let e = error(&frames, &options);
    assert!(
        e.contains("training needs all 36 joints") && e.contains("only the 14"),
        "{e}"
    );
    // An NYU split without joint_data.mat.
    let nyu = root.join("nyu");
    std::fs::create_dir_all(&nyu).unwrap();
    let big = DepthMap::new(640, 480, vec![700.0; 640 * 480]).unwrap();
    write_depth_png(
        &nyu.join("depth_1_0000001.png"),
        &big,
        DepthPacking::NyuRgb,
        png::Compression::Fast,
        false,
    )
    .unwrap();
    let e = error(&nyu, &OpenOptions::default());
    assert!(
        e.contains(&nyu.display().to_string()) && e.contains("no annotation"),
        "{e}"
    );
    // No folder at all.
    let missing = root.join("missing");
    let e = error(&missing, &OpenOptions::default());
    assert!(
        e.contains(&missing.display().to_string()) && e.contains("no such file"),
        "{e}"
    );
}

/// Small frames in memory (80×60, a 100 px focal length): a hand-sized blob at ~500 mm whose
/// joints spread around its centre; `fail` makes one frame unreadable.
struct Memory {
    frames: Vec<(DepthMap, Joints)>,
    fail: Option<usize>,
}

const K: Intrinsics = Intrinsics {
    fx: 100.0,
    fy: 100.0,
    cx: 40.0,
    cy: 30.0,
};

fn memory(n: usize) -> Memory {
    let frames = (0..n)
        .map(|i| {
            let palm = Vec3::new(
                i as f32 * 7.0 - 20.0,
                10.0 - i as f32 * 3.0,
                480.0 + i as f32 * 11.0,
            );
            let joints: Joints = std::array::from_fn(|j| {
                let a = j as f32 * 0.7 + i as f32;
                let r = if j == PRIOR_JOINT {
                    0.0
                } else {
                    30.0 + 2.0 * j as f32
                };
                K.xyz_to_uvd(
                    palm + Vec3::new(r * a.cos(), r * a.sin(), (j % 5) as f32 * 6.0 - 12.0),
                )
            });
            let c = K.xyz_to_uvd(palm);
            let mm = (0..80 * 60)
                .map(|p| {
                    let (u, v) = ((p % 80) as f32, (p / 80) as f32);
                    let r = (u - c.x).hypot(v - c.y);
                    if p % 13 == 0 {
                        0.0
                    } else if r < 18.0 {
                        (c.z + r).round()
                    } else {
                        1500.0
                    }
                })
                .collect();
            (DepthMap::new(80, 60, mm).unwrap(), joints)
        })
        .collect();
    Memory { frames, fail: None }
}

impl Source for Memory {
    fn describe(&self) -> String {
        format!("{} frames in memory", self.frames.len())
    }
    fn len(&self) -> usize {
        self.frames.len()
    }
    fn intrinsics(&self) -> Intrinsics {
        K
    }
    fn frame_path(&self, index: usize) -> PathBuf {
        format!("memory/{index}").into()
    }
    fn ground_truth(&self, index: usize) -> Option<GroundTruth> {
        Some(GroundTruth::Full(self.frames[index].1))
    }
    fn load(&self, index: usize) -> Result<Frame, DataError> {
        if self.fail == Some(index) {
            return Err(DataError::Corrupt {
                path: self.frame_path(index),
                problem: "unreadable".into(),
            });
        }
        Ok(Frame {
            index,
            name: index.to_string(),
            path: self.frame_path(index),
            depth: self.frames[index].0.clone(),
            intrinsics: K,
            ground_truth: self.ground_truth(index),
        })
    }
}

fn memory_set(n: usize) -> TrainSet {
    TrainSet::from_source(Box::new(memory(n)), Path::new("memory")).unwrap()
}

#[test]
fn the_same_seed_gives_the_same_bytes_on_any_number_of_threads() {
    let set = memory_set(6);
    let indices = [3, 1, 4, 1, 5];
    let augment = Augment::default();
    let in_pool = |threads: usize, seed: u64| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| fill(&set, &indices, 32, &augment, seed))
    };
    let one = in_pool(1, 42);
    assert_eq!(in_pool(3, 42), one);
    let other = in_pool(2, 43);
    assert_ne!(other.0, one.0);
    assert_ne!(other.1, one.1);
    // Each sample has its own jitter: the same frame twice in a batch differs.
    let (inputs, _) = &one;
    assert_ne!(
        inputs[32 * 32..2 * 32 * 32],
        inputs[3 * 32 * 32..4 * 32 * 32]
    );
    // Unaugmented, the seed changes nothing, and the target is the plain crop's.
    let plain = fill(&set, &indices, 32, &Augment::NONE, 1);
    assert_eq!(fill(&set, &indices, 32, &Augment::NONE, 2), plain);
    let crop = Crop::new(set.joints(3)[PRIOR_JOINT], 300.0, 32, &K).unwrap();
    assert_eq!(plain.1[..OUTPUTS], crop.normalize_joints(set.joints(3)));
    assert!(one.1.iter().all(|v| v.is_finite()) && one.0.iter().all(|v| (-1.0..=1.0).contains(v)));
}

#[test]
fn epochs_are_seeded_permutations() {
    let a = epoch_order(50, 7, 0);
    let mut sorted = a.clone();
    sorted.sort();
    assert_eq!(sorted, (0..50).collect::<Vec<_>>());
    assert_eq!(epoch_order(50, 7, 0), a);
    assert_ne!(epoch_order(50, 7, 1), a);
    assert_ne!(epoch_order(50, 8, 0), a);
    assert_ne!(a, sorted);
    assert!(epoch_order(0, 7, 0).is_empty() && epoch_order(1, 7, 3) == [0]);
    assert_ne!(derive_seed(7, 0), derive_seed(7, 1));
}

#[test]
fn the_loader_yields_whole_batches_and_keeps_or_drops_the_rest() {
    let set = Arc::new(memory_set(5));
    let order = epoch_order(5, 3, 0);
    let augment = Augment::default();
    for (drop_last, sizes) in [(true, vec![2, 2]), (false, vec![2, 2, 1])] {
        let loader = Loader::spawn(set.clone(), order.clone(), 2, 24, augment, 11, drop_last);
        assert_eq!(loader.batches(), sizes.len());
        let batches: Vec<_> = loader.map(Result::unwrap).collect();
        assert_eq!(
            batches.iter().map(|b| b.indices.len()).collect::<Vec<_>>(),
            sizes
        );
        let seen: Vec<usize> = batches.iter().flat_map(|b| b.indices.clone()).collect();
        assert_eq!(seen, order[..seen.len()]);
        for (k, b) in batches.iter().enumerate() {
            // Batch k is fill() with the k-th derived seed: a resumed epoch reproduces it.
            let expected = fill(&set, &b.indices, 24, &augment, derive_seed(11, k as u64));
            assert_eq!((b.inputs.clone(), b.targets.clone()), expected, "batch {k}");
        }
    }
    assert_eq!((batch_count(5, 2, true), batch_count(5, 2, false)), (2, 3));
    assert_eq!((batch_count(4, 2, true), batch_count(4, 2, false)), (2, 2));
    assert_eq!((batch_count(1, 2, true), batch_count(1, 2, false)), (0, 1));
    // Stopping early ends the thread (this would hang otherwise).
    let mut loader = Loader::spawn(set.clone(), epoch_order(5, 3, 1), 1, 24, augment, 11, true);
    assert!(loader.next().unwrap().is_ok());
    drop(loader);
    // A frame that cannot be read ends the epoch with its error, naming it.
    let mut broken = memory(5);
    broken.fail = Some(3);
    let set = Arc::new(TrainSet::from_source(Box::new(broken), Path::new("memory")).unwrap());
    let results: Vec<_> = Loader::spawn(set, (0..5).collect(), 2, 24, augment, 11, false).collect();
    assert_eq!(results.len(), 2);
    assert!(results[0].is_ok());
    let e = results[1].as_ref().unwrap_err().to_string();
    assert!(e.contains("memory/3") && e.contains("unreadable"), "{e}");
}

#[test]
fn the_palm_must_be_in_front_of_the_camera() {
    let mut bad = memory(2);
    bad.frames[1].1[PRIOR_JOINT].z = -5.0;
    let e = match TrainSet::from_source(Box::new(bad), Path::new("memory")) {
        Ok(_) => panic!("a palm behind the camera was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains("frame 2") && e.contains("not in front of the camera"),
        "{e}"
    );
}

/// `synth:SEED:FRAMES` makes the frames `hourhand synth --seed SEED` writes, on the fly: a
/// training set over it gives the same samples, bit for bit, as one over the written folder.
#[test]
fn synthetic_hands_made_on_the_fly_train_as_their_written_folder_does() {
    let root = common::scratch("train", "synth-fly");
    let dir = root.join("train");
    write_synthetic_split(&dir, 6, 3, false).unwrap();
    let folder = TrainSet::open(&dir, &OpenOptions::default()).unwrap();
    let fly = TrainSet::open(Path::new("synth:6:3"), &OpenOptions::default()).unwrap();
    assert_eq!(fly.len(), 3);
    assert!(
        fly.describe().contains("made on the fly"),
        "{}",
        fly.describe()
    );
    let indices = [2, 0, 1, 2];
    let augment = Augment::default();
    let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
    let (a_in, a_out) = fill(&folder, &indices, 40, &augment, 3);
    let (b_in, b_out) = fill(&fly, &indices, 40, &augment, 3);
    assert_eq!(bits(&a_in), bits(&b_in), "inputs");
    assert_eq!(bits(&a_out), bits(&b_out), "targets");
}

/// `synth2:SEED:FRAMES` and `synth3:SEED:FRAMES` open the generator's second and third
/// generations: their frames' joints are `joints_uvd` of that generation, not the first's.
#[test]
fn synth2_and_synth3_open_the_later_generations() {
    let options = OpenOptions::default();
    let first = hourhand::data::open(Path::new("synth:6:3"), &options).unwrap();
    assert_eq!(first.labels(), Labels::Anatomical);
    for (spec, generation, says) in [
        ("synth2:6:3", Generation::Second, "second generation"),
        ("synth3:6:3", Generation::Third, "third generation"),
    ] {
        let later = hourhand::data::open(Path::new(spec), &options).unwrap();
        assert!(later.describe().contains(says), "{}", later.describe());
        assert!(later.frame_path(1).starts_with(spec));
        assert_eq!(later.labels(), Labels::Nyu);
        let options = SynthOptions {
            generation,
            ..SynthOptions::default()
        };
        for i in 0..3 {
            let Some(GroundTruth::Full(joints)) = later.ground_truth(i) else {
                panic!("{spec}: frame {i} has no joints");
            };
            assert_eq!(joints, joints_uvd(6, i as u64, &options));
            let Some(GroundTruth::Full(other)) = first.ground_truth(i) else {
                panic!("frame {i} has no joints");
            };
            // Both place the hand by its palm point, so that lands where the first's did; the
            // hand around it does not.
            assert_ne!(
                joints[30] - joints[PRIOR_JOINT],
                other[30] - other[PRIOR_JOINT]
            );
        }
    }
}

#[test]
fn bad_synthetic_specs_say_what_is_wrong() {
    let options = OpenOptions::default();
    for (spec, says) in [
        ("synth:x:3", "seed `x` is not a whole number"),
        ("synth:1", "synth:SEED:FRAMES"),
        ("synth:1:0", "at least one frame"),
        ("synth:1:-2", "frame count `-2`"),
        ("synth2:1", "synth2:SEED:FRAMES"),
        ("synth2:y:4", "seed `y` is not a whole number"),
        ("synth3:5:0", "at least one frame"),
    ] {
        let e = hourhand::data::open(Path::new(spec), &options)
            .err()
            .unwrap();
        let text = e.to_string();
        assert!(text.contains(spec) && text.contains(says), "{spec}: {text}");
    }
    let camera = OpenOptions {
        intrinsics: Some(Intrinsics::NYU),
        ..OpenOptions::default()
    };
    let e = hourhand::data::open(Path::new("synth:1:2"), &camera)
        .err()
        .unwrap();
    assert!(e.to_string().contains("their own camera"), "{e}");
    let source = hourhand::data::open(Path::new("synth:1:2"), &options).unwrap();
    let e = source.load(2).err().unwrap();
    assert!(e.to_string().contains("no frame 3"), "{e}");
}
