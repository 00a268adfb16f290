//! Property tests: no reader, detector or renderer panics on corrupt or adversarial input.
//! Case counts are per property; multiply them with `MLENG_FUZZ_SCALE=10` for a long run.

use std::path::{Path, PathBuf};

use mleng_runs::diagnosis::diagnose;
use mleng_runs::readers::{
    csv_table, hf_state, json_nonfinite, jsonl, mlflow, tensorboard, tfrecord, wandb, wandb_files,
};
use mleng_runs::series::{Run, Series};
use proptest::prelude::*;

const RUNS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/runs");
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

fn cases(n: u32) -> ProptestConfig {
    let scale: u32 = std::env::var("MLENG_FUZZ_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    ProptestConfig {
        cases: n * scale,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(PathBuf::from(RUNS).join(rel)).unwrap()
}

fn tb_fixture() -> Vec<u8> {
    let dir = PathBuf::from(RUNS).join("diverge_nan_sgd_lr5/tb");
    let f = std::fs::read_dir(&dir).unwrap().flatten().next().unwrap();
    std::fs::read(f.path()).unwrap()
}

/// Applies byte edits: (position, kind, byte). Kinds: flip, insert, delete, truncate.
fn mutate(mut data: Vec<u8>, edits: &[(usize, u8, u8)]) -> Vec<u8> {
    for &(pos, kind, byte) in edits {
        if data.is_empty() {
            data.push(byte);
            continue;
        }
        let at = pos % data.len();
        match kind % 4 {
            0 => data[at] ^= byte | 1,
            1 => data.insert(at, byte),
            2 => {
                data.remove(at);
            }
            _ => data.truncate(at),
        }
    }
    data
}

fn edits() -> impl Strategy<Value = Vec<(usize, u8, u8)>> {
    prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..6)
}

/// A real offline W&B run written by the `wandb` package (the calibration corpus).
fn wandb_fixture() -> Vec<u8> {
    let root =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/tune/h_mlp_sgd_cos_s2/wandb");
    let run = std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .find(|e| e.path().is_dir())
        .unwrap();
    let file = std::fs::read_dir(run.path())
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(".wandb"))
        .unwrap();
    std::fs::read(file.path()).unwrap()
}

/// `files/config.yaml` or `files/wandb-summary.json` of a real synced W&B run (written by
/// the `wandb` package's sender, see `scripts/make-wandb-synced-runs.py`).
fn wandb_side_file(name: &str) -> String {
    let root = PathBuf::from(DATA).join("wandb_synced/healthy/wandb");
    let run = std::fs::read_dir(&root).unwrap().flatten().next().unwrap();
    std::fs::read_to_string(run.path().join("files").join(name)).unwrap()
}

/// A damaged side file: no panic, and an error names the file.
fn side_file_checks(config: &str, summary: &str) -> Result<(), TestCaseError> {
    let cp = Path::new("run/files/config.yaml");
    if let Err(e) = wandb_files::parse_config(cp, config) {
        prop_assert!(
            e.to_string().starts_with("run/files/config.yaml: "),
            "{}",
            e
        );
    }
    let sp = Path::new("run/files/wandb-summary.json");
    match wandb_files::parse_summary(sp, summary) {
        Ok(out) => {
            let run = Run {
                name: "fuzz".into(),
                root: PathBuf::new(),
                sources: vec![],
                series: out.series,
                notes: out.notes,
                config: None,
                final_values_only: true,
            };
            let d = diagnose(&run, &[], None);
            let _ = mleng_runs::report::text::render(std::slice::from_ref(&d));
        }
        Err(e) => prop_assert!(
            e.to_string().starts_with("run/files/wandb-summary.json: "),
            "{}",
            e
        ),
    }
    Ok(())
}

fn p() -> &'static Path {
    Path::new("fuzz")
}

