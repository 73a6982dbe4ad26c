//! Prometheus metrics, with Harbor's names where Harbor has one (its exporter, core and
//! jobservice metrics, all in one place here) and `berth_` ones for the rest.
//!
//! Counters and histograms are kept as things happen (requests, blob bytes, job ends); the
//! figures Harbor's exporter reads from its database (projects, quotas, pulls, the job queue,
//! storage) are read at each scrape, in one read transaction, into gauges made for that
//! scrape. Every label comes from a bounded set: methods outside the usual ones are `OTHER`,
//! registry paths are reduced to their operation, REST paths to their route's template.

use std::sync::Arc;
use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::db::metrics::{ProjectFigures, QueueFigures};

/// Latency buckets in seconds, from a cached manifest to a large blob.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
/// Job durations in seconds, from a housekeeping round to an hours-long replication.
const JOB_BUCKETS: &[f64] = &[
    0.1,
    0.5,
    1.0,
    5.0,
    15.0,
    60.0,
    300.0,
    900.0,
    3600.0,
    4.0 * 3600.0,
];

/// The metrics of one daemon; cheap to clone. Disabled (`[metrics] enabled = false`), it
/// records nothing, so metrics cost a request nothing unless they are wanted.
#[derive(Clone)]
pub struct Metrics {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    registry: Registry,
    requests: IntCounterVec,
    durations: HistogramVec,
    inflight: IntGauge,
    blob_bytes: IntCounterVec,
    jobs: IntCounterVec,
    job_seconds: HistogramVec,
}

/// A request in flight; counted until dropped.
pub struct InFlight(Option<IntGauge>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(g) = &self.0 {
            g.dec();
        }
    }
}

/// What a scrape reads from the rest of the daemon.
#[derive(Debug, Default)]
pub struct Figures {
    pub projects: Vec<ProjectFigures>,
    pub queue: QueueFigures,
    /// Bytes of every blob recorded.
    pub stored_bytes: i64,
    /// The store's volume: total and free bytes.
    pub volume: Option<(u64, u64)>,
    /// The database file with its WAL.
    pub database_bytes: u64,
    pub uploads_open: usize,
    /// Each component and whether it is healthy.
    pub components: Vec<(&'static str, bool)>,
    pub auth_mode: &'static str,
    pub self_registration: bool,
}

impl Metrics {
    /// Metrics that record nothing.
    pub fn disabled() -> Metrics {
        Metrics { inner: None }
    }

    /// Metrics that record, with the process collector registered.
    pub fn enabled() -> Metrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "harbor_core_http_request_total",
                "The total number of requests",
            ),
            &["method", "operation", "code"],
        )
        .expect("static metric definition");
        let durations = HistogramVec::new(
            HistogramOpts::new(
                "harbor_core_http_request_duration_seconds",
                "The time duration of the requests",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["method", "operation"],
        )
        .expect("static metric definition");
        let inflight = IntGauge::new(
            "harbor_core_http_inflight_requests",
            "The number of requests being served",
        )
        .expect("static metric definition");
        let blob_bytes = IntCounterVec::new(
            Opts::new(
                "berth_blob_bytes_total",
                "Blob bytes received in uploads and sent in downloads",
            ),
            &["direction"],
        )
        .expect("static metric definition");
        let jobs = IntCounterVec::new(
            Opts::new(
                "harbor_jobservice_task_total",
                "The number of processed tasks per job type",
            ),
            &["type", "status"],
        )
        .expect("static metric definition");
        let job_seconds = HistogramVec::new(
            HistogramOpts::new(
                "harbor_jobservice_task_process_time_seconds",
                "The duration of the task processing time",
            )
            .buckets(JOB_BUCKETS.to_vec()),
            &["type", "status"],
        )
        .expect("static metric definition");
        for m in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(durations.clone()),
            Box::new(inflight.clone()),
            Box::new(blob_bytes.clone()),
            Box::new(jobs.clone()),
            Box::new(job_seconds.clone()),
        ] {
            registry.register(m).expect("metric names are distinct");
        }
        // Both directions exist from the start, so a dashboard's rate() has a series.
        blob_bytes.with_label_values(&["received"]);
        blob_bytes.with_label_values(&["sent"]);
        // The process's memory, CPU and descriptors: process_resident_memory_bytes etc.
        let process = prometheus::process_collector::ProcessCollector::for_self();
        let _ = registry.register(Box::new(process));
        Metrics {
            inner: Some(Arc::new(Inner {
                registry,
                requests,
                durations,
                inflight,
                blob_bytes,
                jobs,
                job_seconds,
            })),
        }
    }

    /// Whether anything is recorded (so callers can skip building labels).
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    pub fn request_started(&self) -> InFlight {
        InFlight(self.inner.as_ref().map(|i| {
            i.inflight.inc();
            i.inflight.clone()
        }))
    }

    pub fn request_ended(&self, method: &str, operation: &str, status: u16, elapsed: Duration) {
        let Some(i) = &self.inner else { return };
        i.requests
            .with_label_values(&[method, operation, &status.to_string()])
            .inc();
        i.durations
            .with_label_values(&[method, operation])
            .observe(elapsed.as_secs_f64());
    }

    pub fn blob_received(&self, bytes: usize) {
        if let Some(i) = &self.inner {
            i.blob_bytes
                .with_label_values(&["received"])
                .inc_by(bytes as u64);
        }
    }

    pub fn blob_sent(&self, bytes: usize) {
        if let Some(i) = &self.inner {
            i.blob_bytes
                .with_label_values(&["sent"])
                .inc_by(bytes as u64);
        }
    }

    pub fn job_ended(&self, kind: &str, status: &str, elapsed: Duration) {
        let Some(i) = &self.inner else { return };
        i.jobs.with_label_values(&[kind, status]).inc();
        i.job_seconds
            .with_label_values(&[kind, status])
            .observe(elapsed.as_secs_f64());
    }

    /// The text exposition format (0.0.4): what was counted, and the scrape's figures.
    pub fn render(&self, figures: &Figures) -> Result<String, prometheus::Error> {
        let inner = self
            .inner
            .as_ref()
            .ok_or_else(|| prometheus::Error::Msg("metrics are disabled".into()))?;
        let mut families = inner.registry.gather();
        families.extend(scrape_registry(figures)?.gather());
        families.sort_by(|a, b| a.name().cmp(b.name()));
        let mut out = Vec::new();
        TextEncoder::new().encode(&families, &mut out)?;
        String::from_utf8(out).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}

