//! The reader: one pass over the bytes, inflating compressed variables as a stream.
//!
//! Sizes in a file are untrusted: every read is bounded by what the enclosing element (and, at
//! the top, the file) can still hold, and allocations grow with the data actually read, so a
//! corrupt size field gives an error rather than a huge allocation.

use std::io::{self, Read};
use std::path::Path;

use flate2::read::ZlibDecoder;

use super::stream::{
    MI_COMPRESSED, MI_DOUBLE, MI_INT8, MI_INT16, MI_INT32, MI_MATRIX, MI_UINT8, MI_UINT16,
    MI_UINT32, MI_UTF8, MI_UTF16, MI_UTF32, Origin, Stream, Tag, convert, padding, value_width,
};
use super::{
    CellArray, CharArray, MatArray, MatError, MatFile, NumericArray, NumericClass, Position,
    Unsupported, element_count,
};

/// Deflate never expands data more than about 1032 times; this bounds what a compressed element
/// can inflate to, and with it any allocation a size field inside it can cause.
const MAX_INFLATE_RATIO: u64 = 1032;
/// Cells nest at most this deep, so a crafted file cannot overflow the stack.
const MAX_DEPTH: usize = 64;
/// Values converted per chunk: large enough to amortize the reads, small enough for the cache.
const CHUNK_VALUES: usize = 1 << 15;

/// Why a variable could not be decoded: an error, or a class the reader does not decode (which
/// only fails the read if that variable was asked for).
enum Fail {
    Error(MatError),
    Unsupported(String),
}

impl From<MatError> for Fail {
    fn from(e: MatError) -> Fail {
        Fail::Error(e)
    }
}

/// Parses a whole file; `wanted` restricts decoding to those variables.
pub(super) fn parse(
    bytes: &[u8],
    path: &Path,
    wanted: Option<&[&str]>,
) -> Result<MatFile, MatError> {
    let (le, description) = header(bytes, path)?;
    let mut file = MatFile {
        path: path.to_path_buf(),
        description,
        variables: Vec::new(),
        unsupported: Vec::new(),
    };
    let mut seen: Vec<String> = Vec::new();
    let mut off = 128usize;
    while off < bytes.len() {
        let rest = &bytes[off..];
        let mut top = Stream::new(rest, path, le, Origin::File(off as u64), rest.len() as u64);
        let tag = top.tag("an 8-byte element tag")?;
        let size = tag.size as usize;
        let Some(data) = rest.get(8..8 + size).filter(|_| tag.small.is_none()) else {
            return Err(if tag.small.is_some() {
                top.corrupt_at(
                    tag.at,
                    "a miMATRIX (14) or miCOMPRESSED (15) element",
                    "a small (≤ 4 byte) element".into(),
                )
            } else {
                MatError::Truncated {
                    path: path.into(),
                    at: Position::File(off as u64 + 8),
                    expected: format!(
                        "the {size} bytes of the element whose tag is at byte {off} ({} remain)",
                        rest.len() - 8
                    ),
                }
            });
        };
        let origin = Origin::File(off as u64 + 8);
        let decoded = match tag.ty {
            MI_MATRIX => {
                off += 8 + size + padding(size as u64) as usize;
                let mut s = Stream::new(data, path, le, origin, size as u64);
                variable(&mut s, tag.size, wanted, &mut seen)?
            }
            MI_COMPRESSED => {
                // Compressed elements are not padded.
                let element = off as u64;
                off += 8 + size;
                let bound = (size as u64).saturating_mul(MAX_INFLATE_RATIO) + 1024;
                let z = ZlibDecoder::new(data);
                let mut s = Stream::new(z, path, le, Origin::Inflated(element), bound);
                let inner = s.tag("the tag of the compressed variable")?;
                if inner.ty != MI_MATRIX || inner.small.is_some() {
                    return Err(s.corrupt_at(
                        inner.at,
                        "a miMATRIX (14) element",
                        format!("type {}", inner.ty),
                    ));
                }
                let decoded = variable(&mut s, inner.size, wanted, &mut seen)?;
                if matches!(decoded, Some((_, Ok(_)))) {
                    // Inflating to the end checks the stream's Adler-32 checksum.
                    io::copy(&mut s.r, &mut io::sink()).map_err(|e| s.io_error(e, ""))?;
                }
                decoded
            }
            other => {
                return Err(top.corrupt_at(
                    tag.at,
                    "a miMATRIX (14) or miCOMPRESSED (15) element",
                    format!("an element of type {other}"),
                ));
            }
        };
        match decoded {
            None => {}
            Some((name, Ok(array))) => file.variables.push((name, array)),
            Some((name, Err(what))) => {
                if wanted.is_some() {
                    return Err(MatError::Unsupported {
                        path: path.into(),
                        variable: name,
                        what,
                    });
                }
                file.unsupported.push(Unsupported { name, what });
            }
        }
    }
    if let Some(wanted) = wanted
        && let Some(missing) = wanted.iter().find(|w| !seen.iter().any(|s| s == *w))
    {
        return Err(MatError::MissingVariable {
            path: path.into(),
            variable: missing.to_string(),
            found: seen,
        });
    }
    Ok(file)
}

