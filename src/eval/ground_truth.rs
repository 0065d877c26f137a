//! Where ground truth comes from: a results-format file, an NYU dataset or split folder (the
//! kinect-1 joints of its `joint_data.mat`: `joint_uvd`, or `joint_xyz` for xyz evaluation), or
//! a synthetic sequence `synth3:SEED:FRAMES` (its joints posed on the fly, nothing rendered: the
//! same as the folder `hourhand synth` writes would give).

use std::path::{Path, PathBuf};

use super::results::{self, Coords, Format, Frame, ResultsError};
use crate::data::DataError;
use crate::data::joints::{EVAL_SUBSET, NUM_JOINTS};
use crate::data::nyu::{JOINT_DATA, read_joints_f64, split_dir};
use crate::data::synth::{SynthOptions, joints_uvd, joints_xyz, parse_spec};

/// Why ground truth could not be loaded. Every variant names the path.
#[derive(Debug, thiserror::Error)]
pub enum GroundTruthError {
    /// The path does not exist.
    #[error(
        "{path}: no such file or folder (expected a ground-truth results file, an NYU folder or synth3:SEED:FRAMES)"
    )]
    Missing {
        /// The path.
        path: PathBuf,
    },
    /// A folder or synthetic sequence asked for a joint layout NYU annotations cannot give.
    #[error(
        "{path}: NYU's annotations (a folder's or synthetic hands') have 14 or 36 joints per frame; {joints} were asked for"
    )]
    Joints {
        /// The folder.
        path: PathBuf,
        /// Joints asked for.
        joints: usize,
    },
    /// The NYU folder could not be read.
    #[error(transparent)]
    Folder(#[from] DataError),
    /// The file is not a valid results file.
    #[error(transparent)]
    Results(#[from] ResultsError),
}

/// Loads ground truth from `path`: a results-format file in `format`, or an NYU dataset folder
/// (its `test` split) or split folder, giving the 14 evaluation joints or all 36 in `format`'s
/// coordinates.
pub fn load_ground_truth(path: &Path, format: Format) -> Result<Vec<Frame>, GroundTruthError> {
    let pick = || -> Result<Vec<usize>, GroundTruthError> {
        match format.joints {
            14 => Ok(EVAL_SUBSET.to_vec()),
            NUM_JOINTS => Ok((0..NUM_JOINTS).collect()),
            joints => Err(GroundTruthError::Joints {
                path: path.into(),
                joints,
            }),
        }
    };
    if let Some(spec) = parse_spec(path) {
        let (spec, pick) = (spec?, pick()?);
        let options = SynthOptions {
            generation: spec.generation,
            ..SynthOptions::default()
        };
        let joints = match format.coords {
            Coords::Uvd => joints_uvd,
            Coords::Xyz => joints_xyz,
        };
        Ok((0..spec.frames as u64)
            .map(|i| {
                let joints = joints(spec.seed, i, &options);
                pick.iter().map(|&j| joints[j].as_dvec3()).collect()
            })
            .collect())
    } else if path.is_dir() {
        let pick = pick()?;
        let mat = split_dir(path, None)?.join(JOINT_DATA);
        let variable = match format.coords {
            Coords::Uvd => "joint_uvd",
            Coords::Xyz => "joint_xyz",
        };
        let joints = read_joints_f64(&mat, variable, 1)?;
        Ok(joints
            .iter()
            .map(|j| pick.iter().map(|&i| j[i]).collect())
            .collect())
    } else if !path.exists() {
        Err(GroundTruthError::Missing { path: path.into() })
    } else {
        Ok(results::read(path, format)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_nyu_folders_and_missing_paths_are_clear_errors() {
        let dir = std::env::temp_dir().join(format!("hourhand-gt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let e = load_ground_truth(&dir, Format::NYU)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("not an NYU folder") && e.contains(&dir.display().to_string()),
            "{e}"
        );
        let missing = dir.join("hourhand-no-such-gt.txt");
        let e = load_ground_truth(&missing, Format::NYU)
            .unwrap_err()
            .to_string();
        assert!(e.contains("hourhand-no-such-gt.txt: no such file"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn synthetic_sequences_give_their_posed_joints() {
        use crate::data::synth::Generation;
        let options = SynthOptions {
            generation: Generation::Third,
            ..SynthOptions::default()
        };
        let uvd = load_ground_truth(Path::new("synth3:5:3"), Format::NYU).unwrap();
        let xyz = Format {
            joints: NUM_JOINTS,
            coords: Coords::Xyz,
        };
        let all = load_ground_truth(Path::new("synth3:5:3"), xyz).unwrap();
        assert_eq!((uvd.len(), all.len()), (3, 3));
        for i in 0..3 {
            let want = joints_uvd(5, i as u64, &options);
            let want: Vec<_> = EVAL_SUBSET.iter().map(|&j| want[j].as_dvec3()).collect();
            assert_eq!(uvd[i], want);
            let want = joints_xyz(5, i as u64, &options).map(|p| p.as_dvec3());
            assert_eq!(all[i], want);
        }
        // Another generation is another hand.
        let second = load_ground_truth(Path::new("synth2:5:3"), Format::NYU).unwrap();
        assert_ne!(second[0], uvd[0]);
        for (spec, joints, says) in [
            ("synth3:5:x", 14, "frame count `x`"),
            ("synth3:5:3", 21, "14 or 36 joints"),
        ] {
            let format = Format {
                joints,
                coords: Coords::Uvd,
            };
            let e = load_ground_truth(Path::new(spec), format)
                .unwrap_err()
                .to_string();
            assert!(e.contains(spec) && e.contains(says), "{e}");
        }
    }
}
