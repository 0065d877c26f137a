//! MATLAB 5 MAT-files (the format of `save -v6` and `save -v7`), read and written.
//!
//! NYU's `joint_data.mat` and the authors' prediction files are Level 5 MAT-files, so hourhand
//! reads that format itself instead of asking users for MATLAB or Python.
//!
//! # How the format works
//!
//! A file is a 128-byte header (116 bytes of text, an 8-byte subsystem offset, the version
//! `0x0100` and the endian indicator: `IM` little-endian, `MI` big-endian) followed by top-level
//! *data elements*. Each element is an 8-byte tag (type, byte count) and its data, padded to a
//! multiple of 8 bytes; an element of at most 4 bytes may instead use the *small* format, where
//! the type and count share the first 4 tag bytes and the data sits in the other 4.
//!
//! Every variable is one `miMATRIX` element, either directly (`-v6`) or zlib-compressed inside a
//! `miCOMPRESSED` element (`-v7`; these are not padded). A `miMATRIX` holds sub-elements: array
//! flags (class), dimensions, name, then the values, column-major. The values of a numeric array
//! may be stored in a smaller type than its class (MATLAB stores whole-valued doubles as
//! `miUINT8` when they fit), so the reader converts any stored type to `f64`. Cell arrays hold
//! one nested `miMATRIX` per cell.
//!
//! # What is supported
//!
//! Real numeric arrays of every class (logical included), char arrays and cell arrays, nested
//! arbitrarily. Complex, sparse, struct and object arrays are not: such a variable is listed in
//! [`MatFile::unsupported`] and asking for it gives [`MatError::Unsupported`], while the other
//! variables of the file stay readable. MATLAB 7.3 files are HDF5 and are not read.
//!
//! The [`write()`] side produces files MATLAB and `scipy.io.loadmat` read, byte-for-byte the same
//! for the same input (no timestamp in the header).

mod error;
mod read;
mod stream;
#[cfg(test)]
mod tests;
mod write;

use std::path::{Path, PathBuf};

use error::DimsDisplay;
pub use error::{MatError, Position};

pub use write::{WriteOptions, to_bytes, write};

/// The class of a numeric MATLAB array. Values are held as `f64` whatever the class; 64-bit
/// integers beyond ±2^53 lose precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumericClass {
    /// `double`.
    Double,
    /// `single`.
    Single,
    /// `int8`.
    Int8,
    /// `uint8`.
    UInt8,
    /// `int16`.
    Int16,
    /// `uint16`.
    UInt16,
    /// `int32`.
    Int32,
    /// `uint32`.
    UInt32,
    /// `int64`.
    Int64,
    /// `uint64`.
    UInt64,
    /// `logical` (stored as `uint8` with the logical flag).
    Logical,
}

impl NumericClass {
    /// MATLAB's name for the class.
    pub fn name(self) -> &'static str {
        match self {
            NumericClass::Double => "double",
            NumericClass::Single => "single",
            NumericClass::Int8 => "int8",
            NumericClass::UInt8 => "uint8",
            NumericClass::Int16 => "int16",
            NumericClass::UInt16 => "uint16",
            NumericClass::Int32 => "int32",
            NumericClass::UInt32 => "uint32",
            NumericClass::Int64 => "int64",
            NumericClass::UInt64 => "uint64",
            NumericClass::Logical => "logical",
        }
    }
}

/// A real numeric array.
#[derive(Debug, Clone, PartialEq)]
pub struct NumericArray {
    /// The MATLAB class (what the file said, or what the writer stores).
    pub class: NumericClass,
    /// Dimensions, at least two, as MATLAB reports them (`size`).
    pub dims: Vec<usize>,
    /// The values, column-major (first index fastest), as MATLAB stores them.
    pub data: Vec<f64>,
}

impl NumericArray {
    /// Wraps column-major values; `None` if `dims` has fewer than two entries or their product
    /// is not `data.len()`.
    pub fn new(class: NumericClass, dims: Vec<usize>, data: Vec<f64>) -> Option<NumericArray> {
        (dims.len() >= 2 && element_count(&dims) == Some(data.len())).then_some(NumericArray {
            class,
            dims,
            data,
        })
    }

