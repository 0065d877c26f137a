//! The data path end to end: synthetic hands written in NYU's format and read back through the
//! NYU reader, bad NYU folders, crops of real (synthetic) frames, and the hand detector.

mod common;

use common::write_synthetic_split;

use std::path::Path;

use hourhand::data::crop::Crop;
use hourhand::data::depth_png::{DepthPacking, write_depth_png};
use hourhand::data::detect::{DetectOptions, detect_hand};
use hourhand::data::mat::{self, CellArray, MatArray, NumericArray, NumericClass, WriteOptions};
use hourhand::data::nyu::{SplitFrame, write_split};
use hourhand::data::synth::{Generation, SynthOptions, generate};
use hourhand::data::{DepthMap, JOINT_NAMES, Labels, OpenOptions, PRIOR_JOINT, open};

#[test]
fn a_synthetic_dataset_reads_back_through_the_nyu_reader() {
    let root = common::scratch("data", "roundtrip");
    let dir = root.join("test");
    write_synthetic_split(&dir, 3, 5, false).unwrap();
    // The dataset folder (holding test/) and the split folder open the same sequence.
    for path in [&*root, dir.as_path()] {
        let source = open(path, &OpenOptions::default()).unwrap();
        assert_eq!(source.len(), 5);
        assert!(
            source.describe().contains("NYU test, kinect 1: 5 frames"),
            "{}",
            source.describe()
        );
    }
    let source = open(&root, &OpenOptions::default()).unwrap();
    let options = SynthOptions::default();
    for i in 0..5 {
        let made = generate(3, i as u64, &options);
        let frame = source.load(i).unwrap();
        assert_eq!(frame.name, format!("depth_1_{:07}.png", i + 1));
        // Depth is whole millimetres, so the PNG holds it exactly.
        assert_eq!(frame.depth, made.depth, "frame {i}");
        let xyz = frame.joints_xyz().unwrap();
        for (j, (read, made)) in xyz.iter().zip(&made.joints_xyz).enumerate() {
            assert!((*read - *made).length() < 1e-3, "frame {i} joint {j}");
        }
        assert_eq!(source.cube(i), 300.0);
    }
    // The first generation's labels are not NYU's convention, and the folder says so.
    assert_eq!(source.labels(), Labels::Anatomical);
    // The MAT-file has NYU's variables, names and shapes.
    let file = mat::MatFile::read(&dir.join("joint_data.mat")).unwrap();
    assert_eq!(file.strings("joint_names").unwrap(), JOINT_NAMES);
    for variable in ["joint_uvd", "joint_xyz"] {
        assert_eq!(file.numeric(variable).unwrap().dims, [1, 5, 36, 3]);
    }
}

#[test]
fn the_same_seed_gives_the_same_bytes_and_nothing_is_overwritten() {
    let (a, b) = (
        common::scratch("data", "same-a"),
        common::scratch("data", "same-b"),
    );
    write_synthetic_split(&a, 11, 3, false).unwrap();
    write_synthetic_split(&b, 11, 3, false).unwrap();
    let mut names: Vec<_> = std::fs::read_dir(&a)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    // Three frames, joint_data.mat and labels.json (the first generation's convention).
    assert_eq!(names.len(), 5, "{names:?}");
    for name in &names {
        let (x, y) = (
            std::fs::read(a.join(name)).unwrap(),
            std::fs::read(b.join(name)).unwrap(),
        );
        assert!(x == y, "{name:?} differs between two runs of seed 11");
    }
    let before = std::fs::read(a.join("joint_data.mat")).unwrap();
    let e = write_synthetic_split(&a, 12, 3, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("already exists") && e.contains("--force"), "{e}");
    assert_eq!(std::fs::read(a.join("joint_data.mat")).unwrap(), before);
}

fn joints_array(dims: Vec<usize>) -> MatArray {
    let n = dims.iter().product();
    MatArray::Numeric(NumericArray::new(NumericClass::Double, dims, vec![100.0; n]).unwrap())
}

fn write_mat(dir: &Path, variables: &[(&str, &MatArray)]) {
    mat::write(
        &dir.join("joint_data.mat"),
        "test",
        variables,
        WriteOptions::default(),
    )
    .unwrap();
}

fn open_error(dir: &Path) -> String {
    match open(dir, &OpenOptions::default()) {
        Ok(_) => panic!("{} opened", dir.display()),
        Err(e) => e.to_string(),
    }
}

