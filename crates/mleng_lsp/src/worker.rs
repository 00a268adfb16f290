//! The review worker: a thread that waits until edits stop (the debounce), reviews, and sends
//! the findings back to the main loop, which stays free to answer the client meanwhile.
//!
//! Whole-project reviews are incremental ([`mleng_review::Reviewer::review_incremental`]): the
//! reviewer of each root keeps every file's source and summary, and the findings and facts
//! computed with the current project model, so an edit that changes nothing other files see
//! costs the changed files and the project rules; one that does (a model's final activation,
//! a function's lines) rebuilds the model and checks every file again. Either way the result is
//! that of a review from scratch.
//!
//! A root whose whole-project review is cheap even when the model is rebuilt is reviewed whole
//! on every change: project rules and cross-file facts are then always exact. A larger one gets
//! the changed files reviewed alone first (published within milliseconds), then the whole
//! project: at once when its last review that kept the model was cheap (an edit inside a
//! function usually keeps it), else once edits pause for [`PROJECT_DELAY`].

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use mleng_diagnostics::Finding;
use mleng_review::{Buffer, Reuse};

use crate::reviewers::Reviewers;

/// A whole-project review at most this long (its last incremental review that kept the project
/// model, or else its last review) runs on every change.
pub const FULL_REVIEW_BUDGET: Duration = Duration::from_millis(40);
/// After the changed files of a large project were reviewed alone, the quiet time before the
/// whole project is reviewed again.
pub const PROJECT_DELAY: Duration = Duration::from_millis(600);

/// What to review.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// A workspace folder: every file in it, as one project.
    Folder(PathBuf),
    /// A file outside every workspace folder: that file alone.
    File(PathBuf),
}

impl Scope {
    pub fn root(&self) -> &PathBuf {
        match self {
            Scope::Folder(p) | Scope::File(p) => p,
        }
    }
}

#[derive(Debug)]
pub struct Job {
    pub scope: Scope,
    /// Every open document in the scope (editor buffers over the files on disk).
    pub buffers: Vec<Buffer>,
    /// Files edited since the last review.
    pub changed: Vec<PathBuf>,
    /// Review the whole project now (first review of a folder, a save, a configuration change).
    pub full: bool,
    /// How long to wait for more edits before reviewing.
    pub delay: Duration,
}

pub struct Outcome {
    pub scope: Scope,
    /// `true`: findings of every file in the scope; `false`: of `reviewed` only, without
    /// project-rule findings (the main loop keeps the last ones for those files).
    pub full: bool,
    pub reviewed: Vec<PathBuf>,
    pub findings: Vec<Finding>,
    /// The buffers reviewed: findings' positions count in these texts.
    pub buffers: Vec<Buffer>,
    pub elapsed: Duration,
    /// How much of an incremental whole review was done again.
    pub reuse: Option<Reuse>,
    pub config_error: Option<String>,
}

struct Pending {
    buffers: Vec<Buffer>,
    changed: BTreeSet<PathBuf>,
    /// A whole review was asked for. A pending review without changed files (the one that
    /// follows a review of the changed files alone) is whole too.
    full: bool,
    due: Instant,
}

pub fn spawn(reviewers: Arc<Reviewers>, outcomes: Sender<Outcome>) -> std::io::Result<Sender<Job>> {
    let (jobs, receiver) = crossbeam_channel::unbounded();
    thread::Builder::new()
        .name("mleng-lsp-review".into())
        .spawn(move || Worker::default().run(&receiver, &reviewers, &outcomes))?;
    Ok(jobs)
}

#[derive(Default)]
struct Worker {
    pending: HashMap<Scope, Pending>,
    /// How long each root's last whole-project reviews took.
    full_time: HashMap<Scope, Timings>,
}

/// The last whole-project review of a root that kept the project model (an edit other files
/// do not see) and the last one that rebuilt it (the first review, or an edit that changed
/// what other files see: a new line above a function is enough).
#[derive(Default, Clone, Copy)]
struct Timings {
    kept_model: Option<Duration>,
    rebuilt_model: Option<Duration>,
}

