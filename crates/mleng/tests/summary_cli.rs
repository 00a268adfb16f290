//! End-to-end tests of the project pass through the CLI: `mleng review --summary` and
//! requirement files found by discovery.

use std::fs;

use assert_cmd::Command;

fn mleng() -> Command {
    let mut cmd = Command::cargo_bin("mleng").expect("binary");
    cmd.env("NO_COLOR", "1");
    cmd
}

const TRAIN: &str = "import argparse\n\nimport torch\nimport torch.nn as nn\n\n\ndef main(args):\n    model = nn.Linear(10, 2)\n    opt = torch.optim.SGD(model.parameters(), lr=args.lr)\n    for step in range(100):\n        x, y = torch.randn(8, 10), torch.randint(0, 2, (8,))\n        loss = nn.functional.cross_entropy(model(x), y)\n        opt.zero_grad()\n        loss.backward()\n        opt.step()\n        print(f\"step {step} loss {loss.item():.3f}\")\n    torch.save(model.state_dict(), \"model.pt\")\n\n\nif __name__ == \"__main__\":\n    parser = argparse.ArgumentParser()\n    parser.add_argument(\"--lr\", type=float, default=0.1)\n    main(parser.parse_args())\n";

#[test]
fn summary_prints_a_scorecard_per_training_entry_point() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("train.py"), TRAIN).unwrap();
    fs::write(dir.path().join("requirements.txt"), "torch\nnumpy\n").unwrap();
    let out = mleng()
        .arg("review")
        .arg(dir.path())
        .args(["--summary", "--format", "concise", "--select", "EXP"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Reproducibility scorecard"), "{stdout}");
    assert!(
        stdout.contains("train.py (trains at line 10): 2/7"),
        "{stdout}"
    );
    for line in [
        "seeds            no   EXP002",
        "config           yes  read with argparse",
        "tracking         yes  metrics via print",
        "checkpoints      no   `torch.save(model.state_dict(), \"model.pt\")` saves weights only",
        "pinned deps      no   `torch` has no version in requirements.txt",
    ] {
        assert!(stdout.contains(line), "`{line}` missing from:\n{stdout}");
    }
    // The requirement file is found by discovery and reported by the project pass.
    assert!(stdout.contains("requirements.txt:1:1: EXP004"), "{stdout}");
}

#[test]
fn json_output_stays_parseable_with_summary() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("train.py"), TRAIN).unwrap();
    let out = mleng()
        .arg("review")
        .arg(dir.path())
        .args(["--summary", "--format", "json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        serde_json::from_str::<serde_json::Value>(&stdout).is_ok(),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("Reproducibility scorecard"));
}

#[test]
fn without_summary_there_is_no_scorecard() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("train.py"), TRAIN).unwrap();
    let out = mleng().arg("review").arg(dir.path()).output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains("scorecard"));
}

#[test]
fn pinned_deps_cover_the_ml_libraries_the_run_imports() {
    let dir = tempfile::tempdir().unwrap();
    // The entry point imports torchvision; the model file it calls into imports timm.
    let train = TRAIN
        .replace(
            "import torch.nn as nn\n",
            "import torch.nn as nn\nimport torchvision\n\nfrom models import build\n",
        )
        .replace("model = nn.Linear(10, 2)", "model = build()");
    fs::write(dir.path().join("train.py"), train).unwrap();
    fs::write(
        dir.path().join("models.py"),
        "import timm\n\n\ndef build():\n    return timm.create_model(\"resnet18\", num_classes=2)\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("requirements.txt"),
        "torch==2.3.1\ntorchvision==0.18.1\nnumpy\n",
    )
    .unwrap();
    let summary = |dir: &std::path::Path| {
        let out = mleng()
            .arg("review")
            .arg(dir)
            .args(["--summary", "--format", "concise", "--select", "EXP"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let stdout = summary(dir.path());
    assert!(
        stdout.contains(
            "pinned deps      no   `timm` imported but not listed in the requirement files"
        ),
        "{stdout}"
    );
    fs::write(
        dir.path().join("requirements.txt"),
        "torch==2.3.1\ntorchvision==0.18.1\ntimm>=0.9,<1.0\n",
    )
    .unwrap();
    let stdout = summary(dir.path());
    assert!(
        stdout.contains("pinned deps      yes  `torch==2.3.1`, `torchvision==0.18.1`, `timm>=0.9,<1.0` in requirements.txt"),
        "{stdout}"
    );
}
