//! TFRecord framing: `u64le length | u32le masked_crc32c(length) | data | u32le masked_crc32c(data)`.
//! Spec: tensorflow/core/lib/io/record_writer.cc and tensorflow/tsl/lib/hash/crc32c.h (mask).
//!
//! The iterator never panics: a short tail ends iteration with [`Damage::Truncated`], a bad
//! length CRC makes it scan forward for the next valid header, a bad data CRC skips that record.

/// `((crc >> 15) | (crc << 17)) + 0xa282ead8`, TensorFlow's CRC mask.
#[inline]
pub fn masked_crc(bytes: &[u8]) -> u32 {
    let crc = super::crc::crc32c(bytes);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// Builds one framed record; used by tests and the benchmark generator.
pub fn frame(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 16);
    let len = (data.len() as u64).to_le_bytes();
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc(data).to_le_bytes());
    out
}

#[derive(Debug, Clone, PartialEq)]
pub enum Damage {
    /// The file ends inside a record: normal for a run that is still writing.
    Truncated { offset: u64 },
    /// The length field's CRC does not match; `resumed_at` is where a valid header was found.
    BadLengthCrc {
        offset: u64,
        resumed_at: Option<u64>,
    },
    /// The data CRC does not match; the record was skipped.
    BadDataCrc { offset: u64 },
}

pub enum Item<'a> {
    Record { offset: u64, data: &'a [u8] },
    Damaged(Damage),
}

pub struct Records<'a> {
    buf: &'a [u8],
    pos: usize,
    done: bool,
}

pub fn records(buf: &[u8]) -> Records<'_> {
    Records {
        buf,
        pos: 0,
        done: false,
    }
}

fn u32_at(buf: &[u8], at: usize) -> Option<u32> {
    let bytes: [u8; 4] = buf.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(bytes))
}

/// The data of a record whose header was already checked by [`valid_header`] to hold
/// `len`: `rec` is the whole record (header, data, data CRC); `None` if the data CRC fails.
#[inline]
pub fn checked_data(rec: &[u8], len: usize) -> Option<&[u8]> {
    let data = rec.get(12..len.checked_add(12)?)?;
    (u32_at(rec, 12 + len)? == masked_crc(data)).then_some(data)
}

/// A header at `at` whose length CRC checks out; returns the data length.
#[inline]
pub fn valid_header(buf: &[u8], at: usize) -> Option<u64> {
    let len_bytes = buf.get(at..at.checked_add(8)?)?;
    let stored = u32_at(buf, at + 8)?;
    if masked_crc(len_bytes) != stored {
        return None;
    }
    let arr: [u8; 8] = len_bytes.try_into().ok()?;
    Some(u64::from_le_bytes(arr))
}

impl<'a> Iterator for Records<'a> {
    type Item = Item<'a>;

    fn next(&mut self) -> Option<Item<'a>> {
        if self.done || self.pos >= self.buf.len() {
            return None;
        }
        let start = self.pos;
        if self.buf.len() - start < 12 {
            self.done = true;
            return Some(Item::Damaged(Damage::Truncated {
                offset: start as u64,
            }));
        }
        let Some(len) = valid_header(self.buf, start) else {
            // Resynchronise: the next position whose 12 bytes form a valid header.
            let resumed = (start + 1..self.buf.len().saturating_sub(11))
                .find(|&at| valid_header(self.buf, at).is_some());
            match resumed {
                Some(at) => self.pos = at,
                None => self.done = true,
            }
            return Some(Item::Damaged(Damage::BadLengthCrc {
                offset: start as u64,
                resumed_at: resumed.map(|p| p as u64),
            }));
        };
        let data_start = start + 12;
        let data_end = usize::try_from(len)
            .ok()
            .and_then(|l| data_start.checked_add(l));
        let Some(data_end) = data_end.filter(|&end| end.saturating_add(4) <= self.buf.len()) else {
            self.done = true;
            return Some(Item::Damaged(Damage::Truncated {
                offset: start as u64,
            }));
        };
        self.pos = data_end + 4;
        let data = &self.buf[data_start..data_end];
        let ok = u32_at(self.buf, data_end).is_some_and(|stored| stored == masked_crc(data));
        if ok {
            Some(Item::Record {
                offset: start as u64,
                data,
            })
        } else {
            Some(Item::Damaged(Damage::BadDataCrc {
                offset: start as u64,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_truncation() {
        let mut file = frame(b"hello");
        file.extend(frame(b"world"));
        let full: Vec<_> = records(&file)
            .filter_map(|i| match i {
                Item::Record { data, .. } => Some(data.to_vec()),
                Item::Damaged(_) => None,
            })
            .collect();
        assert_eq!(full, vec![b"hello".to_vec(), b"world".to_vec()]);
        let cut = &file[..file.len() - 3];
        let items: Vec<_> = records(cut).collect();
        assert!(matches!(
            items.last(),
            Some(Item::Damaged(Damage::Truncated { offset: 21 }))
        ));
    }

    #[test]
    fn bad_data_crc_skips_one_record() {
        let mut file = frame(b"hello");
        file.extend(frame(b"world"));
        file[13] ^= 0xff;
        let items: Vec<_> = records(&file).collect();
        assert!(matches!(
            items.first(),
            Some(Item::Damaged(Damage::BadDataCrc { offset: 0 }))
        ));
        assert!(matches!(items.get(1), Some(Item::Record { data, .. }) if *data == b"world"));
    }

    #[test]
    fn bad_length_crc_resyncs() {
        let mut file = frame(b"hello");
        file.extend(frame(b"world"));
        file[9] ^= 0xff;
        let items: Vec<_> = records(&file).collect();
        assert!(matches!(
            items.first(),
            Some(Item::Damaged(Damage::BadLengthCrc {
                offset: 0,
                resumed_at: Some(21)
            }))
        ));
        assert!(matches!(items.get(1), Some(Item::Record { data, .. }) if *data == b"world"));
    }
}
