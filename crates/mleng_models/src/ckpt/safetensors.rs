//! safetensors: an 8-byte little-endian header length, a JSON header
//! `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {..}}`, then the data
//! (format: <https://github.com/huggingface/safetensors#format>). The header is validated in
//! full before any data is touched: size limit, dtypes, byte lengths that match the shapes,
//! and offsets that tile the data region exactly (no gaps, overlaps or bytes past the end).

use std::collections::BTreeMap;
use std::path::Path;

use super::dtype::DType;
use super::{Layout, TensorMeta};
use crate::error::{ModelError, Result};

/// The reference implementation refuses headers over 100 MB; so do we.
pub const MAX_HEADER: u64 = 100_000_000;

#[derive(serde::Deserialize)]
struct Entry {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: [u64; 2],
}

pub struct Parsed {
    pub tensors: Vec<TensorMeta>,
    pub metadata: Vec<(String, String)>,
}

pub fn parse(path: &Path, bytes: &[u8]) -> Result<Parsed> {
    let bad = |d: String| ModelError::invalid(path, format!("invalid safetensors: {d}"));
    let Some((len_bytes, rest)) = bytes.split_first_chunk::<8>() else {
        return Err(bad(format!(
            "{} bytes is too short for the 8-byte header length",
            bytes.len()
        )));
    };
    let n = u64::from_le_bytes(*len_bytes);
    if n > MAX_HEADER {
        return Err(bad(format!(
            "header length {n} exceeds the {MAX_HEADER}-byte limit"
        )));
    }
    if n > rest.len() as u64 {
        return Err(bad(format!(
            "header length {n} is past the end of the file ({} bytes after the length)",
            rest.len()
        )));
    }
    let (header, data) = rest.split_at(n as usize);
    if header.first() != Some(&b'{') {
        return Err(bad("header does not start with `{`".into()));
    }
    let text = std::str::from_utf8(header).map_err(|e| bad(format!("header is not UTF-8: {e}")))?;
    let raw: BTreeMap<String, serde_json::Value> = serde_json::from_str(text.trim_end())
        .map_err(|e| bad(format!("header is not a JSON object: {e}")))?;
    let mut metadata = Vec::new();
    let mut entries = Vec::with_capacity(raw.len());
    for (name, value) in raw {
        if name == "__metadata__" {
            let map: BTreeMap<String, String> = serde_json::from_value(value)
                .map_err(|e| bad(format!("`__metadata__` must map strings to strings: {e}")))?;
            metadata.extend(map);
            continue;
        }
        let e: Entry =
            serde_json::from_value(value).map_err(|e| bad(format!("tensor `{name}`: {e}")))?;
        entries.push((name, e));
    }
    // Offsets must tile the data region: sort by start and require each to begin where the
    // previous ended, so no two tensors alias the same bytes and none reaches past the end.
    entries.sort_by_key(|(_, e)| (e.data_offsets[0], e.data_offsets[1]));
    let mut cursor = 0u64;
    let mut tensors = Vec::with_capacity(entries.len());
    for (name, e) in entries {
        let dtype = DType::from_safetensors(&e.dtype)
            .ok_or_else(|| bad(format!("tensor `{name}`: unknown dtype `{}`", e.dtype)))?;
        let [begin, end] = e.data_offsets;
        if begin != cursor {
            return Err(bad(format!(
                "tensor `{name}`: data starts at {begin}, expected {cursor} (offsets must be contiguous)"
            )));
        }
        if end > data.len() as u64 {
            return Err(bad(format!(
                "tensor `{name}`: data_offsets end {end} is past the {}-byte data region",
                data.len()
            )));
        }
        if end < begin {
            return Err(bad(format!(
                "tensor `{name}`: data_offsets [{begin}, {end}] run backwards"
            )));
        }
        let numel = e
            .shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| bad(format!("tensor `{name}`: shape {:?} overflows", e.shape)))?;
        let want = numel
            .checked_mul(dtype.size() as u64)
            .ok_or_else(|| bad(format!("tensor `{name}`: byte size overflows")))?;
        if end - begin != want {
            return Err(bad(format!(
                "tensor `{name}`: {} bytes of data but shape {:?} of {} needs {want}",
                end - begin,
                e.shape,
                dtype.name()
            )));
        }
        cursor = end;
        let base = 8 + n;
        tensors.push(TensorMeta {
            name,
            dtype,
            shape: e.shape,
            numel,
            layout: Layout::Contiguous {
                start: base + begin,
                end: base + end,
            },
        });
    }
    if cursor != data.len() as u64 {
        return Err(bad(format!(
            "the tensors cover {cursor} bytes but the data region holds {}",
            data.len()
        )));
    }
    Ok(Parsed { tensors, metadata })
}
