//! fakenect dumps: the recording format of libfreenect's `fakenect-record`, which Debian's
//! fakenect library (a drop-in libfreenect) replays as if a Kinect were plugged in.
//!
//! A dump is a folder with `INDEX.txt`, one file name per line in recording order, each
//! `TYPE-SECONDS-TIMESTAMP…`: `d` depth, `r` colour, `a` accelerometer. A depth file is a
//! one-line PGM header (`P5 640 480 65535`) and 640×480 raw 11-bit disparity values as
//! `uint16` in the recording machine's byte order (little-endian on every machine
//! `fakenect-record` runs on; the PGM convention of big-endian is not followed). hourhand reads
//! dumps itself ([`FakenectDump`], a [`Source`]) and writes them ([`DumpWriter`]), and checks a
//! dump ([`FakenectDump::check_all`]) before handing it to the fakenect library, which exits
//! the process on a missing file and reads past the end of a short one.

use std::io::Write;
use std::path::{Path, PathBuf};

use glam::Vec3;

use super::kinect::{self, HEIGHT, WIDTH};
use crate::data::depth::DepthMap;
use crate::data::error::DataError;
use crate::data::intrinsics::Intrinsics;
use crate::data::source::{Frame, GroundTruth, Source};

/// The index file every dump has.
pub const INDEX: &str = "INDEX.txt";

/// Whether `dir` looks like a fakenect dump (has an `INDEX.txt`).
pub fn is_dump(dir: &Path) -> bool {
    dir.join(INDEX).is_file()
}

/// One depth entry of a dump's index.
#[derive(Debug, Clone, PartialEq)]
pub struct DepthEntry {
    /// The file name, relative to the dump.
    pub file: String,
    /// Seconds (wall clock) when it was recorded.
    pub seconds: f64,
    /// The camera's timestamp.
    pub timestamp: u32,
}

/// A fakenect dump, read as a sequence of its depth frames.
#[derive(Debug)]
pub struct FakenectDump {
    dir: PathBuf,
    entries: Vec<DepthEntry>,
    ground_truth: Option<Vec<[Vec3; 14]>>,
}

impl FakenectDump {
    /// Reads `dir`'s index. `ground_truth`, from a results-format file at `ground_truth_path`,
    /// has one line per depth frame.
    pub fn open(
        dir: &Path,
        ground_truth: Option<Vec<[Vec3; 14]>>,
        ground_truth_path: Option<&Path>,
    ) -> Result<FakenectDump, DataError> {
        let index = dir.join(INDEX);
        let text = std::fs::read_to_string(&index).map_err(|e| DataError::io(&index, e))?;
        let mut entries = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            let bad = |problem: String| DataError::Line {
                path: index.clone(),
                line: n + 1,
                problem,
            };
            let mut parts = line.splitn(4, '-');
            let kind = parts.next().unwrap_or_default();
            let seconds = parts.next().and_then(|s| s.parse::<f64>().ok());
            let timestamp = parts
                .next()
                .map(|s| s.split('.').next().unwrap_or(s))
                .and_then(|s| s.parse::<u32>().ok());
            let (Some(seconds), Some(timestamp)) = (seconds, timestamp) else {
                return Err(bad(format!(
                    "{line:?} is not a fakenect file name; expected TYPE-SECONDS-TIMESTAMP, e.g. d-1291237245.123456-1234567.pgm"
                )));
            };
            if line.contains('/') || line.contains('\\') {
                return Err(bad(format!("{line:?} names a file outside the dump")));
            }
            match kind {
                "d" => entries.push(DepthEntry {
                    file: line.to_owned(),
                    seconds,
                    timestamp,
                }),
                "r" | "a" => {}
                other => {
                    return Err(bad(format!(
                        "{line:?}: unknown entry type {other:?}; expected d (depth), r (colour) or a (accelerometer)"
                    )));
                }
            }
        }
        if entries.is_empty() {
            return Err(DataError::Folder {
                path: dir.into(),
                problem: format!("a fakenect dump whose {INDEX} lists no depth frames (d-…)"),
            });
        }
        if let Some(gt) = &ground_truth
            && gt.len() != entries.len()
        {
            return Err(DataError::Folder {
                path: ground_truth_path.unwrap_or(dir).into(),
                problem: format!(
                    "has {} frames of ground truth; the dump {} has {} depth frames",
                    gt.len(),
                    dir.display(),
                    entries.len()
                ),
            });
        }
        Ok(FakenectDump {
            dir: dir.into(),
            entries,
            ground_truth,
        })
    }

    /// The depth entries, in recording order.
    pub fn entries(&self) -> &[DepthEntry] {
        &self.entries
    }

    /// Frame `index`'s raw 11-bit values.
    pub fn raw(&self, index: usize) -> Result<Vec<u16>, DataError> {
        let path = self.frame_path(index);
        let bytes = std::fs::read(&path).map_err(|e| DataError::io(&path, e))?;
        parse_depth_pgm(&bytes).map_err(|problem| DataError::Corrupt { path, problem })
    }

    /// Checks every file the index lists can be replayed: present and a whole 640×480 frame.
    /// (The fakenect library exits the process on a missing file and reads past a short one.)
    pub fn check_all(&self) -> Result<(), DataError> {
        for i in 0..self.entries.len() {
            self.raw(i)?;
        }
        Ok(())
    }
}

