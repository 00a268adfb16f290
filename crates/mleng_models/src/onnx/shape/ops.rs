//! Per-operator output shapes (the ONNX operator spec's shape rules), and folding of the
//! small integer tensors that carry shapes.

use super::layout::{reshape, slice_len, slice_range, squeeze};
use super::window::{spatial, window};
use super::{matmul_shape, Dim, Shapes, Value, MAX_FOLD};
use crate::onnx::attrs;
use crate::onnx::load::{op, tensor_floats, tensor_ints};
use crate::onnx::proto::{dtype, NodeProto};

fn get<'a>(s: &'a Shapes, node: &NodeProto, i: usize) -> Option<&'a Value> {
    node.input
        .get(i)
        .filter(|n| !n.is_empty())
        .and_then(|n| s.values.get(n))
}

fn shape_of(s: &Shapes, node: &NodeProto, i: usize) -> Option<Vec<Dim>> {
    get(s, node, i).and_then(|v| v.shape.clone())
}

fn ints_of(s: &Shapes, node: &NodeProto, i: usize) -> Option<Vec<i64>> {
    get(s, node, i).and_then(|v| v.ints.clone())
}

fn elem_of(s: &Shapes, node: &NodeProto, i: usize) -> i32 {
    get(s, node, i).map(|v| v.elem).unwrap_or(0)
}

fn shaped(shape: Option<Vec<Dim>>, elem: i32) -> Value {
    Value {
        shape,
        ints: None,
        floats: None,
        elem,
    }
}

/// Normalise a possibly negative axis against `rank`.
pub(super) fn axis(a: i64, rank: usize) -> Option<usize> {
    let r = i64::try_from(rank).ok()?;
    let a = if a < 0 { a.checked_add(r)? } else { a };
    (0..r).contains(&a).then_some(a as usize)
}

fn broadcast_dim(a: Dim, b: Dim) -> Dim {
    match (a, b) {
        (Some(1), x) | (x, Some(1)) => x,
        (Some(x), Some(y)) if x == y => Some(x),
        (Some(x), None) | (None, Some(x)) => Some(x),
        _ => None,
    }
}

pub fn broadcast(a: &[Dim], b: &[Dim]) -> Vec<Dim> {
    let n = a.len().max(b.len());
    (0..n)
        .map(|i| {
            let da = (i + a.len()).checked_sub(n).and_then(|j| a.get(j)).copied();
            let db = (i + b.len()).checked_sub(n).and_then(|j| b.get(j)).copied();
            match (da, db) {
                (Some(x), Some(y)) => broadcast_dim(x, y),
                (Some(x), None) | (None, Some(x)) => x,
                (None, None) => None,
            }
        })
        .collect()
}

fn fold_binary(op: &str, a: &[i64], b: &[i64]) -> Option<Vec<i64>> {
    let n = a.len().max(b.len());
    if n > MAX_FOLD || (a.len() != n && a.len() != 1) || (b.len() != n && b.len() != 1) {
        return None;
    }
    (0..n)
        .map(|i| {
            let x = *a.get(if a.len() == 1 { 0 } else { i })?;
            let y = *b.get(if b.len() == 1 { 0 } else { i })?;
            match op {
                "Add" => x.checked_add(y),
                "Sub" => x.checked_sub(y),
                "Mul" => x.checked_mul(y),
                "Div" => x.checked_div(y),
                "Equal" => Some(i64::from(x == y)),
                "Less" => Some(i64::from(x < y)),
                "Greater" => Some(i64::from(x > y)),
                "Max" => Some(x.max(y)),
                "Min" => Some(x.min(y)),
                _ => None,
            }
        })
        .collect()
}

