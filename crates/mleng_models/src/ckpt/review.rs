//! Checkpoint review: per-layer summaries and weight-health findings (`CKP001`...).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use mleng_diagnostics::{Area, Finding, Fix, Location, Severity};

use super::stats::{self, TensorStats};
use super::{Checkpoint, Format};
use crate::error::{ModelError, Result};

/// A weight whose std exceeds He initialisation's `sqrt(2 / fan_in)` by this factor has
/// moved far from any standard initialisation scale (He et al. 2015; PyTorch's default
/// `kaiming_uniform_(a=sqrt(5))` is smaller still, `1/sqrt(3 fan_in)`).
const EXPLODED_FACTOR: f64 = 10.0;
/// BatchNorm running statistics beyond these are symptoms of diverged activations.
const BN_VAR_LIMIT: f64 = 1e6;
const BN_MEAN_LIMIT: f64 = 1e3;
/// |gamma| below this makes a BatchNorm channel output a constant (its beta).
const DEAD_GAMMA: f64 = 1e-5;

#[derive(Debug, Clone, serde::Serialize)]
pub struct LayerSummary {
    pub name: String,
    pub kind: String,
    pub params: u64,
    pub tensors: usize,
    pub dtypes: Vec<String>,
    pub weight_shape: Option<Vec<u64>>,
    pub weight_std: Option<f64>,
    pub weight_max_abs: Option<f64>,
    pub non_finite: u64,
    pub zero_fraction: f64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckpointReport {
    pub path: String,
    pub format: Format,
    pub file_bytes: u64,
    pub tensor_count: usize,
    pub total_elements: u64,
    /// Elements of floating-point parameters (running statistics and optimizer state excluded),
    /// comparable with `sum(p.numel() for p in model.parameters())`.
    pub parameter_elements: u64,
    pub dtypes: BTreeMap<String, u64>,
    pub metadata: Vec<(String, String)>,
    pub tensors: Vec<TensorStats>,
    pub layers: Vec<LayerSummary>,
    pub findings: Vec<Finding>,
}

pub fn inspect_path(path: &Path) -> Result<CheckpointReport> {
    let ck = super::load(path)?;
    analyze(&ck)
}

/// Optimizer moments and step counters are state, not weights.
pub fn is_optimizer_state(name: &str) -> bool {
    name.split('.')
        .any(|p| p == "optimizer" || p == "optimizer_states" || p == "optim")
        || name.ends_with("exp_avg")
        || name.ends_with("exp_avg_sq")
        || name.ends_with("momentum_buffer")
}

/// BatchNorm's running statistics are buffers, not parameters (PyTorch's `buffers()`).
pub fn is_buffer(name: &str) -> bool {
    name.ends_with("running_mean")
        || name.ends_with("running_var")
        || name.ends_with("num_batches_tracked")
}

fn split_name(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(i) => (&name[..i], &name[i + 1..]),
        None => ("", name),
    }
}

pub fn analyze(ck: &Checkpoint) -> Result<CheckpointReport> {
    let tensors = all_stats(ck)?;
    let mut dtypes = BTreeMap::new();
    let mut total = 0u64;
    let mut params = 0u64;
    for t in &tensors {
        *dtypes.entry(t.dtype.name().to_string()).or_insert(0u64) += t.numel;
        total = total.saturating_add(t.numel);
        if t.dtype.is_float() && !is_optimizer_state(&t.name) && !is_buffer(&t.name) {
            params = params.saturating_add(t.numel);
        }
    }
    let layers = layers(&tensors);
    let findings = findings(&ck.path, &tensors, &layers);
    Ok(CheckpointReport {
        path: ck.path.display().to_string(),
        format: ck.format,
        file_bytes: ck.file_bytes,
        tensor_count: tensors.len(),
        total_elements: total,
        parameter_elements: params,
        dtypes,
        metadata: ck.metadata.clone(),
        tensors,
        layers,
        findings,
    })
}

/// Statistics for every tensor, spread over the machine's cores: a multi-GB checkpoint is
/// bound by this pass, and tensors are independent.
fn all_stats(ck: &Checkpoint) -> Result<Vec<TensorStats>> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(ck.tensors.len().max(1));
    if workers <= 1 {
        return ck.tensors.iter().map(|t| stats::compute(ck, t)).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut slots: Vec<Option<Result<TensorStats>>> = Vec::new();
    slots.resize_with(ck.tensors.len(), || None);
    let results = std::sync::Mutex::new(slots);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(t) = ck.tensors.get(i) else { break };
                let r = stats::compute(ck, t);
                if let Ok(mut guard) = results.lock() {
                    if let Some(slot) = guard.get_mut(i) {
                        *slot = Some(r);
                    }
                }
            });
        }
    });
    let slots = results
        .into_inner()
        .map_err(|_| ModelError::invalid(&ck.path, "a statistics worker failed"))?;
    slots
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(ModelError::invalid(&ck.path, "a tensor was not read"))))
        .collect()
}

