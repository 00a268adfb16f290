//! ONNX graphs: read, infer shapes, count cost, review.

pub mod attrs;
pub mod cost;
pub mod load;
pub mod module;
pub mod proto;
pub mod review;
pub mod shape;
pub mod train;

use std::collections::BTreeMap;
use std::path::Path;

use mleng_diagnostics::Finding;

pub use cost::NodeCost;
pub use load::{load, OnnxModel, Storage};

use crate::error::Result;

#[derive(Debug, Clone, Default)]
pub struct GraphOptions {
    /// Shape of the first graph input, for graphs that leave it dynamic.
    pub input_shape: Option<Vec<i64>>,
    /// Batch size for the memory estimate (replaces the input's leading dim).
    pub batch: Option<i64>,
    /// How many layers to list as bottlenecks.
    pub top: usize,
    /// Estimate training memory for this setup (`inspect --train`); its batch is `batch`.
    pub training: Option<crate::memory::TrainingSetup>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Bottleneck {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    pub op: String,
    pub flops: u64,
    pub flops_share: f64,
    pub params: u64,
    pub params_share: f64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Memory {
    pub batch: Option<i64>,
    pub weight_bytes: u64,
    pub peak_activation_bytes: u64,
    /// False when some activation shape is unknown: the peak is then a lower bound.
    pub activations_complete: bool,
    pub total_bytes: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct WeightSummary {
    /// Float elements stored in initializers plus `Constant` nodes (what `onnx` counts).
    pub stored_float_elements: u64,
    pub initializer_float_elements: u64,
    pub constant_float_elements: u64,
    /// Elements counting a shared initializer once per layer that uses it: the exporters
    /// deduplicate identical tensors (e.g. freshly initialised LayerNorm weights).
    pub per_use_elements: u64,
    pub initializers: usize,
    pub external_initializers: usize,
    /// Initializers whose external data is absent, refused or broken.
    pub unavailable: Vec<(String, String)>,
    pub weight_bytes: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct FoldedNorm {
    /// The graph shows signs of BatchNorm folded into the preceding conv/linear layer.
    pub likely: bool,
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct GraphReport {
    pub path: String,
    pub producer: String,
    pub opset: i64,
    pub nodes: usize,
    pub op_counts: BTreeMap<String, usize>,
    pub inputs: Vec<(String, Option<Vec<Option<i64>>>)>,
    pub dynamic_inputs: Vec<(String, Vec<String>)>,
    pub weights: WeightSummary,
    pub total_params: u64,
    pub total_macs: u64,
    pub total_flops: u64,
    pub flops_by_op: BTreeMap<String, u64>,
    /// FLOPs of convolutions, of matmuls by stored weights, of activation x activation
    /// matmuls (attention). PyTorch's counter misses attention when SDPA runs a kernel it
    /// has no formula for, so the three are kept apart.
    pub flops_conv: u64,
    pub flops_linear: u64,
    pub flops_attention: u64,
    /// Counted ops (Conv, ConvTranspose, Gemm, MatMul) whose shapes were not inferred.
    pub uncounted: Vec<String>,
    pub unresolved_ops: BTreeMap<String, usize>,
    pub folded_norm: FoldedNorm,
    pub memory: Memory,
    /// The training-memory estimate, with `--train`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub training: Option<crate::memory::TrainingMemory>,
    pub bottlenecks: Vec<Bottleneck>,
    /// All nodes except Identity/Constant, sorted by FLOPs then parameters.
    pub layers: Vec<NodeCost>,
    pub findings: Vec<Finding>,
}

pub fn inspect_path(path: &Path, opts: &GraphOptions) -> Result<GraphReport> {
    let model = load(path)?;
    Ok(analyze(&model, opts))
}

pub fn analyze(model: &OnnxModel, opts: &GraphOptions) -> GraphReport {
    let shapes = shape::infer(model, opts.input_shape.as_deref(), opts.batch);
    let mut layers = cost::node_costs(model, &shapes);
    let total_params: u64 = layers.iter().map(|l| l.params).fold(0, u64::saturating_add);
    let total_macs: u64 = layers
        .iter()
        .filter_map(|l| l.macs)
        .fold(0, u64::saturating_add);
    let total_flops = total_macs.saturating_mul(2);
    let mut flops_by_op = BTreeMap::new();
    for l in layers.iter().filter(|l| cost::is_counted(&l.op)) {
        let e = flops_by_op.entry(l.op.clone()).or_insert(0u64);
        *e = e.saturating_add(l.flops.unwrap_or(0));
    }
    let kind_flops = |k: cost::CostKind| -> u64 {
        layers
            .iter()
            .filter(|l| l.kind == k)
            .filter_map(|l| l.flops)
            .fold(0u64, u64::saturating_add)
    };
    let (flops_conv, flops_linear, flops_attention) = (
        kind_flops(cost::CostKind::Conv),
        kind_flops(cost::CostKind::Linear),
        kind_flops(cost::CostKind::Attention),
    );
    let uncounted = layers
        .iter()
        .filter(|l| cost::is_counted(&l.op) && l.macs.is_none())
        .map(|l| l.name.clone())
        .collect();
    let mut op_counts = BTreeMap::new();
    for n in &model.graph.node {
        *op_counts.entry(load::op(n).to_string()).or_insert(0) += 1;
    }
    let mut unresolved_ops = BTreeMap::new();
    for o in &shapes.unresolved {
        *unresolved_ops.entry(o.clone()).or_insert(0) += 1;
    }
    let weights = weight_summary(model);
    let (peak, complete) = cost::peak_activation_bytes(model, &shapes);
    let memory = Memory {
        batch: opts.batch.or_else(|| {
            model
                .graph
                .input
                .iter()
                .find(|i| model.initializer(i.name.as_deref().unwrap_or("")).is_none())
                .and_then(|i| shapes.shape(i.name.as_deref().unwrap_or("")))
                .and_then(|s| s.first().copied().flatten())
        }),
        weight_bytes: weights.weight_bytes,
        peak_activation_bytes: peak,
        activations_complete: complete,
        total_bytes: weights.weight_bytes.saturating_add(peak),
    };
    let share = |part: u64, whole: u64| {
        if whole == 0 {
            0.0
        } else {
            part as f64 / whole as f64
        }
    };
    layers.sort_by(|a, b| {
        b.flops
            .unwrap_or(0)
            .cmp(&a.flops.unwrap_or(0))
            .then(b.params.cmp(&a.params))
            .then(a.index.cmp(&b.index))
    });
    let top = if opts.top == 0 { 10 } else { opts.top };
    let mut by_cost: Vec<&NodeCost> = layers
        .iter()
        .filter(|l| l.flops.unwrap_or(0) > 0 || l.params > 0)
        .collect();
    by_cost.truncate(top);
    let bottlenecks = by_cost
        .into_iter()
        .map(|l| Bottleneck {
            name: l.name.clone(),
            module: l.module.clone(),
            op: l.op.clone(),
            flops: l.flops.unwrap_or(0),
            flops_share: share(l.flops.unwrap_or(0), total_flops),
            params: l.params,
            params_share: share(l.params, total_params),
        })
        .collect();
    let inputs = model
        .graph
        .input
        .iter()
        .filter_map(|i| i.name.as_deref())
        .filter(|n| model.initializer(n).is_none())
        .map(|n| (n.to_string(), shapes.shape(n).cloned()))
        .collect();
    let folded_norm = review::folded_norm(model);
    let training = opts.training.as_ref().map(|setup| {
        crate::memory::estimate(
            total_params,
            &train::kept_activations(model, &shapes),
            setup,
        )
    });
    let mut report = GraphReport {
        path: model.path.display().to_string(),
        producer: model.producer.clone(),
        opset: model.opset,
        nodes: model.graph.node.len(),
        op_counts,
        inputs,
        dynamic_inputs: shapes.dynamic_inputs.clone(),
        weights,
        total_params,
        total_macs,
        total_flops,
        flops_by_op,
        flops_conv,
        flops_linear,
        flops_attention,
        uncounted,
        unresolved_ops,
        folded_norm,
        memory,
        training,
        bottlenecks,
        layers,
        findings: Vec::new(),
    };
    report.findings = review::review(model, &shapes, &report);
    report
}

fn weight_summary(model: &OnnxModel) -> WeightSummary {
    let alias = cost::alias_map(model);
    let mut per_use = 0u64;
    let mut seen = std::collections::HashSet::new();
    for (i, n) in model.graph.node.iter().enumerate() {
        if load::op(n) == "Identity" {
            continue;
        }
        for inp in &n.input {
            let root = alias.get(inp.as_str()).copied().unwrap_or(inp.as_str());
            if let Some(t) = model.initializer(root).filter(|t| t.is_float()) {
                if seen.insert((root, i)) {
                    per_use = per_use.saturating_add(t.numel);
                }
            }
        }
    }
    let constants = model.constant_float_elements();
    WeightSummary {
        stored_float_elements: model.weight_elements(),
        initializer_float_elements: model.initializer_float_elements(),
        constant_float_elements: constants,
        per_use_elements: per_use.saturating_add(constants),
        initializers: model.initializers.len(),
        external_initializers: model
            .initializers
            .iter()
            .filter(|t| !matches!(t.storage, Storage::Inline))
            .count(),
        unavailable: model
            .external_problems()
            .map(|t| {
                let why = match &t.storage {
                    Storage::Missing { file } => format!("external file `{file}` is missing"),
                    Storage::Refused { location, reason } => {
                        format!("external location `{location}` refused: {reason}")
                    }
                    Storage::Broken { location, reason } => {
                        format!("external location `{location}` is broken: {reason}")
                    }
                    _ => String::new(),
                };
                (t.name.clone(), why)
            })
            .collect(),
        weight_bytes: model
            .initializers
            .iter()
            .map(|t| t.bytes())
            .fold(0u64, u64::saturating_add),
    }
}
