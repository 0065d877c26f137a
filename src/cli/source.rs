//! The options that say which frames to read and where the hand is: shared by `infer`, `eval`
//! and `view`.

use std::path::PathBuf;

use clap::Args;
use hourhand::data::centers::read_centers;
use hourhand::data::detect::DetectOptions;
use hourhand::data::source::Source;
use hourhand::data::{Intrinsics, OpenOptions};
use hourhand::estimator::{Centers, REFINE_PASSES};

/// A source of depth frames.
#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// An NYU dataset folder (test/ and train/), an NYU split folder, or a folder of depth PNGs
    /// (16-bit grayscale in mm, or NYU's RGB packing).
    pub source: PathBuf,
    /// NYU: which split of a dataset folder.
    #[arg(long, value_parser = ["test", "train"])]
    pub split: Option<String>,
    /// NYU: which kinect (1 is the frontal view of the standard protocol).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=3))]
    pub kinect: u32,
    /// Frame folders: focal length along u (pixels); overrides intrinsics.json.
    #[arg(long, requires_all = ["fy", "cx", "cy"])]
    pub fx: Option<f64>,
    /// Frame folders: focal length along v (pixels).
    #[arg(long, requires_all = ["fx", "cx", "cy"])]
    pub fy: Option<f64>,
    /// Frame folders: principal point u (pixels).
    #[arg(long, requires_all = ["fx", "fy", "cy"])]
    pub cx: Option<f64>,
    /// Frame folders: principal point v (pixels).
    #[arg(long, requires_all = ["fx", "fy", "cx"])]
    pub cy: Option<f64>,
    /// Frame folders: ground truth, a results-format file (14 joints × u v d per line).
    #[arg(long)]
    pub gt: Option<PathBuf>,
}

impl SourceArgs {
    /// Opens the source.
    pub fn open(&self) -> anyhow::Result<Box<dyn Source>> {
        let intrinsics = match (self.fx, self.fy, self.cx, self.cy) {
            (Some(fx), Some(fy), Some(cx), Some(cy)) => Some(Intrinsics { fx, fy, cx, cy }),
            _ => None,
        };
        let options = OpenOptions {
            split: self.split.clone(),
            kinect: self.kinect,
            intrinsics,
            ground_truth: self.gt.clone(),
        };
        Ok(hourhand::data::open(&self.source, &options)?)
    }
}

/// Where each crop is centred, and how big the hand cube is.
#[derive(Debug, Clone, Args)]
pub struct CenterArgs {
    /// `gt` (the annotated palm centre, the paper's protocol), `detect` (closest object), or a
    /// file of centres, one `x y z` (mm, y up) per frame. Default: `gt` when the source is
    /// annotated, else `detect`.
    #[arg(long)]
    pub center: Option<String>,
    /// The hand cube's side in mm; default 300 (250 for NYU test frames 2441–8252).
    #[arg(long)]
    pub cube: Option<f32>,
    /// Network passes after the first that re-centre each crop on the palm centre the previous
    /// pass predicted: for detected centres (default 2) and centres files (default 0). Each
    /// pass costs one more network run.
    #[arg(long)]
    pub refine: Option<usize>,
}

impl CenterArgs {
    /// The centre policy for `source`.
    pub fn centers(&self, source: &dyn Source) -> anyhow::Result<Centers> {
        let annotated = source.ground_truth(0).is_some();
        Ok(match self.center.as_deref() {
            None if annotated => Centers::GroundTruth,
            None | Some("detect") => Centers::Detect(DetectOptions::default()),
            Some("gt") => {
                anyhow::ensure!(
                    annotated,
                    "--center gt: {} has no ground truth; use --center detect or a centres file",
                    source.describe()
                );
                Centers::GroundTruth
            }
            Some(file) => {
                let path = PathBuf::from(file);
                let centers = read_centers(&path)?;
                anyhow::ensure!(
                    centers.len() == source.len(),
                    "{}: {} centres for {} frames; expected one line per frame",
                    path.display(),
                    centers.len(),
                    source.len()
                );
                Centers::Given(centers)
            }
        })
    }

    /// How many refining passes follow the first (see [`Estimator::estimate_refined`]).
    ///
    /// [`Estimator::estimate_refined`]: hourhand::estimator::Estimator::estimate_refined
    pub fn refine(&self, centers: &Centers) -> anyhow::Result<usize> {
        Ok(match (centers, self.refine) {
            (Centers::GroundTruth, Some(n)) if n > 0 => anyhow::bail!(
                "--refine {n}: crops are centred on the annotated palm, which is exact; refining applies to detected centres (--center detect) or a centres file"
            ),
            (Centers::GroundTruth, _) => 0,
            (Centers::Detect(_), None) => REFINE_PASSES,
            (Centers::Given(_), None) => 0,
            (_, Some(n)) => n,
        })
    }

    /// The cube for frame `index`.
    pub fn cube(&self, source: &dyn Source, index: usize) -> f32 {
        self.cube.unwrap_or_else(|| source.cube(index))
    }
}
