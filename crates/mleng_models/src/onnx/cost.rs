//! Per-node cost: parameters, multiply-accumulates, FLOPs and output activation size.
//!
//! Counted ops are the ones PyTorch's `torch.utils.flop_counter.FlopCounterMode` counts
//! (convolution, matmul/addmm/bmm, attention's matmuls), so totals are comparable:
//! Conv: `N * prod(out_spatial) * C_out * C_in/group * prod(kernel)` MACs;
//! ConvTranspose: the same with the *input* spatial size; Gemm: `M*N*K`; MatMul:
//! `prod(batch) * M*N*K`. Bias adds, normalisation and activations are not counted.
//! 1 MAC = 2 FLOPs.

use std::collections::{HashMap, HashSet};

use super::load::{op, OnnxModel};
use super::proto::{dtype, NodeProto};
use super::shape::{Dim, Shapes};

#[derive(Debug, Clone, serde::Serialize)]
pub struct NodeCost {
    pub index: usize,
    pub name: String,
    /// The PyTorch module the node came from, when the graph says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    pub op: String,
    /// Float weight elements this node is the first consumer of.
    pub params: u64,
    /// `None` when a counted op's shapes could not be inferred.
    pub macs: Option<u64>,
    pub flops: Option<u64>,
    pub output_shape: Option<Vec<Dim>>,
    pub output_elements: Option<u64>,
    pub output_bytes: Option<u64>,
    pub kind: CostKind,
}

/// Which family a counted op belongs to, matching FlopCounterMode's categories:
/// convolutions, matmuls by a stored weight (`aten.addmm`/`mm`), and matmuls between two
/// activations (attention scores and attention-weighted values, `aten.bmm` or SDPA).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CostKind {
    Conv,
    Linear,
    Attention,
    Other,
}

pub fn is_counted(op: &str) -> bool {
    matches!(op, "Conv" | "ConvTranspose" | "Gemm" | "MatMul")
}

fn prod(d: &[Dim]) -> Option<u64> {
    d.iter().try_fold(1u64, |acc, d| {
        d.and_then(|d| u64::try_from(d).ok())
            .and_then(|d| acc.checked_mul(d))
    })
}

fn known(d: Option<&Dim>) -> Option<u64> {
    d.copied().flatten().and_then(|d| u64::try_from(d).ok())
}

/// MACs of one node, `Some(0)` for ops that are not counted.
pub fn macs(node: &NodeProto, shapes: &Shapes) -> Option<u64> {
    let shape = |i: usize| node.input.get(i).and_then(|n| shapes.shape(n));
    let out = node.output.first().and_then(|n| shapes.shape(n));
    match op(node) {
        "Conv" => {
            let w = shape(1)?;
            let per_out = known(w.get(1))?.checked_mul(prod(w.get(2..)?)?)?;
            prod(out?)?.checked_mul(per_out)
        }
        "ConvTranspose" => {
            let (x, w) = (shape(0)?, shape(1)?);
            let n = known(x.first())?;
            let per_in = known(w.first())?
                .checked_mul(known(w.get(1))?)?
                .checked_mul(prod(w.get(2..)?)?)?;
            n.checked_mul(prod(x.get(2..)?)?)?.checked_mul(per_in)
        }
        "Gemm" => {
            let a = shape(0)?;
            let ta = super::attrs::int(node, "transA").unwrap_or(0) != 0;
            let k = known(a.get(usize::from(!ta)))?;
            prod(out?)?.checked_mul(k)
        }
        "MatMul" => {
            let a = shape(0)?;
            let k = known(a.last())?;
            prod(out?)?.checked_mul(k)
        }
        _ => Some(0),
    }
}

/// Follow `Identity` chains so a weight re-exported under another name is still a weight.
pub fn alias_map(model: &OnnxModel) -> HashMap<&str, &str> {
    let mut alias: HashMap<&str, &str> = HashMap::new();
    for n in &model.graph.node {
        if op(n) == "Identity" {
            if let (Some(i), Some(o)) = (n.input.first(), n.output.first()) {
                let root = alias.get(i.as_str()).copied().unwrap_or(i.as_str());
                alias.insert(o.as_str(), root);
            }
        }
    }
    alias
}

