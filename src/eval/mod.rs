//! Evaluation: the community results format, the field's metrics and their plots.
//!
//! - [`results`]: read and write results files (one line per frame, joints × `u v d`).
//! - [`ground_truth`]: load the ground truth a results file is scored against.
//! - [`metrics`]: 3D joint errors → mean, per-joint and per-subject means, success rates; built
//!   on an incremental [`Accumulator`] a viewer can feed frame by frame.
//! - [`views`]: the mean error over the frames showing the palm, an edge or the back.
//! - [`proportions`]: where a set of labels puts the hand's points, how it holds the hand.
//! - [`plot`]: success-rate curves and per-joint bars of several methods, as SVG or PNG.
//!
//! A typical evaluation reads the ground truth and each predictions file with the same
//! [`Format`], checks the frame counts ([`results::check_frame_counts`] names both files), and
//! calls [`evaluate`] with [`Intrinsics::NYU_EVAL`](crate::data::Intrinsics::NYU_EVAL).

pub mod ground_truth;
pub mod metrics;
pub mod plot;
pub mod proportions;
pub mod results;
pub mod views;

pub use ground_truth::{GroundTruthError, load_ground_truth};
pub use metrics::{Accumulator, MetricsError, Report, Subset, evaluate, frame_errors};
pub use plot::{PlotError, Series};
pub use results::{Coords, Format, Frame, ResultsError};
pub use views::{ViewMean, by_view};
