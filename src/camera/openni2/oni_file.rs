//! Writing `.oni` recordings of depth frames hourhand made itself, in the format OpenNI2's file
//! driver (`libOniFile.so`) plays back.
//!
//! OpenNI2 can only record the streams of a device it has open (`oniCreateRecorder` attaches to
//! a stream), so a recording of synthetic frames — for tests, or to replay a depth sequence
//! through the OpenNI2 path — is written here. The layout follows what OpenNI2's own recorder
//! writes (`Source/Core/OniRecorder.cpp`, `OniDataRecords.cpp`) and what its player reads
//! (`Source/Drivers/OniFile/PlayerNode.cpp`, `PlayerDevice.cpp`, `DataRecords.cpp`), file
//! format version 1.0.1.0 (64-bit positions), with one depth stream and no compression.
//!
//! Everything is little-endian and packed (the C structs are under `#pragma pack(1)`):
//!
//! - a 24-byte file header: `"NI10"`, version 1.0.1.0, the largest frame timestamp and the
//!   largest node id;
//! - records, each a 28-byte header (magic `"NIR\0"`, record type, node id, the size of the
//!   header plus the record's fields, the size of the payload after them, and the position of
//!   the record this one replaces — 0 for none) followed by its fields and payload.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::super::CameraError;

/// The first bytes of every `.oni` file.
pub const MAGIC: &[u8; 4] = b"NI10";

/// File format version 1.0.1.0: the first with 64-bit record positions, the newest the player
/// accepts.
const VERSION: [u8; 8] = [1, 0, 1, 0, 0, 0, 0, 0];
const FILE_HEADER_SIZE: usize = 24;
const RECORD_MAGIC: u32 = 0x0052_494E;
const RECORD_HEADER_SIZE: u32 = 28;

/// Record types (`RecordType` in DataRecords.h).
const RECORD_INT_PROPERTY: u32 = 0x03;
const RECORD_GENERAL_PROPERTY: u32 = 0x06;
const RECORD_NODE_REMOVED: u32 = 0x07;
const RECORD_NODE_DATA_BEGIN: u32 = 0x08;
const RECORD_NODE_STATE_READY: u32 = 0x09;
const RECORD_NEW_DATA: u32 = 0x0A;
const RECORD_END: u32 = 0x0B;
const RECORD_NODE_ADDED: u32 = 0x0D;
const RECORD_SEEK_TABLE: u32 = 0x0E;

/// The depth stream's node: id 1 (0 is never used), OpenNI 1's `XN_NODE_TYPE_DEPTH`, and the
/// name the recorder gives depth nodes. The player creates a depth sensor for a node of this
/// type, whatever its name.
const NODE_ID: u32 = 1;
const NODE_TYPE_DEPTH: u32 = 2;
const NODE_NAME: &str = "Depth";
/// `XN_CODEC_UNCOMPRESSED`, the four characters "NONE": frames are stored as the raw pixels.
const CODEC_UNCOMPRESSED: u32 = u32::from_le_bytes(*b"NONE");
/// `ONI_PIXEL_FORMAT_DEPTH_1_MM`.
const PIXEL_FORMAT_DEPTH_1_MM: u64 = 100;
/// The player reads each record into a buffer of 1600 × 1200 × 3 bytes (plus headers).
const MAX_FRAME_BYTES: usize = 1600 * 1200 * 3;
/// The size of one seek-table entry: timestamp (u64), configuration id (u32), position (u64).
const SEEK_ENTRY_SIZE: usize = 20;

/// The depth stream a recording holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OniDepthStream {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frames per second: it sets the timestamps, and so the speed the player replays at.
    pub fps: u32,
    /// Horizontal field of view in radians, from which a reader derives fx.
    pub horizontal_fov: f64,
    /// Vertical field of view in radians, from which a reader derives fy.
    pub vertical_fov: f64,
}

/// Writes one `.oni` recording of a depth stream, frame by frame; [`OniWriter::finish`]
/// completes it.
pub struct OniWriter {
    path: PathBuf,
    stream: OniDepthStream,
    file: BufWriter<File>,
    /// Bytes written so far: where the next record starts.
    position: u64,
    node_added_at: u64,
    data_begin_at: u64,
    /// Per frame written: its timestamp (µs) and where its record starts.
    frames: Vec<(u64, u64)>,
}

