//! The writer: MAT 5 files as MATLAB writes them, byte-for-byte reproducible.

use std::io::Write;
use std::path::Path;

use flate2::Compression;
use flate2::write::ZlibEncoder;

use super::stream::{
    MI_COMPRESSED, MI_DOUBLE, MI_INT8, MI_INT16, MI_INT32, MI_INT64, MI_MATRIX, MI_SINGLE,
    MI_UINT8, MI_UINT16, MI_UINT32, MI_UINT64,
};
use super::{MatArray, MatError, NumericClass, element_count};
use crate::files::{WriteError, write_atomic};

/// The fixed start of the header text. MATLAB writes the date here; a fixed text keeps files
/// reproducible (no reader interprets it).
const HEADER_PREFIX: &str = "MATLAB 5.0 MAT-file, Platform: hourhand, Created on: n/a";

/// How [`write()`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteOptions {
    /// Compress every variable with zlib (`save -v7`); otherwise store them plain (`save -v6`).
    pub compress: bool,
    /// Replace an existing file.
    pub overwrite: bool,
}

impl Default for WriteOptions {
    /// Compressed, never overwriting.
    fn default() -> Self {
        WriteOptions {
            compress: true,
            overwrite: false,
        }
    }
}

/// Writes `variables` to `path` as a MAT 5 file, atomically (a temporary file renamed into
/// place, so an interrupted write never leaves a broken file). `description` is appended to the
/// header text after a fixed prefix (ASCII, at most 58 bytes). Refuses to replace an existing
/// file unless `options.overwrite`.
pub fn write(
    path: &Path,
    description: &str,
    variables: &[(&str, &MatArray)],
    options: WriteOptions,
) -> Result<(), MatError> {
    if !options.overwrite && path.exists() {
        return Err(MatError::Exists { path: path.into() });
    }
    let bytes = to_bytes(description, variables, options.compress, path)?;
    write_atomic(path, &bytes, options.overwrite).map_err(|e| match e {
        WriteError::Exists { path } => MatError::Exists { path },
        WriteError::Io { path, source } => MatError::Io { path, source },
    })
}

/// The bytes of a MAT 5 file holding `variables` (see [`write()`]); `path` is only used in
/// messages. The same input always gives the same bytes.
pub fn to_bytes(
    description: &str,
    variables: &[(&str, &MatArray)],
    compress: bool,
    path: &Path,
) -> Result<Vec<u8>, MatError> {
    encode(description, variables, compress, path, true)
}

/// [`to_bytes`] in either byte order; big-endian only exists to test the reader.
pub(super) fn encode(
    description: &str,
    variables: &[(&str, &MatArray)],
    compress: bool,
    path: &Path,
    le: bool,
) -> Result<Vec<u8>, MatError> {
    let invalid = |what: String| MatError::Invalid {
        path: path.into(),
        what,
    };
    let mut text = HEADER_PREFIX.to_string();
    if !description.is_empty() {
        text += ", ";
        text += description;
    }
    if text.len() > 116
        || !description
            .bytes()
            .all(|b| b == b' ' || b.is_ascii_graphic())
    {
        return Err(invalid(format!(
            "the description {description:?}: it must be printable ASCII of at most {} bytes",
            116 - HEADER_PREFIX.len() - 2
        )));
    }
    let mut e = Encoder {
        out: Vec::with_capacity(128),
        le,
        path,
    };
    e.out.extend_from_slice(text.as_bytes());
    e.out.resize(116, b' ');
    // Subsystem data offset: none.
    e.out.extend_from_slice(&[0; 8]);
    e.u16(0x0100);
    e.u16(u16::from_le_bytes(*b"IM"));

    for (i, (name, _)) in variables.iter().enumerate() {
        let valid = name.len() <= 63
            && name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(invalid(format!(
                "a variable named {name:?}: MATLAB names are a letter then letters, digits or \
                 underscores, at most 63 of them"
            )));
        }
        if variables[..i].iter().any(|(n, _)| n == name) {
            return Err(invalid(format!("two variables named `{name}`")));
        }
    }
    for (name, array) in variables {
        if compress {
            let mut inner = Encoder {
                out: Vec::new(),
                le,
                path,
            };
            inner.matrix(name, name, array)?;
            let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
            // Writing to a Vec cannot fail.
            z.write_all(&inner.out).map_err(|source| MatError::Io {
                path: path.into(),
                source,
            })?;
            let zipped = z.finish().map_err(|source| MatError::Io {
                path: path.into(),
                source,
            })?;
            let size = e.size32(zipped.len(), name)?;
            // Compressed elements are not padded.
            e.tag(MI_COMPRESSED, size);
            e.out.extend_from_slice(&zipped);
        } else {
            e.matrix(name, name, array)?;
        }
    }
    Ok(e.out)
}

