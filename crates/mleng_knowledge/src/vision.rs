//! Computer-vision API facts: which transforms are random, which names mean "label map",
//! and which weights enum belongs to each torchvision model builder.

/// torchvision transforms (v1 and v2) whose output is random. Source: the torchvision
/// transforms reference, <https://pytorch.org/vision/stable/transforms.html> ("Augmentation"
/// sections and every `Random*` class), torchvision 0.20.
pub const TORCHVISION_RANDOM: &[&str] = &[
    "RandomResizedCrop",
    "RandomSizedCrop",
    "RandomCrop",
    "RandomHorizontalFlip",
    "RandomVerticalFlip",
    "RandomRotation",
    "RandomAffine",
    "RandomPerspective",
    "ColorJitter",
    "RandomGrayscale",
    "RandomErasing",
    "RandAugment",
    "AutoAugment",
    "TrivialAugmentWide",
    "AugMix",
    "RandomApply",
    "RandomChoice",
    "RandomOrder",
    "RandomInvert",
    "RandomPosterize",
    "RandomSolarize",
    "RandomAdjustSharpness",
    "RandomAutocontrast",
    "RandomEqualize",
    "RandomPhotometricDistort",
    "RandomZoomOut",
    "RandomIoUCrop",
    "RandomShortestSize",
    "RandomResize",
    "ScaleJitter",
    "ElasticTransform",
    "RandomChannelPermutation",
];

/// albumentations transforms that are random (probabilistic or with sampled parameters).
/// Source: albumentations API reference, <https://albumentations.ai/docs/api-reference/>
/// (albumentations 1.4 / 2.0). Deterministic ones (Resize, CenterCrop, PadIfNeeded, Normalize,
/// LongestMaxSize, SmallestMaxSize, ToTensorV2) are deliberately absent.
pub const ALBUMENTATIONS_RANDOM: &[&str] = &[
    "HorizontalFlip",
    "VerticalFlip",
    "Flip",
    "RandomRotate90",
    "Rotate",
    "SafeRotate",
    "ShiftScaleRotate",
    "Affine",
    "Perspective",
    "RandomResizedCrop",
    "RandomSizedCrop",
    "RandomCrop",
    "RandomScale",
    "RandomSizedBBoxSafeCrop",
    "RandomBrightnessContrast",
    "ColorJitter",
    "HueSaturationValue",
    "RGBShift",
    "GaussNoise",
    "ISONoise",
    "MotionBlur",
    "RandomGamma",
    "ElasticTransform",
    "GridDistortion",
    "OpticalDistortion",
    "CoarseDropout",
    "Cutout",
    "ChannelShuffle",
    "ChannelDropout",
    "RandomShadow",
    "RandomFog",
    "RandomRain",
    "RandomSunFlare",
    "OneOf",
    "SomeOf",
];

/// Words in a variable name that mark it as a segmentation label map or mask of class ids.
/// `mask` alone is not enough (binary instance masks and mask probabilities are resized
/// bilinearly on purpose): see [`MASK_WORDS`].
pub const LABEL_MAP_WORDS: &[&str] = &[
    "label",
    "labels",
    "lbl",
    "seg",
    "segm",
    "segmap",
    "segmentation",
    "semseg",
    "labelmap",
    "trimap",
];

/// Words for masks that are label maps only when read from an annotation file.
pub const MASK_WORDS: &[&str] = &["mask", "masks", "gt", "target", "annotation", "anno"];

/// Words that mean the tensor is a prediction, a probability or a feature map (interpolating
/// those bilinearly is right), or an attention/padding mask (not a label map).
pub const NOT_LABEL_MAP_WORDS: &[&str] = &[
    "pred",
    "preds",
    "prediction",
    "predictions",
    "logit",
    "logits",
    "prob",
    "probs",
    "score",
    "scores",
    "soft",
    "out",
    "output",
    "outputs",
    "feat",
    "feats",
    "feature",
    "features",
    "heatmap",
    "heatmaps",
    "attn",
    "attention",
    "proto",
    "protos",
    "pixel",
    "padding",
    "valid",
    "weight",
    "weights",
    "smooth",
    "embed",
    "embedding",
    "image",
    "img",
    "loss",
];