pub fn node_costs(model: &OnnxModel, shapes: &Shapes) -> Vec<NodeCost> {
    let alias = alias_map(model);
    let mut constant_elems: HashMap<&str, u64> = HashMap::new();
    for n in &model.graph.node {
        if op(n) == "Constant" {
            if let Some(o) = n.output.first() {
                let v = shapes.get(o);
                if v.is_some_and(|v| dtype::is_float(v.elem)) {
                    constant_elems.insert(o.as_str(), v.and_then(|v| v.numel()).unwrap_or(0));
                }
            }
        }
    }
    let derived = weight_derived(model);
    let namer = super::module::Namer::new(model);
    let mut seen: HashSet<&str> = HashSet::new();
    let mut out = Vec::with_capacity(model.graph.node.len());
    for (index, node) in model.graph.node.iter().enumerate() {
        let o = op(node);
        if matches!(o, "Identity" | "Constant") {
            continue;
        }
        let mut params = 0u64;
        for i in &node.input {
            let root = alias.get(i.as_str()).copied().unwrap_or(i.as_str());
            let elems = match model.initializer(root) {
                Some(t) if t.is_float() => Some(t.numel),
                _ => constant_elems.get(root).copied(),
            };
            if let Some(e) = elems {
                if seen.insert(root) {
                    params = params.saturating_add(e);
                }
            }
        }
        let m = macs(node, shapes);
        let kind = match o {
            "Conv" | "ConvTranspose" => CostKind::Conv,
            "Gemm" => CostKind::Linear,
            "MatMul" if node.input.iter().any(|i| derived.contains(i.as_str())) => CostKind::Linear,
            "MatMul" => CostKind::Attention,
            _ => CostKind::Other,
        };
        let outv = node.output.first().and_then(|n| shapes.get(n));
        let elements = outv.and_then(|v| v.numel());
        let size = outv.and_then(|v| dtype::size(v.elem)).unwrap_or(4);
        out.push(NodeCost {
            index,
            name: node
                .name
                .clone()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| format!("{o}_{index}")),
            module: namer.module(node),
            op: o.to_string(),
            params,
            macs: m,
            flops: m.and_then(|m| m.checked_mul(2)),
            output_shape: outv.and_then(|v| v.shape.clone()),
            output_elements: elements,
            output_bytes: elements.and_then(|e| e.checked_mul(size)),
            kind,
        });
    }
    out
}

/// Values computed from stored tensors only (a weight, its transpose, a cast of it).
pub fn weight_derived(model: &OnnxModel) -> HashSet<&str> {
    let mut set: HashSet<&str> = model.init_index.keys().map(String::as_str).collect();
    for n in &model.graph.node {
        let from_weights = op(n) == "Constant"
            || (!n.input.is_empty()
                && n.input
                    .iter()
                    .all(|i| i.is_empty() || set.contains(i.as_str())));
        if from_weights {
            set.extend(n.output.iter().map(String::as_str));
        }
    }
    set
}

/// Peak bytes of live activations when the nodes run in file order: each value lives from
/// the node that makes it to its last consumer (graph outputs to the end).
pub fn peak_activation_bytes(model: &OnnxModel, shapes: &Shapes) -> (u64, bool) {
    let g = &model.graph;
    let bytes = |name: &str| -> Option<u64> {
        let v = shapes.get(name)?;
        v.numel()?.checked_mul(dtype::size(v.elem).unwrap_or(4))
    };
    let mut last_use: HashMap<&str, usize> = HashMap::new();
    for (i, n) in g.node.iter().enumerate() {
        for inp in &n.input {
            last_use.insert(inp.as_str(), i);
        }
    }
    for o in &g.output {
        if let Some(n) = o.name.as_deref() {
            last_use.insert(n, usize::MAX);
        }
    }
    let mut complete = true;
    let mut live: u64 = 0;
    let mut peak: u64 = 0;
    let mut frees: HashMap<usize, u64> = HashMap::new();
    for vi in &g.input {
        let name = vi.name.as_deref().unwrap_or("");
        if model.initializer(name).is_some() {
            continue;
        }
        let b = bytes(name).unwrap_or_else(|| {
            complete = false;
            0
        });
        live = live.saturating_add(b);
        if let Some(&lu) = last_use.get(name) {
            let f = frees.entry(lu).or_default();
            *f = f.saturating_add(b);
        }
    }
    for (i, n) in g.node.iter().enumerate() {
        if matches!(op(n), "Identity" | "Constant") {
            continue;
        }
        for o in &n.output {
            let b = bytes(o).unwrap_or_else(|| {
                complete = false;
                0
            });
            live = live.saturating_add(b);
            match last_use.get(o.as_str()) {
                Some(&lu) => {
                    let f = frees.entry(lu).or_default();
                    *f = f.saturating_add(b);
                }
                None => {
                    let f = frees.entry(i).or_default();
                    *f = f.saturating_add(b);
                }
            }
        }
        peak = peak.max(live);
        if let Some(f) = frees.remove(&i) {
            live = live.saturating_sub(f);
        }
    }
    (peak, complete)
}
