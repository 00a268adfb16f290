//! How many trainable parameters a `torch.nn` layer holds, from its constructor arguments.
//!
//! Source: the parameter shapes in the PyTorch API reference (torch 2.x), one page per layer:
//! - `nn.Linear`: weight `(out_features, in_features)`, bias `(out_features)`;
//!   <https://pytorch.org/docs/stable/generated/torch.nn.Linear.html>
//! - `nn.Bilinear`: weight `(out, in1, in2)`, bias `(out)`.
//! - `nn.Conv1d/2d/3d`: weight `(out_channels, in_channels / groups, *kernel_size)`, bias `(out_channels)`;
//!   <https://pytorch.org/docs/stable/generated/torch.nn.Conv2d.html>
//! - `nn.ConvTranspose1d/2d/3d`: weight `(in_channels, out_channels / groups, *kernel_size)`, bias `(out_channels)`;
//!   <https://pytorch.org/docs/stable/generated/torch.nn.ConvTranspose2d.html>
//! - `nn.BatchNorm1d/2d/3d`, `nn.InstanceNorm*d`: weight and bias `(num_features)` when `affine`
//!   (BatchNorm default True, InstanceNorm default False); running statistics are buffers.
//! - `nn.LayerNorm`: weight and bias of `normalized_shape` when `elementwise_affine` (`bias=True`).
//! - `nn.GroupNorm`: weight and bias `(num_channels)` when `affine`.
//! - `nn.Embedding`: weight `(num_embeddings, embedding_dim)`.
//! - `nn.RNN/LSTM/GRU`: per layer and direction, `weight_ih (G*hidden, input)`,
//!   `weight_hh (G*hidden, hidden)`, `bias_ih` and `bias_hh (G*hidden)`; G = 1, 4, 3; the input of
//!   layers after the first is `hidden * directions`; <https://pytorch.org/docs/stable/generated/torch.nn.LSTM.html>
//! - `nn.MultiheadAttention`: `in_proj_weight (3E, E)`, `in_proj_bias (3E)`, `out_proj (E, E) + (E)`,
//!   `bias_k`, `bias_v (1, 1, E)` with `add_bias_kv`; <https://pytorch.org/docs/stable/generated/torch.nn.MultiheadAttention.html>
//! - `nn.PReLU`: weight `(num_parameters)`, default 1.

/// A literal argument as the caller read it from the code.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// Not passed: the layer's default applies.
    Missing,
    Number(f64),
    Numbers(Vec<f64>),
    Bool(bool),
    None,
    /// Passed, but not a literal: the count is unknown.
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Formula {
    Linear,
    Bilinear,
    Conv(usize),
    ConvTranspose(usize),
    /// affine by default?
    Norm(bool),
    LayerNorm,
    GroupNorm,
    Embedding,
    Rnn(u64),
    MultiheadAttention,
    PReLU,
    /// No parameters at all (activations, pooling, dropout, reshapes).
    Free,
}

/// A layer: its positional parameter names (to read `Conv2d(3, 16, 3)`) and its formula.
pub struct LayerSpec {
    pub name: &'static str,
    pub positional: &'static [&'static str],
    formula: Formula,
}

const LINEAR: &[&str] = &["in_features", "out_features", "bias"];
const CONV: &[&str] = &[
    "in_channels",
    "out_channels",
    "kernel_size",
    "stride",
    "padding",
    "dilation",
    "groups",
    "bias",
];
const CONV_T: &[&str] = &[
    "in_channels",
    "out_channels",
    "kernel_size",
    "stride",
    "padding",
    "output_padding",
    "groups",
    "bias",
    "dilation",
];
const NORM: &[&str] = &["num_features", "eps", "momentum", "affine"];
const RNN: &[&str] = &[
    "input_size",
    "hidden_size",
    "num_layers",
    "bias",
    "batch_first",
    "dropout",
    "bidirectional",
];

