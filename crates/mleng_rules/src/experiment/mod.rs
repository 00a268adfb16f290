//! Experiment management: seeds, determinism, configuration, tracking, checkpoints.

use crate::rule::Rule;

pub(crate) const RULES: &[&Rule] = &[];