impl Worker {
    fn run(mut self, jobs: &Receiver<Job>, reviewers: &Reviewers, outcomes: &Sender<Outcome>) {
        loop {
            let next_due = self.pending.values().map(|p| p.due).min();
            let received = match next_due {
                None => jobs.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(due) => jobs.recv_timeout(due.saturating_duration_since(Instant::now())),
            };
            match received {
                Ok(job) => self.add(job),
                Err(RecvTimeoutError::Timeout) => self.review_due(reviewers, outcomes),
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    fn add(&mut self, job: Job) {
        let due = Instant::now() + job.delay;
        let entry = self.pending.entry(job.scope).or_insert_with(|| Pending {
            buffers: Vec::new(),
            changed: BTreeSet::new(),
            full: false,
            due,
        });
        // The latest snapshot of the buffers wins; the edits and the need for a whole
        // review add up; the last edit sets the time.
        entry.buffers = job.buffers;
        entry.changed.extend(job.changed);
        entry.full |= job.full;
        entry.due = due;
    }

    fn review_due(&mut self, reviewers: &Reviewers, outcomes: &Sender<Outcome>) {
        let now = Instant::now();
        let due: Vec<Scope> = self
            .pending
            .iter()
            .filter(|(_, p)| p.due <= now)
            .map(|(s, _)| s.clone())
            .collect();
        for scope in due {
            let Some(pending) = self.pending.remove(&scope) else {
                continue;
            };
            let outcome = self.review(&scope, pending, reviewers);
            if outcomes.send(outcome).is_err() {
                return;
            }
        }
    }

    fn review(&mut self, scope: &Scope, pending: Pending, reviewers: &Reviewers) -> Outcome {
        let started = Instant::now();
        let (reviewer, config_error) = reviewers.get(scope.root());
        let timings = self.full_time.get(scope).copied().unwrap_or_default();
        // Whole on every change only when even a rebuild of the model is cheap: otherwise an
        // edit that changes a summary would hold back the edited file's own diagnostics.
        let whole_is_cheap = timings
            .rebuilt_model
            .is_some_and(|t| t <= FULL_REVIEW_BUDGET);
        let full = pending.full
            || whole_is_cheap
            || pending.changed.is_empty()
            || matches!(scope, Scope::File(_));
        let (reviewed, buffers) = if full {
            (vec![scope.root().clone()], pending.buffers.clone())
        } else {
            let changed: Vec<PathBuf> = pending.changed.iter().cloned().collect();
            let buffers = pending
                .buffers
                .iter()
                .filter(|b| pending.changed.contains(&b.path))
                .cloned()
                .collect();
            (changed, buffers)
        };
        let review = if full {
            reviewer.review_incremental(&reviewed, &buffers)
        } else {
            reviewer.review(&reviewed, &buffers, false)
        };
        let elapsed = started.elapsed();
        if full {
            let kept_model = review.reuse.is_some_and(|r| r.models_built == 0);
            let entry = self.full_time.entry(scope.clone()).or_default();
            if kept_model {
                entry.kept_model = Some(elapsed);
            } else {
                entry.rebuilt_model = Some(elapsed);
            }
        } else {
            // The project as a whole is reviewed next: at once when an edit that keeps the
            // model is cheap (the changed files' own findings are already out), else once
            // edits pause.
            let delay = if timings.kept_model.is_some_and(|t| t <= FULL_REVIEW_BUDGET) {
                Duration::ZERO
            } else {
                PROJECT_DELAY
            };
            self.pending.insert(
                scope.clone(),
                Pending {
                    buffers: pending.buffers.clone(),
                    changed: BTreeSet::new(),
                    full: false,
                    due: Instant::now() + delay,
                },
            );
        }
        Outcome {
            scope: scope.clone(),
            full,
            reviewed: if full {
                Vec::new()
            } else {
                pending.changed.into_iter().collect()
            },
            findings: review.findings,
            buffers: pending.buffers,
            elapsed,
            reuse: review.reuse,
            config_error,
        }
    }
}
