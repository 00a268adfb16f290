//! Experiment management: seeds, determinism, configuration, tracking, checkpoints.

use crate::project::ProjectRule;
use crate::rule::Rule;

mod dataloader_worker_seeding;
mod notebook_out_of_order;
mod preprocessing_before_split;
mod unpinned_framework;
mod unseeded_training;
mod whole_model_saved;

pub(crate) const RULES: &[&Rule] = &[
    &whole_model_saved::RULE,
    &unseeded_training::RULE,
    &notebook_out_of_order::RULE,
    &unpinned_framework::RULE,
    &preprocessing_before_split::RULE,
    &dataloader_worker_seeding::RULE,
];

pub(crate) const PROJECT_RULES: &[&ProjectRule] = &[
    &ProjectRule {
        rule: &unseeded_training::RULE,
        check: unseeded_training::check_project,
        candidates: None,
    },
    &ProjectRule {
        rule: &unpinned_framework::RULE,
        check: unpinned_framework::check_project,
        candidates: None,
    },
    &ProjectRule {
        rule: &dataloader_worker_seeding::RULE,
        check: dataloader_worker_seeding::check_project,
        candidates: Some(dataloader_worker_seeding::candidates),
    },
];
