// Package config owns the daemon's configuration: one Config struct, its
// defaults, loading from a YAML file, NORMWATCH_* environment variables and
// command-line flags (through github.com/spf13/viper, which no other package
// imports), and validation whose messages name the key and the bad value.
//
// Other packages take their own Options structs; cmd/monitor fills them from
// a Config. So the decode section repeats the stream decoder's options as
// plain fields rather than importing pkg/stream.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// EnvPrefix starts every environment variable the configuration reads:
// NORMWATCH_ then the key in upper case with dots as underscores, as in
// NORMWATCH_KAFKA_BROKERS=a:9092,b:9092. Lists are comma-separated.
const EnvPrefix = "NORMWATCH"

// Config is the whole configuration of the daemon.
type Config struct {
	Kafka      Kafka      `mapstructure:"kafka"`
	Decode     Decode     `mapstructure:"decode"`
	Window     Window     `mapstructure:"window"`
	Drift      Drift      `mapstructure:"drift"`
	Limits     Limits     `mapstructure:"limits"`
	Baselines  Baselines  `mapstructure:"baselines"`
	Checkpoint Checkpoint `mapstructure:"checkpoint"`
	Evaluation Evaluation `mapstructure:"evaluation"`
	HTTP       HTTP       `mapstructure:"http"`
	Alerting   Alerting   `mapstructure:"alerting"`
	Log        Log        `mapstructure:"log"`
	Metrics    Metrics    `mapstructure:"metrics"`
	Status     Status     `mapstructure:"status"`
	Runtime    Runtime    `mapstructure:"runtime"`
	Gate       Gate       `mapstructure:"gate"`
	// ShutdownTimeout bounds a stop on SIGINT or SIGTERM, whatever Kafka,
	// Alertmanager or the disk do: the message in hand is finished, dead
	// letters written, state checkpointed, offsets committed and alerts
	// flushed within it, or the process exits with what it could not do
	// logged and a status saying so. Keep it below the orchestrator's
	// grace period (terminationGracePeriodSeconds in Kubernetes).
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`
	// Activations names the embedding fields that are activations of a
	// layer (path.Match globs): their per-vector mean, std and RMS are
	// profiled and the normalization layer they fit is judged against the
	// baseline's (activation_norm_change).
	Activations []string `mapstructure:"activations"`
	// Outcomes are the events' outcomes tracked per model version as rates
	// and means, compared with the previous and live versions' (outcomes.go).
	Outcomes []Outcome `mapstructure:"outcomes"`
}

// Kafka is where events come from and where dead letters and alerts go.
type Kafka struct {
	// Brokers are host:port seed addresses. The daemon needs them, or
	// Embedded.
	Brokers []string `mapstructure:"brokers"`
	// Embedded starts the in-process broker on localhost instead, for a
	// first run without Kafka. It is never implied by empty Brokers: a
	// production monitor whose broker list went missing must fail, not
	// watch an empty broker of its own and say it is ready.
	Embedded bool     `mapstructure:"embedded"`
	Topics   []string `mapstructure:"topics"`
	GroupID  string   `mapstructure:"group_id"`
	// StartOffset is where a new consumer group starts: "earliest" by
	// default, so events produced before the first start are counted too
	// (nothing lost); "latest" skips the retained history.
	StartOffset string `mapstructure:"start_offset"`
	TLS         TLS    `mapstructure:"tls"`
	SASL        SASL   `mapstructure:"sasl"`
	// DLQTopic receives undecodable messages with their reason; empty
	// disables it (they are still counted and logged).
	DLQTopic string `mapstructure:"dlq_topic"`
	// AlertTopic receives alerts as JSON; empty disables that sink.
	AlertTopic string `mapstructure:"alert_topic"`
	// FetchMaxBytes bounds one fetch response. It must hold the largest
	// message the decoder accepts, or such a message would stall its
	// partition.
	FetchMaxBytes int `mapstructure:"fetch_max_bytes"`
	// SessionTimeout is how long the group coordinator waits without a
	// heartbeat before it gives a dead member's partitions to the others
	// (and to a restarted process, which joins as a new member). The
	// broker bounds it with group.min/max.session.timeout.ms (6s to 30m by
	// default).
	SessionTimeout time.Duration `mapstructure:"session_timeout"`
}

// TLS configures encryption to the brokers.
type TLS struct {
	Enabled            bool   `mapstructure:"enabled"`
	CAFile             string `mapstructure:"ca_file"`
	CertFile           string `mapstructure:"cert_file"`
	KeyFile            string `mapstructure:"key_file"`
	InsecureSkipVerify bool   `mapstructure:"insecure_skip_verify"`
}

// SASL configures authentication to the brokers.
type SASL struct {
	Mechanism string `mapstructure:"mechanism"` // "", "plain", "scram-sha-256" or "scram-sha-512"
	Username  string `mapstructure:"username"`
	Password  string `mapstructure:"password"` // better given as NORMWATCH_KAFKA_SASL_PASSWORD
}

// Decode is the event mapping and the per-message limits: the options of the
// stream decoder, with the same defaults. A path is dot-separated keys into
// the event object, with `\.` for a dot inside a key and `\\` for a
// backslash; "-" disables the field; features_path "$" reads the features
// from the event object itself, every key but the other fields'.
type Decode struct {
	TimePath string `mapstructure:"time_path"`
	// TimeUnit of a numeric (epoch) time: "auto" tells seconds,
	// milliseconds, microseconds and nanoseconds apart by magnitude; "s",
	// "ms", "us" or "ns" force one.
	TimeUnit       string `mapstructure:"time_unit"`
	ModelPath      string `mapstructure:"model_path"`
	VersionPath    string `mapstructure:"version_path"`
	FeaturesPath   string `mapstructure:"features_path"`
	RawPath        string `mapstructure:"raw_path"`
	EmbeddingsPath string `mapstructure:"embeddings_path"`
	// RetrievalPath is the path of the retrieval object: the query
	// embedding's name, the retrieved documents' vectors and/or scores.
	RetrievalPath string `mapstructure:"retrieval_path"`
	// OutcomesPath is the path of the outcomes object: named numbers.
	OutcomesPath string `mapstructure:"outcomes_path"`
	// RequestIDPath is the path of the request id that joins a
	// candidate's event with the live version's (gate); RequestIDHeader
	// the header read for it when the payload has none ("-": none).
	RequestIDPath   string `mapstructure:"request_id_path"`
	RequestIDHeader string `mapstructure:"request_id_header"`
	ModelHeader     string `mapstructure:"model_header"`
	VersionHeader   string `mapstructure:"version_header"`
	// ListNameKey and ListValueKey name the keys of the entries of a
	// features, raw or embeddings field given as a list of objects
	// ([{"name": "age", "value": 0.41}]) instead of an object.
	ListNameKey  string `mapstructure:"list_name_key"`
	ListValueKey string `mapstructure:"list_value_key"`

	MaxMessageBytes int `mapstructure:"max_message_bytes"`
	MaxFeatures     int `mapstructure:"max_features"`   // per event
	MaxEmbeddings   int `mapstructure:"max_embeddings"` // per event
	MaxDim          int `mapstructure:"max_dim"`
	MaxDepth        int `mapstructure:"max_depth"`
	MaxNameBytes    int `mapstructure:"max_name_bytes"`
	MaxNames        int `mapstructure:"max_names"` // names remembered to spare allocations
	// MaxRetrievedDocs bounds the documents and scores of one retrieval;
	// more is a dead-lettered message (too_many_docs).
	MaxRetrievedDocs int `mapstructure:"max_retrieved_docs"`
	// MaxOutcomes bounds the entries of one event's outcomes object; more
	// is a dead-lettered message (too_many_outcomes).
	MaxOutcomes int `mapstructure:"max_outcomes"`
}

// Window is the event-time windowing and the comparison horizon.
type Window struct {
	Size time.Duration `mapstructure:"size"`
	// AllowedLateness keeps a window open past its end for events that
	// arrive late, typically from a lagging partition.
	AllowedLateness time.Duration `mapstructure:"allowed_lateness"`
	// MaxFutureSkew is how far an event's own time may run ahead of its
	// Kafka timestamp before the Kafka timestamp is used instead: one
	// event stamped next year must not make every later event late.
	// 0 turns the check off.
	MaxFutureSkew  time.Duration `mapstructure:"max_future_skew"`
	HorizonWindows int           `mapstructure:"horizon_windows"`
	// MinSamples below which a horizon is insufficient_data, never an alert:
	// with fewer values the distances are mostly noise.
	MinSamples int `mapstructure:"min_samples"`
}

// Limits bound the tracked series, and so memory and metric cardinality,
// whatever names the events carry. Overflow is counted, not tracked.
type Limits struct {
	MaxModels           int `mapstructure:"max_models"`
	MaxVersionsPerModel int `mapstructure:"max_versions_per_model"`
	MaxFeatures         int `mapstructure:"max_features"`   // per model version
	MaxEmbeddings       int `mapstructure:"max_embeddings"` // per model version
	// MaxSeries bounds the features and embeddings tracked over all
	// versions, what /metrics and memory grow with.
	MaxSeries int `mapstructure:"max_series"`
	// MaxFrozenQueries bounds the distinct frozen query ids a version's
	// window keeps aggregates of; runs of more are counted.
	MaxFrozenQueries int `mapstructure:"max_frozen_queries"`
	// VersionStaleAfter without events makes a version stale: its alerts
	// resolve and its drift figures leave /metrics. 0: three windows.
	VersionStaleAfter time.Duration `mapstructure:"version_stale_after"`
	// VersionIdleTimeout without events retires a version.
	VersionIdleTimeout time.Duration `mapstructure:"version_idle_timeout"`
}

// Baselines is where training baselines live and what to do without one.
type Baselines struct {
	Dir string `mapstructure:"dir"`
	// Fallback for a model version with no baseline of its own:
	// "previous_version" compares it with the previous version's production
	// cohort, "report_only" only reports its statistics.
	Fallback string `mapstructure:"fallback"`
}

// Checkpoint is where and how often state and offsets are saved.
type Checkpoint struct {
	// Store is where checkpoints live: "file", in Dir, for one process
	// (or a shared disk); "kafka", in the compacted Topic, for several
	// processes of one group wherever they run.
	Store string `mapstructure:"store"`
	Dir   string `mapstructure:"dir"`
	// Topic is the compacted checkpoint topic of the kafka store, created
	// at start when missing, checked when present.
	Topic string `mapstructure:"topic"`
	// TopicPartitions is the partition count Topic is created with. A
	// restore reads one of them: with at least as many as the consumed
	// topics have together, it reads its own partition's checkpoint alone.
	TopicPartitions int `mapstructure:"topic_partitions"`
	// Interval between checkpoints. Offsets are committed only after one,
	// so it is also how much is re-read after a crash.
	Interval time.Duration `mapstructure:"interval"`
}

// Evaluation is where model versions are judged: in each process on its
// own partitions' share ("local", for one process), or once per window
// cluster-wide ("cluster", for N processes of one group): each process
// then publishes its closed windows to PartialsTopic, and the evaluation
// stage (a consumer group of its own on that topic, in every process)
// merges every partition's share and judges it in one process.
type Evaluation struct {
	Mode string `mapstructure:"mode"`
	// PartialsTopic is created at start when missing (compacted, with
	// PartialsPartitions partitions and PartialsRetention), checked when
	// present.
	PartialsTopic      string        `mapstructure:"partials_topic"`
	PartialsPartitions int           `mapstructure:"partials_partitions"`
	PartialsRetention  time.Duration `mapstructure:"partials_retention"`
	// GroupID is the stage's consumer group; empty: kafka.group_id with
	// ".evaluation".
	GroupID string `mapstructure:"group_id"`
	// MaxWait bounds how long a window waits for a source partition that
	// has not closed it (its process gone or lagging) before it is judged
	// without it.
	MaxWait time.Duration `mapstructure:"max_wait"`
}

// StageGroupID is the evaluation stage's consumer group.
func (c Config) StageGroupID() string {
	if c.Evaluation.GroupID != "" {
		return c.Evaluation.GroupID
	}
	return c.Kafka.GroupID + ".evaluation"
}

// HTTP is the server of /metrics, /healthz, /readyz, the status page and
// the API, with the limits that keep what clients can hold of it bounded.
type HTTP struct {
	Listen string `mapstructure:"listen"`
	// ProbeListen, when set, serves /healthz and /readyz alone on a second
	// address, in plain HTTP without authentication, for probes (such as
	// Kubernetes') that send no credentials while web_config_file asks
	// for them on Listen.
	ProbeListen string `mapstructure:"probe_listen"`
	// WebConfigFile is a Prometheus exporter-toolkit web config (TLS, basic
	// auth); empty serves plain HTTP.
	WebConfigFile string `mapstructure:"web_config_file"`
	// Pprof serves Go's profiles at /debug/pprof/ (off by default).
	Pprof bool `mapstructure:"pprof"`
	// ReadHeaderTimeout bounds reading a request's header, ReadTimeout the
	// whole request.
	ReadHeaderTimeout time.Duration `mapstructure:"read_header_timeout"`
	ReadTimeout       time.Duration `mapstructure:"read_timeout"`
	// WriteTimeout bounds the time from the end of a request's header to
	// the end of its answer: a client that stops reading holds its
	// connection no longer.
	WriteTimeout time.Duration `mapstructure:"write_timeout"`
	// IdleTimeout closes a keep-alive connection that waits longer for its
	// next request, whatever the last answer was (a 401 included). Above
	// the scrape interval, Prometheus keeps its connection.
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`
	// MaxConnections caps the open connections. At the cap a newcomer is
	// let in by closing the connection idle longest (or one that sent no
	// request, or whose client stopped reading, for a second); if every
	// one is busy, the newcomer is closed.
	MaxConnections int `mapstructure:"max_connections"`
	// MaxConcurrentRequests caps the requests of /metrics, the status page
	// and the API served at once, and so the memory their answers hold;
	// beyond it a request waits up to a second, then gets a 503. /healthz
	// and /readyz are never held back.
	MaxConcurrentRequests int `mapstructure:"max_concurrent_requests"`
}

