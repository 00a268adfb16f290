//! Training-log readers and run diagnosis for `mleng diagnose`.
//!
//! Pipeline: [`discover::load_runs`] finds and reads logs into [`series::Run`]s,
//! [`roles::RunView`] maps metric names to roles, [`detect::diagnose`] runs the detectors,
//! and [`report`] / [`plot`] render the result.

pub mod catalog;
pub mod config;
pub mod discover;
pub mod error;
pub mod plot;
pub mod readers;
pub mod report;
pub mod roles;
pub mod series;

pub use error::{Result, RunsError};
pub mod detect;
pub mod diagnosis;
pub mod stats;