/// The raw values of a fakenect depth file: a one-line `P5 W H 65535` header, then W·H
/// little-endian `uint16`.
pub fn parse_depth_pgm(bytes: &[u8]) -> Result<Vec<u16>, String> {
    let end = bytes
        .iter()
        .take(64)
        .position(|&b| b == b'\n')
        .ok_or("no PGM header line (expected \"P5 640 480 65535\" then a newline)")?;
    let header = std::str::from_utf8(&bytes[..end]).map_err(|_| "the PGM header is not text")?;
    let fields: Vec<&str> = header.split_ascii_whitespace().collect();
    let numbers: Option<Vec<usize>> = fields.iter().skip(1).map(|f| f.parse().ok()).collect();
    let (Some("P5"), Some([width, height, max])) = (fields.first().copied(), numbers.as_deref())
    else {
        return Err(format!(
            "PGM header {header:?}; expected \"P5 WIDTH HEIGHT 65535\" on one line"
        ));
    };
    if (*width, *height) != (WIDTH, HEIGHT) || *max != 65535 {
        return Err(format!(
            "a {width}×{height} PGM with maximum {max}; a Kinect depth frame is {WIDTH}×{HEIGHT} with maximum 65535"
        ));
    }
    let data = &bytes[end + 1..];
    let want = WIDTH * HEIGHT * 2;
    if data.len() < want {
        return Err(format!(
            "truncated: {} bytes of depth after the header, expected {want}",
            data.len()
        ));
    }
    Ok(data[..want]
        .chunks_exact(2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .collect())
}

impl Source for FakenectDump {
    fn describe(&self) -> String {
        format!(
            "fakenect dump {}: {} depth frames (Kinect v1, {:.1} s)",
            self.dir.display(),
            self.entries.len(),
            self.entries.last().map_or(0.0, |l| l.seconds) - self.entries[0].seconds
        )
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    fn intrinsics(&self) -> Intrinsics {
        kinect::INTRINSICS
    }

    fn frame_path(&self, index: usize) -> PathBuf {
        self.dir.join(&self.entries[index].file)
    }

    fn ground_truth(&self, index: usize) -> Option<GroundTruth> {
        self.ground_truth
            .as_ref()
            .map(|gt| GroundTruth::Subset(gt[index]))
    }

    fn load(&self, index: usize) -> Result<Frame, DataError> {
        let path = self.frame_path(index);
        let mm = kinect::raw_frame_to_mm(&self.raw(index)?);
        let depth = DepthMap::new(WIDTH, HEIGHT, mm).map_err(|source| DataError::Depth {
            path: path.clone(),
            source,
        })?;
        Ok(Frame {
            index,
            name: self.entries[index].file.clone(),
            path,
            depth,
            intrinsics: self.intrinsics(),
            ground_truth: self.ground_truth(index),
        })
    }
}

/// Writes a fakenect dump frame by frame, as `fakenect-record` does: the index grows with every
/// frame, so an interrupted recording is still a dump of the frames written.
pub struct DumpWriter {
    dir: PathBuf,
    index: std::fs::File,
    written: usize,
}

impl DumpWriter {
    /// Starts a dump in `dir`, which must not hold one unless `overwrite`.
    pub fn create(dir: &Path, overwrite: bool) -> Result<DumpWriter, DataError> {
        let index = dir.join(INDEX);
        if index.exists() && !overwrite {
            return Err(DataError::Exists { path: dir.into() });
        }
        std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
        let file = std::fs::File::create(&index).map_err(|e| DataError::io(&index, e))?;
        Ok(DumpWriter {
            dir: dir.into(),
            index: file,
            written: 0,
        })
    }

    /// Appends a depth frame in millimetres (640×480), as the raw values a Kinect would report
    /// for it, recorded at `seconds` with the camera timestamp `timestamp`.
    pub fn push(
        &mut self,
        depth: &DepthMap,
        seconds: f64,
        timestamp: u32,
    ) -> Result<(), DataError> {
        if (depth.width(), depth.height()) != (WIDTH, HEIGHT) {
            return Err(DataError::Folder {
                path: self.dir.clone(),
                problem: format!(
                    "a fakenect dump holds {WIDTH}×{HEIGHT} Kinect frames; this frame is {}×{}",
                    depth.width(),
                    depth.height()
                ),
            });
        }
        let name = format!("d-{seconds:.6}-{timestamp}.pgm");
        let mut bytes = format!("P5 {WIDTH} {HEIGHT} 65535\n").into_bytes();
        bytes.reserve(WIDTH * HEIGHT * 2);
        for &mm in depth.values() {
            bytes.extend_from_slice(&kinect::mm_to_raw(mm).to_le_bytes());
        }
        let path = self.dir.join(&name);
        crate::files::write_atomic(&path, &bytes, true)?;
        writeln!(self.index, "{name}")
            .and_then(|()| self.index.flush())
            .map_err(|e| DataError::io(&self.dir.join(INDEX), e))?;
        self.written += 1;
        Ok(())
    }

    /// Frames written so far.
    pub fn len(&self) -> usize {
        self.written
    }

    /// Whether no frame was written yet.
    pub fn is_empty(&self) -> bool {
        self.written == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(seed: u32) -> DepthMap {
        let mm = (0..WIDTH * HEIGHT)
            .map(|i| {
                let (u, v) = (i % WIDTH, i / WIDTH);
                if (u + v) % 97 == 0 {
                    0.0
                } else {
                    500.0 + ((u * 7 + v * 13 + seed as usize * 31) % 2500) as f32
                }
            })
            .collect();
        DepthMap::new(WIDTH, HEIGHT, mm).unwrap()
    }

    #[test]
    fn a_written_dump_reads_back_within_the_cameras_quantization() {
        let dir = std::env::temp_dir().join(format!("hourhand-fakenect-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut w = DumpWriter::create(&dir, false).unwrap();
        for i in 0..3 {
            w.push(&frame(i), 100.0 + f64::from(i) / 30.0, 1000 + i * 7)
                .unwrap();
        }
        assert_eq!(w.len(), 3);
        assert!(matches!(
            DumpWriter::create(&dir, false),
            Err(DataError::Exists { .. })
        ));
        let dump = FakenectDump::open(&dir, None, None).unwrap();
        assert!(is_dump(&dir));
        dump.check_all().unwrap();
        assert_eq!(dump.len(), 3);
        assert_eq!(dump.entries()[2].timestamp, 1014);
        for i in 0..3 {
            let got = dump.load(i).unwrap();
            for (&a, &b) in frame(i as u32).values().iter().zip(got.depth.values()) {
                if a == 0.0 {
                    assert_eq!(b, 0.0);
                } else {
                    assert!(
                        (a - b).abs() <= kinect::step_at(a) / 2.0 + 1.0,
                        "{a} read as {b}"
                    );
                }
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_depth_files_are_named_problems() {
        let good = {
            let mut b = b"P5 640 480 65535\n".to_vec();
            b.resize(b.len() + WIDTH * HEIGHT * 2, 0);
            b
        };
        assert_eq!(parse_depth_pgm(&good).unwrap().len(), WIDTH * HEIGHT);
        let cases: [(&[u8], &str); 5] = [
            (b"", "no PGM header"),
            (b"P6 640 480 255\nxx", "expected \"P5"),
            (b"P5 320 240 65535\n", "a 320×240 PGM"),
            (b"P5 640 480 65535\n\x01\x02", "truncated: 2 bytes"),
            (&[0xff; 80], "no PGM header"),
        ];
        for (bytes, expect) in cases {
            let e = parse_depth_pgm(bytes).unwrap_err();
            assert!(e.contains(expect), "{e}");
        }
    }

    #[test]
    fn bad_indexes_name_the_line() {
        let dir =
            std::env::temp_dir().join(format!("hourhand-fakenect-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (index, expect) in [
            (
                "a-1.0-2.dump\nd-1.5-x.pgm\n",
                "INDEX.txt:2: \"d-1.5-x.pgm\" is not a fakenect",
            ),
            ("q-1.0-2.dump\n", "unknown entry type \"q\""),
            ("r-1.0-2.ppm\n", "lists no depth frames"),
            ("d-1.0-2-../../etc/passwd\n", "outside the dump"),
        ] {
            std::fs::write(dir.join(INDEX), index).unwrap();
            let e = FakenectDump::open(&dir, None, None)
                .unwrap_err()
                .to_string();
            assert!(e.contains(expect), "{e}");
        }
        std::fs::write(dir.join(INDEX), "d-1.0-2.pgm\n").unwrap();
        let dump = FakenectDump::open(&dir, None, None).unwrap();
        let e = dump.check_all().unwrap_err().to_string();
        assert!(e.contains("d-1.0-2.pgm"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