// Alerting is the alert lifecycle and the Alertmanager sink.
type Alerting struct {
	// AlertmanagerURLs are base URLs (http://am:9093); every alert goes to
	// each. Empty disables the sink.
	AlertmanagerURLs []string `mapstructure:"alertmanager_urls"`
	// ResendInterval re-sends firing alerts, with an endsAt a few intervals
	// ahead, so Alertmanager resolves them even if normwatch dies.
	ResendInterval time.Duration `mapstructure:"resend_interval"`
	// ForEvaluations is how many consecutive breaching evaluations make a
	// pending alert fire: one noisy window is not a page.
	ForEvaluations int `mapstructure:"for_evaluations"`
	// ResolveAfter is how many consecutive clean evaluations resolve it.
	ResolveAfter int           `mapstructure:"resolve_after"`
	RunbookURL   string        `mapstructure:"runbook_url"`
	DashboardURL string        `mapstructure:"dashboard_url"`
	Timeout      time.Duration `mapstructure:"timeout"` // per request
	// PathPrefix goes before /api/v2/alerts, for an Alertmanager served
	// under a sub-path (its --web.route-prefix).
	PathPrefix string `mapstructure:"path_prefix"`
	// TLS to Alertmanager: https URLs use it.
	TLS ClientTLS `mapstructure:"tls"`
	// BasicAuth or BearerToken authenticate to Alertmanager (or to the
	// proxy in front of it); at most one of them.
	BasicAuth   BasicAuth `mapstructure:"basic_auth"`
	BearerToken string    `mapstructure:"bearer_token"` // better given as NORMWATCH_ALERTING_BEARER_TOKEN
	// ExternalURL is normwatch as people reach it: the generatorURL of
	// its alerts. Empty sends none.
	ExternalURL string `mapstructure:"external_url"`
	// QueueCapacity bounds the alerts queued per Alertmanager and for the
	// alert topic; beyond it the oldest are dropped and counted.
	QueueCapacity int `mapstructure:"queue_capacity"`
	// Watchdog keeps the NormwatchWatchdog alert firing in Alertmanager,
	// for a dead man's switch that pages when normwatch goes quiet.
	Watchdog bool `mapstructure:"watchdog"`
}

