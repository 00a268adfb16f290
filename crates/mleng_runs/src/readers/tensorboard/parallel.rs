//! Large event files: one thread per core reads and parses its own region of the file,
//! streaming it through a small buffer that is reused (and so stays in cache) instead of
//! loading the whole file into a fresh allocation first. Each thread's reads overlap the
//! other threads' parsing, so a file that is not in the page cache is parsed while the
//! disk is still delivering it.
//!
//! A region owns the records whose header starts inside it; its last record may run into
//! the next region, which starts at its first valid header. The result is used only when
//! the regions join exactly and every record was whole and valid; anything else (a bad
//! CRC, a truncated tail, an Event that does not decode, a false header found by the
//! scan, a read error) returns `None` and the caller parses the file sequentially, so
//! damage notes and offsets are always the sequential ones.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::super::tfrecord;
use super::events::{BuildFnv, Chunk, Events};
use crate::series::{Series, SourceData};

/// Bytes read per call: large enough that syscalls cost nothing, small enough to stay in
/// a core's L2 cache while the records in it are parsed.
pub(super) const BLOCK: usize = 256 << 10;

/// Positioned reads from a file, or from bytes already in memory.
pub(super) trait ReadAt {
    fn read_at(&mut self, buf: &mut [u8], offset: u64) -> std::io::Result<usize>;
}

impl ReadAt for &[u8] {
    fn read_at(&mut self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        let start = usize::try_from(offset).map_or(self.len(), |o| o.min(self.len()));
        let n = buf.len().min(self.len() - start);
        if let (Some(to), Some(from)) = (buf.get_mut(..n), <[u8]>::get(self, start..start + n)) {
            to.copy_from_slice(from);
        }
        Ok(n)
    }
}

#[cfg(unix)]
impl ReadAt for std::fs::File {
    fn read_at(&mut self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(self, buf, offset)
    }
}

/// The bytes of a file by offset: a [`Window`] reading it, or bytes already in memory.
pub(super) trait Bytes {
    /// The `n` bytes at offset `at`; `None` past the end of the file or on a read error.
    /// Offsets only move forward (a window drops what lies before `at`).
    fn get(&mut self, at: u64, n: usize) -> Option<&[u8]>;
}

impl Bytes for &[u8] {
    #[inline]
    fn get(&mut self, at: u64, n: usize) -> Option<&[u8]> {
        let from = usize::try_from(at).ok()?;
        <[u8]>::get(self, from..from.checked_add(n)?)
    }
}

/// A sliding view of the file: `buf[..filled]` holds the bytes from offset `base`.
pub(super) struct Window<R> {
    src: R,
    /// The file's length when it was opened; a run still writing may append meanwhile,
    /// and that tail is read the next time.
    len: u64,
    base: u64,
    buf: Vec<u8>,
    filled: usize,
    block: usize,
}

impl<R: ReadAt> Bytes for Window<R> {
    #[inline]
    fn get(&mut self, at: u64, n: usize) -> Option<&[u8]> {
        let from = at
            .checked_sub(self.base)
            .and_then(|d| usize::try_from(d).ok());
        let inside = from
            .and_then(|f| f.checked_add(n))
            .is_some_and(|e| e <= self.filled);
        if !inside {
            self.refill(at, n)?;
        }
        let from = usize::try_from(at - self.base).ok()?;
        self.buf.get(from..from.checked_add(n)?)
    }
}

impl<R: ReadAt> Window<R> {
    pub(super) fn new(src: R, len: u64, block: usize) -> Window<R> {
        Window {
            src,
            len,
            base: 0,
            buf: Vec::new(),
            filled: 0,
            block: block.max(16),
        }
    }

    /// Moves the window to start at `at` and reads until it holds `n` bytes.
    #[cold]
    fn refill(&mut self, at: u64, n: usize) -> Option<()> {
        let end = at.checked_add(u64::try_from(n).ok()?)?;
        if end > self.len {
            return None;
        }
        let have = self.base + self.filled as u64;
        if at < self.base || at > have {
            self.filled = 0;
        } else {
            let keep = usize::try_from(at - self.base).ok()?;
            self.buf.copy_within(keep..self.filled, 0);
            self.filled -= keep;
        }
        self.base = at;
        let rest = usize::try_from(self.len - at).unwrap_or(usize::MAX);
        let want = n.max(self.block).min(rest);
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
        while self.filled < n {
            let to = self.buf.get_mut(self.filled..want)?;
            match self.src.read_at(to, at + self.filled as u64) {
                Ok(0) | Err(_) => return None,
                Ok(k) => self.filled += k,
            }
        }
        Some(())
    }
}

/// What one region gave: its records' scalars, and where its records began and ended.
struct Region {
    chunk: Chunk,
    began: u64,
    ended: u64,
}

