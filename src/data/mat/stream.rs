//! A byte stream over a slice of the file or an inflating decoder, and the element tags it
//! reads: the low level of the reader, where every error gets its position.

use std::io::{self, Read};
use std::path::Path;

use super::{MatError, Position};

// Data types (the "mi" codes of the format).
pub(super) const MI_INT8: u32 = 1;
pub(super) const MI_UINT8: u32 = 2;
pub(super) const MI_INT16: u32 = 3;
pub(super) const MI_UINT16: u32 = 4;
pub(super) const MI_INT32: u32 = 5;
pub(super) const MI_UINT32: u32 = 6;
pub(super) const MI_SINGLE: u32 = 7;
pub(super) const MI_DOUBLE: u32 = 9;
pub(super) const MI_INT64: u32 = 12;
pub(super) const MI_UINT64: u32 = 13;
pub(super) const MI_MATRIX: u32 = 14;
pub(super) const MI_COMPRESSED: u32 = 15;
pub(super) const MI_UTF8: u32 = 16;
pub(super) const MI_UTF16: u32 = 17;
pub(super) const MI_UTF32: u32 = 18;

pub(super) fn padding(size: u64) -> u64 {
    (8 - size % 8) % 8
}

#[derive(Clone, Copy)]
pub(super) enum Origin {
    /// The stream's first byte is this file offset.
    File(u64),
    /// The inflated data of the compressed element whose tag is at this file offset.
    Inflated(u64),
}

pub(super) struct Tag {
    pub(super) ty: u32,
    pub(super) size: u32,
    /// The data of a small data element (type and size in the first 4 tag bytes).
    pub(super) small: Option<[u8; 4]>,
    pub(super) at: Position,
}

/// A byte stream (a slice of the file, or an inflating decoder) that knows where it is.
pub(super) struct Stream<'a, R> {
    pub(super) r: R,
    pub(super) pos: u64,
    pub(super) origin: Origin,
    /// An upper bound on the bytes the stream can still produce beyond `pos`, from its start.
    pub(super) bound: u64,
    pub(super) path: &'a Path,
    pub(super) le: bool,
}

impl<'a, R: Read> Stream<'a, R> {
    pub(super) fn new(r: R, path: &'a Path, le: bool, origin: Origin, bound: u64) -> Self {
        Stream {
            r,
            pos: 0,
            origin,
            bound,
            path,
            le,
        }
    }

    pub(super) fn at(&self) -> Position {
        match self.origin {
            Origin::File(base) => Position::File(base + self.pos),
            Origin::Inflated(element) => Position::Inflated {
                element,
                offset: self.pos,
            },
        }
    }

    pub(super) fn corrupt_at(&self, at: Position, expected: &str, found: String) -> MatError {
        MatError::Corrupt {
            path: self.path.into(),
            at,
            expected: expected.into(),
            found,
        }
    }

    pub(super) fn corrupt(&self, expected: &str, found: String) -> MatError {
        self.corrupt_at(self.at(), expected, found)
    }

    pub(super) fn io_error(&self, e: io::Error, expected: &str) -> MatError {
        match (self.origin, e.kind()) {
            (Origin::Inflated(element), k) if k != io::ErrorKind::UnexpectedEof => MatError::Zlib {
                path: self.path.into(),
                element,
                source: e,
            },
            _ => MatError::Truncated {
                path: self.path.into(),
                at: self.at(),
                expected: expected.into(),
            },
        }
    }

    pub(super) fn fill(&mut self, buf: &mut [u8], expected: &str) -> Result<(), MatError> {
        self.r
            .read_exact(buf)
            .map_err(|e| self.io_error(e, expected))?;
        self.pos += buf.len() as u64;
        Ok(())
    }

    pub(super) fn skip(&mut self, n: u64, expected: &str) -> Result<(), MatError> {
        let copied = io::copy(&mut (&mut self.r).take(n), &mut io::sink())
            .map_err(|e| self.io_error(e, expected))?;
        self.pos += copied;
        if copied < n {
            return Err(self.io_error(io::ErrorKind::UnexpectedEof.into(), expected));
        }
        Ok(())
    }

    pub(super) fn u32(&self, b: [u8; 4]) -> u32 {
        if self.le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    }