// ClientTLS is the client side of TLS: a CA to verify the server by and a
// client certificate for mutual TLS.
type ClientTLS struct {
	CAFile             string `mapstructure:"ca_file"`
	CertFile           string `mapstructure:"cert_file"`
	KeyFile            string `mapstructure:"key_file"`
	InsecureSkipVerify bool   `mapstructure:"insecure_skip_verify"`
}

// BasicAuth is HTTP basic authentication.
type BasicAuth struct {
	Username string `mapstructure:"username"`
	Password string `mapstructure:"password"` // better given as NORMWATCH_ALERTING_BASIC_AUTH_PASSWORD
}

// Runtime paces Go's garbage collector (package gcpace). Every message's
// value is a new buffer that is garbage once decoded, so the collector's
// cost follows how far the heap may grow between collections.
type Runtime struct {
	// GCPercent is the least growth of the heap between collections, in
	// percent of the live heap: GOGC, which the daemon sets (the GOGC
	// environment variable, when set, wins over both keys).
	GCPercent int `mapstructure:"gc_percent"`
	// GCHeadroomBytes is the least growth in bytes: a small live heap may
	// grow by this much before it is collected, a large one is paced by
	// GCPercent alone. 0 leaves GCPercent alone.
	GCHeadroomBytes int `mapstructure:"gc_headroom_bytes"`
}

// Log is the daemon's own logging.
type Log struct {
	Level  string `mapstructure:"level"`  // debug, info, warn or error
	Format string `mapstructure:"format"` // logfmt, json or text
}