/// Output spatial size of a sliding window (conv/pool), ONNX operator spec formulas.
pub(super) fn infer_node(node: &NodeProto, s: &Shapes, opset: i64) -> Vec<Value> {
    let x = shape_of(s, node, 0);
    let e0 = elem_of(s, node, 0);
    let one = |shape: Option<Vec<Dim>>| vec![shaped(shape, e0)];
    match op(node) {
        "Identity" => vec![get(s, node, 0).cloned().unwrap_or_default()],
        "Relu"
        | "LeakyRelu"
        | "Sigmoid"
        | "Tanh"
        | "Erf"
        | "Gelu"
        | "HardSwish"
        | "HardSigmoid"
        | "Elu"
        | "Selu"
        | "Celu"
        | "Softplus"
        | "Softsign"
        | "Mish"
        | "Exp"
        | "Log"
        | "Sqrt"
        | "Reciprocal"
        | "Neg"
        | "Abs"
        | "Floor"
        | "Ceil"
        | "Round"
        | "Sign"
        | "Sin"
        | "Cos"
        | "Softmax"
        | "LogSoftmax"
        | "Hardmax"
        | "Clip"
        | "ThresholdedRelu"
        | "Shrink"
        | "LRN"
        | "CumSum"
        | "Trilu"
        | "InstanceNormalization"
        | "MeanVarianceNormalization"
        | "LpNormalization"
        | "GroupNormalization"
        | "IsNaN"
        | "IsInf"
        | "Not" => {
            let elem = if matches!(op(node), "IsNaN" | "IsInf" | "Not") {
                dtype::BOOL
            } else {
                e0
            };
            vec![shaped(x, elem)]
        }
        "Dropout" | "BatchNormalization" | "LayerNormalization" => {
            vec![shaped(x.clone(), e0), shaped(x, e0)]
        }
        "Cast" | "CastLike" => {
            let elem = attrs::int(node, "to")
                .and_then(|t| i32::try_from(t).ok())
                .unwrap_or_else(|| elem_of(s, node, 1));
            let mut v = shaped(x, elem);
            v.ints = ints_of(s, node, 0);
            vec![v]
        }
        "Add" | "Sub" | "Mul" | "Div" | "Pow" | "Mod" | "PRelu" | "Equal" | "Less" | "Greater"
        | "LessOrEqual" | "GreaterOrEqual" | "And" | "Or" | "Xor" | "Max" | "Min" | "Sum"
        | "Mean" | "BitShift" => {
            let shapes: Vec<Option<Vec<Dim>>> = (0..node.input.len())
                .map(|i| shape_of(s, node, i))
                .collect();
            let shape = shapes.iter().try_fold(Vec::new(), |acc, sh| {
                sh.as_ref().map(|sh| broadcast(&acc, sh))
            });
            let elem = if matches!(
                op(node),
                "Equal"
                    | "Less"
                    | "Greater"
                    | "LessOrEqual"
                    | "GreaterOrEqual"
                    | "And"
                    | "Or"
                    | "Xor"
            ) {
                dtype::BOOL
            } else {
                e0
            };
            let mut v = shaped(shape, elem);
            if node.input.len() == 2 {
                if let (Some(a), Some(b)) = (ints_of(s, node, 0), ints_of(s, node, 1)) {
                    v.ints = fold_binary(op(node), &a, &b);
                }
            }
            vec![v]
        }
        "Where" => {
            let shape = match (
                shape_of(s, node, 0),
                shape_of(s, node, 1),
                shape_of(s, node, 2),
            ) {
                (Some(a), Some(b), Some(c)) => Some(broadcast(&broadcast(&a, &b), &c)),
                _ => None,
            };
            let mut v = shaped(shape, elem_of(s, node, 1));
            if let (Some(c), Some(a), Some(b)) = (
                ints_of(s, node, 0),
                ints_of(s, node, 1),
                ints_of(s, node, 2),
            ) {
                let n = c.len().max(a.len()).max(b.len());
                let pick =
                    |v: &Vec<i64>, i: usize| v.get(if v.len() == 1 { 0 } else { i }).copied();
                v.ints = (0..n)
                    .map(|i| {
                        if pick(&c, i)? != 0 {
                            pick(&a, i)
                        } else {
                            pick(&b, i)
                        }
                    })
                    .collect();
            }
            vec![v]
        }
        "Conv" => {
            let w = shape_of(s, node, 1);
            let (Some(x), Some(w)) = (x, w) else {
                return one(None);
            };
            let kernel: Option<Vec<i64>> = attrs::ints(node, "kernel_shape")
                .or_else(|| w.get(2..).and_then(|k| k.iter().copied().collect()));
            let Some(kernel) = kernel else {
                return one(None);
            };
            let win = window(node, kernel);
            let mut out = vec![x.first().copied().flatten(), w.first().copied().flatten()];
            out.extend(spatial(&x, &win, false));
            one(Some(out))
        }
        "ConvTranspose" => {
            let w = shape_of(s, node, 1);
            let (Some(x), Some(w)) = (x, w) else {
                return one(None);
            };
            let kernel: Option<Vec<i64>> = attrs::ints(node, "kernel_shape")
                .or_else(|| w.get(2..).and_then(|k| k.iter().copied().collect()));
            let Some(kernel) = kernel else {
                return one(None);
            };
            let group = attrs::int(node, "group").unwrap_or(1);
            let win = window(node, kernel.clone());
            let k = kernel.len();
            let out_pad = attrs::ints(node, "output_padding").unwrap_or_else(|| vec![0; k]);
            let explicit = attrs::ints(node, "output_shape");
            let chans = w
                .get(1)
                .copied()
                .flatten()
                .and_then(|c| c.checked_mul(group));
            let mut out = vec![x.first().copied().flatten(), chans];
            for i in 0..k {
                if let Some(e) = &explicit {
                    out.push(e.get(e.len().saturating_sub(k) + i).copied());
                    continue;
                }
                let d = (|| {
                    let size = (*x.get(i + 2)?)?;
                    let st = *win.strides.get(i)?;
                    if matches!(win.auto_pad.as_str(), "SAME_UPPER" | "SAME_LOWER") {
                        return size.checked_mul(st);
                    }
                    let eff = kernel
                        .get(i)?
                        .checked_sub(1)?
                        .checked_mul(*win.dilations.get(i)?)?;
                    st.checked_mul(size.checked_sub(1)?)?
                        .checked_add(*out_pad.get(i).unwrap_or(&0))?
                        .checked_add(eff)?
                        .checked_add(1)?
                        .checked_sub(*win.pads.get(i)?)?
                        .checked_sub(*win.pads.get(i + k)?)
                })();
                out.push(d);
            }
            one(Some(out))
        }
        "MaxPool" | "AveragePool" | "LpPool" => {
            let Some(x) = x else { return one(None) };
            let Some(kernel) = attrs::ints(node, "kernel_shape") else {
                return one(None);
            };
            let ceil = attrs::int(node, "ceil_mode").unwrap_or(0) != 0;
            let win = window(node, kernel);
            let mut out: Vec<Dim> = x.iter().take(2).copied().collect();
            out.extend(spatial(&x, &win, ceil));
            vec![
                shaped(Some(out.clone()), e0),
                shaped(Some(out), dtype::INT64),
            ]
        }
        "GlobalAveragePool" | "GlobalMaxPool" | "GlobalLpPool" => one(x.map(|x| {
            x.iter()
                .enumerate()
                .map(|(i, d)| if i < 2 { *d } else { Some(1) })
                .collect()
        })),
        "Gemm" => {
            let (Some(a), Some(b)) = (x, shape_of(s, node, 1)) else {
                return one(None);
            };
            let ta = attrs::int(node, "transA").unwrap_or(0) != 0;
            let tb = attrs::int(node, "transB").unwrap_or(0) != 0;
            let m = a.get(usize::from(ta)).copied().flatten();
            let n = b.get(usize::from(!tb)).copied().flatten();
            one(Some(vec![m, n]))
        }
        "MatMul" | "MatMulInteger" | "QLinearMatMul" => {
            let (Some(a), Some(b)) = (x, shape_of(s, node, 1)) else {
                return one(None);
            };
            one(matmul_shape(&a, &b))
        }
        "Flatten" => {
            let Some(x) = x else { return one(None) };
            let Some(ax) = axis(attrs::int(node, "axis").unwrap_or(1), x.len() + 1) else {
                return one(None);
            };
            let prod = |d: &[Dim]| d.iter().try_fold(1i64, |acc, d| acc.checked_mul((*d)?));
            one(Some(vec![prod(&x[..ax]), prod(&x[ax..])]))
        }
        "Reshape" => {
            let Some(target) = ints_of(s, node, 1) else {
                return one(None);
            };
            let allowzero = attrs::int(node, "allowzero").unwrap_or(0) != 0;
            let mut v = shaped(reshape(x.as_deref(), &target, allowzero), e0);
            v.ints = ints_of(s, node, 0);
            vec![v]
        }
        "Transpose" => {
            let Some(x) = x else { return one(None) };
            let perm =
                attrs::ints(node, "perm").unwrap_or_else(|| (0..x.len() as i64).rev().collect());
            let out: Option<Vec<Dim>> = perm
                .iter()
                .map(|&p| usize::try_from(p).ok().and_then(|p| x.get(p).copied()))
                .collect();
            one(out.filter(|o| o.len() == x.len()))
        }
        "Concat" => {
            let shapes: Option<Vec<Vec<Dim>>> = (0..node.input.len())
                .map(|i| shape_of(s, node, i))
                .collect();
            let Some(shapes) = shapes else {
                return one(None);
            };
            let Some(firstshape) = shapes.first() else {
                return one(None);
            };
            let Some(ax) = axis(attrs::int(node, "axis").unwrap_or(0), firstshape.len()) else {
                return one(None);
            };
            let mut out = firstshape.clone();
            let total = shapes
                .iter()
                .try_fold(0i64, |acc, sh| acc.checked_add((*sh.get(ax)?)?));
            if let Some(slot) = out.get_mut(ax) {
                *slot = total;
            }
            let mut v = shaped(Some(out), e0);
            let all: Option<Vec<Vec<i64>>> =
                (0..node.input.len()).map(|i| ints_of(s, node, i)).collect();
            v.ints = all.map(|a| a.concat()).filter(|a| a.len() <= MAX_FOLD);
            vec![v]
        }
        "Shape" => {
            let rank = x.as_ref().map(|x| x.len() as i64);
            let (start, end) = (attrs::int(node, "start"), attrs::int(node, "end"));
            let range = rank.and_then(|r| slice_range(r, start.unwrap_or(0), end.unwrap_or(r)));
            let mut v = shaped(range.map(|(a, b)| vec![Some((b - a) as i64)]), dtype::INT64);
            if let (Some(x), Some((a, b))) = (&x, range) {
                v.ints = x.get(a..b).and_then(|d| d.iter().copied().collect());
            }
            vec![v]
        }
        "Size" => {
            let mut v = shaped(Some(vec![]), dtype::INT64);
            v.ints = get(s, node, 0)
                .and_then(|v| v.numel())
                .and_then(|n| i64::try_from(n).ok())
                .map(|n| vec![n]);
            vec![v]
        }
        "Constant" => vec![constant(node)],
        "ConstantOfShape" => {
            let dims = ints_of(s, node, 0);
            let fill = attrs::tensor(node, "value");
            let elem = fill.and_then(|t| t.data_type).unwrap_or(dtype::FLOAT);
            let mut v = shaped(
                dims.as_ref().map(|d| d.iter().map(|&x| Some(x)).collect()),
                elem,
            );
            let n = dims.as_ref().and_then(|d| crate::onnx::load::numel(d));
            if let Some(n) = n.filter(|&n| n as usize <= MAX_FOLD) {
                let f = fill
                    .and_then(tensor_ints)
                    .and_then(|v| v.first().copied())
                    .unwrap_or(0);
                v.ints = Some(vec![f; n as usize]);
            }
            vec![v]
        }
        "Gather" => {
            let (Some(data), Some(idx)) = (x, shape_of(s, node, 1)) else {
                return one(None);
            };
            let Some(ax) = axis(attrs::int(node, "axis").unwrap_or(0), data.len()) else {
                return one(None);
            };
            let mut out: Vec<Dim> = data[..ax].to_vec();
            out.extend(idx.iter().copied());
            out.extend(data.get(ax + 1..).unwrap_or(&[]).iter().copied());
            let mut v = shaped(Some(out), e0);
            if let (Some(d), Some(i), 0, 1) =
                (ints_of(s, node, 0), ints_of(s, node, 1), ax, data.len())
            {
                let n = d.len() as i64;
                v.ints = i
                    .iter()
                    .map(|&j| {
                        let j = if j < 0 { j.checked_add(n)? } else { j };
                        usize::try_from(j).ok().and_then(|j| d.get(j).copied())
                    })
                    .collect();
            }
            vec![v]
        }
        "Slice" => slice(node, s, opset, x, e0),
        "Squeeze" | "Unsqueeze" => {
            let axes = if opset >= 13 {
                ints_of(s, node, 1)
            } else {
                attrs::ints(node, "axes")
            };
            let out = x.and_then(|x| squeeze(op(node) == "Squeeze", &x, axes.as_deref()));
            let mut v = shaped(out, e0);
            v.ints = ints_of(s, node, 0);
            vec![v]
        }
        "Split" => split(node, s, opset, x, e0),
        "Expand" => {
            let target = ints_of(s, node, 1).map(|t| t.into_iter().map(Some).collect::<Vec<_>>());
            one(match (x, target) {
                (Some(x), Some(t)) => Some(broadcast(&x, &t)),
                _ => None,
            })
        }
        "Tile" => one(match (x, ints_of(s, node, 1)) {
            (Some(x), Some(r)) if r.len() == x.len() => Some(
                x.iter()
                    .zip(r)
                    .map(|(d, r)| d.and_then(|d| d.checked_mul(r)))
                    .collect(),
            ),
            _ => None,
        }),
        "Pad" => {
            let pads = if opset >= 11 {
                ints_of(s, node, 1)
            } else {
                attrs::ints(node, "pads")
            };
            one(match (x, pads) {
                (Some(x), Some(p)) if p.len() == 2 * x.len() => Some(
                    x.iter()
                        .enumerate()
                        .map(|(i, d)| {
                            (*d)?
                                .checked_add(*p.get(i)?)?
                                .checked_add(*p.get(i + x.len())?)
                        })
                        .collect(),
                ),
                _ => None,
            })
        }
        "Range" => {
            let (a, b, d) = (
                ints_of(s, node, 0),
                ints_of(s, node, 1),
                ints_of(s, node, 2),
            );
            let vals = match (a.as_deref(), b.as_deref(), d.as_deref()) {
                (Some([a]), Some([b]), Some([d])) if *d != 0 => {
                    let n = b.checked_sub(*a).and_then(|span| {
                        let n = span
                            .checked_div(*d)?
                            .checked_add(i64::from(span.checked_rem(*d)? != 0))?;
                        Some(n.max(0))
                    });
                    n.filter(|&n| n as usize <= MAX_FOLD).map(|n| {
                        (0..n)
                            .filter_map(|i| a.checked_add(i.checked_mul(*d)?))
                            .collect::<Vec<_>>()
                    })
                }
                _ => None,
            };
            let mut v = shaped(vals.as_ref().map(|v| vec![Some(v.len() as i64)]), e0);
            v.ints = vals;
            vec![v]
        }
        "ReduceMean" | "ReduceSum" | "ReduceMax" | "ReduceMin" | "ReduceProd" | "ReduceL1"
        | "ReduceL2" | "ReduceLogSumExp" | "ReduceSumSquare" | "ArgMax" | "ArgMin" => {
            let Some(x) = x else { return one(None) };
            let keep = attrs::int(node, "keepdims").unwrap_or(1) != 0;
            let is_arg = op(node).starts_with("Arg");
            // ReduceSum moved `axes` to an input at opset 13, the other reductions at 18.
            let axes_as_input = (op(node) == "ReduceSum" && opset >= 13) || opset >= 18;
            let axes = if is_arg {
                Some(vec![attrs::int(node, "axis").unwrap_or(0)])
            } else if axes_as_input {
                ints_of(s, node, 1).or_else(|| (node.input.len() < 2).then(Vec::new))
            } else {
                Some(attrs::ints(node, "axes").unwrap_or_default())
            };
            let Some(axes) = axes else { return one(None) };
            let noop = attrs::int(node, "noop_with_empty_axes").unwrap_or(0) != 0;
            let all: Vec<usize> = if axes.is_empty() {
                if noop {
                    vec![]
                } else {
                    (0..x.len()).collect()
                }
            } else {
                axes.iter().filter_map(|&a| axis(a, x.len())).collect()
            };
            let out: Vec<Dim> = x
                .iter()
                .enumerate()
                .filter_map(|(i, d)| match (all.contains(&i), keep) {
                    (true, true) => Some(Some(1)),
                    (true, false) => None,
                    (false, _) => Some(*d),
                })
                .collect();
            let elem = if is_arg { dtype::INT64 } else { e0 };
            vec![shaped(Some(out), elem)]
        }
        "Resize" | "Upsample" => {
            let Some(x) = x else { return one(None) };
            let sizes = ints_of(s, node, 3).filter(|v| v.len() == x.len());
            if let Some(sz) = sizes {
                return one(Some(sz.into_iter().map(Some).collect()));
            }
            // Output dim = floor(input dim * scale) (ONNX Resize/Upsample spec).
            let scale_input = if op(node) == "Upsample" { 1 } else { 2 };
            let scales = get(s, node, scale_input)
                .and_then(|v| v.floats.clone())
                .filter(|f| f.len() == x.len());
            let Some(scales) = scales else {
                return one(None);
            };
            one(Some(
                x.iter()
                    .zip(scales)
                    .map(|(d, f)| {
                        let v = (*d)? as f64 * f;
                        (v.is_finite() && v >= 0.0 && v < i64::MAX as f64).then(|| v.floor() as i64)
                    })
                    .collect(),
            ))
        }
        "DepthToSpace" | "SpaceToDepth" => {
            let Some(x) = x else { return one(None) };
            let b = attrs::int(node, "blocksize").unwrap_or(1);
            let bb = b.checked_mul(b);
            let up = op(node) == "DepthToSpace";
            one(match (x.as_slice(), bb) {
                ([n, c, h, w], Some(bb)) if bb > 0 => Some(if up {
                    vec![
                        *n,
                        c.map(|c| c / bb),
                        h.and_then(|h| h.checked_mul(b)),
                        w.and_then(|w| w.checked_mul(b)),
                    ]
                } else {
                    vec![
                        *n,
                        c.and_then(|c| c.checked_mul(bb)),
                        h.map(|h| h / b),
                        w.map(|w| w / b),
                    ]
                }),
                _ => None,
            })
        }
        _ => vec![],
    }
}

