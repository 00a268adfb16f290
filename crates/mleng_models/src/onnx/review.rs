//! Graph review: findings about an exported graph, in the same `Finding` model as
//! `mleng review`. Codes `ONX001`...; see the README's `mleng inspect` section for sources.

use std::collections::HashMap;

use mleng_diagnostics::{Area, Finding, Fix, Location, Severity};

use super::cost::alias_map;
use super::load::{op, OnnxModel, Storage};
use super::proto::NodeProto;
use super::shape::Shapes;
use super::{FoldedNorm, GraphReport};

/// A single initializer this large is worth a look (sharding, external data, quantisation).
const LARGE_INITIALIZER_BYTES: u64 = 256 << 20;

/// Ops that inference runtimes commonly run outside their fused/accelerated kernels:
/// data-dependent shapes or control flow that static planners (TensorRT, ORT's CUDA EP,
/// CoreML/NNAPI) cannot handle in-graph. Sources: onnx-tensorrt `docs/operators.md`
/// and the ONNX Runtime execution-provider docs (`onnxruntime.ai/docs/execution-providers`).
const SLOW_PATH_OPS: &[&str] = &[
    "Loop",
    "If",
    "Scan",
    "NonZero",
    "Unique",
    "NonMaxSuppression",
    "ScatterND",
    "ScatterElements",
    "GridSample",
    "Einsum",
    "SequenceConstruct",
    "SequenceAt",
    "ConcatFromSequence",
];

fn finding(
    model: &OnnxModel,
    code: &str,
    name: &str,
    severity: Severity,
    area: Area,
    message: String,
) -> Finding {
    Finding::new(
        code,
        name,
        severity,
        area,
        Location::file(&model.path),
        message,
    )
}

fn node_label(n: &NodeProto, index: usize) -> String {
    let name = n.name.as_deref().filter(|s| !s.is_empty());
    match name {
        Some(name) => format!("{} `{name}`", op(n)),
        None => format!("{} #{index}", op(n)),
    }
}

struct Graph<'a> {
    model: &'a OnnxModel,
    producer: HashMap<&'a str, usize>,
    consumers: HashMap<&'a str, Vec<usize>>,
    alias: HashMap<&'a str, &'a str>,
}

impl<'a> Graph<'a> {
    fn new(model: &'a OnnxModel) -> Graph<'a> {
        let mut producer = HashMap::new();
        let mut consumers: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, n) in model.graph.node.iter().enumerate() {
            for o in &n.output {
                producer.insert(o.as_str(), i);
            }
            for inp in &n.input {
                consumers.entry(inp.as_str()).or_default().push(i);
            }
        }
        Graph {
            model,
            producer,
            consumers,
            alias: alias_map(model),
        }
    }

    fn node(&self, i: usize) -> Option<&'a NodeProto> {
        self.model.graph.node.get(i)
    }

    fn is_weight(&self, name: &str) -> bool {
        let root = self.alias.get(name).copied().unwrap_or(name);
        self.model.initializer(root).is_some()
            || self
                .producer
                .get(root)
                .and_then(|&p| self.node(p))
                .is_some_and(|n| op(n) == "Constant")
    }

    /// A layer with learned weights: Conv/Gemm, or MatMul by a stored matrix.
    fn is_weight_layer(&self, n: &NodeProto) -> bool {
        match op(n) {
            "Conv" | "ConvTranspose" | "Gemm" => true,
            "MatMul" => n.input.get(1).is_some_and(|w| self.is_weight(w)),
            _ => false,
        }
    }

    /// The node producing `name`, looking through ops that do not change values.
    fn source(&self, name: &str) -> Option<usize> {
        let mut cur = name;
        for _ in 0..16 {
            let p = *self.producer.get(cur)?;
            let n = self.node(p)?;
            if matches!(
                op(n),
                "Identity" | "Reshape" | "Flatten" | "Squeeze" | "Unsqueeze"
            ) {
                cur = n.input.first()?;
            } else {
                return Some(p);
            }
        }
        None
    }

    fn consumers_of(&self, name: &str) -> &[usize] {
        self.consumers.get(name).map(Vec::as_slice).unwrap_or(&[])
    }
}