// Default returns the configuration used where nothing else is given.
func Default() Config {
	return Config{
		Kafka: Kafka{
			Brokers:     []string{},
			Topics:      []string{"normwatch.events"},
			GroupID:     "normwatch",
			StartOffset: "earliest",
			DLQTopic:    "normwatch.dlq",
			AlertTopic:  "normwatch.alerts",
			// Ten of the largest messages the decoder accepts by default.
			FetchMaxBytes:  10 << 20,
			SessionTimeout: 30 * time.Second,
		},
		Decode: Decode{
			TimePath:        "ts",
			TimeUnit:        "auto",
			ModelPath:       "model",
			VersionPath:     "model_version",
			FeaturesPath:    "features",
			RawPath:         "raw",
			EmbeddingsPath:  "embeddings",
			RetrievalPath:   "retrieval",
			OutcomesPath:    "outcomes",
			RequestIDPath:   "request_id",
			RequestIDHeader: "request_id",
			ModelHeader:     "model",
			VersionHeader:   "model_version",
			ListNameKey:     "name",
			ListValueKey:    "value",
			MaxMessageBytes: 1 << 20,
			MaxFeatures:     1000,
			MaxEmbeddings:   32,
			MaxDim:          4096,
			MaxDepth:        32,
			MaxNameBytes:    256,
			MaxNames:        16384,
			// Far above a retriever's top-k.
			MaxRetrievedDocs: 256,
			MaxOutcomes:      64,
		},
		Window: Window{
			Size:            time.Minute,
			AllowedLateness: 10 * time.Second,
			MaxFutureSkew:   time.Hour,
			HorizonWindows:  5,
			MinSamples:      200,
		},
		Drift: Drift{Overrides: []Override{}},
		Limits: Limits{
			MaxModels:           20,
			MaxVersionsPerModel: 5,
			MaxFeatures:         1000,
			MaxEmbeddings:       20,
			MaxSeries:           2000,
			MaxFrozenQueries:    10000,
			VersionIdleTimeout:  time.Hour,
		},
		Baselines:  Baselines{Dir: "./baselines", Fallback: "previous_version"},
		Checkpoint: Checkpoint{Store: "file", Dir: "./data/checkpoints", Topic: "normwatch-checkpoints", TopicPartitions: 12, Interval: 10 * time.Second},
		Evaluation: Evaluation{
			Mode: "local", PartialsTopic: "normwatch-partials", PartialsPartitions: 12,
			PartialsRetention: 6 * time.Hour, MaxWait: 2 * time.Minute,
		},
		HTTP: HTTP{
			// The exporter range 9100-9999 of Prometheus's default port
			// allocations is fully allocated, and 9308 in it is
			// kafka_exporter's, which often runs beside a Kafka consumer.
			// 10308 is outside the range and clear of the usual neighbours
			// (kubelet 10250, kube-proxy 10256, the control plane's 10257
			// and 10259).
			Listen:                ":10308",
			ReadHeaderTimeout:     10 * time.Second,
			ReadTimeout:           30 * time.Second,
			WriteTimeout:          30 * time.Second,
			IdleTimeout:           90 * time.Second,
			MaxConnections:        256,
			MaxConcurrentRequests: 8,
		},
		Alerting: Alerting{
			AlertmanagerURLs: []string{},
			ResendInterval:   time.Minute,
			ForEvaluations:   2,
			ResolveAfter:     3,
			Timeout:          10 * time.Second,
			QueueCapacity:    10000,
			Watchdog:         true,
		},
		Log:             Log{Level: "info", Format: "logfmt"},
		Metrics:         defaultMetrics(),
		Status:          defaultStatus(),
		Runtime:         Runtime{GCPercent: 100, GCHeadroomBytes: 64 << 20},
		Gate:            defaultGate(),
		ShutdownTimeout: 30 * time.Second,
		Activations:     []string{},
		Outcomes:        []Outcome{},
	}
}

