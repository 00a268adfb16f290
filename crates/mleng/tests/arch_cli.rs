//! `mleng arch` end to end: text and JSON output of the static model map.

use std::path::PathBuf;

use assert_cmd::Command;

fn model(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../mleng_rules/tests/arch_models")
        .join(name)
}

#[test]
fn json_total_and_bottleneck() {
    let target = format!("{}::SmallCNN", model("smallcnn.py").display());
    let out = Command::cargo_bin("mleng")
        .expect("binary")
        .args(["arch", &target, "--format", "json"])
        .output()
        .expect("runs");
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let m = &json["models"][0];
    assert_eq!(m["name"], "SmallCNN");
    assert_eq!(m["total_params"], 151_658);
    let head = m["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .find(|l| l["name"] == "head.0")
        .expect("head.0");
    assert_eq!(head["params"], 131_200);
    assert_eq!(head["bottleneck"], true);
}

#[test]
fn text_shows_unknown_and_totals() {
    let out = Command::cargo_bin("mleng")
        .expect("binary")
        .args(["arch", model("counts.py").to_str().expect("utf-8 path")])
        .output()
        .expect("runs");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        text.contains("at least 921,664 parameters (1 layer unknown)"),
        "{text}"
    );
    assert!(text.contains("unknown"), "{text}");
    assert!(text.contains("tagger (sequential"), "{text}");
    assert!(text.contains("2,437 parameters"), "{text}");
}

#[test]
fn unknown_class_is_an_error() {
    let target = format!("{}::NoSuchNet", model("smallcnn.py").display());
    Command::cargo_bin("mleng")
        .expect("binary")
        .args(["arch", &target])
        .assert()
        .code(2);
}

fn arch(args: &[&str]) -> (bool, String, String) {
    let out = Command::cargo_bin("mleng")
        .expect("binary")
        .arg("arch")
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// SmallCNN on one 1x8x8 digit, by hand (see smallcnn.py): kept for backward per sample are
/// the input (64), both BatchNorm inputs (2048, 4096), both ReLU outputs (which the next
/// conv and the max pool also keep: 2048, 4096), the flattened features (1024), head.1's
/// input and the ReLU output (128 + 128), the last Linear's input (128, dropout's output)
/// and the logits (10): 13,770 elements; plus max-pool indices (1024 x 8 bytes) and the
/// dropout mask (128 bytes); the loss keeps 10 fp32 log-probabilities.
#[test]
fn training_memory_of_a_source_model() {
    let target = format!("{}::SmallCNN", model("smallcnn.py").display());
    let (ok, out, err) = arch(&[
        &target,
        "--batch",
        "32",
        "--optimizer",
        "adamw",
        "--precision",
        "bf16",
        "--input-shape",
        "1,8,8",
        "--format",
        "json",
    ]);
    assert!(ok, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).expect("json");
    let t = &json["models"][0]["training_memory"];
    assert_eq!(t["params"], 151_658);
    assert_eq!(t["weights"], 151_658 * 4);
    assert_eq!(t["cast_copies"], 151_658 * 2);
    assert_eq!(t["gradients"], 151_658 * 4);
    assert_eq!(t["optimizer_state"], 151_658 * 8);
    assert_eq!(
        t["activations"],
        32 * (13_770 * 2 + 10 * 4 + 8 * 1024 + 128)
    );
    assert_eq!(t["dominant"], "CUDA context");
    assert_eq!(t["total_is_lower_bound"], false);
}

#[test]
fn training_memory_without_an_input_shape_says_why_activations_are_unknown() {
    let target = format!("{}::SmallCNN", model("smallcnn.py").display());
    let (ok, out, err) = arch(&[&target, "--batch", "8"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("training memory (batch 8, adamw, fp32"),
        "{out}"
    );
    assert!(
        out.contains("unknown (no input shape: pass --input-shape"),
        "{out}"
    );
    assert!(out.contains("total              at least"), "{out}");
}

#[test]
fn training_memory_errors_are_clear() {
    let target = format!("{}::SmallCNN", model("smallcnn.py").display());
    let (ok, _, err) = arch(&[&target, "--batch", "8", "--optimizer", "lion"]);
    assert!(!ok);
    assert!(
        err.contains("unknown optimizer `lion` (valid: sgd, sgd-momentum, adamw"),
        "{err}"
    );
    let (ok, _, err) = arch(&[&target, "--batch", "8", "--precision", "fp8"]);
    assert!(!ok);
    assert!(
        err.contains("unknown precision `fp8` (valid: fp32, bf16"),
        "{err}"
    );
    let (ok, _, err) = arch(&[&target, "--optimizer", "adamw"]);
    assert!(!ok);
    assert!(err.contains("add --batch N"), "{err}");
    let (ok, _, err) = arch(&[&target, "--batch", "0"]);
    assert!(!ok);
    assert!(err.contains("--batch must be a positive integer"), "{err}");
}
