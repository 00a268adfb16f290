//! Performance: speed and memory of training and inference.

use crate::rule::Rule;

pub(crate) const RULES: &[&Rule] = &[];
