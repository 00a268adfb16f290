//! Classification losses, what each expects as input, and the output activations that must or
//! must not come before them: one table shared by the architecture rule (a model that ends in
//! softmax/sigmoid/ReLU, ARC011) and the training rules (the activation that produced a loss's
//! input, TRN007/TRN008).
//!
//! Source: PyTorch docs for `torch.nn.CrossEntropyLoss` ("The input is expected to contain the
//! unnormalized logits for each class"), `torch.nn.NLLLoss` ("The input given through a forward
//! call is expected to contain log-probabilities of each class"), `torch.nn.BCELoss` (input are
//! probabilities), `torch.nn.BCEWithLogitsLoss` ("combines a Sigmoid layer and the BCELoss in one
//! single class ... more numerically stable"): <https://pytorch.org/docs/stable/nn.html#loss-functions>.

/// What a loss's first argument must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossInput {
    /// Raw scores: the loss applies log-softmax itself (`CrossEntropyLoss`).
    MulticlassLogits,
    /// Log-probabilities (`NLLLoss`).
    LogProbabilities,
    /// Probabilities in [0, 1] (`BCELoss`).
    BinaryProbabilities,
    /// Raw scores: the loss applies the sigmoid itself (`BCEWithLogitsLoss`).
    BinaryLogits,
}

#[derive(Debug, Clone, Copy)]
pub struct Loss {
    pub name: &'static str,
    pub input: LossInput,
    /// The idiomatic module form, for messages and fixes.
    pub module: &'static str,
}

const CE: Loss = Loss {
    name: "cross_entropy",
    input: LossInput::MulticlassLogits,
    module: "nn.CrossEntropyLoss",
};
const NLL: Loss = Loss {
    name: "nll_loss",
    input: LossInput::LogProbabilities,
    module: "nn.NLLLoss",
};
const BCE: Loss = Loss {
    name: "binary_cross_entropy",
    input: LossInput::BinaryProbabilities,
    module: "nn.BCELoss",
};
const BCE_LOGITS: Loss = Loss {
    name: "binary_cross_entropy_with_logits",
    input: LossInput::BinaryLogits,
    module: "nn.BCEWithLogitsLoss",
};

/// Qualified functions and module classes of the classification losses.
const LOSSES: &[(&str, Loss)] = &[
    ("torch.nn.functional.cross_entropy", CE),
    ("torch.nn.CrossEntropyLoss", CE),
    ("torch.nn.modules.loss.CrossEntropyLoss", CE),
    ("torch.nn.functional.nll_loss", NLL),
    ("torch.nn.NLLLoss", NLL),
    ("torch.nn.modules.loss.NLLLoss", NLL),
    ("torch.nn.functional.binary_cross_entropy", BCE),
    ("torch.nn.BCELoss", BCE),
    ("torch.nn.modules.loss.BCELoss", BCE),
    (
        "torch.nn.functional.binary_cross_entropy_with_logits",
        BCE_LOGITS,
    ),
    ("torch.nn.BCEWithLogitsLoss", BCE_LOGITS),
    ("torch.nn.modules.loss.BCEWithLogitsLoss", BCE_LOGITS),
];

pub fn loss(qualified: &str) -> Option<Loss> {
    LOSSES
        .iter()
        .find(|(q, _)| *q == qualified)
        .map(|(_, loss)| *loss)
}

/// Output activations that matter to these losses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Softmax,
    LogSoftmax,
    Sigmoid,
    /// A model that ends in ReLU cannot score a class below zero.
    Relu,
}

impl Activation {
    pub fn name(self) -> &'static str {
        match self {
            Activation::Softmax => "softmax",
            Activation::LogSoftmax => "log-softmax",
            Activation::Sigmoid => "sigmoid",
            Activation::Relu => "ReLU",
        }
    }
}

/// Functions and module classes of the activations a loss input can come from (method forms
/// `x.softmax()` are matched by [`activation_method`]).
const ACTIVATIONS: &[(&str, Activation)] = &[
    ("torch.softmax", Activation::Softmax),
    ("torch.nn.functional.softmax", Activation::Softmax),
    ("torch.special.softmax", Activation::Softmax),
    ("torch.nn.Softmax", Activation::Softmax),
    ("torch.nn.Softmax2d", Activation::Softmax),
    ("torch.log_softmax", Activation::LogSoftmax),
    ("torch.nn.functional.log_softmax", Activation::LogSoftmax),
    ("torch.special.log_softmax", Activation::LogSoftmax),
    ("torch.nn.LogSoftmax", Activation::LogSoftmax),
    ("torch.sigmoid", Activation::Sigmoid),
    ("torch.nn.functional.sigmoid", Activation::Sigmoid),
    ("torch.special.expit", Activation::Sigmoid),
    ("torch.nn.Sigmoid", Activation::Sigmoid),
];

