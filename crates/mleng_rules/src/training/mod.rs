//! Training pipeline: gradient management, optimizers, schedules, AMP.

mod accelerate_backward;
mod adam_weight_decay;
mod amp_scaler;
mod clip_misplaced;
mod clip_without_unscale;
mod data_parallel;
mod epoch_facts;
mod eval_mode_missing;
mod evaluation_functions;
mod grad_accumulation_broken;
mod lightning_schedulers;
mod lightning_step_returns_nothing;
mod loader_shuffle;
mod loop_facts;
mod loss_accumulated_as_tensor;
mod loss_inputs;
mod missing_gradient_clipping;
mod no_grad_missing;
mod probability_threshold_zero;
mod retain_graph_in_loop;
mod sampler_set_epoch;
mod scheduler_order;
mod sigmoid_with_bce;
mod softmax_before_cross_entropy;
mod suspicious_learning_rate;
mod train_mode_not_restored;
mod weight_decay_on_norm;
mod zero_grad_before_step;
mod zero_grad_missing;

use crate::project::ProjectRule;
use crate::rule::Rule;
pub(crate) use loop_facts::exclusive as exclusive_ranges;

pub(crate) const RULES: &[&Rule] = &[
    &missing_gradient_clipping::RULE,
    &clip_without_unscale::RULE,
    &clip_misplaced::RULE,
    &zero_grad_missing::RULE,
    &zero_grad_before_step::RULE,
    &grad_accumulation_broken::RULE,
    &softmax_before_cross_entropy::RULE,
    &sigmoid_with_bce::RULE,
    &scheduler_order::RULE,
    &amp_scaler::RULE,
    &accelerate_backward::RULE,
    &lightning_step_returns_nothing::RULE,
    &sampler_set_epoch::RULE,
    &loss_accumulated_as_tensor::RULE,
    &train_mode_not_restored::RULE,
    &eval_mode_missing::RULE,
    &data_parallel::RULE,
    &adam_weight_decay::RULE,
    &loader_shuffle::RULE,
    &retain_graph_in_loop::RULE,
    &no_grad_missing::RULE,
    &suspicious_learning_rate::RULE,
    &weight_decay_on_norm::RULE,
    &probability_threshold_zero::RULE,
];

pub(crate) const PROJECT_RULES: &[&ProjectRule] = &[&ProjectRule {
    rule: &eval_mode_missing::RULE,
    check: eval_mode_missing::check_project,
    candidates: Some(eval_mode_missing::candidates),
}];
