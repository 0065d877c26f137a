//! The MAT-file reader and writer: the real NYU file, round trips, and bad input.

use std::path::{Path, PathBuf};

mod common;

use hourhand::data::JOINT_NAMES;
use hourhand::data::mat::{
    self, CellArray, CharArray, Dim, MatArray, MatError, MatFile, NumericArray, NumericClass,
    WriteOptions,
};

use common::nyu_file;

/// A fresh path in a per-test scratch folder (removed when the folder is dropped).
fn temp(test: &str, file: &str) -> (common::Scratch, PathBuf) {
    let dir = common::scratch("mat", test);
    let path = dir.join(file);
    (dir, path)
}

fn numeric(class: NumericClass, dims: &[usize], f: impl Fn(usize) -> f64) -> MatArray {
    let n = dims.iter().product();
    MatArray::Numeric(NumericArray::new(class, dims.to_vec(), (0..n).map(f).collect()).unwrap())
}

/// Reading `bytes` as `path` fails; returns the message after checking it names the file.
fn error_for(bytes: &[u8], path: &Path) -> String {
    let e = MatFile::from_bytes(bytes, path).unwrap_err().to_string();
    assert!(e.contains(&path.display().to_string()), "{e}");
    e
}

#[test]
fn reads_the_real_nyu_predictions() {
    let path = nyu_file("test_predictions.mat");
    let f = MatFile::read(&path).unwrap();
    assert!(
        f.description.starts_with("MATLAB 5.0 MAT-file"),
        "{}",
        f.description
    );
    assert!(f.unsupported.is_empty());

    let names = f.get("conv_joint_names").unwrap();
    assert!(
        matches!(names, MatArray::Cell(c) if c.dims == [1, 14]),
        "{}",
        names.describe()
    );
    let names = f.strings("conv_joint_names").unwrap();
    assert_eq!(names.len(), 14);
    assert_eq!(names[0], "PALM_3");
    assert!(
        names.iter().all(|n| JOINT_NAMES.contains(&n.as_str())),
        "{names:?}"
    );

    let p = f
        .numeric_dims(
            "pred_joint_uvconf",
            &[Dim::Any("K"), Dim::Is(8252), Dim::Is(36), Dim::Is(3)],
        )
        .unwrap();
    assert_eq!(p.dims, [1, 8252, 36, 3]);
    assert_eq!(p.class, NumericClass::Double);
    for (c, want) in [169.399, 195.395, 0.0973].into_iter().enumerate() {
        let got = p.at(&[0, 0, 0, c]).unwrap();
        assert!((got - want).abs() < 1e-3, "coordinate {c}: {got} vs {want}");
    }
    assert!(p.data.iter().all(|v| v.is_finite()));
    assert_eq!(p.at(&[1, 0, 0, 0]), None);
    assert_eq!(p.at(&[0, 0, 0]), None);
}

#[test]
fn read_only_decodes_only_the_named_variables() {
    let path = nyu_file("test_predictions.mat");
    let all = MatFile::read(&path).unwrap();
    let one = MatFile::read_only(&path, &["pred_joint_uvconf"]).unwrap();
    assert_eq!(one.variables.len(), 1);
    assert!(one.get("conv_joint_names").is_none());
    assert_eq!(one.get("pred_joint_uvconf"), all.get("pred_joint_uvconf"));

    let e = MatFile::read_only(&path, &["pred_joint_uvconf", "joint_uvd"])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no variable `joint_uvd`")
            && e.contains("`conv_joint_names`, `pred_joint_uvconf`")
            && e.contains("test_predictions.mat"),
        "{e}"
    );
}