const fn spec(
    name: &'static str,
    positional: &'static [&'static str],
    formula: Formula,
) -> LayerSpec {
    LayerSpec {
        name,
        positional,
        formula,
    }
}

pub const LAYERS: &[LayerSpec] = &[
    spec("Linear", LINEAR, Formula::Linear),
    spec(
        "Bilinear",
        &["in1_features", "in2_features", "out_features", "bias"],
        Formula::Bilinear,
    ),
    spec("Conv1d", CONV, Formula::Conv(1)),
    spec("Conv2d", CONV, Formula::Conv(2)),
    spec("Conv3d", CONV, Formula::Conv(3)),
    spec("ConvTranspose1d", CONV_T, Formula::ConvTranspose(1)),
    spec("ConvTranspose2d", CONV_T, Formula::ConvTranspose(2)),
    spec("ConvTranspose3d", CONV_T, Formula::ConvTranspose(3)),
    spec("BatchNorm1d", NORM, Formula::Norm(true)),
    spec("BatchNorm2d", NORM, Formula::Norm(true)),
    spec("BatchNorm3d", NORM, Formula::Norm(true)),
    spec("SyncBatchNorm", NORM, Formula::Norm(true)),
    spec("InstanceNorm1d", NORM, Formula::Norm(false)),
    spec("InstanceNorm2d", NORM, Formula::Norm(false)),
    spec("InstanceNorm3d", NORM, Formula::Norm(false)),
    spec(
        "LayerNorm",
        &["normalized_shape", "eps", "elementwise_affine", "bias"],
        Formula::LayerNorm,
    ),
    spec(
        "GroupNorm",
        &["num_groups", "num_channels", "eps", "affine"],
        Formula::GroupNorm,
    ),
    spec(
        "Embedding",
        &["num_embeddings", "embedding_dim"],
        Formula::Embedding,
    ),
    spec("RNN", RNN, Formula::Rnn(1)),
    spec("LSTM", RNN, Formula::Rnn(4)),
    spec("GRU", RNN, Formula::Rnn(3)),
    spec(
        "MultiheadAttention",
        &[
            "embed_dim",
            "num_heads",
            "dropout",
            "bias",
            "add_bias_kv",
            "add_zero_attn",
            "kdim",
            "vdim",
        ],
        Formula::MultiheadAttention,
    ),
    spec("PReLU", &["num_parameters"], Formula::PReLU),
];

/// Parameter-free layers beyond the categories `layers::kind` already knows (dropout,
/// activations other than PReLU, pooling, reshapes): counted as 0 whatever their arguments.
const OTHER_FREE: &[&str] = &[
    "Softmax",
    "LogSoftmax",
    "Softmax2d",
    "Upsample",
    "UpsamplingNearest2d",
    "UpsamplingBilinear2d",
    "PixelShuffle",
    "PixelUnshuffle",
    "ZeroPad2d",
    "ConstantPad2d",
    "ReflectionPad2d",
    "ReplicationPad2d",
    "LocalResponseNorm",
    "Hardshrink",
    "Softshrink",
];

pub fn is_parameter_free(name: &str) -> bool {
    use crate::layers::{kind, LayerKind};
    match kind(&format!("torch.nn.{name}")) {
        // PReLU learns its negative slope.
        LayerKind::Activation => name != "PReLU",
        LayerKind::Dropout | LayerKind::Pooling | LayerKind::Reshape => true,
        _ => OTHER_FREE.contains(&name),
    }
}

/// The spec of a `torch.nn` layer by its class name (`Conv2d`); `None` if we have no formula.
pub fn layer(name: &str) -> Option<&'static LayerSpec> {
    LAYERS.iter().find(|s| s.name == name)
}