struct Encoder<'a> {
    out: Vec<u8>,
    le: bool,
    path: &'a Path,
}

impl Encoder<'_> {
    fn invalid(&self, what: String) -> MatError {
        MatError::Invalid {
            path: self.path.into(),
            what,
        }
    }

    fn u16(&mut self, v: u16) {
        let b = if self.le {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        };
        self.out.extend_from_slice(&b);
    }

    fn u32(&mut self, v: u32) {
        let b = if self.le {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        };
        self.out.extend_from_slice(&b);
    }

    fn size32(&self, n: usize, variable: &str) -> Result<u32, MatError> {
        u32::try_from(n).map_err(|_| {
            self.invalid(format!(
                "variable `{variable}`: an element of {n} bytes; MAT 5 elements hold at most \
                 4 GiB (MATLAB needs -v7.3 for more)"
            ))
        })
    }

    fn tag(&mut self, ty: u32, size: u32) {
        self.u32(ty);
        self.u32(size);
    }

    fn pad(&mut self) {
        let n = (8 - self.out.len() % 8) % 8;
        self.out.resize(self.out.len() + n, 0);
    }

    /// Starts an element of `n` bytes whose data the caller appends, then calls `pad` (a small
    /// element, for at most 4 bytes, is padded to its 8 bytes the same way).
    fn start(&mut self, ty: u32, n: usize, variable: &str) -> Result<(), MatError> {
        if n <= 4 {
            self.u32((n as u32) << 16 | ty);
        } else {
            let size = self.size32(n, variable)?;
            self.tag(ty, size);
        }
        Ok(())
    }

    /// A `miMATRIX` element; `variable` names the top-level variable for messages.
    fn matrix(&mut self, variable: &str, name: &str, array: &MatArray) -> Result<(), MatError> {
        let start = self.out.len();
        self.tag(MI_MATRIX, 0);
        let (class, logical, dims) = match array {
            MatArray::Numeric(n) => (
                class_code(n.class),
                n.class == NumericClass::Logical,
                &n.dims,
            ),
            MatArray::Char(c) => (4, false, &c.dims),
            MatArray::Cell(c) => (1, false, &c.dims),
        };
        let count = element_count(dims)
            .filter(|_| dims.len() >= 2)
            .ok_or_else(|| {
                self.invalid(format!(
                    "variable `{variable}`: dimensions {dims:?} (MATLAB needs at least two, and \
                 their product must fit in memory)"
                ))
            })?;
        self.tag(MI_UINT32, 8);
        self.u32(class | if logical { 0x200 } else { 0 });
        self.u32(0);
        self.start(MI_INT32, dims.len() * 4, variable)?;
        for &d in dims {
            let d = i32::try_from(d).map_err(|_| {
                self.invalid(format!(
                    "variable `{variable}`: dimension {d} exceeds 2^31 − 1"
                ))
            })?;
            self.u32(d as u32);
        }
        self.pad();
        self.start(MI_INT8, name.len(), variable)?;
        self.out.extend_from_slice(name.as_bytes());
        if name.len() <= 4 {
            self.out.resize(self.out.len() + 4 - name.len(), 0);
        }
        self.pad();
        match array {
            MatArray::Numeric(n) => {
                if n.data.len() != count {
                    return Err(self.invalid(format!(
                        "variable `{variable}`: {} values for dimensions {:?} ({count} needed)",
                        n.data.len(),
                        n.dims
                    )));
                }
                self.values(variable, n.class, &n.data)?;
            }
            MatArray::Char(c) => {
                let rows = dims[0];
                let cols = count.checked_div(rows).unwrap_or(0);
                let units: Vec<Vec<u16>> =
                    c.rows.iter().map(|r| r.encode_utf16().collect()).collect();
                if units.len() != rows || units.iter().any(|u| u.len() != cols) {
                    return Err(self.invalid(format!(
                        "variable `{variable}`: a {dims:?} char array needs {rows} rows of {cols} \
                         UTF-16 units each"
                    )));
                }
                self.start(MI_UINT16, count * 2, variable)?;
                // Column-major: all rows' first characters, then their second, …
                for c in 0..cols {
                    for row in &units {
                        self.u16(row[c]);
                    }
                }
                self.pad();
            }
            MatArray::Cell(c) => {
                if c.cells.len() != count {
                    return Err(self.invalid(format!(
                        "variable `{variable}`: {} cells for dimensions {dims:?} ({count} needed)",
                        c.cells.len()
                    )));
                }
                for cell in &c.cells {
                    self.matrix(variable, "", cell)?;
                }
            }
        }
        let size = self.size32(self.out.len() - start - 8, variable)?;
        let b = if self.le {
            size.to_le_bytes()
        } else {
            size.to_be_bytes()
        };
        self.out[start + 4..start + 8].copy_from_slice(&b);
        Ok(())
    }

    /// The values as a data element of the class's own type.
    fn values(
        &mut self,
        variable: &str,
        class: NumericClass,
        data: &[f64],
    ) -> Result<(), MatError> {
        let (ty, width) = match class {
            NumericClass::Double => (MI_DOUBLE, 8),
            NumericClass::Single => (MI_SINGLE, 4),
            NumericClass::Int8 => (MI_INT8, 1),
            NumericClass::UInt8 | NumericClass::Logical => (MI_UINT8, 1),
            NumericClass::Int16 => (MI_INT16, 2),
            NumericClass::UInt16 => (MI_UINT16, 2),
            NumericClass::Int32 => (MI_INT32, 4),
            NumericClass::UInt32 => (MI_UINT32, 4),
            NumericClass::Int64 => (MI_INT64, 8),
            NumericClass::UInt64 => (MI_UINT64, 8),
        };
        self.start(ty, data.len() * width, variable)?;
        let le = self.le;
        self.out.reserve(data.len() * width + 8);
        macro_rules! put {
            ($e:expr) => {{
                let v = $e;
                self.out
                    .extend_from_slice(&if le { v.to_le_bytes() } else { v.to_be_bytes() });
            }};
        }
        match class {
            NumericClass::Double if le == cfg!(target_endian = "little") => {
                self.out.extend_from_slice(bytemuck::cast_slice(data));
            }
            NumericClass::Double => data.iter().for_each(|&v| put!(v)),
            NumericClass::Single => data.iter().for_each(|&v| put!(v as f32)),
            _ => {
                let (lo, hi) = integer_range(class);
                if let Some(i) = data
                    .iter()
                    .position(|&v| v.fract() != 0.0 || !(lo..=hi).contains(&v))
                {
                    return Err(self.invalid(format!(
                        "variable `{variable}`: value {} at index {i} is not a whole number \
                         within the range of {}",
                        data[i],
                        class.name()
                    )));
                }
                for &v in data {
                    match class {
                        NumericClass::Int8 => put!(v as i8),
                        NumericClass::Int16 => put!(v as i16),
                        NumericClass::UInt16 => put!(v as u16),
                        NumericClass::Int32 => put!(v as i32),
                        NumericClass::UInt32 => put!(v as u32),
                        NumericClass::Int64 => put!(v as i64),
                        NumericClass::UInt64 => put!(v as u64),
                        _ => self.out.push(v as u8),
                    }
                }
            }
        }
        if data.len() * width <= 4 {
            self.out.resize(self.out.len() + 4 - data.len() * width, 0);
        }
        self.pad();
        Ok(())
    }
}

