//! Bytes that training keeps per parameter, by optimizer and by precision, for the
//! training-memory estimate of `mleng arch --batch` and `mleng inspect --train`.
//!
//! Sources:
//! - PyTorch optimizer docs (<https://pytorch.org/docs/stable/optim.html>, one page per
//!   optimizer): `SGD` keeps a `momentum_buffer` per parameter only when `momentum != 0`;
//!   `Adam`/`AdamW` keep `exp_avg` and `exp_avg_sq` (a third, `max_exp_avg_sq`, with
//!   `amsgrad=True`); `RMSprop` keeps `square_avg` (plus `momentum_buffer` with momentum,
//!   `grad_avg` when centered); `Adagrad` keeps `sum`. Each state is created with
//!   `torch.zeros_like(param)`, so it has the parameter's dtype: 4 bytes for fp32 parameters,
//!   2 for parameters cast to bf16/fp16.
//! - bitsandbytes 8-bit optimizers (<https://huggingface.co/docs/bitsandbytes/main/en/optimizers>;
//!   Dettmers et al. 2022, "8-bit Optimizers via Block-wise Quantization", ICLR): both Adam
//!   states stored in 8 bits with one fp32 absmax per block of 2048 values (about 1.002 bytes
//!   per state); tensors under 4096 elements (`min_8bit_size`) stay 32-bit, so small models
//!   save less than this table says.
//! - Rajbhandari et al. 2020, "ZeRO: Memory Optimizations Toward Training Trillion Parameter
//!   Models", section 3.1: mixed-precision Adam keeps fp16 parameters and gradients (2 + 2
//!   bytes) and an fp32 copy of the parameters, momentum and variance (4 + 4 + 4): 16 bytes
//!   per parameter. That is `--precision master-fp16` here.
//! - PyTorch automatic mixed precision (<https://pytorch.org/docs/stable/amp.html>):
//!   `torch.autocast` leaves the parameters (and so the gradients and optimizer states) in
//!   fp32 and runs matmuls/convolutions in fp16/bf16, caching the 16-bit copy of each weight
//!   for the forward pass (2 more bytes per parameter while the graph lives); the Hugging Face
//!   "Model training anatomy" guide counts the same 6 + 4 + 8 = 18 bytes per parameter for
//!   mixed-precision AdamW (<https://huggingface.co/docs/transformers/model_memory_anatomy>).

/// An optimizer's state: how many tensors the size of the parameters it keeps, and in what.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Optimizer {
    /// The name `--optimizer` takes.
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    /// What it is, in words.
    pub describe: &'static str,
    /// Parameter-sized state tensors.
    pub states: u32,
    /// Bytes per state element: `None` when the state has the parameter's dtype (PyTorch's
    /// optimizers), `Some(b)` when the optimizer fixes it (8-bit: about 1 byte).
    pub state_bytes: Option<f64>,
}

pub const OPTIMIZERS: &[Optimizer] = &[
    Optimizer {
        name: "sgd",
        aliases: &[],
        describe: "SGD without momentum (no state)",
        states: 0,
        state_bytes: None,
    },
    Optimizer {
        name: "sgd-momentum",
        aliases: &["momentum", "sgdm", "nesterov"],
        describe: "SGD with momentum (one momentum buffer)",
        states: 1,
        state_bytes: None,
    },
    Optimizer {
        name: "adamw",
        aliases: &["adam"],
        describe: "Adam/AdamW (exp_avg and exp_avg_sq)",
        states: 2,
        state_bytes: None,
    },
    Optimizer {
        name: "adam-amsgrad",
        aliases: &["amsgrad", "adamw-amsgrad"],
        describe: "Adam/AdamW with amsgrad=True (a third state, max_exp_avg_sq)",
        states: 3,
        state_bytes: None,
    },
    Optimizer {
        name: "adamw8bit",
        aliases: &[
            "adam8bit",
            "8bit-adam",
            "adamw-8bit",
            "adam-8bit",
            "paged-adamw8bit",
        ],
        describe: "bitsandbytes 8-bit Adam/AdamW (two block-wise quantized states)",
        states: 2,
        // 1 byte per value plus one fp32 absmax per block of 2048.
        state_bytes: Some(1.0 + 4.0 / 2048.0),
    },
    Optimizer {
        name: "rmsprop",
        aliases: &[],
        describe: "RMSprop without momentum (square_avg)",
        states: 1,
        state_bytes: None,
    },
    Optimizer {
        name: "adagrad",
        aliases: &[],
        describe: "Adagrad (sum of squared gradients)",
        states: 1,
        state_bytes: None,
    },
];

/// How parameters, gradients and activations are stored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Precision {
    /// The name `--precision` takes.
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub describe: &'static str,
    /// Bytes per parameter of the model's own weights.
    pub weight_bytes: f64,
    /// Bytes per parameter of 16-bit weight copies autocast caches during the forward pass.
    pub cast_copy_bytes: f64,
    pub grad_bytes: f64,
    /// Bytes per parameter of an fp32 master copy kept by the optimizer.
    pub master_bytes: f64,
    /// Bytes per element of the optimizer's states when they follow the parameter dtype
    /// (the master copy's dtype where there is one).
    pub state_bytes: f64,
    /// Bytes per element of the activations kept for backward ("mostly": under autocast,
    /// softmax, layer norm and the loss run in fp32).
    pub activation_bytes: f64,
}

