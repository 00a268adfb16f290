//! Domain knowledge as data, each table with its source. Rules look facts up here instead of
//! burying literals in their checks, so a fact is fixed in one place and cited once.

pub mod layers;
pub mod losses;
pub mod normalization;
pub mod optimizers;