pub fn folded_norm(model: &OnnxModel) -> FoldedNorm {
    let g = Graph::new(model);
    let norms = [
        "BatchNormalization",
        "InstanceNormalization",
        "GroupNormalization",
    ];
    let has_bn = model
        .graph
        .node
        .iter()
        .any(|n| op(n) == "BatchNormalization");
    let mut generated = 0usize;
    let mut biasless = 0usize;
    for n in &model.graph.node {
        if !matches!(op(n), "Conv" | "ConvTranspose") {
            continue;
        }
        let has_bias = n.input.get(2).is_some_and(|b| !b.is_empty());
        let weight = n.input.get(1).map(String::as_str).unwrap_or("");
        let root = g.alias.get(weight).copied().unwrap_or(weight);
        // The TorchScript exporter renames a conv's weight to `onnx::Conv_N` when constant
        // folding rewrote it, which is what folding BatchNorm into it does.
        if has_bias && root.starts_with("onnx::Conv") {
            generated += 1;
        }
        let next_is_norm = n
            .output
            .first()
            .map(|o| {
                g.consumers_of(o)
                    .iter()
                    .filter_map(|&c| g.node(c))
                    .any(|c| norms.contains(&op(c)))
            })
            .unwrap_or(false);
        if !has_bias && !next_is_norm {
            biasless += 1;
        }
    }
    let mut evidence = Vec::new();
    if generated > 0 {
        evidence.push(format!(
            "{generated} convolution(s) carry exporter-generated weights (`onnx::Conv_*`) with a bias: the signature of BatchNorm folded by constant folding"
        ));
    }
    if biasless > 0 && !has_bn {
        evidence.push(format!(
            "{biasless} bias-free convolution(s) feed no normalization layer and the graph has no BatchNormalization: a bias-free conv is written to be followed by a norm, so it was folded at export"
        ));
    }
    FoldedNorm {
        likely: !evidence.is_empty(),
        evidence,
    }
}

pub fn review(model: &OnnxModel, shapes: &Shapes, report: &GraphReport) -> Vec<Finding> {
    let g = Graph::new(model);
    let mut out = Vec::new();
    external_data(model, &mut out);
    batchnorm_after_dropout(&g, &mut out);
    softmax_at_output(&g, &mut out);
    linear_chain(&g, shapes, &mut out);
    bias_before_bn(&g, &mut out);
    unfused_bn(&g, &mut out);
    dynamic_shapes(model, shapes, &mut out);
    large_initializers(model, &mut out);
    slow_path_ops(model, &mut out);
    if report.folded_norm.likely {
        let mut f = finding(
            model,
            "ONX011",
            "batchnorm-folded",
            Severity::Info,
            Area::Architecture,
            "BatchNorm was folded into the preceding layers at export: PyTorch's parameter count (with BN's weight and bias) is larger than what the graph stores, and the two will not agree".into(),
        );
        for e in &report.folded_norm.evidence {
            f = f.with_evidence(e.clone());
        }
        out.push(f);
    }
    if !report.uncounted.is_empty() {
        let mut f = finding(
            model,
            "ONX012",
            "shapes-not-inferred",
            Severity::Info,
            Area::Input,
            format!(
                "{} counted layer(s) have unknown shapes, so their FLOPs are missing from the total",
                report.uncounted.len()
            ),
        )
        .with_fix(Fix::new("pass `--input-shape` (e.g. 1x3x224x224) for dynamic inputs"));
        for (op, n) in &report.unresolved_ops {
            f = f.with_evidence(format!("shape not inferred for {n} `{op}` node(s)"));
        }
        out.push(f);
    }
    out
}

