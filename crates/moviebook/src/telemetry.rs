//! Logs (tracing), traces (OpenTelemetry, when an OTLP endpoint is configured) and metrics
//! (Prometheus), each set up once per process.

use std::io::IsTerminal;
use std::sync::OnceLock;

use anyhow::Context;
use clap::ValueEnum;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use platform::request_id::RequestId;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{Format, Full, Json, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::{Config, LogFormat};

/// The logs' filter when `RUST_LOG` is unset.
const DEFAULT_LOG_FILTER: &str = "info,tower_http=warn";

/// What is exported as traces: every span at info and above, and the store's requests (debug
/// spans, see `store::Label`). Never the spans of the libraries the exporter itself sends
/// with (its own export would be traced, and exported, without end).
const TRACE_FILTER: &str = "info,store::labelled=debug,h2=off,hyper=off,hyper_util=off,\
                            tonic=off,tower=off,opentelemetry=off,opentelemetry_sdk=off,\
                            opentelemetry_otlp=off";

/// The trace export of a process, if it has one: call [`Tracing::shutdown`] before the
/// process ends, so that the spans still queued are sent.
#[must_use = "shut the trace export down before the process ends"]
pub struct Tracing {
    provider: Option<SdkTracerProvider>,
}

impl Tracing {
    /// Sends the spans still queued (waiting for the collector at most the exporter's
    /// timeout) and stops exporting.
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else {
            return;
        };
        // The SDK blocks until the export is done, on a runtime thread it would stall.
        let stopped = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        if let Ok(Err(error)) = stopped {
            tracing::warn!(%error, "the last traces could not be exported");
        }
    }
}

/// Logs to stderr in `format`, filtered by `RUST_LOG` (default `info`). With an OTLP
/// endpoint, also exports traces there and carries trace context between processes
/// (`trace_context`); without one, nothing is exported and no trace context is made.
/// Call it inside the Tokio runtime: the exporter's connection runs on it.
pub fn init(config: &Config) -> anyhow::Result<Tracing> {
    let format = config.log_format;
    let otlp_endpoint = config.otlp_endpoint.as_deref();
    let log_filter =
        || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    let Some(endpoint) = otlp_endpoint.filter(|endpoint| !endpoint.trim().is_empty()) else {
        // The subscriber of a process without traces, kept as it was: one global filter,
        // which costs less per span than a filter per layer.
        let logs = tracing_subscriber::fmt()
            .with_env_filter(log_filter())
            .with_writer(std::io::stderr);
        // A second call (tests building several applications) keeps the first subscriber.
        let _ = match format {
            LogFormat::Text => logs
                .with_ansi(terminal())
                .event_format(NamingTheRequest::text())
                .try_init(),
            LogFormat::Json => logs
                .json()
                .event_format(NamingTheRequest::json())
                .try_init(),
        };
        return Ok(Tracing { provider: None });
    };

    let exporter = SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .with_context(|| format!("setting up the trace export to {endpoint}"))?;
    let mut resource = Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(service_name(config));
    }
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build();
    let traces = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("moviebook"))
        .with_filter(EnvFilter::new(TRACE_FILTER));
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs: Box<dyn Layer<Registry> + Send + Sync> = match format {
        LogFormat::Text => logs
            .with_ansi(terminal())
            .event_format(NamingTheRequest::text())
            .with_filter(log_filter())
            .boxed(),
        LogFormat::Json => logs
            .json()
            .event_format(NamingTheRequest::json())
            .with_filter(log_filter())
            .boxed(),
    };
    // As above, a second call keeps the first subscriber (and its export, if it had one).
    if tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .try_init()
        .is_ok()
    {
        trace_context::enable();
    }
    Ok(Tracing {
        provider: Some(provider),
    })
}

