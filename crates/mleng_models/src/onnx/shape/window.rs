//! Sliding-window geometry shared by convolution and pooling (ONNX Conv/MaxPool spec).

use super::Dim;
use crate::onnx::attrs;
use crate::onnx::proto::NodeProto;

#[allow(clippy::too_many_arguments)]
fn window_out(
    size: i64,
    k: i64,
    stride: i64,
    dil: i64,
    pb: i64,
    pe: i64,
    auto_pad: &str,
    ceil: bool,
) -> Option<i64> {
    if stride <= 0 {
        return None;
    }
    let eff = k.checked_sub(1)?.checked_mul(dil)?.checked_add(1)?;
    match auto_pad {
        "SAME_UPPER" | "SAME_LOWER" => size.checked_add(stride - 1).map(|v| v / stride),
        "VALID" => {
            let span = size.checked_sub(eff)?;
            (span >= 0)
                .then(|| (span / stride).checked_add(1))
                .flatten()
        }
        _ => {
            let span = size.checked_add(pb)?.checked_add(pe)?.checked_sub(eff)?;
            if span < 0 {
                return None;
            }
            if ceil {
                let mut out = (span.checked_add(stride - 1)? / stride).checked_add(1)?;
                // A window may not start inside the end padding (PyTorch's rule).
                if (out - 1).checked_mul(stride)? >= size.checked_add(pb)? {
                    out -= 1;
                }
                Some(out)
            } else {
                (span / stride).checked_add(1)
            }
        }
    }
}

pub(super) struct Window {
    pub(super) kernel: Vec<i64>,
    pub(super) strides: Vec<i64>,
    pub(super) dilations: Vec<i64>,
    pub(super) pads: Vec<i64>,
    pub(super) auto_pad: String,
}

pub(super) fn window(node: &NodeProto, kernel: Vec<i64>) -> Window {
    let k = kernel.len();
    let strides = attrs::ints(node, "strides").filter(|v| v.len() == k);
    let dilations = attrs::ints(node, "dilations").filter(|v| v.len() == k);
    let pads = attrs::ints(node, "pads").filter(|v| v.len() == 2 * k);
    Window {
        kernel,
        strides: strides.unwrap_or_else(|| vec![1; k]),
        dilations: dilations.unwrap_or_else(|| vec![1; k]),
        pads: pads.unwrap_or_else(|| vec![0; 2 * k]),
        auto_pad: attrs::string(node, "auto_pad").unwrap_or_default(),
    }
}

pub(super) fn spatial(x: &[Dim], w: &Window, ceil: bool) -> Vec<Dim> {
    let k = w.kernel.len();
    (0..k)
        .map(|i| {
            let size = (*x.get(i + 2)?)?;
            window_out(
                size,
                *w.kernel.get(i)?,
                *w.strides.get(i)?,
                *w.dilations.get(i)?,
                *w.pads.get(i)?,
                *w.pads.get(i + k)?,
                &w.auto_pad,
                ceil,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_formula_matches_conv_and_ceil_pool() {
        // 224 input, 7x7 stride 2 pad 3 -> 112 (ResNet stem).
        assert_eq!(window_out(224, 7, 2, 1, 3, 3, "", false), Some(112));
        // 112, 3x3 s2 p1 -> 56
        assert_eq!(window_out(112, 3, 2, 1, 1, 1, "", false), Some(56));
        // ceil mode: 5, k2 s2 -> 3
        assert_eq!(window_out(5, 2, 2, 1, 0, 0, "", true), Some(3));
        assert_eq!(window_out(10, 3, 0, 1, 0, 0, "", false), None);
    }
}
