//! The community results format (awesome-hand-pose-estimation): one line per test frame, each
//! joint as three space-separated numbers, joints in a fixed order.
//!
//! NYU files hold the 14 evaluation joints ([`crate::data::EVAL_SUBSET`] order) as `u v d`
//! (pixels, pixels, millimetres); hourhand also reads and writes all 36 joints, and the `x y z`
//! (millimetres) flavour some methods publish. The file itself does not say which it is, so the
//! reader is told with a [`Format`]; a wrong guess shows up as a field-count error on line 1.
//!
//! Reading is strict, because a silently shifted line would misattribute every later frame:
//! every line must have exactly `3 × joints` finite numbers, and only trailing blank lines are
//! skipped. Errors name the file, the line (1-based, as editors show it) and, for a bad value,
//! the field and the joint.

use std::fmt;
use std::path::{Path, PathBuf};

use glam::DVec3;

use crate::files::{WriteError, write_atomic};

/// The joints of one frame, in file order.
pub type Frame = Vec<DVec3>;

/// What the three numbers of a joint mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Coords {
    /// Pixel column, pixel row, depth in millimetres (the usual NYU files).
    Uvd,
    /// Camera-space millimetres, y up.
    Xyz,
}

impl fmt::Display for Coords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Coords::Uvd => "u v d",
            Coords::Xyz => "x y z",
        })
    }
}

/// The layout of a results file: how many joints per line and what their numbers mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Format {
    /// Joints per line (14 for the NYU evaluation subset, 36 for all NYU joints).
    pub joints: usize,
    /// What each joint's three numbers are.
    pub coords: Coords,
}

impl Format {
    /// The 14 NYU evaluation joints as `u v d`: the shared files and published results.
    pub const NYU: Format = Format {
        joints: 14,
        coords: Coords::Uvd,
    };

    /// Numbers per line.
    pub fn numbers(&self) -> usize {
        3 * self.joints
    }

    /// The axis name of the `i`-th number of a joint (`u`, `v`, `d` or `x`, `y`, `z`).
    fn axis(&self, i: usize) -> &'static str {
        let names = match self.coords {
            Coords::Uvd => ["u", "v", "d"],
            Coords::Xyz => ["x", "y", "z"],
        };
        names[i % 3]
    }
}

/// Why a results file could not be read or written. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file exists and overwriting was not asked for.
    #[error("{path}: already exists; refusing to overwrite it (pass --force to replace it)")]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// The file holds no frames.
    #[error("{path}: empty; expected one line per frame of {numbers} numbers ({what})")]
    Empty {
        /// The file.
        path: PathBuf,
        /// Numbers expected per line.
        numbers: usize,
        /// The layout in words, e.g. `14 joints × u v d`.
        what: String,
    },
    /// A blank line before the last frame: frames after it would be off by one.
    #[error(
        "{path}: line {line} is blank; every frame needs its line (only trailing blank lines are allowed)"
    )]
    BlankLine {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
    /// A line with the wrong number of fields.
    #[error("{path}: line {line}: expected {expected} numbers ({what}), found {found}")]
    FieldCount {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// Numbers expected.
        expected: usize,
        /// Numbers found.
        found: usize,
        /// The layout in words.
        what: String,
    },
    /// A field that is not a number.
    #[error("{path}: line {line}, field {field} (joint {joint}, {axis}): `{text}` is not a number")]
    NotANumber {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// 1-based field number on the line.
        field: usize,
        /// 0-based joint index.
        joint: usize,
        /// Which of the joint's three numbers.
        axis: &'static str,
        /// What the field holds.
        text: String,
    },
    /// A NaN or infinite value: it would poison every mean it enters.
    #[error(
        "{path}: line {line}, field {field} (joint {joint}, {axis}): {value} is not a finite number"
    )]
    NonFinite {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// 1-based field number on the line.
        field: usize,
        /// 0-based joint index.
        joint: usize,
        /// Which of the joint's three numbers.
        axis: &'static str,
        /// The value.
        value: f64,
    },
    /// Frames to write that do not fit one line format.
    #[error("{path}: cannot write frame {frame}: {problem}")]
    Unwritable {
        /// The file.
        path: PathBuf,
        /// 0-based frame index.
        frame: usize,
        /// What is wrong with it.
        problem: String,
    },
    /// Predictions and ground truth cover different numbers of frames.
    #[error(
        "{pred} has {pred_frames} frames but the ground truth {gt} has {gt_frames}; \
         a results file needs one line per ground-truth frame"
    )]
    FrameCount {
        /// The ground-truth file.
        gt: PathBuf,
        /// Its frame count.
        gt_frames: usize,
        /// The predictions file.
        pred: PathBuf,
        /// Its frame count.
        pred_frames: usize,
    },
}

