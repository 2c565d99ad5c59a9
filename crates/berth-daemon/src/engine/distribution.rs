//! distribution (to be written)