impl OniWriter {
    /// Creates (or replaces) `path` and writes everything before the first frame.
    pub fn create(path: &Path, stream: OniDepthStream) -> Result<OniWriter, CameraError> {
        let fail = |problem: String| CameraError::Recording {
            path: path.to_owned(),
            problem,
        };
        let bytes = stream.width as usize * stream.height as usize * 2;
        if bytes == 0 || bytes > MAX_FRAME_BYTES {
            return Err(fail(format!(
                "a {}×{} depth frame cannot be recorded: OpenNI2's player takes frames of 1 to {MAX_FRAME_BYTES} bytes (2 per pixel)",
                stream.width, stream.height
            )));
        }
        if stream.fps == 0 {
            return Err(fail(
                "the frame rate must be at least 1 frame per second".into(),
            ));
        }
        for (name, fov) in [
            ("horizontal", stream.horizontal_fov),
            ("vertical", stream.vertical_fov),
        ] {
            if !(fov > 0.0 && fov < std::f64::consts::PI) {
                return Err(fail(format!(
                    "the {name} field of view is {fov} rad; expected between 0 and π"
                )));
            }
        }
        let file = File::create(path).map_err(|e| fail(format!("cannot create it: {e}")))?;
        let mut writer = OniWriter {
            path: path.to_owned(),
            stream,
            file: BufWriter::new(file),
            position: 0,
            node_added_at: 0,
            data_begin_at: 0,
            frames: Vec::new(),
        };
        writer.write_start().map_err(|e| writer.io_error(e))?;
        Ok(writer)
    }

    /// Appends one frame: `width × height` depths in millimetres, row-major from the top-left
    /// pixel, 0 where there is no reading.
    pub fn write_frame(&mut self, depth_mm: &[u16]) -> Result<(), CameraError> {
        let expected = self.stream.width as usize * self.stream.height as usize;
        if depth_mm.len() != expected {
            return Err(CameraError::Recording {
                path: self.path.clone(),
                problem: format!(
                    "frame {} has {} depth values; the stream is {}×{} = {expected}",
                    self.frames.len() + 1,
                    depth_mm.len(),
                    self.stream.width,
                    self.stream.height
                ),
            });
        }
        self.write_data(depth_mm).map_err(|e| self.io_error(e))
    }

    /// Writes the end of the recording (its seek table and end record) and fills in the frame
    /// count and last timestamp the records at the start leave open.
    pub fn finish(mut self) -> Result<(), CameraError> {
        if self.frames.is_empty() {
            let _ = std::fs::remove_file(&self.path);
            return Err(CameraError::Recording {
                path: self.path.clone(),
                problem: "no frames were written; OpenNI2 cannot play an empty recording".into(),
            });
        }
        self.write_end().map_err(|e| self.io_error(e))
    }

    fn io_error(&self, e: std::io::Error) -> CameraError {
        CameraError::Recording {
            path: self.path.clone(),
            problem: format!("cannot write it: {e}"),
        }
    }

    fn last_timestamp(&self) -> u64 {
        self.frames.last().map_or(0, |&(t, _)| t)
    }

    /// The file header, the node and its properties, and the start of its data.
    fn write_start(&mut self) -> std::io::Result<()> {
        // Rewritten by `finish` with the last timestamp: the player rejects frames stamped
        // after the header's maximum.
        self.emit_file_header()?;
        let s = self.stream;

        // NODE_ADDED: the depth node, with its frame count, last timestamp and where its seek
        // table is; rewritten by `finish` once they are known (the record's size does not
        // change). The player reads nodes' records until their NODE_STATE_READY.
        self.node_added_at = self.position;
        self.emit_node_added(0, 0, 0)?;

        // The properties the player turns into the depth stream's OpenNI2 properties
        // (PlayerDevice::OnNode…PropChanged). Properties the recorder also writes for OpenNI 1
        // players only (xnIsGenerating, xnSupportedMapOutputModes, xnPixelFormat, …) are left
        // out: OpenNI2's player ignores them.
        let frame_bytes = u64::from(s.width) * u64::from(s.height) * 2;
        // The frame buffer size OpenNI2 allocates for the stream.
        self.emit_int_property("oniRequiredFrameSize", frame_bytes)?;
        // ONI_STREAM_PROPERTY_MAX_VALUE: the largest depth, in millimetres.
        self.emit_int_property("xnDeviceMaxDepth", u64::from(u16::MAX))?;
        // The video mode's resolution and frame rate (XnMapOutputMode: three u32).
        let mut mode = Vec::with_capacity(12);
        for v in [s.width, s.height, s.fps] {
            mode.extend_from_slice(&v.to_le_bytes());
        }
        self.emit_general_property("xnMapOutputMode", &mode)?;
        // The video mode's pixel format: depth in millimetres.
        self.emit_int_property("oniPixelFormat", PIXEL_FORMAT_DEPTH_1_MM)?;
        // ONI_STREAM_PROPERTY_HORIZONTAL_FOV and VERTICAL_FOV (XnFieldOfView: two doubles).
        let mut fov = Vec::with_capacity(16);
        fov.extend_from_slice(&s.horizontal_fov.to_le_bytes());
        fov.extend_from_slice(&s.vertical_fov.to_le_bytes());
        self.emit_general_property("xnFOV", &fov)?;
        // ONI_STREAM_PROPERTY_CROPPING, off (XnCropping: a 4-byte bool, four u16). Required:
        // the player drops every frame of a stream that has no cropping property.
        self.emit_general_property("xnCropping", &[0; 12])?;
        // ONI_STREAM_PROPERTY_MIRRORING, off.
        self.emit_int_property("xnMirror", 0)?;

        // NODE_STATE_READY: the node is configured; the player creates the stream's codec.
        self.emit_record(RECORD_NODE_STATE_READY, NODE_ID, 0, &[], &[])?;
        // NODE_DATA_BEGIN: frames follow (the player reads until the first of these when it
        // opens or rewinds the file). Frame count and last timestamp filled in by `finish`.
        self.data_begin_at = self.position;
        self.emit_data_begin(0, 0)
    }