/// Reads a results file: one [`Frame`] of `format.joints` joints per line.
pub fn read(path: &Path, format: Format) -> Result<Vec<Frame>, ResultsError> {
    let text = std::fs::read_to_string(path).map_err(|source| ResultsError::Io {
        path: path.into(),
        source,
    })?;
    parse(&text, path, format)
}

/// Parses the text of a results file; `path` only names it in errors.
pub fn parse(text: &str, path: &Path, format: Format) -> Result<Vec<Frame>, ResultsError> {
    let what = format!("{} joints × {}", format.joints, format.coords);
    let lines: Vec<&str> = text.lines().collect();
    // Trailing blank lines are common (an editor's final newline, `>>` appends); blank lines
    // anywhere else are an error.
    let used = lines
        .iter()
        .rposition(|l| !l.trim().is_empty())
        .map_or(0, |i| i + 1);
    if used == 0 {
        return Err(ResultsError::Empty {
            path: path.into(),
            numbers: format.numbers(),
            what,
        });
    }
    let mut frames = Vec::with_capacity(used);
    let mut values = Vec::with_capacity(format.numbers());
    for (i, line) in lines[..used].iter().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            return Err(ResultsError::BlankLine {
                path: path.into(),
                line: line_no,
            });
        }
        let found = line.split_whitespace().count();
        if found != format.numbers() {
            return Err(ResultsError::FieldCount {
                path: path.into(),
                line: line_no,
                expected: format.numbers(),
                found,
                what,
            });
        }
        values.clear();
        for (f, field) in line.split_whitespace().enumerate() {
            let (joint, axis) = (f / 3, format.axis(f));
            let value: f64 = field.parse().map_err(|_| ResultsError::NotANumber {
                path: path.into(),
                line: line_no,
                field: f + 1,
                joint,
                axis,
                text: field.into(),
            })?;
            if !value.is_finite() {
                return Err(ResultsError::NonFinite {
                    path: path.into(),
                    line: line_no,
                    field: f + 1,
                    joint,
                    axis,
                    value,
                });
            }
            values.push(value);
        }
        frames.push(
            values
                .chunks_exact(3)
                .map(|c| DVec3::new(c[0], c[1], c[2]))
                .collect(),
        );
    }
    Ok(frames)
}

/// Formats frames as the text of a results file: `%.3f` numbers, single spaces, one line per
/// frame, like the published files (millimetre and pixel thousandths are far below any error
/// worth reporting).
pub fn format(frames: &[Frame]) -> String {
    let mut out = String::with_capacity(frames.len() * frames.first().map_or(0, |f| f.len() * 24));
    for frame in frames {
        let mut first = true;
        for v in frame.iter().flat_map(|j| j.to_array()) {
            if !first {
                out.push(' ');
            }
            first = false;
            out.push_str(&format!("{v:.3}"));
        }
        out.push('\n');
    }
    out
}

/// Writes frames as a results file, atomically (a temporary file renamed into place). Refuses
/// to replace an existing file unless `overwrite` is set, and refuses frames the reader would
/// reject (no frames, differing joint counts, non-finite values).
pub fn write(path: &Path, frames: &[Frame], overwrite: bool) -> Result<(), ResultsError> {
    let unwritable = |frame, problem: String| ResultsError::Unwritable {
        path: path.into(),
        frame,
        problem,
    };
    let joints = match frames.first() {
        None => return Err(unwritable(0, "there are no frames".into())),
        Some(f) if f.is_empty() => return Err(unwritable(0, "it has no joints".into())),
        Some(f) => f.len(),
    };
    for (i, frame) in frames.iter().enumerate() {
        if frame.len() != joints {
            return Err(unwritable(
                i,
                format!("{} joints, but frame 0 has {joints}", frame.len()),
            ));
        }
        if let Some(j) = frame.iter().position(|v| !v.is_finite()) {
            return Err(unwritable(
                i,
                format!("joint {j} is {} (not finite)", frame[j]),
            ));
        }
    }
    write_atomic(path, format(frames).as_bytes(), overwrite).map_err(|e| match e {
        WriteError::Exists { path } => ResultsError::Exists { path },
        WriteError::Io { path, source } => ResultsError::Io { path, source },
    })
}

