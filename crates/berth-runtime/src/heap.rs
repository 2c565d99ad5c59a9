//! Handing free heap back to the kernel, for long-lived processes that go quiet after a burst
//! (the daemon after a wave of starts, a shim once its container runs).

/// Returns the allocator's free memory to the kernel (glibc; a no-op elsewhere).
#[allow(unsafe_code)]
pub fn release_free() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim has no preconditions; it only releases memory the allocator owns and
    // does not use.
    unsafe {
        libc::malloc_trim(0);
    }
}
