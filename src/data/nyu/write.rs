//! Writing an NYU-format split folder (what `hourhand synth` produces): frames are encoded and
//! written as they are made, in parallel, so memory holds joints, not images.

use std::path::Path;

use rayon::prelude::*;

use super::{JOINT_DATA, LABELS_FILE, frame_file};
use crate::data::depth::DepthMap;
use crate::data::depth_png::{DepthPacking, write_depth_png};
use crate::data::error::DataError;
use crate::data::joints::{JOINT_NAMES, Joints, Labels, NUM_JOINTS};
use crate::data::mat::{self, CellArray, MatArray, NumericArray, NumericClass, WriteOptions};
use crate::files::write_atomic;

/// One frame to write.
pub struct SplitFrame {
    /// Depth (mm).
    pub depth: DepthMap,
    /// The 36 joints, camera space (mm, y up).
    pub xyz: Joints,
    /// The 36 joints, (u, v, d).
    pub uvd: Joints,
}

/// Writes `count` frames made by `make(i)` into `dir` as kinect 1 (`depth_1_NNNNNNN.png`, NYU RGB
/// packing) and a `joint_data.mat` (compressed MAT 5, 1 × count × 36 × 3 doubles) with
/// `joint_names`, `joint_uvd` and `joint_xyz`, and where `labels` is not NYU's convention a
/// [`LABELS_FILE`] naming it. `done` is called once per frame written (from any thread).
/// Refuses a folder that already holds NYU files unless `overwrite`.
pub fn write_split(
    dir: &Path,
    count: usize,
    make: impl Fn(usize) -> SplitFrame + Sync,
    done: impl Fn() + Sync,
    labels: Labels,
    overwrite: bool,
) -> Result<(), DataError> {
    let mat_path = dir.join(JOINT_DATA);
    if !overwrite && (mat_path.exists() || dir.join(frame_file(1, 1)).exists()) {
        return Err(DataError::Exists { path: dir.into() });
    }
    std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
    let joints: Vec<(Joints, Joints)> = (0..count)
        .into_par_iter()
        .map(|i| {
            let frame = make(i);
            let path = dir.join(frame_file(1, i + 1));
            write_depth_png(
                &path,
                &frame.depth,
                DepthPacking::NyuRgb,
                png::Compression::Balanced,
                overwrite,
            )?;
            done();
            Ok((frame.uvd, frame.xyz))
        })
        .collect::<Result<_, DataError>>()?;
    let array = |pick: fn(&(Joints, Joints)) -> &Joints| {
        // Column-major 1 × N × 36 × 3: index = n + N·(j + 36·c).
        let mut data = vec![0.0f64; count * NUM_JOINTS * 3];
        for (n, frame) in joints.iter().enumerate() {
            for (j, p) in pick(frame).iter().enumerate() {
                for (c, v) in p.to_array().into_iter().enumerate() {
                    data[n + count * (j + NUM_JOINTS * c)] = v as f64;
                }
            }
        }
        let dims = vec![1, count, NUM_JOINTS, 3];
        MatArray::Numeric(
            NumericArray::new(NumericClass::Double, dims, data).expect("dims match the data"),
        )
    };
    let names = MatArray::Cell(CellArray::of_strings(&JOINT_NAMES));
    let (uvd, xyz) = (array(|f| &f.0), array(|f| &f.1));
    let variables = [
        ("joint_names", &names),
        ("joint_uvd", &uvd),
        ("joint_xyz", &xyz),
    ];
    mat::write(
        &mat_path,
        "hourhand NYU-format joint data",
        &variables,
        WriteOptions {
            compress: true,
            overwrite,
        },
    )?;
    let note = dir.join(LABELS_FILE);
    if labels == Labels::Nyu {
        // A split rewritten in NYU's convention keeps no note of an earlier one.
        if overwrite && note.exists() {
            std::fs::remove_file(&note).map_err(|e| DataError::io(&note, e))?;
        }
    } else {
        let json = format!("{{\"labels\": \"{}\"}}\n", labels.name());
        write_atomic(&note, json.as_bytes(), overwrite)?;
    }
    Ok(())
}