    /// The value at a 0-based index with one entry per dimension (column-major addressing);
    /// `None` if the index has the wrong length or is out of range.
    pub fn at(&self, index: &[usize]) -> Option<f64> {
        if index.len() != self.dims.len() {
            return None;
        }
        let mut flat = 0usize;
        let mut stride = 1usize;
        for (&i, &d) in index.iter().zip(&self.dims) {
            if i >= d {
                return None;
            }
            flat += i * stride;
            stride *= d;
        }
        self.data.get(flat).copied()
    }
}

/// A char array: each row a string. MATLAB pads the rows of a multi-row char array with spaces
/// to one length; the padding is kept.
#[derive(Debug, Clone, PartialEq)]
pub struct CharArray {
    /// Dimensions; more than two are read as `dims[0]` rows of all the remaining columns.
    pub dims: Vec<usize>,
    /// One string per row (`dims[0]` of them).
    pub rows: Vec<String>,
}

impl CharArray {
    /// A 1 × n char array holding `text` (n counted in UTF-16 code units, as MATLAB does).
    pub fn from_text(text: &str) -> CharArray {
        CharArray {
            dims: vec![1, text.encode_utf16().count()],
            rows: vec![text.to_string()],
        }
    }
}

/// A cell array.
#[derive(Debug, Clone, PartialEq)]
pub struct CellArray {
    /// Dimensions.
    pub dims: Vec<usize>,
    /// The cells, column-major.
    pub cells: Vec<MatArray>,
}

impl CellArray {
    /// A 1 × n cell of 1 × len char arrays, like NYU's `joint_names`.
    pub fn of_strings<S: AsRef<str>>(strings: &[S]) -> CellArray {
        CellArray {
            dims: vec![1, strings.len()],
            cells: strings
                .iter()
                .map(|s| MatArray::Char(CharArray::from_text(s.as_ref())))
                .collect(),
        }
    }
}

/// One MATLAB value.
#[derive(Debug, Clone, PartialEq)]
pub enum MatArray {
    /// A real numeric or logical array.
    Numeric(NumericArray),
    /// A char array.
    Char(CharArray),
    /// A cell array.
    Cell(CellArray),
}

impl MatArray {
    /// The strings this value holds: the rows of a char array, or, for a cell array of char
    /// arrays with at most one row each, one string per cell in column-major order (an empty
    /// char array gives `""`). `None` for anything else.
    pub fn as_strings(&self) -> Option<Vec<String>> {
        match self {
            MatArray::Char(c) => Some(c.rows.clone()),
            MatArray::Cell(cell) => cell
                .cells
                .iter()
                .map(|c| match c {
                    MatArray::Char(c) if c.rows.len() <= 1 => {
                        Some(c.rows.first().cloned().unwrap_or_default())
                    }
                    _ => None,
                })
                .collect(),
            MatArray::Numeric(_) => None,
        }
    }

    /// What the value is, for messages: `double 1×8252×36×3`, `cell 1×14`.
    pub fn describe(&self) -> String {
        let (class, dims) = match self {
            MatArray::Numeric(n) => (n.class.name(), &n.dims),
            MatArray::Char(c) => ("char", &c.dims),
            MatArray::Cell(c) => ("cell", &c.dims),
        };
        format!("{class} {}", DimsDisplay(dims))
    }
}

/// One expected dimension for [`check_dims`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dim {
    /// Any size; the label names it in messages (`"N"`).
    Any(&'static str),
    /// Exactly this size.
    Is(usize),
}

/// A variable of a class the reader does not decode.
#[derive(Debug, Clone, PartialEq)]
pub struct Unsupported {
    /// The variable.
    pub name: String,
    /// What it is (`struct`, `complex double`, `sparse`, …).
    pub what: String,
}

/// The variables of a MAT-file.
#[derive(Debug, Clone, PartialEq)]
pub struct MatFile {
    /// The file read, for messages (the path given to `from_bytes` for bytes).
    pub path: PathBuf,
    /// The header text, trailing spaces and NULs removed (`MATLAB 5.0 MAT-file, Platform: …`).
    pub description: String,
    /// The decoded variables, in file order.
    pub variables: Vec<(String, MatArray)>,
    /// Variables present but of a class the reader does not decode; asking for one by name
    /// gives [`MatError::Unsupported`].
    pub unsupported: Vec<Unsupported>,
}

