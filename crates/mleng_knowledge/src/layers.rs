//! What kind of layer a constructor or functional op is. Source: the `torch.nn` and
//! `torch.nn.functional` API reference (<https://pytorch.org/docs/stable/nn.html>).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerKind {
    Dropout,
    BatchNorm,
    /// LayerNorm, GroupNorm, InstanceNorm, RMSNorm: no running statistics.
    OtherNorm,
    Activation,
    /// Linear, convolutions: layers with weights that are affine maps.
    Affine,
    /// Reshaping ops that do not change values (Flatten, Identity, Unflatten).
    Reshape,
    Pooling,
    Other,
}

const DROPOUT: &[&str] = &[
    "Dropout",
    "Dropout1d",
    "Dropout2d",
    "Dropout3d",
    "AlphaDropout",
    "FeatureAlphaDropout",
    "dropout",
    "dropout1d",
    "dropout2d",
    "dropout3d",
    "alpha_dropout",
];
const BATCHNORM: &[&str] = &[
    "BatchNorm1d",
    "BatchNorm2d",
    "BatchNorm3d",
    "SyncBatchNorm",
    "LazyBatchNorm1d",
    "LazyBatchNorm2d",
    "LazyBatchNorm3d",
    "batch_norm",
];
const OTHER_NORM: &[&str] = &[
    "LayerNorm",
    "GroupNorm",
    "InstanceNorm1d",
    "InstanceNorm2d",
    "InstanceNorm3d",
    "RMSNorm",
    "LocalResponseNorm",
    "layer_norm",
    "group_norm",
    "instance_norm",
];
const ACTIVATION: &[&str] = &[
    "ReLU",
    "ReLU6",
    "LeakyReLU",
    "PReLU",
    "RReLU",
    "ELU",
    "SELU",
    "CELU",
    "GELU",
    "SiLU",
    "Mish",
    "Sigmoid",
    "Tanh",
    "Hardtanh",
    "Hardswish",
    "Hardsigmoid",
    "Softplus",
    "Softsign",
    "Tanhshrink",
    "LogSigmoid",
    "GLU",
    "Threshold",
    "relu",
    "relu_",
    "relu6",
    "leaky_relu",
    "leaky_relu_",
    "prelu",
    "elu",
    "elu_",
    "selu",
    "celu",
    "gelu",
    "silu",
    "mish",
    "sigmoid",
    "tanh",
    "hardtanh",
    "hardswish",
    "hardsigmoid",
    "softplus",
    "softsign",
    "logsigmoid",
    "glu",
];
const AFFINE: &[&str] = &[
    "Linear",
    "LazyLinear",
    "Bilinear",
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "ConvTranspose1d",
    "ConvTranspose2d",
    "ConvTranspose3d",
    "LazyConv1d",
    "LazyConv2d",
    "LazyConv3d",
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
];
const RESHAPE: &[&str] = &["Flatten", "Unflatten", "Identity", "flatten"];
const POOLING: &[&str] = &[
    "MaxPool1d",
    "MaxPool2d",
    "MaxPool3d",
    "AvgPool1d",
    "AvgPool2d",
    "AvgPool3d",
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "AdaptiveAvgPool3d",
    "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d",
    "AdaptiveMaxPool3d",
    "max_pool1d",
    "max_pool2d",
    "avg_pool2d",
    "adaptive_avg_pool2d",
];

/// Only names under `torch.nn` / `torch` count: a user's own `Dropout` class is not ours to judge.
pub fn kind(qualified: &str) -> LayerKind {
    let Some(short) = torch_short_name(qualified) else {
        return LayerKind::Other;
    };
    for (list, kind) in [
        (DROPOUT, LayerKind::Dropout),
        (BATCHNORM, LayerKind::BatchNorm),
        (OTHER_NORM, LayerKind::OtherNorm),
        (ACTIVATION, LayerKind::Activation),
        (AFFINE, LayerKind::Affine),
        (RESHAPE, LayerKind::Reshape),
        (POOLING, LayerKind::Pooling),
    ] {
        if list.contains(&short) {
            return kind;
        }
    }
    LayerKind::Other
}

