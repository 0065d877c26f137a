//! Errors of the MAT-file reader and writer, and where in a file they happened.

use std::fmt;
use std::path::PathBuf;

/// Where in a file something is: a file offset, or an offset inside the inflated data of a
/// compressed element (which has no file offset of its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// Byte offset from the start of the file.
    File(u64),
    /// Byte offset into the inflated data of the `miCOMPRESSED` element at file byte `element`.
    Inflated {
        /// File offset of the compressed element's tag.
        element: u64,
        /// Offset into its inflated data.
        offset: u64,
    },
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::File(o) => write!(f, "byte {o}"),
            Position::Inflated { element, offset } => write!(
                f,
                "byte {offset} of the inflated data of the compressed element at byte {element}"
            ),
        }
    }
}

/// What went wrong reading or writing a MAT-file. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum MatError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file exists and overwriting was not asked for.
    #[error("{path}: already exists; refusing to overwrite it")]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// The first 128 bytes are not a MAT 5 header.
    #[error(
        "{path}: expected a MAT 5 header (128 bytes with version 0x0100 and endian indicator \
         'IM' or 'MI'), found {found}"
    )]
    Header {
        /// The file.
        path: PathBuf,
        /// What was there instead.
        found: String,
    },
    /// The file ends (or an element ends) before what had to come next.
    #[error(
        "{path}: truncated at {at}: expected {expected}, but the data ends there; \
         the file may be cut short"
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Where the missing data should start.
        at: Position,
        /// What should have been there.
        expected: String,
    },
    /// The bytes do not follow the format.
    #[error("{path}: corrupt at {at}: expected {expected}, found {found}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Where.
        at: Position,
        /// What the format requires there.
        expected: String,
        /// What was there.
        found: String,
    },
    /// A compressed element is not a valid zlib stream.
    #[error("{path}: the compressed element at byte {element} is not valid zlib data: {source}")]
    Zlib {
        /// The file.
        path: PathBuf,
        /// File offset of the element.
        element: u64,
        /// What the decoder said.
        source: std::io::Error,
    },
    /// The variable is of a class the reader does not decode.
    #[error("{path}: variable `{variable}` is {what}, which hourhand does not read")]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// The variable.
        variable: String,
        /// What it is.
        what: String,
    },
    /// No variable has that name.
    #[error("{path}: no variable `{variable}`; the file holds {}", list(found))]
    MissingVariable {
        /// The file.
        path: PathBuf,
        /// The name asked for.
        variable: String,
        /// The variables present.
        found: Vec<String>,
    },
    /// The variable is not of the class asked for.
    #[error("{path}: variable `{variable}` is {found}; expected {expected}")]
    WrongClass {
        /// The file.
        path: PathBuf,
        /// The variable.
        variable: String,
        /// What was asked for.
        expected: String,
        /// What it is (class and dimensions).
        found: String,
    },
    /// The variable does not have the dimensions asked for.
    #[error(
        "{path}: variable `{variable}` is {}; expected {expected}",
        DimsDisplay(found)
    )]
    Shape {
        /// The file.
        path: PathBuf,
        /// The variable.
        variable: String,
        /// The expected dimensions, e.g. `K × N × 36 × 3`.
        expected: String,
        /// Its dimensions.
        found: Vec<usize>,
    },
    /// What was given to the writer cannot be stored.
    #[error("{path}: cannot write {what}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with the input.
        what: String,
    },
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "no variables".to_string()
    } else {
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Dimensions as MATLAB prints them: `1×8252×36×3`.
pub(super) struct DimsDisplay<'a>(pub(super) &'a [usize]);

impl fmt::Display for DimsDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(usize::to_string).collect();
        write!(f, "{}", parts.join("×"))
    }
}
