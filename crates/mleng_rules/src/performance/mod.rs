//! Performance: speed and memory of training and inference.

mod conv_performance;

use crate::rule::Rule;

pub(crate) const RULES: &[&Rule] = &[&conv_performance::RULE];
