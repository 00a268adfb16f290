//! The detectors, one module each, and [`diagnose`], which runs them over one run.
//! Each detector documents its thresholds and the published rule it starts from.

pub mod amp_scaled;
pub mod divergence;
pub mod exploding;
pub mod grad_growth;
pub mod loss_floor;
pub mod lr_schedule;
pub mod nonfinite;
pub mod not_learning;
pub mod oscillation;
pub mod overfitting;
pub mod spikes;
pub mod throughput;
pub mod val_better;
pub mod vanishing;

use mleng_diagnostics::Severity;
use serde::Serialize;

use crate::config::RunConfig;
use crate::roles::{Role, RunView};
use crate::series::Series;
use crate::stats;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MarkerKind {
    NonFinite,
    Spike,
    BestEpoch,
    Event,
}

/// A vertical line or point the plot draws at `step`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Marker {
    pub step: i64,
    pub kind: MarkerKind,
    pub label: String,
}

/// A horizontal line the plot draws on the loss panel (a chance level, a loss floor).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Level {
    pub value: f64,
    pub label: String,
}

/// One detected problem, in the words of an ML engineer, with the numbers that prove it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub code: &'static str,
    pub name: &'static str,
    pub severity: Severity,
    /// One sentence: what happened and when.
    pub title: String,
    pub first_step: Option<i64>,
    pub last_step: Option<i64>,
    pub evidence: Vec<String>,
    /// Most likely first.
    pub causes: Vec<String>,
    pub fixes: Vec<String>,
    /// `mleng review` rule codes about the same problem in the code.
    pub related: Vec<&'static str>,
    pub markers: Vec<Marker>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub levels: Vec<Level>,
}

impl Event {
    pub fn new(code: &'static str, name: &'static str, severity: Severity, title: String) -> Event {
        Event {
            code,
            name,
            severity,
            title,
            first_step: None,
            last_step: None,
            evidence: Vec::new(),
            causes: Vec::new(),
            fixes: Vec::new(),
            related: Vec::new(),
            markers: Vec::new(),
            levels: Vec::new(),
        }
    }

    pub fn steps(mut self, first: i64, last: i64) -> Event {
        self.first_step = Some(first);
        self.last_step = Some(last);
        self
    }
}

/// Facts several detectors need, computed once.
pub struct Context<'a> {
    pub view: &'a RunView<'a>,
    /// First step where the train loss (or the val loss) is NaN/inf; later points are noise.
    pub first_nonfinite: Option<i64>,
    pub classes: Option<u32>,
    /// K read from the first logged losses when they sit at ln K for a common K (2, 10,
    /// 100, 1000): an untrained classifier's cross-entropy.
    pub initial_classes: Option<u32>,
    /// Hyperparameters recorded beside the metrics: they add to what the history shows,
    /// never replace it.
    pub config: Option<&'a RunConfig>,
}

