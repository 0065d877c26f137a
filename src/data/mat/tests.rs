//! Unit tests of the MAT-file reader and writer: byte orders, MATLAB's storage choices, and
//! hostile input.

use std::path::Path;

use super::stream::{MI_DOUBLE, MI_INT8, MI_INT32, MI_MATRIX, MI_UINT8, MI_UINT32, MI_UTF8};
use super::write::encode;
use super::*;

const PATH: &str = "unit.mat";

fn sample() -> Vec<(&'static str, MatArray)> {
    vec![
        (
            "uvd",
            MatArray::Numeric(
                NumericArray::new(
                    NumericClass::Double,
                    vec![2, 3, 4],
                    (0..24).map(|i| i as f64 * 1.5 - 7.0).collect(),
                )
                .unwrap(),
            ),
        ),
        (
            "s",
            MatArray::Numeric(
                NumericArray::new(NumericClass::Single, vec![1, 3], vec![0.5, -2.0, 1e6]).unwrap(),
            ),
        ),
        (
            "w",
            MatArray::Numeric(
                NumericArray::new(NumericClass::UInt16, vec![1, 2], vec![7.0, 65535.0]).unwrap(),
            ),
        ),
        (
            "names",
            MatArray::Cell(CellArray::of_strings(&["PALM_3", "F1_KNU3_A"])),
        ),
    ]
}

