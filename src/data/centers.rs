//! Files of hand centres: one `x y z` (camera space, mm, y up) per frame, like the refined NYU
//! centres V2V-PoseNet, A2J and AWR use at test time.

use std::path::Path;

use glam::Vec3;

use super::error::DataError;

/// Reads a centres file; blank lines are skipped, anything else must be three finite numbers.
pub fn read_centers(path: &Path) -> Result<Vec<Vec3>, DataError> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    parse_centers(&text, path)
}

/// Parses the text of a centres file (`path` names it in errors).
pub fn parse_centers(text: &str, path: &Path) -> Result<Vec<Vec3>, DataError> {
    let mut centers = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |problem: String| DataError::Line {
            path: path.into(),
            line: i + 1,
            problem,
        };
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() != 3 {
            return Err(bad(format!(
                "expected three numbers `x y z` (mm), found {} field(s)",
                fields.len()
            )));
        }
        let mut xyz = [0.0f32; 3];
        for (k, field) in fields.iter().enumerate() {
            xyz[k] = field
                .parse::<f32>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    bad(format!(
                        "field {} is {field:?}; expected a finite number (mm)",
                        k + 1
                    ))
                })?;
        }
        centers.push(Vec3::from_array(xyz));
    }
    if centers.is_empty() {
        return Err(DataError::Line {
            path: path.into(),
            line: 1,
            problem: "no centres; expected one `x y z` per frame".into(),
        });
    }
    Ok(centers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_shared_refined_centres() {
        let path = crate::data::shared_nyu_dir().join("awr_center_test_refined.txt");
        let centers = read_centers(&path).unwrap();
        assert_eq!(centers.len(), 8252);
        assert!((centers[0] - Vec3::new(-133.28716, -12.867971, 761.9981)).length() < 1e-3);
    }

    #[test]
    fn bad_lines_are_named() {
        let p = Path::new("c.txt");
        let e = parse_centers("1 2 3\n4 5\n", p).unwrap_err().to_string();
        assert!(
            e.starts_with("c.txt:2:") && e.contains("found 2 field(s)"),
            "{e}"
        );
        let e = parse_centers("1 2 nan\n", p).unwrap_err().to_string();
        assert!(e.starts_with("c.txt:1:") && e.contains("field 3"), "{e}");
        let e = parse_centers("\n\n", p).unwrap_err().to_string();
        assert!(e.contains("no centres"), "{e}");
        assert_eq!(parse_centers("1 2 3\n\n", p).unwrap().len(), 1);
    }
}