fn external_data(model: &OnnxModel, out: &mut Vec<Finding>) {
    let mut missing: Vec<(&str, &str)> = Vec::new();
    for t in &model.initializers {
        match &t.storage {
            Storage::Missing { file } => missing.push((t.name.as_str(), file.as_str())),
            Storage::Refused { location, reason } => out.push(
                finding(
                    model,
                    "ONX002",
                    "external-data-outside-folder",
                    Severity::Error,
                    Area::Security,
                    format!(
                        "initializer `{}` points its external data at `{location}` ({reason}); it was not read",
                        t.name
                    ),
                )
                .with_evidence("external data must stay inside the model's folder (path traversal in ONNX external data: CVE-2024-27318, CVE-2024-5187)")
                .with_fix(Fix::new("re-save the model with `onnx.save_model(..., save_as_external_data=True, location=\"<name>.data\")` so the data sits beside the .onnx file")),
            ),
            Storage::Broken { location, reason } => out.push(finding(
                model,
                "ONX003",
                "external-data-broken",
                Severity::Error,
                Area::Input,
                format!("initializer `{}`: external data `{location}` is broken: {reason}", t.name),
            )),
            _ => {}
        }
    }
    if let Some((_, file)) = missing.first() {
        let elems: u64 = model
            .initializers
            .iter()
            .filter(|t| matches!(t.storage, Storage::Missing { .. }))
            .map(|t| t.numel)
            .fold(0u64, u64::saturating_add);
        out.push(
            finding(
                model,
                "ONX001",
                "external-weights-missing",
                Severity::Warning,
                Area::Input,
                format!(
                    "the weights of {} initializer(s) ({} elements) live in `{file}`, which is missing: counts come from the initializers' dims; the weights themselves are absent",
                    missing.len(),
                    crate::render::thousands(elems)
                ),
            )
            .with_fix(Fix::new(format!("copy `{file}` next to the .onnx file to run or check the weights"))),
        );
    }
}

fn batchnorm_after_dropout(g: &Graph, out: &mut Vec<Finding>) {
    for (i, n) in g.model.graph.node.iter().enumerate() {
        if op(n) != "BatchNormalization" {
            continue;
        }
        let Some(src) = n.input.first().and_then(|x| g.source(x)) else {
            continue;
        };
        let Some(d) = g.node(src).filter(|d| op(d) == "Dropout") else {
            continue;
        };
        let training = n
            .attribute
            .iter()
            .any(|a| a.name.as_deref() == Some("training_mode") && a.i == Some(1));
        let mut f = finding(
            g.model,
            "ONX004",
            "batchnorm-after-dropout",
            Severity::Warning,
            Area::Architecture,
            format!(
                "{} takes its input from {}: Dropout shifts the activation variance between training and inference, so BatchNorm's running statistics do not match at test time",
                node_label(n, i),
                node_label(d, src)
            ),
        )
        .with_evidence("Li et al., \"Understanding the Disharmony between Dropout and Batch Normalization by Variance Shift\", CVPR 2019")
        .with_evidence("same pattern as `mleng review` rule ARC001 (batchnorm-after-dropout) in source code")
        .with_fix(Fix::new("put Dropout after the last BatchNorm (or drop one of them)"));
        if training {
            f = f.with_evidence(
                "BatchNormalization has training_mode=1: the graph was exported in training mode",
            );
        }
        out.push(f);
    }
    removed_module_before_bn(g, out);
    let dropouts = g
        .model
        .graph
        .node
        .iter()
        .filter(|n| op(n) == "Dropout")
        .count();
    if dropouts > 0 {
        out.push(
            finding(
                g.model,
                "ONX013",
                "training-mode-export",
                Severity::Warning,
                Area::Architecture,
                format!("{dropouts} Dropout node(s) are in the graph: it was exported in training mode (an eval-mode export removes Dropout and uses BatchNorm's running statistics)"),
            )
            .with_fix(Fix::new("call `model.eval()` before `torch.onnx.export`")),
        );
    }
}

/// `/head/head.2/BatchNormalization` -> ("head", 2): the TorchScript exporter names nodes by
/// module path, so a numbering gap shows a module that left no node in the graph.
fn module_index(node_name: &str) -> Option<(&str, u64)> {
    let mut parts = node_name.trim_start_matches('/').rsplit('/');
    let _op = parts.next()?;
    let module = parts.next()?;
    let (prefix, idx) = module.rsplit_once('.')?;
    Some((prefix, idx.parse().ok()?))
}

