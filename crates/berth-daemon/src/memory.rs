//! Keeping the daemon's heap small between bursts of work.
//!
//! glibc gives every thread that contends on the allocator an arena of its own and keeps freed
//! memory in them for reuse; after a burst of container starts (tokio workers plus blocking
//! threads) a daemon that then sits idle holds megabytes of free heap it will not use again
//! soon. Two arenas are plenty for a daemon whose work is mostly waiting on the kernel, and a
//! periodic `malloc_trim` hands what is free back once a burst is over.

use std::time::Duration;

/// How often free heap is handed back to the kernel.
const TRIM_EVERY: Duration = Duration::from_secs(2);

/// Caps the allocator's arenas; call before the runtime starts its threads.
#[allow(unsafe_code)]
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; it is called before other threads
    // exist and has no memory-safety preconditions.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Returns free heap to the kernel every [`TRIM_EVERY`] for the daemon's lifetime.
pub fn spawn_trimmer() {
    tokio::spawn(async {
        let mut tick = tokio::time::interval(TRIM_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            // Trimming walks the arenas under their locks: not on a runtime worker.
            let _ = tokio::task::spawn_blocking(berth_runtime::heap::release_free).await;
        }
    });
}