fn layer_kind(members: &HashMap<&str, &TensorStats>, name: &str) -> &'static str {
    if members.contains_key("running_mean") || members.contains_key("running_var") {
        return "batchnorm";
    }
    let Some(w) = members.get("weight") else {
        return "other";
    };
    match w.shape.as_slice() {
        [_, _, _] | [_, _, _, _] | [_, _, _, _, _] => "conv",
        [_, _] if name.contains("embed") => "embedding",
        // Vocabulary-shaped tables (many more rows than columns) are embeddings, which
        // PyTorch initialises N(0, 1): far above a linear layer's scale, and healthy.
        [rows, cols] if *rows >= 1000 && *rows > cols.saturating_mul(8) => "embedding",
        [_, _] => "linear",
        [_] => "norm",
        _ => "other",
    }
}

fn layers(tensors: &[TensorStats]) -> Vec<LayerSummary> {
    let mut order: Vec<&str> = Vec::new();
    let mut groups: HashMap<&str, HashMap<&str, &TensorStats>> = HashMap::new();
    for t in tensors {
        let (layer, param) = split_name(&t.name);
        if !groups.contains_key(layer) {
            order.push(layer);
        }
        groups.entry(layer).or_default().insert(param, t);
    }
    order
        .into_iter()
        .filter_map(|name| {
            let members = groups.get(name)?;
            let weight = members.get("weight");
            let mut dts: Vec<String> = members
                .values()
                .map(|t| t.dtype.name().to_string())
                .collect();
            dts.sort();
            dts.dedup();
            let numel: u64 = members.values().map(|t| t.numel).sum();
            let zeros: u64 = members.values().map(|t| t.zeros).sum();
            Some(LayerSummary {
                name: name.to_string(),
                kind: layer_kind(members, name).to_string(),
                params: members
                    .iter()
                    .filter(|(p, t)| {
                        t.dtype.is_float() && !matches!(**p, "running_mean" | "running_var")
                    })
                    .map(|(_, t)| t.numel)
                    .sum(),
                tensors: members.len(),
                dtypes: dts,
                weight_shape: weight.map(|w| w.shape.clone()),
                weight_std: weight.map(|w| w.std),
                weight_max_abs: weight.map(|w| w.max_abs),
                non_finite: members.values().map(|t| t.non_finite()).sum(),
                zero_fraction: if numel == 0 {
                    0.0
                } else {
                    zeros as f64 / numel as f64
                },
            })
        })
        .collect()
}

fn finding(path: &Path, code: &str, name: &str, sev: Severity, area: Area, msg: String) -> Finding {
    Finding::new(code, name, sev, area, Location::file(path), msg)
}

fn fmt_shape(s: &[u64]) -> String {
    let v: Vec<String> = s.iter().map(u64::to_string).collect();
    format!("[{}]", v.join(", "))
}