/// Exporters drop Dropout (and Identity) modules, so `Linear -> Dropout -> BatchNorm` can
/// reach the graph as a Gemm feeding a BatchNormalization whose module index skips one.
fn removed_module_before_bn(g: &Graph, out: &mut Vec<Finding>) {
    for (i, n) in g.model.graph.node.iter().enumerate() {
        if op(n) != "BatchNormalization" {
            continue;
        }
        let Some(src) = n.input.first().and_then(|x| g.source(x)) else {
            continue;
        };
        let Some(prev) = g.node(src).filter(|p| g.is_weight_layer(p)) else {
            continue;
        };
        let (Some(bn_name), Some(prev_name)) = (n.name.as_deref(), prev.name.as_deref()) else {
            continue;
        };
        let (Some((bp, bi)), Some((pp, pi))) = (module_index(bn_name), module_index(prev_name))
        else {
            continue;
        };
        if bp != pp || bi <= pi.saturating_add(1) {
            continue;
        }
        let missing: Vec<String> = (pi + 1..bi).map(|k| format!("{bp}.{k}")).collect();
        out.push(
            finding(
                g.model,
                "ONX004",
                "batchnorm-after-dropout",
                Severity::Info,
                Area::Architecture,
                format!(
                    "{} follows {} directly, but module(s) {} between them left no node: exporters remove Dropout (and Identity), so this is likely BatchNorm after Dropout",
                    node_label(n, i),
                    node_label(prev, src),
                    missing.join(", ")
                ),
            )
            .with_evidence("Li et al., \"Understanding the Disharmony between Dropout and Batch Normalization by Variance Shift\", CVPR 2019")
            .with_evidence("check the model source with `mleng review` (rule ARC001, batchnorm-after-dropout)")
            .with_fix(Fix::new("put Dropout after the last BatchNorm (or drop one of them)")),
        );
    }
}

fn softmax_at_output(g: &Graph, out: &mut Vec<Finding>) {
    for o in &g.model.graph.output {
        let Some(name) = o.name.as_deref() else {
            continue;
        };
        let Some(p) = g.source(name) else { continue };
        let Some(n) = g.node(p).filter(|n| op(n) == "Softmax") else {
            continue;
        };
        out.push(
            finding(
                g.model,
                "ONX005",
                "softmax-at-output",
                Severity::Info,
                Area::Architecture,
                format!(
                    "graph output `{name}` comes from {}: if the same module is trained with `nn.CrossEntropyLoss`, which applies log-softmax itself, the softmax is applied twice and gradients shrink",
                    node_label(n, p)
                ),
            )
            .with_evidence("PyTorch docs, CrossEntropyLoss: \"The input is expected to contain the unnormalized logits for each class\"")
            .with_fix(Fix::new("return logits from `forward` and apply softmax only at inference (or export a wrapper that adds it)")),
        );
    }
}

/// Ops through which a linear map stays linear (affine). Anything else ends the chain.
fn is_linear_passthrough(g: &Graph, n: &NodeProto) -> bool {
    match op(n) {
        "Identity" | "Reshape" | "Flatten" | "Transpose" | "Squeeze" | "Unsqueeze" | "Dropout"
        | "BatchNormalization" => true,
        // A bias add or scale by a constant keeps it affine; adding two activations
        // (a residual) does not make a chain.
        "Add" | "Sub" | "Mul" | "Div" => n.input.iter().skip(1).all(|x| g.is_weight(x)),
        _ => false,
    }
}

/// Feature width of a layer's input or output: channels (axis 1) for convolutions, the last
/// axis for Gemm/MatMul.
fn width(shapes: &Shapes, n: &NodeProto, value: &str) -> Option<i64> {
    let s = shapes.shape(value)?;
    let d = if matches!(op(n), "Conv" | "ConvTranspose") {
        s.get(1)
    } else {
        s.last()
    };
    d.copied().flatten()
}

fn linear_chain(g: &Graph, shapes: &Shapes, out: &mut Vec<Finding>) {
    for (i, n) in g.model.graph.node.iter().enumerate() {
        if !g.is_weight_layer(n) {
            continue;
        }
        let mut frontier: Vec<&str> = n.output.iter().map(String::as_str).collect();
        let mut steps = 0;
        let mut hit = None;
        while let Some(v) = frontier.pop() {
            steps += 1;
            if steps > 64 {
                break;
            }
            for &c in g.consumers_of(v) {
                let Some(cn) = g.node(c) else { continue };
                if g.is_weight_layer(cn) && cn.input.first().map(String::as_str) == Some(v) {
                    hit = Some(c);
                } else if is_linear_passthrough(g, cn) {
                    frontier.extend(cn.output.first().map(String::as_str));
                }
            }
            if hit.is_some() {
                break;
            }
        }
        if let Some(c) = hit.and_then(|c| g.node(c).map(|n| (c, n))) {
            // A narrow middle (in -> mid -> out with mid <= both) is a deliberate low-rank
            // factorisation, e.g. MobileNetV2's linear bottleneck (Sandler et al. 2018).
            let w_in = n.input.first().and_then(|v| width(shapes, n, v));
            let w_mid = n.output.first().and_then(|v| width(shapes, n, v));
            let w_out = c.1.output.first().and_then(|v| width(shapes, c.1, v));
            if let (Some(a), Some(m), Some(b)) = (w_in, w_mid, w_out) {
                if m <= a.min(b) {
                    continue;
                }
            }
            out.push(
                finding(
                    g.model,
                    "ONX006",
                    "linear-chain-without-nonlinearity",
                    Severity::Warning,
                    Area::Architecture,
                    format!(
                        "{} feeds {} with no nonlinearity between them: two stacked linear maps are one linear map with more parameters",
                        node_label(n, i),
                        node_label(c.1, c.0)
                    ),
                )
                .with_fix(Fix::new("add an activation (ReLU/GELU) between the layers, or merge them")),
            );
        }
    }
}

