//! Losses that take unconstrained logits, and the final activations that must not come before
//! them. Source: the PyTorch loss docs — `nn.CrossEntropyLoss` ("The input is expected to
//! contain the unnormalized logits for each class",
//! <https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html>) and
//! `nn.BCEWithLogitsLoss` ("combines a Sigmoid layer and the BCELoss in one single class",
//! <https://pytorch.org/docs/stable/generated/torch.nn.BCEWithLogitsLoss.html>).

/// The final activation a model ends in, as far as losses care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalActivation {
    Softmax,
    Sigmoid,
    Relu,
}

impl FinalActivation {
    pub fn name(self) -> &'static str {
        match self {
            FinalActivation::Softmax => "softmax",
            FinalActivation::Sigmoid => "sigmoid",
            FinalActivation::Relu => "ReLU",
        }
    }
}

/// Qualified names (`torch.nn.Softmax`, `torch.softmax`) and tensor-method names (`softmax`)
/// of final activations.
pub fn final_activation(name: &str) -> Option<FinalActivation> {
    let short = name.rsplit('.').next().unwrap_or(name);
    let torch = name == short
        || matches!(
            name.rsplit_once('.').map(|(m, _)| m),
            Some("torch" | "torch.nn" | "torch.nn.functional")
        );
    if !torch {
        return None;
    }
    match short {
        "Softmax" | "softmax" => Some(FinalActivation::Softmax),
        "Sigmoid" | "sigmoid" => Some(FinalActivation::Sigmoid),
        "ReLU" | "relu" | "ReLU6" | "relu6" => Some(FinalActivation::Relu),
        _ => None,
    }
}

/// A loss that expects logits, and what goes wrong with each activation before it.
pub struct LogitLoss {
    pub names: &'static [&'static str],
    pub expects: &'static str,
    pub softmax: &'static str,
    pub sigmoid: &'static str,
    pub relu: &'static str,
}

pub const LOGIT_LOSSES: &[LogitLoss] = &[
    LogitLoss {
        names: &["torch.nn.CrossEntropyLoss", "torch.nn.functional.cross_entropy"],
        expects: "CrossEntropyLoss applies log-softmax itself and expects raw logits",
        softmax: "softmax is applied twice: outputs in [0, 1] give nearly uniform second-softmax probabilities, gradients shrink and training stalls",
        sigmoid: "sigmoid squeezes logits into (0, 1), so the loss's softmax stays close to uniform and cannot become confident",
        relu: "ReLU clips negative logits to 0: classes can no longer be scored below zero and dead outputs get no gradient",
    },
    LogitLoss {
        names: &[
            "torch.nn.BCEWithLogitsLoss",
            "torch.nn.functional.binary_cross_entropy_with_logits",
        ],
        expects: "BCEWithLogitsLoss applies the sigmoid itself and expects raw logits",
        softmax: "softmax makes the outputs sum to 1 before a per-output sigmoid: outputs are confined to (0.5, 0.73) and can never predict 0",
        sigmoid: "sigmoid is applied twice: predictions are confined to (0.5, 0.73), so the model can never predict a negative",
        relu: "ReLU clips negative logits to 0: the predicted probability can never go below 0.5",
    },
];

pub fn logit_loss(qualified: &str) -> Option<&'static LogitLoss> {
    LOGIT_LOSSES.iter().find(|l| l.names.contains(&qualified))
}

impl LogitLoss {
    pub fn problem(&self, activation: FinalActivation) -> &'static str {
        match activation {
            FinalActivation::Softmax => self.softmax,
            FinalActivation::Sigmoid => self.sigmoid,
            FinalActivation::Relu => self.relu,
        }
    }
}
