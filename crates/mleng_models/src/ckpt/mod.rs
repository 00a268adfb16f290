//! Checkpoints: safetensors and PyTorch zip (`torch.save`) files, memory-mapped, with every
//! tensor's bytes located and bounds-checked before any value is read.

pub mod diff;
pub mod dtype;
pub mod pickle;
pub mod review;
pub mod safetensors;
pub mod stats;
pub mod torchzip;

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

pub use dtype::DType;

use crate::error::{ModelError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Safetensors,
    TorchZip,
}

/// Where a tensor's elements are in the mapped file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// Packed row-major bytes `[start, end)`.
    Contiguous { start: u64, end: u64 },
    /// A view into a storage (torch): element `i` of the flattened shape sits at
    /// `storage_start + (offset + sum(idx_k * stride_k)) * size`.
    Strided {
        storage_start: u64,
        storage_elems: u64,
        offset: u64,
        stride: Vec<u64>,
    },
}

#[derive(Debug, Clone)]
pub struct TensorMeta {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<u64>,
    pub numel: u64,
    pub layout: Layout,
}

pub struct Checkpoint {
    pub path: PathBuf,
    pub format: Format,
    pub file_bytes: u64,
    pub tensors: Vec<TensorMeta>,
    /// Header metadata (safetensors) or non-tensor scalars in the pickle (`epoch`, `lr`...).
    pub metadata: Vec<(String, String)>,
    map: Mmap,
}

/// Map a file read-only.
fn map(path: &Path) -> Result<Mmap> {
    let file = std::fs::File::open(path).map_err(|e| ModelError::io(path, e))?;
    // SAFETY: the map is read-only and private to this process. Another process truncating
    // the file while we read it could fault; that is the accepted cost of memory-mapping
    // multi-GB checkpoints instead of copying them, as every safetensors reader does.
    unsafe { Mmap::map(&file) }.map_err(|e| ModelError::io(path, e))
}

pub fn load(path: &Path) -> Result<Checkpoint> {
    let map = map(path)?;
    let bytes: &[u8] = &map;
    let is_zip = bytes.starts_with(b"PK\x03\x04");
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let (format, tensors, metadata) = if is_zip {
        let (t, m) = torchzip::parse(path, bytes)?;
        (Format::TorchZip, t, m)
    } else if ext == "safetensors" || !matches!(ext.as_str(), "pt" | "pth" | "bin" | "ckpt") {
        let p = safetensors::parse(path, bytes)?;
        (Format::Safetensors, p.tensors, p.metadata)
    } else if bytes.first() == Some(&0x80) {
        return Err(ModelError::unsupported(
            path,
            "legacy (pre-1.6, non-zip) torch.save format; re-save with a current PyTorch or convert to safetensors",
        ));
    } else {
        return Err(ModelError::invalid(
            path,
            "not a zip-format PyTorch checkpoint",
        ));
    };
    Ok(Checkpoint {
        path: path.to_path_buf(),
        format,
        file_bytes: bytes.len() as u64,
        tensors,
        metadata,
        map,
    })
}

impl Checkpoint {
    /// The tensor's packed bytes: borrowed from the map when contiguous, gathered otherwise.
    pub fn bytes(&self, t: &TensorMeta) -> Result<Cow<'_, [u8]>> {
        let all: &[u8] = &self.map;
        let oob = || {
            ModelError::invalid(
                &self.path,
                format!("tensor `{}` points outside the file", t.name),
            )
        };
        match &t.layout {
            Layout::Contiguous { start, end } => {
                let (s, e) = (usize::try_from(*start), usize::try_from(*end));
                match (s, e) {
                    (Ok(s), Ok(e)) => all.get(s..e).map(Cow::Borrowed).ok_or_else(oob),
                    _ => Err(oob()),
                }
            }
            Layout::Strided {
                storage_start,
                storage_elems,
                offset,
                stride,
            } => {
                let size = t.dtype.size() as u64;
                let storage_len = storage_elems.checked_mul(size).ok_or_else(oob)?;
                let s = usize::try_from(*storage_start).map_err(|_| oob())?;
                let e = storage_start
                    .checked_add(storage_len)
                    .and_then(|e| usize::try_from(e).ok())
                    .ok_or_else(oob)?;
                let storage = all.get(s..e).ok_or_else(oob)?;
                gather(storage, size as usize, *offset, &t.shape, stride)
                    .map(Cow::Owned)
                    .ok_or_else(oob)
            }
        }
    }

    /// Every element as f64, in row-major order.
    pub fn for_each(&self, t: &TensorMeta, f: impl FnMut(f64)) -> Result<()> {
        let b = self.bytes(t)?;
        t.dtype.for_each(&b, f);
        Ok(())
    }

    pub fn values_f32(&self, t: &TensorMeta) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(usize::try_from(t.numel).unwrap_or(0));
        self.for_each(t, |v| out.push(v as f32))?;
        Ok(out)
    }
}

/// Copy a strided view into packed bytes; `None` if any element falls outside the storage.
fn gather(
    storage: &[u8],
    size: usize,
    offset: u64,
    shape: &[u64],
    stride: &[u64],
) -> Option<Vec<u8>> {
    let numel = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d))?;
    let bytes = numel.checked_mul(size as u64)?;
    // A view cannot hold more elements than its storage without repeating them; repeated
    // (zero-stride) views are rare in checkpoints, so refuse rather than expand them hugely.
    if bytes > storage.len() as u64 && stride.iter().all(|&s| s != 0) {
        return None;
    }
    let mut out = Vec::with_capacity(usize::try_from(bytes.min(storage.len() as u64 * 4)).ok()?);
    let mut idx = vec![0u64; shape.len()];
    if numel == 0 {
        return Some(out);
    }
    loop {
        let mut pos = offset;
        for (i, s) in idx.iter().zip(stride) {
            pos = pos.checked_add(i.checked_mul(*s)?)?;
        }
        let start = usize::try_from(pos).ok()?.checked_mul(size)?;
        out.extend_from_slice(storage.get(start..start.checked_add(size)?)?);
        // Odometer increment over the shape.
        let mut k = shape.len();
        loop {
            if k == 0 {
                return Some(out);
            }
            k -= 1;
            idx[k] += 1;
            if idx[k] < shape[k] {
                break;
            }
            idx[k] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gather_transposed_view() {
        // storage [0,1,2,3,4,5] as u8, view shape [3,2] stride [1,3] = transpose of 2x3.
        let s = [0u8, 1, 2, 3, 4, 5];
        assert_eq!(
            gather(&s, 1, 0, &[3, 2], &[1, 3]),
            Some(vec![0, 3, 1, 4, 2, 5])
        );
        assert_eq!(gather(&s, 1, 5, &[2], &[1]), None);
    }
}