fn bias_before_bn(g: &Graph, out: &mut Vec<Finding>) {
    for (i, n) in g.model.graph.node.iter().enumerate() {
        if !matches!(op(n), "Conv" | "Gemm" | "ConvTranspose") {
            continue;
        }
        if n.input.get(2).is_none_or(|b| b.is_empty()) {
            continue;
        }
        let Some(o) = n.output.first() else { continue };
        for &c in g.consumers_of(o) {
            if let Some(bn) = g.node(c).filter(|c| op(c) == "BatchNormalization") {
                out.push(
                    finding(
                        g.model,
                        "ONX007",
                        "bias-before-batchnorm",
                        Severity::Info,
                        Area::Architecture,
                        format!(
                            "{} has a bias and feeds {}: BatchNorm subtracts the mean, so the bias is cancelled and only costs parameters",
                            node_label(n, i),
                            node_label(bn, c)
                        ),
                    )
                    .with_evidence("Ioffe & Szegedy 2015, Batch Normalization, sec. 3.2: the bias \"can be ignored since its effect will be canceled by the subsequent mean subtraction\"")
                    .with_fix(Fix::new("construct the layer with `bias=False`")),
                );
            }
        }
    }
}

fn unfused_bn(g: &Graph, out: &mut Vec<Finding>) {
    let training = g.model.graph.node.iter().any(|n| {
        op(n) == "Dropout"
            || n.attribute
                .iter()
                .any(|a| a.name.as_deref() == Some("training_mode") && a.i == Some(1))
    });
    if training {
        return;
    }
    let mut pairs = Vec::new();
    for (i, n) in g.model.graph.node.iter().enumerate() {
        if !matches!(op(n), "Conv" | "ConvTranspose" | "Gemm") {
            continue;
        }
        let Some(o) = n.output.first() else { continue };
        if let Some(c) = g
            .consumers_of(o)
            .iter()
            .copied()
            .find(|&c| g.node(c).is_some_and(|c| op(c) == "BatchNormalization"))
        {
            pairs.push((
                node_label(n, i),
                g.node(c).map(|b| node_label(b, c)).unwrap_or_default(),
            ));
        }
    }
    if pairs.is_empty() {
        return;
    }
    let mut f = finding(
        g.model,
        "ONX008",
        "unfused-batchnorm",
        Severity::Info,
        Area::Performance,
        format!(
            "{} layer(s) are followed by a separate BatchNormalization in an inference graph: folding BN into the layer's weights removes a full pass over the activations",
            pairs.len()
        ),
    )
    .with_fix(Fix::new("export with `do_constant_folding=True` in eval mode (folds Conv+BN), or fuse with `torch.ao.quantization.fuse_modules` / onnxruntime's graph optimizations"));
    for (a, b) in pairs.iter().take(5) {
        f = f.with_evidence(format!("{a} -> {b}"));
    }
    out.push(f);
}

