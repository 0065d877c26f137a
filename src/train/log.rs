//! `log.csv`: one line per epoch, appended (a resumed run continues the same file), and read
//! back for `hourhand curve`.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::error::TrainError;

/// What one epoch did.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochRecord {
    /// Epochs completed (1-based).
    pub epoch: usize,
    /// The loss trained.
    pub loss: String,
    /// Mean training loss over the epoch's samples.
    pub train_loss: f64,
    /// Validation mean error (mm), when there is a validation set.
    pub val_mm: Option<f64>,
    /// Learning rate used.
    pub lr: f32,
    /// Training throughput (loading included).
    pub samples_per_s: f64,
    /// Seconds since the run began (over resumes).
    pub seconds: f64,
    /// Whether this epoch became `best.safetensors`.
    pub best: bool,
}

/// The header line of `log.csv`.
pub const HEADER: &str = "epoch,loss,train_loss,val_mean_mm,lr,samples_per_s,seconds,best";

/// Appends `record`, writing the header first if the file is new.
pub fn append_log(path: &Path, r: &EpochRecord) -> Result<(), TrainError> {
    let err = |source| TrainError::Log {
        path: path.into(),
        source,
    };
    let new = !path.exists();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(err)?;
    let mut line = String::new();
    if new {
        line.push_str(HEADER);
        line.push('\n');
    }
    line.push_str(&format!(
        "{},{},{:.6},{},{:.3e},{:.2},{:.1},{}\n",
        r.epoch,
        r.loss,
        r.train_loss,
        r.val_mm.map_or(String::new(), |v| format!("{v:.3}")),
        r.lr,
        r.samples_per_s,
        r.seconds,
        r.best as u8
    ));
    f.write_all(line.as_bytes()).map_err(err)
}

/// Why a training log could not be read. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The file could not be read.
    #[error("{path}: cannot read the training log: {source}")]
    Read {
        /// The log file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A line is not what `hourhand train` writes.
    #[error("{path}: line {line}: {message}")]
    Format {
        /// The log file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
}

/// Reads a `log.csv` that [`append_log`] wrote: one record per epoch in epoch order. Where an
/// epoch appears twice (a run resumed from a checkpoint older than its log), the later line
/// wins, as it describes the weights the run went on with.
pub fn read_log(path: &Path) -> Result<Vec<EpochRecord>, LogError> {
    let text = std::fs::read_to_string(path).map_err(|source| LogError::Read {
        path: path.into(),
        source,
    })?;
    parse_log(&text).map_err(|(line, message)| LogError::Format {
        path: path.into(),
        line,
        message,
    })
}

/// [`read_log`] on the file's text; errors are (line, message).
fn parse_log(text: &str) -> Result<Vec<EpochRecord>, (usize, String)> {
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, header)) if header.trim_end() == HEADER => {}
        Some((_, header)) => {
            return Err((
                1,
                format!("the header is `{header}`, not `{HEADER}`: not a training log"),
            ));
        }
        None => return Err((1, "empty file: not a training log".into())),
    }
    let columns = HEADER.split(',').count();
    let mut by_epoch = std::collections::BTreeMap::new();
    for (i, line) in lines {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.trim_end().split(',').collect();
        if fields.len() != columns {
            return Err((
                n,
                format!("{} fields, expected {columns} ({HEADER})", fields.len()),
            ));
        }
        let record = parse_record(&fields).map_err(|m| (n, m))?;
        by_epoch.insert(record.epoch, record);
    }
    Ok(by_epoch.into_values().collect())
}