    /// NEW_DATA: one frame. Fields: timestamp (µs, u64) and frame number (u32, from 1); the
    /// payload is the raw little-endian u16 pixels. Its undo position is the previous frame's
    /// record, which the player follows to seek backwards.
    fn write_data(&mut self, depth_mm: &[u16]) -> std::io::Result<()> {
        let number = self.frames.len() as u32 + 1;
        let timestamp = u64::from(number - 1) * 1_000_000 / u64::from(self.stream.fps);
        let previous = self.frames.last().map_or(0, |&(_, at)| at);
        let mut fields = Vec::with_capacity(12);
        fields.extend_from_slice(&timestamp.to_le_bytes());
        fields.extend_from_slice(&number.to_le_bytes());
        let payload: Vec<u8> = depth_mm.iter().flat_map(|d| d.to_le_bytes()).collect();
        let at = self.position;
        self.emit_record(RECORD_NEW_DATA, NODE_ID, previous, &fields, &payload)?;
        self.frames.push((timestamp, at));
        Ok(())
    }

    fn write_end(&mut self) -> std::io::Result<()> {
        let frames = self.frames.len() as u32;
        let last = self.last_timestamp();
        // NODE_REMOVED: the stream ends; its undo position is the node's NODE_ADDED.
        self.emit_record(RECORD_NODE_REMOVED, NODE_ID, self.node_added_at, &[], &[])?;
        // SEEK_TABLE: per frame, its timestamp, configuration (0: the properties never change)
        // and record position, after an empty entry for frame 0; the player reads it when it
        // meets NODE_ADDED and uses it to seek.
        let seek_table_at = self.position;
        let mut table = vec![0; SEEK_ENTRY_SIZE];
        for &(timestamp, at) in &self.frames {
            table.extend_from_slice(&timestamp.to_le_bytes());
            table.extend_from_slice(&0u32.to_le_bytes());
            table.extend_from_slice(&at.to_le_bytes());
        }
        self.emit_record(RECORD_SEEK_TABLE, NODE_ID, 0, &[], &table)?;
        // END: the player stops here, or rewinds to the first NODE_DATA_BEGIN when repeating.
        self.emit_record(RECORD_END, 0, 0, &[], &[])?;

        // Go back and fill in what is known only now.
        self.file.flush()?;
        let end = self.position;
        self.rewrite_at(0, |w| w.emit_file_header())?;
        self.rewrite_at(self.node_added_at, |w| {
            w.emit_node_added(frames, last, seek_table_at)
        })?;
        self.rewrite_at(self.data_begin_at, |w| w.emit_data_begin(frames, last))?;
        self.position = end;
        self.file.flush()?;
        self.file.get_ref().sync_all()
    }

    fn rewrite_at(
        &mut self,
        at: u64,
        emit: impl FnOnce(&mut OniWriter) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        self.file.seek(SeekFrom::Start(at))?;
        self.position = at;
        emit(self)?;
        self.file.flush()
    }

    fn emit(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.file.write_all(bytes)?;
        self.position += bytes.len() as u64;
        Ok(())
    }

