//! mleng's Python front end.
//!
//! Data flows one way: [`discover`] finds `.py` and `.ipynb` files, [`source`] loads them
//! (a notebook becomes one Python text with a map back to its cells), [`parse`] parses that
//! text once with ruff's parser, and [`index::SemanticIndex`] records everything the rules ask
//! about (qualified names, modules and their layers, forward order, training loops), so that
//! no rule walks the tree or resolves a name by itself.

pub mod contained;
pub mod depth;
pub mod discover;
pub mod index;
pub mod parse;
pub mod source;

pub use index::SemanticIndex;
pub use parse::ParsedFile;
pub use source::{LoadError, SourceFile};
