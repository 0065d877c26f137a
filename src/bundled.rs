//! What hourhand uses when it is given nothing: the weights trained by the README's recipe,
//! compiled into the binary, and the 100-frame synthetic sample shipped in `assets/sample`.

use std::path::{Path, PathBuf};

use crate::net::{Weights, WeightsError};

/// `assets/hourhand-synth.safetensors`, embedded so the viewer and `infer` always have a
/// trained network, wherever the binary is run from.
pub const BUNDLED_WEIGHTS: &[u8] = include_bytes!("../assets/hourhand-synth.safetensors");

/// How the bundled weights are named to the user.
pub const BUNDLED_WEIGHTS_NAME: &str = "bundled (hourhand-synth, trained on synthetic hands)";

/// The bundled weights.
pub fn bundled_weights() -> Result<Weights, WeightsError> {
    Weights::from_bytes(
        BUNDLED_WEIGHTS,
        Path::new("<bundled hourhand-synth.safetensors>"),
    )
}

/// The bundled sample sequence, where the source tree has it (`cargo run` from a clone); an
/// installed binary without the tree opens with an empty window and File › Open instead.
pub fn bundled_sample() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets")
        .join("sample");
    dir.join("joint_data.mat").is_file().then_some(dir)
}
