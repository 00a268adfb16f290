//! Security: loading untrusted artifacts.

use crate::project::ProjectRule;
use crate::rule::Rule;

mod unsafe_torch_load;

pub(crate) use unsafe_torch_load::call_label;

pub(crate) const RULES: &[&Rule] = &[&unsafe_torch_load::RULE];

pub(crate) const PROJECT_RULES: &[&ProjectRule] = &[&ProjectRule {
    rule: &unsafe_torch_load::RULE,
    check: unsafe_torch_load::check_project,
    candidates: None,
}];
