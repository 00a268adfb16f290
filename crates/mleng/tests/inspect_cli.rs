//! `mleng inspect` end to end on the shared fixtures: formats, exit codes, refusals, --diff.

use std::path::PathBuf;

use assert_cmd::Command;

fn fixtures() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures"
    ))
}

fn mleng() -> Command {
    Command::cargo_bin("mleng").unwrap()
}

fn stdout(args: &[&str]) -> (i32, String, String) {
    let out = mleng().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn onnx_text_report_has_counts_tables_and_findings() {
    let f = fixtures().join("onnx/tv_resnet18.legacy.onnx");
    let (code, out, _) = stdout(&["inspect", f.to_str().unwrap()]);
    assert_eq!(code, 0);
    for want in [
        "11,680,872 float elements",
        "3.63 G FLOPs",
        "Bottlenecks",
        "Layers by cost",
        "ONX001",
        "ONX011",
        "missing",
    ] {
        assert!(out.contains(want), "missing `{want}` in:\n{out}");
    }
}

#[test]
fn json_output_is_machine_readable() {
    let f = fixtures().join("onnx/timm_vit_tiny_patch16_224.dynamo.onnx");
    let (code, out, _) = stdout(&["inspect", f.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let g = &v["graphs"][0];
    assert_eq!(g["weights"]["stored_float_elements"], 5_687_812);
    assert_eq!(
        g["flops_conv"].as_u64().unwrap() + g["flops_linear"].as_u64().unwrap(),
        2_149_702_656
    );
    assert_eq!(g["flops_attention"], 357_663_744);
}

#[test]
fn findings_only_formats_for_ci() {
    let f = fixtures().join("onnx/smallcnn_final_softmax.legacy.onnx");
    let (code, out, _) = stdout(&["inspect", f.to_str().unwrap(), "--format", "sarif"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["version"], "2.1.0");
    let run = &v["runs"][0];
    let rules: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"ONX005"), "{rules:?}");
    assert!(run["results"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["ruleId"] == "ONX005"));
    let (code, out, _) = stdout(&["inspect", f.to_str().unwrap(), "--format", "concise"]);
    assert_eq!(code, 0);
    assert!(out.lines().any(|l| l.contains("ONX005 [info]")), "{out}");
    let (_, out, _) = stdout(&["inspect", f.to_str().unwrap(), "--format", "github"]);
    assert!(
        out.contains("::notice") && out.contains("title=ONX005"),
        "{out}"
    );
}

#[test]
fn markdown_checkpoint_report() {
    let f = fixtures().join("ckpt/smallcnn_healthy.safetensors");
    let (code, out, _) = stdout(&["inspect", f.to_str().unwrap(), "--format", "markdown"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("| layer | kind |")
            && out.contains("features.0.weight")
            && out.contains("151,658"),
        "{out}"
    );
}

#[test]
fn fail_on_gate_and_usage_errors() {
    let f = fixtures().join("onnx/tv_resnet18.legacy.onnx");
    let (code, _, _) = stdout(&["inspect", f.to_str().unwrap(), "--fail-on", "warning"]);
    assert_eq!(code, 1, "ONX001 (warning) must trip --fail-on warning");
    let (code, _, _) = stdout(&["inspect", f.to_str().unwrap(), "--fail-on", "error"]);
    assert_eq!(code, 0);
    let (code, _, err) = stdout(&["inspect", "/nonexistent/model.onnx"]);
    assert_eq!(code, 2);
    assert!(err.contains("no such file"), "{err}");
    let (code, _, err) = stdout(&["inspect", f.to_str().unwrap(), "--input-shape", "1xAx3"]);
    assert_eq!(code, 2);
    assert!(err.contains("input-shape"), "{err}");
}

#[test]
fn malicious_pickle_is_refused_with_exit_2() {
    let f = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../mleng_models/tests/data/os_system.pt"
    ));
    let (code, out, err) = stdout(&["inspect", f.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(
        err.contains("refused global `posix.system`") || err.contains("os.system"),
        "{err}"
    );
}

#[test]
fn diff_of_the_same_weights_in_two_formats_is_zero() {
    let a = fixtures().join("ckpt/smallcnn_healthy.safetensors");
    let b = fixtures().join("ckpt/smallcnn_healthy.pt");
    let (code, out, _) = stdout(&[
        "inspect",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--diff",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["diff"]["matched"], 18);
    assert_eq!(v["diff"]["trained_params"], 0);
    let (code, _, err) = stdout(&["inspect", a.to_str().unwrap(), "--diff"]);
    assert_eq!(code, 2);
    assert!(err.contains("exactly two"), "{err}");
}

#[test]
fn folder_skips_foreign_bin_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixtures().join("onnx/smallcnn_ok.legacy.onnx"),
        dir.path().join("m.onnx"),
    )
    .unwrap();
    std::fs::copy(
        fixtures().join("ckpt/tiny_bf16.safetensors"),
        dir.path().join("w.safetensors"),
    )
    .unwrap();
    std::fs::write(dir.path().join("tokenizer.bin"), b"not a checkpoint").unwrap();
    let (code, out, err) = stdout(&["inspect", dir.path().to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["graphs"].as_array().unwrap().len(), 1);
    assert_eq!(v["checkpoints"].as_array().unwrap().len(), 1);
}

#[test]
fn train_estimates_training_memory_of_a_graph() {
    let f = fixtures().join("onnx/smallcnn_ok.legacy.onnx");
    let f = f.to_str().unwrap();
    let (code, out, err) = stdout(&[
        "inspect",
        f,
        "--train",
        "--batch",
        "16",
        "--optimizer",
        "sgd-momentum",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("training memory (batch 16, sgd-momentum, fp32;"),
        "{out}"
    );
    assert!(out.contains("dominant: CUDA context"), "{out}");
    let (code, out, _) = stdout(&["inspect", f, "--train", "--batch", "16", "--format", "json"]);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let t = &json["graphs"][0]["training"];
    let params = t["params"].as_u64().unwrap();
    assert_eq!(t["optimizer_state"].as_u64().unwrap(), params * 8);
    let acts = t["activations"].as_u64().unwrap();
    // Sixteen 1x8x8 digits keep more than their inputs and less than 1 MiB each.
    assert!(acts > 16 * 64 * 4 && acts < 16 << 20, "{acts}");
    // Without --train there is no estimate.
    let (_, out, _) = stdout(&["inspect", f, "--batch", "16", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(json["graphs"][0].get("training").is_none());
}

#[test]
fn train_errors_are_clear() {
    let f = fixtures().join("onnx/smallcnn_ok.legacy.onnx");
    let f = f.to_str().unwrap();
    let (code, _, err) = stdout(&["inspect", f, "--train"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("add --batch N"), "{err}");
    let (code, _, err) = stdout(&[
        "inspect",
        f,
        "--train",
        "--batch",
        "4",
        "--optimizer",
        "lamb",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("valid: sgd, sgd-momentum, adamw, adam-amsgrad, adamw8bit"),
        "{err}"
    );
    let (code, _, err) = stdout(&[
        "inspect",
        f,
        "--train",
        "--batch",
        "4",
        "--precision",
        "int8",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("valid: fp32, bf16, fp16, pure-bf16, pure-fp16, master-fp16"),
        "{err}"
    );
}
