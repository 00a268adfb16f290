//! Experiment management: seeds, determinism, configuration, tracking, checkpoints.

use crate::project::ProjectRule;
use crate::rule::Rule;

mod checkpoint_not_resumable;
pub(crate) mod dataloader_worker_seeding;
mod hardcoded_hyperparameters;
mod hyperparameters_not_recorded;
mod no_metric_tracking;
mod no_validation;
mod nondeterministic_setup;
mod notebook_out_of_order;
mod preprocessing_before_split;
mod test_set_used_for_selection;
mod unpinned_framework;
mod unseeded_training;
mod whole_model_saved;
mod worker_seed_ignores_worker;
mod wrapper_state_dict_saved;

pub(crate) const RULES: &[&Rule] = &[
    &whole_model_saved::RULE,
    &wrapper_state_dict_saved::RULE,
    &unseeded_training::RULE,
    &notebook_out_of_order::RULE,
    &unpinned_framework::RULE,
    &preprocessing_before_split::RULE,
    &dataloader_worker_seeding::RULE,
    &no_metric_tracking::RULE,
    &checkpoint_not_resumable::RULE,
    &nondeterministic_setup::RULE,
    &hardcoded_hyperparameters::RULE,
    &hyperparameters_not_recorded::RULE,
    &no_validation::RULE,
    &test_set_used_for_selection::RULE,
    &worker_seed_ignores_worker::RULE,
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
    &ProjectRule {
        rule: &no_metric_tracking::RULE,
        check: no_metric_tracking::check_project,
        candidates: None,
    },
    &ProjectRule {
        rule: &checkpoint_not_resumable::RULE,
        check: checkpoint_not_resumable::check_project,
        candidates: None,
    },
    &ProjectRule {
        rule: &nondeterministic_setup::RULE,
        check: nondeterministic_setup::check_project,
        candidates: None,
    },
    &ProjectRule {
        rule: &hardcoded_hyperparameters::RULE,
        check: hardcoded_hyperparameters::check_project,
        candidates: None,
    },
    &ProjectRule {
        rule: &hyperparameters_not_recorded::RULE,
        check: hyperparameters_not_recorded::check_project,
        candidates: None,
    },
    &ProjectRule {
        rule: &no_validation::RULE,
        check: no_validation::check_project,
        candidates: None,
    },
];
