//! save/load