    pub(super) fn tag(&mut self, expected: &str) -> Result<Tag, MatError> {
        let at = self.at();
        let mut b = [0u8; 8];
        self.fill(&mut b, expected)?;
        let first = self.u32([b[0], b[1], b[2], b[3]]);
        let data = [b[4], b[5], b[6], b[7]];
        if first >> 16 != 0 {
            let (ty, size) = (first & 0xffff, first >> 16);
            if size > 4 {
                return Err(self.corrupt_at(
                    at,
                    "a small data element of at most 4 bytes",
                    format!("one of {size} bytes"),
                ));
            }
            return Ok(Tag {
                ty,
                size,
                small: Some(data),
                at,
            });
        }
        Ok(Tag {
            ty: first,
            size: self.u32(data),
            small: None,
            at,
        })
    }

    /// Fails unless `size` bytes can still come before `end` of the stream's bound.
    pub(super) fn check_fits(&self, size: u32, what: &str) -> Result<(), MatError> {
        if u64::from(size) > self.bound.saturating_sub(self.pos) {
            return Err(self.io_error(
                io::ErrorKind::UnexpectedEof.into(),
                &format!("{what} of {size} bytes"),
            ));
        }
        Ok(())
    }

    /// Reads a sub-element's tag, checking its data lies before `end`.
    pub(super) fn sub_tag(&mut self, end: u64, what: &str) -> Result<Tag, MatError> {
        if end.saturating_sub(self.pos) < 8 {
            return Err(self.corrupt(
                &format!("the tag of {what}"),
                "the end of the enclosing miMATRIX".into(),
            ));
        }
        let tag = self.tag(&format!("the tag of {what}"))?;
        if tag.small.is_none() && u64::from(tag.size) > end - self.pos {
            return Err(self.corrupt_at(
                tag.at,
                &format!("{what} inside its miMATRIX ({} bytes left)", end - self.pos),
                format!("a size of {} bytes", tag.size),
            ));
        }
        Ok(tag)
    }

    /// The whole data of an element, padding consumed. Grows with what is read, never trusting
    /// the size field for the allocation.
    pub(super) fn payload(&mut self, tag: &Tag, end: u64, what: &str) -> Result<Vec<u8>, MatError> {
        if let Some(d) = tag.small {
            return Ok(d[..tag.size as usize].to_vec());
        }
        let n = u64::from(tag.size);
        let mut v = Vec::with_capacity(n.min(1 << 20) as usize);
        let got = (&mut self.r)
            .take(n)
            .read_to_end(&mut v)
            .map_err(|e| self.io_error(e, what))?;
        self.pos += got as u64;
        if (got as u64) < n {
            return Err(self.io_error(io::ErrorKind::UnexpectedEof.into(), what));
        }
        self.skip(padding(n).min(end - self.pos), what)?;
        Ok(v)
    }
}

/// Bytes per value of a numeric data type.
pub(super) fn value_width(ty: u32) -> Option<usize> {
    Some(match ty {
        MI_INT8 | MI_UINT8 => 1,
        MI_INT16 | MI_UINT16 => 2,
        MI_INT32 | MI_UINT32 | MI_SINGLE => 4,
        MI_DOUBLE | MI_INT64 | MI_UINT64 => 8,
        _ => return None,
    })
}

/// Appends the values in `b` (of type `ty`, a whole number of them) to `out`.
pub(super) fn convert(ty: u32, b: &[u8], le: bool, out: &mut Vec<f64>) {
    macro_rules! each {
        ($t:ty, $n:literal) => {
            out.extend(b.chunks_exact($n).map(|c| {
                let mut a = [0u8; $n];
                a.copy_from_slice(c);
                (if le {
                    <$t>::from_le_bytes(a)
                } else {
                    <$t>::from_be_bytes(a)
                }) as f64
            }))
        };
    }
    match ty {
        MI_INT8 => each!(i8, 1),
        MI_UINT8 => each!(u8, 1),
        MI_INT16 => each!(i16, 2),
        MI_UINT16 => each!(u16, 2),
        MI_INT32 => each!(i32, 4),
        MI_UINT32 => each!(u32, 4),
        MI_SINGLE => each!(f32, 4),
        MI_DOUBLE => each!(f64, 8),
        MI_INT64 => each!(i64, 8),
        MI_UINT64 => each!(u64, 8),
        _ => {}
    }
}
