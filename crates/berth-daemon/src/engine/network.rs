//! network (to be written)
