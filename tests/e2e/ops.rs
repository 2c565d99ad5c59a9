//! Engine operations through the real clients: health checks, restart policies, rotated logs,
//! events, stats, the Prometheus endpoint, cp, diff, system df/prune, info counts, bad input.
//! Each test runs its own daemon; intervals are short (200 ms) so the tests are quick, and
//! every wait polls a condition.

#![allow(clippy::unwrap_used)]

/// Declares one test per client for a scenario taking `(d: &mut Daemon, c: Client)` (mutable:
/// some scenarios restart the daemon).
macro_rules! both_clients {
    ($($name:ident),* $(,)?) => {
        mod docker_cli {
            $(#[test] fn $name() { let mut d = berth_e2e::Daemon::start(); super::$name(&mut d, berth_e2e::Client::Docker); d.assert_no_leaks_after_cleanup(); })*
        }
        mod berth_cli {
            $(#[test] fn $name() { let mut d = berth_e2e::Daemon::start(); super::$name(&mut d, berth_e2e::Client::Berth); d.assert_no_leaks_after_cleanup(); })*
        }
    };
}

both_clients!(
    health_turns_unhealthy_and_emits_events,
    health_on_failure_restarts,
    restart_on_failure_gives_up_after_max,
    restart_always_and_manual_stop,
    restart_policies_survive_daemon_restarts,
    logs_rotate_and_read_across_files,
    log_drivers_none_and_local,
    stats_cpu_and_memory,
    cp_round_trips_a_tree,
    cp_never_leaves_the_container,
    diff_lists_changes,
    events_filters_and_actions,
    system_df_prune_and_info,
    bad_health_input_names_the_field,
);

mod with_daemon_flags {
    #[test]
    fn docker_cli_log_defaults_and_service_logs() {
        super::log_defaults_and_service_logs(berth_e2e::Client::Docker);
    }
    #[test]
    fn berth_cli_log_defaults_and_service_logs() {
        super::log_defaults_and_service_logs(berth_e2e::Client::Berth);
    }
    #[test]
    fn cp_upload_cut_short_extracts_nothing() {
        super::cp_upload_cut_short_extracts_nothing();
    }
    #[test]
    fn metrics_endpoint_reports_what_runs() {
        super::metrics_endpoint_reports_what_runs();
    }
}

#[path = "ops/cp.rs"]
mod cp;
#[path = "ops/health.rs"]
mod health;
#[path = "ops/logs.rs"]
mod logs;
#[path = "ops/restart.rs"]
mod restart;
#[path = "ops/stats.rs"]
mod stats;
#[path = "ops/support.rs"]
mod support;
#[path = "ops/system.rs"]
mod system;

use cp::*;
use health::*;
use logs::*;
use restart::*;
use stats::*;
use system::*;