impl<'a> Context<'a> {
    pub fn new(view: &'a RunView<'a>) -> Context<'a> {
        let first_nonfinite = [Role::TrainLoss, Role::ValLoss]
            .into_iter()
            .filter_map(|r| view.get(r))
            .filter_map(|s| {
                s.points
                    .iter()
                    .find(|p| !p.value.is_finite())
                    .map(|p| p.step)
            })
            .min();
        let mut ctx = Context {
            view,
            first_nonfinite,
            classes: view.classes,
            initial_classes: None,
            config: view.run.config.as_ref(),
        };
        let (_, loss) = ctx.loss();
        let first: Vec<f64> = loss.iter().take(3).map(|p| p.1).collect();
        ctx.initial_classes = stats::median(&first).and_then(|l| {
            [2u32, 10, 100, 1000].into_iter().find(|&k| {
                let ln = f64::from(k).ln();
                ((l - ln) / ln).abs() <= 0.12
            })
        });
        ctx
    }

    pub fn get(&self, role: Role) -> Option<&'a Series> {
        self.view.get(role)
    }

    /// The points of `role` before the first non-finite loss, finite only, as (step, value).
    pub fn clean(&self, role: Role) -> Vec<(i64, f64)> {
        let cutoff = self.first_nonfinite.unwrap_or(i64::MAX);
        self.get(role)
            .map(|s| {
                s.points
                    .iter()
                    .filter(|p| p.step < cutoff && p.value.is_finite())
                    .map(|p| (p.step, p.value))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The loss the detectors look at: train loss, else val loss.
    pub fn loss(&self) -> (Role, Vec<(i64, f64)>) {
        let train = self.clean(Role::TrainLoss);
        if train.len() >= 5 {
            (Role::TrainLoss, train)
        } else {
            (Role::ValLoss, self.clean(Role::ValLoss))
        }
    }

    pub fn series_name(&self, role: Role) -> String {
        self.get(role)
            .map(|s| s.name.clone())
            .unwrap_or_else(|| role.as_str().to_string())
    }

    /// `" (epoch 16)"` when an epoch is logged at `step`.
    pub fn epoch_note(&self, step: i64) -> String {
        self.view
            .epoch_at(step)
            .map(|e| format!(" (epoch {})", stats::fmt(e)))
            .unwrap_or_default()
    }

    /// The learning rate in effect at `step`, if logged.
    pub fn lr_at(&self, step: i64) -> Option<f64> {
        self.get(Role::LearningRate)
            .and_then(|s| s.at_or_before(step).or_else(|| s.points.first().copied()))
            .map(|p| p.value)
    }

    /// The configured learning rate, only where none was logged: `(value, evidence line)`.
    pub fn configured_lr(&self) -> Option<(f64, String)> {
        if self.get(Role::LearningRate).is_some() {
            return None;
        }
        let c = self.config?;
        Some((c.learning_rate.as_ref()?.value, c.lr_evidence()?))
    }

    /// Number of classes: `--classes`, else where the untrained model's loss started (ln K
    /// for a common K), else guessed from where a stuck classifier's cross-entropy sits (ln K),
    /// preferring common K (2, 10, 100, 1000). The start is the better witness: a run that
    /// blew up settles at the prior of the classes it still predicts, not at ln K.
    pub fn chance_classes(&self, loss_level: f64) -> Option<u32> {
        if let Some(k) = self.classes.or(self.initial_classes) {
            return Some(k);
        }
        if !(0.5..=8.0).contains(&loss_level) {
            return None;
        }
        for k in [2u32, 10, 100, 1000] {
            let ln = f64::from(k).ln();
            if ((loss_level - ln) / ln).abs() <= 0.12 {
                return Some(k);
            }
        }
        let k = loss_level.exp().round();
        (k >= 2.0).then_some(k as u32)
    }
}

/// Accuracy-like metrics live in [0, 1]; the chance and perfection rules need that.
pub fn is_fraction(values: &[(i64, f64)]) -> bool {
    !values.is_empty() && values.iter().all(|(_, v)| (0.0..=1.0).contains(v))
}

pub fn values(points: &[(i64, f64)]) -> Vec<f64> {
    points.iter().map(|p| p.1).collect()
}

/// Runs every detector over one run; events come back most severe first, then by step.
pub fn run_all(view: &RunView<'_>) -> Vec<Event> {
    let ctx = Context::new(view);
    let mut events = Vec::new();
    // The rolling-window detectors cost most on long runs: spikes runs on its own thread
    // while this one runs the next most costly ones. The order of `events` is unchanged.
    let (spikes, early) = std::thread::scope(|scope| {
        let spikes = scope.spawn(|| spikes::detect(&ctx));
        let early = (
            nonfinite::detect(&ctx),
            exploding::detect(&ctx),
            divergence::detect(&ctx),
            oscillation::detect(&ctx),
        );
        (spikes.join(), early)
    });
    let spikes = spikes.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    events.extend(early.0);
    events.extend(early.1);
    events.extend(early.2);
    events.extend(spikes);
    events.extend(early.3);
    let vanishing = vanishing::detect(&ctx);
    events.extend(not_learning::detect(&ctx, &events, vanishing.as_ref()));
    events.extend(vanishing);
    events.extend(overfitting::detect(&ctx));
    events.extend(loss_floor::detect(&ctx));
    events.extend(lr_schedule::detect(&ctx, &events));
    events.extend(amp_scaled::detect(&ctx));
    events.extend(grad_growth::detect(&ctx));
    events.extend(throughput::detect(&ctx));
    if !events.iter().any(|e| e.code == not_learning::CODE) {
        events.extend(val_better::detect(&ctx));
    }
    events.sort_by(|a, b| {
        b.severity.cmp(&a.severity).then(
            a.first_step
                .unwrap_or(i64::MAX)
                .cmp(&b.first_step.unwrap_or(i64::MAX)),
        )
    });
    events
}
