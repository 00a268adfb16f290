//! "Will it fit?": the GPU memory one training step needs, from a parameter count, the
//! activations kept for backward and a training setup (batch, optimizer, precision).
//!
//! total = weights + autocast's 16-bit weight copies + gradients + optimizer state (with any
//! fp32 master copy) + activations kept for backward + the CUDA context. Bytes per parameter
//! come from `mleng_knowledge::training_memory`, with their sources. Not counted: the caching
//! allocator's fragmentation and reserve, cuDNN/cuBLAS workspaces, the transient gradient
//! buffers of backward and the optimizer's temporaries; measured figures (`nvidia-smi`) run
//! above this sum by those (see docs/inspect.md, "Training memory").

use mleng_knowledge::training_memory::{self as tm, Optimizer, Precision};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SetupError {
    #[error("unknown optimizer `{name}` (valid: {valid})")]
    UnknownOptimizer { name: String, valid: String },
    #[error("unknown precision `{name}` (valid: {valid})")]
    UnknownPrecision { name: String, valid: String },
    #[error(
        "the training-memory estimate needs the per-GPU batch size: add --batch N (e.g. --batch 32)"
    )]
    MissingBatch,
    #[error("--batch must be a positive integer, got {0}")]
    BadBatch(i64),
}

/// Batch size, optimizer and precision of a training run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainingSetup {
    pub batch: u64,
    pub optimizer: &'static Optimizer,
    pub precision: &'static Precision,
}

fn names<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

impl TrainingSetup {
    pub fn parse(
        batch: Option<i64>,
        optimizer: &str,
        precision: &str,
    ) -> Result<TrainingSetup, SetupError> {
        let optimizer = tm::optimizer(optimizer).ok_or_else(|| SetupError::UnknownOptimizer {
            name: optimizer.to_string(),
            valid: names(tm::OPTIMIZERS.iter().map(|o| o.name)),
        })?;
        let precision = tm::precision(precision).ok_or_else(|| SetupError::UnknownPrecision {
            name: precision.to_string(),
            valid: names(tm::PRECISIONS.iter().map(|p| p.name)),
        })?;
        let batch = match batch {
            None => return Err(SetupError::MissingBatch),
            Some(b) if b > 0 => b as u64,
            Some(b) => return Err(SetupError::BadBatch(b)),
        };
        Ok(TrainingSetup {
            batch,
            optimizer,
            precision,
        })
    }
}