fn terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// A log format that names the request being served (`platform::request_id`) on each line
/// written while serving it: `request_id=...` at the end of a text line, a `request_id` member
/// of a JSON object. Cheaper than a span per request, which the subscriber would build,
/// format and tear down on every request whether or not it logs anything.
struct NamingTheRequest<F> {
    inner: F,
    json: bool,
}

impl NamingTheRequest<Format<Full>> {
    fn text() -> Self {
        NamingTheRequest {
            // Lines are formatted into a buffer first, which knows nothing of the terminal.
            inner: tracing_subscriber::fmt::format().with_ansi(terminal()),
            json: false,
        }
    }
}

impl NamingTheRequest<Format<Json>> {
    fn json() -> Self {
        NamingTheRequest {
            inner: tracing_subscriber::fmt::format()
                .json()
                .with_current_span(true),
            json: true,
        }
    }
}

impl<S, N, F> FormatEvent<S, N> for NamingTheRequest<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let Some(id) = RequestId::current() else {
            return self.inner.format_event(ctx, writer, event);
        };
        let mut line = String::new();
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        writer.write_str(&with_request_id(&line, id.as_str(), self.json))
    }
}

/// A formatted log line with the request's id added. A request id has no character JSON
/// would escape (`platform::request_id`), so it is written as it is.
fn with_request_id(line: &str, id: &str, json: bool) -> String {
    if json {
        return match line.strip_prefix('{') {
            Some(rest) => format!("{{\"request_id\":\"{id}\",{rest}"),
            None => line.to_owned(),
        };
    }
    let text = line.strip_suffix('\n').unwrap_or(line);
    format!("{text} request_id={id}\n")
}

/// The name a process gives itself in traces, unless `OTEL_SERVICE_NAME` says otherwise:
/// `moviebook` for the embedded process, `moviebook-<roles>` for a role of a cluster.
fn service_name(config: &Config) -> String {
    if config.plays_every_role() {
        return "moviebook".to_owned();
    }
    let roles: Vec<String> = config
        .roles
        .iter()
        .filter_map(|role| role.to_possible_value())
        .map(|role| role.get_name().to_owned())
        .collect();
    format!("moviebook-{}", roles.join("+"))
}

static METRICS: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's metrics recorder, installed on first use.
pub fn metrics_handle() -> anyhow::Result<PrometheusHandle> {
    if let Some(handle) = METRICS.get() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Suffix("_seconds".into()),
            &[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ],
        )
        .context("configuring metric buckets")?
        // Event lag is seconds when all is well and minutes when a consumer is down; 2 s is
        // a bound, so the 2-second objective can be read off the buckets.
        .set_buckets_for_metric(
            Matcher::Full("moviebook_event_lag_seconds".into()),
            &[
                0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0,
            ],
        )
        .context("configuring the event lag buckets")?
        .install_recorder()
        .context("installing the metrics recorder")?;
    describe_metrics();
    let handle = METRICS.get_or_init(|| handle).clone();
    let upkept = handle.clone();
    std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkept.run_upkeep();
            }
        })
        .context("starting the metrics upkeep")?;
    Ok(handle)
}

/// How often histogram samples are folded into their buckets. The recorder queues every
/// sample until then (or until `/metrics` is scraped): without upkeep, a process nobody
/// scrapes grew by some 20 bytes per request (~8 MB per 400,000 requests, measured).
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// What a metric is, for its `# HELP` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
    Histogram,
}

/// One metric MovieBook exports: its name, kind and what it answers.
#[derive(Debug, Clone, Copy)]
pub struct MetricHelp {
    pub name: &'static str,
    pub kind: MetricKind,
    pub help: &'static str,
}

