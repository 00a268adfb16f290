//! Model files for `mleng inspect`: ONNX graphs (shapes, parameters, FLOPs, graph review)
//! and checkpoints (safetensors, PyTorch zip) read without executing anything in them.

pub mod catalog;
pub mod ckpt;
pub mod error;
pub mod inspect;
pub mod memory;
pub mod onnx;
pub mod render;

pub use error::{ModelError, Result};