/// Everything the writer stores, with odd sizes.
fn sample() -> Vec<(&'static str, MatArray)> {
    let cell = CellArray {
        dims: vec![2, 2],
        cells: vec![
            numeric(NumericClass::Double, &[1, 1], |_| -2.5),
            MatArray::Char(CharArray::from_text("x")),
            MatArray::Cell(CellArray::of_strings(&["a", ""])),
            numeric(NumericClass::Double, &[0, 0], |_| 0.0),
        ],
    };
    vec![
        (
            "uvd",
            numeric(NumericClass::Double, &[1, 5, 36, 3], |i| {
                i as f64 * 0.37 - 20.0
            }),
        ),
        (
            "xyz",
            numeric(NumericClass::Single, &[2, 3, 7, 3], |i| {
                (i as f64).sqrt() * 1e3
            }),
        ),
        ("one", numeric(NumericClass::Single, &[1, 1], |_| 0.5)),
        (
            "ids",
            numeric(NumericClass::Int32, &[3, 1], |i| i as f64 - 1e9),
        ),
        (
            "mask",
            numeric(NumericClass::Logical, &[1, 3], |i| (i % 2) as f64),
        ),
        (
            "bytes",
            numeric(NumericClass::UInt8, &[1, 2], |i| 255.0 - i as f64),
        ),
        (
            "board",
            MatArray::Char(CharArray {
                dims: vec![2, 4],
                rows: vec!["ab c".into(), "dé€1".into()],
            }),
        ),
        (
            "joint_names",
            MatArray::Cell(CellArray::of_strings(&JOINT_NAMES)),
        ),
        ("mixed", MatArray::Cell(cell)),
    ]
}

/// What reading back must give: singles come back rounded to f32.
fn expected(a: &MatArray) -> MatArray {
    match a {
        MatArray::Numeric(n) if n.class == NumericClass::Single => {
            MatArray::Numeric(NumericArray {
                data: n.data.iter().map(|&v| v as f32 as f64).collect(),
                ..n.clone()
            })
        }
        other => other.clone(),
    }
}

#[test]
fn round_trips_compressed_and_plain() {
    let sample = sample();
    let vars: Vec<(&str, &MatArray)> = sample.iter().map(|(n, a)| (*n, a)).collect();
    for compress in [true, false] {
        let (_dir, path) = temp("round-trip", "sample.mat");
        let options = WriteOptions {
            compress,
            overwrite: false,
        };
        mat::write(&path, "hourhand test", &vars, options).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(
            bytes,
            mat::to_bytes("hourhand test", &vars, compress, &path).unwrap()
        );
        assert_eq!(&bytes[124..128], &[0x00, 0x01, b'I', b'M']);
        let back = MatFile::read(&path).unwrap();
        assert!(
            back.description
                .starts_with("MATLAB 5.0 MAT-file, Platform: ")
        );
        assert!(
            back.description.ends_with("hourhand test"),
            "{}",
            back.description
        );
        assert_eq!(back.variables.len(), sample.len());
        for ((name, want), (got_name, got)) in sample.iter().zip(&back.variables) {
            assert_eq!(name, got_name);
            assert_eq!(&expected(want), got, "{name}, compress {compress}");
        }
        assert_eq!(back.strings("joint_names").unwrap(), JOINT_NAMES);
        assert_eq!(back.strings("board").unwrap(), ["ab c", "dé€1"]);
        assert_eq!(
            back.numeric("uvd").unwrap().at(&[0, 4, 35, 2]),
            Some(539.0 * 0.37 - 20.0)
        );
    }
}

#[test]
fn same_input_same_bytes() {
    let sample = sample();
    let vars: Vec<(&str, &MatArray)> = sample.iter().map(|(n, a)| (*n, a)).collect();
    let path = Path::new("same.mat");
    for compress in [true, false] {
        let a = mat::to_bytes("", &vars, compress, path).unwrap();
        let b = mat::to_bytes("", &vars, compress, path).unwrap();
        assert_eq!(a, b);
        // Every element after the header starts on an 8-byte boundary when uncompressed.
        assert!(compress || a.len().is_multiple_of(8));
    }
}