/// Checks the 128-byte header; gives the byte order (little-endian?) and the header text.
fn header(bytes: &[u8], path: &Path) -> Result<(bool, String), MatError> {
    let fail = |found: String| MatError::Header {
        path: path.into(),
        found,
    };
    let Some(head) = bytes.get(..128) else {
        return Err(fail(match bytes.len() {
            0 => "an empty file".to_string(),
            n => format!("only {n} bytes"),
        }));
    };
    let text = String::from_utf8_lossy(&head[..116]);
    let le = match &head[126..128] {
        b"IM" => true,
        b"MI" => false,
        other => {
            let start: String = text.chars().take(24).collect();
            return Err(fail(format!(
                "endian indicator {other:02x?} at byte 126 (the file starts with {start:?})"
            )));
        }
    };
    let v = [head[124], head[125]];
    let version = if le {
        u16::from_le_bytes(v)
    } else {
        u16::from_be_bytes(v)
    };
    if version != 0x0100 {
        let hint = if text.starts_with("MATLAB 7.3") {
            " (a MATLAB 7.3 file, which is HDF5: save it with -v7 or -v6 instead)"
        } else {
            ""
        };
        return Err(fail(format!("version {version:#06x}{hint}")));
    }
    let description = text.trim_end_matches([' ', '\0']).to_string();
    Ok((le, description))
}

/// A decoded top-level variable: its name and the array or why it is unsupported; `None` when
/// skipped (not wanted, or an empty element, which has no name).
type Decoded = Option<(String, Result<MatArray, String>)>;

/// Decodes (or skips) the `miMATRIX` whose tag has just been read from `s`.
fn variable<R: Read>(
    s: &mut Stream<R>,
    size: u32,
    wanted: Option<&[&str]>,
    seen: &mut Vec<String>,
) -> Result<Decoded, MatError> {
    if size == 0 {
        return Ok(None);
    }
    let end = s.pos + u64::from(size);
    s.check_fits(size, "the miMATRIX element")?;
    let h = s.matrix_header(end)?;
    seen.push(h.name.clone());
    if wanted.is_some_and(|w| !w.contains(&h.name.as_str())) {
        return Ok(None);
    }
    match s.matrix_body(&h, end, 0) {
        Ok(a) => Ok(Some((h.name, Ok(a)))),
        Err(Fail::Unsupported(what)) => Ok(Some((h.name, Err(what)))),
        Err(Fail::Error(e)) => Err(e),
    }
}

struct Header {
    class: u32,
    complex: bool,
    logical: bool,
    dims: Vec<usize>,
    name: String,
}