fn findings(path: &Path, tensors: &[TensorStats], layers: &[LayerSummary]) -> Vec<Finding> {
    let mut out = Vec::new();
    let by_name: HashMap<&str, &TensorStats> =
        tensors.iter().map(|t| (t.name.as_str(), t)).collect();
    let weights: Vec<&TensorStats> = tensors
        .iter()
        .filter(|t| t.dtype.is_float() && !is_optimizer_state(&t.name))
        .collect();
    for t in &weights {
        let (_, param) = split_name(&t.name);
        if t.non_finite() > 0 {
            out.push(
                finding(path, "CKP001", "non-finite-weights", Severity::Error, Area::Training,
                    format!("`{}` holds {} NaN and {} Inf value(s) out of {}: the model is unusable and training diverged before this save", t.name, t.nan, t.inf, t.numel))
                .with_fix(Fix::new("resume from an earlier checkpoint; lower the learning rate, clip gradients, and check the loss for NaN before `optimizer.step()`")),
            );
        }
        if t.numel > 1 && t.zeros == t.numel && param == "weight" {
            out.push(
                finding(path, "CKP004", "all-zero-tensor", Severity::Warning, Area::Training,
                    format!("`{}` {} is all zeros: the layer passes nothing (or only its bias) forward and its gradient may be zero too", t.name, fmt_shape(&t.shape)))
                .with_evidence("an all-zero BatchNorm weight is legitimate only at initialisation (`zero_init_residual=True`)"),
            );
        }
        if t.f16_at_limit > 0 {
            out.push(
                finding(path, "CKP008", "fp16-overflow-limit", Severity::Warning, Area::Training,
                    format!("`{}` has {} float16 value(s) at or near the largest finite float16 ({}): any growth overflows to Inf", t.name, t.f16_at_limit, stats::F16_MAX))
                .with_fix(Fix::new("keep master weights in float32 (torch.amp), or store in bfloat16, which has float32's range")),
            );
        }
    }
    for layer in layers {
        let get = |p: &str| {
            let name = if layer.name.is_empty() {
                p.to_string()
            } else {
                format!("{}.{p}", layer.name)
            };
            by_name.get(name.as_str()).copied()
        };
        if is_optimizer_state(&layer.name) {
            continue;
        }
        let weight = get("weight");
        match layer.kind.as_str() {
            "conv" | "linear" => {
                let Some(w) = weight else { continue };
                exploded(path, w, &mut out);
                dead_filters(path, w, &mut out);
            }
            "batchnorm" => {
                bn_stats(path, get("running_mean"), get("running_var"), &mut out);
                if let Some(g) = weight {
                    dead_gamma(path, g, &mut out);
                }
            }
            _ => {}
        }
    }
    dead_relu(path, layers, &by_name, &mut out);
    let mut float_dtypes: BTreeMap<&str, u64> = BTreeMap::new();
    for t in &weights {
        *float_dtypes.entry(t.dtype.name()).or_default() += t.numel;
    }
    if float_dtypes.len() > 1 {
        let list: Vec<String> = float_dtypes
            .iter()
            .map(|(d, n)| format!("{d}: {n} elements"))
            .collect();
        out.push(
            finding(path, "CKP007", "mixed-dtypes", Severity::Info, Area::Performance,
                format!("weights are stored in {} floating-point dtypes ({}): casts at load time, and a half-precision part may be an accident of a partial `.half()`", float_dtypes.len(), list.join(", ")))
            .with_fix(Fix::new("cast the state dict to one dtype before saving unless the mix is deliberate (e.g. float32 norms in a bfloat16 model)")),
        );
    }
    out
}

fn exploded(path: &Path, w: &TensorStats, out: &mut Vec<Finding>) {
    let Some(&out_ch) = w.shape.first() else {
        return;
    };
    if out_ch == 0 || w.numel == 0 || !w.std.is_finite() {
        return;
    }
    let fan_in = (w.numel / out_ch).max(1) as f64;
    let he = (2.0 / fan_in).sqrt();
    if w.std > EXPLODED_FACTOR * he {
        out.push(
            finding(path, "CKP002", "exploded-weights", Severity::Warning, Area::Training,
                format!("`{}` has std {:.4} and max |w| {:.4}, {:.0}x the He-initialisation std {:.4} for fan-in {}: the weights grew far beyond any initialisation scale", w.name, w.std, w.max_abs, w.std / he, he, fan_in))
            .with_evidence("He et al. 2015, \"Delving Deep into Rectifiers\": std = sqrt(2 / fan_in); PyTorch's default init is smaller (bound 1/sqrt(fan_in))")
            .with_fix(Fix::new("check the learning rate and weight decay; clip gradients; compare with an earlier checkpoint using `mleng inspect A B --diff`")),
        );
    }
}

fn dead_filters(path: &Path, w: &TensorStats, out: &mut Vec<Finding>) {
    if w.channel_l2.len() < 2 {
        return;
    }
    let mut norms: Vec<f64> = w
        .channel_l2
        .iter()
        .copied()
        .filter(|n| n.is_finite())
        .collect();
    norms.sort_by(f64::total_cmp);
    let median = norms.get(norms.len() / 2).copied().unwrap_or(0.0);
    if median <= 0.0 {
        return;
    }
    let dead: Vec<usize> = w
        .channel_l2
        .iter()
        .enumerate()
        .filter(|(_, n)| **n <= median * 1e-6)
        .map(|(i, _)| i)
        .collect();
    if dead.is_empty() {
        return;
    }
    out.push(
        finding(path, "CKP005", "dead-channels", Severity::Warning, Area::Training,
            format!("`{}`: {} of {} output filters have ~0 norm (< 1e-6 x the median {:.4}): those channels output only their bias", w.name, dead.len(), w.channel_l2.len(), median))
        .with_evidence(format!("channels {:?}", dead.iter().take(16).collect::<Vec<_>>()))
        .with_fix(Fix::new("prune the channels, or check for too-strong weight decay / L1 and a dying-ReLU regime")),
    );
}

