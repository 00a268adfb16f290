//! End-to-end tests of `mleng diagnose`: exit codes, output formats, plots and errors.

use std::path::PathBuf;

use assert_cmd::Command;

const RUNS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/runs");
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../mleng_runs/tests/data");

fn run(rel: &str) -> PathBuf {
    PathBuf::from(RUNS).join(rel)
}

fn mleng() -> Command {
    Command::cargo_bin("mleng").unwrap()
}

#[test]
fn healthy_run_exits_0_with_a_healthy_verdict() {
    let out = mleng()
        .args(["diagnose"])
        .arg(run("healthy_sgd_cosine"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("HEALTHY: no instability found"), "{text}");
}

#[test]
fn fail_on_gate_trips_only_when_asked() {
    let bad = run("diverge_nan_sgd_lr5");
    let out = mleng().args(["diagnose"]).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "findings alone do not fail");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("error RUN001 non-finite-values  steps 16-56"),
        "{text}"
    );
    assert!(text.contains("clip gradients at 1.0"));
    let out = mleng()
        .args(["diagnose", "--fail-on", "error"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let out = mleng()
        .args(["diagnose", "--fail-on", "warning"])
        .arg(run("healthy_sgd_cosine"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn json_output_has_runs_and_shared_findings() {
    let out = mleng()
        .args(["diagnose", "--format", "json"])
        .arg(run("overfit_big_mlp_200"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["runs"][0]["run"], "overfit_big_mlp_200");
    assert_eq!(v["runs"][0]["status"], "attention");
    assert_eq!(v["runs"][0]["summary"]["best_val_loss"]["epoch"], 16.0);
    assert_eq!(v["findings"][0]["code"], "RUN007");
    assert_eq!(v["findings"][0]["area"], "training");
}

#[test]
fn json_with_nan_values_is_still_valid_json() {
    let out = mleng()
        .args(["diagnose", "--format", "json"])
        .arg(run("diverge_nan_sgd_lr5"))
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["runs"][0]["summary"]["final_train_loss"].is_null());
}

#[test]
fn markdown_and_compare() {
    let out = mleng()
        .args(["diagnose", "--format", "markdown"])
        .arg(run("plateau_lr_too_low"))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("| severity | code | where | finding |"),
        "{text}"
    );
    assert!(text.contains("### RUN006 not-learning"));
    let out = mleng()
        .args(["diagnose", "--compare", RUNS])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let rows = text
        .lines()
        .filter(|l| l.contains("HEALTHY") || l.contains("FAILED") || l.contains("NEEDS ATTENTION"))
        .count();
    assert!(rows >= 8, "{text}");
    assert!(
        text.contains("overfit_big_mlp_200     NEEDS ATTENTION"),
        "{text}"
    );
}

#[test]
fn plots_svg_png_html() {
    let dir = tempfile::tempdir().unwrap();
    for ext in ["svg", "png", "html"] {
        let target = dir.path().join(format!("curves.{ext}"));
        let out = mleng()
            .args(["diagnose", "--plot"])
            .arg(&target)
            .arg(run("diverge_nan_sgd_lr5"))
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bytes = std::fs::read(&target).unwrap();
        match ext {
            "png" => assert!(bytes.starts_with(b"\x89PNG"), "not a PNG"),
            "svg" => assert!(String::from_utf8_lossy(&bytes).contains("first NaN/inf (step 16)")),
            _ => assert!(String::from_utf8_lossy(&bytes).contains("<svg")),
        }
    }
    // Several runs: one file per run.
    let target = dir.path().join("all.svg");
    let out = mleng()
        .args(["diagnose", "--plot"])
        .arg(&target)
        .arg(run("lightning_healthy"))
        .arg(run("lightning_diverge"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(dir.path().join("all-lightning_diverge.svg").exists());
    assert!(dir.path().join("all-lightning_healthy.svg").exists());
}

#[test]
fn usage_and_io_errors_exit_2() {
    let out = mleng()
        .args(["diagnose", "/nonexistent/run"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("mleng: error: /nonexistent/run"));
    let out = mleng()
        .args(["diagnose", "--metric", "nonsense"])
        .arg(run("hf_trainer"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = mleng()
        .args(["diagnose", "--plot", "x.gif"])
        .arg(run("hf_trainer"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = mleng()
        .args(["diagnose", "--fail-on", "fatal"])
        .arg(run("hf_trainer"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_corrupt_file_named_on_the_command_line_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("trainer_state.json");
    std::fs::write(&bad, b"{\"log_history\": [1, 2,").unwrap();
    let out = mleng().arg("diagnose").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("trainer_state.json") && err.contains("not valid JSON"),
        "{err}"
    );
    let noise = dir.path().join("random.bin");
    std::fs::write(&noise, [0xffu8, 0x00, 0x13, 0x37, 0x42].repeat(100)).unwrap();
    let out = mleng().arg("diagnose").arg(&noise).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn a_log_with_nothing_readable_is_no_data_not_healthy() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("metrics.csv"), "step,loss\n").unwrap();
    let mut tb = b"garbage that is no TFRecord".repeat(40);
    tb.truncate(1000);
    std::fs::write(dir.path().join("events.out.tfevents.1.host"), &tb).unwrap();
    for file in ["metrics.csv", "events.out.tfevents.1.host"] {
        // Named relative to the current folder, as users type it.
        let out = mleng()
            .current_dir(dir.path())
            .args(["diagnose", file])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{text}");
        assert!(
            text.contains("NO DATA: no metric value could be read"),
            "{text}"
        );
        assert!(!text.contains("HEALTHY"), "{text}");
        let folder = dir.path().file_name().unwrap().to_string_lossy();
        assert!(text.starts_with(&format!("== {folder} (.)")), "{text}");
    }
}

#[test]
fn mlflow_sqlite_store_from_the_cli() {
    let out = mleng()
        .args(["diagnose", "--compare"])
        .arg(PathBuf::from(DATA).join("mlflow_sqlite/mlflow.db"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("healthy-adam") && text.contains("nan-at-120"),
        "{text}"
    );
}

#[test]
fn explain_describes_diagnose_and_inspect_codes() {
    for (code, name, command) in [
        ("RUN003", "divergence", "mleng diagnose"),
        ("run020", "damaged-log", "mleng diagnose"),
        ("ONX013", "training-mode-export", "mleng inspect"),
        ("CKP001", "non-finite-weights", "mleng inspect"),
    ] {
        let out = mleng().args(["explain", code]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{code}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(name) && text.contains(command), "{text}");
    }
    let out = mleng().args(["explain", "RUN999"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../mleng_runs/tests/corpus");

#[test]
fn wandb_offline_runs_are_found_and_diagnosed() {
    // A W&B offline run folder as the `wandb` package left it, and a broken one next to it.
    let healthy = PathBuf::from(CORPUS).join("tune/h_mlp_sgd_cos_s2");
    let broken = PathBuf::from(CORPUS).join("tune/b_lr0_resume_3");
    let out = mleng()
        .args(["diagnose", "--compare"])
        .arg(&healthy)
        .arg(&broken)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let row = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no row for {name}: {text}"))
            .to_string()
    };
    assert!(row("h_mlp_sgd_cos_s2").contains("HEALTHY"), "{text}");
    assert!(row("b_lr0_resume_3").contains("RUN010"), "{text}");
    // Named directly, the .wandb file is recognized by its content too.
    let junk = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(junk.path(), b":W&B\x00\x00\x07 damaged").unwrap();
    let out = mleng()
        .args(["diagnose"])
        .arg(junk.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("offset 4"), "{err}");
}