/// torchvision model builder -> its weights enum (torchvision >= 0.13 multi-weight API).
/// Source: <https://pytorch.org/vision/stable/models.html> (tables of builders and weights).
pub const TORCHVISION_WEIGHTS: &[(&str, &str)] = &[
    ("alexnet", "AlexNet_Weights"),
    ("convnext_tiny", "ConvNeXt_Tiny_Weights"),
    ("convnext_small", "ConvNeXt_Small_Weights"),
    ("convnext_base", "ConvNeXt_Base_Weights"),
    ("convnext_large", "ConvNeXt_Large_Weights"),
    ("densenet121", "DenseNet121_Weights"),
    ("densenet161", "DenseNet161_Weights"),
    ("densenet169", "DenseNet169_Weights"),
    ("densenet201", "DenseNet201_Weights"),
    ("efficientnet_b0", "EfficientNet_B0_Weights"),
    ("efficientnet_b1", "EfficientNet_B1_Weights"),
    ("efficientnet_b2", "EfficientNet_B2_Weights"),
    ("efficientnet_b3", "EfficientNet_B3_Weights"),
    ("efficientnet_b4", "EfficientNet_B4_Weights"),
    ("efficientnet_b5", "EfficientNet_B5_Weights"),
    ("efficientnet_b6", "EfficientNet_B6_Weights"),
    ("efficientnet_b7", "EfficientNet_B7_Weights"),
    ("efficientnet_v2_s", "EfficientNet_V2_S_Weights"),
    ("efficientnet_v2_m", "EfficientNet_V2_M_Weights"),
    ("efficientnet_v2_l", "EfficientNet_V2_L_Weights"),
    ("googlenet", "GoogLeNet_Weights"),
    ("inception_v3", "Inception_V3_Weights"),
    ("mnasnet0_5", "MNASNet0_5_Weights"),
    ("mnasnet0_75", "MNASNet0_75_Weights"),
    ("mnasnet1_0", "MNASNet1_0_Weights"),
    ("mnasnet1_3", "MNASNet1_3_Weights"),
    ("mobilenet_v2", "MobileNet_V2_Weights"),
    ("mobilenet_v3_large", "MobileNet_V3_Large_Weights"),
    ("mobilenet_v3_small", "MobileNet_V3_Small_Weights"),
    ("regnet_y_400mf", "RegNet_Y_400MF_Weights"),
    ("regnet_y_800mf", "RegNet_Y_800MF_Weights"),
    ("regnet_y_1_6gf", "RegNet_Y_1_6GF_Weights"),
    ("regnet_y_3_2gf", "RegNet_Y_3_2GF_Weights"),
    ("regnet_y_8gf", "RegNet_Y_8GF_Weights"),
    ("regnet_y_16gf", "RegNet_Y_16GF_Weights"),
    ("regnet_y_32gf", "RegNet_Y_32GF_Weights"),
    ("regnet_x_400mf", "RegNet_X_400MF_Weights"),
    ("regnet_x_800mf", "RegNet_X_800MF_Weights"),
    ("regnet_x_1_6gf", "RegNet_X_1_6GF_Weights"),
    ("regnet_x_3_2gf", "RegNet_X_3_2GF_Weights"),
    ("regnet_x_8gf", "RegNet_X_8GF_Weights"),
    ("regnet_x_16gf", "RegNet_X_16GF_Weights"),
    ("regnet_x_32gf", "RegNet_X_32GF_Weights"),
    ("resnet18", "ResNet18_Weights"),
    ("resnet34", "ResNet34_Weights"),
    ("resnet50", "ResNet50_Weights"),
    ("resnet101", "ResNet101_Weights"),
    ("resnet152", "ResNet152_Weights"),
    ("resnext50_32x4d", "ResNeXt50_32X4D_Weights"),
    ("resnext101_32x8d", "ResNeXt101_32X8D_Weights"),
    ("resnext101_64x4d", "ResNeXt101_64X4D_Weights"),
    ("wide_resnet50_2", "Wide_ResNet50_2_Weights"),
    ("wide_resnet101_2", "Wide_ResNet101_2_Weights"),
    ("shufflenet_v2_x0_5", "ShuffleNet_V2_X0_5_Weights"),
    ("shufflenet_v2_x1_0", "ShuffleNet_V2_X1_0_Weights"),
    ("shufflenet_v2_x1_5", "ShuffleNet_V2_X1_5_Weights"),
    ("shufflenet_v2_x2_0", "ShuffleNet_V2_X2_0_Weights"),
    ("squeezenet1_0", "SqueezeNet1_0_Weights"),
    ("squeezenet1_1", "SqueezeNet1_1_Weights"),
    ("vgg11", "VGG11_Weights"),
    ("vgg11_bn", "VGG11_BN_Weights"),
    ("vgg13", "VGG13_Weights"),
    ("vgg13_bn", "VGG13_BN_Weights"),
    ("vgg16", "VGG16_Weights"),
    ("vgg16_bn", "VGG16_BN_Weights"),
    ("vgg19", "VGG19_Weights"),
    ("vgg19_bn", "VGG19_BN_Weights"),
    ("vit_b_16", "ViT_B_16_Weights"),
    ("vit_b_32", "ViT_B_32_Weights"),
    ("vit_l_16", "ViT_L_16_Weights"),
    ("vit_l_32", "ViT_L_32_Weights"),
    ("vit_h_14", "ViT_H_14_Weights"),
    ("swin_t", "Swin_T_Weights"),
    ("swin_s", "Swin_S_Weights"),
    ("swin_b", "Swin_B_Weights"),
    ("swin_v2_t", "Swin_V2_T_Weights"),
    ("swin_v2_s", "Swin_V2_S_Weights"),
    ("swin_v2_b", "Swin_V2_B_Weights"),
    ("maxvit_t", "MaxVit_T_Weights"),
    ("fasterrcnn_resnet50_fpn", "FasterRCNN_ResNet50_FPN_Weights"),
    (
        "fasterrcnn_resnet50_fpn_v2",
        "FasterRCNN_ResNet50_FPN_V2_Weights",
    ),
    (
        "fasterrcnn_mobilenet_v3_large_fpn",
        "FasterRCNN_MobileNet_V3_Large_FPN_Weights",
    ),
    (
        "fasterrcnn_mobilenet_v3_large_320_fpn",
        "FasterRCNN_MobileNet_V3_Large_320_FPN_Weights",
    ),
    ("maskrcnn_resnet50_fpn", "MaskRCNN_ResNet50_FPN_Weights"),
    (
        "maskrcnn_resnet50_fpn_v2",
        "MaskRCNN_ResNet50_FPN_V2_Weights",
    ),
    (
        "keypointrcnn_resnet50_fpn",
        "KeypointRCNN_ResNet50_FPN_Weights",
    ),
    ("retinanet_resnet50_fpn", "RetinaNet_ResNet50_FPN_Weights"),
    (
        "retinanet_resnet50_fpn_v2",
        "RetinaNet_ResNet50_FPN_V2_Weights",
    ),
    ("fcos_resnet50_fpn", "FCOS_ResNet50_FPN_Weights"),
    ("ssd300_vgg16", "SSD300_VGG16_Weights"),
    (
        "ssdlite320_mobilenet_v3_large",
        "SSDLite320_MobileNet_V3_Large_Weights",
    ),
    ("deeplabv3_resnet50", "DeepLabV3_ResNet50_Weights"),
    ("deeplabv3_resnet101", "DeepLabV3_ResNet101_Weights"),
    (
        "deeplabv3_mobilenet_v3_large",
        "DeepLabV3_MobileNet_V3_Large_Weights",
    ),
    ("fcn_resnet50", "FCN_ResNet50_Weights"),
    ("fcn_resnet101", "FCN_ResNet101_Weights"),
    (
        "lraspp_mobilenet_v3_large",
        "LRASPP_MobileNet_V3_Large_Weights",
    ),
];

