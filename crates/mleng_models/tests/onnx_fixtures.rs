//! The accuracy bar of issue 8, against the real exports in `shared/fixtures/onnx`:
//! stored weight elements equal `onnx_weight_elements` exactly, and conv+matmul FLOPs agree
//! with PyTorch's `FlopCounterMode` (`torch_flops_total`) within 1%, for both exporters.

use std::path::PathBuf;

use mleng_models::onnx::{inspect_path, GraphOptions};

fn fixtures() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures/onnx"
    ))
}

fn cases() -> Vec<(PathBuf, serde_json::Value)> {
    let mut out = Vec::new();
    let dir = fixtures();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        panic!("fixtures not found at {}", dir.display());
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
        .collect();
    paths.sort();
    for p in paths {
        let truth = p.with_extension("truth.json");
        let text = std::fs::read_to_string(&truth).unwrap();
        out.push((p, serde_json::from_str(&text).unwrap()));
    }
    out
}

#[test]
fn weight_elements_and_flops_match_pytorch() {
    let cases = cases();
    assert_eq!(cases.len(), 16, "expected 16 ONNX fixtures");
    let mut failures = Vec::new();
    println!("| fixture | weight elements | truth | FLOPs (conv+linear) | torch FLOPs | error % | attention FLOPs | params (torch) | per-use elements | folded |");
    for (path, truth) in &cases {
        let input: Vec<i64> = truth["input_shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        let opts = GraphOptions {
            input_shape: Some(input),
            ..GraphOptions::default()
        };
        let r = inspect_path(path, &opts).unwrap();
        let want_elems = truth["onnx_weight_elements"].as_u64().unwrap();
        let want_flops = truth["torch_flops_total"].as_u64().unwrap();
        // The fixtures' counter saw no attention op (SDPA ran a CPU kernel FlopCounterMode
        // has no formula for): compare like with like and show attention on its own.
        let global = truth["torch_flops_by_module"]["Global"]
            .as_object()
            .unwrap();
        let torch_has_attention = global.keys().any(|k| k.contains("attention"));
        let ours = if torch_has_attention {
            r.total_flops
        } else {
            r.total_flops - r.flops_attention
        };
        let params = truth["params"].as_u64().unwrap();
        let err = (ours as f64 - want_flops as f64).abs() / want_flops as f64 * 100.0;
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        println!(
            "| {name} | {} | {want_elems} | {ours} | {want_flops} | {err:.3} | {} | {params} | {} | {} |",
            r.weights.stored_float_elements, r.flops_attention, r.weights.per_use_elements, r.folded_norm.likely
        );
        if r.weights.stored_float_elements != want_elems {
            failures.push(format!(
                "{name}: weight elements {} != {want_elems}",
                r.weights.stored_float_elements
            ));
        }
        if err > 1.0 {
            failures.push(format!(
                "{name}: FLOPs {ours} vs {want_flops} ({err:.2}%), uncounted {:?}, unresolved {:?}",
                r.uncounted, r.unresolved_ops
            ));
        }
        // Where PyTorch counts more than the graph stores, the reader must explain why.
        if params > want_elems && !r.folded_norm.likely && r.weights.per_use_elements <= want_elems
        {
            failures.push(format!("{name}: params {params} > stored {want_elems} but neither folding nor sharing detected"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