#[test]
fn empty_and_foreign_files_are_not_mat_files() {
    let (_dir, path) = temp("foreign", "x.mat");
    let e = error_for(&[], &path);
    assert!(
        e.contains("expected a MAT 5 header") && e.contains("an empty file"),
        "{e}"
    );
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.resize(300, 7);
    let e = error_for(&png, &path);
    assert!(
        e.contains("expected a MAT 5 header") && e.contains("endian indicator"),
        "{e}"
    );
    let e = error_for(&[b' '; 100], &path);
    assert!(e.contains("only 100 bytes"), "{e}");

    std::fs::write(&path, b"").unwrap();
    let e = MatFile::read(&path).unwrap_err().to_string();
    assert!(e.contains("x.mat") && e.contains("an empty file"), "{e}");
    let e = MatFile::read(&path.with_extension("absent"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("x.absent"), "{e}");
}

#[test]
fn a_header_alone_is_a_file_without_variables() {
    let path = Path::new("header-only.mat");
    let header = mat::to_bytes("", &[], false, path).unwrap();
    assert_eq!(header.len(), 128);
    let f = MatFile::from_bytes(&header, path).unwrap();
    assert!(f.variables.is_empty());
    let e = f.numeric("joint_uvd").unwrap_err().to_string();
    assert!(
        e.contains("header-only.mat: no variable `joint_uvd`; the file holds no variables"),
        "{e}"
    );
}

#[test]
fn truncated_files_say_where_they_end() {
    let sample = sample();
    let vars: Vec<(&str, &MatArray)> = sample.iter().map(|(n, a)| (*n, a)).collect();
    let path = Path::new("cut.mat");
    for compress in [true, false] {
        let bytes = mat::to_bytes("", &vars, compress, path).unwrap();
        let e = error_for(&bytes[..bytes.len() - 20], path);
        assert!(
            e.contains("truncated at byte") && e.contains("expected the"),
            "{e}"
        );
        let e = error_for(&bytes[..133], path);
        assert!(
            e.contains("truncated at byte 128: expected an 8-byte element tag"),
            "{e}"
        );
        // No cut anywhere may panic or succeed silently with all variables.
        for cut in 128..bytes.len() {
            if let Ok(f) = MatFile::from_bytes(&bytes[..cut], path) {
                assert!(f.variables.len() < sample.len(), "cut at {cut}");
            }
        }
    }
    // A consistent element whose zlib stream stops early.
    let mut bytes = mat::to_bytes("", &vars[..1], true, path).unwrap();
    bytes.truncate(bytes.len() - 100);
    let size = (bytes.len() - 136) as u32;
    bytes[132..136].copy_from_slice(&size.to_le_bytes());
    let e = error_for(&bytes, path);
    assert!(e.contains("compressed element at byte 128"), "{e}");
}

#[test]
fn corrupt_zlib_is_reported() {
    let sample = sample();
    let path = Path::new("zlib.mat");
    let bytes = mat::to_bytes("", &[("uvd", &sample[0].1)], true, path).unwrap();
    let mut bad = bytes.clone();
    bad[136] = 0;
    bad[137] = 0;
    let e = error_for(&bad, path);
    assert!(
        e.contains("the compressed element at byte 128 is not valid zlib data"),
        "{e}"
    );
    // A wrong checksum: only noticed by inflating to the end.
    let mut bad = bytes.clone();
    let n = bad.len();
    bad[n - 1] ^= 0xff;
    let e = error_for(&bad, path);
    assert!(
        e.contains("the compressed element at byte 128 is not valid zlib data"),
        "{e}"
    );
}

#[test]
fn asking_for_the_wrong_thing_names_the_variable() {
    let sample = sample();
    let vars: Vec<(&str, &MatArray)> = sample.iter().map(|(n, a)| (*n, a)).collect();
    let path = Path::new("vars.mat");
    let f = MatFile::from_bytes(&mat::to_bytes("", &vars, true, path).unwrap(), path).unwrap();
    let e = f.numeric("joint_xyz").unwrap_err().to_string();
    assert!(
        e.contains("vars.mat: no variable `joint_xyz`; the file holds `uvd`, `xyz`"),
        "{e}"
    );
    let e = f.numeric("board").unwrap_err().to_string();
    assert!(
        e.contains("vars.mat: variable `board` is char 2×4; expected a numeric array"),
        "{e}"
    );
    let e = f.strings("uvd").unwrap_err().to_string();
    assert!(
        e.contains("variable `uvd` is double 1×5×36×3; expected a char array"),
        "{e}"
    );
    let e = f.strings("mixed").unwrap_err();
    assert!(matches!(e, MatError::WrongClass { .. }), "{e}");
    let dims = [Dim::Any("K"), Dim::Any("N"), Dim::Is(36), Dim::Is(3)];
    assert!(f.numeric_dims("uvd", &dims).is_ok());
    let e = f.numeric_dims("xyz", &dims).unwrap_err().to_string();
    assert!(
        e.contains("vars.mat: variable `xyz` is 2×3×7×3; expected K × N × 36 × 3"),
        "{e}"
    );
    let e = mat::check_dims(path, "uvd", &[1, 5, 36], &dims)
        .unwrap_err()
        .to_string();
    assert!(e.contains("is 1×5×36; expected K × N × 36 × 3"), "{e}");
}

#[test]
fn unsupported_classes_fail_only_when_asked_for() {
    let sample = sample();
    let vars = [("uvd", &sample[0].1), ("names", &sample[7].1)];
    let path = Path::new("struct.mat");
    let mut bytes = mat::to_bytes("", &vars, false, path).unwrap();
    // The first variable's class byte (after the miMATRIX tag and the flags tag): a struct.
    assert_eq!(bytes[144], 6);
    bytes[144] = 2;
    let f = MatFile::from_bytes(&bytes, path).unwrap();
    assert_eq!(f.strings("names").unwrap(), JOINT_NAMES);
    let e = f.numeric("uvd").unwrap_err().to_string();
    assert!(
        e.contains("struct.mat: variable `uvd` is a struct array, which hourhand does not read"),
        "{e}"
    );
    assert!(MatFile::from_bytes(&bytes, path).is_ok());
    let (_dir, on_disk) = temp("struct", "s.mat");
    std::fs::write(&on_disk, &bytes).unwrap();
    assert!(MatFile::read_only(&on_disk, &["names"]).is_ok());
    let e = MatFile::read_only(&on_disk, &["uvd"]).unwrap_err();
    assert!(matches!(e, MatError::Unsupported { .. }), "{e}");
    // The complex flag.
    bytes[144] = 6;
    bytes[145] |= 0x08;
    let e = MatFile::from_bytes(&bytes, path)
        .unwrap()
        .numeric("uvd")
        .unwrap_err()
        .to_string();
    assert!(e.contains("is a complex double array"), "{e}");
}

#[test]
fn existing_files_are_kept_unless_overwriting() {
    let sample = sample();
    let (_dir, path) = temp("exists", "keep.mat");
    std::fs::write(&path, b"precious").unwrap();
    let vars = [("uvd", &sample[0].1)];
    let e = mat::write(&path, "", &vars, WriteOptions::default()).unwrap_err();
    assert!(matches!(e, MatError::Exists { .. }), "{e}");
    assert!(e.to_string().contains("keep.mat: already exists"), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
    let options = WriteOptions {
        compress: true,
        overwrite: true,
    };
    mat::write(&path, "", &vars, options).unwrap();
    assert_eq!(MatFile::read(&path).unwrap().get("uvd"), Some(&sample[0].1));
    assert!(!path.with_extension("mat.tmp").exists());
}

#[test]
fn the_writer_rejects_what_matlab_cannot_hold() {
    let path = Path::new("bad.mat");
    let a = numeric(NumericClass::Double, &[1, 2], |_| 1.0);
    let e = mat::to_bytes("", &[("2bad", &a)], true, path)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("bad.mat: cannot write a variable named \"2bad\""),
        "{e}"
    );
    let e = mat::to_bytes("", &[("a", &a), ("a", &a)], true, path)
        .unwrap_err()
        .to_string();
    assert!(e.contains("two variables named `a`"), "{e}");
    let i = numeric(NumericClass::Int8, &[1, 2], |i| 100.0 + 50.0 * i as f64);
    let e = mat::to_bytes("", &[("i", &i)], true, path)
        .unwrap_err()
        .to_string();
    assert!(e.contains("value 150 at index 1"), "{e}");
    let ragged = MatArray::Char(CharArray {
        dims: vec![2, 2],
        rows: vec!["ab".into(), "c".into()],
    });
    assert!(mat::to_bytes("", &[("c", &ragged)], true, path).is_err());
    let long = "x".repeat(80);
    assert!(mat::to_bytes(&long, &[], true, path).is_err());
}
