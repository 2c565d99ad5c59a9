#![allow(clippy::unwrap_used)]

use super::*;

fn hc(test: &[&str]) -> HealthConfig {
    HealthConfig { test: Some(test.iter().map(|s| s.to_string()).collect()), ..Default::default() }
}

fn config(h: HealthConfig) -> ContainerConfig {
    ContainerConfig { healthcheck: Some(h), ..Default::default() }
}

fn result(code: i64) -> HealthLog {
    HealthLog { exit_code: code, ..Default::default() }
}

#[test]
fn forms_and_defaults() {
    let s = HealthSpec::of(&config(hc(&["CMD-SHELL", "test -f /ok"]))).unwrap();
    assert_eq!(s.argv, vec!["/bin/sh", "-c", "test -f /ok"]);
    assert_eq!((s.interval, s.timeout, s.retries), (Duration::from_secs(30), Duration::from_secs(30), 3));
    let s = HealthSpec::of(&config(hc(&["CMD", "true", "x"]))).unwrap();
    assert_eq!(s.argv, vec!["true", "x"]);
    let mut c = config(hc(&["CMD-SHELL", "x"]));
    c.shell = Some(vec!["/bin/bash".into(), "-lc".into()]);
    assert_eq!(HealthSpec::of(&c).unwrap().argv, vec!["/bin/bash", "-lc", "x"]);
    assert!(HealthSpec::of(&config(hc(&["NONE"]))).is_none());
    assert!(HealthSpec::of(&ContainerConfig::default()).is_none());
}

#[test]
fn bad_configs_name_the_field() {
    let mut h = hc(&["CMD", "true"]);
    h.interval = -1;
    assert!(validate(Some(&h)).unwrap_err().to_string().starts_with("Healthcheck.Interval"));
    let mut h = hc(&["CMD", "true"]);
    h.timeout = 10;
    assert!(validate(Some(&h)).unwrap_err().to_string().contains("Timeout"));
    let mut h = hc(&["CMD", "true"]);
    h.retries = -2;
    assert!(validate(Some(&h)).unwrap_err().to_string().contains("Retries"));
    let e = validate(Some(&hc(&["SHELL", "true"]))).unwrap_err().to_string();
    assert!(e.contains("Healthcheck.Test") && e.contains("SHELL"), "{e}");
    assert!(validate(Some(&hc(&["CMD"]))).is_err());
    assert!(validate(Some(&hc(&["NONE"]))).is_ok());
    assert!(validate(Some(&HealthConfig::default())).is_ok());
}

#[test]
fn request_fields_override_the_image_field_by_field() {
    let image = serde_json::json!({"Test": ["CMD", "check"], "Interval": 5_000_000_000i64, "Retries": 7});
    let user = HealthConfig { interval: 1_000_000_000, ..Default::default() };
    let m = merge(Some(user), Some(&image)).unwrap();
    assert_eq!(m.test, Some(vec!["CMD".to_string(), "check".to_string()]));
    assert_eq!((m.interval, m.retries), (1_000_000_000, 7));
    assert_eq!(merge(None, Some(&image)).unwrap().interval, 5_000_000_000);
    assert!(merge(None, None).is_none());
}

#[test]
fn transitions_follow_docker() {
    let spec = HealthSpec::of(&config(HealthConfig { retries: 2, ..hc(&["CMD", "x"]) })).unwrap();
    let mut h = restarted(None);
    // Failures inside the start period do not count while starting.
    assert_eq!(apply(&mut h, result(1), &spec, true), None);
    assert_eq!((h.status.as_str(), h.failing_streak), (STARTING, 0));
    assert_eq!(apply(&mut h, result(0), &spec, true).as_deref(), Some(HEALTHY));
    assert_eq!(apply(&mut h, result(1), &spec, true), None, "a healthy container counts failures");
    assert_eq!(h.failing_streak, 1);
    assert_eq!(apply(&mut h, result(2), &spec, false).as_deref(), Some(UNHEALTHY));
    assert_eq!(apply(&mut h, result(1), &spec, false), None);
    assert_eq!(h.failing_streak, 3);
    for _ in 0..10 {
        apply(&mut h, result(0), &spec, false);
    }
    assert_eq!(h.log.len(), MAX_LOG_ENTRIES);
    assert_eq!((h.status.as_str(), h.failing_streak), (HEALTHY, 0));
    let again = restarted(Some(&h));
    assert_eq!((again.status.as_str(), again.log.len()), (STARTING, MAX_LOG_ENTRIES));
}

#[test]
fn start_interval_applies_only_while_starting_in_the_start_period() {
    let mut h = hc(&["CMD", "x"]);
    h.interval = 10_000_000_000;
    h.start_period = 60_000_000_000;
    let spec = HealthSpec::of(&config(h)).unwrap();
    assert_eq!(spec.next_wait(STARTING, Duration::from_secs(1)), Duration::from_secs(5));
    assert_eq!(spec.next_wait(HEALTHY, Duration::from_secs(1)), Duration::from_secs(10));
    assert_eq!(spec.next_wait(STARTING, Duration::from_secs(61)), Duration::from_secs(10));
}

#[test]
fn on_failure_comes_from_host_config_or_label() {
    let mut c = ContainerConfig::default();
    let mut h = berth_api::types::HostConfig::default();
    assert_eq!(OnFailure::of(&c, &h).unwrap(), OnFailure::None);
    c.labels.insert(ON_FAILURE_LABEL.into(), "restart".into());
    assert_eq!(OnFailure::of(&c, &h).unwrap(), OnFailure::Restart);
    h.extra.insert(ON_FAILURE_FIELD.into(), serde_json::json!("kill"));
    assert_eq!(OnFailure::of(&c, &h).unwrap(), OnFailure::Kill);
    h.extra.insert(ON_FAILURE_FIELD.into(), serde_json::json!("reboot"));
    assert!(OnFailure::of(&c, &h).unwrap_err().to_string().contains("HealthOnFailure"));
}

#[test]
fn durations_print_like_go() {
    assert_eq!(go_duration(Duration::from_millis(200)), "200ms");
    assert_eq!(go_duration(Duration::from_secs(30)), "30s");
    assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
    assert_eq!(go_duration(Duration::from_secs(90)), "1m30s");
    assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
}