impl LayerSpec {
    /// Parameters from the arguments (`get(name)` returns what the call passed for `name`,
    /// positionally or by keyword). The error names the argument that is not a literal, or says
    /// the literal sizes are beyond any real model.
    pub fn count(&self, get: &dyn Fn(&str) -> Arg) -> Result<u64, CountError> {
        let total = self.count_exact(get)?;
        if total.is_finite() && (0.0..=MAX_EXACT).contains(&total) {
            Ok(total as u64)
        } else {
            Err(CountError::TooLarge)
        }
    }

    /// The count in f64, exact for every integer up to 2^53: literal sizes written in a file
    /// can be anything (`nn.Linear(2**40, 2**40)`), and integer arithmetic would overflow.
    fn count_exact(&self, get: &dyn Fn(&str) -> Arg) -> Result<f64, CountError> {
        let missing = |name: &str| CountError::NotLiteral(name.to_string());
        let whole = |v: f64| v >= 0.0 && v.fract() == 0.0;
        let int = |name: &str| -> Result<f64, CountError> {
            match get(name) {
                Arg::Number(v) if whole(v) => Ok(v),
                _ => Err(missing(name)),
            }
        };
        let flag = |name: &str, default: bool| -> Result<bool, CountError> {
            match get(name) {
                Arg::Missing => Ok(default),
                Arg::Bool(b) => Ok(b),
                _ => Err(missing(name)),
            }
        };
        let int_or = |name: &str, default: f64| -> Result<f64, CountError> {
            match get(name) {
                Arg::Missing => Ok(default),
                _ => int(name),
            }
        };
        let shape = |name: &str, n: usize| -> Result<f64, CountError> {
            match get(name) {
                Arg::Number(v) if whole(v) => Ok(v.powi(n as i32)),
                Arg::Numbers(vs) if vs.len() == n && vs.iter().all(|v| whole(*v)) => {
                    Ok(vs.iter().product())
                }
                _ => Err(missing(name)),
            }
        };
        let or_zero = |on: bool, v: f64| if on { v } else { 0.0 };
        match self.formula {
            Formula::Free => Ok(0.0),
            Formula::Linear => {
                let (i, o) = (int("in_features")?, int("out_features")?);
                Ok(i * o + or_zero(flag("bias", true)?, o))
            }
            Formula::Bilinear => {
                let (a, b, o) = (
                    int("in1_features")?,
                    int("in2_features")?,
                    int("out_features")?,
                );
                Ok(a * b * o + or_zero(flag("bias", true)?, o))
            }
            Formula::Conv(n) | Formula::ConvTranspose(n) => {
                let (i, o) = (int("in_channels")?, int("out_channels")?);
                let k = shape("kernel_size", n)?;
                let g = int_or("groups", 1.0)?.max(1.0);
                let bias = or_zero(flag("bias", true)?, o);
                let weight = match self.formula {
                    Formula::Conv(_) => o * (i / g).floor() * k,
                    _ => i * (o / g).floor() * k,
                };
                Ok(weight + bias)
            }
            Formula::Norm(default_affine) => {
                let f = int("num_features")?;
                Ok(or_zero(flag("affine", default_affine)?, 2.0 * f))
            }
            Formula::LayerNorm => {
                let size = match get("normalized_shape") {
                    Arg::Number(v) if whole(v) => v,
                    Arg::Numbers(vs) if vs.iter().all(|v| whole(*v)) => vs.iter().product(),
                    _ => return Err(missing("normalized_shape")),
                };
                if !flag("elementwise_affine", true)? {
                    return Ok(0.0);
                }
                Ok(size * if flag("bias", true)? { 2.0 } else { 1.0 })
            }
            Formula::GroupNorm => {
                let c = int("num_channels")?;
                Ok(or_zero(flag("affine", true)?, 2.0 * c))
            }
            Formula::Embedding => Ok(int("num_embeddings")? * int("embedding_dim")?),
            Formula::PReLU => int_or("num_parameters", 1.0),
            Formula::Rnn(gates) => {
                let (input, hidden) = (int("input_size")?, int("hidden_size")?);
                let layers = int_or("num_layers", 1.0)?;
                let bias = flag("bias", true)?;
                let dirs = if flag("bidirectional", false)? {
                    2.0
                } else {
                    1.0
                };
                if !matches!(get("proj_size"), Arg::Missing | Arg::Number(0.0)) {
                    return Err(missing("proj_size"));
                }
                let gates = gates as f64;
                // The first layer reads the input; the others read the previous layer's
                // output (hidden * directions). Closed form: no loop over `num_layers`.
                let per_dir = |inp: f64| {
                    gates * hidden * (inp + hidden) + or_zero(bias, 2.0 * gates * hidden)
                };
                let first = per_dir(input) * dirs;
                let rest = (layers - 1.0).max(0.0) * per_dir(hidden * dirs) * dirs;
                Ok(or_zero(layers >= 1.0, first) + rest)
            }
            Formula::MultiheadAttention => {
                let e = int("embed_dim")?;
                let bias = flag("bias", true)?;
                let kv = flag("add_bias_kv", false)?;
                let dim = |name: &str| -> Result<f64, CountError> {
                    match get(name) {
                        Arg::Missing | Arg::None => Ok(e),
                        _ => int(name),
                    }
                };
                let (k, v) = (dim("kdim")?, dim("vdim")?);
                let in_proj = e * e + e * k + e * v + or_zero(bias, 3.0 * e);
                let out_proj = e * e + or_zero(bias, e);
                Ok(in_proj + out_proj + or_zero(kv, 2.0 * e))
            }
        }
    }
}

