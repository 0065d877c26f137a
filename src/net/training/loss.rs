//! Which loss a training phase minimizes: its names on the command line and in logs. The
//! losses themselves are computed by `train::loss` (CPU) and `shaders/loss.wesl`.

use std::fmt;
use std::str::FromStr;

/// Which loss a training phase minimizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Loss {
    /// Mean squared error.
    Mse,
    /// Smooth L1 (Huber with its knee at 1 mm).
    SmoothL1,
    /// The paper's max-out smooth L1.
    MaxOut,
}

impl Loss {
    /// Every loss, in the order the paper compares them.
    pub const ALL: [Loss; 3] = [Loss::Mse, Loss::SmoothL1, Loss::MaxOut];

    /// The name on the command line and in logs.
    pub fn name(self) -> &'static str {
        match self {
            Loss::Mse => "mse",
            Loss::SmoothL1 => "smooth-l1",
            Loss::MaxOut => "max-out",
        }
    }
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Loss {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Loss::ALL
            .into_iter()
            .find(|l| l.name() == s)
            .ok_or_else(|| format!("unknown loss `{s}`; expected mse, smooth-l1 or max-out"))
    }
}
