//! Performance: speed and memory of training and inference.

mod conv_performance;
mod empty_cache_in_step;
mod hot_path;
mod loader_without_workers;
mod manual_attention;
mod optimizer_in_step;
mod synchronize_in_step;

use crate::rule::Rule;

pub(crate) const RULES: &[&Rule] = &[
    &conv_performance::RULE,
    &empty_cache_in_step::RULE,
    &synchronize_in_step::RULE,
    &loader_without_workers::RULE,
    &optimizer_in_step::RULE,
    &manual_attention::RULE,
];
