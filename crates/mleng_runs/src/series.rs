//! The in-memory model every reader produces: named scalar series of (step, value) points.

use std::path::PathBuf;

use serde::Serialize;

use crate::config::RunConfig;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    pub step: i64,
    pub value: f64,
    /// Seconds since the epoch when the format records it (TensorBoard, MLflow), else NaN:
    /// a plain f64 keeps a point at 24 bytes, which matters for millions of scalars.
    /// Read it with [`Point::wall`].
    #[serde(skip_serializing_if = "is_nan")]
    pub wall_time: f64,
}

fn is_nan(v: &f64) -> bool {
    v.is_nan()
}

impl Point {
    pub fn wall(&self) -> Option<f64> {
        (!self.wall_time.is_nan()).then_some(self.wall_time)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    pub name: String,
    pub points: Vec<Point>,
    pub source: PathBuf,
}

impl Series {
    pub fn new(name: impl Into<String>, source: impl Into<PathBuf>) -> Series {
        Series {
            name: name.into(),
            points: Vec::new(),
            source: source.into(),
        }
    }

    pub fn push(&mut self, step: i64, value: f64, wall_time: Option<f64>) {
        self.points.push(Point {
            step,
            value,
            wall_time: wall_time.unwrap_or(f64::NAN),
        });
    }

    pub fn values(&self) -> Vec<f64> {
        self.points.iter().map(|p| p.value).collect()
    }

    pub fn steps(&self) -> Vec<i64> {
        self.points.iter().map(|p| p.step).collect()
    }

    pub fn last(&self) -> Option<Point> {
        self.points.last().copied()
    }

    /// The last point at or before `step`.
    pub fn at_or_before(&self, step: i64) -> Option<Point> {
        self.points.iter().rev().find(|p| p.step <= step).copied()
    }

    /// The last point strictly before `step` whose value is finite.
    pub fn finite_before(&self, step: i64) -> Option<Point> {
        self.points
            .iter()
            .rev()
            .find(|p| p.step < step && p.value.is_finite())
            .copied()
    }
}

/// Something wrong with a log that did not stop us reading it (bad CRC, truncated tail,
/// a line that does not parse). Reported as an `input` finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReadNote {
    pub path: PathBuf,
    /// Byte offset (binary formats) or 1-based line number (text formats) of the damage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    pub message: String,
    /// A truncated tail is normal for a run that is still writing; damage mid-file is not.
    pub serious: bool,
}

/// What one reader got out of one file (or one MLflow run).
#[derive(Debug, Clone, Default)]
pub struct SourceData {
    pub series: Vec<Series>,
    pub notes: Vec<ReadNote>,
    /// A run name the format itself records (MLflow `run_name`), if any.
    pub run_name: Option<String>,
    /// Hyperparameters the format records beside the metrics (W&B `config.yaml`).
    pub config: Option<RunConfig>,
    /// Only the run's final values could be read (a W&B summary without its history).
    pub final_values_only: bool,
}

impl SourceData {
    /// Gets or creates the series called `name`, keeping first-seen order.
    pub fn series_mut(&mut self, name: &str, source: &std::path::Path) -> &mut Series {
        let idx = match self.series.iter().position(|s| s.name == name) {
            Some(i) => i,
            None => {
                self.series.push(Series::new(name, source));
                self.series.len() - 1
            }
        };
        &mut self.series[idx]
    }
}

/// One training run: all series from all files that belong to it.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub name: String,
    pub root: PathBuf,
    pub sources: Vec<PathBuf>,
    pub series: Vec<Series>,
    pub notes: Vec<ReadNote>,
    /// Hyperparameters recorded beside the metrics, when a format keeps them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<RunConfig>,
    /// Every series holds only the run's final values: the history could not be read.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub final_values_only: bool,
}

impl Run {
    pub fn series(&self, name: &str) -> Option<&Series> {
        self.series.iter().find(|s| s.name == name)
    }
}
