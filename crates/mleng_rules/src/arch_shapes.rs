//! Activation shapes through a model map, for `mleng arch --input-shape ... --batch ...`.
//!
//! The map lists layers in the order `forward` first uses them; this follows one sample's
//! shape through them as a chain, which is right for the usual stack of convolutions,
//! normalisations, activations, pooling and linear layers. A layer it has no rule for, an
//! argument that is not a literal, or a shape that does not fit the next layer stops it with
//! the reason, and the caller reports activations as unknown: never a guessed number. What a
//! layer keeps for backward follows the rules of `mleng_models::onnx::train` (convolutions,
//! linear layers and normalisations keep their input, activations their output, dropout a
//! one-byte mask, max pooling its input and int64 indices).

use mleng_knowledge::params::{self, Arg};

use crate::arch::{LayerRow, ModelMap};

/// Elements one sample keeps for backward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Kept {
    /// Stored at the activation precision.
    pub elements: u64,
    /// Stored as one byte each (dropout masks, and max-pool indices as 8 bytes per index).
    pub byte_elements: u64,
    /// The model's output, which the loop holds and the loss turns into fp32 log-probabilities.
    pub output_elements: u64,
}

/// A layer's argument values, looked up by keyword or by position.
struct Args<'a> {
    values: &'a [(String, Arg)],
    text: &'a str,
    names: &'static [&'static str],
}

impl<'a> Args<'a> {
    fn new(layer: &'a LayerRow) -> Args<'a> {
        Args {
            values: &layer.values,
            text: &layer.args,
            names: params::layer(&layer.layer_type).map_or(&[], |s| s.positional),
        }
    }

    fn get(&self, name: &str, position: Option<usize>) -> Option<&'a Arg> {
        let find = |key: &str| self.values.iter().find(|(k, _)| k == key).map(|(_, v)| v);
        find(name).or_else(|| {
            let i = position.or_else(|| self.names.iter().position(|n| *n == name))?;
            find(&format!("#{i}"))
        })
    }

    /// A literal integer or tuple of integers; `Ok(None)` when not passed.
    fn ints(&self, name: &str, position: Option<usize>) -> Result<Option<Vec<u64>>, String> {
        let whole = |v: &f64| {
            (v.fract() == 0.0 && *v >= 0.0)
                .then_some(*v as u64)
                .ok_or_else(|| format!("{name}={v} is not a whole number"))
        };
        match self.get(name, position) {
            None | Some(Arg::Missing) | Some(Arg::None) => Ok(None),
            Some(Arg::Number(v)) => Ok(Some(vec![whole(v)?])),
            Some(Arg::Numbers(vs)) => vs.iter().map(whole).collect::<Result<_, _>>().map(Some),
            Some(_) => Err(format!("{name} is not a literal")),
        }
    }

    fn int(&self, name: &str, position: Option<usize>) -> Result<Option<u64>, String> {
        Ok(self.ints(name, position)?.and_then(|v| v.first().copied()))
    }
}

/// Per spatial dim: `(n + 2p - d(k - 1) - 1) / s + 1`, PyTorch's formula for conv and pooling.
fn window(dims: &[u64], k: &[u64], s: &[u64], p: &[u64], d: &[u64]) -> Result<Vec<u64>, String> {
    let pick = |v: &[u64], i: usize| v.get(i).or(v.first()).copied().unwrap_or(0);
    dims.iter()
        .enumerate()
        .map(|(i, &n)| {
            let span = pick(d, i).max(1) * (pick(k, i).max(1) - 1) + 1;
            let padded = n + 2 * pick(p, i);
            if padded < span {
                return Err(format!("kernel larger than the input ({n})"));
            }
            Ok((padded - span) / pick(s, i).max(1) + 1)
        })
        .collect()
}

