//! Classifier heads of well-known pretrained backbones: which attribute holds the final
//! `nn.Linear` and its input width (`in_features`), so that a replacement head can be checked.
//!
//! Sources:
//! - torchvision model sources (<https://github.com/pytorch/vision/tree/main/torchvision/models>):
//!   resnet.py `self.fc = nn.Linear(512 * block.expansion, num_classes)` (expansion 1 for
//!   BasicBlock, 4 for Bottleneck); densenet.py `self.classifier = nn.Linear(num_features, ...)`;
//!   mobilenetv2.py / mnasnet.py / efficientnet.py `classifier = Sequential(Dropout, Linear(last_channel, ...))`;
//!   mobilenetv3.py `classifier = Sequential(Linear(960|576, 1280|1024), Hardswish, Dropout, Linear(1280|1024, ...))`;
//!   vgg.py / alexnet.py `classifier[6] = Linear(4096, ...)`; convnext.py `classifier[2] = Linear(768..1536, ...)`;
//!   vision_transformer.py `heads.head = Linear(hidden_dim, ...)`; swin_transformer.py `head = Linear(num_features, ...)`;
//!   inception.py / googlenet.py / shufflenetv2.py `fc`. Widths also listed per model as
//!   `model.<head>.in_features` in the torchvision model docs (<https://pytorch.org/vision/stable/models.html>).
//! - timm (<https://github.com/huggingface/pytorch-image-models>): `get_classifier()` of each
//!   model; `num_features` of resnet (`fc`), efficientnet/mobilenetv3/densenet (`classifier`),
//!   vision_transformer/deit (`head`, embed_dim), convnext (`head.fc`).

/// One backbone's classifier head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Model constructor (`resnet50`) or timm model name.
    pub model: &'static str,
    /// Attribute path of the final Linear, as code writes it (`fc`, `classifier[1]`, `heads.head`).
    pub attr: &'static str,
    pub in_features: u32,
}

const fn h(model: &'static str, attr: &'static str, in_features: u32) -> Head {
    Head {
        model,
        attr,
        in_features,
    }
}

/// torchvision.models constructors.
pub const TORCHVISION: &[Head] = &[
    h("resnet18", "fc", 512),
    h("resnet34", "fc", 512),
    h("resnet50", "fc", 2048),
    h("resnet101", "fc", 2048),
    h("resnet152", "fc", 2048),
    h("resnext50_32x4d", "fc", 2048),
    h("resnext101_32x8d", "fc", 2048),
    h("resnext101_64x4d", "fc", 2048),
    h("wide_resnet50_2", "fc", 2048),
    h("wide_resnet101_2", "fc", 2048),
    h("inception_v3", "fc", 2048),
    h("googlenet", "fc", 1024),
    h("shufflenet_v2_x0_5", "fc", 1024),
    h("shufflenet_v2_x1_0", "fc", 1024),
    h("shufflenet_v2_x1_5", "fc", 1024),
    h("shufflenet_v2_x2_0", "fc", 2048),
    h("densenet121", "classifier", 1024),
    h("densenet161", "classifier", 2208),
    h("densenet169", "classifier", 1664),
    h("densenet201", "classifier", 1920),
    h("mobilenet_v2", "classifier[1]", 1280),
    h("mobilenet_v3_large", "classifier[3]", 1280),
    h("mobilenet_v3_small", "classifier[3]", 1024),
    h("mnasnet0_5", "classifier[1]", 1280),
    h("mnasnet0_75", "classifier[1]", 1280),
    h("mnasnet1_0", "classifier[1]", 1280),
    h("mnasnet1_3", "classifier[1]", 1280),
    h("efficientnet_b0", "classifier[1]", 1280),
    h("efficientnet_b1", "classifier[1]", 1280),
    h("efficientnet_b2", "classifier[1]", 1408),
    h("efficientnet_b3", "classifier[1]", 1536),
    h("efficientnet_b4", "classifier[1]", 1792),
    h("efficientnet_b5", "classifier[1]", 2048),
    h("efficientnet_b6", "classifier[1]", 2304),
    h("efficientnet_b7", "classifier[1]", 2560),
    h("efficientnet_v2_s", "classifier[1]", 1280),
    h("efficientnet_v2_m", "classifier[1]", 1280),
    h("efficientnet_v2_l", "classifier[1]", 1280),
    h("vgg11", "classifier[6]", 4096),
    h("vgg11_bn", "classifier[6]", 4096),
    h("vgg13", "classifier[6]", 4096),
    h("vgg13_bn", "classifier[6]", 4096),
    h("vgg16", "classifier[6]", 4096),
    h("vgg16_bn", "classifier[6]", 4096),
    h("vgg19", "classifier[6]", 4096),
    h("vgg19_bn", "classifier[6]", 4096),
    h("alexnet", "classifier[6]", 4096),
    h("convnext_tiny", "classifier[2]", 768),
    h("convnext_small", "classifier[2]", 768),
    h("convnext_base", "classifier[2]", 1024),
    h("convnext_large", "classifier[2]", 1536),
    h("vit_b_16", "heads.head", 768),
    h("vit_b_32", "heads.head", 768),
    h("vit_l_16", "heads.head", 1024),
    h("vit_l_32", "heads.head", 1024),
    h("vit_h_14", "heads.head", 1280),
    h("swin_t", "head", 768),
    h("swin_s", "head", 768),
    h("swin_b", "head", 1024),
    h("swin_v2_t", "head", 768),
    h("swin_v2_s", "head", 768),
    h("swin_v2_b", "head", 1024),
];

