//! Security: loading untrusted artifacts.

use crate::rule::Rule;

pub(crate) const RULES: &[&Rule] = &[];