// Load builds the configuration: defaults, then the YAML file at path (none
// when path is empty), then NORMWATCH_* environment variables, then the flags
// of flags that were set on the command line and are named after a key
// ("kafka.brokers", or "kafka.group-id" for kafka.group_id); other flags are
// left alone. A key the configuration does not have is an error, as is any
// value Validate rejects.
func Load(path string, flags *pflag.FlagSet) (Config, error) {
	v := viper.New()
	keys := map[string]bool{}
	def := Default()
	leaves(reflect.ValueOf(def), "", func(key string, val any) {
		keys[key] = true
		v.SetDefault(key, val)
	})

	if path != "" {
		v.SetConfigFile(path)
		v.SetConfigType("yaml")
		if err := v.ReadInConfig(); err != nil {
			return Config{}, fmt.Errorf("reading config file %s: %w", path, err)
		}
	}

	v.SetEnvPrefix(EnvPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	for _, k := range Keys() {
		if _, set := os.LookupEnv(k.Env()); set && k.FileOnly {
			// A list of objects has no spelling in one variable.
			return Config{}, fmt.Errorf("%s: is set, but %s is set in the file only (--config.file); unset it", k.Env(), k.Name)
		}
	}

	if flags != nil {
		var err error
		flags.VisitAll(func(f *pflag.Flag) {
			key := strings.ReplaceAll(f.Name, "-", "_")
			if keys[key] && err == nil {
				err = v.BindPFlag(key, f)
			}
		})
		if err != nil {
			return Config{}, fmt.Errorf("binding flags: %w", err)
		}
	}

	var c Config
	if err := v.UnmarshalExact(&c); err != nil {
		return Config{}, tidyDecodeError(err, v)
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// leaves calls f with the dotted key and value of every field that is not
// itself a section.
func leaves(v reflect.Value, prefix string, f func(string, any)) {
	t := v.Type()
	for i := range t.NumField() {
		key := t.Field(i).Tag.Get("mapstructure")
		if prefix != "" {
			key = prefix + "." + key
		}
		fv := v.Field(i)
		if fv.Kind() == reflect.Struct {
			leaves(fv, key, f)
			continue
		}
		f(key, fv.Interface())
	}
}

var (
	invalidKeysError = regexp.MustCompile(`^'([^']*)' has invalid keys: (.*)$`)
	keyError         = regexp.MustCompile(`^'([^']+)' (.*)$`)
)

// tidyDecodeError rewrites mapstructure's multi-line error one problem per
// line, each as "key: value is not what the key takes", with the value that
// could not be decoded (never a secret's).
func tidyDecodeError(err error, v *viper.Viper) error {
	s := strings.TrimPrefix(err.Error(), "decoding failed due to the following error(s):")
	kinds := keyKinds()
	var errs []error
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if m := invalidKeysError.FindStringSubmatch(line); m != nil {
			for _, k := range strings.Split(m[2], ", ") {
				if m[1] != "" {
					k = m[1] + "." + k
				}
				errs = append(errs, fmt.Errorf("%s: unknown key%s", k, suggest(k, kinds)))
			}
			continue
		}
		if m := keyError.FindStringSubmatch(line); m != nil {
			key := m[1]
			val := fmt.Sprint(valueAt(v, key))
			if secretKeys[key] {
				val = "xxxxx"
			} else {
				val = RedactURL(val)
			}
			if def, ok := kinds[listIndex.ReplaceAllString(key, "[]")]; ok {
				errs = append(errs, fmt.Errorf("%s: %q is not %s", key, val, describe(def)))
				continue
			}
			errs = append(errs, fmt.Errorf("%s: %q: %s", key, val, m[2]))
			continue
		}
		errs = append(errs, errors.New(line))
	}
	if len(errs) == 0 {
		return err
	}
	return errors.Join(errs...)
}

// listIndex is the index of an entry in a key inside a list of objects:
// drift.overrides[2].feature.
var listIndex = regexp.MustCompile(`\[\d+\]`)

// section is the kind of a key that holds other keys.
type section []string

// keyKinds maps every key to its default, and every key inside a list of
// objects, with [] for the index (drift.overrides[].thresholds.ks.warning),
// to the zero value of its type, or to the section of the keys it holds.
func keyKinds() map[string]any {
	kinds := map[string]any{}
	leaves(reflect.ValueOf(Default()), "", func(key string, val any) {
		kinds[key] = val
		if t := reflect.TypeOf(val); t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct {
			entryKinds(t.Elem(), key+"[]", kinds)
		}
	})
	return kinds
}

func entryKinds(t reflect.Type, prefix string, kinds map[string]any) {
	var keys section
	for i := range t.NumField() {
		ft := t.Field(i).Type
		key := prefix + "." + t.Field(i).Tag.Get("mapstructure")
		keys = append(keys, t.Field(i).Tag.Get("mapstructure"))
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct {
			entryKinds(ft, key, kinds)
			continue
		}
		kinds[key] = reflect.Zero(ft).Interface()
	}
	kinds[prefix] = keys
}

// valueAt returns the value of a key as the file, the environment and the
// flags gave it, inside lists of objects too (drift.overrides[0].mute).
func valueAt(v *viper.Viper, key string) any {
	if !strings.Contains(key, "[") {
		return v.Get(key)
	}
	var node any = v.AllSettings()
	for _, seg := range strings.Split(key, ".") {
		name, rest, _ := strings.Cut(seg, "[")
		m, ok := node.(map[string]any)
		if !ok {
			return nil
		}
		node = m[strings.ToLower(name)]
		for _, idx := range strings.Split(rest, "[") {
			if idx == "" {
				continue
			}
			i, err := strconv.Atoi(strings.TrimSuffix(idx, "]"))
			l, ok := node.([]any)
			if err != nil || !ok || i < 0 || i >= len(l) {
				return nil
			}
			node = l[i]
		}
	}
	return node
}

// describe says what a key of def's type takes.
func describe(def any) string {
	switch def.(type) {
	case time.Duration:
		return "a duration (a number with a unit: 500ms, 30s, 5m, 1h30m)"
	case int:
		return "a whole number"
	case bool:
		return "true or false"
	case []string:
		return "a list (in YAML [a, b]; in the environment or a flag a,b)"
	case []Override:
		return "a list of overrides, set in the file only (see deployments/normwatch.example.yml)"
	case []Outcome:
		return "a list of outcomes, set in the file only (see deployments/normwatch.example.yml)"
	case float64:
		return "a number"
	case section:
		return "a section (of " + strings.Join(def.(section), ", ") + ")"
	}
	return "a string"
}

// suggest returns ", did you mean K?" for the known key nearest to k, when
// one is near enough to be a typo, else "". Inside a list of objects
// (drift.overrides[0].featur), the keys of the same entry are the
// candidates.
func suggest(k string, keys map[string]any) string {
	norm := listIndex.ReplaceAllString(k, "[]")
	best, bestD := "", 3
	for key := range keys {
		if strings.Contains(norm, "[") && parentKey(key) != parentKey(norm) {
			continue
		}
		if d := EditDistance(norm, key); d < bestD || (d == bestD && key < best) {
			best, bestD = key, d
		}
	}
	if best == "" {
		return ""
	}
	if strings.Contains(norm, "[") {
		best = parentKey(k) + "." + best[strings.LastIndexByte(best, '.')+1:]
	}
	return "; did you mean " + best + "?"
}

func parentKey(k string) string {
	if i := strings.LastIndexByte(k, '.'); i >= 0 {
		return k[:i]
	}
	return ""
}

// EditDistance is the Levenshtein distance of a and b, in bytes: how
// "did you mean" suggestions pick the nearest key or flag.
func EditDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Validate reports every bad value, each naming its key.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	intIn := func(key string, v, lo, hi int) {
		if v < lo || v > hi {
			bad(key, "%d is out of range [%d, %d]", v, lo, hi)
		}
	}
	durIn := func(key string, v, lo, hi time.Duration) {
		if v < lo || v > hi {
			bad(key, "%s is out of range [%s, %s]", v, lo, hi)
		}
	}
	oneOf := func(key, v string, allowed ...string) {
		for _, a := range allowed {
			if v == a {
				return
			}
		}
		bad(key, "%q is not one of %s", v, quoteAll(allowed))
	}
	nonEmpty := func(key, v string) {
		if v == "" {
			bad(key, "must not be empty")
		}
	}
	httpURL := func(key, v string) {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(key, "%q is not an http or https URL (such as http://host:9093)", RedactURL(v))
		}
	}

	// kafka
	k := c.Kafka
	for i, b := range k.Brokers {
		if !isHostPort(b, false) {
			bad(fmt.Sprintf("kafka.brokers[%d]", i), "%q is not host:port", b)
		}
	}
	if k.Embedded && len(k.Brokers) > 0 {
		bad("kafka.embedded", "is true but kafka.brokers is set too (%s); use one of them", strings.Join(k.Brokers, ","))
	}
	if len(k.Topics) == 0 {
		bad("kafka.topics", "must list at least one topic")
	}
	consumed := map[string]bool{}
	for i, t := range k.Topics {
		key := fmt.Sprintf("kafka.topics[%d]", i)
		switch {
		case !validTopic(t):
			bad(key, "%q is not a valid topic name (1 to 249 of a-z A-Z 0-9 . _ -)", t)
		case consumed[t]:
			bad(key, "%q is listed twice", t)
		}
		consumed[t] = true
	}
	nonEmpty("kafka.group_id", k.GroupID)
	oneOf("kafka.start_offset", k.StartOffset, "earliest", "latest")
	for _, out := range []struct{ key, topic string }{{"kafka.dlq_topic", k.DLQTopic}, {"kafka.alert_topic", k.AlertTopic}} {
		switch {
		case out.topic == "":
		case !validTopic(out.topic):
			bad(out.key, "%q is not a valid topic name", out.topic)
		case consumed[out.topic]:
			// Reading what we write would loop dead letters forever.
			bad(out.key, "%q is also in kafka.topics", out.topic)
		}
	}
	if k.DLQTopic != "" && k.DLQTopic == k.AlertTopic {
		bad("kafka.alert_topic", "%q is also kafka.dlq_topic", k.AlertTopic)
	}
	intIn("kafka.fetch_max_bytes", k.FetchMaxBytes, 1<<10, 1<<30)
	if k.FetchMaxBytes >= 1<<10 && k.FetchMaxBytes < c.Decode.MaxMessageBytes {
		bad("kafka.fetch_max_bytes", "%d is below decode.max_message_bytes (%d)", k.FetchMaxBytes, c.Decode.MaxMessageBytes)
	}
	durIn("kafka.session_timeout", k.SessionTimeout, time.Second, time.Hour)
	if t := k.TLS; !t.Enabled {
		for _, f := range []struct{ key, v string }{{"ca_file", t.CAFile}, {"cert_file", t.CertFile}, {"key_file", t.KeyFile}} {
			if f.v != "" {
				bad("kafka.tls."+f.key, "%q is set but kafka.tls.enabled is false", f.v)
			}
		}
	} else if (t.CertFile == "") != (t.KeyFile == "") {
		bad("kafka.tls", "cert_file and key_file must be given together")
	}
	oneOf("kafka.sasl.mechanism", k.SASL.Mechanism, "", "plain", "scram-sha-256", "scram-sha-512")
	if k.SASL.Mechanism == "" {
		if k.SASL.Username != "" || k.SASL.Password != "" {
			bad("kafka.sasl.mechanism", "is empty but a username or password is set")
		}
	} else {
		nonEmpty("kafka.sasl.username", k.SASL.Username)
		nonEmpty("kafka.sasl.password", k.SASL.Password)
	}

	// decode
	d := c.Decode
	paths := []struct{ key, path string }{
		{"decode.time_path", d.TimePath}, {"decode.model_path", d.ModelPath},
		{"decode.version_path", d.VersionPath}, {"decode.features_path", d.FeaturesPath},
		{"decode.raw_path", d.RawPath}, {"decode.embeddings_path", d.EmbeddingsPath},
		{"decode.outcomes_path", d.OutcomesPath},
		{"decode.request_id_path", d.RequestIDPath},
		{"decode.retrieval_path", d.RetrievalPath},
	}
	segs := make([][]string, len(paths))
	for i, p := range paths {
		if p.path == PathDisabled || (p.path == PathRoot && p.key == "decode.features_path") {
			continue
		}
		if p.path == PathRoot {
			bad(p.key, `"$" (the event itself) is for decode.features_path only; want dot-separated keys, or "-" to disable`)
			continue
		}
		var err error
		if segs[i], err = SplitPath(p.path); err != nil {
			accepted := `dot-separated keys (\. for a dot inside a key), or "-" to disable`
			if p.key == "decode.features_path" {
				accepted += `, or "$" for the event itself`
			}
			bad(p.key, "%q: %v; want %s", p.path, err, accepted)
			segs[i] = nil
			continue
		}
		for j, q := range segs[:i] {
			if q != nil && (isPrefix(q, segs[i]) || isPrefix(segs[i], q)) {
				bad(p.key, "%q overlaps %s %q", p.path, paths[j].key, paths[j].path)
			}
		}
	}
	oneOf("decode.time_unit", d.TimeUnit, "auto", "s", "ms", "us", "ns")
	nonEmpty("decode.list_name_key", d.ListNameKey)
	nonEmpty("decode.list_value_key", d.ListValueKey)
	if d.ListNameKey != "" && d.ListNameKey == d.ListValueKey {
		bad("decode.list_value_key", "%q is also decode.list_name_key; the two keys of a list entry must differ", d.ListValueKey)
	}
	nonEmpty("decode.request_id_header", d.RequestIDHeader)
	nonEmpty("decode.model_header", d.ModelHeader)
	nonEmpty("decode.version_header", d.VersionHeader)
	intIn("decode.max_message_bytes", d.MaxMessageBytes, 64, 64<<20)
	intIn("decode.max_features", d.MaxFeatures, 1, 1_000_000)
	intIn("decode.max_embeddings", d.MaxEmbeddings, 1, 10_000)
	intIn("decode.max_dim", d.MaxDim, 1, 1<<20)
	intIn("decode.max_depth", d.MaxDepth, 3, 300)
	intIn("decode.max_name_bytes", d.MaxNameBytes, 1, 65536)
	intIn("decode.max_names", d.MaxNames, 1, 1<<24)
	intIn("decode.max_retrieved_docs", d.MaxRetrievedDocs, 1, 100_000)
	intIn("decode.max_outcomes", d.MaxOutcomes, 1, 10_000)
	if s := segs[len(segs)-1]; s != nil && d.MaxDepth >= 3 && d.MaxDepth < len(s)+3 {
		bad("decode.max_depth", "%d is below the %d levels decode.retrieval_path %q needs (its object, the docs list, a document); raise it, or disable the retrieval with \"-\"",
			d.MaxDepth, len(s)+3, d.RetrievalPath)
	}
	for i, g := range c.Activations {
		if _, err := path.Match(g, ""); err != nil || g == "" {
			bad(fmt.Sprintf("activations[%d]", i), "%q is not a glob (path.Match: *, ?, [a-z], \\ to escape)", g)
		}
	}

	validateOutcomes(c.Outcomes, d.MaxNameBytes, bad)

	// window
	durIn("window.size", c.Window.Size, time.Second, 24*time.Hour)
	durIn("window.allowed_lateness", c.Window.AllowedLateness, 0, 24*time.Hour)
	durIn("window.max_future_skew", c.Window.MaxFutureSkew, 0, 365*24*time.Hour)
	intIn("window.horizon_windows", c.Window.HorizonWindows, 1, 10_000)
	// The drift statistics need two values at least.
	intIn("window.min_samples", c.Window.MinSamples, 2, 1<<30)

	validateDrift(c.Drift, bad)
	validateGate(c.Gate, bad)
	validateExport(c.Metrics, c.Status, bad)

	// limits
	intIn("limits.max_models", c.Limits.MaxModels, 1, 10_000)
	intIn("limits.max_versions_per_model", c.Limits.MaxVersionsPerModel, 1, 1000)
	intIn("limits.max_features", c.Limits.MaxFeatures, 1, 100_000)
	intIn("limits.max_embeddings", c.Limits.MaxEmbeddings, 0, 10_000)
	intIn("limits.max_series", c.Limits.MaxSeries, 1, 1_000_000)
	intIn("limits.max_frozen_queries", c.Limits.MaxFrozenQueries, 1, 1_000_000)
	durIn("limits.version_stale_after", c.Limits.VersionStaleAfter, 0, 30*24*time.Hour)
	durIn("limits.version_idle_timeout", c.Limits.VersionIdleTimeout, time.Second, 365*24*time.Hour)
	if s, i := c.Limits.VersionStaleAfter, c.Limits.VersionIdleTimeout; i > 0 && (s >= i || (s == 0 && 3*c.Window.Size >= i)) {
		bad("limits.version_idle_timeout", "%v is not longer than the stale time (limits.version_stale_after, or 3 windows when 0)", i)
	}

	nonEmpty("baselines.dir", c.Baselines.Dir)
	oneOf("baselines.fallback", c.Baselines.Fallback, "previous_version", "report_only")

	oneOf("checkpoint.store", c.Checkpoint.Store, "file", "kafka")
	nonEmpty("checkpoint.dir", c.Checkpoint.Dir)
	intIn("checkpoint.topic_partitions", c.Checkpoint.TopicPartitions, 1, 100_000)
	if c.Checkpoint.Store == "kafka" {
		switch t := c.Checkpoint.Topic; {
		case !validTopic(t):
			bad("checkpoint.topic", "%q is not a valid topic name (1 to 249 of a-z A-Z 0-9 . _ -)", t)
		case consumed[t]:
			bad("checkpoint.topic", "%q is also in kafka.topics", t)
		case t == k.DLQTopic:
			bad("checkpoint.topic", "%q is also kafka.dlq_topic", t)
		case t == k.AlertTopic:
			bad("checkpoint.topic", "%q is also kafka.alert_topic", t)
		}
	}
	durIn("checkpoint.interval", c.Checkpoint.Interval, time.Second, time.Hour)

	ev := c.Evaluation
	oneOf("evaluation.mode", ev.Mode, "local", "cluster")
	if ev.Mode == "cluster" {
		switch t := ev.PartialsTopic; {
		case !validTopic(t):
			bad("evaluation.partials_topic", "%q is not a valid topic name (1 to 249 of a-z A-Z 0-9 . _ -)", t)
		case consumed[t]:
			bad("evaluation.partials_topic", "%q is also in kafka.topics", t)
		case t == k.DLQTopic:
			bad("evaluation.partials_topic", "%q is also kafka.dlq_topic", t)
		case t == k.AlertTopic:
			bad("evaluation.partials_topic", "%q is also kafka.alert_topic", t)
		case t == c.Checkpoint.Topic && c.Checkpoint.Store == "kafka":
			bad("evaluation.partials_topic", "%q is also checkpoint.topic", t)
		}
		if g := c.StageGroupID(); g == k.GroupID {
			bad("evaluation.group_id", "%q is also kafka.group_id; the stage needs a consumer group of its own", g)
		}
	}
	intIn("evaluation.partials_partitions", ev.PartialsPartitions, 1, 10000)
	// The stage restores from its checkpoints; the topic keeps what it has
	// not read yet, and must outlast a horizon for a stage that restarts.
	if minRet := time.Duration(c.Window.HorizonWindows+1) * c.Window.Size; ev.PartialsRetention < minRet || ev.PartialsRetention > 30*24*time.Hour {
		bad("evaluation.partials_retention", "%s is out of range [%s (window.size × (window.horizon_windows+1)), 720h0m0s]", ev.PartialsRetention, minRet)
	}
	durIn("evaluation.max_wait", ev.MaxWait, time.Second, 24*time.Hour)

	h := c.HTTP
	if !isHostPort(h.Listen, true) {
		bad("http.listen", "%q is not [host]:port", h.Listen)
	}
	durIn("http.read_header_timeout", h.ReadHeaderTimeout, 100*time.Millisecond, time.Hour)
	durIn("http.read_timeout", h.ReadTimeout, 100*time.Millisecond, time.Hour)
	if h.ReadHeaderTimeout > h.ReadTimeout && h.ReadTimeout >= 100*time.Millisecond {
		bad("http.read_header_timeout", "%s is above http.read_timeout (%s), which bounds the header too", h.ReadHeaderTimeout, h.ReadTimeout)
	}
	durIn("http.write_timeout", h.WriteTimeout, 100*time.Millisecond, time.Hour)
	durIn("http.idle_timeout", h.IdleTimeout, 100*time.Millisecond, time.Hour)
	intIn("http.max_connections", h.MaxConnections, 2, 1_000_000)
	intIn("http.max_concurrent_requests", h.MaxConcurrentRequests, 1, 100_000)
	if h.MaxConcurrentRequests > h.MaxConnections && h.MaxConnections >= 2 {
		bad("http.max_concurrent_requests", "%d is above http.max_connections (%d)", h.MaxConcurrentRequests, h.MaxConnections)
	}
	if pl := c.HTTP.ProbeListen; pl != "" {
		switch {
		case !isHostPort(pl, true):
			bad("http.probe_listen", "%q is not [host]:port (or empty for none)", pl)
		case pl == c.HTTP.Listen:
			bad("http.probe_listen", "%q is also http.listen; give the probes an address of their own", pl)
		}
	}

	a := c.Alerting
	for i, u := range a.AlertmanagerURLs {
		httpURL(fmt.Sprintf("alerting.alertmanager_urls[%d]", i), u)
	}
	durIn("alerting.resend_interval", a.ResendInterval, time.Second, 24*time.Hour)
	intIn("alerting.for_evaluations", a.ForEvaluations, 1, 1000)
	intIn("alerting.resolve_after", a.ResolveAfter, 1, 1000)
	if a.RunbookURL != "" {
		httpURL("alerting.runbook_url", a.RunbookURL)
	}
	if a.DashboardURL != "" {
		httpURL("alerting.dashboard_url", a.DashboardURL)
	}
	durIn("alerting.timeout", a.Timeout, 100*time.Millisecond, 5*time.Minute)
	if a.PathPrefix != "" && (!strings.HasPrefix(a.PathPrefix, "/") || strings.ContainsAny(a.PathPrefix, "?# ")) {
		bad("alerting.path_prefix", "%q is not a URL path starting with /", a.PathPrefix)
	}
	if (a.TLS.CertFile == "") != (a.TLS.KeyFile == "") {
		bad("alerting.tls", "cert_file and key_file must be given together")
	}
	switch {
	case a.BasicAuth.Username != "" && a.BearerToken != "":
		bad("alerting.bearer_token", "is set together with alerting.basic_auth.username; use one of them")
	case a.BasicAuth.Username == "" && a.BasicAuth.Password != "":
		bad("alerting.basic_auth.username", "is empty but a password is set")
	}
	if a.ExternalURL != "" {
		httpURL("alerting.external_url", a.ExternalURL)
	}
	intIn("alerting.queue_capacity", a.QueueCapacity, 1, 1_000_000)

	oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	oneOf("log.format", c.Log.Format, "logfmt", "json", "text")
	intIn("runtime.gc_percent", c.Runtime.GCPercent, 10, 10_000)
	intIn("runtime.gc_headroom_bytes", c.Runtime.GCHeadroomBytes, 0, 1<<30)

	durIn("shutdown_timeout", c.ShutdownTimeout, time.Second, time.Hour)

	return errors.Join(errs...)
}