impl MatFile {
    /// Reads every variable of `path`.
    pub fn read(path: &Path) -> Result<MatFile, MatError> {
        MatFile::from_bytes(&read_file(path)?, path)
    }

    /// Reads only the variables named, skipping the others after their name (a compressed
    /// variable is inflated only as far as its name). Fails if one is missing or unsupported.
    pub fn read_only(path: &Path, names: &[&str]) -> Result<MatFile, MatError> {
        read::parse(&read_file(path)?, path, Some(names))
    }

    /// Parses the bytes of a MAT-file; `path` is only used in messages.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<MatFile, MatError> {
        read::parse(bytes, path, None)
    }

    /// The variable called `name`, if it was decoded.
    pub fn get(&self, name: &str) -> Option<&MatArray> {
        self.variables
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| a)
    }

    /// The variable called `name`, or why there is none (after [`MatFile::read_only`], the
    /// variables not asked for count as missing).
    pub fn array(&self, name: &str) -> Result<&MatArray, MatError> {
        if let Some(a) = self.get(name) {
            return Ok(a);
        }
        if let Some(u) = self.unsupported.iter().find(|u| u.name == name) {
            return Err(MatError::Unsupported {
                path: self.path.clone(),
                variable: name.to_string(),
                what: u.what.clone(),
            });
        }
        Err(MatError::MissingVariable {
            path: self.path.clone(),
            variable: name.to_string(),
            found: self
                .variables
                .iter()
                .map(|(n, _)| n.clone())
                .chain(self.unsupported.iter().map(|u| u.name.clone()))
                .collect(),
        })
    }

    /// The numeric variable called `name`.
    pub fn numeric(&self, name: &str) -> Result<&NumericArray, MatError> {
        match self.array(name)? {
            MatArray::Numeric(n) => Ok(n),
            other => Err(self.wrong_class(name, "a numeric array", other)),
        }
    }

    /// The numeric variable called `name`, checked against the expected dimensions.
    pub fn numeric_dims(&self, name: &str, expected: &[Dim]) -> Result<&NumericArray, MatError> {
        let n = self.numeric(name)?;
        check_dims(&self.path, name, &n.dims, expected)?;
        Ok(n)
    }

    /// The strings of the variable called `name` (see [`MatArray::as_strings`]).
    pub fn strings(&self, name: &str) -> Result<Vec<String>, MatError> {
        let a = self.array(name)?;
        a.as_strings().ok_or_else(|| {
            self.wrong_class(
                name,
                "a char array or a cell array of one-row char arrays",
                a,
            )
        })
    }

    fn wrong_class(&self, name: &str, expected: &str, found: &MatArray) -> MatError {
        MatError::WrongClass {
            path: self.path.clone(),
            variable: name.to_string(),
            expected: expected.to_string(),
            found: found.describe(),
        }
    }
}

/// Checks that `found` matches `expected` dimension by dimension (same count, and every
/// [`Dim::Is`] equal), giving [`MatError::Shape`] otherwise.
pub fn check_dims(
    path: &Path,
    variable: &str,
    found: &[usize],
    expected: &[Dim],
) -> Result<(), MatError> {
    let ok = found.len() == expected.len()
        && found.iter().zip(expected).all(|(&f, e)| match e {
            Dim::Any(_) => true,
            Dim::Is(n) => f == *n,
        });
    if ok {
        return Ok(());
    }
    let expected = expected
        .iter()
        .map(|e| match e {
            Dim::Any(label) => label.to_string(),
            Dim::Is(n) => n.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" × ");
    Err(MatError::Shape {
        path: path.to_path_buf(),
        variable: variable.to_string(),
        expected,
        found: found.to_vec(),
    })
}

/// The product of the dimensions, `None` on overflow.
fn element_count(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

fn read_file(path: &Path) -> Result<Vec<u8>, MatError> {
    std::fs::read(path).map_err(|source| MatError::Io {
        path: path.into(),
        source,
    })
}