/// The weights enum of a torchvision builder (`resnet50` -> `ResNet50_Weights`).
pub fn torchvision_weights_enum(builder: &str) -> Option<&'static str> {
    TORCHVISION_WEIGHTS
        .iter()
        .find(|(b, _)| *b == builder)
        .map(|(_, w)| *w)
}

/// torchvision transforms removed from the library, with their replacement. Source:
/// torchvision PR #5386 ("Scale" and "RandomSizedCrop", deprecated since 0.2, removed in 0.12),
/// <https://github.com/pytorch/vision/pull/5386>.
pub const TORCHVISION_REMOVED_TRANSFORMS: &[(&str, &str)] = &[
    ("Scale", "Resize"),
    ("RandomSizedCrop", "RandomResizedCrop"),
];

/// Splits a variable name into lowercase words: `val_mask[0]` -> `val`, `mask`; `gtMask` -> `gt`, `mask`.
pub fn name_words(name: &str) -> Vec<String> {
    // Words are runs of ASCII letters and digits (any other byte, including every byte of a
    // non-ASCII character, separates them), so each is a slice of `name`, lowered in one go:
    // rules ask this of every name they look at.
    let bytes = name.as_bytes();
    let mut words = Vec::new();
    let mut start: Option<usize> = None;
    let mut prev_lower = false;
    for (i, &b) in bytes.iter().enumerate() {
        if b.is_ascii_alphanumeric() {
            if b.is_ascii_uppercase() && prev_lower {
                if let Some(s) = start {
                    words.push(name[s..i].to_ascii_lowercase());
                    start = None;
                }
            }
            start.get_or_insert(i);
            prev_lower = b.is_ascii_lowercase() || b.is_ascii_digit();
        } else {
            if let Some(s) = start.take() {
                words.push(name[s..i].to_ascii_lowercase());
            }
            prev_lower = false;
        }
    }
    if let Some(s) = start {
        words.push(name[s..].to_ascii_lowercase());
    }
    words
}

