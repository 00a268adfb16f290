//! Panics that mleng catches and reports (a parser assertion on odd notebook syntax becomes a
//! syntax error; a bug in a rule becomes an `INP900` finding for that file) must not also spill
//! a panic message and backtrace onto the user's terminal. [`contain`] runs a closure with the
//! panic hook silenced on this thread only; panics anywhere else print as usual.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

static INSTALL: Once = Once::new();

/// Runs `f`, turning a panic into `Err(message)` without printing it.
pub fn contain<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
    let was_quiet = QUIET.with(|q| q.replace(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was_quiet));
    result.map_err(|payload| {
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::contain;

    #[test]
    fn a_panic_becomes_its_message_and_the_thread_carries_on() {
        assert_eq!(contain(|| 2 + 2), Ok(4));
        let err = contain(|| -> u8 { panic!("boom {}", 7) });
        assert_eq!(err, Err("boom 7".to_string()));
        assert_eq!(contain(|| "still fine"), Ok("still fine"));
    }
}
