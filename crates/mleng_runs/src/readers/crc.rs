//! CRC-32C (Castagnoli) for TFRecord framing. A PyTorch event file is millions of records
//! of about 50 bytes, each with two CRCs (the 8-byte length and the data); the `crc32c`
//! crate is built for long buffers and spends most of a short call on setup, a third of
//! the whole parse. Short inputs here take the SSE 4.2 `crc32` instruction directly (one
//! per 8 bytes); long ones, and CPUs without it, go to the crate.

/// Inputs up to this length take the short path.
const SHORT: usize = 256;

#[inline]
pub fn crc32c(bytes: &[u8]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if bytes.len() <= SHORT && std::arch::is_x86_feature_detected!("sse4.2") {
        // SAFETY: the CPU supports SSE 4.2, checked just above.
        return unsafe { sse42::crc32c(bytes) };
    }
    crc32c::crc32c(bytes)
}

#[cfg(target_arch = "x86_64")]
mod sse42 {
    use std::arch::x86_64::{_mm_crc32_u16, _mm_crc32_u32, _mm_crc32_u64, _mm_crc32_u8};

    #[target_feature(enable = "sse4.2")]
    pub unsafe fn crc32c(bytes: &[u8]) -> u32 {
        let mut words = bytes.chunks_exact(8);
        let mut crc = u64::from(u32::MAX);
        for word in &mut words {
            let mut le = [0u8; 8];
            le.copy_from_slice(word);
            crc = _mm_crc32_u64(crc, u64::from_le_bytes(le));
        }
        // The instruction keeps the CRC in the low 32 bits.
        let mut crc = crc as u32;
        // The 0-7 bytes left: at most one 4-, one 2- and one 1-byte step.
        let mut rest = words.remainder();
        if let Some((four, tail)) = rest.split_first_chunk::<4>() {
            crc = _mm_crc32_u32(crc, u32::from_le_bytes(*four));
            rest = tail;
        }
        if let Some((two, tail)) = rest.split_first_chunk::<2>() {
            crc = _mm_crc32_u16(crc, u16::from_le_bytes(*two));
            rest = tail;
        }
        if let Some(&one) = rest.first() {
            crc = _mm_crc32_u8(crc, one);
        }
        !crc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_crate_and_the_standard_check_value() {
        // RFC 3720 (iSCSI) B.4 check value for "123456789".
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        let bytes: Vec<u8> = (0..600u32).map(|i| (i * 31 % 256) as u8).collect();
        for start in 0..9 {
            for end in start..bytes.len() {
                let s = &bytes[start..end];
                assert_eq!(crc32c(s), crc32c::crc32c(s), "{start}..{end}");
            }
        }
    }
}