fn constant(node: &NodeProto) -> Value {
    if let Some(t) = attrs::tensor(node, "value") {
        return Value {
            shape: Some(t.dims.iter().map(|&d| Some(d)).collect()),
            ints: tensor_ints(t).filter(|v| v.len() <= MAX_FOLD),
            floats: tensor_floats(t, 16),
            elem: t.data_type.unwrap_or(0),
        };
    }
    if let Some(i) = attrs::int(node, "value_int") {
        return Value {
            shape: Some(vec![]),
            ints: Some(vec![i]),
            floats: None,
            elem: dtype::INT64,
        };
    }
    if let Some(v) = attrs::ints(node, "value_ints") {
        return Value {
            shape: Some(vec![Some(v.len() as i64)]),
            ints: Some(v).filter(|v| v.len() <= MAX_FOLD),
            floats: None,
            elem: dtype::INT64,
        };
    }
    if attrs::float(node, "value_float").is_some() {
        return Value {
            shape: Some(vec![]),
            ints: None,
            floats: None,
            elem: dtype::FLOAT,
        };
    }
    if let Some(a) = node
        .attribute
        .iter()
        .find(|a| a.name.as_deref() == Some("value_floats"))
    {
        return Value {
            shape: Some(vec![Some(a.floats.len() as i64)]),
            ints: None,
            floats: (a.floats.len() <= 16)
                .then(|| a.floats.iter().map(|&f| f64::from(f)).collect()),
            elem: dtype::FLOAT,
        };
    }
    Value::default()
}

