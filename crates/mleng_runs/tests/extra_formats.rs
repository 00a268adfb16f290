//! Formats and failure modes the shared fixtures lack, from the synthetic fixtures in
//! `tests/data/` (see its README for the specification each follows).

use std::path::PathBuf;

use mleng_diagnostics::Severity;
use mleng_runs::diagnosis::{diagnose, Diagnosis, Status};
use mleng_runs::discover::load_runs;
use mleng_runs::roles::Role;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

fn all(rel: &str) -> Vec<Diagnosis> {
    let runs = load_runs(&[PathBuf::from(DATA).join(rel)]).unwrap_or_else(|e| panic!("{rel}: {e}"));
    runs.iter().map(|r| diagnose(r, &[], None)).collect()
}

fn one(rel: &str) -> Diagnosis {
    let mut d = all(rel);
    assert_eq!(d.len(), 1, "{rel}");
    d.remove(0)
}

fn codes(d: &Diagnosis) -> Vec<&'static str> {
    d.events.iter().map(|e| e.code).collect()
}

#[test]
fn tf2_keras_tensor_scalars_with_train_and_validation_folders() {
    let runs = load_runs(&[PathBuf::from(DATA).join("tf2_keras")]).unwrap();
    assert_eq!(runs.len(), 1, "train/ and validation/ are one run");
    let run = &runs[0];
    let names: Vec<&str> = run.series.iter().map(|s| s.name.as_str()).collect();
    for n in [
        "train/epoch_loss",
        "train/epoch_accuracy",
        "train/epoch_learning_rate",
        "val/epoch_loss",
        "val/epoch_accuracy",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    assert!(
        !names.contains(&"train/sample_image"),
        "image summaries are not scalars"
    );
    let loss = run.series("train/epoch_loss").unwrap();
    assert_eq!(loss.points.len(), 20);
    assert!(
        (loss.points[0].value - 2.35).abs() < 0.02,
        "tensor_content decoded: {}",
        loss.points[0].value
    );
    assert_eq!(
        run.series("train/epoch_learning_rate").unwrap().points[3].value,
        1e-3,
        "double_val decoded"
    );
    let d = diagnose(run, &[], None);
    assert_clean(&d);
    assert_eq!(
        d.summary
            .roles
            .iter()
            .find(|r| r.0 == Role::ValLoss)
            .map(|r| r.1.as_str()),
        Some("val/epoch_loss")
    );
}

fn assert_clean(d: &Diagnosis) {
    assert!(d.events.is_empty(), "{}: {:#?}", d.run, d.events);
    assert_eq!(d.status, Status::Healthy);
}

#[test]
fn truncated_event_file_reads_every_whole_record() {
    let d = one("tb_truncated");
    assert_clean(&d);
    // The last record (train/lr at step 299) is cut; train/loss at 299 is whole.
    let runs = load_runs(&[PathBuf::from(DATA).join("tb_truncated")]).unwrap();
    assert_eq!(runs[0].series("train/loss").unwrap().points.len(), 300);
    assert_eq!(runs[0].series("train/lr").unwrap().points.len(), 299);
    assert_eq!(d.notes.len(), 1);
    assert!(!d.notes[0].serious && d.notes[0].message.contains("ends inside a record"));
    assert!(d.notes[0].offset.is_some());
}

#[test]
fn bad_crc_is_reported_with_offset_and_the_rest_is_read() {
    let d = one("tb_bad_crc");
    assert_eq!(d.notes.len(), 1);
    let n = &d.notes[0];
    assert!(
        n.serious && n.message.contains("bad data CRC"),
        "{}",
        n.message
    );
    assert!(n.offset.unwrap() > 10_000);
    assert_eq!(
        d.summary.last_step,
        Some(299),
        "records after the damage are still read"
    );
    let f = d.findings();
    assert!(f
        .iter()
        .any(|f| f.code == "RUN020" && f.severity == Severity::Warning));
}

#[test]
fn ultralytics_padded_and_plain_headers_read_the_same() {
    let a = one("ultralytics_padded");
    let b = one("ultralytics_plain");
    assert_clean(&a);
    assert_clean(&b);
    assert_eq!(a.summary, b.summary);
    assert_eq!(
        a.summary.val_metric_name.as_deref(),
        Some("metrics/mAP50-95(B)")
    );
    // box + cls + dfl at epoch 1.
    let runs = load_runs(&[PathBuf::from(DATA).join("ultralytics_padded")]).unwrap();
    let total = runs[0].series("train/loss").unwrap();
    assert_eq!(total.points.len(), 30);
    assert_eq!(total.points[0].step, 1);
}

#[test]
fn mlflow_file_store_run_overfits() {
    let d = one("mlflow_file");
    assert_eq!(d.run, "overfit-resnet", "run_name from meta.yaml");
    assert_eq!(codes(&d), vec!["RUN007"]);
    assert_eq!(d.summary.best_val_loss.unwrap().step, 14);
}

#[test]
fn mlflow_sqlite_store_holds_two_runs() {
    let ds = all("mlflow_sqlite");
    let names: Vec<&str> = ds.iter().map(|d| d.run.as_str()).collect();
    assert_eq!(names, ["healthy-adam", "nan-at-120"]);
    assert_clean(&ds[0]);
    let bad = &ds[1];
    assert_eq!(bad.status, Status::Failed);
    let nan = bad.events.iter().find(|e| e.code == "RUN001").unwrap();
    assert_eq!(nan.first_step, Some(120), "is_nan = 1 rows are NaN");
    assert!(
        codes(bad).contains(&"RUN002"),
        "clamped 1.797e308 is read back as +inf"
    );
}

#[test]
fn softmax_into_cross_entropy_floor_is_recognized() {
    let d = one("softmax_floor");
    assert_eq!(codes(&d), vec!["RUN008"]);
    let e = &d.events[0];
    assert!(
        e.evidence
            .iter()
            .any(|l| l.contains("ln((e + C - 1)/e) for C = 10")),
        "{:?}",
        e.evidence
    );
    assert!(e.fixes[0].contains("remove the final Softmax"));
}

#[test]
fn amp_scaled_gradient_norm() {
    let d = one("amp_scaled");
    assert_eq!(codes(&d), vec!["RUN011"]);
    assert!(d.events[0].related.contains(&"TRN002"));
    // A recorded precision (W&B config) is quoted as evidence; it does not decide.
    let mut runs = load_runs(&[PathBuf::from(DATA).join("amp_scaled")]).unwrap();
    for (precision, says) in [
        ("16-mixed", "which trains with a GradScaler"),
        ("bf16", "check whether one is used anyway"),
    ] {
        let leaves = vec![(
            "precision".to_string(),
            mleng_runs::config::Leaf::Text(precision.into()),
        )];
        runs[0].config = Some(mleng_runs::config::RunConfig::from_leaves(
            "config.yaml",
            &leaves,
        ));
        let d = diagnose(&runs[0], &[], None);
        assert_eq!(codes(&d), vec!["RUN011"]);
        let line = format!("precision `{precision}` in config.yaml (`precision`): ");
        assert!(
            d.events[0]
                .evidence
                .iter()
                .any(|l| l.starts_with(&line) && l.contains(says)),
            "{:?}",
            d.events[0].evidence
        );
    }
}

#[test]
fn spikes_resume_and_stall() {
    let d = one("spikes_resume_stall");
    let c = codes(&d);
    // The two spikes are single batches back to normal at the next step: mini-batch noise,
    // not findings (issue 16).
    assert_eq!(c, vec!["RUN010", "RUN012"], "{:#?}", d.events);
    let restart = &d.events[0];
    assert_eq!(
        restart.severity,
        Severity::Warning,
        "a resume makes the restart suspicious"
    );
    assert!(restart
        .evidence
        .iter()
        .any(|l| l.contains("goes backwards")));
    let stall = &d.events[1];
    assert!(
        stall.title.contains("stalled at 1 logged point"),
        "{}",
        stall.title
    );
}

#[test]
fn lr_zero_mid_run() {
    let d = one("lr_zero");
    assert_eq!(codes(&d), vec!["RUN010"]);
    assert_eq!(d.events[0].name, "lr-zero-mid-run");
    assert_eq!(d.events[0].first_step, Some(300));
}

#[test]
fn val_better_than_train() {
    let d = one("val_better");
    assert_eq!(codes(&d), vec!["RUN013"]);
    assert_eq!(d.events[0].severity, Severity::Warning);
}

#[test]
fn oscillation() {
    let d = one("oscillating");
    assert!(codes(&d).contains(&"RUN005"), "{:?}", codes(&d));
}

#[test]
fn jsonl_with_bare_nan_and_a_cut_last_line() {
    let d = one("jsonl_truncated");
    assert_eq!(codes(&d), vec!["RUN001"]);
    assert_eq!(d.events[0].first_step, Some(50));
    assert_eq!(d.notes.len(), 1);
    assert_eq!(d.notes[0].line, Some(52));
}

#[test]
fn metric_override_picks_the_named_series() {
    let runs = load_runs(&[PathBuf::from(DATA).join("tf2_keras")]).unwrap();
    let d = diagnose(
        &runs[0],
        &[(Role::ValLoss, "train/epoch_loss".into())],
        None,
    );
    assert_eq!(
        d.summary
            .roles
            .iter()
            .find(|r| r.0 == Role::ValLoss)
            .map(|r| r.1.as_str()),
        Some("train/epoch_loss")
    );
}

#[test]
fn event_files_written_in_pieces_are_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let tb = dir.path().join("run/tb");
    std::fs::create_dir_all(&tb).unwrap();
    std::fs::copy(
        PathBuf::from(DATA).join("tb_truncated/events.out.tfevents.1700000000.host.2.0"),
        tb.join("events.out.tfevents.1700000000.a"),
    )
    .unwrap();
    std::fs::copy(
        PathBuf::from(DATA).join("tb_bad_crc/events.out.tfevents.1700000000.host.3.0"),
        tb.join("events.out.tfevents.1700000100.b"),
    )
    .unwrap();
    let runs = load_runs(&[dir.path().to_path_buf()]).unwrap();
    assert_eq!(runs.len(), 1);
    let loss = runs[0].series("train/loss").unwrap();
    assert!(
        loss.points.len() > 550,
        "both files' points: {}",
        loss.points.len()
    );
    let d = diagnose(&runs[0], &[], None);
    assert!(
        d.events.is_empty(),
        "a restarted step counter is not a spike: {:#?}",
        d.events
    );
}
