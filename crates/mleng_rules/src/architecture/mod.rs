//! Model architecture: layer choices and order.

mod batchnorm_after_dropout;
mod batchnorm_momentum_inverted;
mod bias_before_batchnorm;
mod deep_plain_stack;
mod final_activation_vs_loss;
mod flow;
mod forward_called_directly;
mod frozen_backbone_batchnorm;
mod functional_dropout_always_on;
mod head_in_features_mismatch;
mod head_not_replaced;
mod high_dropout;
mod missing_nonlinearity;
mod non_torch_op_in_forward;
mod requires_grad_typo;
mod unregistered_submodules;
mod unused_layer;

use crate::rule::Rule;

pub(crate) const RULES: &[&Rule] = &[
    &batchnorm_after_dropout::RULE,
    &requires_grad_typo::RULE,
    &forward_called_directly::RULE,
    &unregistered_submodules::RULE,
    &bias_before_batchnorm::RULE,
    &missing_nonlinearity::RULE,
    &head_in_features_mismatch::RULE,
    &unused_layer::RULE,
    &non_torch_op_in_forward::RULE,
    &high_dropout::RULE,
    &final_activation_vs_loss::RULE,
    &head_not_replaced::RULE,
    &frozen_backbone_batchnorm::RULE,
    &deep_plain_stack::RULE,
    &functional_dropout_always_on::RULE,
    &batchnorm_momentum_inverted::RULE,
];