/// Every metric MovieBook exports, wherever in the workspace it is recorded. A test checks
/// that every name recorded in the sources is here, and that docs/api.md lists each.
pub const METRICS_EXPORTED: &[MetricHelp] = &[
    MetricHelp {
        name: "moviebook_http_requests_total",
        kind: MetricKind::Counter,
        help: "HTTP requests answered, by method, route pattern and status.",
    },
    MetricHelp {
        name: "moviebook_http_request_duration_seconds",
        kind: MetricKind::Histogram,
        help: "Time to answer an HTTP request, by method and route pattern.",
    },
    MetricHelp {
        name: "moviebook_store_requests_total",
        kind: MetricKind::Counter,
        help: "Store requests, by operation and by the part of the process that made them (caller).",
    },
    MetricHelp {
        name: "moviebook_store_request_seconds",
        kind: MetricKind::Histogram,
        help: "How long store requests took, whatever their outcome, by operation and caller.",
    },
    MetricHelp {
        name: "moviebook_store_item_writes_total",
        kind: MetricKind::Counter,
        help: "Items put, updated or deleted by store transactions, by caller.",
    },
    MetricHelp {
        name: "moviebook_store_condition_checks_total",
        kind: MetricKind::Counter,
        help: "Condition checks of store transactions (they write nothing), by caller.",
    },
    MetricHelp {
        name: "moviebook_outbox_backlog",
        kind: MetricKind::Gauge,
        help: "Events this process committed that its outbox relay has not yet published.",
    },
    MetricHelp {
        name: "moviebook_outbox_published_total",
        kind: MetricKind::Counter,
        help: "Events the outbox relay handed to the bus and then deleted from the outbox.",
    },
    MetricHelp {
        name: "moviebook_events_handled_total",
        kind: MetricKind::Counter,
        help: "Events a consumer applied (or found applied before), by consumer.",
    },
    MetricHelp {
        name: "moviebook_events_retried_total",
        kind: MetricKind::Counter,
        help: "Deliveries a consumer asked to have tried again later, by consumer.",
    },
    MetricHelp {
        name: "moviebook_events_failed_total",
        kind: MetricKind::Counter,
        help: "Events given up on and set aside as dead letters (rejected, out of attempts or not an event), by consumer.",
    },
    MetricHelp {
        name: "moviebook_event_lag_seconds",
        kind: MetricKind::Histogram,
        help: "Seconds from an event's creation to the moment a consumer's writes for it were committed, by consumer.",
    },
    MetricHelp {
        name: "moviebook_dead_letters",
        kind: MetricKind::Gauge,
        help: "Events waiting in a consumer's dead letters, as this process last counted them, by consumer.",
    },
    MetricHelp {
        name: "moviebook_bus_connected",
        kind: MetricKind::Gauge,
        help: "1 while the process is connected to RabbitMQ, 0 while it reconnects.",
    },
    MetricHelp {
        name: "moviebook_bus_reconnects_total",
        kind: MetricKind::Counter,
        help: "Times the process connected to RabbitMQ again after losing it.",
    },
    MetricHelp {
        name: "moviebook_bus_watch_restarts_total",
        kind: MetricKind::Counter,
        help: "Times a watch of published events (the cache, the search indexes) was started again.",
    },
    MetricHelp {
        name: "moviebook_read_cache_total",
        kind: MetricKind::Counter,
        help: "Cached public reads, by outcome: hit, miss, shared (a miss that took another request's answer) or refresh.",
    },
    MetricHelp {
        name: "moviebook_ready",
        kind: MetricKind::Gauge,
        help: "The last /readyz answer of this process: 1 ready, 0 not (set by each probe).",
    },
];

