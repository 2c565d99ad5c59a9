//! The engine-operations state that lives beside the container registry: health-check tasks,
//! restart back-off, the stats baseline and the API request metrics. One field of
//! [`super::Engine`], so the composition root stays small.

use super::health_monitor::HealthTasks;
use super::metrics::ApiMetrics;
use super::restart::Restarts;
use super::stats::StatsCache;

/// Health, restart, stats and metrics state.
#[derive(Default)]
pub struct Ops {
    /// Running health-check tasks.
    pub health: HealthTasks,
    /// Restart-policy back-off and pending restarts.
    pub restarts: Restarts,
    /// The previous CPU sample of each container, for `precpu_stats`.
    pub stats: StatsCache,
    /// API request latencies, for the Prometheus endpoint.
    pub metrics: ApiMetrics,
}

impl super::Engine {
    /// Create-time checks of what this issue adds (health check, `--health-on-failure`, log
    /// driver and options), each error naming the field at fault. Returns the log config with
    /// the daemon's defaults merged in, as Docker stores it.
    pub(crate) fn check_ops_config(
        &self,
        config: &berth_api::types::ContainerConfig,
        host: &berth_api::types::HostConfig,
    ) -> Result<berth_api::types::LogConfig, crate::error::EngineError> {
        super::health::validate(config.healthcheck.as_ref())?;
        super::health::OnFailure::of(config, host)?;
        let merged = super::logconfig::merge_defaults(&host.log_config, &self.config)?;
        super::logconfig::plan(&merged, &config.labels, &self.config)?;
        Ok(merged)
    }
}
