package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// secretKeys are never flags, since a flag's value shows in ps and in
// shell history, and their values are never echoed in an error.
var secretKeys = map[string]bool{
	"kafka.sasl.password":          true,
	"alerting.basic_auth.password": true,
	"alerting.bearer_token":        true,
}

// fileOnlyKeys hold lists of objects, which neither a flag nor an
// environment variable spells: set them in the file.
var fileOnlyKeys = map[string]bool{
	"drift.overrides": true,
	"gate.candidates": true,
	"outcomes":        true,
}

// help says what each key is for: the text of its flag.
var help = map[string]string{
	"kafka.brokers":                  "Kafka brokers to consume from, host:port (one of this and --kafka.embedded is needed)",
	"kafka.embedded":                 "start the in-process Kafka-protocol broker on localhost instead of --kafka.brokers (a first run without Kafka)",
	"kafka.topics":                   "topics of events",
	"kafka.group_id":                 "consumer group",
	"kafka.start_offset":             "where a new consumer group starts: earliest (nothing lost) or latest",
	"kafka.tls.enabled":              "TLS to the brokers",
	"kafka.tls.ca_file":              "CA certificates (PEM) to verify the brokers by; empty: the system roots",
	"kafka.tls.cert_file":            "client certificate (PEM) for mutual TLS, with --kafka.tls.key_file",
	"kafka.tls.key_file":             "client key (PEM) for mutual TLS",
	"kafka.tls.insecure_skip_verify": "do not verify the brokers' certificates (testing only)",
	"kafka.sasl.mechanism":           "SASL mechanism: plain, scram-sha-256 or scram-sha-512; empty: none",
	"kafka.sasl.username":            "SASL user",
	"kafka.sasl.password":            "SASL password",
	"kafka.dlq_topic":                "topic that receives undecodable messages with their reason; empty: none",
	"kafka.alert_topic":              "topic that receives alert state changes as JSON; empty: none",
	"kafka.fetch_max_bytes":          "bytes of one fetch; must hold the largest message decode accepts",
	"kafka.session_timeout":          "how long a dead process's partitions wait before moving to another",

	"decode.time_path":          `path of the event time ("-": the Kafka timestamp only)`,
	"decode.time_unit":          "unit of a numeric event time: auto (told by magnitude), s, ms, us or ns",
	"decode.model_path":         "path of the model name",
	"decode.version_path":       "path of the model version",
	"decode.features_path":      `path of the features object or {name, value} list ("$": the event itself, less the other fields)`,
	"decode.raw_path":           `path of the features before normalization ("-": none)`,
	"decode.embeddings_path":    `path of the embeddings object or {name, value} list ("-": none)`,
	"decode.retrieval_path":     `path of the retrieval object: query embedding name, retrieved docs' vectors and/or scores ("-": none)`,
	"decode.outcomes_path":      `path of the outcomes object: named numbers (a pass as 0/1 or true/false, a score) per request ("-": none)`,
	"decode.request_id_path":    `path of the request id that joins a candidate's event with the live version's of the same request ("-": none)`,
	"decode.request_id_header":  `message header read for the request id when the payload has none ("-": none)`,
	"decode.model_header":       "message header read for the model when the payload has none",
	"decode.version_header":     "message header read for the model version when the payload has none",
	"decode.list_name_key":      "key of a list entry's name, in features given as a list",
	"decode.list_value_key":     "key of a list entry's value, in features given as a list",
	"decode.max_message_bytes":  "largest message decoded; a larger one is dead-lettered",
	"decode.max_features":       "most features (and raw values) in one event",
	"decode.max_embeddings":     "most embeddings in one event",
	"decode.max_dim":            "largest embedding dimension",
	"decode.max_depth":          "deepest JSON nesting of an event",
	"decode.max_name_bytes":     "longest model, version, feature or embedding name, in bytes",
	"decode.max_names":          "distinct names remembered to spare allocations",
	"decode.max_retrieved_docs": "most documents (or scores) in one event's retrieval; more is dead-lettered as too_many_docs",
	"decode.max_outcomes":       "most outcomes in one event; more is dead-lettered as too_many_outcomes",

	"window.size":             "event-time window",
	"window.allowed_lateness": "how long a window stays open past its end for late events",
	"window.max_future_skew":  "how far an event's time may run ahead of its Kafka timestamp before the Kafka timestamp is used (0: no check)",
	"window.horizon_windows":  "closed windows merged into the comparison horizon",
	"window.min_samples":      "fewer current values than this is insufficient_data, never an alert",

	"drift.overrides": "per feature or embedding, by model, version and name (globs): thresholds, or mute: true",

	"gate.candidates":       "candidate versions, {model, model_version, live_version}: each compared with the live version on the same windows, answered by monitor gate",
	"gate.min_windows":      "windows of a candidate compared with live before the gate answers clear or warning (pending before; a critical finding blocks at once)",
	"gate.join_buffer":      "events of one model per partition waiting for the other version's event of their request id (candidate and live joined by request id)",
	"gate.join_wait":        "how long, in event time, an event waits in the join for the other version's event of its request id",
	"gate.route_header":     `message header whose value (one of gate.candidate_routes) marks an event's version a candidate ("-": none)`,
	"gate.candidate_routes": "values of gate.route_header that mark a candidate (a shadow route)",

	"limits.max_models":             "most models tracked",
	"limits.max_versions_per_model": "most versions tracked per model",
	"limits.max_features":           "most features tracked per model version",
	"limits.max_embeddings":         "most embeddings tracked per model version",
	"limits.max_series":             "most features and embeddings tracked over all versions (about 30 Prometheus series each)",
	"limits.max_frozen_queries":     "most distinct frozen query ids a version's window keeps recall aggregates of; runs of more are counted in frozen_runs_total",
	"limits.version_stale_after":    "no events for this long makes a version stale: its alerts resolve (0: three windows)",
	"limits.version_idle_timeout":   "no events for this long retires a version: its series and state go",

	"baselines.dir":      "directory of training baselines; must exist",
	"baselines.fallback": "for a version without a baseline: previous_version or report_only",

	"checkpoint.store":            "where checkpoints live: file (checkpoint.dir, one process) or kafka (checkpoint.topic, N processes on any machines)",
	"checkpoint.dir":              "directory of checkpoints (checkpoint.store file)",
	"checkpoint.topic":            "compacted topic of checkpoints (checkpoint.store kafka), created at start if missing",
	"checkpoint.topic_partitions": "partitions checkpoint.topic is created with; as many as the consumed topics have together makes a restore read its own partition's records alone",
	"checkpoint.interval":         "time between checkpoints; also how much is re-read after a crash",

	"evaluation.mode":                "local (each process judges its own partitions) or cluster (N processes of one group: each window judged once, cluster-wide, by the evaluation stage)",
	"evaluation.partials_topic":      "compacted topic of the closed windows' partial sketches (cluster), created at start if missing",
	"evaluation.partials_partitions": "partitions of the partials topic when created: the most processes the stage spreads over",
	"evaluation.partials_retention":  "retention of the partials topic when created",
	"evaluation.group_id":            "consumer group of the evaluation stage (empty: kafka.group_id + .evaluation)",
	"evaluation.max_wait":            "how long a window waits for a source partition that has not closed it before it is judged without it",

	"http.listen":                  "address of /metrics, /healthz, /readyz, the API and the status page",
	"http.probe_listen":            "second address serving only /healthz and /readyz, plain HTTP without auth, for probes; empty: none",
	"http.web_config_file":         "Prometheus exporter-toolkit web config: TLS, mTLS, basic auth",
	"http.read_header_timeout":     "time to read a request's header",
	"http.read_timeout":            "time to read a whole request",
	"http.write_timeout":           "time from a request's header to the end of its answer; a client that stops reading holds its connection no longer",
	"http.idle_timeout":            "a keep-alive connection idle longer is closed (after a 401 too); keep it above the scrape interval",
	"http.max_connections":         "open connections; at the cap the one idle, silent or stalled longest is closed for a newcomer",
	"http.max_concurrent_requests": "requests of /metrics, / and /api/v1/* served at once; beyond, a request waits up to 1s, then gets 503",
	"http.pprof":                   "serve Go's CPU, heap and goroutine profiles at /debug/pprof/ (behind the web config)",

	"alerting.alertmanager_urls":        "Alertmanager base URLs (http://am:9093)",
	"alerting.resend_interval":          "how often firing alerts are re-sent to Alertmanager",
	"alerting.for_evaluations":          "consecutive breaching evaluations before an alert fires",
	"alerting.resolve_after":            "consecutive clean evaluations before it resolves",
	"alerting.runbook_url":              "runbook link template ({alertname} {model} {model_version} {subject} {diagnosis})",
	"alerting.dashboard_url":            "dashboard link template (same placeholders)",
	"alerting.timeout":                  "timeout of one request to Alertmanager",
	"alerting.path_prefix":              "path before /api/v2/alerts (Alertmanager's --web.route-prefix)",
	"alerting.tls.ca_file":              "CA certificates (PEM) to verify Alertmanager by",
	"alerting.tls.cert_file":            "client certificate (PEM) for Alertmanager",
	"alerting.tls.key_file":             "client key (PEM) for Alertmanager",
	"alerting.tls.insecure_skip_verify": "do not verify Alertmanager's certificate (testing only)",
	"alerting.basic_auth.username":      "basic auth user for Alertmanager",
	"alerting.basic_auth.password":      "basic auth password for Alertmanager",
	"alerting.bearer_token":             "bearer token for Alertmanager",
	"alerting.external_url":             "normwatch as people reach it: the link back from alerts",
	"alerting.queue_capacity":           "alerts queued per Alertmanager before the oldest are dropped",
	"alerting.watchdog":                 "keep the NormwatchWatchdog alert firing, for a dead man's switch",
	"log.level":                         "debug, info, warn or error",
	"log.format":                        "logfmt, json or text",
	"runtime.gc_percent":                "least growth of the heap between garbage collections, in percent of the live heap (GOGC; the GOGC variable wins)",
	"runtime.gc_headroom_bytes":         "least growth of the heap between garbage collections, in bytes: less CPU for a small heap, at most this much more memory (0: gc_percent alone)",

	"metrics.quantiles":       "quantile series per feature and embedding: all, none, or levels of 0.01 0.05 0.25 0.5 0.75 0.95 0.99",
	"status.history_windows":  "evaluations per version kept for the status page's history strips and charts",
	"status.refresh_interval": "how often an open status page refreshes itself, keeping its scroll position (0: never)",
	"activations":             "embedding fields that are activations (globs): per-vector mean, std and RMS profiled, their normalization layer judged",
	"outcomes":                "outcomes tracked per version (name, kind rate or mean, max_delta_points, better, alpha, min_samples, falls_with), compared with the previous and live versions'",
	"shutdown_timeout":        "a stop on SIGINT or SIGTERM ends within this, whatever Kafka or Alertmanager do; exit 3 if something could not be written",
}

