//! Computer vision: input pipelines and pretrained weights.

mod augmentation_in_eval_transform;
mod augmented_validation_split;
mod bgr_to_rgb_model;
mod box_flip_without_swap;
mod classification_plain_cross_entropy;
mod dataset_normalization_mismatch;
mod detection_plain_cross_entropy;
mod divided_by_255_twice;
mod geometric_aug_ignores_targets;
mod input_size_vs_weights;
mod interpolate_align_corners;
mod manual_normalize_uint8;
mod mask_interpolation;
mod normalize_before_to_tensor;
mod normalize_value_range;
mod pretrained_normalization;
mod roles;
mod segmentation_cross_entropy_only;
mod segmentation_ignore_index;
pub mod task_advice;
pub mod tasks;
mod torchvision_deprecated;
mod train_pipeline_unused;
mod transforms;

use crate::project::ProjectRule;
use crate::rule::Rule;

pub(crate) const RULES: &[&Rule] = &[
    &pretrained_normalization::RULE,
    &normalize_value_range::RULE,
    &normalize_before_to_tensor::RULE,
    &augmentation_in_eval_transform::RULE,
    &mask_interpolation::RULE,
    &torchvision_deprecated::RULE,
    &bgr_to_rgb_model::RULE,
    &segmentation_ignore_index::RULE,
    &interpolate_align_corners::RULE,
    &geometric_aug_ignores_targets::RULE,
    &input_size_vs_weights::RULE,
    &detection_plain_cross_entropy::RULE,
    &segmentation_cross_entropy_only::RULE,
    &classification_plain_cross_entropy::RULE,
    &box_flip_without_swap::RULE,
    &manual_normalize_uint8::RULE,
    &augmented_validation_split::RULE,
    &dataset_normalization_mismatch::RULE,
    &divided_by_255_twice::RULE,
    &train_pipeline_unused::RULE,
];

/// The task-advice rules: the comparison of `mleng recommend --project` as review findings.
pub(crate) const PROJECT_RULES: &[&ProjectRule] = &[
    &ProjectRule {
        rule: &torchvision_deprecated::RULE,
        check: torchvision_deprecated::check_project,
        candidates: Some(torchvision_deprecated::candidates),
    },
    &ProjectRule {
        rule: &detection_plain_cross_entropy::RULE,
        check: detection_plain_cross_entropy::check_project,
        candidates: None,
    },
    &ProjectRule {
        rule: &segmentation_cross_entropy_only::RULE,
        check: segmentation_cross_entropy_only::check_project,
        candidates: None,
    },
    &ProjectRule {
        rule: &classification_plain_cross_entropy::RULE,
        check: classification_plain_cross_entropy::check_project,
        candidates: None,
    },
];
