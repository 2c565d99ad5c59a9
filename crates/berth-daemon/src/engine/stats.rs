//! stats (to be written)
