//! What each `mleng inspect` check finds, for `mleng explain ONX0xx` / `CKP0xx`. Thresholds,
//! severities and references are in `docs/inspect.md`; the checks are in `onnx/review.rs` and
//! `ckpt/review.rs`.

/// (code, name, what it finds).
pub const CHECKS: &[(&str, &str, &str)] = &[
    ("ONX001", "external-weights-missing", "External data file absent; counts from dims."),
    ("ONX002", "external-data-outside-folder", "`..`, absolute or symlinked location refused, never read."),
    ("ONX003", "external-data-broken", "Offset/length past the data file or not matching the dims."),
    ("ONX004", "batchnorm-after-dropout", "BatchNorm fed by Dropout (Li et al., CVPR 2019; source rule ARC001); info when a TorchScript export dropped the Dropout but left a module-index gap (`head.0` Gemm -> `head.2` BatchNorm)."),
    ("ONX005", "softmax-at-output", "Graph ends in Softmax: double softmax if trained with `CrossEntropyLoss` (PyTorch docs)."),
    ("ONX006", "linear-chain-without-nonlinearity", "Conv/Gemm/MatMul chains with only affine ops between; deliberate bottlenecks (middle width <= both ends, MobileNetV2's linear bottleneck) are not flagged."),
    ("ONX007", "bias-before-batchnorm", "Bias cancelled by BN's mean subtraction (Ioffe & Szegedy 2015, sec. 3.2)."),
    ("ONX008", "unfused-batchnorm", "Conv/Gemm + BatchNormalization left separate in an inference graph."),
    ("ONX009", "dynamic-shapes", "Symbolic input dims, or Shape/ConstantOfShape subgraphs computing static shapes at run time."),
    ("ONX010", "large-initializer", "A single initializer >= 256 MiB."),
    ("ONX011", "batchnorm-folded", "BatchNorm folded at export: PyTorch's parameter count will be larger."),
    ("ONX012", "shapes-not-inferred", "Counted layers without shapes (pass `--input-shape`)."),
    ("ONX013", "training-mode-export", "Dropout nodes present (exported without `model.eval()`)."),
    ("ONX014", "slow-path-ops", "Loop/If/Scan/NonZero/ScatterND/GridSample/Einsum/custom domains: fallbacks in TensorRT/ONNX Runtime EPs (onnx-tensorrt `docs/operators.md`, onnxruntime.ai execution-provider docs)."),
    ("ONX015", "model-local-functions", "Nodes calling `FunctionProto`s defined in the model: not inlined, so their FLOPs are missing."),
    ("CKP001", "non-finite-weights", "NaN/Inf in a weight."),
    ("CKP002", "exploded-weights", "Weight std > 10x He-init std `sqrt(2/fan_in)` (He et al. 2015)."),
    ("CKP003", "exploded-batchnorm-stats", "Running_var > 1e6, negative, or abs(running_mean) > 1e3."),
    ("CKP004", "all-zero-tensor", "An all-zero `weight`."),
    ("CKP005", "dead-channels", "BN channels with abs(gamma) < 1e-5 (Liu et al. 2017, network slimming), or conv/linear output filters with norm < 1e-6 x median."),
    ("CKP006", "dead-relu-units", "Units whose weights and bias are all <= 0: provably never active on non-negative (post-ReLU) input; only for layers with a bias and not the first layer."),
    ("CKP007", "mixed-dtypes", "Weights in several float dtypes."),
    ("CKP008", "fp16-overflow-limit", "Float16 values within 1% of 65504 or infinite."),
];

pub fn find(code: &str) -> Option<(&'static str, &'static str, &'static str)> {
    CHECKS
        .iter()
        .copied()
        .find(|(c, _, _)| c.eq_ignore_ascii_case(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code the checks emit is described, and nothing else is.
    #[test]
    fn catalog_matches_the_codes_in_the_source() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut used = std::collections::BTreeSet::new();
        for file in ["onnx/review.rs", "ckpt/review.rs"] {
            let text = std::fs::read_to_string(root.join(file)).unwrap();
            for (i, _) in text.match_indices('"') {
                let code = text.get(i + 1..i + 7).unwrap_or("");
                let closes = text.get(i + 7..i + 8) == Some("\"");
                if closes && (code.starts_with("ONX") || code.starts_with("CKP")) {
                    used.insert(code.to_string());
                }
            }
        }
        let listed: std::collections::BTreeSet<String> =
            CHECKS.iter().map(|c| c.0.to_string()).collect();
        assert_eq!(used, listed);
    }
}