impl<R: Read> Stream<'_, R> {
    fn matrix_header(&mut self, end: u64) -> Result<Header, MatError> {
        let tag = self.sub_tag(end, "the array flags")?;
        let flags = self.payload(&tag, end, "the array flags")?;
        if tag.ty != MI_UINT32 || flags.len() != 8 {
            return Err(self.corrupt_at(
                tag.at,
                "array flags (8 bytes of miUINT32)",
                format!("{} bytes of type {}", flags.len(), tag.ty),
            ));
        }
        let f = self.u32([flags[0], flags[1], flags[2], flags[3]]);
        let tag = self.sub_tag(end, "the dimensions")?;
        let raw = self.payload(&tag, end, "the dimensions")?;
        if tag.ty != MI_INT32 || raw.len() % 4 != 0 || raw.len() < 8 {
            return Err(self.corrupt_at(
                tag.at,
                "dimensions (at least two miINT32)",
                format!("{} bytes of type {}", raw.len(), tag.ty),
            ));
        }
        let mut dims = Vec::with_capacity(raw.len() / 4);
        for c in raw.chunks_exact(4) {
            let d = self.u32([c[0], c[1], c[2], c[3]]) as i32;
            let Ok(d) = usize::try_from(d) else {
                return Err(self.corrupt_at(tag.at, "non-negative dimensions", format!("{d}")));
            };
            dims.push(d);
        }
        let tag = self.sub_tag(end, "the array name")?;
        let name = self.payload(&tag, end, "the array name")?;
        if tag.ty != MI_INT8 && tag.ty != MI_UINT8 {
            return Err(self.corrupt_at(
                tag.at,
                "the array name (miINT8)",
                format!("type {}", tag.ty),
            ));
        }
        Ok(Header {
            class: f & 0xff,
            complex: f & 0x800 != 0,
            logical: f & 0x200 != 0,
            dims,
            name: String::from_utf8_lossy(&name).into_owned(),
        })
    }

    /// Decodes what follows the name, then skips to `end` (an imaginary part, trailing padding).
    fn matrix_body(&mut self, h: &Header, end: u64, depth: usize) -> Result<MatArray, Fail> {
        let count = element_count(&h.dims).ok_or_else(|| {
            self.corrupt(
                "dimensions whose product fits in memory",
                format!("{:?}", h.dims),
            )
        })?;
        let class = match h.class {
            1 => None,
            4 => None,
            6 => Some(NumericClass::Double),
            7 => Some(NumericClass::Single),
            8 => Some(NumericClass::Int8),
            9 if h.logical => Some(NumericClass::Logical),
            9 => Some(NumericClass::UInt8),
            10 => Some(NumericClass::Int16),
            11 => Some(NumericClass::UInt16),
            12 => Some(NumericClass::Int32),
            13 => Some(NumericClass::UInt32),
            14 => Some(NumericClass::Int64),
            15 => Some(NumericClass::UInt64),
            2 => return Err(Fail::Unsupported("a struct array".into())),
            3 => return Err(Fail::Unsupported("an object".into())),
            5 => return Err(Fail::Unsupported("a sparse array".into())),
            16 => return Err(Fail::Unsupported("a function handle".into())),
            17 => return Err(Fail::Unsupported("an opaque (class) object".into())),
            c => {
                return Err(self
                    .corrupt("an array class from 1 to 17", format!("class {c}"))
                    .into());
            }
        };
        let array = match (h.class, class) {
            (_, Some(class)) => {
                if h.complex {
                    return Err(Fail::Unsupported(format!(
                        "a complex {} array",
                        class.name()
                    )));
                }
                let tag = self.sub_tag(end, "the real part")?;
                let data = self.numeric(&tag, count, end)?;
                MatArray::Numeric(NumericArray {
                    class,
                    dims: h.dims.clone(),
                    data,
                })
            }
            (1, _) => {
                if depth >= MAX_DEPTH {
                    return Err(self
                        .corrupt(
                            &format!("cells nested at most {MAX_DEPTH} deep"),
                            "deeper nesting".into(),
                        )
                        .into());
                }
                let mut cells = Vec::with_capacity(count.min(((end - self.pos) / 8) as usize));
                for i in 0..count {
                    let what = format!("cell {} of {count}", i + 1);
                    let tag = self.sub_tag(end, &what)?;
                    if tag.ty != MI_MATRIX || tag.small.is_some() {
                        return Err(self
                            .corrupt_at(
                                tag.at,
                                &format!("{what} as a miMATRIX (14)"),
                                format!("type {}", tag.ty),
                            )
                            .into());
                    }
                    let cell_end = self.pos + u64::from(tag.size);
                    cells.push(if tag.size == 0 {
                        // MATLAB writes an empty [] in a cell as a bare tag.
                        MatArray::Numeric(NumericArray {
                            class: NumericClass::Double,
                            dims: vec![0, 0],
                            data: vec![],
                        })
                    } else {
                        let inner = self.matrix_header(cell_end)?;
                        self.matrix_body(&inner, cell_end, depth + 1)
                            .map_err(|f| match f {
                                Fail::Unsupported(what) if depth == 0 => {
                                    Fail::Unsupported(format!("a cell array holding {what}"))
                                }
                                other => other,
                            })?
                    });
                    self.skip(padding(u64::from(tag.size)).min(end - self.pos), &what)?;
                }
                MatArray::Cell(CellArray {
                    dims: h.dims.clone(),
                    cells,
                })
            }
            _ => {
                let tag = self.sub_tag(end, "the characters")?;
                let bytes = self.payload(&tag, end, "the characters")?;
                let units = self.utf16_units(tag.ty, &bytes).ok_or_else(|| {
                    self.corrupt_at(
                        tag.at,
                        "characters as miUTF8/16/32, miUINT8/16/32 or miINT8/16/32",
                        format!("type {}", tag.ty),
                    )
                })?;
                if units.len() != count {
                    return Err(self
                        .corrupt_at(
                            tag.at,
                            &format!("{count} characters for a {:?} char array", h.dims),
                            format!("{}", units.len()),
                        )
                        .into());
                }
                let rows = h.dims.first().copied().unwrap_or(0);
                let cols = count.checked_div(rows).unwrap_or(0);
                let rows = (0..rows)
                    .map(|r| {
                        let row: Vec<u16> = (0..cols).map(|c| units[r + c * rows]).collect();
                        String::from_utf16_lossy(&row)
                    })
                    .collect();
                MatArray::Char(CharArray {
                    dims: h.dims.clone(),
                    rows,
                })
            }
        };
        if self.pos < end {
            self.skip(end - self.pos, "the rest of the miMATRIX")?;
        }
        Ok(array)
    }

    /// Characters as UTF-16 code units (MATLAB's char), from any of the types writers use.
    fn utf16_units(&self, ty: u32, b: &[u8]) -> Option<Vec<u16>> {
        let le = self.le;
        Some(match ty {
            MI_UTF16 | MI_UINT16 | MI_INT16 => b
                .chunks_exact(2)
                .map(|c| {
                    if le {
                        u16::from_le_bytes([c[0], c[1]])
                    } else {
                        u16::from_be_bytes([c[0], c[1]])
                    }
                })
                .collect(),
            MI_UTF8 => String::from_utf8_lossy(b).encode_utf16().collect(),
            // Single bytes are Latin-1, as scipy reads them.
            MI_UINT8 | MI_INT8 => b.iter().map(|&c| u16::from(c)).collect(),
            MI_UTF32 | MI_UINT32 | MI_INT32 => b
                .chunks_exact(4)
                .map(|c| {
                    char::from_u32(self.u32([c[0], c[1], c[2], c[3]]))
                        .unwrap_or(char::REPLACEMENT_CHARACTER)
                })
                .collect::<String>()
                .encode_utf16()
                .collect(),
            _ => return None,
        })
    }

    /// The `count` values of a numeric data element, converted to f64 in chunks.
    fn numeric(&mut self, tag: &Tag, count: usize, end: u64) -> Result<Vec<f64>, MatError> {
        let Some(width) = value_width(tag.ty) else {
            return Err(self.corrupt_at(
                tag.at,
                "numeric data (miINT8 … miUINT64, miSINGLE, miDOUBLE)",
                format!("type {}", tag.ty),
            ));
        };
        let n = tag.size as usize;
        if !n.is_multiple_of(width) || n / width != count {
            return Err(self.corrupt_at(
                tag.at,
                &format!("{count} values of {width} bytes"),
                format!("{n} bytes"),
            ));
        }
        let mut out: Vec<f64> = Vec::new();
        if let Some(d) = tag.small {
            convert(tag.ty, &d[..n], self.le, &mut out);
            return Ok(out);
        }
        // Reserve only what the stream can still produce, so a lying size cannot allocate much.
        let possible = self.bound.saturating_sub(self.pos) / width as u64;
        out.reserve_exact(count.min(possible as usize));
        let what = format!("{count} values of {width} bytes");
        if tag.ty == MI_DOUBLE {
            // Doubles need no conversion: inflate straight into the output.
            while out.len() < count {
                let start = out.len();
                out.resize(start + (count - start).min(CHUNK_VALUES * 8), 0.0);
                self.fill(bytemuck::cast_slice_mut(&mut out[start..]), &what)?;
            }
            if self.le != cfg!(target_endian = "little") {
                out.iter_mut()
                    .for_each(|v| *v = f64::from_bits(v.to_bits().swap_bytes()));
            }
        } else {
            let mut buf = vec![0u8; CHUNK_VALUES * 8];
            let mut left = n;
            while left > 0 {
                let k = left.min(buf.len());
                self.fill(&mut buf[..k], &what)?;
                convert(tag.ty, &buf[..k], self.le, &mut out);
                left -= k;
            }
        }
        self.skip(padding(n as u64).min(end - self.pos), &what)?;
        Ok(out)
    }
}