fn vars<'a>(s: &'a [(&'static str, MatArray)]) -> Vec<(&'static str, &'a MatArray)> {
    s.iter().map(|(n, a)| (*n, a)).collect()
}

#[test]
fn big_endian_files_read_like_little_endian_ones() {
    let s = sample();
    for compress in [false, true] {
        let be = encode("", &vars(&s), compress, Path::new(PATH), false).unwrap();
        assert_eq!(&be[124..128], &[0x01, 0x00, b'M', b'I']);
        let le = encode("", &vars(&s), compress, Path::new(PATH), true).unwrap();
        assert_ne!(be, le);
        let a = MatFile::from_bytes(&be, Path::new(PATH)).unwrap();
        let b = MatFile::from_bytes(&le, Path::new(PATH)).unwrap();
        assert_eq!(a.variables, b.variables);
        assert_eq!(a.variables.len(), s.len());
        assert_eq!(a.strings("names").unwrap(), ["PALM_3", "F1_KNU3_A"]);
    }
}

/// Appends an element in the normal (or, up to 4 bytes, small) format, padded.
fn element(out: &mut Vec<u8>, ty: u32, data: &[u8]) {
    if data.len() <= 4 {
        out.extend_from_slice(&((data.len() as u32) << 16 | ty).to_le_bytes());
        out.extend_from_slice(data);
        out.resize(out.len() + 4 - data.len(), 0);
    } else {
        out.extend_from_slice(&ty.to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
        out.resize(out.len().next_multiple_of(8), 0);
    }
}

/// A top-level `miMATRIX` of the given class and dimensions whose data is `data_ty` bytes.
fn matrix(class: u32, dims: &[i32], name: &str, data_ty: u32, data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    element(&mut body, MI_UINT32, &[class as u8, 0, 0, 0, 0, 0, 0, 0]);
    let d: Vec<u8> = dims.iter().flat_map(|d| d.to_le_bytes()).collect();
    element(&mut body, MI_INT32, &d);
    element(&mut body, MI_INT8, name.as_bytes());
    element(&mut body, data_ty, data);
    let mut out = Vec::new();
    out.extend_from_slice(&MI_MATRIX.to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

fn file(elements: &[Vec<u8>]) -> Vec<u8> {
    let mut out = encode("", &[], false, Path::new(PATH), true).unwrap();
    elements.iter().for_each(|e| out.extend_from_slice(e));
    out
}

#[test]
fn reads_values_stored_in_a_narrower_type_as_matlab_does() {
    // MATLAB stores whole-valued doubles as miUINT8 (here small elements) and chars as miUTF8.
    let bytes = file(&[
        matrix(6, &[1, 3], "x", MI_UINT8, &[1, 2, 250]),
        matrix(6, &[1, 2], "neg", MI_INT8, &[0xff, 0x80]),
        matrix(4, &[1, 2], "é", MI_UTF8, "é€".as_bytes()),
        matrix(6, &[1, 1], "d", MI_DOUBLE, &2.5f64.to_le_bytes()),
    ]);
    let f = MatFile::from_bytes(&bytes, Path::new(PATH)).unwrap();
    assert_eq!(f.numeric("x").unwrap().data, [1.0, 2.0, 250.0]);
    assert_eq!(f.numeric("x").unwrap().class, NumericClass::Double);
    assert_eq!(f.numeric("neg").unwrap().data, [-1.0, -128.0]);
    assert_eq!(f.strings("é").unwrap(), ["é€"]);
    assert_eq!(f.numeric("d").unwrap().data, [2.5]);
}

#[test]
fn multi_row_char_arrays_are_column_major() {
    // 2×3 ["abc"; "def"] is stored a d b e c f.
    let bytes = file(&[matrix(4, &[2, 3], "c", MI_UINT8, b"adbecf")]);
    let f = MatFile::from_bytes(&bytes, Path::new(PATH)).unwrap();
    assert_eq!(f.strings("c").unwrap(), ["abc", "def"]);
}

#[test]
fn lying_sizes_fail_fast_without_huge_allocations() {
    // 2^31−1 × 2^31−1 doubles claimed, 0xffff_fff8 data bytes claimed, 3 bytes present.
    let mut m = matrix(6, &[i32::MAX, i32::MAX], "big", MI_DOUBLE, &[0; 8]);
    let n = m.len();
    m[n - 12..n - 8].copy_from_slice(&0xffff_fff8u32.to_le_bytes());
    m[4..8].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
    let e = MatFile::from_bytes(&file(&[m.clone()]), Path::new(PATH)).unwrap_err();
    assert!(matches!(e, MatError::Truncated { .. }), "{e}");
    // The same inside a compressed element: bounded by what zlib can inflate to.
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut z, &m).unwrap();
    let z = z.finish().unwrap();
    let mut c = 15u32.to_le_bytes().to_vec();
    c.extend_from_slice(&(z.len() as u32).to_le_bytes());
    c.extend_from_slice(&z);
    let e = MatFile::from_bytes(&file(&[c]), Path::new(PATH)).unwrap_err();
    assert!(e.to_string().contains("inflated data"), "{e}");
}

#[test]
fn deep_nesting_is_refused() {
    let mut m = matrix(6, &[0, 0], "", MI_DOUBLE, &[]);
    for depth in 0..100 {
        let name = if depth == 99 { "deep" } else { "" };
        let mut body = Vec::new();
        element(&mut body, MI_UINT32, &[1, 0, 0, 0, 0, 0, 0, 0]);
        element(&mut body, MI_INT32, &[1, 0, 0, 0, 1, 0, 0, 0]);
        element(&mut body, MI_INT8, name.as_bytes());
        body.extend_from_slice(&m);
        m = MI_MATRIX.to_le_bytes().to_vec();
        m.extend_from_slice(&(body.len() as u32).to_le_bytes());
        m.extend_from_slice(&body);
    }
    let e = MatFile::from_bytes(&file(&[m]), Path::new(PATH)).unwrap_err();
    assert!(e.to_string().contains("nested at most 64 deep"), "{e}");
}

#[test]
fn damaged_bytes_never_panic() {
    let s = sample();
    // A deterministic xorshift: the same damage on every run.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for compress in [false, true] {
        let good = encode("", &vars(&s), compress, Path::new(PATH), true).unwrap();
        for _ in 0..3000 {
            let mut bad = good.clone();
            for _ in 0..1 + next() % 4 {
                let i = 128 + (next() as usize) % (bad.len() - 128);
                bad[i] = next() as u8;
            }
            // Either an error or some array; what matters is no panic and no abort.
            let _ = MatFile::from_bytes(&bad, Path::new(PATH));
        }
    }
}

#[test]
fn numeric_at_is_column_major() {
    let a = NumericArray::new(
        NumericClass::Double,
        vec![2, 3],
        (0..6).map(f64::from).collect(),
    )
    .unwrap();
    assert_eq!(a.at(&[1, 0]), Some(1.0));
    assert_eq!(a.at(&[0, 1]), Some(2.0));
    assert_eq!(a.at(&[1, 2]), Some(5.0));
    assert_eq!(a.at(&[2, 0]), None);
    assert!(NumericArray::new(NumericClass::Double, vec![2, 3], vec![0.0; 5]).is_none());
}

#[test]
fn a_struct_inside_a_cell_makes_the_cell_unsupported() {
    let s = matrix(2, &[1, 1], "", MI_DOUBLE, &[]);
    let mut body = Vec::new();
    element(&mut body, MI_UINT32, &[1, 0, 0, 0, 0, 0, 0, 0]);
    element(&mut body, MI_INT32, &[1, 0, 0, 0, 1, 0, 0, 0]);
    element(&mut body, MI_INT8, b"c");
    body.extend_from_slice(&s);
    let mut cell = MI_MATRIX.to_le_bytes().to_vec();
    cell.extend_from_slice(&(body.len() as u32).to_le_bytes());
    cell.extend_from_slice(&body);
    let bytes = file(&[cell, matrix(6, &[1, 1], "x", MI_UINT8, &[3])]);
    let f = MatFile::from_bytes(&bytes, Path::new(PATH)).unwrap();
    assert_eq!(f.numeric("x").unwrap().data, [3.0]);
    let e = f.array("c").unwrap_err().to_string();
    assert!(
        e.contains("unit.mat: variable `c` is a cell array holding a struct array"),
        "{e}"
    );
}
