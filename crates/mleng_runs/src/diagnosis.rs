//! One run's diagnosis: the verdict, the summary numbers for `--compare`, and the events,
//! plus their conversion to the project's shared [`Finding`] model.

use std::path::PathBuf;

use mleng_diagnostics::{Area, Finding, Fix, Location, Severity};
use serde::Serialize;

use crate::config::RunConfig;
use crate::detect::{self, is_fraction, values, Event};
use crate::roles::{Role, RunView};
use crate::series::{ReadNote, Run};
use crate::stats::{self, fmt};

/// Code for problems with the log files themselves.
pub const INPUT_CODE: &str = "RUN020";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Healthy,
    Attention,
    Failed,
    /// Not one value could be read: nothing to judge (the notes say why).
    NoData,
    /// Only the run's final values could be read (a W&B summary whose log is missing or
    /// unreadable): too little to call the run healthy.
    FinalValuesOnly,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Healthy => "HEALTHY",
            Status::Attention => "NEEDS ATTENTION",
            Status::Failed => "FAILED",
            Status::NoData => "NO DATA",
            Status::FinalValuesOnly => "FINAL VALUES ONLY",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Best {
    pub value: f64,
    pub step: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    pub last_step: Option<i64>,
    pub final_train_loss: Option<f64>,
    pub final_val_loss: Option<f64>,
    pub best_val_loss: Option<Best>,
    pub val_metric_name: Option<String>,
    pub final_val_metric: Option<f64>,
    pub best_val_metric: Option<Best>,
    /// Which series fills each role (after `--metric` overrides).
    pub roles: Vec<(Role, String)>,
    /// Hyperparameters recorded beside the metrics (W&B `config.yaml`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<RunConfig>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    pub run: String,
    pub root: PathBuf,
    pub sources: Vec<PathBuf>,
    pub status: Status,
    pub verdict: String,
    pub summary: Summary,
    pub events: Vec<Event>,
    pub notes: Vec<ReadNote>,
}

pub fn diagnose(run: &Run, overrides: &[(Role, String)], classes: Option<u32>) -> Diagnosis {
    let view = RunView::new(run, overrides, classes);
    let events = detect::run_all(&view);
    let summary = summarize(&view);
    let worst = events.iter().map(|e| e.severity).max();
    let empty = run.series.iter().all(|s| s.points.is_empty());
    let status = match worst {
        Some(Severity::Error) => Status::Failed,
        Some(Severity::Warning) => Status::Attention,
        _ if empty => Status::NoData,
        _ if run.final_values_only => Status::FinalValuesOnly,
        _ => Status::Healthy,
    };
    let verdict = if status == Status::NoData {
        format!(
            "{}: no metric value could be read from {}; see the notes",
            status.label(),
            match run.sources.len() {
                1 => "the log".to_string(),
                n => format!("its {n} logs"),
            }
        )
    } else {
        verdict(status, &events, &summary)
    };
    Diagnosis {
        run: run.name.clone(),
        root: run.root.clone(),
        sources: run.sources.clone(),
        status,
        verdict,
        summary,
        events,
        notes: run.notes.clone(),
    }
}

/// Codes in the order a reader wants to hear them: the terminal symptom first.
const PRIORITY: [&str; 7] = [
    "RUN001", "RUN006", "RUN003", "RUN002", "RUN014", "RUN007", "RUN009",
];

fn verdict(status: Status, events: &[Event], summary: &Summary) -> String {
    let worst = events.iter().map(|e| e.severity).max();
    let rank = |e: &&Event| {
        PRIORITY
            .iter()
            .position(|c| *c == e.code)
            .unwrap_or(PRIORITY.len())
    };
    let primary = events
        .iter()
        .filter(|e| Some(e.severity) == worst && e.severity >= Severity::Warning)
        .min_by_key(rank);
    match primary {
        Some(p) => {
            let others: Vec<String> = events
                .iter()
                .filter(|e| e.severity >= Severity::Warning && !std::ptr::eq(*e, p))
                .map(|e| format!("{} {}", e.code, e.name))
                .collect();
            let also = if others.is_empty() {
                String::new()
            } else {
                format!(" [also: {}]", others.join(", "))
            };
            format!("{}: {}{also}", status.label(), p.title)
        }
        None if status == Status::FinalValuesOnly => {
            let mut finals = Vec::new();
            for (name, value) in [
                ("train loss", summary.final_train_loss),
                ("val loss", summary.final_val_loss),
                (
                    summary.val_metric_name.as_deref().unwrap_or("val metric"),
                    summary.final_val_metric,
                ),
            ] {
                if let Some(v) = value {
                    finals.push(format!("{name} {}", fmt(v)));
                }
            }
            format!(
                "{}: the history could not be read, so the curves cannot be judged (see the notes){}",
                status.label(),
                if finals.is_empty() {
                    String::new()
                } else {
                    format!("; final {}", finals.join(", "))
                }
            )
        }
        None => format!(
            "{}: {}",
            status.label(),
            summary_parts(summary).map_or_else(
                || "no problems found (no loss was recognized; see --metric)".to_string(),
                |p| format!("no instability found; {p}")
            )
        ),
    }
}