proptest! {
    #![proptest_config(cases(1000))]

    #[test]
    fn tfrecord_and_tensorboard_accept_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = tfrecord::records(&bytes).count();
        let _ = tensorboard::parse(p(), &bytes, "");
        let _ = tensorboard::sniff(&bytes);
    }

    #[test]
    fn mutated_event_files_read_without_panic(e in edits()) {
        let data = mutate(tb_fixture(), &e);
        let out = tensorboard::parse(p(), &data, "");
        // Whatever survives is diagnosable.
        let run = Run { name: "fuzz".into(), root: PathBuf::new(), sources: vec![], series: out.series, notes: out.notes, config: None, final_values_only: false };
        let d = diagnose(&run, &[], None);
        let _ = mleng_runs::report::text::render(std::slice::from_ref(&d));
    }

    #[test]
    fn wandb_reader_accepts_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048), header in any::<bool>()) {
        let mut data = if header { wandb::MAGIC.to_vec() } else { Vec::new() };
        data.extend_from_slice(&bytes);
        match wandb::parse(p(), &data) {
            Ok(out) => prop_assert!(out.notes.iter().all(|n| n.offset.is_some())),
            Err(e) => prop_assert!(e.to_string().contains("offset"), "{}", e),
        }
    }

    /// A real W&B log, damaged: no panic; every note names its byte offset; what is read
    /// before the first damage is what the intact log holds there.
    #[test]
    fn mutated_wandb_runs_read_without_panic(e in edits()) {
        let intact = wandb_fixture();
        let data = mutate(intact.clone(), &e);
        match wandb::parse(p(), &data) {
            Ok(out) => {
                prop_assert!(out.notes.iter().all(|n| n.offset.is_some_and(|o| (o as usize) <= data.len())));
                let run = Run { name: "fuzz".into(), root: PathBuf::new(), sources: vec![], series: out.series, notes: out.notes, config: None, final_values_only: false };
                let d = diagnose(&run, &[], None);
                let _ = mleng_runs::report::text::render(std::slice::from_ref(&d));
            }
            Err(err) => prop_assert!(err.to_string().contains("offset"), "{}", err),
        }
    }

    #[test]
    fn wandb_side_files_accept_any_text(text in "\\PC{0,400}", yamlish in "[-:{}\\[\\], \\n&*!|>'\"#a-z0-9.]{0,300}") {
        side_file_checks(&text, &text)?;
        side_file_checks(&yamlish, &yamlish)?;
    }

    /// Real `config.yaml` and `wandb-summary.json`, damaged byte by byte.
    #[test]
    fn mutated_wandb_side_files_error_cleanly(e in edits()) {
        let config = mutate(wandb_side_file("config.yaml").into_bytes(), &e);
        let summary = mutate(wandb_side_file("wandb-summary.json").into_bytes(), &e);
        side_file_checks(&String::from_utf8_lossy(&config), &String::from_utf8_lossy(&summary))?;
    }

    #[test]
    fn text_readers_accept_any_text(text in "\\PC{0,400}") {
        let _ = json_nonfinite::sanitize(&text);
        let _ = jsonl::parse(p(), &text);
        let _ = hf_state::parse(p(), &text);
        let _ = csv_table::parse(p(), &text);
    }

    #[test]
    fn json_like_text_is_handled(text in "[\\[\\]{}\":,0-9a-zNaIfity. \\n-]{0,300}") {
        let _ = json_nonfinite::sanitize(&text);
        let _ = jsonl::parse(p(), &text);
        let _ = hf_state::parse(p(), &text);
        let _ = csv_table::parse(p(), &text);
    }
}

proptest! {
    #![proptest_config(cases(500))]

    #[test]
    fn mutated_text_fixtures_read_and_diagnose(e in edits(), which in 0usize..3) {
        let (name, data) = match which {
            0 => ("metrics.jsonl", fixture("overfit_big_mlp_200/metrics.jsonl")),
            1 => ("metrics.csv", fixture("lightning_diverge/csv/version_0/metrics.csv")),
            _ => ("trainer_state.json", fixture("hf_trainer/trainer_state.json")),
        };
        let data = mutate(data, &e);
        let text = String::from_utf8_lossy(&data);
        let parsed = match which {
            0 => jsonl::parse(Path::new(name), &text),
            1 => csv_table::parse(Path::new(name), &text),
            _ => hf_state::parse(Path::new(name), &text),
        };
        if let Ok(out) = parsed {
            let run = Run { name: "fuzz".into(), root: PathBuf::new(), sources: vec![], series: out.series, notes: out.notes, config: None, final_values_only: false };
            let d = diagnose(&run, &[], None);
            let _ = mleng_runs::report::json::render(std::slice::from_ref(&d));
            let _ = mleng_runs::report::markdown::render(std::slice::from_ref(&d));
        }
    }

    /// Detectors on arbitrary series: NaN, inf, zeros, negatives, huge values, repeated and
    /// backwards steps, under every role name.
    #[test]
    fn detectors_accept_any_series(
        series in prop::collection::vec(
            (0usize..12, prop::collection::vec((prop_oneof![4 => -5i64..2000, 1 => any::<i64>()], prop_oneof![
                Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY), Just(0.0),
                any::<f64>(), -10.0f64..10.0, 0.0f64..1.0, 1e-30f64..1e30,
            ]), 0..120)),
            0..8,
        ),
        classes in prop::option::of(0u32..2000),
    ) {
        const NAMES: [&str; 12] = ["loss", "val_loss", "train_acc", "val_acc", "lr", "grad_norm",
            "grad_norm_first_layer", "train_samples_per_second", "epoch", "train/box_loss", "train/cls_loss", "metrics/mAP50-95(B)"];
        let mut run = Run { name: "fuzz".into(), root: PathBuf::new(), sources: vec![], series: vec![], notes: vec![], config: None, final_values_only: false };
        for (name, points) in series {
            let mut s = Series::new(NAMES[name], "fuzz");
            for (step, v) in points {
                s.push(step, v, Some(1.7e9 + step as f64));
            }
            run.series.push(s);
        }
        let d = diagnose(&run, &[], classes);
        let _ = d.findings();
        let _ = mleng_runs::report::text::render(std::slice::from_ref(&d));
        let _ = mleng_runs::report::compare::text(std::slice::from_ref(&d));
    }
}

