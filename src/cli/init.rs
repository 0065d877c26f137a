//! `hourhand init`: freshly initialized weights.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use hourhand::net::{NetConfig, Storage, Weights};

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to write the weights (safetensors).
    #[arg(long)]
    out: PathBuf,
    /// Random seed; the same seed gives the same file.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Storage type of the values.
    #[arg(long, value_enum, default_value_t = Storage::F32)]
    storage: Storage,
    /// A JSON net config (fields of NetConfig); default: the paper-sized default network.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Replace the output file if it exists.
    #[arg(long)]
    force: bool,
}

pub fn run(args: InitArgs) -> anyhow::Result<()> {
    let config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("{}: cannot read the config", path.display()))?;
            serde_json::from_str::<NetConfig>(&text)
                .with_context(|| format!("{}: not a valid net config", path.display()))?
        }
        None => NetConfig::default(),
    };
    let weights = Weights::init(&config, args.seed)?;
    weights.save(&args.out, args.storage, args.force)?;
    let bytes = std::fs::metadata(&args.out).map(|m| m.len()).unwrap_or(0);
    println!(
        "wrote {} ({} parameters, {:?}, {:.1} MB, seed {})",
        args.out.display(),
        weights.parameter_count(),
        args.storage,
        bytes as f64 / 1e6,
        args.seed
    );
    Ok(())
}
