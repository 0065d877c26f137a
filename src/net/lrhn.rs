//! The local regression based hourglass network, written once as a [`Program`] in training
//! form: the stem, two residual blocks, the hourglass, the head, local and global regression.

use std::collections::BTreeMap;

use super::config::NetConfig;
use super::op::{BatchNorm, Conv2d, Linear, Op, infer_shape};
use super::program::{Program, ProgramError, Shape};

impl Program {
    /// The LRHN in training form, built from `config` (which must be valid).
    pub fn lrhn(config: &NetConfig) -> Result<Self, ProgramError> {
        let mut b = Builder::default();
        let s = config.input_size as usize;
        let input = "input".to_string();
        b.shapes.insert(input.clone(), Shape::new(1, s, s));

        let x = b.conv("stem.conv", &input, config.stem_channels as usize, 3, 1);
        let x = b.bn("stem.bn", &x);
        let x = b.relu("stem.relu", &x);
        let x = b.pool("stem.pool", &x);
        let x = b.residual("res1", &x, config.res1_channels as usize);
        let x = b.pool("res1.pool", &x);
        let x = b.residual("res2", &x, config.features as usize);
        let x = b.hourglass("hourglass", &x, config.hourglass_order);
        let x = b.bn("head.bn", &x);
        let x = b.relu("head.relu", &x);
        let x = b.pool("head.pool", &x);
        let x = b.conv("head.conv", &x, config.head_channels as usize, 1, 0);
        let x = b.bn("head.conv_bn", &x);
        let x = b.relu("head.conv_relu", &x);

        let grid = config.patch_grid as usize;
        let p = config.patch_size() as usize;
        let mut locals = Vec::new();
        for i in 0..grid {
            for j in 0..grid {
                let k = i * grid + j;
                let patch = format!("local.{k}.patch");
                b.push(Op::Patch {
                    name: patch.clone(),
                    input: x.clone(),
                    output: patch.clone(),
                    y: i * p,
                    x: j * p,
                    h: p,
                    w: p,
                });
                let y = b.linear(
                    &format!("local.{k}.fc"),
                    &patch,
                    config.local_features as usize,
                );
                let y = b.relu(&format!("local.{k}.relu"), &y);
                locals.push(b.dropout(&format!("local.{k}.dropout"), &y));
            }
        }
        b.push(Op::Concat {
            name: "local.concat".into(),
            inputs: locals,
            output: "local.concat".into(),
        });
        let x = b.linear(
            "global.fc1",
            "local.concat",
            config.global_features as usize,
        );
        let x = b.relu("global.relu", &x);
        let x = b.dropout("global.dropout", &x);
        let out = b.linear("global.fc2", &x, config.outputs() as usize);
        Program::new(vec![(input, Shape::new(1, s, s))], b.ops, &out)
    }
}

/// Appends ops while tracking shapes, so the architecture reads like the table in DESIGN.md.
#[derive(Default)]
struct Builder {
    ops: Vec<Op>,
    shapes: BTreeMap<String, Shape>,
}

impl Builder {
    fn push(&mut self, op: Op) {
        let ins: Vec<Shape> = op.inputs().iter().map(|t| self.shapes[*t]).collect();
        let out = infer_shape(&op, &ins).expect("the LRHN builder only emits consistent ops");
        self.shapes.insert(op.output().to_string(), out);
        self.ops.push(op);
    }

    fn conv(&mut self, name: &str, x: &str, cout: usize, kernel: usize, pad: usize) -> String {
        let cin = self.shapes[x].c;
        self.push(Op::Conv2d(Conv2d {
            name: name.into(),
            input: x.into(),
            output: name.into(),
            cin,
            cout,
            kernel,
            stride: 1,
            pad,
            relu: false,
        }));
        name.into()
    }

    fn bn(&mut self, name: &str, x: &str) -> String {
        let channels = self.shapes[x].c;
        self.push(Op::BatchNorm(BatchNorm {
            name: name.into(),
            input: x.into(),
            output: name.into(),
            channels,
        }));
        name.into()
    }

    fn relu(&mut self, name: &str, x: &str) -> String {
        self.push(Op::Relu {
            name: name.into(),
            input: x.into(),
            output: name.into(),
        });
        name.into()
    }

    fn dropout(&mut self, name: &str, x: &str) -> String {
        self.push(Op::Dropout {
            name: name.into(),
            input: x.into(),
            output: name.into(),
        });
        name.into()
    }

