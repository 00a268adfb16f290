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

/// Count the activations kept for backward at the batch size `shapes` were inferred with.
pub fn kept_activations(model: &OnnxModel, shapes: &Shapes) -> Activations {
    let weights = weight_derived(model);
    // A view's output shares its input's storage: map it to the tensor that owns it.
    let mut root: HashMap<&str, &str> = HashMap::new();
    let mut keep: Vec<&str> = Vec::new();
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
        if KEEP_INPUTS.contains(&o) {
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
    }
    let mut elements = 0u64;
    let mut kept: HashSet<&str> = HashSet::new();
    keep.sort_unstable();
    keep.dedup();
    for name in keep {
        let Some(v) = shapes.get(name) else {
            complete = false;
            continue;
        };
        if !dtype::is_float(v.elem) && v.elem != 0 {
            continue;
        }
        if !kept.insert(name) {
            continue;
        }
        match v.numel() {
            Some(e) => elements = elements.saturating_add(e),
            None => complete = false,
        }
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
        byte_elements: mask_elements,
        complete,
    }
}
