//! Static shape inference for the common operators, with constant folding of the small
//! integer tensors exporters use to compute shapes (`Shape -> Gather -> Concat -> Reshape`).
//! Unknown dims stay `None`; every computation is checked, so absurd dims from a hostile
//! file make a dim unknown instead of overflowing.

mod layout;
mod ops;
mod window;

use std::collections::HashMap;

use super::load::{op, tensor_floats, tensor_ints, OnnxModel};
use super::proto::ValueInfoProto;

pub use layout::matmul_shape;
pub use ops::{broadcast, constant_floats};

pub type Dim = Option<i64>;

/// Longest integer tensor we fold: shape vectors are tiny; this bounds work on hostile input.
pub(crate) const MAX_FOLD: usize = 4096;

#[derive(Debug, Clone, Default)]
pub struct Value {
    pub shape: Option<Vec<Dim>>,
    pub ints: Option<Vec<i64>>,
    /// Values of tiny float constants (Resize scales).
    pub floats: Option<Vec<f64>>,
    pub elem: i32,
}

impl Value {
    pub fn known_dims(&self) -> Option<Vec<i64>> {
        self.shape.as_ref()?.iter().copied().collect()
    }
    pub fn numel(&self) -> Option<u64> {
        self.known_dims().and_then(|d| super::load::numel(&d))
    }
}

#[derive(Debug, Default)]
pub struct Shapes {
    pub values: HashMap<String, Value>,
    /// Op types whose output shape could not be inferred (and were not in `value_info`).
    pub unresolved: Vec<String>,
    /// Graph inputs that still have a symbolic or missing dim after overrides.
    pub dynamic_inputs: Vec<(String, Vec<String>)>,
}

impl Shapes {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.get(name)
    }
    pub fn shape(&self, name: &str) -> Option<&Vec<Dim>> {
        self.values.get(name).and_then(|v| v.shape.as_ref())
    }
}

fn from_value_info(vi: &ValueInfoProto) -> Value {
    let tt = vi.r#type.as_ref().and_then(|t| t.tensor_type.as_ref());
    let shape = tt.and_then(|t| t.shape.as_ref()).map(|s| {
        s.dim
            .iter()
            .map(|d| d.dim_value.filter(|v| *v >= 0))
            .collect()
    });
    Value {
        shape,
        ints: None,
        floats: None,
        elem: tt.and_then(|t| t.elem_type).unwrap_or(0),
    }
}

/// Infer every value's shape. `input_shape` overrides the first real graph input's shape
/// (`--input-shape`); `batch` replaces its leading dim.
pub fn infer(model: &OnnxModel, input_shape: Option<&[i64]>, batch: Option<i64>) -> Shapes {
    let g = &model.graph;
    let mut s = Shapes::default();
    for t in &g.initializer {
        let name = t.name.clone().unwrap_or_default();
        let v = Value {
            shape: Some(t.dims.iter().map(|&d| Some(d)).collect()),
            ints: tensor_ints(t).filter(|v| v.len() <= MAX_FOLD),
            floats: tensor_floats(t, 16),
            elem: t.data_type.unwrap_or(0),
        };
        s.values.insert(name, v);
    }
    let mut first = true;
    for vi in &g.input {
        let name = vi.name.clone().unwrap_or_default();
        if s.values.contains_key(&name) {
            continue;
        }
        let mut v = from_value_info(vi);
        if first {
            if let Some(shape) = input_shape {
                v.shape = Some(shape.iter().map(|&d| Some(d)).collect());
            }
            if let (Some(b), Some(shape)) = (batch, v.shape.as_mut()) {
                if let Some(d0) = shape.first_mut() {
                    *d0 = Some(b);
                }
            }
            first = false;
        }
        let dynamic: Vec<String> = match &v.shape {
            None => vec!["rank".into()],
            Some(shape) => {
                let dims = vi
                    .r#type
                    .as_ref()
                    .and_then(|t| t.tensor_type.as_ref())
                    .and_then(|t| t.shape.as_ref())
                    .map(|s| s.dim.clone())
                    .unwrap_or_default();
                shape
                    .iter()
                    .enumerate()
                    .filter(|(_, d)| d.is_none())
                    .map(|(i, _)| {
                        dims.get(i)
                            .and_then(|d| d.dim_param.clone())
                            .unwrap_or_else(|| format!("dim {i}"))
                    })
                    .collect()
            }
        };
        if !dynamic.is_empty() {
            s.dynamic_inputs.push((name.clone(), dynamic));
        }
        s.values.insert(name, v);
    }
    // Shapes the exporter recorded are a fallback for ops we do not infer, but they were
    // computed for the export-time input: with an override they would be stale.
    let overridden = input_shape.is_some() || batch.is_some();
    let declared: HashMap<&str, &ValueInfoProto> = g
        .value_info
        .iter()
        .chain(g.output.iter())
        .filter(|_| !overridden)
        .filter_map(|vi| vi.name.as_deref().map(|n| (n, vi)))
        .collect();
    for node in &g.node {
        let outs = ops::infer_node(node, &s, model.opset);
        for (i, name) in node.output.iter().enumerate() {
            if name.is_empty() {
                continue;
            }
            let mut v = outs.get(i).cloned().unwrap_or_default();
            // Dims computed from file data (Reshape targets, pads, constants) may be negative
            // in a hostile graph; a negative dim is unknown, never arithmetic input.
            if let Some(sh) = v.shape.as_mut() {
                for d in sh.iter_mut() {
                    if d.is_some_and(|x| x < 0) {
                        *d = None;
                    }
                }
            }
            if v.shape
                .as_ref()
                .is_none_or(|sh| sh.iter().any(|d| d.is_none()))
            {
                if let Some(vi) = declared.get(name.as_str()) {
                    let d = from_value_info(vi);
                    if d.shape
                        .as_ref()
                        .is_some_and(|sh| sh.iter().all(|x| x.is_some()))
                    {
                        v.shape = d.shape;
                    }
                    if v.elem == 0 {
                        v.elem = d.elem;
                    }
                }
            }
            if i == 0 && v.shape.is_none() {
                s.unresolved.push(op(node).to_string());
            }
            s.values.insert(name.clone(), v);
        }
    }
    s
}
