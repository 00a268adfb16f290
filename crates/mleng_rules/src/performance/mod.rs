//! Performance: speed and memory of training and inference.

mod constant_tensor_every_step;
mod conv_performance;
mod copy_without_non_blocking;
mod empty_cache_in_step;
mod fp32_matmul_without_tf32;
mod host_sync_every_step;
mod hot_path;
mod loader_without_pin_memory;
mod loader_without_workers;
mod loader_workers_restarted;
mod loaders;
mod manual_attention;
mod optimizer_in_step;
mod synchronize_in_step;
mod tensor_from_tensor;
mod training_not_compiled;
mod zero_grad_set_to_none_false;

use crate::project::ProjectRule;
use crate::rule::Rule;

pub(crate) const RULES: &[&Rule] = &[
    &conv_performance::RULE,
    &empty_cache_in_step::RULE,
    &synchronize_in_step::RULE,
    &loader_without_workers::RULE,
    &optimizer_in_step::RULE,
    &manual_attention::RULE,
    &loader_without_pin_memory::RULE,
    &loader_workers_restarted::RULE,
    &copy_without_non_blocking::RULE,
    &tensor_from_tensor::RULE,
    &zero_grad_set_to_none_false::RULE,
    &constant_tensor_every_step::RULE,
    &fp32_matmul_without_tf32::RULE,
    &host_sync_every_step::RULE,
    &training_not_compiled::RULE,
];

pub(crate) const PROJECT_RULES: &[&ProjectRule] = &[&ProjectRule {
    rule: &training_not_compiled::RULE,
    check: training_not_compiled::check_project,
    candidates: Some(training_not_compiled::candidates),
}];