pub const PRECISIONS: &[Precision] = &[
    Precision {
        name: "fp32",
        aliases: &["float32", "32", "tf32"],
        describe: "fp32 weights, gradients, states and activations",
        weight_bytes: 4.0,
        cast_copy_bytes: 0.0,
        grad_bytes: 4.0,
        master_bytes: 0.0,
        state_bytes: 4.0,
        activation_bytes: 4.0,
    },
    Precision {
        name: "bf16",
        aliases: &["amp-bf16", "bf16-mixed", "autocast-bf16"],
        describe: "torch.autocast(dtype=bfloat16): fp32 weights and gradients, 16-bit weight copies cached for the forward pass, activations mostly bf16",
        weight_bytes: 4.0,
        cast_copy_bytes: 2.0,
        grad_bytes: 4.0,
        master_bytes: 0.0,
        state_bytes: 4.0,
        activation_bytes: 2.0,
    },
    Precision {
        name: "fp16",
        aliases: &["amp", "amp-fp16", "16-mixed", "fp16-mixed", "autocast-fp16"],
        describe: "torch.autocast(dtype=float16) with GradScaler: fp32 weights and gradients, 16-bit weight copies cached for the forward pass, activations mostly fp16",
        weight_bytes: 4.0,
        cast_copy_bytes: 2.0,
        grad_bytes: 4.0,
        master_bytes: 0.0,
        state_bytes: 4.0,
        activation_bytes: 2.0,
    },
    Precision {
        name: "pure-bf16",
        aliases: &["bf16-true", "bfloat16"],
        describe: "model.to(torch.bfloat16): bf16 weights, gradients, optimizer states (PyTorch optimizers) and activations",
        weight_bytes: 2.0,
        cast_copy_bytes: 0.0,
        grad_bytes: 2.0,
        master_bytes: 0.0,
        state_bytes: 2.0,
        activation_bytes: 2.0,
    },
    Precision {
        name: "pure-fp16",
        aliases: &["fp16-true", "half"],
        describe: "model.half(): fp16 weights, gradients, optimizer states and activations",
        weight_bytes: 2.0,
        cast_copy_bytes: 0.0,
        grad_bytes: 2.0,
        master_bytes: 0.0,
        state_bytes: 2.0,
        activation_bytes: 2.0,
    },
    Precision {
        name: "master-fp16",
        aliases: &["master-bf16", "zero", "apex-o2"],
        describe: "16-bit weights and gradients with an fp32 master copy and fp32 states in the optimizer (DeepSpeed, apex O2; the ZeRO paper's 16 bytes per parameter with Adam)",
        weight_bytes: 2.0,
        cast_copy_bytes: 0.0,
        grad_bytes: 2.0,
        master_bytes: 4.0,
        state_bytes: 4.0,
        activation_bytes: 2.0,
    },
];

/// Memory the CUDA context and PyTorch's kernels take before any tensor: the Hugging Face
/// "Model training anatomy" guide measured 1343 MB on a V100 (CUDA 11.2) with `nvidia-smi`;
/// with lazy module loading (CUDA 11.7+, PyTorch's default since 1.13) it is a few hundred
/// MiB to about 1 GiB depending on the GPU and the libraries loaded. One GiB is used as a
/// middle value and printed as such.
pub const CUDA_CONTEXT_BYTES: u64 = 1 << 30;

fn matches(name: &str, primary: &str, aliases: &[&str]) -> bool {
    let norm = |s: &str| s.trim().to_ascii_lowercase().replace('_', "-");
    let n = norm(name);
    n == primary || aliases.iter().any(|a| n == *a)
}

pub fn optimizer(name: &str) -> Option<&'static Optimizer> {
    OPTIMIZERS.iter().find(|o| matches(name, o.name, o.aliases))
}

pub fn precision(name: &str) -> Option<&'static Precision> {
    PRECISIONS.iter().find(|p| matches(name, p.name, p.aliases))
}

impl Optimizer {
    /// Optimizer-state bytes per parameter under `precision`.
    pub fn bytes_per_param(&self, precision: &Precision) -> f64 {
        let per_state = self.state_bytes.unwrap_or(precision.state_bytes);
        f64::from(self.states) * per_state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(opt: &str, prec: &str) -> f64 {
        let p = precision(prec).unwrap();
        let o = optimizer(opt).unwrap();
        p.weight_bytes + p.cast_copy_bytes + p.grad_bytes + p.master_bytes + o.bytes_per_param(p)
    }

    #[test]
    fn zero_papers_sixteen_bytes_for_mixed_precision_adam() {
        assert_eq!(bytes("adam", "master-fp16"), 16.0);
    }

    #[test]
    fn autocast_adamw_is_eighteen_bytes_as_hugging_face_counts() {
        assert_eq!(bytes("adamw", "bf16"), 18.0);
        assert_eq!(bytes("AdamW", "fp16"), 18.0);
    }

    #[test]
    fn fp32_and_pure_bf16() {
        assert_eq!(bytes("adamw", "fp32"), 16.0);
        assert_eq!(bytes("sgd", "fp32"), 8.0);
        assert_eq!(bytes("sgd_momentum", "fp32"), 12.0);
        assert_eq!(bytes("adamw", "pure-bf16"), 8.0);
        let eight_bit = bytes("adamw8bit", "fp32");
        assert!((eight_bit - 10.0).abs() < 0.01, "{eight_bit}");
    }

    #[test]
    fn names_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for o in OPTIMIZERS {
            for n in std::iter::once(&o.name).chain(o.aliases) {
                assert!(seen.insert(*n), "{n}");
            }
        }
        for p in PRECISIONS {
            for n in std::iter::once(&p.name).chain(p.aliases) {
                assert!(seen.insert(*n), "{n}");
            }
        }
    }
}