/// timm model names (the part before any `.pretrained_tag`).
pub const TIMM: &[Head] = &[
    h("resnet18", "fc", 512),
    h("resnet34", "fc", 512),
    h("resnet50", "fc", 2048),
    h("resnet101", "fc", 2048),
    h("resnet152", "fc", 2048),
    h("efficientnet_b0", "classifier", 1280),
    h("efficientnet_b1", "classifier", 1280),
    h("efficientnet_b2", "classifier", 1408),
    h("efficientnet_b3", "classifier", 1536),
    h("efficientnet_b4", "classifier", 1792),
    h("tf_efficientnet_b0", "classifier", 1280),
    h("tf_efficientnet_b1", "classifier", 1280),
    h("tf_efficientnet_b2", "classifier", 1408),
    h("tf_efficientnet_b3", "classifier", 1536),
    h("tf_efficientnet_b4", "classifier", 1792),
    h("mobilenetv3_large_100", "classifier", 1280),
    h("densenet121", "classifier", 1024),
    h("vit_tiny_patch16_224", "head", 192),
    h("vit_small_patch16_224", "head", 384),
    h("vit_base_patch16_224", "head", 768),
    h("vit_base_patch32_224", "head", 768),
    h("vit_large_patch16_224", "head", 1024),
    h("deit_tiny_patch16_224", "head", 192),
    h("deit_small_patch16_224", "head", 384),
    h("deit_base_patch16_224", "head", 768),
    h("convnext_tiny", "head.fc", 768),
    h("convnext_small", "head.fc", 768),
    h("convnext_base", "head.fc", 1024),
    h("convnext_large", "head.fc", 1536),
];

/// The head of `torchvision.models.<constructor>`.
pub fn torchvision(constructor: &str) -> Option<&'static Head> {
    TORCHVISION.iter().find(|h| h.model == constructor)
}

/// The head of `timm.create_model(name)`; a `.tag` suffix (`vit_base_patch16_224.augreg_in21k`)
/// and an `hf-hub:`/`timm/` prefix are ignored.
pub fn timm(name: &str) -> Option<&'static Head> {
    let name = name.strip_prefix("timm/").unwrap_or(name);
    let base = name.split('.').next().unwrap_or(name);
    TIMM.iter().find(|h| h.model == base)
}

/// Model-name prefixes of backbone families built with BatchNorm (torchvision and timm
/// sources: resnet.py, efficientnet.py, mobilenetv2/v3.py, mnasnet.py, densenet.py,
/// inception.py, googlenet.py, shufflenetv2.py, regnet.py, vgg.py `*_bn`). ConvNeXt, ViT, DeiT
/// and Swin use LayerNorm and are not listed.
pub const BATCHNORM_FAMILIES: &[&str] = &[
    "resnet",
    "resnext",
    "wide_resnet",
    "efficientnet",
    "tf_efficientnet",
    "mobilenet",
    "mnasnet",
    "densenet",
    "inception",
    "googlenet",
    "shufflenet",
    "regnet",
];

/// Does this backbone (constructor or timm name) contain BatchNorm layers?
pub fn has_batchnorm(model: &str) -> bool {
    BATCHNORM_FAMILIES.iter().any(|p| model.starts_with(p))
        || (model.starts_with("vgg") && model.ends_with("_bn"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_up_heads() {
        assert_eq!(torchvision("resnet50").map(|h| h.in_features), Some(2048));
        assert_eq!(torchvision("resnet18").map(|h| h.attr), Some("fc"));
        assert_eq!(
            timm("vit_base_patch16_224.augreg_in21k").map(|h| h.in_features),
            Some(768)
        );
        assert!(torchvision("not_a_model").is_none());
    }
}