fn summary_parts(s: &Summary) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(l) = s.final_train_loss {
        parts.push(format!("train loss ends at {}", fmt(l)));
    }
    if let Some(b) = s.best_val_loss {
        parts.push(format!("best val loss {} at step {}", fmt(b.value), b.step));
    }
    if let (Some(name), Some(b)) = (&s.val_metric_name, s.best_val_metric) {
        parts.push(format!("best {name} {}", fmt(b.value)));
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

fn summarize(view: &RunView<'_>) -> Summary {
    let pts = |role| -> Vec<(i64, f64)> {
        view.get(role)
            .map(|s| s.points.iter().map(|p| (p.step, p.value)).collect())
            .unwrap_or_default()
    };
    let last = |v: &[(i64, f64)]| v.last().map(|p| p.1);
    let best = |v: &[(i64, f64)], lower: bool| -> Option<Best> {
        v.iter()
            .filter(|p| p.1.is_finite())
            .min_by(|a, b| {
                if lower {
                    a.1.total_cmp(&b.1)
                } else {
                    b.1.total_cmp(&a.1)
                }
            })
            .map(|&(step, value)| Best {
                value,
                step,
                epoch: view.epoch_at(step),
            })
    };
    let train = pts(Role::TrainLoss);
    let val = pts(Role::ValLoss);
    let metric = pts(Role::ValMetric);
    let higher_better = is_fraction(&metric) || !metric.is_empty();
    Summary {
        last_step: view
            .run
            .series
            .iter()
            .filter_map(|s| s.last())
            .map(|p| p.step)
            .max(),
        final_train_loss: if train.len() > 3 {
            stats::tail_median(&values(&train), 0.0, 1).or(last(&train))
        } else {
            last(&train)
        },
        final_val_loss: last(&val),
        best_val_loss: best(&val, true),
        val_metric_name: view.get(Role::ValMetric).map(|s| s.name.clone()),
        final_val_metric: last(&metric),
        best_val_metric: best(&metric, !higher_better),
        roles: view
            .roles
            .iter()
            .map(|(r, s)| (*r, s.name.clone()))
            .collect(),
        config: view.run.config.clone(),
    }
}

impl Diagnosis {
    /// The events and read notes as project-wide findings (area `training`/`input`).
    pub fn findings(&self) -> Vec<Finding> {
        let mut out = Vec::new();
        for note in &self.notes {
            let mut loc = Location::file(&note.path);
            if let Some(line) = note.line {
                loc.span = Some(mleng_diagnostics::Span::point(
                    line.min(u64::from(u32::MAX)) as u32,
                    1,
                ));
            }
            let mut f = Finding::new(
                INPUT_CODE,
                "damaged-log",
                if note.serious {
                    Severity::Warning
                } else {
                    Severity::Info
                },
                Area::Input,
                loc,
                note.message.clone(),
            );
            if let Some(off) = note.offset {
                f = f.with_evidence(format!("byte offset {off}"));
            }
            out.push(f);
        }
        let path = self
            .sources
            .first()
            .cloned()
            .unwrap_or_else(|| self.root.clone());
        for e in &self.events {
            let mut f = Finding::new(
                e.code,
                e.name,
                e.severity,
                Area::Training,
                Location::file(&path),
                format!("{}: {}", self.run, e.title),
            );
            if let (Some(a), Some(b)) = (e.first_step, e.last_step) {
                f = f.with_evidence(if a == b {
                    format!("step {a}")
                } else {
                    format!("steps {a}-{b}")
                });
            }
            for line in &e.evidence {
                f = f.with_evidence(line.clone());
            }
            for (i, c) in e.causes.iter().enumerate() {
                f = f.with_evidence(format!("likely cause {}: {c}", i + 1));
            }
            if !e.related.is_empty() {
                f = f.with_evidence(format!("related review rules: {}", e.related.join(", ")));
            }
            if !e.fixes.is_empty() {
                f = f.with_fix(Fix::new(e.fixes.join("; ")));
            }
            out.push(f);
        }
        out
    }
}
