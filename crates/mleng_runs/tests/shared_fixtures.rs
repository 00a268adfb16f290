//! Every real run in `../shared/fixtures/runs` is diagnosed as its README describes, from
//! every format it was logged in, and the healthy ones come back with no finding at all.
//! Numbers are checked against `truth.json`, measured while the runs were made.

use std::path::PathBuf;

use mleng_diagnostics::Severity;
use mleng_runs::diagnosis::{diagnose, Diagnosis, Status};
use mleng_runs::discover::load_runs;

const RUNS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/runs");

fn path(rel: &str) -> PathBuf {
    PathBuf::from(RUNS).join(rel)
}

/// Diagnoses the single run found under `rel` (a run folder, a sub-folder or one file).
fn one(rel: &str) -> Diagnosis {
    let runs = load_runs(&[path(rel)]).unwrap_or_else(|e| panic!("{rel}: {e}"));
    assert_eq!(runs.len(), 1, "{rel}: expected one run, got {}", runs.len());
    diagnose(&runs[0], &[], None)
}

fn tb_file(rel_dir: &str) -> String {
    let dir = path(rel_dir);
    let entry = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .find(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("events.out.tfevents")
        })
        .unwrap();
    format!("{rel_dir}/{}", entry.file_name().to_string_lossy())
}

fn codes(d: &Diagnosis) -> Vec<&'static str> {
    d.events.iter().map(|e| e.code).collect()
}

fn truth() -> serde_json::Value {
    let text = std::fs::read_to_string(PathBuf::from(RUNS).join("../truth.json")).unwrap();
    let text = text.replace("NaN", "null");
    serde_json::from_str(&text).unwrap()
}

fn assert_clean(d: &Diagnosis, what: &str) {
    assert!(
        d.events.is_empty() && d.notes.is_empty(),
        "{what}: healthy run should have no findings, got {:#?} {:#?}",
        d.events,
        d.notes
    );
    assert_eq!(d.status, Status::Healthy, "{what}");
}

#[test]
fn healthy_runs_are_clean_in_every_format() {
    for rel in [
        "healthy_sgd_cosine".to_string(),
        "healthy_sgd_cosine/metrics.jsonl".to_string(),
        tb_file("healthy_sgd_cosine/tb"),
        "lightning_healthy".to_string(),
        "lightning_healthy/csv/version_0/metrics.csv".to_string(),
        tb_file("lightning_healthy/tb/version_0"),
        "hf_trainer".to_string(),
        "hf_trainer/trainer_state.json".to_string(),
    ] {
        assert_clean(&one(&rel), &rel);
    }
}

#[test]
fn diverge_nan_first_nan_at_step_16_after_exploding_gradients() {
    let t = truth();
    let expected = t["runs"]["diverge_nan_sgd_lr5"]["first_nonfinite_step"]
        .as_i64()
        .unwrap();
    for rel in [
        "diverge_nan_sgd_lr5".to_string(),
        "diverge_nan_sgd_lr5/metrics.jsonl".to_string(),
        tb_file("diverge_nan_sgd_lr5/tb"),
    ] {
        let d = one(&rel);
        assert_eq!(d.status, Status::Failed, "{rel}");
        let nan = d
            .events
            .iter()
            .find(|e| e.code == "RUN001")
            .expect("RUN001");
        assert_eq!(nan.first_step, Some(expected), "{rel}");
        assert!(
            nan.evidence
                .iter()
                .any(|l| l.contains("learning rate at that time: 5")),
            "{rel}: {:?}",
            nan.evidence
        );
        assert!(
            nan.evidence
                .iter()
                .any(|l| l.contains("gradient norm just before: 1.82e14")),
            "{rel}: {:?}",
            nan.evidence
        );
        let exp = d
            .events
            .iter()
            .find(|e| e.code == "RUN002")
            .expect("RUN002");
        assert!(exp.title.contains("1.82e14"), "{}", exp.title);
        assert!(exp
            .fixes
            .iter()
            .any(|f| f.contains("clip gradients at 1.0")));
        assert!(
            d.verdict
                .starts_with("FAILED: Training produced NaN/inf at step 16"),
            "{}",
            d.verdict
        );
        // The NaN cause ranking starts with the gradient explosion.
        assert!(
            nan.causes[0].starts_with("exploding gradients"),
            "{:?}",
            nan.causes
        );
    }
}

#[test]
fn overfit_reports_best_val_loss_epoch_16_and_best_acc_epoch_26() {
    let t = &truth()["runs"]["overfit_big_mlp_200"];
    for rel in ["overfit_big_mlp_200", "overfit_big_mlp_200/metrics.jsonl"] {
        let d = one(rel);
        assert_eq!(codes(&d), vec!["RUN007"], "{rel}");
        assert_eq!(d.status, Status::Attention);
        let best_loss = d.summary.best_val_loss.unwrap();
        assert_eq!(
            best_loss.epoch,
            Some(t["min_val_loss_epoch"].as_f64().unwrap()),
            "{rel}"
        );
        let best_acc = d.summary.best_val_metric.unwrap();
        assert_eq!(best_acc.epoch, Some(t["best_epoch"].as_f64().unwrap()));
        assert!((best_acc.value - t["best_val_acc"].as_f64().unwrap()).abs() < 1e-6);
        let e = &d.events[0];
        assert!(e.title.contains("(epoch 16)"), "{}", e.title);
        assert!(e.fixes.iter().any(|f| f.contains("EarlyStopping")));
    }
    // From TensorBoard alone there is no epoch series: the step is still right.
    let d = one(&tb_file("overfit_big_mlp_200/tb"));
    assert_eq!(codes(&d), vec!["RUN007"]);
    assert_eq!(d.summary.best_val_loss.unwrap().step, 68);
}