fn torch_short_name(qualified: &str) -> Option<&str> {
    let (module, short) = qualified.rsplit_once('.')?;
    let known = matches!(
        module,
        "torch"
            | "torch.nn"
            | "torch.nn.functional"
            | "torch.nn.modules"
            | "torch.nn.modules.dropout"
            | "torch.nn.modules.batchnorm"
            | "torch.nn.modules.activation"
            | "torch.nn.modules.linear"
            | "torch.nn.modules.conv"
    );
    known.then_some(short)
}

/// Layers that compute the same function in `train()` and `eval()` mode. `Module.train`'s
/// docs: the mode "has an effect only on certain modules" (Dropout, BatchNorm, ...). Listed
/// are the torch layers whose forward never reads `self.training`: affine maps, reshapes,
/// pooling, activations except `RReLU` (random slopes while training), the norms that keep
/// no running statistics (not InstanceNorm, whose `track_running_stats=True` makes it
/// BatchNorm-like), and a few shape and lookup layers. Containers are judged by what they
/// hold. Source: PyTorch `nn.Module.train` and each layer's documentation.
pub fn same_in_train_and_eval(qualified: &str) -> bool {
    let Some(short) = torch_short_name(qualified) else {
        return false;
    };
    match kind(qualified) {
        LayerKind::Affine | LayerKind::Reshape | LayerKind::Pooling => true,
        LayerKind::Activation => !short.eq_ignore_ascii_case("rrelu"),
        LayerKind::OtherNorm => !short.starts_with("InstanceNorm") && short != "instance_norm",
        LayerKind::Dropout | LayerKind::BatchNorm => false,
        LayerKind::Other => MODE_FREE_OTHER.contains(&short),
    }
}

/// Mode-free layers outside the kinds above.
const MODE_FREE_OTHER: &[&str] = &[
    "PixelShuffle",
    "PixelUnshuffle",
    "Upsample",
    "UpsamplingNearest2d",
    "UpsamplingBilinear2d",
    "Embedding",
    "EmbeddingBag",
    "Softmax",
    "LogSoftmax",
    "Softmax2d",
    "ZeroPad2d",
    "ConstantPad1d",
    "ConstantPad2d",
    "ConstantPad3d",
    "ReflectionPad1d",
    "ReflectionPad2d",
    "ReplicationPad1d",
    "ReplicationPad2d",
    "ChannelShuffle",
];

/// Containers: their mode follows what they hold.
pub fn is_container(qualified: &str) -> bool {
    matches!(
        torch_short_name(qualified),
        Some("Sequential" | "ModuleList" | "ModuleDict")
    )
}

/// Element-wise ops that keep the "dropout's output" property when placed between Dropout
/// and BatchNorm (they do not mix units, so the variance shift passes through).
pub fn is_elementwise(kind: LayerKind) -> bool {
    matches!(kind, LayerKind::Activation | LayerKind::Reshape)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_torch_names_only() {
        assert_eq!(kind("torch.nn.Dropout"), LayerKind::Dropout);
        assert_eq!(kind("torch.nn.functional.dropout"), LayerKind::Dropout);
        assert_eq!(kind("torch.nn.BatchNorm1d"), LayerKind::BatchNorm);
        assert_eq!(kind("torch.relu"), LayerKind::Activation);
        assert_eq!(kind("mylib.Dropout"), LayerKind::Other);
    }

    #[test]
    fn mode_free_layers() {
        assert!(same_in_train_and_eval("torch.nn.Conv2d"));
        assert!(same_in_train_and_eval("torch.nn.PixelShuffle"));
        assert!(same_in_train_and_eval("torch.nn.LayerNorm"));
        assert!(!same_in_train_and_eval("torch.nn.Dropout"));
        assert!(!same_in_train_and_eval("torch.nn.BatchNorm2d"));
        assert!(!same_in_train_and_eval("torch.nn.RReLU"));
        assert!(!same_in_train_and_eval("torch.nn.InstanceNorm2d"));
        assert!(!same_in_train_and_eval("torch.nn.LSTM"));
        assert!(!same_in_train_and_eval("mylib.Conv2d"));
        assert!(is_container("torch.nn.Sequential"));
    }
}
