//! End-to-end: a reader that goes away (`mleng rules --format json | head -1`) ends the
//! output quietly, with the command's own exit status and nothing on stderr: no panic
//! ("failed printing to stdout: Broken pipe"), no error message.

use std::path::PathBuf;
use std::process::{Command, Stdio};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures");
const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn mleng() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin("mleng"))
}

/// Runs `mleng args` with stdout a pipe whose reading end is already closed: its first write
/// fails with EPIPE, whatever the timing.
fn with_closed_stdout(args: &[&str]) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let out = mleng()
        .args(args)
        .current_dir(REPO)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("mleng runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_command_ends_quietly_on_a_closed_stdout() {
    let run = PathBuf::from(FIXTURES).join("runs/healthy_sgd_cosine");
    let onnx = PathBuf::from(FIXTURES).join("onnx/smallcnn_ok.legacy.onnx");
    let (run, onnx) = (run.to_str().unwrap(), onnx.to_str().unwrap());
    let cases: Vec<Vec<&str>> = vec![
        vec!["rules"],
        vec!["rules", "--format", "json"],
        vec!["rules", "--format", "markdown"],
        vec!["explain", "TRN002"],
        vec!["recommend"],
        vec!["recommend", "detection", "--format", "json"],
        vec!["arch", "examples/flowers/model.py"],
        vec!["arch", "examples/flowers/model.py", "--format", "json"],
        vec!["review", "examples/flowers", "--no-color"],
        vec!["diagnose", run],
        vec!["diagnose", run, "--format", "json"],
        vec!["inspect", onnx],
        vec![
            "inspect", onnx, "--train", "--batch", "8", "--format", "json",
        ],
    ];
    for args in cases {
        let (code, stderr) = with_closed_stdout(&args);
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "mleng {args:?}: {stderr}"
        );
        // The command's own status: 0 (none of these has a `--fail-on` gate).
        assert_eq!(code, Some(0), "mleng {args:?}: {stderr}");
    }
}

#[test]
fn rules_json_piped_into_head_prints_its_first_line() {
    let out = Command::new("bash")
        .arg("-c")
        .arg("set -o pipefail; \"$0\" rules --format json | head -1")
        .arg(assert_cmd::cargo::cargo_bin("mleng"))
        .stderr(Stdio::piped())
        .output()
        .expect("bash runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "[\n");
    assert!(stderr.is_empty(), "{stderr}");
}
