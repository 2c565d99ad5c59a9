//! berth-build
