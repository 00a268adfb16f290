//! Which input normalization pretrained weights expect.
//!
//! Sources:
//! - torchvision: "All pre-trained models expect input images normalized in the same way ...
//!   mean = [0.485, 0.456, 0.406] and std = [0.229, 0.224, 0.225]"
//!   (<https://pytorch.org/vision/stable/models.html>); each weights enum also carries its
//!   preset in `weights.transforms()`. Detection models normalize inside the model
//!   (`GeneralizedRCNNTransform(image_mean, image_std)`, torchvision/models/detection/transform.py).
//! - timm: the `mean`/`std` of each architecture's default pretrained tag in timm 1.0.15's
//!   `default_cfgs` (`data/timm_normalization.tsv`, extracted by
//!   `scripts/extract-timm-normalization.py`); `timm.data.resolve_data_config` returns them.
//! - CLIP: `OPENAI_CLIP_MEAN`/`OPENAI_CLIP_STD` in openai/CLIP `clip/clip.py` `_transform` and
//!   timm/data/constants.py.

/// A named set of per-channel statistics on the 0-1 scale.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NormStats {
    pub name: &'static str,
    pub mean: [f64; 3],
    pub std: [f64; 3],
    /// How to write these statistics in code (for fix suggestions).
    pub constant: &'static str,
}

pub const IMAGENET: NormStats = NormStats {
    name: "ImageNet",
    mean: [0.485, 0.456, 0.406],
    std: [0.229, 0.224, 0.225],
    constant: "mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)",
};

pub const INCEPTION: NormStats = NormStats {
    name: "Inception-style 0.5",
    mean: [0.5, 0.5, 0.5],
    std: [0.5, 0.5, 0.5],
    constant: "mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)",
};

pub const CLIP: NormStats = NormStats {
    name: "OpenAI CLIP",
    mean: [0.48145466, 0.4578275, 0.40821073],
    std: [0.26862954, 0.26130258, 0.27577711],
    constant: "mean=(0.48145466, 0.4578275, 0.40821073), std=(0.26862954, 0.26130258, 0.27577711)",
};

/// timm's IMAGENET_DPN_MEAN/STD (timm/data/constants.py).
pub const DPN: NormStats = NormStats {
    name: "DPN",
    mean: [124.0 / 255.0, 117.0 / 255.0, 104.0 / 255.0],
    std: [
        1.0 / (0.0167 * 255.0),
        1.0 / (0.0167 * 255.0),
        1.0 / (0.0167 * 255.0),
    ],
    constant: "mean=(124 / 255, 117 / 255, 104 / 255), std=(1 / (0.0167 * 255),) * 3",
};

/// Models that take 0-1 input without normalization (timm `mean=(0,0,0), std=(1,1,1)`).
pub const UNIT: NormStats = NormStats {
    name: "no normalization (0-1 input)",
    mean: [0.0, 0.0, 0.0],
    std: [1.0, 1.0, 1.0],
    constant: "mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)",
};

/// torchvision video classification weights (Kinetics-400), torchvision/transforms/_presets.py.
pub const KINETICS: NormStats = NormStats {
    name: "Kinetics-400",
    mean: [0.43216, 0.394666, 0.37645],
    std: [0.22803, 0.22145, 0.216989],
    constant: "mean=(0.43216, 0.394666, 0.37645), std=(0.22803, 0.22145, 0.216989)",
};

/// What a loaded set of pretrained weights expects from the input pipeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Expectation {
    /// Normalize with these statistics before the model.
    Stats(NormStats),
    /// The model normalizes internally (torchvision detection models): feed 0-1 images.
    Internal,
}

const TIMM_TABLE: &str = include_str!("../data/timm_normalization.tsv");

fn stats_by_name(name: &str) -> Option<NormStats> {
    match name {
        "imagenet" => Some(IMAGENET),
        "inception" => Some(INCEPTION),
        "clip" => Some(CLIP),
        "dpn" => Some(DPN),
        "unit" => Some(UNIT),
        _ => None,
    }
}

/// Statistics for `timm.create_model("<name>", pretrained=True)`. A name with an explicit tag
/// (`vit_base_patch16_224.augreg_in21k`) is only answered when the tag is the default, since
/// other tags may differ; we would rather say nothing than guess.
pub fn timm(model_name: &str) -> Option<NormStats> {
    let name = model_name.trim();
    let name = name.strip_prefix("timm/").unwrap_or(name);
    if name.contains('.') || name.contains('/') {
        return None;
    }
    TIMM_TABLE
        .lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (arch, stats) = line.split_once('\t')?;
            (arch == name)
                .then(|| stats_by_name(stats.trim()))
                .flatten()
        })
}

/// Expectation for a torchvision builder (`torchvision.models.resnet50`,
/// `torchvision.models.detection.fasterrcnn_resnet50_fpn`).
pub fn torchvision(qualified_builder: &str) -> Option<Expectation> {
    let rest = qualified_builder.strip_prefix("torchvision.models.")?;
    if rest.starts_with("detection.") {
        return Some(Expectation::Internal);
    }
    if rest.starts_with("video.") {
        return Some(Expectation::Stats(KINETICS));
    }
    if rest.starts_with("optical_flow.") {
        return None;
    }
    let builder = rest.rsplit('.').next().unwrap_or(rest);
    // Builders are lower-case functions; `ResNet50_Weights` and classes are not models.
    if builder
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase())
        && builder != "get_model"
    {
        return Some(Expectation::Stats(IMAGENET));
    }
    None
}

/// Does `values` equal `expected` to the precision people write these constants with?
pub fn matches(values: &[f64], expected: &[f64; 3]) -> bool {
    match values.len() {
        // `Normalize(0.5, 0.5)` broadcasts one value over the channels.
        1 => expected.iter().all(|e| (e - values[0]).abs() <= 0.011),
        3 => values
            .iter()
            .zip(expected)
            .all(|(v, e)| (v - e).abs() <= 0.011),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timm_defaults_differ_by_family() {
        assert_eq!(timm("resnet50"), Some(IMAGENET));
        assert_eq!(timm("vit_tiny_patch16_224"), Some(INCEPTION));
        assert_eq!(timm("vit_base_patch16_clip_224"), Some(CLIP));
        assert_eq!(timm("vit_base_patch16_224.augreg_in21k"), None);
        assert_eq!(timm("no_such_model"), None);
    }

    #[test]
    fn torchvision_builders() {
        assert_eq!(
            torchvision("torchvision.models.resnet18"),
            Some(Expectation::Stats(IMAGENET))
        );
        assert_eq!(
            torchvision("torchvision.models.detection.fasterrcnn_resnet50_fpn"),
            Some(Expectation::Internal)
        );
        assert_eq!(torchvision("torchvision.models.ResNet18_Weights"), None);
    }

    #[test]
    fn tolerance_accepts_rounded_constants() {
        assert!(matches(&[0.485, 0.456, 0.406], &IMAGENET.mean));
        assert!(matches(&[0.48, 0.46, 0.41], &IMAGENET.mean));
        assert!(!matches(&[0.5, 0.5, 0.5], &IMAGENET.mean));
        assert!(matches(&[0.5], &INCEPTION.mean));
    }
}