    /// The file header: magic, version, largest timestamp, largest node id.
    fn emit_file_header(&mut self) -> std::io::Result<()> {
        let mut header = Vec::with_capacity(FILE_HEADER_SIZE);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&VERSION);
        header.extend_from_slice(&self.last_timestamp().to_le_bytes());
        header.extend_from_slice(&NODE_ID.to_le_bytes());
        debug_assert_eq!(header.len(), FILE_HEADER_SIZE);
        self.emit(&header)
    }

    /// NODE_ADDED. Fields: node name (u32 length with the NUL, then the bytes and NUL), node type
    /// (u32), codec (u32), frame count (u32), first and last timestamps (u64), the seek table's
    /// position (u64; 0: none).
    fn emit_node_added(
        &mut self,
        frames: u32,
        last_timestamp: u64,
        seek_table_at: u64,
    ) -> std::io::Result<()> {
        let mut fields = string_field(NODE_NAME);
        for v in [NODE_TYPE_DEPTH, CODEC_UNCOMPRESSED, frames] {
            fields.extend_from_slice(&v.to_le_bytes());
        }
        for v in [0, last_timestamp, seek_table_at] {
            fields.extend_from_slice(&v.to_le_bytes());
        }
        self.emit_record(RECORD_NODE_ADDED, NODE_ID, 0, &fields, &[])
    }

    /// NODE_DATA_BEGIN. Fields: frame count (u32), last timestamp (u64).
    fn emit_data_begin(&mut self, frames: u32, last_timestamp: u64) -> std::io::Result<()> {
        let mut fields = frames.to_le_bytes().to_vec();
        fields.extend_from_slice(&last_timestamp.to_le_bytes());
        self.emit_record(RECORD_NODE_DATA_BEGIN, NODE_ID, 0, &fields, &[])
    }

    /// GENERAL_PROPERTY. Fields: name (as in NODE_ADDED), data size (u32), data. The undo
    /// position (the same property's previous record) is 0: each is written once.
    fn emit_general_property(&mut self, name: &str, data: &[u8]) -> std::io::Result<()> {
        self.emit_property(RECORD_GENERAL_PROPERTY, name, data)
    }

    /// INT_PROPERTY: a GENERAL_PROPERTY of type 3 whose data is one u64.
    fn emit_int_property(&mut self, name: &str, value: u64) -> std::io::Result<()> {
        self.emit_property(RECORD_INT_PROPERTY, name, &value.to_le_bytes())
    }

    fn emit_property(&mut self, kind: u32, name: &str, data: &[u8]) -> std::io::Result<()> {
        let mut fields = string_field(name);
        fields.extend_from_slice(&(data.len() as u32).to_le_bytes());
        fields.extend_from_slice(data);
        self.emit_record(kind, NODE_ID, 0, &fields, &[])
    }

    /// One record: its 28-byte header, then `fields`, then `payload`.
    fn emit_record(
        &mut self,
        kind: u32,
        node: u32,
        undo_position: u64,
        fields: &[u8],
        payload: &[u8],
    ) -> std::io::Result<()> {
        let mut header = Vec::with_capacity(RECORD_HEADER_SIZE as usize);
        for v in [
            RECORD_MAGIC,
            kind,
            node,
            RECORD_HEADER_SIZE + fields.len() as u32,
            payload.len() as u32,
        ] {
            header.extend_from_slice(&v.to_le_bytes());
        }
        header.extend_from_slice(&undo_position.to_le_bytes());
        self.emit(&header)?;
        self.emit(fields)?;
        self.emit(payload)
    }
}

/// A string as records store it: its length including the NUL (u32), the bytes, the NUL.
fn string_field(text: &str) -> Vec<u8> {
    let mut field = ((text.len() + 1) as u32).to_le_bytes().to_vec();
    field.extend_from_slice(text.as_bytes());
    field.push(0);
    field
}