/// Parses the records that start in `start..end`. `merged_end`: where the stretch of the
/// file that will be merged into this region's series ends (the whole file for the first
/// region, whose series the others are appended to), to size them.
fn parse_region<B: Bytes>(
    mut window: B,
    (start, end): (u64, u64),
    merged_end: u64,
    path: &Path,
    prefix: &str,
) -> Option<Region> {
    let mut at = start;
    if start > 0 {
        while !window.get(at, 12).is_some_and(super::sniff) {
            at += 1;
            if at >= end {
                return None; // one record spans the whole region
            }
        }
    }
    let began = at;
    let mut events = Events::new(path, prefix, merged_end.saturating_sub(began));
    while at < end {
        let len = usize::try_from(tfrecord::valid_header(window.get(at, 12)?, 0)?).ok()?;
        let total = len.checked_add(16)?;
        let data = tfrecord::checked_data(window.get(at, total)?, len)?;
        events.record(at, data);
        at += total as u64;
    }
    let chunk = events.finish();
    chunk.clean.then_some(Region {
        chunk,
        began,
        ended: at,
    })
}

/// How a file is cut up: `regions` contiguous stretches, parsed by `threads` threads that
/// each take the next region not yet taken. The reader uses one region per thread; tests
/// use other shapes to check that the result never depends on it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Plan {
    pub regions: usize,
    pub threads: usize,
}

/// Parses a `len`-byte file as `plan` says; `open` gives each region its own view of the
/// bytes (a window on its own file descriptor, so the kernel sees sequential reads and
/// reads ahead; or the bytes in memory). `None`: use the sequential parser.
pub(super) fn parse<B, F>(
    open: F,
    len: u64,
    path: &Path,
    prefix: &str,
    plan: Plan,
) -> Option<SourceData>
where
    B: Bytes,
    F: Fn() -> std::io::Result<B> + Sync,
{
    let regions = u64::try_from(plan.regions.max(1)).ok()?;
    let per = len.div_ceil(regions);
    let bounds: Vec<(u64, u64)> = (0..regions)
        .map(|k| (k * per, ((k + 1) * per).min(len)))
        .filter(|(s, e)| s < e)
        .collect();
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let worker = || {
        let mut done = Vec::new();
        while !failed.load(Ordering::Relaxed) {
            let k = next.fetch_add(1, Ordering::Relaxed);
            let Some(&(start, end)) = bounds.get(k) else {
                break;
            };
            // The first region's series receive all the others: size them for the file.
            let merged_end = if start == 0 { len } else { end };
            let region = open()
                .ok()
                .and_then(|bytes| parse_region(bytes, (start, end), merged_end, path, prefix));
            match region {
                Some(region) => done.push((k, region)),
                None => failed.store(true, Ordering::Relaxed),
            }
        }
        done
    };
    let threads = plan.threads.clamp(1, bounds.len().max(1));
    let mut slots: Vec<Option<Region>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (1..threads).map(|_| scope.spawn(worker)).collect();
        let mut slots: Vec<Option<Region>> = bounds.iter().map(|_| None).collect();
        let mut place = |done: Vec<(usize, Region)>| {
            for (k, region) in done {
                if let Some(slot) = slots.get_mut(k) {
                    *slot = Some(region);
                }
            }
        };
        place(worker());
        for h in handles {
            match h.join() {
                Ok(done) => place(done),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        slots
    });
    let parts: Vec<Region> = slots.iter_mut().map(Option::take).collect::<Option<_>>()?;
    let joined = parts.windows(2).all(|w| w[0].ended == w[1].began);
    if !joined || parts.last().map(|p| p.ended) != Some(len) {
        return None;
    }
    // A non-scalar plugin tag marked in one region hides that tag's tensors in later ones.
    if parts.iter().any(|p| p.chunk.non_scalar) && parts.iter().skip(1).any(|p| p.chunk.saw_tensor)
    {
        return None;
    }
    Some(merge(parts.into_iter().map(|p| p.chunk), threads))
}

/// Concatenates each tag's points in file order, keeping first-seen series order; the
/// copying is spread over `threads`, one group of series each.
fn merge(chunks: impl IntoIterator<Item = Chunk>, threads: usize) -> SourceData {
    // Each output series with the later parts that follow it.
    let mut groups: Vec<(Series, Vec<Series>)> = Vec::new();
    let mut index: HashMap<Vec<u8>, usize, BuildFnv> = HashMap::default();
    for chunk in chunks {
        for (tag, series) in chunk.tags.into_iter().zip(chunk.data.series) {
            match index.get(&tag).and_then(|&i| groups.get_mut(i)) {
                Some((_, rest)) => rest.push(series),
                None => {
                    index.insert(tag, groups.len());
                    groups.push((series, Vec::new()));
                }
            }
        }
    }
    let per = groups.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|scope| {
        for part in groups.chunks_mut(per) {
            scope.spawn(move || {
                for (series, rest) in part {
                    let more: usize = rest.iter().map(|r| r.points.len()).sum();
                    series.points.reserve(more);
                    for r in rest.drain(..) {
                        series.points.extend(r.points);
                    }
                }
            });
        }
    });
    SourceData {
        series: groups.into_iter().map(|(series, _)| series).collect(),
        ..SourceData::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_reads_across_blocks_and_grows_for_long_records() {
        let bytes: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        let mut w = Window::new(bytes.as_slice(), bytes.len() as u64, 16);
        assert_eq!(w.get(0, 4), Some(&bytes[..4]));
        assert_eq!(w.get(10, 20), Some(&bytes[10..30]));
        assert_eq!(w.get(25, 300), Some(&bytes[25..325]));
        assert_eq!(w.get(990, 10), Some(&bytes[990..]));
        assert_eq!(w.get(995, 10), None);
        assert_eq!(w.get(u64::MAX - 1, 10), None);
    }
}
