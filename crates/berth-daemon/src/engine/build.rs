//! build (to be written)