/// Writes `frames` (each `width × height` millimetres) as the recording `path`.
pub fn write_oni(
    path: &Path,
    stream: OniDepthStream,
    frames: &[Vec<u16>],
) -> Result<(), CameraError> {
    let mut writer = OniWriter::create(path, stream)?;
    for frame in frames {
        writer.write_frame(frame)?;
    }
    writer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("hourhand-oni-file-{}-{name}", std::process::id()))
    }

    fn u32_at(bytes: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
    }

    fn u64_at(bytes: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
    }

    const STREAM: OniDepthStream = OniDepthStream {
        width: 4,
        height: 3,
        fps: 25,
        horizontal_fov: 1.0,
        vertical_fov: 0.75,
    };

    /// Walks the records the way the player does (header, fields size, payload size) and
    /// checks the chain reaches END, the frames are where the seek table says, and the header
    /// and NODE_ADDED were filled in.
    #[test]
    fn records_chain_to_the_end_and_the_seek_table_finds_every_frame() {
        let path = temp_path("walk.oni");
        let frames: Vec<Vec<u16>> = (0..3)
            .map(|f| (0..12).map(|i| f * 100 + i).collect())
            .collect();
        write_oni(&path, STREAM, &frames).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();

        assert_eq!(&bytes[..4], b"NI10");
        assert_eq!(&bytes[4..12], &[1, 0, 1, 0, 0, 0, 0, 0]);
        assert_eq!(
            u64_at(&bytes, 12),
            80_000,
            "largest timestamp: frame 3 at 25 fps"
        );
        assert_eq!(u32_at(&bytes, 20), 1, "largest node id");

        let mut at = FILE_HEADER_SIZE;
        let mut records = Vec::new();
        loop {
            assert_eq!(u32_at(&bytes, at), RECORD_MAGIC, "record at {at}");
            let kind = u32_at(&bytes, at + 4);
            let size = u32_at(&bytes, at + 12) as usize + u32_at(&bytes, at + 16) as usize;
            records.push((kind, at));
            at += size;
            if kind == RECORD_END {
                break;
            }
        }
        assert_eq!(at, bytes.len(), "END is the last record");
        let kinds: Vec<u32> = records.iter().map(|r| r.0).collect();
        assert_eq!(kinds.iter().filter(|&&k| k == RECORD_NEW_DATA).count(), 3);
        assert_eq!(kinds[0], RECORD_NODE_ADDED);

        // NODE_ADDED: name "Depth", type, codec, 3 frames, timestamps, seek table position.
        let node = records[0].1 + RECORD_HEADER_SIZE as usize;
        assert_eq!(u32_at(&bytes, node), 6);
        assert_eq!(&bytes[node + 4..node + 10], b"Depth\0");
        assert_eq!(u32_at(&bytes, node + 10), NODE_TYPE_DEPTH);
        assert_eq!(&bytes[node + 14..node + 18], b"NONE");
        assert_eq!(u32_at(&bytes, node + 18), 3);
        assert_eq!(u64_at(&bytes, node + 30), 80_000);
        let seek_at = u64_at(&bytes, node + 38) as usize;
        assert_eq!(u32_at(&bytes, seek_at + 4), RECORD_SEEK_TABLE);

        let table = seek_at + RECORD_HEADER_SIZE as usize;
        assert_eq!(u32_at(&bytes, seek_at + 16) as usize, 4 * SEEK_ENTRY_SIZE);
        for (f, frame) in frames.iter().enumerate() {
            let entry = table + (f + 1) * SEEK_ENTRY_SIZE;
            let record = u64_at(&bytes, entry + 12) as usize;
            assert_eq!(u32_at(&bytes, record + 4), RECORD_NEW_DATA);
            let fields = record + RECORD_HEADER_SIZE as usize;
            assert_eq!(u64_at(&bytes, fields), u64_at(&bytes, entry), "timestamp");
            assert_eq!(u32_at(&bytes, fields + 8), f as u32 + 1, "frame number");
            let pixels: Vec<u16> = bytes[fields + 12..fields + 12 + 24]
                .chunks(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            assert_eq!(&pixels, frame);
        }
    }

    #[test]
    fn bad_streams_and_frames_are_refused_naming_the_file() {
        let path = temp_path("bad.oni");
        let e = OniWriter::create(&path, OniDepthStream { width: 0, ..STREAM })
            .err()
            .unwrap();
        assert!(
            e.to_string().contains("bad.oni") && e.to_string().contains("0×3"),
            "{e}"
        );
        let e = OniWriter::create(
            &path,
            OniDepthStream {
                horizontal_fov: 4.0,
                ..STREAM
            },
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains("horizontal field of view"), "{e}");

        let mut writer = OniWriter::create(&path, STREAM).unwrap();
        let e = writer.write_frame(&[0; 11]).unwrap_err();
        assert!(e.to_string().contains("frame 1 has 11 depth values"), "{e}");
        let e = writer.finish().unwrap_err();
        assert!(e.to_string().contains("no frames"), "{e}");
        assert!(!path.exists());
    }
}
