//! The progress line of a long review: `mleng: reviewed 1234/5000 files` on stderr, only when
//! stderr is a terminal and only after the first second (a quick run prints nothing), erased
//! when the review ends so the findings start on a clean line.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mleng_rules::engine::Progress;

pub struct ProgressLine {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<bool>>,
}

const DELAY: Duration = Duration::from_secs(1);

/// The delay before the line appears: one second, or `MLENG_PROGRESS_DELAY_MS` (for tests,
/// which need the line on a review shorter than a second).
fn delay() -> Duration {
    std::env::var("MLENG_PROGRESS_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(DELAY, Duration::from_millis)
}
const TICK: Duration = Duration::from_millis(100);

impl ProgressLine {
    /// Starts watching `progress` (the caller checks that stderr is a terminal).
    pub fn start(progress: Arc<Progress>) -> ProgressLine {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("mleng-progress".into())
            .spawn(move || {
                let started = Instant::now();
                let delay = delay();
                let mut shown = false;
                while !flag.load(Ordering::Relaxed) {
                    if started.elapsed() >= delay {
                        let done = progress.done.load(Ordering::Relaxed);
                        let total = progress.total.load(Ordering::Relaxed);
                        let mut err = std::io::stderr().lock();
                        let _ = write!(err, "\r\x1b[2Kmleng: reviewed {done}/{total} files");
                        let _ = err.flush();
                        shown = true;
                    }
                    std::thread::sleep(TICK);
                }
                shown
            })
            .ok();
        ProgressLine { stop, thread }
    }

    /// Stops and erases the line.
    pub fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            if thread.join().unwrap_or(false) {
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r\x1b[2K");
                let _ = err.flush();
            }
        }
    }
}