/// The activation a qualified call applies (no ReLU: it does not make probabilities).
pub fn activation(qualified: &str) -> Option<Activation> {
    ACTIVATIONS
        .iter()
        .find(|(q, _)| *q == qualified)
        .map(|(_, a)| *a)
}

/// Tensor methods with the same meaning (`logits.softmax(dim=-1)`).
pub fn activation_method(method: &str) -> Option<Activation> {
    match method {
        "softmax" => Some(Activation::Softmax),
        "log_softmax" => Some(Activation::LogSoftmax),
        "sigmoid" => Some(Activation::Sigmoid),
        _ => None,
    }
}

/// The activation a model's last layer or returned call applies, from a qualified name
/// (`torch.nn.Softmax`, `torch.softmax`) or a tensor-method name (`softmax`): softmax, sigmoid
/// or ReLU, the endings that break a loss expecting logits.
pub fn final_activation(name: &str) -> Option<Activation> {
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
        "Softmax" | "softmax" => Some(Activation::Softmax),
        "Sigmoid" | "sigmoid" => Some(Activation::Sigmoid),
        "ReLU" | "relu" | "ReLU6" | "relu6" => Some(Activation::Relu),
        _ => None,
    }
}

/// Is feeding `activation`'s output to a loss expecting `input` a mistake, and how bad?
/// `Some(true)`: wrong result (error); `Some(false)`: works but numerically worse (warning).
pub fn mismatch(activation: Activation, input: LossInput) -> Option<bool> {
    match (activation, input) {
        (Activation::Softmax, LossInput::MulticlassLogits) => Some(true),
        (Activation::Softmax, LossInput::LogProbabilities) => Some(true),
        (Activation::Sigmoid, LossInput::BinaryLogits) => Some(true),
        (Activation::Sigmoid, LossInput::BinaryProbabilities) => Some(false),
        _ => None,
    }
}

/// What a loss that expects logits does, and what each final activation before it breaks.
pub struct LogitLoss {
    pub expects: &'static str,
    softmax: &'static str,
    sigmoid: &'static str,
    relu: &'static str,
}

const MULTICLASS_LOGITS: LogitLoss = LogitLoss {
    expects: "CrossEntropyLoss applies log-softmax itself and expects raw logits",
    softmax: "softmax is applied twice: outputs in [0, 1] give nearly uniform second-softmax probabilities, gradients shrink and training stalls",
    sigmoid: "sigmoid squeezes logits into (0, 1), so the loss's softmax stays close to uniform and cannot become confident",
    relu: "ReLU clips negative logits to 0: classes can no longer be scored below zero and dead outputs get no gradient",
};

const BINARY_LOGITS: LogitLoss = LogitLoss {
    expects: "BCEWithLogitsLoss applies the sigmoid itself and expects raw logits",
    softmax: "softmax makes the outputs sum to 1 before a per-output sigmoid: outputs are confined to (0.5, 0.73) and can never predict 0",
    sigmoid: "sigmoid is applied twice: predictions are confined to (0.5, 0.73), so the model can never predict a negative",
    relu: "ReLU clips negative logits to 0: the predicted probability can never go below 0.5",
};

/// The loss at `qualified` when it expects raw logits (cross-entropy, BCE with logits).
pub fn logit_loss(qualified: &str) -> Option<&'static LogitLoss> {
    match loss(qualified)?.input {
        LossInput::MulticlassLogits => Some(&MULTICLASS_LOGITS),
        LossInput::BinaryLogits => Some(&BINARY_LOGITS),
        _ => None,
    }
}

impl LogitLoss {
    /// What `activation` at the end of a model does to this loss (log-softmax: nothing wrong,
    /// the loss is idempotent to it).
    pub fn problem(&self, activation: Activation) -> Option<&'static str> {
        match activation {
            Activation::Softmax => Some(self.softmax),
            Activation::Sigmoid => Some(self.sigmoid),
            Activation::Relu => Some(self.relu),
            Activation::LogSoftmax => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_table_serves_both_views() {
        assert_eq!(
            loss("torch.nn.CrossEntropyLoss").map(|l| l.input),
            Some(LossInput::MulticlassLogits)
        );
        assert!(logit_loss("torch.nn.functional.cross_entropy").is_some());
        assert!(logit_loss("torch.nn.modules.loss.BCEWithLogitsLoss").is_some());
        assert!(logit_loss("torch.nn.NLLLoss").is_none());
        assert!(logit_loss("torch.nn.BCELoss").is_none());
        assert_eq!(final_activation("torch.nn.ReLU"), Some(Activation::Relu));
        assert_eq!(final_activation("softmax"), Some(Activation::Softmax));
        assert_eq!(final_activation("mylib.Softmax"), None);
        assert_eq!(activation("torch.nn.Softmax2d"), Some(Activation::Softmax));
        assert_eq!(activation("torch.nn.ReLU"), None);
        assert_eq!(
            mismatch(Activation::Sigmoid, LossInput::BinaryProbabilities),
            Some(false)
        );
    }
}
