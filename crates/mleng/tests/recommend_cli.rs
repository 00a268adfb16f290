//! End-to-end tests of `mleng recommend`: tasks, constraints, formats, and `--project`.

use assert_cmd::Command;

fn mleng() -> Command {
    Command::cargo_bin("mleng").unwrap()
}

fn stdout(args: &[&str]) -> String {
    let out = mleng().args(args).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn lists_tasks_without_arguments() {
    let text = stdout(&["recommend"]);
    for task in [
        "classification",
        "detection",
        "semantic-segmentation",
        "instance-segmentation",
        "keypoints",
        "anomaly-detection",
    ] {
        assert!(text.contains(task), "{text}");
    }
}

#[test]
fn every_task_has_sections_and_references() {
    for task in [
        "classification",
        "detection",
        "segmentation",
        "instance-segmentation",
        "pose",
        "anomaly",
    ] {
        let text = stdout(&["recommend", task]);
        for section in [
            "Architectures",
            "Losses",
            "Augmentation",
            "Optimizer and schedule",
            "Metrics",
            "Common pitfalls",
        ] {
            assert!(text.contains(section), "{task}: {section}\n{text}");
        }
        assert!(text.contains("[ref] "), "{task}");
    }
}

#[test]
fn constraints_narrow_the_architectures() {
    let all = stdout(&["recommend", "detection"]);
    assert!(all.contains("Faster R-CNN"));
    let edge = stdout(&[
        "recommend",
        "detection",
        "--latency",
        "realtime",
        "--device",
        "edge",
    ]);
    assert!(edge.contains("YOLO"), "{edge}");
    assert!(!edge.contains("Faster R-CNN"), "{edge}");
    assert!(edge.contains("narrowed to latency realtime, device edge"));
}

#[test]
fn json_and_markdown_formats() {
    let json = stdout(&[
        "recommend",
        "semantic-segmentation",
        "--data-size",
        "small",
        "--format",
        "json",
    ]);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["task"]["id"], "semantic-segmentation");
    assert_eq!(value["constraints"]["data_size"], "small");
    let losses = value["task"]["losses"].as_array().unwrap();
    assert!(losses
        .iter()
        .any(|l| l["name"].as_str().unwrap().contains("Dice")));
    assert!(losses
        .iter()
        .all(|l| !l["references"].as_array().unwrap().is_empty()));
    let md = stdout(&["recommend", "classification", "--format", "markdown"]);
    assert!(md.starts_with("# Image classification"));
    assert!(md.contains("## Losses") && md.contains("](https://"));
}

#[test]
fn unknown_task_is_a_usage_error() {
    let out = mleng().args(["recommend", "captioning"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown task `captioning`"));
}

#[test]
fn project_mode_detects_the_task_and_compares() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("train.py"),
        r#"import torch
import segmentation_models_pytorch as smp
import albumentations as A

model = smp.Unet("resnet34", encoder_weights="imagenet", classes=4)
criterion = torch.nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
train_aug = A.Compose([A.HorizontalFlip(p=0.5), A.RandomBrightnessContrast()])
"#,
    )
    .unwrap();
    let text = stdout(&["recommend", "--project", dir.path().to_str().unwrap()]);
    assert!(
        text.contains("tasks found: semantic-segmentation"),
        "{text}"
    );
    assert!(text.contains("smp.Unet(\"resnet34\""), "{text}");
    assert!(text.contains("CrossEntropyLoss (train.py:6)"), "{text}");
    assert!(text.contains("[consider] Dice + cross-entropy"), "{text}");
    assert!(text.contains("[in use]   U-Net"), "{text}");
    assert!(
        text.contains("train.py:6: info: semantic segmentation project: loss uses CrossEntropyLoss; consider Dice + cross-entropy"),
        "{text}"
    );
    let md = stdout(&[
        "recommend",
        "--project",
        dir.path().to_str().unwrap(),
        "--format",
        "markdown",
    ]);
    assert!(
        md.contains("| Aspect | What the project does now | Recommended | Why / where |"),
        "{md}"
    );
    let json = stdout(&[
        "recommend",
        "--project",
        dir.path().to_str().unwrap(),
        "--format",
        "json",
    ]);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["tasks"][0]["task"], "semantic-segmentation");
    assert_eq!(value["advice"][0]["location"], "train.py:6");
}

#[test]
fn project_without_vision_code_says_so() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("main.py"), "print('hello')\n").unwrap();
    let text = stdout(&["recommend", "--project", dir.path().to_str().unwrap()]);
    assert!(text.contains("tasks found: none"), "{text}");
}

#[test]
fn generative_and_captioning_projects_are_not_mistaken_for_vision_tasks() {
    // A diffusion model: its `Unet` denoises and CIFAR-10 is training images, not labels.
    let diffusion = tempfile::tempdir().unwrap();
    std::fs::write(
        diffusion.path().join("train.py"),
        "import torch.nn as nn\nimport torchvision\n\nclass Unet(nn.Module):\n    pass\n\nclass GaussianDiffusion(nn.Module):\n    def q_sample(self, x, t):\n        return x\n\ndata = torchvision.datasets.CIFAR10('data', download=True)\n",
    )
    .unwrap();
    let text = stdout(&["recommend", "--project", diffusion.path().to_str().unwrap()]);
    assert!(text.contains("tasks found: none"), "{text}");
    // A hand-written U-Net without anything generative is segmentation.
    let unet = tempfile::tempdir().unwrap();
    std::fs::write(
        unet.path().join("unet.py"),
        "import torch.nn as nn\n\nclass UNet(nn.Module):\n    def __init__(self, n_classes):\n        super().__init__()\n        self.outc = nn.Conv2d(64, n_classes, 1)\n",
    )
    .unwrap();
    let text = stdout(&["recommend", "--project", unet.path().to_str().unwrap()]);
    assert!(
        text.contains("tasks found: semantic-segmentation"),
        "{text}"
    );
    // A ResNet encoder with an LSTM decoder is captioning, not classification.
    let captioning = tempfile::tempdir().unwrap();
    std::fs::write(
        captioning.path().join("models.py"),
        "import torch.nn as nn\nimport torchvision\n\nencoder = torchvision.models.resnet101(weights='IMAGENET1K_V1')\ndecoder = nn.LSTMCell(512, 512)\n",
    )
    .unwrap();
    let text = stdout(&[
        "recommend",
        "--project",
        captioning.path().to_str().unwrap(),
    ]);
    assert!(text.contains("tasks found: none"), "{text}");
}
