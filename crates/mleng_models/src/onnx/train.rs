//! Activations a training step keeps for backward, counted on an exported graph.
//!
//! Autograd keeps what each op's backward formula needs (PyTorch's
//! `tools/autograd/derivatives.yaml`): convolutions and matmuls their activation inputs
//! (the weight gradient needs them), normalisations their input, pointwise ops with a
//! non-linear derivative their input (GELU, erf, mul by a tensor) or their output (ReLU,
//! sigmoid, tanh, softmax, exp), dropout a one-byte mask. Additions, concatenations,
//! average pooling, scaling by a constant and views (reshape, transpose, flatten, slices)
//! keep nothing, and a view of a kept tensor shares its storage. Each tensor is counted once,
//! whichever ops keep it. The loop also holds the model's outputs until `backward()`, and the
//! loss keeps their log-probabilities in fp32.

use std::collections::{HashMap, HashSet};

use super::cost::weight_derived;
use super::load::{op, OnnxModel};
use super::proto::dtype;
use super::shape::Shapes;
use crate::memory::Activations;

/// Ops whose output is a view of their first input in PyTorch (no new storage).
const VIEWS: &[&str] = &[
    "Reshape",
    "Transpose",
    "Flatten",
    "Squeeze",
    "Unsqueeze",
    "Identity",
    "Expand",
    "Slice",
    "Split",
];

/// Ops whose backward needs their (activation) inputs.
const KEEP_INPUTS: &[&str] = &[
    "Conv",
    "ConvTranspose",
    "MatMul",
    "Gemm",
    "BatchNormalization",
    "LayerNormalization",
    "GroupNormalization",
    "InstanceNormalization",
    "Erf",
    "Gelu",
    "Pow",
    "Sqrt",
    "Log",
    "Sin",
    "Cos",
    "MaxPool",
    "LpPool",
    "GlobalMaxPool",
    "ReduceMax",
    "ReduceMin",
    "LeakyRelu",
    "PRelu",
    "HardSwish",
    "HardSigmoid",
    "Clip",
    "Mish",
    "Softplus",
    "Selu",
    "Celu",
    "LpNormalization",
];

/// Ops whose backward needs their output.
const KEEP_OUTPUT: &[&str] = &[
    "Relu",
    "Sigmoid",
    "Tanh",
    "Softmax",
    "LogSoftmax",
    "Exp",
    "Elu",
    "Reciprocal",
];

/// Ops autocast runs in fp32 (PyTorch AMP's "ops that autocast to float32" list): their
/// outputs, and what elementwise ops compute from them, stay fp32 under autocast.
const AUTOCAST_FP32: &[&str] = &[
    "Softmax",
    "LogSoftmax",
    "LayerNormalization",
    "GroupNormalization",
    "InstanceNormalization",
    "Exp",
    "Log",
    "Pow",
    "ReduceSum",
    "ReduceMean",
    "ReduceLogSumExp",
];

/// Ops autocast runs in 16 bits, casting fp32 inputs to a 16-bit copy that backward keeps.
const AUTOCAST_LOW: &[&str] = &["Conv", "ConvTranspose", "MatMul", "Gemm"];