fn dead_gamma(path: &Path, g: &TensorStats, out: &mut Vec<Finding>) {
    let dead: Vec<usize> = g
        .channel_max
        .iter()
        .enumerate()
        .filter(|(i, v)| {
            v.abs() < DEAD_GAMMA && g.channel_l2.get(*i).is_some_and(|n| *n < DEAD_GAMMA)
        })
        .map(|(i, _)| i)
        .collect();
    if dead.is_empty() || dead.len() == g.channel_max.len() {
        return;
    }
    out.push(
        finding(path, "CKP005", "dead-channels", Severity::Warning, Area::Training,
            format!("`{}`: {} of {} BatchNorm channels have |gamma| < {DEAD_GAMMA}: they output a constant (beta), so the filters feeding them are wasted", g.name, dead.len(), g.channel_max.len()))
        .with_evidence(format!("channels {:?}", dead.iter().take(16).collect::<Vec<_>>()))
        .with_evidence("Liu et al. 2017, \"Learning Efficient Convolutional Networks through Network Slimming\": channels with ~0 BN scale can be pruned")
        .with_fix(Fix::new("prune them, or lower L1/weight decay on BatchNorm weights")),
    );
}

fn bn_stats(
    path: &Path,
    mean: Option<&TensorStats>,
    var: Option<&TensorStats>,
    out: &mut Vec<Finding>,
) {
    let mut evidence = Vec::new();
    if let Some(v) = var {
        if v.max.is_finite() && v.max > BN_VAR_LIMIT {
            evidence.push(format!(
                "`{}` max {:.3e} (limit {BN_VAR_LIMIT:.0e})",
                v.name, v.max
            ));
        }
        if v.min.is_finite() && v.min < 0.0 {
            evidence.push(format!(
                "`{}` has negative values (min {:.3e}): impossible for a variance",
                v.name, v.min
            ));
        }
    }
    if let Some(m) = mean {
        if m.max_abs.is_finite() && m.max_abs > BN_MEAN_LIMIT {
            evidence.push(format!(
                "`{}` max |mean| {:.3e} (limit {BN_MEAN_LIMIT:.0e})",
                m.name, m.max_abs
            ));
        }
    }
    if evidence.is_empty() {
        return;
    }
    let name = var
        .or(mean)
        .map(|t| {
            t.name
                .rsplit_once('.')
                .map(|p| p.0)
                .unwrap_or(&t.name)
                .to_string()
        })
        .unwrap_or_default();
    let mut f = finding(path, "CKP003", "exploded-batchnorm-stats", Severity::Warning, Area::Training,
        format!("BatchNorm `{name}` has running statistics far outside normal activation ranges: the activations feeding it blew up during training, and eval-mode outputs will be wrong"))
        .with_fix(Fix::new("check for divergence around this checkpoint; recalibrate statistics with a few forward passes in train mode (no grad) over clean data"));
    for e in evidence {
        f = f.with_evidence(e);
    }
    out.push(f);
}

/// A ReLU unit whose incoming weights and bias are all <= 0 outputs 0 for every
/// non-negative input (the output of a previous ReLU): it is provably dead. We only claim
/// it for layers with a bias (a bias-free layer is normally followed by a norm layer, which
/// can shift it back) and not for the first weight layer (its input, the data, can be negative).
fn dead_relu(
    path: &Path,
    layers: &[LayerSummary],
    by_name: &HashMap<&str, &TensorStats>,
    out: &mut Vec<Finding>,
) {
    let mut first = true;
    for layer in layers {
        if !matches!(layer.kind.as_str(), "conv" | "linear") || is_optimizer_state(&layer.name) {
            continue;
        }
        if std::mem::replace(&mut first, false) {
            continue;
        }
        let w = by_name.get(format!("{}.weight", layer.name).as_str());
        let b = by_name.get(format!("{}.bias", layer.name).as_str());
        let (Some(w), Some(b)) = (w, b) else { continue };
        if w.channel_max.len() != b.channel_max.len() || w.channel_max.len() < 2 {
            continue;
        }
        let dead: Vec<usize> = w
            .channel_max
            .iter()
            .zip(&b.channel_max)
            .enumerate()
            .filter(|(_, (wm, bm))| **wm <= 0.0 && **bm <= 0.0)
            .map(|(i, _)| i)
            .collect();
        if dead.is_empty() {
            continue;
        }
        out.push(
            finding(path, "CKP006", "dead-relu-units", Severity::Info, Area::Training,
                format!("`{}`: {} of {} units have every weight and the bias <= 0: after a ReLU (non-negative input) they can never activate", layer.name, dead.len(), w.channel_max.len()))
            .with_evidence(format!("units {:?}", dead.iter().take(16).collect::<Vec<_>>()))
            .with_evidence("holds if this layer's input is non-negative (it follows a ReLU) and its output goes through a ReLU")
            .with_fix(Fix::new("lower the learning rate, use LeakyReLU/GELU, or re-initialise the dead units")),
        );
    }
}
