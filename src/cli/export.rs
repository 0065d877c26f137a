//! `hourhand export`: a weights file as a standard ONNX graph.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use hourhand::net::{Network, Weights};

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Where to write the ONNX model.
    #[arg(long, value_name = "MODEL.onnx")]
    onnx: PathBuf,
    /// Weights file (safetensors); default: the bundled weights.
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Replace the output file if it exists.
    #[arg(long)]
    force: bool,
}

pub fn run(args: ExportArgs) -> anyhow::Result<()> {
    let (weights, from) = match &args.weights {
        Some(path) => (Weights::load(path)?, path.display().to_string()),
        None => (
            hourhand::bundled::bundled_weights()?,
            hourhand::bundled::BUNDLED_WEIGHTS_NAME.to_string(),
        ),
    };
    let net = Network::from_weights(&weights);
    let bytes = hourhand::onnx::export(&net).with_context(|| format!("exporting {from}"))?;
    hourhand::files::write_atomic(&args.onnx, &bytes, args.force)?;
    let input = net.program.inputs[0].1;
    println!(
        "wrote {} (ONNX opset {}, {:.1} MB): input `{}` {}×{}×{}×{}, output `{}` {}×{}, from {from}",
        args.onnx.display(),
        hourhand::onnx::OPSET,
        bytes.len() as f64 / 1e6,
        hourhand::onnx::INPUT,
        hourhand::onnx::BATCH,
        input.c,
        input.h,
        input.w,
        hourhand::onnx::OUTPUT,
        hourhand::onnx::BATCH,
        net.program.output_shape().len(),
    );
    Ok(())
}