/// Whether `name` contains one of `needles` (lowercase), ignoring ASCII case. A word of
/// [`name_words`] equal to a needle is such a substring, so a name without any has no such
/// word: the name predicates below answer most names (rules ask them of every binding and
/// call) without splitting them into words.
fn contains_any_ignore_case(name: &str, needles: &[&str]) -> bool {
    let bytes = name.as_bytes();
    needles.iter().any(|needle| {
        let needle = needle.as_bytes();
        needle.is_empty()
            || bytes
                .windows(needle.len())
                .any(|w| w.eq_ignore_ascii_case(needle))
    })
}

/// Does this variable name denote a segmentation label map (and not a prediction or an
/// attention mask)?
pub fn is_label_map_name(name: &str) -> bool {
    if !contains_any_ignore_case(name, LABEL_MAP_WORDS) {
        return false;
    }
    let words = name_words(name);
    words.iter().any(|w| LABEL_MAP_WORDS.contains(&w.as_str()))
        && !words
            .iter()
            .any(|w| NOT_LABEL_MAP_WORDS.contains(&w.as_str()))
}

/// A mask-like name (`mask`, `gt`, `target`) that is a label map when read from disk.
pub fn is_mask_name(name: &str) -> bool {
    if !contains_any_ignore_case(name, MASK_WORDS) {
        return false;
    }
    let words = name_words(name);
    words.iter().any(|w| MASK_WORDS.contains(&w.as_str()))
        && !words
            .iter()
            .any(|w| NOT_LABEL_MAP_WORDS.contains(&w.as_str()))
}

