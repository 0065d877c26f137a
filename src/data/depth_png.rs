//! Depth frames as PNG files: 16-bit grayscale in millimetres (what RealSense, Azure Kinect and
//! Orbbec tools export) and NYU's 8-bit RGB packing (depth = G·256 + B, red unused).

use std::io::Cursor;
use std::path::Path;

use super::depth::DepthMap;
use super::error::DataError;

/// How a PNG holds depth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepthPacking {
    /// One 16-bit channel, millimetres.
    Gray16,
    /// NYU: 8-bit RGB, millimetres = G·256 + B.
    NyuRgb,
}

/// Reads a depth PNG of either packing; `expected_size`, when given, must match.
pub fn read_depth_png(
    path: &Path,
    expected_size: Option<(usize, usize)>,
) -> Result<(DepthMap, DepthPacking), DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::io(path, source))?;
    decode_depth_png(&bytes, path, expected_size)
}

/// Decodes PNG bytes (`path` only names the file in errors).
pub fn decode_depth_png(
    bytes: &[u8],
    path: &Path,
    expected_size: Option<(usize, usize)>,
) -> Result<(DepthMap, DepthPacking), DataError> {
    let png_error = |source: png::DecodingError| DataError::Png {
        path: path.into(),
        source,
    };
    let decoder = png::Decoder::new(Cursor::new(bytes));
    let mut reader = decoder.read_info().map_err(png_error)?;
    let (width, height, color, depth) = {
        let info = reader.info();
        (
            info.width as usize,
            info.height as usize,
            info.color_type,
            info.bit_depth,
        )
    };
    let packing = match (color, depth) {
        (png::ColorType::Grayscale, png::BitDepth::Sixteen) => DepthPacking::Gray16,
        (png::ColorType::Rgb, png::BitDepth::Eight) => DepthPacking::NyuRgb,
        _ => {
            return Err(DataError::PngFormat {
                path: path.into(),
                found: format!("{depth:?}-bit {color:?}")
                    .replace("Eight", "8")
                    .replace("Sixteen", "16"),
            });
        }
    };
    if let Some((w, h)) = expected_size
        && (w, h) != (width, height)
    {
        return Err(DataError::ImageSize {
            path: path.into(),
            expected: (w, h),
            found: (width, height),
        });
    }
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| DataError::Corrupt {
            path: path.into(),
            problem: format!("a {width}×{height} image is too large to decode"),
        })?;
    let mut buf = vec![0u8; size];
    let frame = reader.next_frame(&mut buf).map_err(png_error)?;
    let buf = &buf[..frame.buffer_size()];
    let mm: Vec<f32> = match packing {
        DepthPacking::Gray16 => buf
            .chunks_exact(2)
            .map(|p| u16::from_be_bytes([p[0], p[1]]) as f32)
            .collect(),
        DepthPacking::NyuRgb => buf
            .chunks_exact(3)
            .map(|p| (p[1] as u32 * 256 + p[2] as u32) as f32)
            .collect(),
    };
    let map = DepthMap::new(width, height, mm).map_err(|source| DataError::Depth {
        path: path.into(),
        source,
    })?;
    Ok((map, packing))
}

/// Encodes a depth map as PNG bytes in the given packing (millimetres rounded to integers,
/// clamped to 0..=65535) and compression (see [`crate::files::png_bytes`]).
pub fn encode_depth_png(
    depth: &DepthMap,
    packing: DepthPacking,
    compression: png::Compression,
) -> Vec<u8> {
    let to_u16 = |d: f32| d.round().clamp(0.0, u16::MAX as f32) as u16;
    let (color, bit_depth, data): (_, _, Vec<u8>) = match packing {
        DepthPacking::Gray16 => (
            png::ColorType::Grayscale,
            png::BitDepth::Sixteen,
            depth
                .values()
                .iter()
                .flat_map(|&d| to_u16(d).to_be_bytes())
                .collect(),
        ),
        DepthPacking::NyuRgb => (
            png::ColorType::Rgb,
            png::BitDepth::Eight,
            depth
                .values()
                .iter()
                .flat_map(|&d| {
                    let [hi, lo] = to_u16(d).to_be_bytes();
                    [0, hi, lo]
                })
                .collect(),
        ),
    };
    crate::files::png_bytes(
        depth.width() as u32,
        depth.height() as u32,
        color,
        bit_depth,
        &data,
        compression,
    )
}

/// Writes a depth PNG; refuses to replace an existing file unless `overwrite`.
pub fn write_depth_png(
    path: &Path,
    depth: &DepthMap,
    packing: DepthPacking,
    compression: png::Compression,
    overwrite: bool,
) -> Result<(), DataError> {
    Ok(crate::files::write_atomic(
        path,
        &encode_depth_png(depth, packing, compression),
        overwrite,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> DepthMap {
        let mm = (0..7 * 5)
            .map(|i| {
                if i % 6 == 0 {
                    0.0
                } else {
                    300.0 + 97.0 * i as f32
                }
            })
            .collect();
        DepthMap::new(7, 5, mm).unwrap()
    }

    #[test]
    fn both_packings_round_trip_exactly() {
        let d = sample();
        for packing in [DepthPacking::Gray16, DepthPacking::NyuRgb] {
            let bytes = encode_depth_png(&d, packing, png::Compression::Balanced);
            let (back, found) = decode_depth_png(&bytes, Path::new("x.png"), Some((7, 5))).unwrap();
            assert_eq!(found, packing);
            assert_eq!(back, d);
        }
    }

    #[test]
    fn bad_pngs_name_the_file_and_the_problem() {
        let p = Path::new("frames/f1.png");
        let bytes = encode_depth_png(&sample(), DepthPacking::NyuRgb, png::Compression::Fast);
        let e = decode_depth_png(&bytes, p, Some((640, 480)))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("frames/f1.png") && e.contains("640×480") && e.contains("7×5"),
            "{e}"
        );
        let e = decode_depth_png(&bytes[..bytes.len() / 2], p, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("frames/f1.png"), "{e}");
        let e = decode_depth_png(b"GIF89a not a png", p, None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("frames/f1.png") && e.contains("not a readable PNG"),
            "{e}"
        );
        // An 8-bit grayscale PNG has no room for millimetres.
        let mut gray8 = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut gray8, 2, 2);
            enc.set_color(png::ColorType::Grayscale);
            enc.set_depth(png::BitDepth::Eight);
            enc.write_header()
                .unwrap()
                .write_image_data(&[1, 2, 3, 4])
                .unwrap();
        }
        let e = decode_depth_png(&gray8, p, None).unwrap_err().to_string();
        assert!(
            e.contains("8-bit Grayscale") && e.contains("16-bit grayscale"),
            "{e}"
        );
    }
}