/// NYU's depth frames copied out without its `joint_data.mat` (its RGB images and another
/// kinect's frames beside them) open as a folder of depth frames: NYU's camera, kinect 1's depth
/// frames only, and a results file accepted as ground truth. Once `joint_data.mat` is there, the
/// folder is NYU's own and `--gt` is refused.
#[test]
fn nyu_frames_without_joint_data_open_as_frames_that_take_ground_truth() {
    let dir = common::scratch("data", "nyu-frames");
    let depth = DepthMap::new(640, 480, vec![700.0; 640 * 480]).unwrap();
    for name in [
        "depth_1_0000001.png",
        "depth_1_0000002.png",
        "depth_1_0000003.png",
        "depth_2_0000001.png",
    ] {
        write_depth_png(
            &dir.join(name),
            &depth,
            DepthPacking::NyuRgb,
            png::Compression::Fast,
            false,
        )
        .unwrap();
    }
    std::fs::write(dir.join("rgb_1_0000001.png"), b"not a depth frame").unwrap();
    let line = |k: usize| {
        let v: Vec<String> = (0..42).map(|i| format!("{}.5", 100 + i + k)).collect();
        v.join(" ") + "\n"
    };
    let gt = dir.join("gt.txt");
    std::fs::write(&gt, (0..3).map(line).collect::<String>()).unwrap();
    let options = OpenOptions {
        ground_truth: Some(gt.clone()),
        ..Default::default()
    };
    let source = open(&dir, &options).unwrap();
    assert_eq!(source.len(), 3, "{}", source.describe());
    assert_eq!(source.intrinsics(), hourhand::data::Intrinsics::NYU);
    assert!(
        source.describe().contains("with ground truth"),
        "{}",
        source.describe()
    );
    let frame = source.load(2).unwrap();
    assert_eq!(frame.name, "depth_1_0000003.png");
    assert!(frame.ground_truth.is_some());
    // Kinect 2's frames are chosen with --kinect like in NYU's own folders.
    let two = OpenOptions {
        kinect: 2,
        ..Default::default()
    };
    assert_eq!(open(&dir, &two).unwrap().len(), 1);
    // A ground truth of the wrong length names both.
    std::fs::write(&gt, (0..2).map(line).collect::<String>()).unwrap();
    let e = match open(&dir, &options) {
        Ok(_) => panic!("two lines for three frames opened"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains("3 depth frames") && e.contains("gt.txt has 2 lines"),
        "{e}"
    );
    // With NYU's annotations the folder is NYU's own: its camera and joints, --gt refused.
    write_mat(&dir, &[("joint_uvd", &joints_array(vec![1, 3, 36, 3]))]);
    let e = match open(&dir, &options) {
        Ok(_) => panic!("--gt on an NYU folder opened"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("is an NYU folder") && e.contains("--gt"), "{e}");
}

#[test]
fn bad_nyu_folders_say_which_file_and_what_was_expected() {
    let names = MatArray::Cell(CellArray::of_strings(&JOINT_NAMES));
    // joint_data.mat without joint_uvd.
    let dir = common::scratch("data", "no-uvd");
    write_mat(&dir, &[("joint_names", &names)]);
    let e = open_error(&dir);
    assert!(
        e.contains("joint_data.mat") && e.contains("joint_uvd"),
        "{e}"
    );
    // joint_uvd of the wrong shape.
    let dir = common::scratch("data", "shape");
    write_mat(&dir, &[("joint_uvd", &joints_array(vec![1, 4, 35, 3]))]);
    let e = open_error(&dir);
    assert!(
        e.contains("joint_data.mat") && e.contains("36 × 3") && e.contains("35"),
        "{e}"
    );
    // Annotations without images.
    let dir = common::scratch("data", "no-images");
    write_mat(&dir, &[("joint_uvd", &joints_array(vec![1, 4, 36, 3]))]);
    let e = open_error(&dir);
    assert!(
        e.contains("no depth_1_0000001.png") && e.contains("4 depth frames"),
        "{e}"
    );
    // An image of the wrong size, and a truncated one.
    let small = DepthMap::new(7, 5, vec![800.0; 35]).unwrap();
    write_depth_png(
        &dir.join("depth_1_0000001.png"),
        &small,
        DepthPacking::NyuRgb,
        png::Compression::Fast,
        false,
    )
    .unwrap();
    std::fs::write(dir.join("depth_1_0000002.png"), b"\x89PNG\r\n\x1a\n\0\0").unwrap();
    let source = open(&dir, &OpenOptions::default()).unwrap();
    let e = source.load(0).unwrap_err().to_string();
    assert!(
        e.contains("depth_1_0000001.png") && e.contains("640×480") && e.contains("7×5"),
        "{e}"
    );
    let e = source.load(1).unwrap_err().to_string();
    assert!(
        e.contains("depth_1_0000002.png") && e.contains("not a readable PNG"),
        "{e}"
    );
    // A kinect the file does not have.
    let e = match open(
        &dir,
        &OpenOptions {
            kinect: 2,
            ..Default::default()
        },
    ) {
        Ok(_) => panic!("kinect 2 opened"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("1 kinect(s); kinect 2"), "{e}");
    // Not a folder at all.
    let e = open_error(&dir.join("joint_data.mat"));
    assert!(e.contains("is a file"), "{e}");
    // A labels.json that names no convention.
    let dir = common::scratch("data", "labels");
    write_synthetic_split(&dir, 3, 2, false).unwrap();
    for (text, says) in [
        (
            "{\"labels\": \"ulnar\"}",
            "unknown label convention \"ulnar\"",
        ),
        ("{\"label\": \"nyu\"}", "no \"labels\" string"),
        ("labels: nyu", "not JSON"),
    ] {
        std::fs::write(dir.join("labels.json"), text).unwrap();
        let e = open_error(&dir);
        assert!(e.contains("labels.json") && e.contains(says), "{text}: {e}");
    }
}

/// A split rewritten in NYU's convention (the second generation) drops the first's note, and
/// reads as NYU's; real NYU folders have none.
#[test]
fn a_split_records_its_label_convention() {
    let dir = common::scratch("data", "conventions");
    write_synthetic_split(&dir, 3, 2, false).unwrap();
    assert!(dir.join("labels.json").exists());
    let second = SynthOptions {
        generation: Generation::Second,
        ..SynthOptions::default()
    };
    let make = |i: usize| SplitFrame::from(generate(3, i as u64, &second));
    write_split(&dir, 2, make, || {}, Labels::Nyu, true).unwrap();
    assert!(!dir.join("labels.json").exists());
    let source = open(&dir, &OpenOptions::default()).unwrap();
    assert_eq!(source.labels(), Labels::Nyu);
}

#[test]
fn a_ground_truth_crop_holds_the_hand_and_its_joints() {
    let options = SynthOptions::default();
    for i in 0..4 {
        let f = generate(21, i, &options);
        let center = f.joints_xyz[PRIOR_JOINT];
        let crop = Crop::new(center, 300.0, 128, &options.intrinsics).unwrap();
        let input = crop.input(&f.depth);
        // The hand fills a good part of the crop, in front of the centre's depth plane or near it.
        let hand = input.iter().filter(|&&v| v < 0.9).count();
        assert!(
            hand > 128 * 128 / 10,
            "frame {i}: only {hand} hand pixels in the crop"
        );
        assert!(
            input[64 * 128 + 64] < 0.5,
            "frame {i}: the crop centre is not on the hand"
        );
        let target = crop.normalize_joints(&f.joints_xyz);
        assert!(
            target.iter().all(|v| v.abs() <= 1.0),
            "frame {i}: a joint is outside the cube"
        );
        let back = crop.denormalize(&target);
        for (b, j) in back.iter().zip(&f.joints_xyz) {
            assert!((*b - *j).length() < 1e-3);
        }
    }
}

#[test]
fn the_detector_finds_synthetic_hands() {
    let options = SynthOptions::default();
    let errors: Vec<f32> = (0..30)
        .map(|i| {
            let f = generate(5, i, &options);
            let c = detect_hand(&f.depth, &options.intrinsics, &DetectOptions::default()).unwrap();
            (c - f.joints_xyz[PRIOR_JOINT]).length()
        })
        .collect();
    let mean = errors.iter().sum::<f32>() / errors.len() as f32;
    // Measured over 1000 frames: 22.7 mm mean (examples/detect_accuracy.rs).
    assert!(mean < 40.0, "mean centre error {mean} mm: {errors:?}");
    // Every detection lands within the hand cube's half-width.
    assert!(errors.iter().all(|&e| e < 150.0), "{errors:?}");
    let none = DepthMap::new(640, 480, vec![2500.0; 640 * 480]).unwrap();
    assert!(detect_hand(&none, &options.intrinsics, &DetectOptions::default()).is_err());
}

#[test]
fn the_camera_convention_matches_the_shared_nyu_files() {
    // The refined centres are x y z (mm, y up); the ground truth is u v d. With DESIGN §2's
    // conversion the annotated palm centre and the refined hand centre agree to a few cm (the
    // refined centre is the middle of the whole hand, fingers included); with y pointing down (a common mistake) they would not.
    use hourhand::data::Intrinsics;
    use hourhand::data::centers::read_centers;
    use hourhand::eval::results::{self, Format};
    let gt = results::read(
        &common::nyu_file("nyu_test_groundtruth_label.txt"),
        Format::NYU,
    )
    .unwrap();
    let centers = read_centers(&common::nyu_file("awr_center_test_refined.txt")).unwrap();
    assert_eq!(gt.len(), centers.len());
    let k = Intrinsics::NYU_EVAL;
    let mut distances: Vec<f64> = gt
        .iter()
        .zip(&centers)
        .map(|(frame, c)| k.uvd_to_xyz_f64(frame[13]).distance(c.as_dvec3()))
        .collect();
    distances.sort_by(f64::total_cmp);
    let median = distances[distances.len() / 2];
    assert!(median < 45.0, "median palm-to-centre distance {median} mm");
    let flipped = gt
        .iter()
        .zip(&centers)
        .filter(|(frame, c)| {
            let mut p = k.uvd_to_xyz_f64(frame[13]);
            p.y = -p.y;
            p.distance(c.as_dvec3()) < 45.0
        })
        .count();
    assert!(
        flipped < gt.len() / 4,
        "{flipped} frames agree with y down too"
    );
}
