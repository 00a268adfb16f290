//! `--diff`: how far each layer moved between two checkpoints, as relative L2 drift
//! `||B - A|| / ||A||`, for "which layers actually trained" and fine-tuning review.

use std::collections::{BTreeMap, HashMap};

use super::review::is_optimizer_state;
use super::{Checkpoint, TensorMeta};
use crate::error::Result;

/// Drift below this is "did not train" (frozen or a learning rate of ~0).
pub const FROZEN: f64 = 1e-7;

#[derive(Debug, Clone, serde::Serialize)]
pub struct TensorDiff {
    pub name: String,
    pub shape: Vec<u64>,
    pub numel: u64,
    pub norm_a: f64,
    pub norm_delta: f64,
    pub relative_drift: f64,
    pub max_abs_delta: f64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct LayerDiff {
    pub name: String,
    pub params: u64,
    pub relative_drift: f64,
    pub frozen: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct DiffReport {
    pub a: String,
    pub b: String,
    pub matched: usize,
    pub only_in_a: Vec<String>,
    pub only_in_b: Vec<String>,
    pub shape_changed: Vec<(String, Vec<u64>, Vec<u64>)>,
    /// Per layer, largest drift first.
    pub layers: Vec<LayerDiff>,
    pub tensors: Vec<TensorDiff>,
    pub frozen_params: u64,
    pub trained_params: u64,
}

/// Wrappers that change a name without changing the layer (DDP, Lightning, torch.compile).
fn normalize(name: &str) -> &str {
    let mut n = name;
    loop {
        let before = n;
        for p in ["module.", "model.", "state_dict.", "_orig_mod.", "net."] {
            n = n.strip_prefix(p).unwrap_or(n);
        }
        if n == before {
            return n;
        }
    }
}

fn index(ck: &Checkpoint) -> HashMap<&str, &TensorMeta> {
    ck.tensors
        .iter()
        .filter(|t| t.dtype.is_float() && !is_optimizer_state(&t.name))
        .map(|t| (normalize(&t.name), t))
        .collect()
}

pub fn diff(a: &Checkpoint, b: &Checkpoint) -> Result<DiffReport> {
    let ia = index(a);
    let ib = index(b);
    let mut tensors = Vec::new();
    let mut shape_changed = Vec::new();
    let mut only_in_a: Vec<String> = ia
        .keys()
        .filter(|k| !ib.contains_key(*k))
        .map(|k| k.to_string())
        .collect();
    let mut only_in_b: Vec<String> = ib
        .keys()
        .filter(|k| !ia.contains_key(*k))
        .map(|k| k.to_string())
        .collect();
    only_in_a.sort();
    only_in_b.sort();
    // Keep A's file order so the layer table follows the model.
    for ta in &a.tensors {
        let key = normalize(&ta.name);
        let (Some(ta), Some(tb)) = (ia.get(key), ib.get(key)) else {
            continue;
        };
        if ta.shape != tb.shape {
            shape_changed.push((key.to_string(), ta.shape.clone(), tb.shape.clone()));
            continue;
        }
        let va = a.values_f32(ta)?;
        let mut i = 0usize;
        let (mut sa, mut sd, mut maxd) = (0f64, 0f64, 0f64);
        b.for_each(tb, |vb| {
            if let Some(&x) = va.get(i) {
                let x = f64::from(x);
                let d = vb - x;
                sa += x * x;
                sd += d * d;
                maxd = maxd.max(d.abs());
            }
            i += 1;
        })?;
        let (norm_a, norm_delta) = (sa.sqrt(), sd.sqrt());
        tensors.push(TensorDiff {
            name: key.to_string(),
            shape: ta.shape.clone(),
            numel: ta.numel,
            norm_a,
            norm_delta,
            relative_drift: relative(norm_delta, norm_a),
            max_abs_delta: maxd,
        });
    }
    let mut groups: BTreeMap<&str, (u64, f64, f64, usize)> = BTreeMap::new();
    let mut order = Vec::new();
    for t in &tensors {
        let layer = t.name.rsplit_once('.').map(|p| p.0).unwrap_or("");
        if !groups.contains_key(layer) {
            order.push(layer);
        }
        let g = groups.entry(layer).or_default();
        g.0 += t.numel;
        g.1 += t.norm_a * t.norm_a;
        g.2 += t.norm_delta * t.norm_delta;
        g.3 += 1;
    }
    let mut layers: Vec<LayerDiff> = order
        .iter()
        .filter_map(|l| {
            let (n, a2, d2, _) = groups.get(l)?;
            let drift = relative(d2.sqrt(), a2.sqrt());
            Some(LayerDiff {
                name: l.to_string(),
                params: *n,
                relative_drift: drift,
                frozen: drift < FROZEN,
            })
        })
        .collect();
    layers.sort_by(|x, y| y.relative_drift.total_cmp(&x.relative_drift));
    let frozen_params = layers.iter().filter(|l| l.frozen).map(|l| l.params).sum();
    let trained_params = layers.iter().filter(|l| !l.frozen).map(|l| l.params).sum();
    Ok(DiffReport {
        a: a.path.display().to_string(),
        b: b.path.display().to_string(),
        matched: tensors.len(),
        only_in_a,
        only_in_b,
        shape_changed,
        layers,
        tensors,
        frozen_params,
        trained_params,
    })
}

fn relative(delta: f64, base: f64) -> f64 {
    if base > 0.0 {
        delta / base
    } else if delta > 0.0 {
        f64::INFINITY
    } else {
        0.0
    }
}