fn class_code(class: NumericClass) -> u32 {
    match class {
        NumericClass::Double => 6,
        NumericClass::Single => 7,
        NumericClass::Int8 => 8,
        NumericClass::UInt8 | NumericClass::Logical => 9,
        NumericClass::Int16 => 10,
        NumericClass::UInt16 => 11,
        NumericClass::Int32 => 12,
        NumericClass::UInt32 => 13,
        NumericClass::Int64 => 14,
        NumericClass::UInt64 => 15,
    }
}

/// The values an integer class holds, as f64 (the 64-bit bounds round outward to 2^63 and 2^64,
/// which `as` then saturates).
fn integer_range(class: NumericClass) -> (f64, f64) {
    match class {
        NumericClass::Int8 => (i8::MIN as f64, i8::MAX as f64),
        NumericClass::Int16 => (i16::MIN as f64, i16::MAX as f64),
        NumericClass::UInt16 => (0.0, u16::MAX as f64),
        NumericClass::Int32 => (i32::MIN as f64, i32::MAX as f64),
        NumericClass::UInt32 => (0.0, u32::MAX as f64),
        NumericClass::Int64 => (i64::MIN as f64, i64::MAX as f64),
        NumericClass::UInt64 => (0.0, u64::MAX as f64),
        NumericClass::Logical => (0.0, 1.0),
        _ => (0.0, u8::MAX as f64),
    }
}
