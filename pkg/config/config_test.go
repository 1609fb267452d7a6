package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

func TestDefaults(t *testing.T) {
	c, err := Load("", nil)
	require.NoError(t, err)
	require.Equal(t, Default(), c)
	require.NoError(t, Default().Validate())

	require.Empty(t, c.Kafka.Brokers, "no brokers means the embedded one")
	require.Equal(t, []string{"normwatch.events"}, c.Kafka.Topics)
	require.Equal(t, "normwatch", c.Kafka.GroupID)
	require.Equal(t, "normwatch.dlq", c.Kafka.DLQTopic)
	require.Equal(t, "normwatch.alerts", c.Kafka.AlertTopic)
	require.Equal(t, time.Minute, c.Window.Size)
	require.Equal(t, 10*time.Second, c.Window.AllowedLateness)
	require.Equal(t, 5, c.Window.HorizonWindows)
	require.Equal(t, 200, c.Window.MinSamples)
	require.Equal(t, Limits{MaxModels: 20, MaxVersionsPerModel: 5, MaxFeatures: 1000, MaxEmbeddings: 20, MaxSeries: 2000, MaxFrozenQueries: 10000, VersionIdleTimeout: time.Hour}, c.Limits)
	require.Equal(t, 1<<20, c.Decode.MaxMessageBytes)
	require.Equal(t, 1000, c.Decode.MaxFeatures)
	require.Equal(t, 4096, c.Decode.MaxDim)
	require.Equal(t, "previous_version", c.Baselines.Fallback)
	require.Equal(t, 10*time.Second, c.Checkpoint.Interval)
	require.Equal(t, time.Minute, c.Alerting.ResendInterval)
	require.Equal(t, 2, c.Alerting.ForEvaluations)
	require.Equal(t, 3, c.Alerting.ResolveAfter)
}

func TestGoodFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/*.good.yml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := Load(f, nil)
			require.NoError(t, err)
		})
	}
}

func TestFullFile(t *testing.T) {
	c, err := Load("testdata/full.good.yml", nil)
	require.NoError(t, err)
	want := Config{
		Kafka: Kafka{
			Brokers:     []string{"kafka-1:9092", "kafka-2:9092"},
			Topics:      []string{"features.ranker", "features.search"},
			GroupID:     "normwatch-prod",
			StartOffset: "latest",
			TLS:         TLS{Enabled: true, CAFile: "/etc/kafka/ca.pem", CertFile: "/etc/kafka/client.pem", KeyFile: "/etc/kafka/client.key"},
			SASL:        SASL{Mechanism: "scram-sha-512", Username: "normwatch", Password: "s3cret"},
			DLQTopic:    "normwatch.prod.dlq", AlertTopic: "normwatch.prod.alerts",
			FetchMaxBytes: 5 << 20, SessionTimeout: 10 * time.Second,
		},
		Decode: Decode{
			TimePath: "meta.ts", TimeUnit: "ms", ModelPath: "meta.model", VersionPath: "meta.version",
			FeaturesPath: "f", RawPath: "-", EmbeddingsPath: "e",
			ModelHeader: "x-model", VersionHeader: "x-model-version", ListNameKey: "feature", ListValueKey: "v",
			MaxMessageBytes: 2 << 20, MaxFeatures: 500, MaxEmbeddings: 4, MaxDim: 1536,
			MaxDepth: 16, MaxNameBytes: 128, MaxNames: 4096, MaxRetrievedDocs: 64, RetrievalPath: "retrieval",
			OutcomesPath: "labels", MaxOutcomes: 8, RequestIDPath: "meta.request", RequestIDHeader: "x-request-id",
		},
		Window: Window{Size: 30 * time.Second, AllowedLateness: time.Minute, MaxFutureSkew: 15 * time.Minute, HorizonWindows: 10, MinSamples: 500},
		Drift: Drift{Overrides: []Override{
			{Feature: "debug_*", Mute: true},
			{Model: "ranker", ModelVersion: "v4*", Feature: "[a-m]*", Thresholds: Thresholds{
				MinSamples: ptr(300), Alpha: ptr(0.001),
				KS: level(0.15, 0.3), PSI: level(0.2, 0.4), MeanShift: level(0.5, 1),
				FitR2: ptr(0.98), ScalerTolerance: ptr(0.2), ScaleTolerance: ptr(0.15), UnitTolerance: ptr(0.03),
				OutOfRange: level(0.02, 0.1), RangeTolerance: ptr(0.05), Compression: ptr(0.4),
				Missing: level(0.1, 0.3), NonFinite: level(0.002, 0.02), Refit: level(0.2, 0.8),
			}},
			{Model: "search", Embedding: "query", Mute: true, Thresholds: Thresholds{
				UnitNormRatio: ptr(0.95), NonUnit: level(0.05, 0.2), MixedFloor: ptr(0.2),
				NormShift: level(0.15, 0.3), Cosine: level(0.2, 0.5), DimsMoved: level(0.2, 0.4),
				DimShift: ptr(0.5), DimMismatch: level(0.01, 0.05),
				FrozenRecallDrop: level(0.05, 0.2), MinFrozenQueries: ptr(50),
			}},
		}},
		Limits: Limits{MaxModels: 5, MaxVersionsPerModel: 3, MaxFeatures: 200, MaxEmbeddings: 2,
			MaxSeries: 300, MaxFrozenQueries: 500, VersionStaleAfter: 5 * time.Minute, VersionIdleTimeout: 6 * time.Hour},
		Baselines:  Baselines{Dir: "/var/lib/normwatch/baselines", Fallback: "report_only"},
		Checkpoint: Checkpoint{Store: "kafka", Topic: "normwatch.checkpoints", TopicPartitions: 48, Dir: "/var/lib/normwatch/checkpoints", Interval: 5 * time.Second},
		Evaluation: Evaluation{Mode: "cluster", PartialsTopic: "normwatch.partials", PartialsPartitions: 6,
			PartialsRetention: 3 * time.Hour, GroupID: "normwatch-eval", MaxWait: 90 * time.Second},
		HTTP: HTTP{
			Listen: "127.0.0.1:9999", ProbeListen: ":9998", WebConfigFile: "/etc/normwatch/web.yml",
			ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 20 * time.Second, WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute,
			MaxConnections: 64, MaxConcurrentRequests: 4,
		},
		Alerting: Alerting{
			AlertmanagerURLs: []string{"http://am-1:9093", "https://am-2:9093"},
			ResendInterval:   2 * time.Minute, ForEvaluations: 3, ResolveAfter: 5,
			RunbookURL:    "https://runbooks.example.com/normwatch",
			DashboardURL:  "https://grafana.example.com/d/normwatch",
			Timeout:       5 * time.Second,
			PathPrefix:    "/alertmanager",
			TLS:           ClientTLS{CAFile: "/etc/normwatch/am-ca.pem", CertFile: "/etc/normwatch/am.pem", KeyFile: "/etc/normwatch/am.key", InsecureSkipVerify: true},
			BasicAuth:     BasicAuth{Username: "normwatch", Password: "am-s3cret"},
			ExternalURL:   "https://normwatch.example.com/",
			QueueCapacity: 500,
			Watchdog:      false,
		},
		Log:     Log{Level: "debug", Format: "json"},
		Metrics: Metrics{Quantiles: []string{"0.95", "0.05", "0.5"}},
		Status:  Status{HistoryWindows: 120, RefreshInterval: 30 * time.Second},
		Runtime: Runtime{GCPercent: 200, GCHeadroomBytes: 0},
		Gate: Gate{
			Candidates: []Candidate{{Model: "search", ModelVersion: "v3", LiveVersion: "v2"}, {Model: "ranker", ModelVersion: "v5"}},
			MinWindows: 5, JoinBuffer: 500, JoinWait: 30 * time.Second, RouteHeader: "x-route", CandidateRoutes: []string{"shadow"},
		},
		ShutdownTimeout: 45 * time.Second,
		Activations:     []string{"layer*.out"},
		Outcomes: []Outcome{
			{Name: "eval_pass", Kind: "rate", MaxDeltaPoints: 2},
			{Name: "context_relevance", Kind: "mean", MaxDeltaPoints: 3, FallsWith: "Error_Rate", Alpha: 0.001, MinSamples: 500},
			{Name: "Error_Rate", Kind: "rate", Better: "lower", MaxDeltaPoints: 1.5},
		},
	}
	require.Equal(t, want, c)
	require.Equal(t, []float64{0.05, 0.5, 0.95}, c.Metrics.QuantileSelection())
}

func ptr[T any](v T) *T { return &v }

func level(warning, critical float64) *Level { return &Level{Warning: &warning, Critical: &critical} }

// TestFullFileSetsEveryThreshold: full.good.yml's overrides set every
// threshold an override has, so TestFullFile checks each is read.
func TestFullFileSetsEveryThreshold(t *testing.T) {
	c, err := Load("testdata/full.good.yml", nil)
	require.NoError(t, err)
	set := map[string]bool{}
	for _, o := range c.Drift.Overrides {
		for _, f := range o.Thresholds.fields() {
			set[f.name] = set[f.name] || f.set
		}
	}
	n := reflect.TypeOf(Thresholds{}).NumField()
	require.Len(t, set, n, "fields lists every field of Thresholds")
	for name, ok := range set {
		require.True(t, ok, "full.good.yml sets no %s", name)
	}
}

func TestBadFiles(t *testing.T) {
	tests := []struct {
		file string
		errs []string // substrings of the error, which must name the key
	}{
		{"unknown_key", []string{"kafka.brokerz: unknown key"}},
		{"unknown_section", []string{"kafkaa: unknown key"}},
		{"broker_no_port", []string{`kafka.brokers[1]: "localhost" is not host:port`}},
		{"broker_bad_port", []string{`kafka.brokers[0]: "kafka-1:99999" is not host:port`}},
		{"start_offset", []string{`kafka.start_offset: "beginning" is not one of "earliest", "latest"`}},
		{"no_topics", []string{"kafka.topics: must list at least one topic"}},
		{"bad_topic", []string{`kafka.topics[1]: "bad topic" is not a valid topic name`}},
		{"dlq_consumed", []string{`kafka.dlq_topic: "normwatch.dlq" is also in kafka.topics`}},
		{"sasl_mechanism", []string{`kafka.sasl.mechanism: "gssapi" is not one of`}},
		{"sasl_no_user", []string{"kafka.sasl.username: must not be empty"}},
		{"sasl_user_without_mechanism", []string{"kafka.sasl.mechanism: is empty but a username"}},
		{"tls_cert_no_key", []string{"kafka.tls: cert_file and key_file must be given together"}},
		{"tls_disabled_with_ca", []string{`kafka.tls.ca_file: "/ca.pem" is set but kafka.tls.enabled is false`}},
		{"session_timeout", []string{"kafka.session_timeout: 100ms is out of range [1s, 1h0m0s]"}},
		{"future_skew", []string{"window.max_future_skew: -1s is out of range"}},
		{"fetch_below_message", []string{"kafka.fetch_max_bytes: 4096 is below decode.max_message_bytes (1048576)"}},
		{"bad_duration", []string{`window.size: "fortnight" is not a duration (a number with a unit: 500ms, 30s, 5m, 1h30m)`}},
		{"window_too_small", []string{"window.size: 10ms is out of range [1s, 24h0m0s]"}},
		{"horizon_zero", []string{"window.horizon_windows: 0 is out of range"}},
		{"negative_limit", []string{"limits.max_models: -1 is out of range"}},
		{"idle_before_stale", []string{"limits.version_idle_timeout: 1h0m0s is not longer than the stale time"}},
		{"fallback", []string{`baselines.fallback: "nearest" is not one of "previous_version", "report_only"`}},
		{"checkpoint_interval", []string{"checkpoint.interval: 0s is out of range"}},
		{"checkpoint_store", []string{`checkpoint.store: "s3" is not one of "file", "kafka"`}},
		{"checkpoint_topic_consumed", []string{`checkpoint.topic: "events" is also in kafka.topics`}},
		{"checkpoint_topic_bad", []string{`checkpoint.topic: "a/b" is not a valid topic name`}},
		{"checkpoint_topic_partitions", []string{"checkpoint.topic_partitions: 0 is out of range [1, 100000]"}},
		{"evaluation_mode", []string{`evaluation.mode: "distributed" is not one of "local", "cluster"`}},
		{"evaluation_topic_consumed", []string{`evaluation.partials_topic: "events" is also in kafka.topics`}},
		{"evaluation_group", []string{`evaluation.group_id: "g" is also kafka.group_id; the stage needs a consumer group of its own`}},
		{"evaluation_retention", []string{"evaluation.partials_retention: 2m0s is out of range [6m0s (window.size × (window.horizon_windows+1)), 720h0m0s]"}},
		{"listen", []string{`http.listen: "9308" is not [host]:port`}},
		{"shutdown_timeout", []string{"shutdown_timeout: 100ms is out of range [1s, 1h0m0s]"}},
		{"retrieved_docs", []string{"decode.max_retrieved_docs: 0 is out of range [1, 100000]"}},
		{"retrieval_depth", []string{`decode.max_depth: 3 is below the 4 levels decode.retrieval_path "retrieval" needs`}},
		{"activations_glob", []string{`activations[1]: "layer[1" is not a glob`}},
		{"outcomes_kind", []string{`outcomes[0] (eval_pass).kind: "ratio" is neither rate (values 0 and 1) nor mean (scores)`}},
		{"outcomes_points", []string{`outcomes[0] (eval_pass).max_delta_points: 0 is not a positive number of points`}},
		{"outcomes_twice", []string{`outcomes[1].name: "eval_pass" is configured twice`}},
		{"outcomes_alpha", []string{`outcomes[0] (eval_pass).alpha: 0.7 is out of range (0, 0.5)`}},
		{"outcomes_falls_with", []string{`outcomes[0] (recall).falls_with: "relevance" is not another configured outcome`}},
		{"outcomes_unknown_key", []string{"outcomes[0].max_delta_point: unknown key; did you mean outcomes[0].max_delta_points?"}},
		{"http_no_write_timeout", []string{"http.write_timeout: 0s is out of range [100ms, 1h0m0s]"}},
		{"http_header_timeout", []string{"http.read_header_timeout: 1m0s is above http.read_timeout (30s)"}},
		{"http_requests_above_connections", []string{"http.max_concurrent_requests: 300 is above http.max_connections (256)"}},
		{"http_max_connections", []string{"http.max_connections: 1 is out of range [2, 1000000]"}},
		{"alertmanager_url", []string{`alerting.alertmanager_urls[0]: "am:9093" is not an http or https URL`}},
		{"alertmanager_two_auths", []string{"alerting.bearer_token: is set together with alerting.basic_auth.username"}},
		{"alertmanager_password_only", []string{"alerting.basic_auth.username: is empty but a password is set"}},
		{"alertmanager_path_prefix", []string{`alerting.path_prefix: "alertmanager" is not a URL path starting with /`}},
		{"alertmanager_tls_cert_no_key", []string{"alerting.tls: cert_file and key_file must be given together"}},
		{"alertmanager_queue", []string{"alerting.queue_capacity: 0 is out of range [1, 1000000]"}},
		{"external_url", []string{`alerting.external_url: "normwatch:10308" is not an http or https URL`}},
		{"runbook_url", []string{`alerting.runbook_url: "not a url"`}},
		{"log_level", []string{`log.level: "verbose" is not one of "debug", "info", "warn", "error"`}},
		{"log_format", []string{`log.format: "xml"`}},
		{"runtime_gc_percent", []string{"runtime.gc_percent: 5 is out of range [10, 10000]"}},
		{"runtime_gc_headroom", []string{"runtime.gc_headroom_bytes: -1 is out of range [0, 1073741824]"}},
		{"decode_overlap", []string{`decode.raw_path: "features" overlaps decode.features_path "features"`}},
		{"decode_path", []string{`decode.model_path: "meta..model": empty key; want dot-separated keys`}},
		{"decode_max_dim", []string{"decode.max_dim: 0 is out of range [1, 1048576]"}},
		{"wrong_type", []string{`decode.max_features: "many" is not a whole number`}},
		{"embedded_with_brokers", []string{"kafka.embedded: is true but kafka.brokers is set too (kafka-1:9092); use one of them"}},
		{"time_unit", []string{`decode.time_unit: "millis" is not one of "auto", "s", "ms", "us", "ns"`}},
		{"probe_listen", []string{`http.probe_listen: ":10308" is also http.listen`}},
		{"list_keys", []string{`decode.list_value_key: "k" is also decode.list_name_key`}},
		{"decode_escape", []string{`decode.model_path: "meta\\model": backslash at byte 4 escapes neither a dot nor a backslash; want dot-separated keys`}},
		{"decode_root", []string{`decode.raw_path: "$" (the event itself) is for decode.features_path only`}},
		{"secret_url", []string{`alerting.alertmanager_urls[0]: "am:xxxxx@alertmanager:9093" is not an http or https URL`}},
		{"secret_type", []string{`kafka.sasl.password: "xxxxx" is not a string`}},
		{"typo_key", []string{"kafka.group_idd: unknown key; did you mean kafka.group_id?"}},
		{"not_yaml", []string{"reading config file testdata/not_yaml.bad.yml"}},
		{"quantiles_level", []string{`metrics.quantiles[1]: "0.9" is not a quantile level normwatch computes; want "all", "none", or some of 0.01 0.05 0.25 0.5 0.75 0.95 0.99`}},
		{"quantiles_alone", []string{`metrics.quantiles[1]: "none" must stand alone`}},
		{"quantiles_twice", []string{`metrics.quantiles[2]: "0.50" is listed twice`}},
		{"quantiles_empty", []string{`metrics.quantiles: is empty; want "all", "none"`}},
		{"status_history", []string{"status.history_windows: 0 is out of range [1, 10000]"}},
		{"status_ranges", []string{"status.refresh_interval: 500ms is out of range [1s, 1h] (or 0 for no refresh)"}},
		{"gate_no_version", []string{"gate.candidates[0].model_version: is required: the candidate version"}},
		{"gate_live_itself", []string{`gate.candidates[0].live_version: "v3" is the candidate itself`}},
		{"gate_twice", []string{"gate.candidates[1]: declares search v3 again (as gate.candidates[0] does)"}},
		{"gate_min_windows", []string{"gate.min_windows: 0 is out of range [1, 10000]"}},
		{"gate_routes", []string{`gate.candidate_routes: is empty, so gate.route_header "route" marks nothing`}},
		{"gate_unknown_key", []string{"gate.candidates[0].live_verison: unknown key; did you mean gate.candidates[0].live_version?"}},
		{"drift_unknown_key", []string{"drift.overrides[0].featur: unknown key; did you mean drift.overrides[0].feature?"}},
		{"drift_unknown_threshold", []string{"drift.overrides[0].thresholds.kss: unknown key; did you mean drift.overrides[0].thresholds.ks?"}},
		{"drift_glob", []string{`drift.overrides[0].feature: "score_[a-" is not a glob (syntax error in pattern); want path.Match syntax`}},
		{"drift_feature_and_embedding", []string{`drift.overrides[0]: sets both feature ("income") and embedding ("query"); an override applies to features or to embeddings: split it in two`}},
		{"drift_noop", []string{"drift.overrides[0]: neither mutes nor sets a threshold, so it changes nothing; want mute: true or thresholds"}},
		{"drift_level_half", []string{"drift.overrides[0].thresholds.ks: lacks critical; give both warning and critical"}},
		{"drift_level_order", []string{"drift.overrides[0].thresholds.psi.critical: 0.2 is out of range [0.3 (the warning), ∞)"}},
		{"drift_level_range", []string{"drift.overrides[0].thresholds.ks.warning: 1.5 is out of range (0, 1]"}},
		{"drift_level_scalar", []string{`drift.overrides[0].thresholds.ks: "0.2" is not a section (of warning, critical)`}},
		{"drift_unit_range", []string{"drift.overrides[1].thresholds.compression: 1.5 is out of range (0, 1)"}},
		{"drift_min_samples", []string{"drift.overrides[0].thresholds.min_samples: 1 is out of range [2, 1073741824]"}},
		{"drift_wrong_subject", []string{`drift.overrides[0].thresholds.non_unit: is an embedding threshold, but the override matches features only (feature "income")`}},
		{"drift_wrong_type", []string{`drift.overrides[0].thresholds.ks.warning: "high" is not a number`}},
		{"drift_mute_type", []string{`drift.overrides[0].mute: "yes please" is not true or false`}},
	}
	files, err := filepath.Glob("testdata/*.bad.yml")
	require.NoError(t, err)
	require.Len(t, files, len(tests), "every bad file has a row, every row a file")
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, err := Load(filepath.Join("testdata", tt.file+".bad.yml"), nil)
			require.Error(t, err)
			for _, s := range tt.errs {
				require.Contains(t, err.Error(), s)
			}
			require.NotContains(t, err.Error(), "\n", "one line per error is joined by errors.Join; one bad key gives one line")
			require.NotContains(t, err.Error(), "s3cret", "no secret in an error")
		})
	}
}

func TestValidateReportsEveryError(t *testing.T) {
	c := Default()
	c.Kafka.Brokers = []string{"a", "b:1"}
	c.Log.Level = "loud"
	c.Window.MinSamples = 0
	err := c.Validate()
	require.Error(t, err)
	lines := strings.Split(err.Error(), "\n")
	require.Equal(t, []string{
		`kafka.brokers[0]: "a" is not host:port`,
		"window.min_samples: 0 is out of range [2, 1073741824]",
		`log.level: "loud" is not one of "debug", "info", "warn", "error"`,
	}, lines)
}

func TestMissingFile(t *testing.T) {
	_, err := Load("testdata/nope.yml", nil)
	require.ErrorContains(t, err, "testdata/nope.yml")
}

func TestEnvOverride(t *testing.T) {
	t.Setenv("NORMWATCH_KAFKA_BROKERS", "k1:9092,k2:9093")
	t.Setenv("NORMWATCH_KAFKA_SASL_MECHANISM", "plain")
	t.Setenv("NORMWATCH_KAFKA_SASL_USERNAME", "u")
	t.Setenv("NORMWATCH_KAFKA_SASL_PASSWORD", "from-env")
	t.Setenv("NORMWATCH_WINDOW_SIZE", "30s")
	t.Setenv("NORMWATCH_DECODE_MAX_DIM", "1536")
	t.Setenv("NORMWATCH_KAFKA_TLS_ENABLED", "true")
	t.Setenv("NORMWATCH_LOG_LEVEL", "warn")

	// The environment overrides the file.
	c, err := Load("testdata/minimal.good.yml", nil)
	require.NoError(t, err)
	require.Equal(t, []string{"k1:9092", "k2:9093"}, c.Kafka.Brokers)
	require.Equal(t, SASL{Mechanism: "plain", Username: "u", Password: "from-env"}, c.Kafka.SASL)
	require.Equal(t, 30*time.Second, c.Window.Size)
	require.Equal(t, 1536, c.Decode.MaxDim)
	require.True(t, c.Kafka.TLS.Enabled)
	require.Equal(t, "warn", c.Log.Level)
	require.Equal(t, "normwatch", c.Kafka.GroupID, "untouched keys keep their defaults")

	t.Setenv("NORMWATCH_WINDOW_SIZE", "soon")
	_, err = Load("", nil)
	require.ErrorContains(t, err, "window.size")
}

// TestFileOnlyKeyFromEnv: a list of objects has no spelling in one
// variable; setting it says so instead of a puzzle about its parts.
func TestFileOnlyKeyFromEnv(t *testing.T) {
	t.Setenv("NORMWATCH_DRIFT_OVERRIDES", `[{"feature": "x", "mute": true}]`)
	_, err := Load("", nil)
	require.EqualError(t, err, "NORMWATCH_DRIFT_OVERRIDES: is set, but drift.overrides is set in the file only (--config.file); unset it")
}

func TestFlagsOverride(t *testing.T) {
	t.Setenv("NORMWATCH_LOG_LEVEL", "warn")
	t.Setenv("NORMWATCH_WINDOW_SIZE", "2m")
	fs := pflag.NewFlagSet("monitor", pflag.ContinueOnError)
	fs.StringSlice("kafka.brokers", nil, "")
	fs.String("kafka.group-id", "", "")
	fs.Duration("window.size", 0, "")
	fs.Int("decode.max_features", 0, "")
	fs.String("log.level", "error", "") // not set on the command line
	fs.String("config.file", "", "")    // not a key: left alone
	require.NoError(t, fs.Parse([]string{
		"--kafka.brokers=f1:9092,f2:9092", "--kafka.group-id=g", "--window.size=45s",
		"--decode.max_features=10", "--config.file=x.yml",
	}))

	c, err := Load("testdata/full.good.yml", fs)
	require.NoError(t, err)
	require.Equal(t, []string{"f1:9092", "f2:9092"}, c.Kafka.Brokers, "flags override the file")
	require.Equal(t, "g", c.Kafka.GroupID)
	require.Equal(t, 45*time.Second, c.Window.Size, "flags override the environment")
	require.Equal(t, 10, c.Decode.MaxFeatures)
	require.Equal(t, "warn", c.Log.Level, "an unset flag overrides nothing, not even with its own default")

	c, err = Load("", fs)
	require.NoError(t, err)
	require.Equal(t, 45*time.Second, c.Window.Size)
	require.Equal(t, "warn", c.Log.Level)
}

func TestDefaultsSpelledOut(t *testing.T) {
	// A file that repeats some defaults loads to the defaults.
	path := filepath.Join(t.TempDir(), "c.yml")
	require.NoError(t, os.WriteFile(path, []byte("window:\n  size: 1m\nlimits:\n  max_models: 20\n"), 0o600))
	c, err := Load(path, nil)
	require.NoError(t, err)
	require.Equal(t, Default(), c)
}

func TestEveryKeyIsSnakeCase(t *testing.T) {
	n := 0
	leaves(reflect.ValueOf(Default()), "", func(key string, _ any) {
		n++
		require.Regexp(t, `^[a-z]+(_[a-z]+)*(\.[a-z]+(_[a-z]+)*)*$`, key)
	})
	require.Greater(t, n, 50)
}

// TestExampleIsTheDefaults keeps deployments/normwatch.example.yml, the
// documented list of every key, exactly the defaults.
func TestExampleIsTheDefaults(t *testing.T) {
	path := filepath.Join("..", "..", "deployments", "normwatch.example.yml")
	c, err := Load(path, nil)
	require.NoError(t, err)
	require.Equal(t, Default(), c)
	// And it names every key, so that it documents each one.
	v := viper.New()
	v.SetConfigFile(path)
	require.NoError(t, v.ReadInConfig())
	leaves(reflect.ValueOf(Default()), "", func(key string, _ any) {
		require.True(t, v.InConfig(key), "%s is missing from %s", key, path)
	})
}

// TestEveryKeyIsAFlagOrSaysSo: a key has help, and a flag unless it is a
// secret, which the help lists as file or environment only.
func TestEveryKeyIsAFlagOrSaysSo(t *testing.T) {
	fs := pflag.NewFlagSet("monitor run", pflag.ContinueOnError)
	AddFlags(fs)
	only := FileOrEnvOnly()
	named := map[string]bool{}
	for _, k := range Keys() {
		named[k.Name] = true
		require.NotEmpty(t, k.Help, "key %s has no help", k.Name)
		f := fs.Lookup(k.Name)
		if k.Secret {
			require.Nil(t, f, "secret %s must not be a flag", k.Name)
			require.Contains(t, only, k.Name)
			require.Contains(t, only, k.Env())
			continue
		}
		if k.FileOnly {
			require.Nil(t, f, "file-only %s must not be a flag", k.Name)
			_, inFile, _ := strings.Cut(only, "Keys in the file only")
			require.Contains(t, inFile, k.Name)
			continue
		}
		require.NotNil(t, f, "key %s has no flag", k.Name)
		require.NotContains(t, only, k.Name+" ")
	}
	for k := range help {
		require.True(t, named[k], "help for %s, which is not a key", k)
	}
}

// TestFlagsSetEveryKind sets a key of every kind by flag.
func TestFlagsSetEveryKind(t *testing.T) {
	fs := pflag.NewFlagSet("monitor run", pflag.ContinueOnError)
	AddFlags(fs)
	require.NoError(t, fs.Parse([]string{
		"--limits.max_versions_per_model", "20", "--window.size=5s", "--kafka.embedded",
		"--kafka.topics", "a,b", "--decode.features_path", "$", "--alerting.watchdog=false",
	}))
	c, err := Load("", fs)
	require.NoError(t, err)
	require.Equal(t, 20, c.Limits.MaxVersionsPerModel)
	require.Equal(t, 5*time.Second, c.Window.Size)
	require.True(t, c.Kafka.Embedded)
	require.Equal(t, []string{"a", "b"}, c.Kafka.Topics)
	require.Equal(t, "$", c.Decode.FeaturesPath)
	require.False(t, c.Alerting.Watchdog)
	require.NoError(t, c.CheckBrokers())

	// Unset flags leave the defaults, the file and the environment alone.
	fs = pflag.NewFlagSet("monitor run", pflag.ContinueOnError)
	AddFlags(fs)
	require.NoError(t, fs.Parse(nil))
	t.Setenv("NORMWATCH_WINDOW_SIZE", "2m")
	c, err = Load("testdata/full.good.yml", fs)
	require.NoError(t, err)
	require.Equal(t, 2*time.Minute, c.Window.Size)
	require.Equal(t, "normwatch-prod", c.Kafka.GroupID)
}

func TestCheckBrokers(t *testing.T) {
	c := Default()
	err := c.CheckBrokers()
	require.ErrorContains(t, err, "kafka.brokers: none given")
	require.ErrorContains(t, err, "--kafka.embedded")
	c.Kafka.Embedded = true
	require.NoError(t, c.CheckBrokers())
	c.Kafka.Embedded, c.Kafka.Brokers = false, []string{"k:9092"}
	require.NoError(t, c.CheckBrokers())
}

func TestSplitPath(t *testing.T) {
	tests := []struct {
		name, path string
		want       []string
		err        string
	}{
		{name: "one key", path: "ts", want: []string{"ts"}},
		{name: "nested", path: "meta.ts", want: []string{"meta", "ts"}},
		{name: "escaped dot", path: `meta\.v2.model`, want: []string{"meta.v2", "model"}},
		{name: "escaped backslash", path: `a\\.b`, want: []string{`a\`, "b"}},
		{name: "only a dotted key", path: `user\.id`, want: []string{"user.id"}},
		{name: "empty", path: "", err: "empty key"},
		{name: "leading dot", path: ".a", err: "empty key"},
		{name: "trailing dot", path: "a.", err: "empty key"},
		{name: "double dot", path: "a..b", err: "empty key"},
		{name: "bad escape", path: `a\b`, err: "backslash at byte 1"},
		{name: "trailing backslash", path: `a\`, err: "backslash at byte 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SplitPath(tt.path)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"url with password", "http://u:s3cret@am:9093/x", "http://u:xxxxx@am:9093/x"},
		{"url with user only", "http://u@am:9093", "http://u@am:9093"},
		{"no credentials", "http://am:9093", "http://am:9093"},
		{"no scheme", "u:s3cret@am:9093", "u:xxxxx@am:9093"},
		{"not a url", "not a url", "not a url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, RedactURL(tt.in))
		})
	}
}

// TestExampleListsEveryKey: the example file names every key.
func TestExampleListsEveryKey(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "deployments", "normwatch.example.yml"))
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, yaml.Unmarshal(b, &doc))
	for _, k := range Keys() {
		var node any = doc
		for _, seg := range strings.Split(k.Name, ".") {
			m, ok := node.(map[string]any)
			require.True(t, ok, "%s: %v is not a section", k.Name, node)
			node, ok = m[seg]
			require.True(t, ok, "the example file lacks %s", k.Name)
		}
	}
}

func TestEnvTypos(t *testing.T) {
	got := EnvTypos([]string{
		"NORMWATCH_KAFKA_BROKER=k:9092", "NORMWATCH_KAFKA_BROKERS=k:9092", "NORMWATCH_WINDOW_SIZ=1m",
		"NORMWATCH_TEST_BROKERS=x", "NORMWATCH_ARTIFACTS=/tmp", "PATH=/bin", "NORMWATCH_LOG_LEVEL",
	})
	require.Equal(t, []string{
		"NORMWATCH_KAFKA_BROKER is not a configuration variable and is ignored; did you mean NORMWATCH_KAFKA_BROKERS?",
		"NORMWATCH_WINDOW_SIZ is not a configuration variable and is ignored; did you mean NORMWATCH_WINDOW_SIZE?",
	}, got)
}

func TestQuantileSelection(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  string
		want []float64
	}{
		{name: "default: all", env: "", want: nil},
		{name: "none", env: "none", want: []float64{}},
		{name: "a few, sorted", env: "0.99,0.01", want: []float64{0.01, 0.99}},
		{name: "all, spelled out", env: "all", want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("NORMWATCH_METRICS_QUANTILES", tc.env)
			}
			c, err := Load("", nil)
			require.NoError(t, err)
			require.Equal(t, tc.want, c.Metrics.QuantileSelection())
		})
	}
}
