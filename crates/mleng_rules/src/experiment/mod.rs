//! Experiment management: seeds, determinism, configuration, tracking, checkpoints.

use crate::project::ProjectRule;
use crate::rule::Rule;

pub(crate) const RULES: &[&Rule] = &[];

pub(crate) const PROJECT_RULES: &[&ProjectRule] = &[];