/// Gives every exported metric its `# HELP` line (Prometheus shows it beside the series).
fn describe_metrics() {
    for metric in METRICS_EXPORTED {
        match metric.kind {
            MetricKind::Counter => metrics::describe_counter!(metric.name, metric.help),
            MetricKind::Gauge => metrics::describe_gauge!(metric.name, metric.help),
            MetricKind::Histogram => metrics::describe_histogram!(metric.name, metric.help),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    use super::*;

    fn repository() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    fn rust_sources(dir: &Path, found: &mut Vec<PathBuf>) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                rust_sources(&path, found);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                found.push(path);
            }
        }
    }

    /// The metrics recorded in the workspace's sources (`counter!("moviebook_…"` and the
    /// like, tests left out), with their kind.
    fn recorded_in_sources() -> BTreeMap<String, MetricKind> {
        let mut files = Vec::new();
        for krate in std::fs::read_dir(repository().join("crates")).expect("the crates folder") {
            let src = krate.expect("a crate").path().join("src");
            if src.is_dir() {
                rust_sources(&src, &mut files);
            }
        }
        let mut recorded = BTreeMap::new();
        for file in files {
            let text = std::fs::read_to_string(&file).expect("a source file");
            for (macro_name, kind) in [
                ("counter!(", MetricKind::Counter),
                ("gauge!(", MetricKind::Gauge),
                ("histogram!(", MetricKind::Histogram),
            ] {
                for (at, _) in text.match_indices(macro_name) {
                    if text[..at].ends_with("describe_") {
                        continue;
                    }
                    let rest = text[at + macro_name.len()..].trim_start();
                    let Some(name) = rest.strip_prefix("\"moviebook_") else {
                        continue;
                    };
                    let Some((name, _)) = name.split_once('"') else {
                        continue;
                    };
                    // A name, not prose that happens to follow the macro (as in a comment).
                    if name.is_empty()
                        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    {
                        continue;
                    }
                    recorded.insert(format!("moviebook_{name}"), kind);
                }
            }
        }
        recorded
    }

    #[test]
    fn every_metric_recorded_in_the_sources_is_described_with_its_kind_and_none_other() {
        let recorded = recorded_in_sources();
        assert!(
            recorded.len() >= 15,
            "the scan found too few metrics: {recorded:?}"
        );
        let described: BTreeMap<String, MetricKind> = METRICS_EXPORTED
            .iter()
            .map(|metric| (metric.name.to_owned(), metric.kind))
            .collect();
        assert_eq!(described.len(), METRICS_EXPORTED.len(), "a name twice");
        for (name, kind) in &recorded {
            assert_eq!(
                described.get(name),
                Some(kind),
                "{name} is recorded as a {kind:?} but METRICS_EXPORTED describes it as {:?}",
                described.get(name)
            );
        }
        for name in described.keys() {
            assert!(
                recorded.contains_key(name),
                "METRICS_EXPORTED describes {name}, which nothing records"
            );
        }
    }

    #[test]
    fn the_request_id_is_added_to_a_text_line_and_a_json_object() {
        assert_eq!(
            with_request_id(
                "2026-12-02T01:00:00Z  WARN x: failed status=503\n",
                "r-1",
                false
            ),
            "2026-12-02T01:00:00Z  WARN x: failed status=503 request_id=r-1\n"
        );
        let json = with_request_id(
            "{\"timestamp\":\"t\",\"level\":\"WARN\",\"fields\":{\"message\":\"failed\"}}\n",
            "a.b_c~d:e/f+g=h-1",
            true,
        );
        let parsed: serde_json::Value = serde_json::from_str(&json).expect("still JSON");
        assert_eq!(parsed["request_id"], "a.b_c~d:e/f+g=h-1");
        assert_eq!(parsed["fields"]["message"], "failed");
        assert!(json.ends_with('\n'));
    }

    #[test]
    fn every_help_text_is_one_sentence_on_one_line() {
        for metric in METRICS_EXPORTED {
            assert!(
                metric.help.ends_with('.') && !metric.help.contains('\n'),
                "{}: {:?}",
                metric.name,
                metric.help
            );
        }
    }

    #[test]
    fn docs_api_md_names_every_metric() {
        let path = repository().join("docs/api.md");
        let docs = std::fs::read_to_string(&path).expect("docs/api.md");
        for metric in METRICS_EXPORTED {
            assert!(
                docs.contains(&format!("`{}", metric.name)),
                "docs/api.md does not name {}",
                metric.name
            );
        }
    }
}