/// Float values of a `Constant` node, for findings that look at constants.
pub fn constant_floats(node: &NodeProto) -> Option<Vec<f64>> {
    attrs::tensor(node, "value").and_then(|t| tensor_floats(t, 1 << 20))
}

fn slice(node: &NodeProto, s: &Shapes, opset: i64, x: Option<Vec<Dim>>, e0: i32) -> Vec<Value> {
    let Some(x) = x else {
        return vec![shaped(None, e0)];
    };
    let (starts, ends, axes, steps) = if opset >= 10 {
        (
            ints_of(s, node, 1),
            ints_of(s, node, 2),
            ints_of(s, node, 3),
            ints_of(s, node, 4),
        )
    } else {
        (
            attrs::ints(node, "starts"),
            attrs::ints(node, "ends"),
            attrs::ints(node, "axes"),
            None,
        )
    };
    let (Some(starts), Some(ends)) = (starts, ends) else {
        return vec![shaped(None, e0)];
    };
    let axes = axes
        .filter(|_| node.input.get(3).is_some_and(|n| !n.is_empty()) || opset < 10)
        .unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
    let mut out = x.clone();
    let mut values = get(s, node, 0).and_then(|v| v.ints.clone());
    for (i, &a) in axes.iter().enumerate() {
        let (Some(ax), Some(&st), Some(&en), Some(&step)) =
            (axis(a, x.len()), starts.get(i), ends.get(i), steps.get(i))
        else {
            return vec![shaped(None, e0)];
        };
        let Some(dim) = x.get(ax).copied().flatten() else {
            out[ax] = None;
            values = None;
            continue;
        };
        let Some((len, first)) = slice_len(dim, st, en, step) else {
            return vec![shaped(None, e0)];
        };
        out[ax] = Some(len);
        if x.len() == 1 {
            values = values.map(|v| {
                (0..len)
                    .filter_map(|k| {
                        let idx = first.checked_add(k.checked_mul(step)?)?;
                        usize::try_from(idx).ok().and_then(|i| v.get(i).copied())
                    })
                    .collect()
            });
        } else {
            values = None;
        }
    }
    let mut v = shaped(Some(out), e0);
    v.ints = values;
    vec![v]
}