#[test]
fn plateau_is_not_learning_with_a_tiny_learning_rate() {
    for rel in [
        "plateau_lr_too_low".to_string(),
        tb_file("plateau_lr_too_low/tb"),
    ] {
        let d = one(&rel);
        assert_eq!(codes(&d), vec!["RUN006"], "{rel}");
        let e = &d.events[0];
        assert_eq!(e.severity, Severity::Error);
        assert!(e.title.contains("ln(10)"), "{}", e.title);
        assert!(e.title.contains("learning rate 1.00e-6"), "{}", e.title);
        assert!(e.causes[0].contains("far too low"), "{:?}", e.causes);
    }
}

#[test]
fn vanishing_sigmoid_first_layer_gradient_vanishes() {
    let d = one("vanishing_sigmoid_deep");
    assert_eq!(codes(&d), vec!["RUN006", "RUN009"]);
    let nl = &d.events[0];
    assert!(
        nl.causes[0].starts_with("vanishing gradients"),
        "{:?}",
        nl.causes
    );
    let v = &d.events[1];
    assert!(v.title.contains("5.82e-18"), "{}", v.title);
    // Without the first-layer norm (JSON log only) it is still "not learning".
    let d = one("vanishing_sigmoid_deep/metrics.jsonl");
    assert_eq!(codes(&d), vec!["RUN006"]);
}

#[test]
fn lightning_diverge_blows_up_then_sits_at_chance() {
    for rel in [
        "lightning_diverge".to_string(),
        "lightning_diverge/csv/version_0/metrics.csv".to_string(),
        tb_file("lightning_diverge/tb/version_0"),
    ] {
        let d = one(&rel);
        let c = codes(&d);
        assert!(
            c.contains(&"RUN003") && c.contains(&"RUN006"),
            "{rel}: {c:?}"
        );
        assert!(!c.contains(&"RUN001"), "no NaN in this run");
        let blow = d.events.iter().find(|e| e.code == "RUN003").unwrap();
        assert!(
            blow.title.contains("blew up at the start"),
            "{}",
            blow.title
        );
        let nl = d.events.iter().find(|e| e.code == "RUN006").unwrap();
        assert!(nl.causes[0].contains("blew up early"), "{:?}", nl.causes);
    }
}

#[test]
fn whole_folder_finds_eight_runs_and_merges_logger_subfolders() {
    let runs = load_runs(&[PathBuf::from(RUNS)]).unwrap();
    let names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "diverge_nan_sgd_lr5",
            "healthy_sgd_cosine",
            "hf_trainer",
            "lightning_diverge",
            "lightning_healthy",
            "overfit_big_mlp_200",
            "plateau_lr_too_low",
            "vanishing_sigmoid_deep"
        ]
    );
    let lightning = runs.iter().find(|r| r.name == "lightning_healthy").unwrap();
    assert_eq!(
        lightning.sources.len(),
        2,
        "CSV and TensorBoard logs are one run"
    );
}

#[test]
fn summaries_match_truth() {
    let t = truth();
    for name in [
        "healthy_sgd_cosine",
        "plateau_lr_too_low",
        "vanishing_sigmoid_deep",
    ] {
        let d = one(name);
        let tr = &t["runs"][name];
        let s = &d.summary;
        assert!(
            (s.final_val_metric.unwrap() - tr["final_val_acc"].as_f64().unwrap()).abs() < 1e-6,
            "{name}"
        );
        assert!(
            (s.final_val_loss.unwrap() - tr["final_val_loss"].as_f64().unwrap()).abs() < 1e-6,
            "{name}"
        );
        assert_eq!(
            s.best_val_metric.unwrap().epoch,
            tr["best_epoch"].as_f64(),
            "{name}"
        );
        assert_eq!(
            s.best_val_loss.unwrap().epoch,
            tr["min_val_loss_epoch"].as_f64(),
            "{name}"
        );
        assert_eq!(s.last_step, tr["steps"].as_i64(), "{name}");
    }
}

#[test]
fn findings_use_the_shared_model() {
    let d = one("diverge_nan_sgd_lr5");
    let f = d.findings();
    assert!(f
        .iter()
        .all(|f| f.code.starts_with("RUN") && f.area == mleng_diagnostics::Area::Training));
    let nan = f.iter().find(|f| f.code == "RUN001").unwrap();
    assert_eq!(nan.severity, Severity::Error);
    assert!(nan.fix.is_some());
    assert!(nan.evidence.iter().any(|e| e == "steps 16-56"));
}