/// Follow one sample of shape `input` (without the batch dim) through the map's layers.
pub fn kept_per_sample(map: &ModelMap, input: &[u64]) -> Result<Kept, String> {
    let mut shape = input.to_vec();
    let numel = |s: &[u64]| s.iter().product::<u64>();
    let mut kept = Kept::default();
    // Whether the current tensor is already counted (a ReLU's output that the next conv keeps).
    let mut counted = false;
    for layer in map.layers.iter().filter(|l| l.used_in_forward) {
        let t = layer.layer_type.as_str();
        let a = Args::new(layer);
        let why = |e: String| format!("`{}` ({t}): {e}", layer.name);
        let keep_input = |kept: &mut Kept, counted: bool, s: &[u64]| {
            if !counted {
                kept.elements += numel(s);
            }
        };
        match t {
            "Conv1d" | "Conv2d" | "Conv3d" => {
                let rank = (t.as_bytes()[4] - b'0') as usize;
                if shape.len() != rank + 1 {
                    return Err(why(format!("expects {} dims, has {:?}", rank + 1, shape)));
                }
                let out = a
                    .int("out_channels", None)
                    .map_err(why)?
                    .ok_or_else(|| why("out_channels not given".into()))?;
                let k = a
                    .ints("kernel_size", None)
                    .map_err(why)?
                    .unwrap_or_default();
                let s = a.ints("stride", None).map_err(why)?.unwrap_or(vec![1]);
                let p = if a.text.contains("\"same\"") || a.text.contains("'same'") {
                    k.iter().map(|k| k / 2).collect()
                } else {
                    a.ints("padding", None).map_err(why)?.unwrap_or(vec![0])
                };
                let d = a.ints("dilation", None).map_err(why)?.unwrap_or(vec![1]);
                keep_input(&mut kept, counted, &shape);
                let spatial = window(&shape[1..], &k, &s, &p, &d).map_err(why)?;
                shape = std::iter::once(out).chain(spatial).collect();
                counted = false;
            }
            "Linear" => {
                let fan_in = a.int("in_features", None).map_err(why)?;
                let fan_out = a
                    .int("out_features", None)
                    .map_err(why)?
                    .ok_or_else(|| why("out_features not given".into()))?;
                // forward flattens before the first Linear more often than not.
                if shape.last().copied() != fan_in && Some(numel(&shape)) == fan_in {
                    shape = vec![numel(&shape)];
                }
                if fan_in.is_some_and(|f| shape.last().copied() != Some(f)) {
                    return Err(why(format!(
                        "in_features does not match the shape {shape:?}"
                    )));
                }
                keep_input(&mut kept, counted, &shape);
                if let Some(last) = shape.last_mut() {
                    *last = fan_out;
                }
                counted = false;
            }
            "BatchNorm1d" | "BatchNorm2d" | "BatchNorm3d" | "LayerNorm" | "GroupNorm"
            | "InstanceNorm1d" | "InstanceNorm2d" | "InstanceNorm3d" => {
                keep_input(&mut kept, counted, &shape);
                counted = false;
            }
            "ReLU" | "ReLU6" | "Sigmoid" | "Tanh" | "GELU" | "SiLU" | "LeakyReLU" | "ELU"
            | "Mish" | "Hardswish" | "Softmax" | "LogSoftmax" | "PReLU" => {
                // Whether backward needs the input or the output, one tensor of this size.
                kept.elements += numel(&shape);
                counted = true;
            }
            "Dropout" | "Dropout1d" | "Dropout2d" | "Dropout3d" => {
                kept.byte_elements += numel(&shape);
                counted = false;
            }
            "MaxPool1d" | "MaxPool2d" | "MaxPool3d" | "AvgPool1d" | "AvgPool2d" | "AvgPool3d" => {
                let k = a
                    .ints("kernel_size", Some(0))
                    .map_err(why)?
                    .ok_or_else(|| why("kernel_size not given".into()))?;
                let s = a.ints("stride", Some(1)).map_err(why)?.unwrap_or(k.clone());
                let p = a.ints("padding", Some(2)).map_err(why)?.unwrap_or(vec![0]);
                if shape.len() < 2 {
                    return Err(why(format!(
                        "needs a channel and spatial dims, has {shape:?}"
                    )));
                }
                let spatial = window(&shape[1..], &k, &s, &p, &[1]).map_err(why)?;
                let out: Vec<u64> = std::iter::once(shape[0]).chain(spatial).collect();
                if t.starts_with("Max") {
                    keep_input(&mut kept, counted, &shape);
                    kept.byte_elements += 8 * numel(&out);
                }
                shape = out;
                counted = false;
            }
            "AdaptiveAvgPool1d" | "AdaptiveAvgPool2d" | "AdaptiveAvgPool3d" => {
                let size = a
                    .ints("output_size", Some(0))
                    .map_err(why)?
                    .ok_or_else(|| why("output_size not given".into()))?;
                let rank = shape.len().saturating_sub(1);
                let pick = |i: usize| size.get(i).or(size.first()).copied().unwrap_or(1);
                shape = std::iter::once(shape[0])
                    .chain((0..rank).map(pick))
                    .collect();
                counted = false;
            }
            "Flatten" => {
                shape = vec![numel(&shape)];
            }
            "Identity" => {}
            other => {
                return Err(format!(
                    "`{}` ({other}): no shape rule for this layer",
                    layer.name
                ))
            }
        }
    }
    kept.output_elements = numel(&shape);
    if !counted {
        kept.elements += kept.output_elements;
    }
    Ok(kept)
}
