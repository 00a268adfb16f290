//! W&B runs whose `files/config.yaml` and `files/wandb-summary.json` were written by the
//! real `wandb` package's sender during `wandb sync` (`scripts/make-wandb-synced-runs.py`):
//! the config's hyperparameters reach the report and the detectors, and the summary stands
//! in for a log that is missing, unreadable or empty, and tells a log cut short.

use std::path::{Path, PathBuf};

use mleng_runs::diagnosis::{diagnose, Status};
use mleng_runs::discover::load_runs;
use mleng_runs::series::Run;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/wandb_synced");

/// The run folder (`wandb/offline-run-*`) of a fixture.
fn run_folder(root: &Path) -> PathBuf {
    std::fs::read_dir(root.join("wandb"))
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("offline-run-"))
        .expect("a run folder")
        .path()
}

fn log_of(folder: &Path) -> PathBuf {
    std::fs::read_dir(folder)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(".wandb"))
        .expect("a .wandb log")
        .path()
}

fn summary_json(folder: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(folder.join("files/wandb-summary.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn one_run(path: &Path) -> Run {
    let mut runs = load_runs(&[path.to_path_buf()]).unwrap();
    assert_eq!(runs.len(), 1);
    runs.remove(0)
}

/// A copy of a fixture in a temporary folder, to damage.
fn copy(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let src = PathBuf::from(DATA).join(name);
    let dst = tmp.path().join(name);
    for entry in walk(&src) {
        let to = dst.join(entry.strip_prefix(&src).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&entry, &to).unwrap();
    }
    (tmp, dst)
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

#[test]
fn config_and_summary_of_a_synced_run_are_read() {
    let root = PathBuf::from(DATA).join("healthy");
    let run = one_run(&root);
    let c = run.config.as_ref().expect("config.yaml read");
    assert!(c.source.ends_with("files/config.yaml"));
    assert_eq!(c.learning_rate.as_ref().map(|s| s.value), Some(0.1));
    assert_eq!(c.optimizer.as_ref().map(|s| s.value.as_str()), Some("sgd"));
    assert_eq!(c.batch_size.as_ref().map(|s| s.value), Some(16));
    assert_eq!(c.epochs.as_ref().map(|s| s.value), Some(12.0));
    assert_eq!(c.precision.as_ref().map(|s| s.value.as_str()), Some("fp32"));
    // The summary agrees with the log: nothing to say.
    assert!(run.notes.is_empty(), "{:?}", run.notes);
    assert!(!run.final_values_only);
    // The history's last values are the summary's.
    let summary = summary_json(&run_folder(&root));
    for key in ["train/loss", "val/loss", "val/acc"] {
        let last = run.series(key).and_then(|s| s.last()).unwrap();
        // The same float, printed by Python in the log and by Go in the summary.
        let want = summary[key].as_f64().unwrap();
        assert!(
            (last.value - want).abs() <= 1e-15 * want.abs(),
            "{key}: {} {want}",
            last.value
        );
        assert!(Some(last.step) <= summary["trainer/global_step"].as_i64());
    }
    let d = diagnose(&run, &[], None);
    assert_eq!(d.status, Status::Healthy, "{}", d.verdict);
    let text = mleng_runs::report::text::render(std::slice::from_ref(&d));
    assert!(
        text.contains(
            "config: optimizer sgd, learning rate 0.1, batch size 16, 12 epochs, precision fp32"
        ),
        "{text}"
    );
    let json = mleng_runs::report::json::render(std::slice::from_ref(&d)).unwrap();
    assert!(json.contains("\"learning_rate\""), "{json}");
}

#[test]
fn configured_learning_rate_backs_the_findings_when_none_was_logged() {
    let run = one_run(&PathBuf::from(DATA).join("lr_too_high_unlogged"));
    assert!(run.series("train/lr").is_none());
    let d = diagnose(&run, &[], None);
    assert_eq!(d.status, Status::Failed, "{}", d.verdict);
    let lines: Vec<&String> = d.events.iter().flat_map(|e| e.evidence.iter()).collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("learning rate 40 set in") && l.contains("config.yaml (`lr`)")),
        "{lines:?}"
    );
    // The history decides: where the LR is logged, the config is not quoted.
    let healthy = one_run(&PathBuf::from(DATA).join("healthy"));
    let d = diagnose(&healthy, &[], None);
    assert!(d
        .events
        .iter()
        .all(|e| e.evidence.iter().all(|l| !l.contains("set in"))));
}

#[test]
fn summary_stands_in_for_a_missing_unreadable_or_empty_log() {
    for damage in ["missing", "no header", "header only"] {
        let (_tmp, root) = copy("healthy");
        let folder = run_folder(&root);
        let log = log_of(&folder);
        match damage {
            "missing" => std::fs::remove_file(&log).unwrap(),
            "no header" => std::fs::write(&log, b"not a W&B log at all").unwrap(),
            _ => std::fs::write(&log, mleng_runs::readers::wandb::MAGIC).unwrap(),
        }
        let run = one_run(&root);
        assert!(run.final_values_only, "{damage}");
        assert!(run.config.is_some(), "{damage}");
        let fallback = run
            .notes
            .iter()
            .find(|n| n.path.ends_with("files/wandb-summary.json"))
            .unwrap_or_else(|| panic!("{damage}: {:?}", run.notes));
        assert!(!fallback.serious);
        assert!(
            fallback.message.contains("only the run's final values"),
            "{}",
            fallback.message
        );
        if damage == "no header" {
            let bad = run
                .notes
                .iter()
                .find(|n| n.serious)
                .expect("the log's error");
            assert!(
                bad.path == log && bad.message.contains("offset 0"),
                "{bad:?}"
            );
            // Named on the command line, the damaged log still gives the summary.
            let named = one_run(&log);
            assert!(named.final_values_only);
        }
        let d = diagnose(&run, &[], None);
        assert_eq!(d.status, Status::FinalValuesOnly, "{damage}: {}", d.verdict);
        assert!(
            d.verdict
                .starts_with("FINAL VALUES ONLY: the history could not be read"),
            "{}",
            d.verdict
        );
        let summary = summary_json(&folder);
        assert_eq!(d.summary.final_train_loss, summary["train/loss"].as_f64());
        assert_eq!(d.summary.last_step, summary["trainer/global_step"].as_i64());
    }
    // The summary named on the command line reads the whole run when the log is there.
    let folder = run_folder(&PathBuf::from(DATA).join("healthy"));
    let run = one_run(&folder.join("files/wandb-summary.json"));
    assert!(!run.final_values_only);
    assert!(run
        .series("train/loss")
        .is_some_and(|s| s.points.len() > 100));
}

#[test]
fn a_log_cut_short_is_told_by_the_summary() {
    let (_tmp, root) = copy("healthy");
    let log = log_of(&run_folder(&root));
    let bytes = std::fs::read(&log).unwrap();
    // Cut on a block boundary: no torn record, so only the summary can tell.
    let cut =
        bytes.len() / 2 / mleng_runs::readers::wandb::BLOCK * mleng_runs::readers::wandb::BLOCK;
    std::fs::write(&log, &bytes[..cut.max(mleng_runs::readers::wandb::BLOCK)]).unwrap();
    let run = one_run(&root);
    let note = run
        .notes
        .iter()
        .find(|n| n.message.contains("the summary was written at step 240"))
        .unwrap_or_else(|| panic!("{:?}", run.notes));
    assert!(!note.serious);
    assert!(!run.final_values_only);
}

#[test]
fn damaged_side_files_are_warnings_naming_them() {
    let (_tmp, root) = copy("healthy");
    let files = run_folder(&root).join("files");
    std::fs::write(files.join("config.yaml"), "lr: [0.1\n").unwrap();
    std::fs::write(files.join("wandb-summary.json"), "{\"train/loss\": ").unwrap();
    let run = one_run(&root);
    // The damaged config.yaml is not read; the log's own config records stand in.
    let c = run.config.as_ref().expect("the log's config");
    assert!(c.source.extension().is_some_and(|x| x == "wandb"), "{c:?}");
    let paths: Vec<String> = run
        .notes
        .iter()
        .filter(|n| n.serious)
        .map(|n| n.message.clone())
        .collect();
    assert_eq!(paths.len(), 2, "{paths:?}");
    assert!(
        paths
            .iter()
            .any(|m| m.contains("files/config.yaml: not valid YAML")),
        "{paths:?}"
    );
    assert!(
        paths
            .iter()
            .any(|m| m.contains("files/wandb-summary.json: not valid JSON at line 1")),
        "{paths:?}"
    );
    // The history is read all the same.
    assert!(run
        .series("train/loss")
        .is_some_and(|s| s.points.len() > 100));
    assert_eq!(diagnose(&run, &[], None).status, Status::Healthy);
}

#[test]
fn config_is_read_from_the_log_of_a_run_never_synced() {
    // An offline run writes no config.yaml, but its log records `wandb.config`.
    let (_tmp, root) = copy("healthy");
    let folder = run_folder(&root);
    std::fs::remove_dir_all(folder.join("files")).unwrap();
    let run = one_run(&root);
    let c = run.config.as_ref().expect("the log's config");
    assert_eq!(c.source, log_of(&folder));
    let from_yaml = one_run(&PathBuf::from(DATA).join("healthy"))
        .config
        .expect("config.yaml");
    assert_eq!(
        (
            &c.learning_rate,
            &c.optimizer,
            &c.batch_size,
            &c.epochs,
            &c.precision
        ),
        (
            &from_yaml.learning_rate,
            &from_yaml.optimizer,
            &from_yaml.batch_size,
            &from_yaml.epochs,
            &from_yaml.precision
        )
    );
    // A run of the calibration corpus, logged offline and never synced.
    let corpus =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/tune/b_lr_too_high_3");
    let c = one_run(&corpus).config.expect("the log's config");
    assert_eq!(c.learning_rate.map(|s| s.value), Some(6.0));
    assert_eq!(c.optimizer.map(|s| s.value), Some("sgd".to_string()));
}
