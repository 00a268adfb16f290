//! The two false alarms of issue 16, as the runs that raised them looked: a healthy run
//! with one batch at 5x the running median, and one whose val loss rose ~10% from a best
//! below 0.01 while the val accuracy stayed at its best. Neither is a warning now; the
//! real problems next to them (a spike the run has to climb back from, a val loss that
//! doubles with the accuracy falling) still are.

use std::path::PathBuf;

use mleng_diagnostics::Severity;
use mleng_runs::diagnosis::{diagnose, Diagnosis, Status};
use mleng_runs::series::{Run, Series};

fn series(name: &str, points: impl IntoIterator<Item = (i64, f64)>) -> Series {
    let mut s = Series::new(name, "synthetic");
    for (step, v) in points {
        s.push(step, v, None);
    }
    s
}

fn run(series: Vec<Series>) -> Diagnosis {
    let run = Run {
        name: "issue16".into(),
        root: PathBuf::from("issue16"),
        sources: vec![],
        series,
        notes: vec![],
        config: None,
        final_values_only: false,
    };
    diagnose(&run, &[], None)
}

/// A converging train loss with deterministic batch noise of about +-8%.
fn train_loss(extra: impl Fn(i64) -> f64) -> Series {
    series(
        "train/loss",
        (0..2000).map(|i| {
            let noise = 1.0 + 0.16 * ((i * 7919 % 101) as f64 / 101.0 - 0.5);
            (
                i,
                (0.02 + 2.3 * (-(i as f64) / 150.0).exp()) * noise + extra(i),
            )
        }),
    )
}

fn codes(d: &Diagnosis, at_least: Severity) -> Vec<&'static str> {
    d.events
        .iter()
        .filter(|e| e.severity >= at_least)
        .map(|e| e.code)
        .collect()
}

#[test]
fn a_single_batch_blip_is_not_a_spike() {
    // RUN004 in the issue: one batch at ~5x the running median, normal again next step.
    // Early in the run (loss ~1.2), where it "undoes" more than all the progress so far,
    // which the old rule took for a spike.
    let d = run(vec![train_loss(|i| if i == 100 { 4.8 } else { 0.0 })]);
    assert!(
        !codes(&d, Severity::Info).contains(&"RUN004"),
        "{:#?}",
        d.events
    );
    assert_eq!(d.status, Status::Healthy, "{}", d.verdict);
}

#[test]
fn a_spike_that_undoes_progress_and_lingers_is_reported() {
    // Early in the run: the loss jumps back to near its start and takes 40 steps to recover.
    let d = run(vec![train_loss(|i| {
        if (300..340).contains(&i) {
            1.5 * (1.0 - (i - 300) as f64 / 40.0)
        } else {
            0.0
        }
    })]);
    let e = d
        .events
        .iter()
        .find(|e| e.code == "RUN004")
        .expect("a spike");
    assert!(e.evidence[0].contains("undid"), "{:?}", e.evidence);
    // Two such spikes are a warning.
    let d = run(vec![train_loss(|i| {
        if (300..340).contains(&i) || (700..740).contains(&i) {
            1.0 * (1.0 - (i % 100) as f64 / 40.0)
        } else {
            0.0
        }
    })]);
    assert!(
        codes(&d, Severity::Warning).contains(&"RUN004"),
        "{:#?}",
        d.events
    );
}

fn evals(val_loss: &[f64], val_acc: &[f64]) -> Vec<Series> {
    let steps = |k: usize| (k as i64 + 1) * 100;
    vec![
        train_loss(|_| 0.0),
        series(
            "val/loss",
            val_loss.iter().enumerate().map(|(k, v)| (steps(k), *v)),
        ),
        series(
            "val/acc",
            val_acc.iter().enumerate().map(|(k, v)| (steps(k), *v)),
        ),
        series(
            "train/acc",
            val_acc
                .iter()
                .enumerate()
                .map(|(k, v)| (steps(k), (v + 0.003).min(1.0))),
        ),
    ]
}

#[test]
fn a_tiny_val_loss_rising_with_accuracy_at_its_best_is_info() {
    // RUN007 in the issue: best 0.0082, last evaluations ~10% above, accuracy still at its best.
    let loss = [
        0.9, 0.2, 0.06, 0.02, 0.011, 0.0085, 0.0082, 0.0086, 0.0089, 0.0090, 0.0091, 0.0092,
    ];
    let acc = [
        0.80, 0.95, 0.985, 0.992, 0.995, 0.996, 0.996, 0.997, 0.997, 0.997, 0.997, 0.997,
    ];
    let d = run(evals(&loss, &acc));
    let e = d
        .events
        .iter()
        .find(|e| e.code == "RUN007")
        .expect("an info line");
    assert_eq!(e.severity, Severity::Info, "{}", e.title);
    assert!(
        e.title.contains("pick the checkpoint by val/acc"),
        "{}",
        e.title
    );
    assert_eq!(d.status, Status::Healthy, "{}", d.verdict);
}

#[test]
fn a_val_loss_that_doubles_while_accuracy_falls_is_overfitting() {
    let loss = [
        1.2, 0.6, 0.4, 0.35, 0.33, 0.36, 0.42, 0.5, 0.58, 0.66, 0.72, 0.8,
    ];
    let acc = [
        0.70, 0.85, 0.89, 0.90, 0.91, 0.905, 0.89, 0.88, 0.87, 0.86, 0.86, 0.85,
    ];
    let d = run(evals(&loss, &acc));
    let e = d
        .events
        .iter()
        .find(|e| e.code == "RUN007")
        .expect("overfitting");
    assert_eq!(e.severity, Severity::Warning);
    assert!(e.title.starts_with("Overfitting"), "{}", e.title);
    assert!(d.verdict.contains("Overfitting"), "{}", d.verdict);
}

#[test]
fn blips_that_recur_and_grow_are_a_warning_shrinking_ones_are_not() {
    let at = [500i64, 800, 1100, 1400, 1700];
    let growing = run(vec![train_loss(|i| {
        at.iter()
            .position(|&s| s == i)
            .map_or(0.0, |k| 0.8 + 0.5 * k as f64)
    })]);
    let e = growing
        .events
        .iter()
        .find(|e| e.code == "RUN004")
        .expect("recurring growing blips");
    assert_eq!(e.severity, Severity::Warning, "{}", e.title);
    let shrinking = run(vec![train_loss(|i| {
        at.iter()
            .position(|&s| s == i)
            .map_or(0.0, |k| 2.8 - 0.5 * k as f64)
    })]);
    assert!(
        !codes(&shrinking, Severity::Info).contains(&"RUN004"),
        "{:#?}",
        shrinking.events
    );
}
