//! Domain knowledge as data, each table with its source. Rules look facts up here instead of
//! burying literals in their checks, so a fact is fixed in one place and cited once.

pub mod backbones;
pub mod datasets;
pub mod experiment;
pub mod layers;
pub mod losses;
pub mod normalization;
pub mod optimizers;
pub mod params;
pub mod performance;
pub mod recommend;
pub mod schedulers;
pub mod training_memory;
pub mod vision;
