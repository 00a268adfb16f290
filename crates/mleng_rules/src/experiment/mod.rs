//! Experiment management: seeds, determinism, configuration, tracking, checkpoints.

use crate::project::ProjectRule;
use crate::rule::Rule;

mod whole_model_saved;

pub(crate) const RULES: &[&Rule] = &[&whole_model_saved::RULE];

pub(crate) const PROJECT_RULES: &[&ProjectRule] = &[];