    fn pool(&mut self, name: &str, x: &str) -> String {
        self.push(Op::MaxPool {
            name: name.into(),
            input: x.into(),
            output: name.into(),
            kernel: 2,
            stride: 2,
        });
        name.into()
    }

    fn linear(&mut self, name: &str, x: &str, outputs: usize) -> String {
        let inputs = self.shapes[x].len();
        self.push(Op::Linear(Linear {
            name: name.into(),
            input: x.into(),
            output: name.into(),
            inputs,
            outputs,
            relu: false,
        }));
        name.into()
    }

    /// Newell's pre-activation bottleneck: BN-ReLU-conv1×1(out/2), BN-ReLU-conv3×3(out/2),
    /// BN-ReLU-conv1×1(out), plus the input (through a 1×1 convolution when widths differ).
    fn residual(&mut self, p: &str, x: &str, cout: usize) -> String {
        let cin = self.shapes[x].c;
        let mid = cout / 2;
        let y = self.bn(&format!("{p}.bn1"), x);
        let y = self.relu(&format!("{p}.relu1"), &y);
        let y = self.conv(&format!("{p}.conv1"), &y, mid, 1, 0);
        let y = self.bn(&format!("{p}.bn2"), &y);
        let y = self.relu(&format!("{p}.relu2"), &y);
        let y = self.conv(&format!("{p}.conv2"), &y, mid, 3, 1);
        let y = self.bn(&format!("{p}.bn3"), &y);
        let y = self.relu(&format!("{p}.relu3"), &y);
        let y = self.conv(&format!("{p}.conv3"), &y, cout, 1, 0);
        let skip = if cin == cout {
            x.to_string()
        } else {
            self.conv(&format!("{p}.skip"), x, cout, 1, 0)
        };
        let out = format!("{p}.out");
        self.push(Op::Add {
            name: out.clone(),
            a: y,
            b: skip,
            output: out.clone(),
        });
        out
    }

    /// Hourglass of order `n`: `up = res(x)`; `low = res(pool(x))`, then a hourglass of order
    /// `n − 1` (or one more residual at the bottom), then `res`; `out = up + upsample2(low)`.
    fn hourglass(&mut self, p: &str, x: &str, n: u32) -> String {
        let c = self.shapes[x].c;
        let up = self.residual(&format!("{p}.up"), x, c);
        let pooled = self.pool(&format!("{p}.pool"), x);
        let down = self.residual(&format!("{p}.down"), &pooled, c);
        let low = if n > 1 {
            self.hourglass(&format!("{p}.low"), &down, n - 1)
        } else {
            self.residual(&format!("{p}.res"), &down, c)
        };
        let back = self.residual(&format!("{p}.back"), &low, c);
        let upsampled = format!("{p}.upsample");
        self.push(Op::Upsample {
            name: upsampled.clone(),
            input: back,
            output: upsampled.clone(),
            factor: 2,
        });
        let out = format!("{p}.out");
        self.push(Op::Add {
            name: out.clone(),
            a: up,
            b: upsampled,
            output: out.clone(),
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_network_matches_the_design_table() {
        let p = Program::lrhn(&NetConfig::default()).unwrap();
        assert_eq!(p.shape("stem.pool"), Shape::new(32, 64, 64));
        assert_eq!(p.shape("res1.pool"), Shape::new(64, 32, 32));
        assert_eq!(p.shape("res2.out"), Shape::new(128, 32, 32));
        assert_eq!(p.shape("hourglass.out"), Shape::new(128, 32, 32));
        assert_eq!(p.shape("head.conv_relu"), Shape::new(32, 16, 16));
        assert_eq!(p.shape("local.3.patch"), Shape::new(32, 8, 8));
        assert_eq!(p.shape("local.concat"), Shape::flat(1024));
        assert_eq!(p.output_shape(), Shape::flat(105));
        let params: usize = p
            .params()
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum();
        assert!(
            (3_800_000..4_000_000).contains(&params),
            "{params} parameters"
        );
        let gmac = p.macs() as f64 / 1e9;
        assert!((0.23..0.24).contains(&gmac), "{gmac} GMAC");
        assert!(
            p.params()
                .iter()
                .any(|(n, _)| n == "hourglass.low.low.res.bn1.running_var")
        );
        assert!(p.params().iter().any(|(n, _)| n == "local.2.fc.weight"));
    }
}
