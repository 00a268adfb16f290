//! W&B runs written by the real `wandb` package (offline mode, in the calibration corpus):
//! the values read back are the ones the training script logged (`.done.json` keeps the
//! measured outcome), and damaged copies are read as far as they are whole.

use std::path::{Path, PathBuf};

use mleng_runs::diagnosis::diagnose;
use mleng_runs::discover::load_runs;
use mleng_runs::roles::Role;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus");

fn run_dir(id: &str) -> PathBuf {
    let root = PathBuf::from(CORPUS).join("tune").join(id);
    assert!(root.is_dir(), "{}", root.display());
    root
}

fn wandb_file(id: &str) -> PathBuf {
    let wandb = run_dir(id).join("wandb");
    let run = std::fs::read_dir(&wandb)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("offline-run-"))
        .expect("an offline run folder");
    std::fs::read_dir(run.path())
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(".wandb"))
        .expect("a .wandb log")
        .path()
}

fn outcome(id: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(run_dir(id).join(".done.json")).unwrap();
    serde_json::from_str::<serde_json::Value>(&text).unwrap()["outcome"].clone()
}

#[test]
fn offline_runs_read_back_what_was_logged() {
    for id in ["h_mlp_sgd_cos_s2", "h_cnn_adam_s3", "h_tfm_adamw_warmup_s0"] {
        let runs = load_runs(&[run_dir(id)]).unwrap();
        assert_eq!(runs.len(), 1, "{id}");
        let run = &runs[0];
        // The run's display name, from its RunRecord.
        assert_eq!(run.name, id);
        let d = diagnose(run, &[], None);
        let roles: Vec<(Role, &str)> = d
            .summary
            .roles
            .iter()
            .map(|(r, n)| (*r, n.as_str()))
            .collect();
        for want in [
            (Role::TrainLoss, "train/loss"),
            (Role::ValLoss, "val/loss"),
            (Role::ValMetric, "val/acc"),
            (Role::LearningRate, "train/lr"),
            (Role::GradNorm, "train/grad_norm"),
        ] {
            assert!(roles.contains(&want), "{id}: {want:?} not in {roles:?}");
        }
        let o = outcome(id);
        let steps = o["steps"].as_i64().unwrap();
        // Steps are `trainer/global_step` (the script's own counter), not W&B's `_step`.
        let loss = run.series("train/loss").unwrap();
        assert_eq!(loss.points.first().unwrap().step, 0);
        assert_eq!(loss.points.last().unwrap().step, steps - 1, "{id}");
        assert_eq!(loss.points.len() as i64, steps, "{id}: one point per step");
        let final_val = d.summary.final_val_loss.unwrap();
        let want = o["final_val_loss"].as_f64().unwrap();
        assert!(
            (final_val - want).abs() <= 1e-12 * want.abs(),
            "{id}: {final_val} vs {want}"
        );
        // Wall-clock times come from `_timestamp`.
        assert!(loss
            .points
            .iter()
            .all(|p| p.wall().is_some_and(|t| t > 1.7e9)));
        assert!(d.notes.is_empty(), "{id}: {:?}", d.notes);
    }
}

#[test]
fn damaged_copies_are_read_up_to_the_damage() {
    let original = std::fs::read(wandb_file("h_mlp_sgd_cos_s2")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let whole = load_runs(&[wandb_file("h_mlp_sgd_cos_s2")]).unwrap();
    let n_whole = whole[0].series("train/loss").unwrap().points.len();

    // A run still being written: the file ends inside a record.
    let cut = dir.path().join("cut.wandb");
    std::fs::write(&cut, &original[..original.len() * 2 / 3]).unwrap();
    let runs = load_runs(std::slice::from_ref(&cut)).unwrap();
    let run = &runs[0];
    let n = run.series("train/loss").unwrap().points.len();
    assert!(n > 0 && n < n_whole, "{n} of {n_whole}");
    assert!(
        run.notes.iter().all(|note| !note.serious),
        "{:?}",
        run.notes
    );
    assert!(run
        .notes
        .iter()
        .any(|note| note.message.contains("still writing")));

    // A flipped byte in the second block: reported with its offset, the rest still read.
    let mut flipped = original.clone();
    flipped[40_000] ^= 0x5a;
    let bad = dir.path().join("bad.wandb");
    std::fs::write(&bad, &flipped).unwrap();
    let runs = load_runs(std::slice::from_ref(&bad)).unwrap();
    let run = &runs[0];
    let note = run.notes.iter().find(|n| n.serious).expect("a damage note");
    let at = note.offset.unwrap();
    assert!((32_768..=40_000).contains(&at), "{at}");
    let n = run.series("train/loss").unwrap().points.len();
    assert!(n < n_whole && n > n_whole / 2, "{n} of {n_whole}");

    // Not a W&B log at all, named on the command line: an error naming the file and offset.
    let junk = dir.path().join("junk.wandb");
    std::fs::write(&junk, b"PK\x03\x04 not a transaction log").unwrap();
    let err = load_runs(std::slice::from_ref(&junk))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("junk.wandb") && err.contains("offset 0"),
        "{err}"
    );
    assert!(Path::new(&junk).exists());
}
