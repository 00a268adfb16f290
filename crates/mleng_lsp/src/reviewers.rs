//! One [`Reviewer`] per root (a workspace folder, or the folder of a file outside every
//! workspace folder), rebuilt when the configuration that applies changes: another file is
//! found, or the file's modification time moved. Checking costs a few `stat`s per review, so
//! a configuration edited outside the editor is picked up too, watched or not.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use mleng_review::config::{self, LoadedConfig};
use mleng_review::{ReviewOptions, Reviewer};

/// The configuration file in use and its modification time (`None`: defaults).
type ConfigStamp = Option<(PathBuf, Option<SystemTime>)>;

struct Entry {
    reviewer: Arc<Reviewer>,
    /// `None`: to be checked again (a watched configuration file changed).
    stamp: Option<ConfigStamp>,
}

#[derive(Default)]
pub struct Reviewers {
    entries: Mutex<HashMap<PathBuf, Entry>>,
    options: ReviewOptions,
}

impl Reviewers {
    /// The reviewer for `root`, and the configuration error when loading the configuration
    /// just failed (reported once per change of the file; the previous reviewer, or the
    /// defaults, stay in use meanwhile).
    pub fn get(&self, root: &Path) -> (Arc<Reviewer>, Option<String>) {
        let stamp = stamp(root);
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(entry) = entries.get(root) {
            if entry.stamp.as_ref() == Some(&stamp) {
                return (entry.reviewer.clone(), None);
            }
        }
        let (reviewer, error) = match Reviewer::new(root, &self.options) {
            Ok(reviewer) => (Arc::new(reviewer), None),
            Err(err) => {
                let fallback = entries.get(root).map(|e| e.reviewer.clone()).or_else(|| {
                    Reviewer::from_config(&LoadedConfig::default(), &self.options)
                        .ok()
                        .map(Arc::new)
                });
                match fallback {
                    Some(reviewer) => (reviewer, Some(err.to_string())),
                    None => unreachable_defaults(err.to_string()),
                }
            }
        };
        entries.insert(
            root.to_path_buf(),
            Entry {
                reviewer: reviewer.clone(),
                stamp: Some(stamp),
            },
        );
        (reviewer, error)
    }

    /// The next review of each root loads its configuration again (a watched configuration
    /// file changed). The reviewers stay as fallbacks should the new configuration be invalid.
    pub fn invalidate(&self) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for entry in entries.values_mut() {
            entry.stamp = None;
        }
    }
}

/// The default settings always build (they are the registry's own); should that ever break,
/// reviewing with nothing selected is still better than a crash.
fn unreachable_defaults(error: String) -> (Arc<Reviewer>, Option<String>) {
    let empty = ReviewOptions {
        select: Some(Vec::new()),
        ..ReviewOptions::default()
    };
    let reviewer = Reviewer::from_config(&LoadedConfig::default(), &empty)
        .map(Arc::new)
        .unwrap_or_else(|_| panic!("the empty selection must build: {error}"));
    (reviewer, Some(error))
}

fn stamp(root: &Path) -> ConfigStamp {
    let path = config::find(root)?;
    let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
    Some((path, modified))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_configuration_is_reloaded_and_a_broken_one_reported_once() {
        let dir = tempfile::tempdir().unwrap();
        let reviewers = Reviewers::default();
        let (first, error) = reviewers.get(dir.path());
        assert!(error.is_none());
        assert!(first.settings.enabled.contains("TRN001"));
        std::fs::write(dir.path().join("mleng.toml"), "ignore = [\"TRN001\"]\n").unwrap();
        let (second, _) = reviewers.get(dir.path());
        assert!(!second.settings.enabled.contains("TRN001"));
        // Same stamp: the same reviewer, no rebuild.
        assert!(Arc::ptr_eq(&second, &reviewers.get(dir.path()).0));
        std::fs::write(
            dir.path().join("mleng.toml"),
            "select = [\"NOPE999\"]\n# x\n",
        )
        .unwrap();
        // A coarse file system clock may not move within the test: force a reload.
        reviewers.invalidate();
        let (kept, error) = reviewers.get(dir.path());
        assert!(error.unwrap().contains("NOPE999"));
        // The last good settings stay in use.
        assert!(Arc::ptr_eq(&kept, &second));
    }
}