/// Checks that a predictions file has one frame per ground-truth frame.
pub fn check_frame_counts(
    gt: &Path,
    gt_frames: usize,
    pred: &Path,
    pred_frames: usize,
) -> Result<(), ResultsError> {
    if gt_frames == pred_frames {
        Ok(())
    } else {
        Err(ResultsError::FrameCount {
            gt: gt.into(),
            gt_frames,
            pred: pred.into(),
            pred_frames,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str, format: Format) -> String {
        parse(text, Path::new("x/preds.txt"), format)
            .unwrap_err()
            .to_string()
    }

    fn line(n: usize, v: f64) -> String {
        vec![format!("{v}"); n].join(" ")
    }

    #[test]
    fn parses_frames_and_skips_only_trailing_blank_lines() {
        let text = format!("{}\n{} \r\n\n  \n", line(42, 1.5), line(42, -2.0));
        let frames = parse(&text, Path::new("p.txt"), Format::NYU).unwrap();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].len(), 14);
        assert_eq!(frames[1][13], DVec3::splat(-2.0));

        let text = format!("{}\n\n{}\n", line(42, 1.0), line(42, 1.0));
        let e = err(&text, Format::NYU);
        assert!(e.contains("x/preds.txt: line 2 is blank"), "{e}");
    }

    #[test]
    fn wrong_field_count_names_the_line_and_the_layout() {
        let mut text = String::new();
        for _ in 0..16 {
            text += &line(42, 100.0);
            text += "\n";
        }
        text += &line(41, 100.0);
        let e = err(&text, Format::NYU);
        assert_eq!(
            e,
            "x/preds.txt: line 17: expected 42 numbers (14 joints × u v d), found 41"
        );
        let full = Format {
            joints: 36,
            coords: Coords::Xyz,
        };
        let e = err(&line(42, 1.0), full);
        assert!(
            e.contains("expected 108 numbers (36 joints × x y z), found 42"),
            "{e}"
        );
    }

    #[test]
    fn non_numbers_and_non_finite_values_name_the_field() {
        let mut fields = vec!["1.0"; 42];
        fields[4] = "12,5";
        let e = err(&fields.join(" "), Format::NYU);
        assert!(
            e.contains("line 1, field 5 (joint 1, v): `12,5` is not a number"),
            "{e}"
        );
        fields[4] = "1";
        fields[41] = "NaN";
        let e = err(
            &format!("{}\n{}", line(42, 0.0), fields.join(" ")),
            Format::NYU,
        );
        assert!(
            e.contains("line 2, field 42 (joint 13, d): NaN is not a finite number"),
            "{e}"
        );
        fields[41] = "inf";
        assert!(err(&fields.join(" "), Format::NYU).contains("inf is not a finite"));
    }

    #[test]
    fn an_empty_file_is_an_error() {
        for text in ["", "\n\n", "  \n"] {
            let e = err(text, Format::NYU);
            assert!(
                e.contains("x/preds.txt: empty; expected one line per frame of 42"),
                "{e}"
            );
        }
    }

    #[test]
    fn write_then_read_round_trips_to_a_thousandth_and_never_overwrites() {
        let dir = std::env::temp_dir().join(format!("hourhand-results-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("r.txt");
        let _ = std::fs::remove_file(&path);
        let frames: Vec<Frame> = (0..3)
            .map(|f| {
                (0..14)
                    .map(|j| DVec3::new(169.8514 + f as f64, 201.3956 - j as f64, 739.9237))
                    .collect()
            })
            .collect();
        write(&path, &frames, false).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("169.851 201.396 739.924 169.851 200.396"),
            "{text}"
        );
        let back = read(&path, Format::NYU).unwrap();
        assert_eq!(back.len(), 3);
        for (a, b) in frames.iter().flatten().zip(back.iter().flatten()) {
            assert!((*a - *b).abs().max_element() <= 0.0005 + 1e-9);
        }
        let e = write(&path, &frames[..1], false).unwrap_err().to_string();
        assert!(e.contains("already exists"), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        write(&path, &frames[..1], true).unwrap();
        assert_eq!(read(&path, Format::NYU).unwrap().len(), 1);

        let mut bad = frames.clone();
        bad[2][3].y = f64::NAN;
        let e = write(&dir.join("bad.txt"), &bad, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("frame 2: joint 3"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_frame_count_mismatch_names_both_files_and_counts() {
        let e = check_frame_counts(Path::new("gt.txt"), 8252, Path::new("p.txt"), 8251)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("p.txt has 8251 frames") && e.contains("gt.txt has 8252"),
            "{e}"
        );
        assert!(check_frame_counts(Path::new("a"), 3, Path::new("b"), 3).is_ok());
    }
}