/// One line's fields (as many as [`HEADER`] has) as a record, or what is wrong with them.
fn parse_record(fields: &[&str]) -> Result<EpochRecord, String> {
    let epoch: usize = number(fields[0], "epoch")?;
    if epoch == 0 {
        return Err("epoch is 0; epochs count from 1".into());
    }
    let loss = fields[1].to_string();
    if loss.is_empty() {
        return Err("the loss column is empty".into());
    }
    let val_mm = match fields[3] {
        "" => None,
        v => Some(number(v, "val_mean_mm")?),
    };
    let best = match fields[7] {
        "0" => false,
        "1" => true,
        b => return Err(format!("best is `{b}`, not 0 or 1")),
    };
    Ok(EpochRecord {
        epoch,
        loss,
        train_loss: number(fields[2], "train_loss")?,
        val_mm,
        lr: number(fields[4], "lr")?,
        samples_per_s: number(fields[5], "samples_per_s")?,
        seconds: number(fields[6], "seconds")?,
        best,
    })
}

/// A field parsed as a number, or a message naming its column.
fn number<T: std::str::FromStr>(field: &str, name: &str) -> Result<T, String> {
    field
        .parse()
        .map_err(|_| format!("{name} is `{field}`, not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(epoch: usize, val_mm: Option<f64>) -> EpochRecord {
        EpochRecord {
            epoch,
            loss: "mse".into(),
            train_loss: 1234.5,
            val_mm,
            lr: 1e-3,
            samples_per_s: 41.25,
            seconds: 100.0 * epoch as f64,
            best: epoch == 2,
        }
    }

    #[test]
    fn what_append_log_writes_reads_back() {
        let dir = std::env::temp_dir().join(format!("hourhand-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log.csv");
        let _ = std::fs::remove_file(&path);
        let written = [
            record(1, Some(30.25)),
            record(2, Some(20.5)),
            record(3, None),
        ];
        for r in &written {
            append_log(&path, r).unwrap();
        }
        let read = read_log(&path).unwrap();
        assert_eq!(read.len(), 3);
        for (r, w) in read.iter().zip(&written) {
            assert_eq!(
                (r.epoch, &r.loss, r.val_mm, r.best),
                (w.epoch, &w.loss, w.val_mm, w.best)
            );
            assert_eq!(
                (r.train_loss, r.samples_per_s, r.seconds),
                (w.train_loss, w.samples_per_s, w.seconds)
            );
            assert!((r.lr - w.lr).abs() < 1e-9);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_repeated_epoch_keeps_its_last_line_and_blank_lines_are_skipped() {
        let text = format!(
            "{HEADER}\n1,mse,10,40.0,1e-3,30,100,1\n2,mse,9,35.0,9.5e-4,30,200,1\n\n2,mse,8,33.0,9.5e-4,31,210,1\n"
        );
        let r = parse_log(&text).unwrap();
        assert_eq!(r.iter().map(|r| r.epoch).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(r[1].val_mm, Some(33.0));
    }

    #[test]
    fn bad_logs_say_which_line_and_what() {
        let bad = |body: &str| parse_log(&format!("{HEADER}\n{body}\n")).unwrap_err();
        assert_eq!(parse_log("").unwrap_err().0, 1);
        let (line, m) = parse_log("epoch,loss\n1,mse\n").unwrap_err();
        assert_eq!(line, 1);
        assert!(m.contains("not a training log"), "{m}");
        let (line, m) = bad("1,mse,10,40.0,1e-3,30,100");
        assert_eq!(line, 2);
        assert!(m.contains("7 fields, expected 8"), "{m}");
        assert!(
            bad("x,mse,10,40.0,1e-3,30,100,1")
                .1
                .contains("epoch is `x`")
        );
        assert!(
            bad("0,mse,10,40.0,1e-3,30,100,1")
                .1
                .contains("epochs count from 1")
        );
        assert!(
            bad("1,,10,40.0,1e-3,30,100,1")
                .1
                .contains("loss column is empty")
        );
        assert!(
            bad("1,mse,10,forty,1e-3,30,100,1")
                .1
                .contains("val_mean_mm is `forty`")
        );
        assert!(
            bad("1,mse,10,40.0,1e-3,30,100,yes")
                .1
                .contains("best is `yes`")
        );
        let e = read_log(Path::new("/nonexistent/log.csv")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/nonexistent/log.csv: cannot read"),
            "{e}"
        );
    }
}