/// Length and first index of `range(start, end, step)` clamped to a dim, as numpy slices.
fn split(node: &NodeProto, s: &Shapes, opset: i64, x: Option<Vec<Dim>>, e0: i32) -> Vec<Value> {
    let n = node.output.len();
    let Some(x) = x else {
        return vec![shaped(None, e0); n];
    };
    let Some(ax) = axis(attrs::int(node, "axis").unwrap_or(0), x.len()) else {
        return vec![shaped(None, e0); n];
    };
    let parts = if opset >= 13 {
        ints_of(s, node, 1)
    } else {
        attrs::ints(node, "split")
    };
    let sizes: Vec<Dim> = match (parts, x.get(ax).copied().flatten()) {
        (Some(p), _) if p.len() == n => p.into_iter().map(Some).collect(),
        (_, Some(d)) if n > 0 => {
            let n = n as i64;
            let chunk = d.saturating_add(n - 1) / n;
            (0..n)
                .map(|i| Some(d.saturating_sub(i.saturating_mul(chunk)).clamp(0, chunk)))
                .collect()
        }
        _ => vec![None; n],
    };
    sizes
        .into_iter()
        .map(|d| {
            let mut sh = x.clone();
            sh[ax] = d;
            shaped(Some(sh), e0)
        })
        .collect()
}
