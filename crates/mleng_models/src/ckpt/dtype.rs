//! Element types of checkpoint tensors and their little-endian decoding.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    F64,
    F32,
    F16,
    BF16,
    F8E4M3,
    F8E5M2,
    I64,
    I32,
    I16,
    I8,
    U8,
    U16,
    U32,
    U64,
    Bool,
}

impl DType {
    pub fn size(self) -> usize {
        match self {
            DType::F64 | DType::I64 | DType::U64 => 8,
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::F16 | DType::BF16 | DType::I16 | DType::U16 => 2,
            DType::F8E4M3 | DType::F8E5M2 | DType::I8 | DType::U8 | DType::Bool => 1,
        }
    }

    pub fn is_float(self) -> bool {
        matches!(
            self,
            DType::F64 | DType::F32 | DType::F16 | DType::BF16 | DType::F8E4M3 | DType::F8E5M2
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            DType::F64 => "float64",
            DType::F32 => "float32",
            DType::F16 => "float16",
            DType::BF16 => "bfloat16",
            DType::F8E4M3 => "float8_e4m3",
            DType::F8E5M2 => "float8_e5m2",
            DType::I64 => "int64",
            DType::I32 => "int32",
            DType::I16 => "int16",
            DType::I8 => "int8",
            DType::U8 => "uint8",
            DType::U16 => "uint16",
            DType::U32 => "uint32",
            DType::U64 => "uint64",
            DType::Bool => "bool",
        }
    }

    /// safetensors' dtype names (format spec, `Dtype` enum of the `safetensors` crate).
    pub fn from_safetensors(s: &str) -> Option<DType> {
        Some(match s {
            "F64" => DType::F64,
            "F32" => DType::F32,
            "F16" => DType::F16,
            "BF16" => DType::BF16,
            "F8_E4M3" => DType::F8E4M3,
            "F8_E5M2" => DType::F8E5M2,
            "I64" => DType::I64,
            "I32" => DType::I32,
            "I16" => DType::I16,
            "I8" => DType::I8,
            "U8" => DType::U8,
            "U16" => DType::U16,
            "U32" => DType::U32,
            "U64" => DType::U64,
            "BOOL" => DType::Bool,
            _ => return None,
        })
    }

    /// The legacy typed-storage class names `torch.save` writes (`torch.FloatStorage`...).
    pub fn from_torch_storage(s: &str) -> Option<DType> {
        Some(match s {
            "DoubleStorage" => DType::F64,
            "FloatStorage" => DType::F32,
            "HalfStorage" => DType::F16,
            "BFloat16Storage" => DType::BF16,
            "LongStorage" => DType::I64,
            "IntStorage" => DType::I32,
            "ShortStorage" => DType::I16,
            "CharStorage" => DType::I8,
            "ByteStorage" => DType::U8,
            "BoolStorage" => DType::Bool,
            "Float8_e4m3fnStorage" => DType::F8E4M3,
            "Float8_e5m2Storage" => DType::F8E5M2,
            _ => return None,
        })
    }

    /// Decode one element from exactly `self.size()` little-endian bytes.
    pub fn decode(self, b: &[u8]) -> f64 {
        let arr = |n: usize| {
            let mut a = [0u8; 8];
            for (dst, src) in a.iter_mut().zip(b.iter().take(n)) {
                *dst = *src;
            }
            a
        };
        let a = arr(self.size());
        match self {
            DType::F64 => f64::from_le_bytes(a),
            DType::F32 => f64::from(f32::from_le_bytes([a[0], a[1], a[2], a[3]])),
            DType::F16 => half::f16::from_le_bytes([a[0], a[1]]).to_f64(),
            DType::BF16 => half::bf16::from_le_bytes([a[0], a[1]]).to_f64(),
            DType::F8E4M3 => f8_e4m3(a[0]),
            DType::F8E5M2 => half::f16::from_bits(u16::from(a[0]) << 8).to_f64(),
            DType::I64 => i64::from_le_bytes(a) as f64,
            DType::I32 => f64::from(i32::from_le_bytes([a[0], a[1], a[2], a[3]])),
            DType::I16 => f64::from(i16::from_le_bytes([a[0], a[1]])),
            DType::I8 => f64::from(a[0] as i8),
            DType::U8 | DType::Bool => f64::from(a[0]),
            DType::U16 => f64::from(u16::from_le_bytes([a[0], a[1]])),
            DType::U32 => f64::from(u32::from_le_bytes([a[0], a[1], a[2], a[3]])),
            DType::U64 => u64::from_le_bytes(a) as f64,
        }
    }

    /// Call `f` on every element of a packed little-endian buffer.
    pub fn for_each(self, bytes: &[u8], mut f: impl FnMut(f64)) {
        match self {
            // The two common cases get a direct loop: this is the hot path of the benchmark.
            DType::F32 => {
                for c in bytes.chunks_exact(4) {
                    f(f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])));
                }
            }
            DType::BF16 => {
                for c in bytes.chunks_exact(2) {
                    f(half::bf16::from_le_bytes([c[0], c[1]]).to_f64());
                }
            }
            DType::F16 => {
                for c in bytes.chunks_exact(2) {
                    f(half::f16::from_le_bytes([c[0], c[1]]).to_f64());
                }
            }
            _ => {
                for c in bytes.chunks_exact(self.size()) {
                    f(self.decode(c));
                }
            }
        }
    }
}

/// OCP FP8 E4M3 (the "fn" variant: no infinities, 0x7f/0xff are NaN).
fn f8_e4m3(b: u8) -> f64 {
    let sign = if b & 0x80 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((b >> 3) & 0x0f);
    let man = f64::from(b & 0x07);
    if exp == 0x0f && (b & 0x07) == 0x07 {
        return f64::NAN;
    }
    if exp == 0 {
        sign * man / 8.0 * 2f64.powi(-6)
    } else {
        sign * (1.0 + man / 8.0) * 2f64.powi(exp - 7)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_half_types() {
        assert_eq!(
            DType::F16.decode(&half::f16::from_f32(1.5).to_le_bytes()),
            1.5
        );
        assert_eq!(
            DType::BF16.decode(&half::bf16::from_f32(-2.0).to_le_bytes()),
            -2.0
        );
        assert_eq!(f8_e4m3(0x38), 1.0);
        assert!(f8_e4m3(0x7f).is_nan());
    }
}