/// The activations a backward pass needs, as the caller could measure them at the setup's
/// batch size.
#[derive(Debug, Clone, PartialEq)]
pub enum Activations {
    Known {
        /// Elements saved for backward, stored at the precision's activation width (without
        /// autocast).
        elements: u64,
        /// Elements kept in fp32 whatever the precision (the loss's log-probabilities).
        fp32_elements: u64,
        /// The same activations under autocast: the elements kept in 16 bits (including the
        /// 16-bit copies autocast makes of fp32 tensors for a matmul) ...
        autocast_elements: u64,
        /// ... and those autocast keeps in fp32 (softmax and layer-norm outputs and what is
        /// computed from them).
        autocast_fp32_elements: u64,
        /// One-byte elements (dropout masks).
        byte_elements: u64,
        /// False when some shapes were unknown: the count is then a lower bound.
        complete: bool,
    },
    /// Why they could not be counted.
    Unknown(String),
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TrainingMemory {
    pub batch: u64,
    pub optimizer: &'static str,
    pub precision: &'static str,
    pub params: u64,
    pub weights: u64,
    /// 16-bit copies of the weights autocast caches for the forward pass.
    pub cast_copies: u64,
    pub gradients: u64,
    /// Optimizer states plus any fp32 master copy of the weights.
    pub optimizer_state: u64,
    pub activations: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activations_unknown: Option<String>,
    pub activations_complete: bool,
    pub cuda_context: u64,
    /// Sum of the known parts.
    pub total: u64,
    /// True when activations are unknown or partly known: the real need is larger.
    pub total_is_lower_bound: bool,
    pub dominant: &'static str,
    pub advice: Vec<String>,
}

fn bytes(params: u64, per_param: f64) -> u64 {
    (params as f64 * per_param).round() as u64
}

pub fn estimate(params: u64, activations: &Activations, setup: &TrainingSetup) -> TrainingMemory {
    let p = setup.precision;
    let o = setup.optimizer;
    let weights = bytes(params, p.weight_bytes);
    let cast_copies = bytes(params, p.cast_copy_bytes);
    let gradients = bytes(params, p.grad_bytes);
    let optimizer_state = bytes(params, p.master_bytes + o.bytes_per_param(p));
    let (acts, unknown, complete) = match activations {
        Activations::Known {
            elements,
            fp32_elements,
            autocast_elements,
            autocast_fp32_elements,
            byte_elements,
            complete,
        } => {
            let (narrow, wide) = if p.cast_copy_bytes > 0.0 {
                (*autocast_elements, *autocast_fp32_elements)
            } else {
                (*elements, 0)
            };
            let b = (narrow as f64 * p.activation_bytes) as u64;
            let b = b.saturating_add(wide.saturating_mul(4));
            (
                Some(
                    b.saturating_add(fp32_elements.saturating_mul(4))
                        .saturating_add(*byte_elements),
                ),
                None,
                *complete,
            )
        }
        Activations::Unknown(why) => (None, Some(why.clone()), false),
    };
    let cuda_context = tm::CUDA_CONTEXT_BYTES;
    let total = [
        weights,
        cast_copies,
        gradients,
        optimizer_state,
        acts.unwrap_or(0),
        cuda_context,
    ]
    .iter()
    .fold(0u64, |a, b| a.saturating_add(*b));
    let parts = [
        ("activations", acts.unwrap_or(0)),
        ("optimizer state", optimizer_state),
        ("weights", weights.saturating_add(cast_copies)),
        ("gradients", gradients),
        ("CUDA context", cuda_context),
    ];
    let dominant = parts
        .iter()
        .max_by_key(|(_, b)| *b)
        .map_or("weights", |(n, _)| *n);
    let mut memory = TrainingMemory {
        batch: setup.batch,
        optimizer: o.name,
        precision: p.name,
        params,
        weights,
        cast_copies,
        gradients,
        optimizer_state,
        activations: acts,
        activations_unknown: unknown,
        activations_complete: complete,
        cuda_context,
        total,
        total_is_lower_bound: acts.is_none() || !complete,
        dominant,
        advice: Vec::new(),
    };
    memory.advice = advice(&memory, setup);
    memory
}

/// What would cut the dominant part, with the saving where it follows from the arithmetic.
fn advice(m: &TrainingMemory, setup: &TrainingSetup) -> Vec<String> {
    let p = setup.precision;
    let mut out = Vec::new();
    match m.dominant {
        "activations" => {
            let acts = m.activations.unwrap_or(0);
            if p.activation_bytes > 2.0 {
                out.push(format!(
                    "bf16 autocast (`torch.autocast(\"cuda\", dtype=torch.bfloat16)`) stores them in 16 bits: about {} less",
                    human(acts / 2)
                ));
            }
            out.push(
                "gradient checkpointing (`torch.utils.checkpoint`, `model.gradient_checkpointing_enable()`) keeps only each block's input and recomputes the rest in backward (about 20-30% more compute)"
                    .to_string(),
            );
            if setup.batch >= 2 {
                out.push(format!(
                    "batch {} with {} gradient-accumulation steps keeps the same effective batch and half the activations (about {} less)",
                    setup.batch / 2,
                    2,
                    human(acts / 2)
                ));
            }
        }
        "optimizer state" => {
            if setup.optimizer.states >= 2 && setup.optimizer.state_bytes.is_none() {
                let eight = tm::optimizer("adamw8bit").map_or(0.0, |o| o.bytes_per_param(p));
                let now = setup.optimizer.bytes_per_param(p);
                out.push(format!(
                    "8-bit AdamW (`bitsandbytes.optim.AdamW8bit`) stores both states in about 1 byte each: about {} less",
                    human(bytes(m.params, (now - eight).max(0.0)))
                ));
            }
            out.push(
                "a fused optimizer (`torch.optim.AdamW(..., fused=True)`) updates in one kernel without the default foreach implementation's temporary tensor lists"
                    .to_string(),
            );
            out.push(
                "with several GPUs, ZeRO stage 1/2 (DeepSpeed) or FSDP shards the optimizer state across them"
                    .to_string(),
            );
        }
        "weights" | "gradients" => {
            if p.weight_bytes > 2.0 {
                out.push(
                    "pure bf16 weights and gradients (`model.to(torch.bfloat16)`, best with an optimizer that compensates rounding, e.g. Kahan summation) halve both"
                        .to_string(),
                );
            }
            out.push(
                "with several GPUs, FSDP or ZeRO stage 3 shards weights and gradients across them"
                    .to_string(),
            );
        }
        _ => out.push(
            "the model is small: the CUDA context is a fixed cost; a larger batch costs little"
                .to_string(),
        ),
    }
    out
}

/// Bytes for people: MiB below one GiB, else GiB with one decimal.
pub fn human(b: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    let gib = b as f64 / (MIB * 1024.0);
    if gib >= 1.0 {
        format!("{gib:.1} GiB")
    } else {
        format!("{:.0} MiB", b as f64 / MIB)
    }
}

/// The estimate as text, one part a line, for `arch` and `inspect`.
pub fn render_text(m: &TrainingMemory) -> String {
    let mut out = format!(
        "training memory (batch {}, {}, {}; {} parameters):\n",
        m.batch, m.optimizer, m.precision, m.params
    );
    let mut line = |name: &str, value: String| {
        out.push_str(&format!("  {name:<18} {value}\n"));
    };
    line("weights", human(m.weights));
    if m.cast_copies > 0 {
        line("autocast copies", human(m.cast_copies));
    }
    line("gradients", human(m.gradients));
    line("optimizer state", human(m.optimizer_state));
    let acts = match (&m.activations, &m.activations_unknown) {
        (Some(a), _) if m.activations_complete => human(*a),
        (Some(a), _) => format!("at least {} (some shapes unknown)", human(*a)),
        (None, Some(why)) => format!("unknown ({why})"),
        (None, None) => "unknown".to_string(),
    };
    line("activations", acts);
    line("CUDA context", format!("~{}", human(m.cuda_context)));
    let total = if m.total_is_lower_bound {
        format!("at least {}", human(m.total))
    } else {
        format!("~{}", human(m.total))
    };
    line("total", total);
    // Said every time: the sum leaves out the allocator's reserve and library workspaces.
    out.push_str(
        "  (a sum of parts: nvidia-smi ran 10-25% above it in docs/inspect.md's comparison)\n",
    );
    out.push_str(&format!("  dominant: {}\n", m.dominant));
    for a in &m.advice {
        out.push_str(&format!("  - {a}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(batch: i64, opt: &str, prec: &str) -> TrainingSetup {
        TrainingSetup::parse(Some(batch), opt, prec).unwrap()
    }

    const NONE: Activations = Activations::Known {
        elements: 0,
        fp32_elements: 0,
        autocast_elements: 0,
        autocast_fp32_elements: 0,
        byte_elements: 0,
        complete: true,
    };

    #[test]
    fn parameters_times_bytes_per_optimizer_and_precision() {
        let n = 1_000_000;
        let m = estimate(n, &NONE, &setup(1, "adamw", "fp32"));
        assert_eq!(
            (m.weights, m.gradients, m.optimizer_state, m.cast_copies),
            (4 * n, 4 * n, 8 * n, 0)
        );
        let m = estimate(n, &NONE, &setup(1, "adamw", "bf16"));
        assert_eq!(
            (m.weights, m.cast_copies, m.gradients, m.optimizer_state),
            (4 * n, 2 * n, 4 * n, 8 * n)
        );
        let m = estimate(n, &NONE, &setup(1, "adamw", "pure-bf16"));
        assert_eq!(
            (m.weights, m.gradients, m.optimizer_state),
            (2 * n, 2 * n, 4 * n)
        );
        let m = estimate(n, &NONE, &setup(1, "adam", "master-fp16"));
        assert_eq!(m.weights + m.gradients + m.optimizer_state, 16 * n);
        let m = estimate(n, &NONE, &setup(1, "sgd-momentum", "fp32"));
        assert_eq!(m.optimizer_state, 4 * n);
        let m = estimate(n, &NONE, &setup(1, "sgd", "fp32"));
        assert_eq!(m.optimizer_state, 0);
        let m = estimate(n, &NONE, &setup(1, "adamw8bit", "fp32"));
        assert_eq!(m.optimizer_state, 2_003_906);
    }

    #[test]
    fn activations_follow_precision_and_the_loss_stays_fp32() {
        let acts = Activations::Known {
            elements: 1000,
            fp32_elements: 10,
            autocast_elements: 1000,
            autocast_fp32_elements: 0,
            byte_elements: 0,
            complete: true,
        };
        let m = estimate(0, &acts, &setup(8, "sgd", "fp32"));
        assert_eq!(m.activations, Some(4040));
        let m = estimate(0, &acts, &setup(8, "sgd", "bf16"));
        assert_eq!(m.activations, Some(2040));
        assert_eq!(m.total, 2040 + tm::CUDA_CONTEXT_BYTES);
        assert!(!m.total_is_lower_bound);
    }

    #[test]
    fn autocast_keeps_softmax_and_norm_outputs_in_fp32_plus_16_bit_copies() {
        let acts = Activations::Known {
            elements: 110,
            fp32_elements: 0,
            autocast_elements: 110,
            autocast_fp32_elements: 10,
            byte_elements: 5,
            complete: true,
        };
        let m = estimate(0, &acts, &setup(1, "sgd", "fp32"));
        assert_eq!(m.activations, Some(110 * 4 + 5));
        let m = estimate(0, &acts, &setup(1, "sgd", "bf16"));
        assert_eq!(m.activations, Some(110 * 2 + 10 * 4 + 5));
        let m = estimate(0, &acts, &setup(1, "sgd", "pure-bf16"));
        assert_eq!(m.activations, Some(110 * 2 + 5));
    }

    #[test]
    fn unknown_activations_make_the_total_a_lower_bound() {
        let acts = Activations::Unknown("no input shape".into());
        let m = estimate(500_000_000, &acts, &setup(8, "adamw", "fp32"));
        assert!(m.total_is_lower_bound);
        assert_eq!(m.dominant, "optimizer state");
        let text = render_text(&m);
        assert!(text.contains("unknown (no input shape)"), "{text}");
        assert!(text.contains("at least"), "{text}");
        assert!(text.contains("8-bit AdamW"), "{text}");
    }

    #[test]
    fn dominant_activations_suggest_autocast_checkpointing_and_accumulation() {
        let acts = Activations::Known {
            elements: 4_000_000_000,
            fp32_elements: 0,
            autocast_elements: 4_000_000_000,
            autocast_fp32_elements: 0,
            byte_elements: 0,
            complete: true,
        };
        let m = estimate(25_000_000, &acts, &setup(64, "sgd-momentum", "fp32"));
        assert_eq!(m.dominant, "activations");
        let all = m.advice.join("\n");
        assert!(all.contains("autocast"), "{all}");
        assert!(all.contains("checkpointing"), "{all}");
        assert!(
            all.contains("batch 32 with 2 gradient-accumulation steps"),
            "{all}"
        );
    }

    #[test]
    fn errors_name_the_valid_choices() {
        let e = TrainingSetup::parse(Some(8), "lion", "fp32").unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("`lion`") && text.contains("adamw8bit"),
            "{text}"
        );
        let e = TrainingSetup::parse(Some(8), "adamw", "fp8").unwrap_err();
        assert!(e.to_string().contains("pure-bf16"), "{e}");
        assert_eq!(
            TrainingSetup::parse(None, "adamw", "fp32"),
            Err(SetupError::MissingBatch)
        );
        assert_eq!(
            TrainingSetup::parse(Some(0), "adamw", "fp32"),
            Err(SetupError::BadBatch(0))
        );
    }
}
