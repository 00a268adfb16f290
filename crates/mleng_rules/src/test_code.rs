//! Test and benchmark code. It exercises models instead of training them (toy models, random
//! batches, timing loops, deliberate misuse), so advice about training practice there is
//! noise: only input problems (unreadable files, syntax errors) are reported in it, and the
//! project rules leave it out of their view of the project.

use std::path::Path;

/// `test_*.py`, `*_test.py`, `tests.py`, `conftest.py`, benchmark scripts (`bench.py`,
/// `benchmark_*.py`, `*_bench.py`, ...), or a file whose folder or parent folder is `tests`,
/// `test` or `testing`. Only the two nearest folders count: a project may live under some
/// `test/` directory of its own, and mleng's own fixtures live in `tests/fixtures/<CODE>/`.
pub fn is_test_code(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let stem = name
        .strip_suffix(".py")
        .or_else(|| name.strip_suffix(".ipynb"))
        .unwrap_or(name);
    let named_test = stem.starts_with("test_")
        || stem.ends_with("_test")
        || matches!(stem, "tests" | "conftest");
    let named_benchmark = matches!(stem, "bench" | "benchmark" | "benchmarks")
        || stem.starts_with("bench_")
        || stem.starts_with("benchmark_")
        || stem.ends_with("_bench")
        || stem.ends_with("_benchmark");
    let in_test_folder = path
        .parent()
        .into_iter()
        .flat_map(|p| p.components().rev().take(2))
        .any(|c| matches!(c.as_os_str().to_str(), Some("tests" | "test" | "testing")));
    named_test || named_benchmark || in_test_folder
}

#[cfg(test)]
mod tests {
    use super::is_test_code;
    use std::path::Path;

    #[test]
    fn tests_and_benchmarks() {
        for p in [
            "tests/test_hub.py",
            "pkg/model_test.py",
            "conftest.py",
            "tests/helpers.py",
            "tests/unit/helpers.py",
            "bench.py",
            "scripts/benchmark.py",
            "benchmark_speed.py",
            "tools/dataloader_bench.py",
        ] {
            assert!(is_test_code(Path::new(p)), "{p}");
        }
        for p in [
            "train.py",
            "contest.py",
            "attestation.py",
            "benchmarks/imagenet/train.py",
            "tests/fixtures/TRN016/positive.py",
            "test/project/src/train.py",
            "latest_model.py",
        ] {
            assert!(!is_test_code(Path::new(p)), "{p}");
        }
    }
}
