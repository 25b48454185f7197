// MARK: - client-go's request metrics, as kube-proxy's /metrics carries them
//
// kube-proxy's client-go reports every request to the API server through component-base's
// restclient adapter (k8s.io/component-base/metrics/prometheus/restclient): a counter per
// attempt's status code and a latency histogram per finished request. Dashboards of kube-proxy
// (request rate and errors to the API server) read these two; kube-ipvs's API client reports the
// same facts (`APIRequestEvent`) and they are kept here under the same names, labels and buckets.
import KubeClient
import Prometheus

/// rest_client_requests_total and rest_client_request_duration_seconds; thread-safe.
public final class RestClientMetrics: Sendable {
    private let registry: PrometheusCollectorRegistry

    /// Metric names, as exposed.
    public enum Name {
        public static let requests = "rest_client_requests_total"
        public static let duration = "rest_client_request_duration_seconds"
    }

    /// Help texts as component-base exposes them (ALPHA metrics).
    public enum Help {
        public static let requests = "[ALPHA] Number of HTTP requests, partitioned by status code, method, and host."
        public static let duration = "[ALPHA] Request latency in seconds. Broken down by verb, and host."
    }

    /// client-go's latency buckets: 5 ms to 60 s.
    public static let durationBuckets: [Double] = [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60]

    /// The `code` of a request that failed before any response, as client-go writes it.
    public static let errorCode = "<error>"

    init(registry: PrometheusCollectorRegistry) { self.registry = registry }

    /// Records one event of the API client (pass as `APIClient.Options.onRequest`). Series appear
    /// with their first event, as upstream's.
    public func observe(_ e: APIRequestEvent) {
        switch e.kind {
        case .result(let code):
            let c = code.map(String.init) ?? Self.errorCode
            // Labels in name order, as Go writes them.
            registry.makeCounter(descriptor: ProxyMetrics.d(Name.requests, Help.requests),
                                 labels: [("code", c), ("host", e.host), ("method", e.verb)]).increment()
        case .latency(let seconds):
            registry.makeValueHistogram(descriptor: ProxyMetrics.d(Name.duration, Help.duration),
                                        labels: [("host", e.host), ("verb", e.verb)], buckets: Self.durationBuckets)
                .record(max(0, seconds))
        }
    }
}