// Key is one configuration key.
type Key struct {
	Name    string // dotted, as in the file: "kafka.group_id"
	Default any    // string, int, bool, time.Duration or []string
	Help    string
	// Secret keys have no flag and are never echoed in errors: set them
	// in the file or as NORMWATCH_* environment variables.
	Secret bool
	// FileOnly keys (lists of objects) have no flag and no environment
	// variable: set them in the file.
	FileOnly bool
}

// Env returns the environment variable of the key: NORMWATCH_KAFKA_GROUP_ID.
func (k Key) Env() string {
	return EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(k.Name, ".", "_"))
}

// Keys returns every key, in the order of the Config struct.
func Keys() []Key {
	var out []Key
	leaves(reflect.ValueOf(Default()), "", func(name string, def any) {
		out = append(out, Key{Name: name, Default: def, Help: help[name], Secret: secretKeys[name], FileOnly: fileOnlyKeys[name]})
	})
	return out
}

// AddFlags declares a flag for every key but the secrets and the
// file-only keys, named as the key (--kafka.group_id) with the key's
// default, for Load to bind.
func AddFlags(fs *pflag.FlagSet) {
	AddFlagsUnder(fs, "")
}

// AddFlagsUnder declares, as AddFlags does, the flags of the keys whose
// names start with prefix ("decode."): a command that takes one section
// of the daemon's settings.
func AddFlagsUnder(fs *pflag.FlagSet, prefix string) {
	for _, k := range Keys() {
		if k.Secret || k.FileOnly || !strings.HasPrefix(k.Name, prefix) {
			continue
		}
		switch def := k.Default.(type) {
		case string:
			fs.String(k.Name, def, k.Help)
		case int:
			fs.Int(k.Name, def, k.Help)
		case bool:
			fs.Bool(k.Name, def, k.Help)
		case time.Duration:
			fs.Duration(k.Name, def, k.Help)
		case []string:
			fs.StringSlice(k.Name, slices.Clone(def), k.Help)
		default:
			panic(fmt.Sprintf("config: key %s has a default of type %T, which has no flag", k.Name, def))
		}
	}
}