/// Does this name denote validation/test/inference data (and not test-time augmentation)?
pub fn is_eval_name(name: &str) -> bool {
    const EVAL: &[&str] = &[
        "val",
        "valid",
        "validation",
        "test",
        "testing",
        "eval",
        "evaluation",
        "inference",
        "infer",
        "predict",
        "dev",
    ];
    const NOT: &[&str] = &["train", "training", "tta", "time"];
    // Every word that makes an evaluation name (compact forms start with `val`, `test` or
    // `eval`) contains one of these.
    if !contains_any_ignore_case(name, &["val", "test", "infer", "predict", "dev"]) {
        return false;
    }
    let words = name_words(name);
    let compact = |w: &str| {
        ["val", "test", "eval"].iter().any(|p| {
            w.strip_prefix(p).is_some_and(|rest| {
                ["transform", "transforms", "tf", "tfs", "trans", "pipeline"].contains(&rest)
            })
        })
    };
    words
        .iter()
        .any(|w| EVAL.contains(&w.as_str()) || compact(w))
        && !words.iter().any(|w| NOT.contains(&w.as_str()))
}

/// torchvision v1 transforms that move pixels (random geometry): applied to the image alone they
/// desynchronise boxes, masks and keypoints. Source: torchvision transforms reference,
/// "Geometry" section, <https://pytorch.org/vision/stable/transforms.html#geometry>.
pub const TORCHVISION_GEOMETRIC_RANDOM: &[&str] = &[
    "RandomHorizontalFlip",
    "RandomVerticalFlip",
    "RandomRotation",
    "RandomAffine",
    "RandomResizedCrop",
    "RandomCrop",
    "RandomPerspective",
    "ElasticTransform",
];

/// torchvision datasets whose targets are boxes or masks, and whose `transform=` argument only
/// sees the image (`transforms=` takes image and target). Source: torchvision datasets reference,
/// <https://pytorch.org/vision/stable/datasets.html>.
pub const TORCHVISION_DENSE_TARGET_DATASETS: &[&str] = &[
    "CocoDetection",
    "VOCDetection",
    "VOCSegmentation",
    "SBDataset",
    "Cityscapes",
    "Kitti",
    "WIDERFace",
];

/// Training resolution of torchvision classification weights that differ from 224 (DEFAULT
/// weights). Source: the "acc@1 / resize / crop" entries of each weights enum,
/// <https://pytorch.org/vision/stable/models.html#classification>.
const TORCHVISION_RESOLUTION: &[(&str, u32)] = &[
    ("inception_v3", 299),
    ("efficientnet_b1", 240),
    ("efficientnet_b2", 288),
    ("efficientnet_b3", 300),
    ("efficientnet_b4", 380),
    ("efficientnet_b5", 456),
    ("efficientnet_b6", 528),
    ("efficientnet_b7", 600),
    ("efficientnet_v2_s", 384),
    ("efficientnet_v2_m", 480),
    ("efficientnet_v2_l", 480),
];

/// The input resolution the pretrained weights of a classification model were trained at:
/// a torchvision builder (`resnet50` -> 224) or a timm name whose suffix gives it
/// (`vit_base_patch16_384` -> 384; timm names without a suffix default to 224).
/// Detection and segmentation builders resize inside the model: `None`.
pub fn pretrained_resolution(qualified: &str, timm_name: Option<&str>) -> Option<u32> {
    if let Some(name) = timm_name {
        let base = name.split('.').next().unwrap_or(name);
        let suffix = base.rsplit('_').next().unwrap_or("");
        return match suffix.parse::<u32>() {
            Ok(size) if (32..=1024).contains(&size) => Some(size),
            _ if base.contains("efficientnet") || base.contains("inception") => None,
            _ => Some(224),
        };
    }
    let builder = qualified.strip_prefix("torchvision.models.")?;
    if builder.contains('.') {
        return None;
    }
    torchvision_weights_enum(builder)?;
    Some(
        TORCHVISION_RESOLUTION
            .iter()
            .find(|(b, _)| *b == builder)
            .map_or(224, |(_, r)| *r),
    )
}

