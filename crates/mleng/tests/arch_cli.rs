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
