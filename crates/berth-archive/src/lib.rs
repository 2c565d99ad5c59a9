//! berth-archive