/// Count the activations kept for backward at the batch size `shapes` were inferred with.
pub fn kept_activations(model: &OnnxModel, shapes: &Shapes) -> Activations {
    let weights = weight_derived(model);
    // A view's output shares its input's storage: map it to the tensor that owns it.
    let mut root: HashMap<&str, &str> = HashMap::new();
    let mut keep: Vec<&str> = Vec::new();
    // Under autocast: tensors that are fp32, and 16-bit copies matmuls keep of them.
    let mut wide: HashSet<&str> = HashSet::new();
    let mut copies: Vec<&str> = Vec::new();
    let mut mask_elements = 0u64;
    let mut complete = true;
    for n in &model.graph.node {
        let o = op(n);
        if VIEWS.contains(&o) {
            if let Some(first) = n.input.first() {
                let r = root.get(first.as_str()).copied().unwrap_or(first.as_str());
                for out in &n.output {
                    root.insert(out.as_str(), r);
                }
            }
            continue;
        }
        let activation_inputs = || {
            n.input
                .iter()
                .filter(|i| !i.is_empty() && !weights.contains(i.as_str()))
        };
        let is_wide = |i: &str| wide.contains(root.get(i).copied().unwrap_or(i));
        let widens = AUTOCAST_FP32.contains(&o)
            || (!AUTOCAST_LOW.contains(&o) && activation_inputs().any(|i| is_wide(i)));
        if AUTOCAST_LOW.contains(&o) {
            // Backward keeps the 16-bit copy of an fp32 input, not the fp32 tensor.
            for i in activation_inputs() {
                let r = root.get(i.as_str()).copied().unwrap_or(i);
                if wide.contains(r) {
                    copies.push(r);
                } else {
                    keep.push(r);
                }
            }
        } else if KEEP_INPUTS.contains(&o) {
            keep.extend(activation_inputs().map(|i| root.get(i.as_str()).copied().unwrap_or(i)));
        } else if matches!(o, "Mul" | "Div") {
            // Scaling by a constant keeps nothing; a product of a tensor with anything
            // else keeps the activation operands.
            let scalar = n.input.iter().any(|i| {
                weights.contains(i.as_str()) && shapes.get(i).and_then(|v| v.numel()) == Some(1)
            });
            if !scalar {
                keep.extend(
                    activation_inputs().map(|i| root.get(i.as_str()).copied().unwrap_or(i)),
                );
            }
        } else if KEEP_OUTPUT.contains(&o) {
            keep.extend(
                n.output
                    .first()
                    .map(|x| root.get(x.as_str()).copied().unwrap_or(x)),
            );
        } else if o == "Dropout" {
            // The output is a new tensor (kept by whoever needs it); the mask is one byte.
            match n
                .output
                .first()
                .and_then(|x| shapes.get(x))
                .and_then(|v| v.numel())
            {
                Some(e) => mask_elements = mask_elements.saturating_add(e),
                None => complete = false,
            }
        }
        if widens {
            wide.extend(n.output.iter().map(String::as_str));
        }
    }
    // Without autocast every kept tensor counts once, at the activation width.
    let mut all: Vec<&str> = keep.iter().chain(&copies).copied().collect();
    all.sort_unstable();
    all.dedup();
    let mut elements = 0u64;
    let mut kept: HashSet<&str> = HashSet::new();
    let size = |name: &str, complete: &mut bool| -> u64 {
        match shapes.get(name) {
            Some(v) if !dtype::is_float(v.elem) && v.elem != 0 => 0,
            Some(v) => v.numel().unwrap_or_else(|| {
                *complete = false;
                0
            }),
            None => {
                *complete = false;
                0
            }
        }
    };
    for &name in &all {
        kept.insert(name);
        elements = elements.saturating_add(size(name, &mut complete));
    }
    // Under autocast: fp32 tensors kept as such, and 16-bit copies of those matmuls use.
    keep.sort_unstable();
    keep.dedup();
    copies.sort_unstable();
    copies.dedup();
    let (mut narrow, mut wide_elements) = (0u64, 0u64);
    for &name in &keep {
        let e = size(name, &mut complete);
        if wide.contains(name) {
            wide_elements = wide_elements.saturating_add(e);
        } else {
            narrow = narrow.saturating_add(e);
        }
    }
    for &name in &copies {
        narrow = narrow.saturating_add(size(name, &mut complete));
    }
    // The loop holds the outputs until backward; the loss keeps fp32 log-probabilities.
    let mut output_elements = 0u64;
    for out in &model.graph.output {
        let Some(name) = out.name.as_deref() else {
            continue;
        };
        match shapes.get(name).and_then(|v| v.numel()) {
            Some(e) if !kept.contains(name) => output_elements = output_elements.saturating_add(e),
            Some(_) => {}
            None => complete = false,
        }
    }
    Activations::Known {
        elements: elements.saturating_add(output_elements),
        fp32_elements: output_elements,
        autocast_elements: narrow.saturating_add(output_elements),
        autocast_fp32_elements: wide_elements,
        byte_elements: mask_elements,
        complete,
    }
}
