//! One pass over a tensor's values: counts of NaN/Inf/zeros, min/max/mean/std over finite
//! values, L2 norm, and per-output-channel norm and maximum (for dead-channel findings).

use super::{Checkpoint, DType, TensorMeta};
use crate::error::Result;

/// Largest finite float16 value; a value this large has no headroom left.
pub const F16_MAX: f64 = 65504.0;
/// Channels tracked per tensor; more than this is not a channel dimension worth reporting.
const MAX_CHANNELS: u64 = 1 << 20;

#[derive(Debug, Clone, serde::Serialize)]
pub struct TensorStats {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<u64>,
    pub numel: u64,
    pub nan: u64,
    pub inf: u64,
    pub zeros: u64,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub std: f64,
    pub l2: f64,
    pub max_abs: f64,
    /// float16 values within 1% of the largest finite float16 (or infinite).
    pub f16_at_limit: u64,
    #[serde(skip)]
    pub channel_l2: Vec<f64>,
    #[serde(skip)]
    pub channel_max: Vec<f64>,
}

impl TensorStats {
    pub fn zero_fraction(&self) -> f64 {
        if self.numel == 0 {
            0.0
        } else {
            self.zeros as f64 / self.numel as f64
        }
    }
    pub fn non_finite(&self) -> u64 {
        self.nan.saturating_add(self.inf)
    }
}

#[derive(Default)]
struct Acc {
    n: u64,
    nan: u64,
    inf: u64,
    zeros: u64,
    min: f64,
    max: f64,
    sum: f64,
    sumsq: f64,
    near_limit: u64,
}

impl Acc {
    fn new() -> Acc {
        Acc {
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            ..Acc::default()
        }
    }

    /// The hot loop of checkpoint reading: finite values take one predictable branch.
    #[inline]
    fn add(&mut self, v: f64) {
        if v.is_finite() {
            if v == 0.0 {
                self.zeros += 1;
            }
            if v.abs() >= F16_MAX * 0.99 {
                self.near_limit += 1;
            }
            if v < self.min {
                self.min = v;
            }
            if v > self.max {
                self.max = v;
            }
            self.n += 1;
            self.sum += v;
            self.sumsq += v * v;
        } else if v.is_nan() {
            self.nan += 1;
        } else {
            self.inf += 1;
            self.near_limit += 1;
        }
    }

    fn merge(&mut self, o: &Acc) {
        self.n += o.n;
        self.nan += o.nan;
        self.inf += o.inf;
        self.zeros += o.zeros;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        self.sum += o.sum;
        self.sumsq += o.sumsq;
        self.near_limit += o.near_limit;
    }
}

pub fn compute(ck: &Checkpoint, t: &TensorMeta) -> Result<TensorStats> {
    let bytes = ck.bytes(t)?;
    let size = t.dtype.size();
    let channels = match t.shape.first() {
        Some(&c) if c > 0 && c <= MAX_CHANNELS && t.numel > 0 => c,
        _ => 1,
    };
    let per = (t.numel / channels).max(1);
    let chunk = usize::try_from(per)
        .unwrap_or(usize::MAX)
        .saturating_mul(size);
    let mut acc = Acc::new();
    let mut channel_l2 = Vec::with_capacity(channels as usize);
    let mut channel_max = Vec::with_capacity(channels as usize);
    for part in bytes.chunks(chunk.max(size)) {
        // Per-channel sums are kept apart so a ~0 channel is not lost in a large total.
        let mut local = Acc::new();
        t.dtype.for_each(part, |v| local.add(v));
        if channels > 1 {
            channel_l2.push(local.sumsq.sqrt());
            channel_max.push(if local.inf > 0 {
                f64::INFINITY
            } else {
                local.max
            });
        }
        acc.merge(&local);
    }
    let n = acc.n.max(1) as f64;
    let mean = acc.sum / n;
    let var = (acc.sumsq / n - mean * mean).max(0.0);
    let finite = acc.n > 0;
    Ok(TensorStats {
        name: t.name.clone(),
        dtype: t.dtype,
        shape: t.shape.clone(),
        numel: t.numel,
        nan: acc.nan,
        inf: acc.inf,
        zeros: acc.zeros,
        min: if finite { acc.min } else { f64::NAN },
        max: if finite { acc.max } else { f64::NAN },
        mean: if finite { mean } else { f64::NAN },
        std: if finite { var.sqrt() } else { f64::NAN },
        l2: acc.sumsq.sqrt(),
        max_abs: if finite {
            acc.min.abs().max(acc.max.abs())
        } else {
            f64::NAN
        },
        f16_at_limit: if t.dtype == DType::F16 {
            acc.near_limit
        } else {
            0
        },
        channel_l2,
        channel_max,
    })
}