fn dynamic_shapes(model: &OnnxModel, shapes: &Shapes, out: &mut Vec<Finding>) {
    let shape_ops = model
        .graph
        .node
        .iter()
        .filter(|n| matches!(op(n), "Shape" | "ConstantOfShape" | "Size"))
        .count();
    let declared_dynamic: Vec<String> = model
        .graph
        .input
        .iter()
        .filter(|i| model.initializer(i.name.as_deref().unwrap_or("")).is_none())
        .filter_map(|i| {
            let dims = &i.r#type.as_ref()?.tensor_type.as_ref()?.shape.as_ref()?.dim;
            let dynamic: Vec<String> = dims
                .iter()
                .enumerate()
                .filter(|(_, d)| d.dim_value.is_none())
                .map(|(k, d)| d.dim_param.clone().unwrap_or_else(|| format!("dim {k}")))
                .collect();
            (!dynamic.is_empty()).then(|| {
                format!(
                    "input `{}`: {}",
                    i.name.as_deref().unwrap_or(""),
                    dynamic.join(", ")
                )
            })
        })
        .collect();
    if declared_dynamic.is_empty() && shape_ops == 0 {
        return;
    }
    let mut f = finding(
        model,
        "ONX009",
        "dynamic-shapes",
        Severity::Info,
        Area::Performance,
        if declared_dynamic.is_empty() {
            format!("{shape_ops} node(s) compute shapes at run time (Shape/ConstantOfShape/Size) although the inputs are static: runtimes plan memory and pick kernels per call")
        } else {
            "graph inputs have dynamic dims: TensorRT needs optimization profiles and static memory planning and some fusions are disabled".to_string()
        },
    )
    .with_fix(Fix::new("export with static shapes where the deployment allows, or fold shape subgraphs (`onnxsim`, `onnx.shape_inference` + constant folding)"));
    for d in declared_dynamic {
        f = f.with_evidence(d);
    }
    if shape_ops > 0 {
        f = f.with_evidence(format!("{shape_ops} Shape/ConstantOfShape/Size node(s)"));
    }
    for (name, dims) in &shapes.dynamic_inputs {
        f = f.with_evidence(format!(
            "after overrides, `{name}` still has unknown {}",
            dims.join(", ")
        ));
    }
    out.push(f);
}

fn large_initializers(model: &OnnxModel, out: &mut Vec<Finding>) {
    for t in &model.initializers {
        if t.bytes() >= LARGE_INITIALIZER_BYTES {
            out.push(
                finding(
                    model,
                    "ONX010",
                    "large-initializer",
                    Severity::Warning,
                    Area::Performance,
                    format!(
                        "initializer `{}` ({:?}) holds {} MiB in one tensor: protobuf caps a whole .onnx at 2 GiB and one tensor this size limits sharding and memory mapping",
                        t.name,
                        t.dims,
                        t.bytes() >> 20
                    ),
                )
                .with_fix(Fix::new("store weights as external data; consider weight tying, factorising (e.g. smaller vocab/embedding) or quantisation")),
            );
        }
    }
}

fn slow_path_ops(model: &OnnxModel, out: &mut Vec<Finding>) {
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    let mut local_calls = 0usize;
    for n in &model.graph.node {
        let o = op(n);
        let domain = n.domain.as_deref().unwrap_or("");
        if model.functions.iter().any(|(d, f)| d == domain && f == o) {
            local_calls += 1;
            continue;
        }
        if SLOW_PATH_OPS.contains(&o)
            || n.domain
                .as_deref()
                .is_some_and(|d| !d.is_empty() && d != "ai.onnx")
        {
            *counts.entry(o).or_default() += 1;
        }
    }
    if local_calls > 0 {
        out.push(
            finding(
                model,
                "ONX015",
                "model-local-functions",
                Severity::Info,
                Area::Input,
                format!("{local_calls} node(s) call functions defined inside the model; their bodies are not inlined here, so their FLOPs and shapes are missing"),
            )
            .with_fix(Fix::new("inline them first (`onnx.inliner.inline_local_functions`) for complete counts")),
        );
    }
    if counts.is_empty() {
        return;
    }
    let list: Vec<String> = counts.iter().map(|(o, n)| format!("{o} x{n}")).collect();
    out.push(
        finding(
            model,
            "ONX014",
            "slow-path-ops",
            Severity::Info,
            Area::Performance,
            format!("ops that inference runtimes often run on slow fallback paths: {}", list.join(", ")),
        )
        .with_evidence("data-dependent shapes and control flow break static planning: see onnx-tensorrt docs/operators.md and the ONNX Runtime execution-provider docs (onnxruntime.ai/docs/execution-providers)")
        .with_evidence("custom-domain ops run only where a runtime registers a kernel for them"),
    );
}