// FileOrEnvOnly describes the keys that have no flag, for a command's help.
func FileOrEnvOnly() string {
	var b strings.Builder
	b.WriteString("Keys without a flag (a flag's value shows in ps and shell history): set them in\nthe file or the environment:\n")
	for _, k := range Keys() {
		if k.Secret {
			fmt.Fprintf(&b, "  %-30s %s\n", k.Name, k.Env())
		}
	}
	b.WriteString("Keys in the file only (lists of objects):\n")
	for _, k := range Keys() {
		if k.FileOnly {
			fmt.Fprintf(&b, "  %-30s %s\n", k.Name, k.Help)
		}
	}
	return b.String()
}

// EnvTypos returns a warning for each NORMWATCH_* variable of environ
// (as os.Environ gives it) that is no key's but nearly one's: a typo that
// would otherwise be ignored in silence. Variables far from every key
// (other tools') are left alone.
func EnvTypos(environ []string) []string {
	envs := map[string]bool{}
	for _, k := range Keys() {
		envs[k.Env()] = true
	}
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix+"_") || envs[name] {
			continue
		}
		best, bestD := "", 3
		for e := range envs {
			if d := EditDistance(name, e); d < bestD || (d == bestD && e < best) {
				best, bestD = e, d
			}
		}
		if best != "" {
			out = append(out, fmt.Sprintf("%s is not a configuration variable and is ignored; did you mean %s?", name, best))
		}
	}
	slices.Sort(out)
	return out
}
