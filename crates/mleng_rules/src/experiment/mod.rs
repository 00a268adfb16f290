//! Experiment management: seeds, determinism, configuration, tracking, checkpoints.

use crate::project::ProjectRule;
use crate::rule::Rule;

mod unseeded_training;
mod whole_model_saved;

pub(crate) const RULES: &[&Rule] = &[&whole_model_saved::RULE, &unseeded_training::RULE];

pub(crate) const PROJECT_RULES: &[&ProjectRule] = &[&ProjectRule {
    rule: &unseeded_training::RULE,
    check: unseeded_training::check_project,
}];
