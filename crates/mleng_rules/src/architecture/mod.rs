//! Model architecture: layer choices and order.

mod batchnorm_after_dropout;

use crate::rule::Rule;

pub(crate) const RULES: &[&Rule] = &[&batchnorm_after_dropout::RULE];