/// Words in function, class, variable and callee names that mark a training objective which is
/// not plain supervised learning of the task's labels even when it is computed with
/// cross-entropy: contrastive/self-supervised InfoNCE (SimCLR, MoCo, BYOL, DINO), knowledge
/// distillation (a teacher's soft targets), margin-based metric learning (ArcFace, CosFace).
/// Task advice such as "add label smoothing" or "use focal loss" does not apply to them.
/// Sources: Chen et al., SimCLR (NT-Xent as cross-entropy over similarities),
/// <https://arxiv.org/abs/2002.05709>; He et al., MoCo (InfoNCE as cross-entropy with label 0),
/// <https://arxiv.org/abs/1911.05722>; Müller et al., When Does Label Smoothing Help? (smoothing
/// hurts distillation), <https://arxiv.org/abs/1906.02629>; Deng et al., ArcFace,
/// <https://arxiv.org/abs/1801.07698>.
pub const NON_SUPERVISED_OBJECTIVE_WORDS: &[&str] = &[
    "contrastive",
    "info_nce",
    "infonce",
    "nt_xent",
    "ntxent",
    "simclr",
    "moco",
    "byol",
    "dino",
    "distill",
    "teacher",
    "arcface",
    "cosface",
];

/// The releases that brought torchvision's `weights=` API (and deprecated `pretrained=`):
/// torchvision 0.13, which requires PyTorch 1.12
/// (<https://github.com/pytorch/vision/releases/tag/v0.13.0>). A project pinned below either
/// has no `weights=` to use.
pub const WEIGHTS_API_TORCHVISION: (u64, u64) = (0, 13);
pub const WEIGHTS_API_TORCH: (u64, u64) = (1, 12);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_words_split_on_case_and_separators() {
        // The character-by-character definition the byte slicing must agree with.
        fn reference(name: &str) -> Vec<String> {
            let mut words = Vec::new();
            let mut current = String::new();
            let mut prev_lower = false;
            for c in name.chars() {
                if c.is_ascii_alphanumeric() {
                    if c.is_ascii_uppercase() && prev_lower && !current.is_empty() {
                        words.push(std::mem::take(&mut current));
                    }
                    prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
                    current.push(c.to_ascii_lowercase());
                } else {
                    if !current.is_empty() {
                        words.push(std::mem::take(&mut current));
                    }
                    prev_lower = false;
                }
            }
            if !current.is_empty() {
                words.push(current);
            }
            words
        }
        assert_eq!(name_words("val_mask[0]"), ["val", "mask", "0"]);
        assert_eq!(name_words("gtMask"), ["gt", "mask"]);
        for name in [
            "GTMask",
            "x2Label",
            "__init__",
            "",
            "résumé_Mask",
            "aB",
            "self.seg_maps",
            "ÄäX1y",
            "a1B2c3D",
            "HTTPServer_v2Beta",
        ] {
            assert_eq!(name_words(name), reference(name), "{name}");
        }
    }

    #[test]
    fn names() {
        assert!(is_label_map_name("gt_seg"));
        assert!(is_mask_name("self.masks"));
        assert!(!is_label_map_name("mask_logits"));
        assert!(!is_label_map_name("attention_mask"));
        assert!(is_eval_name("val_transform"));
        assert!(is_eval_name("self.valTransform"));
        assert!(is_eval_name("testtransforms"));
        assert!(!is_eval_name("train_transform"));
        assert!(!is_eval_name("tta_transform"));
        assert!(!is_eval_name("value"));
        assert_eq!(
            torchvision_weights_enum("resnet50"),
            Some("ResNet50_Weights")
        );
    }
}