/// The content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

fn gauge(registry: &Registry, name: &str, help: &str, value: i64) -> prometheus::Result<()> {
    let g = IntGauge::new(name, help)?;
    g.set(value);
    registry.register(Box::new(g))
}

fn gauges(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntGaugeVec> {
    let g = IntGaugeVec::new(Opts::new(name, help), labels)?;
    registry.register(Box::new(g.clone()))?;
    Ok(g)
}

/// Harbor's exporter figures and Berth's storage figures, as gauges for one scrape.
fn scrape_registry(f: &Figures) -> prometheus::Result<Registry> {
    let r = Registry::new();
    let public = |p: &ProjectFigures| if p.public { "true" } else { "false" };
    let projects = gauges(
        &r,
        "harbor_project_total",
        "Total number of public and private projects",
        &["public"],
    )?;
    projects.with_label_values(&["true"]).set(0);
    projects.with_label_values(&["false"]).set(0);
    let repos = gauges(
        &r,
        "harbor_project_repo_total",
        "Total number of repositories in a project",
        &["public", "project_name"],
    )?;
    let members = gauges(
        &r,
        "harbor_project_member_total",
        "Total number of members in a project",
        &["project_name"],
    )?;
    let used = gauges(
        &r,
        "harbor_project_quota_usage_byte",
        "Total used resources of a project",
        &["project_name"],
    )?;
    let hard = gauges(
        &r,
        "harbor_project_quota_byte",
        "Quota set in a project (-1: no limit)",
        &["project_name"],
    )?;
    let pulled = gauges(
        &r,
        "harbor_artifact_pulled",
        "Number of images pulled in a project",
        &["project_name"],
    )?;
    let artifacts = gauges(
        &r,
        "harbor_project_artifact_total",
        "Total number of artifacts in a project",
        &["public", "project_name"],
    )?;
    for p in &f.projects {
        projects.with_label_values(&[public(p)]).inc();
        repos
            .with_label_values(&[public(p), &p.name])
            .set(p.repositories);
        members.with_label_values(&[&p.name]).set(p.members);
        used.with_label_values(&[&p.name]).set(p.quota_used);
        hard.with_label_values(&[&p.name]).set(p.quota_hard);
        pulled.with_label_values(&[&p.name]).set(p.pulls);
        artifacts
            .with_label_values(&[public(p), &p.name])
            .set(p.artifacts);
    }
    let count = |public: Option<bool>| {
        f.projects
            .iter()
            .filter(|p| public.is_none_or(|v| p.public == v))
            .count() as i64
    };
    let repo_count = |public: Option<bool>| {
        f.projects
            .iter()
            .filter(|p| public.is_none_or(|v| p.public == v))
            .map(|p| p.repositories)
            .sum::<i64>()
    };
    gauge(
        &r,
        "harbor_statistics_total_project_amount",
        "Total amount of projects",
        count(None),
    )?;
    gauge(
        &r,
        "harbor_statistics_public_project_amount",
        "Amount of public projects",
        count(Some(true)),
    )?;
    gauge(
        &r,
        "harbor_statistics_private_project_amount",
        "Amount of private projects",
        count(Some(false)),
    )?;
    gauge(
        &r,
        "harbor_statistics_total_repo_amount",
        "Total amount of repositories",
        repo_count(None),
    )?;
    gauge(
        &r,
        "harbor_statistics_public_repo_amount",
        "Amount of public repositories",
        repo_count(Some(true)),
    )?;
    gauge(
        &r,
        "harbor_statistics_private_repo_amount",
        "Amount of private repositories",
        repo_count(Some(false)),
    )?;
    gauge(
        &r,
        "harbor_statistics_total_storage_consumption",
        "Total storage used",
        f.stored_bytes,
    )?;

    let healthy = f.components.iter().all(|(_, ok)| *ok);
    gauge(
        &r,
        "harbor_health",
        "Current status of the registry (1: healthy)",
        i64::from(healthy),
    )?;
    let up = gauges(
        &r,
        "harbor_up",
        "Running status of each component (1: up)",
        &["component"],
    )?;
    for (name, ok) in &f.components {
        up.with_label_values(&[name]).set(i64::from(*ok));
    }
    let info = gauges(
        &r,
        "harbor_system_info",
        "Information about this instance",
        &["auth_mode", "harbor_version", "self_registration"],
    )?;
    info.with_label_values(&[
        f.auth_mode,
        crate::VERSION,
        if f.self_registration { "true" } else { "false" },
    ])
    .set(1);

    let queued = gauges(
        &r,
        "harbor_task_queue_size",
        "The number of executions waiting per type",
        &["type"],
    )?;
    for (kind, n) in &f.queue.pending {
        queued.with_label_values(&[kind]).set(*n);
    }
    let running = gauges(
        &r,
        "harbor_task_concurrency",
        "The number of executions running per type",
        &["type"],
    )?;
    for (kind, n) in &f.queue.running {
        running.with_label_values(&[kind]).set(*n);
    }
    gauge(
        &r,
        "harbor_task_scheduled_total",
        "Number of schedules",
        f.queue.schedules,
    )?;

    gauge(
        &r,
        "berth_upload_sessions_open",
        "Blob upload sessions in progress",
        f.uploads_open as i64,
    )?;
    gauge(
        &r,
        "berth_database_bytes",
        "Size of the database file and its write-ahead log",
        f.database_bytes as i64,
    )?;
    let storage = gauges(
        &r,
        "berth_storage_bytes",
        "The blob store: bytes of recorded blobs, and its volume's size and free space",
        &["kind"],
    )?;
    storage.with_label_values(&["blobs"]).set(f.stored_bytes);
    if let Some((total, free)) = f.volume {
        storage
            .with_label_values(&["volume_total"])
            .set(total as i64);
        storage.with_label_values(&["volume_free"]).set(free as i64);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_harbors_names_with_counted_and_scraped_values() {
        let m = Metrics::enabled();
        m.request_ended(
            "GET",
            "registry:manifest:get",
            200,
            Duration::from_millis(3),
        );
        m.blob_received(10);
        m.job_ended("GARBAGE_COLLECTION", "Success", Duration::from_secs(2));
        let figures = Figures {
            projects: vec![ProjectFigures {
                name: "library".into(),
                public: true,
                repositories: 2,
                members: 1,
                artifacts: 3,
                quota_used: 1024,
                quota_hard: -1,
                pulls: 7,
            }],
            components: vec![("core", true), ("database", true)],
            auth_mode: "db_auth",
            ..Figures::default()
        };
        let text = m.render(&figures).expect("render");
        for line in [
            "harbor_core_http_request_total{code=\"200\",method=\"GET\",operation=\"registry:manifest:get\"} 1",
            "harbor_project_total{public=\"true\"} 1",
            "harbor_project_total{public=\"false\"} 0",
            "harbor_project_quota_usage_byte{project_name=\"library\"} 1024",
            "harbor_artifact_pulled{project_name=\"library\"} 7",
            "berth_blob_bytes_total{direction=\"received\"} 10",
            "harbor_jobservice_task_total{status=\"Success\",type=\"GARBAGE_COLLECTION\"} 1",
            "harbor_health 1",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        assert!(text.contains("# TYPE harbor_core_http_request_duration_seconds histogram"));
    }
}