// CheckBrokers reports a configuration that names no Kafka to consume:
// neither kafka.brokers nor kafka.embedded. Validate accepts it, so that
// the defaults are a valid configuration; `monitor run` does not.
func (c Config) CheckBrokers() error {
	if len(c.Kafka.Brokers) == 0 && !c.Kafka.Embedded {
		return errors.New("kafka.brokers: none given; want host:port of your brokers (--kafka.brokers, NORMWATCH_KAFKA_BROKERS or kafka.brokers in the file), " +
			"or --kafka.embedded (kafka.embedded: true) to start the broker built in")
	}
	return nil
}

// PathDisabled as a decode path turns the field off.
const PathDisabled = "-"

// PathRoot as decode.features_path reads the features from the event
// object itself.
const PathRoot = "$"

// SplitPath splits a decode path into its keys: dots separate them, `\.`
// is a dot inside a key and `\\` a backslash. Every key must be
// non-empty.
func SplitPath(p string) ([]string, error) {
	var segs []string
	var cur strings.Builder
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '\\':
			if i+1 == len(p) || (p[i+1] != '.' && p[i+1] != '\\') {
				return nil, fmt.Errorf("backslash at byte %d escapes neither a dot nor a backslash", i)
			}
			i++
			cur.WriteByte(p[i])
		case '.':
			if cur.Len() == 0 {
				return nil, errors.New("empty key")
			}
			segs = append(segs, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	if cur.Len() == 0 {
		return nil, errors.New("empty key")
	}
	return append(segs, cur.String()), nil
}

func isPrefix(a, b []string) bool {
	return len(a) <= len(b) && slices.Equal(a, b[:len(a)])
}

// RedactURL returns s with the password of its user information, if it
// parses as a URL that has one, replaced by "xxxxx".
func RedactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			return u.Redacted()
		}
		return s
	}
	// Not a URL with user information as parsed, but it may still carry
	// credentials before an @ ("user:pass@host:9093" parses as a scheme).
	if at := strings.LastIndex(s, "@"); at >= 0 {
		if colon := strings.LastIndex(s[:at], ":"); colon >= 0 && !strings.Contains(s[colon:at], "/") {
			return s[:colon+1] + "xxxxx" + s[at:]
		}
	}
	return s
}

// isHostPort tells whether s is host:port with a port in [1, 65535]; with
// emptyHost, the host may be empty (all interfaces) and the port 0.
func isHostPort(s string, emptyHost bool) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil || (host == "" && !emptyHost) || strings.ContainsAny(host, " /") {
		return false
	}
	p, err := strconv.Atoi(port)
	lo := 1
	if emptyHost {
		lo = 0
	}
	return err == nil && p >= lo && p <= 65535
}

var topicName = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

func validTopic(s string) bool { return topicName.MatchString(s) && s != "." && s != ".." }

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}