proptest! {
    #![proptest_config(cases(150))]

    #[test]
    fn mutated_sqlite_stores_error_cleanly(e in edits()) {
        let data = mutate(std::fs::read(PathBuf::from(DATA).join("mlflow_sqlite/mlflow.db")).unwrap(), &e);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mlflow.db");
        std::fs::write(&path, data).unwrap();
        if let Ok(runs) = mlflow::read_sqlite(&path) {
            for (_, out) in runs {
                let run = Run { name: "fuzz".into(), root: PathBuf::new(), sources: vec![], series: out.series, notes: out.notes, config: None, final_values_only: false };
                let _ = diagnose(&run, &[], None);
            }
        }
    }
}

proptest! {
    #![proptest_config(cases(100))]

    /// A whole synced W&B run folder with its log, config and summary each damaged, cut to
    /// nothing or removed: discovery and diagnosis never panic, and what fails names its file.
    #[test]
    fn damaged_wandb_run_folders_read_without_panic(
        e in edits(),
        damage in prop::collection::vec(0u8..4, 3),
    ) {
        let src = PathBuf::from(DATA).join("wandb_synced/healthy/wandb");
        let run = std::fs::read_dir(&src).unwrap().flatten().next().unwrap().path();
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("wandb").join(run.file_name().unwrap());
        std::fs::create_dir_all(folder.join("files")).unwrap();
        let log = std::fs::read_dir(&run).unwrap().flatten().map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "wandb")).unwrap();
        let files = [
            (log.clone(), folder.join(log.file_name().unwrap())),
            (run.join("files/config.yaml"), folder.join("files/config.yaml")),
            (run.join("files/wandb-summary.json"), folder.join("files/wandb-summary.json")),
        ];
        for ((from, to), how) in files.iter().zip(&damage) {
            let bytes = std::fs::read(from).unwrap();
            match how {
                0 => std::fs::write(to, &bytes).unwrap(),
                1 => std::fs::write(to, mutate(bytes, &e)).unwrap(),
                2 => std::fs::write(to, b"").unwrap(),
                _ => {}
            }
        }
        match mleng_runs::discover::load_runs(&[dir.path().to_path_buf()]) {
            Ok(runs) => {
                for run in &runs {
                    for n in &run.notes {
                        prop_assert!(n.path.starts_with(dir.path()), "{:?}", n);
                    }
                    let d = diagnose(run, &[], None);
                    let _ = mleng_runs::report::text::render(std::slice::from_ref(&d));
                }
            }
            Err(err) => {
                // Only "nothing found": every file was removed or emptied.
                prop_assert!(err.to_string().contains("no training logs found"), "{}", err);
            }
        }
    }
}

proptest! {
    #![proptest_config(cases(40))]

    /// Plotting arbitrary (possibly empty or all-NaN) series writes a file or errors.
    #[test]
    fn plots_accept_any_series(values in prop::collection::vec(prop_oneof![
        Just(f64::NAN), Just(f64::MAX), Just(-f64::MAX), Just(f64::MIN_POSITIVE), any::<f64>(), 0.0f64..3.0,
    ], 0..50)) {
        let mut s = Series::new("loss", "fuzz");
        for (i, v) in values.iter().enumerate() {
            s.push(i as i64, *v, None);
        }
        let run = Run { name: "fuzz".into(), root: PathBuf::new(), sources: vec![], series: vec![s], notes: vec![], config: None, final_values_only: false };
        let d = diagnose(&run, &[], None);
        let dir = tempfile::tempdir().unwrap();
        let _ = mleng_runs::plot::write_plots(&dir.path().join("p.svg"), std::slice::from_ref(&run), std::slice::from_ref(&d), &[], None);
    }
}

/// Regression: an axis spanning -1.7e308..1.7e308 made plotters' tick search loop forever.
#[test]
fn plot_with_extreme_values_finishes() {
    let mut s = Series::new("loss", "fuzz");
    for (i, v) in [-1.7e308, 1.7e308, 1.0, f64::MAX, -f64::MAX]
        .iter()
        .enumerate()
    {
        s.push(i as i64, *v, None);
    }
    let run = Run {
        name: "x".into(),
        root: PathBuf::new(),
        sources: vec![],
        series: vec![s],
        notes: vec![],
        config: None,
        final_values_only: false,
    };
    let d = diagnose(&run, &[], None);
    let dir = tempfile::tempdir().unwrap();
    let written = mleng_runs::plot::write_plots(
        &dir.path().join("p.svg"),
        std::slice::from_ref(&run),
        std::slice::from_ref(&d),
        &[],
        None,
    )
    .unwrap();
    assert_eq!(written.len(), 1);
}