/// Integers above this are not exact in f64.
const MAX_EXACT: f64 = 9_007_199_254_740_992.0;

/// Why a layer's parameters cannot be counted from its call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CountError {
    /// This argument is not a literal (or a name bound to one).
    NotLiteral(String),
    /// The literal sizes give more than 2^53 parameters: not a real model.
    TooLarge,
}

impl std::fmt::Display for CountError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CountError::NotLiteral(arg) => write!(f, "`{arg}` is not a literal"),
            CountError::TooLarge => write!(f, "more than 2^53 parameters from its literal sizes"),
        }
    }
}

/// The spec for a parameter-free layer (so callers get `Ok(0)` from `count`).
pub fn free_spec() -> &'static LayerSpec {
    static FREE_SPEC: LayerSpec = spec("parameter-free", &[], Formula::Free);
    &FREE_SPEC
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args<'a>(pairs: &'a [(&'a str, Arg)]) -> impl Fn(&str) -> Arg + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map_or(Arg::Missing, |(_, a)| a.clone())
        }
    }

    #[test]
    fn counts_match_pytorch() {
        use Arg::*;
        // nn.Linear(1024, 128): 131,200
        let linear = layer("Linear").unwrap();
        assert_eq!(
            linear.count(&args(&[
                ("in_features", Number(1024.0)),
                ("out_features", Number(128.0))
            ])),
            Ok(131_200)
        );
        // nn.Conv2d(32, 64, 3, bias=False): 18,432
        let conv = layer("Conv2d").unwrap();
        assert_eq!(
            conv.count(&args(&[
                ("in_channels", Number(32.0)),
                ("out_channels", Number(64.0)),
                ("kernel_size", Number(3.0)),
                ("bias", Bool(false))
            ])),
            Ok(18_432)
        );
        // depthwise nn.Conv2d(32, 32, 3, groups=32): 32*1*9 + 32 = 320
        assert_eq!(
            conv.count(&args(&[
                ("in_channels", Number(32.0)),
                ("out_channels", Number(32.0)),
                ("kernel_size", Numbers(vec![3.0, 3.0])),
                ("groups", Number(32.0))
            ])),
            Ok(320)
        );
        // nn.ConvTranspose2d(64, 32, 2, stride=2): 8,224
        let convt = layer("ConvTranspose2d").unwrap();
        assert_eq!(
            convt.count(&args(&[
                ("in_channels", Number(64.0)),
                ("out_channels", Number(32.0)),
                ("kernel_size", Number(2.0))
            ])),
            Ok(8_224)
        );
        // nn.LSTM(10, 20, num_layers=2): 4*20*(10+20)+160 + 4*20*(20+20)+160 = 5,920
        let lstm = layer("LSTM").unwrap();
        assert_eq!(
            lstm.count(&args(&[
                ("input_size", Number(10.0)),
                ("hidden_size", Number(20.0)),
                ("num_layers", Number(2.0))
            ])),
            Ok(5_920)
        );
        // bidirectional GRU(8, 16): 2 * (3*16*(8+16) + 96) = 2,496
        let gru = layer("GRU").unwrap();
        assert_eq!(
            gru.count(&args(&[
                ("input_size", Number(8.0)),
                ("hidden_size", Number(16.0)),
                ("bidirectional", Bool(true))
            ])),
            Ok(2_496)
        );
        // nn.MultiheadAttention(64, 8): 4*64*64 + 4*64 = 16,640
        let mha = layer("MultiheadAttention").unwrap();
        assert_eq!(
            mha.count(&args(&[
                ("embed_dim", Number(64.0)),
                ("num_heads", Number(8.0))
            ])),
            Ok(16_640)
        );
        // nn.LayerNorm(192): 384; nn.Embedding(1000, 64): 64,000; nn.BatchNorm2d(32): 64
        assert_eq!(
            layer("LayerNorm")
                .unwrap()
                .count(&args(&[("normalized_shape", Number(192.0))])),
            Ok(384)
        );
        assert_eq!(
            layer("Embedding").unwrap().count(&args(&[
                ("num_embeddings", Number(1000.0)),
                ("embedding_dim", Number(64.0))
            ])),
            Ok(64_000)
        );
        assert_eq!(
            layer("BatchNorm2d")
                .unwrap()
                .count(&args(&[("num_features", Number(32.0))])),
            Ok(64)
        );
        // a non-literal argument is unknown, not guessed
        assert_eq!(
            linear.count(&args(&[
                ("in_features", Unknown),
                ("out_features", Number(2.0))
            ])),
            Err(CountError::NotLiteral("in_features".into()))
        );
    }

    #[test]
    fn absurd_literal_sizes_are_refused_not_overflowed() {
        use Arg::Number;
        let huge = |name| (name, Number(4_294_967_296.0));
        let linear = layer("Linear").unwrap();
        assert_eq!(
            linear.count(&args(&[huge("in_features"), huge("out_features")])),
            Err(CountError::TooLarge)
        );
        // A billion-layer LSTM is computed in closed form, not looped over.
        let lstm = layer("LSTM").unwrap();
        assert_eq!(
            lstm.count(&args(&[
                ("input_size", Number(8.0)),
                ("hidden_size", Number(16.0)),
                ("num_layers", Number(1e9)),
            ])),
            Ok(4 * 16 * (8 + 16) + 2 * 4 * 16 + 999_999_999 * (4 * 16 * (16 + 16) + 2 * 4 * 16))
        );
    }

    #[test]
    fn stacked_bidirectional_lstm_matches_pytorch() {
        use Arg::{Bool, Number};
        // nn.LSTM(10, 20, num_layers=2, bidirectional=True): 2,560 + 4,960 per direction,
        // 15,040 in all, as `sum(p.numel() for p in m.parameters())` counts them.
        let lstm = layer("LSTM").unwrap();
        let count = lstm.count(&args(&[
            ("input_size", Number(10.0)),
            ("hidden_size", Number(20.0)),
            ("num_layers", Number(2.0)),
            ("bidirectional", Bool(true)),
        ]));
        let layer0 = 4 * 20 * (10 + 20) + 2 * 4 * 20;
        let layer1 = 4 * 20 * (40 + 20) + 2 * 4 * 20;
        assert_eq!(count, Ok(2 * (layer0 + layer1)));
    }
}
