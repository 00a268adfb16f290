//! Renderers: each turns a list of findings into one output format.
