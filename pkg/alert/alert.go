// Package alert owns the alert lifecycle of normwatch (inactive, pending,
// firing, resolved, with hysteresis on both edges) and the sinks that carry
// state changes out: the log, Alertmanager's API v2 (with the
// NormwatchWatchdog heartbeat) and a Kafka topic, the last two through
// bounded queues that drop the oldest.
//
// Metrics, per sink (sink="alertmanager:<url>" or "kafka"):
// normwatch_alerts_sent_total{sink,result} (result ok, error, rejected,
// dropped), normwatch_alert_queue_length{sink} and
// normwatch_alerts_dropped_total{sink}.
//
// An alert is one subject: (model, model version, feature or embedding),
// so one cause pages once. Its alertname, severity and diagnosis are labels
// of its current state: when any of them changes while the alert fires,
// the old label set is resolved and the new one fires in the same
// notification, so at no moment does Alertmanager hold two alerts for one
// feature, and its routing and inhibition see the current labels.
package alert

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/normwatch/normwatch/pkg/drift"
)

// Alert names, stable: rules, routes and dashboards depend on them.
const (
	NormalizationDrift = "NormalizationDrift"
	FeatureDrift       = "FeatureDrift"
	EmbeddingDrift     = "EmbeddingDrift"
	DataQuality        = "DataQuality"
	// OutcomeRegression is an outcome of a version (its label outcome)
	// worse than its previous or live version's.
	OutcomeRegression = "OutcomeRegression"
)

// Name returns the alertname for a diagnosis, or "" for the diagnoses that
// never alert (ok, insufficient_data, no_baseline).
func Name(d drift.Diagnosis) string {
	switch d {
	case drift.UnscaledInput, drift.DoubleScaled, drift.ScaleChange, drift.Shift,
		drift.ScalerRefit, drift.RangeViolation, drift.ScoreCompression:
		return NormalizationDrift
	case drift.DistributionChange:
		return FeatureDrift
	case drift.EmbeddingUnnormalized, drift.EmbeddingMixedNorms,
		drift.EmbeddingModelChange, drift.EmbeddingDimMismatch,
		// The retrieval and activation signals are reported on their
		// embedding: one alert per subject.
		drift.SimilarityCompressed, drift.ActivationNormChange, drift.RetrievalRegression:
		return EmbeddingDrift
	case drift.MissingSpike, drift.NonFiniteValues:
		return DataQuality
	case drift.OutcomeRegression, drift.QueryNormalizationSuspect:
		return OutcomeRegression
	}
	return ""
}

// State is where an alert is in its lifecycle.
type State int

// States.
const (
	Inactive State = iota
	Pending
	Firing
)

// MarshalText encodes the state as its name.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func (s State) String() string {
	switch s {
	case Pending:
		return "pending"
	case Firing:
		return "firing"
	}
	return "inactive"
}

// Alert is one alert instance as sinks see it.
type Alert struct {
	Labels      Labels            `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       State             `json:"state"`
	// ActiveAt is when the first breach was seen, FiredAt when it started
	// firing, ResolvedAt when it resolved (zero while not resolved). A zero
	// time is left out of the JSON (/api/v1/alerts), rather than shown as
	// 0001-01-01T00:00:00Z.
	ActiveAt   time.Time `json:"active_at"`
	FiredAt    time.Time `json:"fired_at,omitzero"`
	ResolvedAt time.Time `json:"resolved_at,omitzero"`
	// Values are the report's figures behind the alert, by stable name.
	Values map[string]float64 `json:"values"`
}

// Fingerprint identifies the label set, as Alertmanager does: a hash of
// the sorted labels.
func (a Alert) Fingerprint() string { return a.Labels.Fingerprint() }

// Labels is a sorted, immutable label set.
type Labels []Label

// Label is one label.
type Label struct{ Name, Value string }

// Get returns the value of the label name, or "".
func (l Labels) Get(name string) string {
	for _, x := range l {
		if x.Name == name {
			return x.Value
		}
	}
	return ""
}

// MarshalJSON encodes the labels as an object.
func (l Labels) MarshalJSON() ([]byte, error) { return json.Marshal(l.Map()) }

// UnmarshalJSON decodes the labels from an object.
func (l *Labels) UnmarshalJSON(b []byte) error {
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	kv := make([]string, 0, 2*len(m))
	for k, v := range m {
		kv = append(kv, k, v)
	}
	*l = makeLabels(kv...)
	return nil
}

// Map returns the labels as a map.
func (l Labels) Map() map[string]string {
	m := make(map[string]string, len(l))
	for _, x := range l {
		m[x.Name] = x.Value
	}
	return m
}

// Fingerprint hashes the label set.
func (l Labels) Fingerprint() string {
	h := fnv.New64a()
	for _, x := range l {
		h.Write([]byte(x.Name))
		h.Write([]byte{0xff})
		h.Write([]byte(x.Value))
		h.Write([]byte{0xff})
	}
	return fmt.Sprintf("%016x", h.Sum64())
}

func (l Labels) String() string {
	parts := make([]string, len(l))
	for i, x := range l {
		parts[i] = x.Name + "=" + strconv.Quote(x.Value)
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func makeLabels(kv ...string) Labels {
	l := make(Labels, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			l = append(l, Label{kv[i], kv[i+1]})
		}
	}
	slices.SortFunc(l, func(a, b Label) int { return strings.Compare(a.Name, b.Name) })
	return l
}

// Change is a state change of one alert: what sinks are told.
type Change struct {
	Alert Alert
	// From and To are the states before and after; a resolution is
	// Firing to Inactive with Alert.ResolvedAt set, and Firing to Firing
	// is an alert taken over firing from another process (RestoreVersion).
	From, To State
}

// Sink receives state changes. Notify must not block for long: sinks that
// talk to the network queue.
type Sink interface {
	Notify(changes []Change)
}

// Options configures a Manager.
type Options struct {
	// ForEvaluations is how many consecutive breaching evaluations make a
	// pending alert fire (1 fires at once).
	ForEvaluations int
	// ResolveAfter is how many consecutive clean evaluations resolve a
	// firing alert.
	ResolveAfter int
	// RunbookURL and DashboardURL are templates for the annotations:
	// {alertname}, {model}, {model_version}, {subject} and {diagnosis}
	// are replaced.
	RunbookURL, DashboardURL string
}

// Validate reports the first bad option.
func (o Options) Validate() error {
	switch {
	case o.ForEvaluations < 1:
		return fmt.Errorf("alert: for_evaluations %d must be at least 1", o.ForEvaluations)
	case o.ResolveAfter < 1:
		return fmt.Errorf("alert: resolve_after %d must be at least 1", o.ResolveAfter)
	}
	return nil
}

// Manager runs the lifecycle of every alert. It is safe for concurrent use.
type Manager struct {
	opts  Options
	sinks []Sink

	mu     sync.Mutex
	alerts map[key]*tracked
	// held are the changes kept back per hold (ObserveHeld, RetireHeld)
	// until TakeHeld, in order.
	held map[string][]Change
}

type key struct{ model, version, kind, subject string }

type tracked struct {
	alert         Alert
	breaches      int // consecutive breaching evaluations
	clean         int // consecutive clean evaluations
	lastEvaluated time.Time
}

// NewManager returns a Manager that tells sinks of every state change.
func NewManager(opts Options, sinks ...Sink) (*Manager, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	return &Manager{opts: opts, sinks: sinks, alerts: map[key]*tracked{}, held: map[string][]Change{}}, nil
}

// finding is one subject's outcome in an evaluation.
type finding struct {
	kind, subject string // kind is "feature", "embedding" or "outcome"
	diagnosis     drift.Diagnosis
	severity      drift.Severity
	summary       string
	values        map[string]float64
}

// Observe feeds one evaluation of a model version and returns the state
// changes it caused, which sinks are also told of. Subjects of the model
// version that the report does not mention count as clean.
func (m *Manager) Observe(model, version string, rep drift.Report, at time.Time) []Change {
	return m.observe("", model, version, rep, at)
}

// ObserveHeld is Observe, but the changes the evaluation causes are kept
// back under hold (an evaluation stage partition) instead of told to the
// sinks, until TakeHeld: the stage sends them once the checkpoint that
// records the evaluation is saved and the partition is still its own.
func (m *Manager) ObserveHeld(hold, model, version string, rep drift.Report, at time.Time) []Change {
	return m.observe(hold, model, version, rep, at)
}

// TakeHeld returns and forgets the changes kept back under hold, in the
// order they were made; Deliver tells them to the sinks.
func (m *Manager) TakeHeld(hold string) []Change {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.held[hold]
	delete(m.held, hold)
	return out
}

// ReturnHeld puts changes taken from hold back before those kept since,
// when whether they may be sent could not be told yet.
func (m *Manager) ReturnHeld(hold string, changes []Change) {
	if len(changes) == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.held[hold] = append(slices.Clip(changes), m.held[hold]...)
}

// Deliver tells the sinks of changes taken with TakeHeld.
func (m *Manager) Deliver(changes []Change) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.notify(changes)
}

// tell notifies the sinks of changes, or keeps them under hold. Called
// with mu held.
func (m *Manager) tell(hold string, changes []Change) {
	if hold == "" {
		m.notify(changes)
	} else if len(changes) > 0 {
		m.held[hold] = append(m.held[hold], changes...)
	}
}

func (m *Manager) observe(hold, model, version string, rep drift.Report, at time.Time) []Change {
	var findings []finding
	for _, f := range rep.Features {
		findings = append(findings, finding{"feature", f.Name, f.Diagnosis, f.Severity, f.Summary, map[string]float64{
			"psi": f.PSI, "ks": f.KS, "wasserstein": f.Wasserstein, "scale": f.Scale,
			"offset": f.Offset, "fit_r2": f.FitR2, "missing_ratio": f.MissingRatio,
			"nonfinite_ratio": f.NonFiniteRatio, "confidence": f.Confidence,
		}})
	}
	for _, e := range rep.Embeddings {
		findings = append(findings, finding{"embedding", e.Name, e.Diagnosis, e.Severity, e.Summary, map[string]float64{
			"unit_norm_ratio": e.UnitNormRatio, "centroid_cosine": e.CentroidCosine,
			"norm_ks": e.NormKS, "dims_moved_ratio": e.DimsMovedRatio, "confidence": e.Confidence,
		}})
	}
	findings = append(findings, outcomeFindings(rep.Outcomes)...)

	m.mu.Lock()
	defer m.mu.Unlock()
	var changes []Change
	seen := map[key]bool{}
	for _, f := range findings {
		name := Name(f.diagnosis)
		if name == "" || f.severity == drift.SeverityOK {
			continue
		}
		k := key{model, version, f.kind, f.subject}
		seen[k] = true
		changes = append(changes, m.breach(k, name, f, at)...)
	}
	// A subject without enough evidence either way (too few values in
	// the horizon, an outcome's move beyond its points that is not
	// significant) leaves its alert as it is: thin traffic neither pages
	// nor resolves, so an alert does not flap as the horizon's count
	// crosses min_samples. A version that stops sending resolves by its
	// lifecycle (stale, retired).
	for _, f := range findings {
		if f.diagnosis == drift.InsufficientData {
			seen[key{model, version, f.kind, f.subject}] = true
		}
	}
	for k, t := range m.alerts {
		if k.model != model || k.version != version || seen[k] {
			continue
		}
		changes = append(changes, m.cleanEvaluation(k, t, at)...)
	}
	m.tell(hold, changes)
	return changes
}

func (m *Manager) breach(k key, alertname string, f finding, at time.Time) []Change {
	labels := makeLabels("alertname", alertname, "model", k.model, "model_version", k.version,
		k.kind, k.subject, "severity", f.severity.String(), "diagnosis", string(f.diagnosis))
	subject := drift.Subject(k.subject, k.model, k.version)
	ann := map[string]string{
		"summary": drift.Sentence(subject, f.summary),
		"description": fmt.Sprintf("normwatch diagnosed %s (%s) for %s %s of model %s version %s.",
			f.diagnosis, f.severity, k.kind, k.subject, k.model, k.version),
	}
	for name, tmpl := range map[string]string{"runbook_url": m.opts.RunbookURL, "dashboard_url": m.opts.DashboardURL} {
		if tmpl != "" {
			ann[name] = strings.NewReplacer("{alertname}", alertname, "{model}", k.model,
				"{model_version}", k.version, "{subject}", k.subject, "{diagnosis}", string(f.diagnosis)).Replace(tmpl)
		}
	}

	t, ok := m.alerts[k]
	if !ok {
		t = &tracked{alert: Alert{ActiveAt: at}}
		m.alerts[k] = t
	}
	var changes []Change
	prev := t.alert
	if prev.State == Firing && prev.Labels.Fingerprint() != labels.Fingerprint() {
		// The alertname, severity or diagnosis changed while firing:
		// resolve the old label set and fire the new one in the same
		// notification.
		resolved := prev
		resolved.ResolvedAt = at
		resolved.State = Inactive
		changes = append(changes, Change{Alert: resolved, From: Firing, To: Inactive})
		t.alert = Alert{ActiveAt: at, FiredAt: at, State: Firing}
		t.breaches = m.opts.ForEvaluations
	}
	t.breaches++
	t.clean = 0
	t.lastEvaluated = at
	t.alert.Labels, t.alert.Annotations, t.alert.Values = labels, ann, f.values
	from := t.alert.State
	switch {
	case from == Firing:
		if len(changes) > 0 {
			changes = append(changes, Change{Alert: t.alert, From: Inactive, To: Firing})
		}
	case t.breaches >= m.opts.ForEvaluations:
		t.alert.State = Firing
		t.alert.FiredAt = at
		changes = append(changes, Change{Alert: t.alert, From: from, To: Firing})
	case from == Inactive:
		t.alert.State = Pending
		changes = append(changes, Change{Alert: t.alert, From: Inactive, To: Pending})
	}
	return changes
}

func (m *Manager) cleanEvaluation(k key, t *tracked, at time.Time) []Change {
	t.clean++
	t.breaches = 0
	t.lastEvaluated = at
	switch t.alert.State {
	case Pending:
		delete(m.alerts, k)
		a := t.alert
		a.State = Inactive
		return []Change{{Alert: a, From: Pending, To: Inactive}}
	case Firing:
		if t.clean < m.opts.ResolveAfter {
			return nil
		}
		delete(m.alerts, k)
		a := t.alert
		a.State = Inactive
		a.ResolvedAt = at
		return []Change{{Alert: a, From: Firing, To: Inactive}}
	}
	delete(m.alerts, k)
	return nil
}

func (m *Manager) notify(changes []Change) {
	if len(changes) == 0 {
		return
	}
	for _, s := range m.sinks {
		s.Notify(changes)
	}
}

// Active returns the pending and firing alerts, sorted by fingerprint.
func (m *Manager) Active() []Alert {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Alert, 0, len(m.alerts))
	for _, t := range m.alerts {
		if t.alert.State != Inactive {
			out = append(out, t.alert)
		}
	}
	slices.SortFunc(out, func(a, b Alert) int { return strings.Compare(a.Labels.String(), b.Labels.String()) })
	return out
}

// Retire resolves every alert of a model version that is no longer
// tracked, so nothing stays firing for a version that stopped.
func (m *Manager) Retire(model, version string, at time.Time) []Change {
	return m.RetireHeld("", model, version, at)
}

// RetireHeld is Retire with the resolutions kept back under hold, as
// ObserveHeld keeps changes ("" tells the sinks at once).
func (m *Manager) RetireHeld(hold, model, version string, at time.Time) []Change {
	m.mu.Lock()
	defer m.mu.Unlock()
	var changes []Change
	for k, t := range m.alerts {
		if k.model != model || k.version != version {
			continue
		}
		delete(m.alerts, k)
		if t.alert.State == Firing {
			a := t.alert
			a.State, a.ResolvedAt = Inactive, at
			changes = append(changes, Change{Alert: a, From: Firing, To: Inactive})
		}
	}
	m.tell(hold, changes)
	return changes
}

// ErrClosed is returned by sinks used after Close.
var ErrClosed = errors.New("alert: sink closed")

// Forgetter is a Sink that keeps alerts of its own beyond the changes it
// is told of (the Alertmanager sink re-sends firing ones and recent
// resolutions). Forget drops those of model/version without a notice:
// their lifecycle moved to another process, which holds them now.
type Forgetter interface {
	Sink
	Forget(model, version string)
}

// versionState is the JSON of ExportVersion: the tracked alerts of one
// model version, with their hysteresis.
type versionState struct {
	Alerts []trackedState `json:"alerts"`
}

type trackedState struct {
	Kind          string            `json:"kind"`
	Subject       string            `json:"subject"`
	Labels        Labels            `json:"labels"`
	Annotations   map[string]string `json:"annotations,omitempty"`
	State         string            `json:"state"`
	ActiveAt      time.Time         `json:"active_at"`
	FiredAt       time.Time         `json:"fired_at,omitzero"`
	Values        map[string]string `json:"values,omitempty"` // strconv 'g': NaN and ±Inf too
	Breaches      int               `json:"breaches"`
	Clean         int               `json:"clean"`
	LastEvaluated time.Time         `json:"last_evaluated,omitzero"`
}

// ExportVersion returns the lifecycle state of model/version's alerts
// (pending and firing, their consecutive breaching and clean evaluations,
// when each became active and fired), for RestoreVersion to take over
// elsewhere: the evaluation stage of a cluster checkpoints it with the
// partition that judges the version.
func (m *Manager) ExportVersion(model, version string) ([]byte, error) {
	m.mu.Lock()
	var st versionState
	for k, t := range m.alerts {
		if k.model != model || k.version != version {
			continue
		}
		ts := trackedState{
			Kind: k.kind, Subject: k.subject, Labels: t.alert.Labels, Annotations: t.alert.Annotations,
			State: t.alert.State.String(), ActiveAt: t.alert.ActiveAt, FiredAt: t.alert.FiredAt,
			Breaches: t.breaches, Clean: t.clean, LastEvaluated: t.lastEvaluated,
		}
		if len(t.alert.Values) > 0 {
			ts.Values = make(map[string]string, len(t.alert.Values))
			for n, v := range t.alert.Values {
				ts.Values[n] = strconv.FormatFloat(v, 'g', -1, 64)
			}
		}
		st.Alerts = append(st.Alerts, ts)
	}
	m.mu.Unlock()
	slices.SortFunc(st.Alerts, func(a, b trackedState) int {
		return strings.Compare(a.Kind+"\xff"+a.Subject, b.Kind+"\xff"+b.Subject)
	})
	b, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("alert: encoding the alert state of %s %s: %w", model, version, err)
	}
	return b, nil
}

func parseState(s string) (State, error) {
	switch s {
	case "pending":
		return Pending, nil
	case "firing":
		return Firing, nil
	case "inactive":
		return Inactive, nil
	}
	return Inactive, fmt.Errorf("unknown alert state %q", s)
}

// RestoreVersion takes over the alerts of model/version from a state
// ExportVersion returned (in this process or another), replacing what this
// Manager tracked of the version: the lifecycle goes on exactly where the
// export left it. A firing alert is told to the sinks again, as a change
// from Firing to Firing with its original ActiveAt (Alertmanager's
// startsAt), so that they hold it; an alert this Manager tracked that the
// state does not hold is dropped without a notice (Forgetter sinks forget
// it), as its lifecycle was decided where the state was exported. It
// returns the changes told.
func (m *Manager) RestoreVersion(model, version string, data []byte) ([]Change, error) {
	var st versionState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("alert: decoding the alert state of %s %s: %w", model, version, err)
	}
	restored := make(map[key]*tracked, len(st.Alerts))
	for _, ts := range st.Alerts {
		state, err := parseState(ts.State)
		if err != nil {
			return nil, fmt.Errorf("alert: the alert state of %s %s: %w", model, version, err)
		}
		if state == Inactive || ts.Labels.Get("model") != model || ts.Labels.Get("model_version") != version {
			return nil, fmt.Errorf("alert: the alert state of %s %s holds %s alert %v", model, version, state, ts.Labels)
		}
		t := &tracked{alert: Alert{Labels: ts.Labels, Annotations: ts.Annotations, State: state,
			ActiveAt: ts.ActiveAt, FiredAt: ts.FiredAt}, breaches: ts.Breaches, clean: ts.Clean, lastEvaluated: ts.LastEvaluated}
		if len(ts.Values) > 0 {
			t.alert.Values = make(map[string]float64, len(ts.Values))
			for n, v := range ts.Values {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					return nil, fmt.Errorf("alert: the alert state of %s %s: value %s: %w", model, version, n, err)
				}
				t.alert.Values[n] = f
			}
		}
		restored[key{model, version, ts.Kind, ts.Subject}] = t
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	dropped := false
	for k := range m.alerts {
		if k.model == model && k.version == version {
			if _, ok := restored[k]; !ok {
				dropped = true
			}
			delete(m.alerts, k)
		}
	}
	if dropped {
		m.forget(model, version)
	}
	var changes []Change
	for k, t := range restored {
		m.alerts[k] = t
		if t.alert.State == Firing {
			changes = append(changes, Change{Alert: t.alert, From: Firing, To: Firing})
		}
	}
	slices.SortFunc(changes, func(a, b Change) int { return strings.Compare(a.Alert.Labels.String(), b.Alert.Labels.String()) })
	m.notify(changes)
	return changes, nil
}

// ReleaseVersion drops the alerts of model/version without a notice, and
// has Forgetter sinks forget them: their lifecycle moved to another
// process (its evaluation stage partition did), which holds them firing
// or pending as they are here. A version that stopped is Retire's, which
// resolves its alerts. It returns how many alerts were dropped.
func (m *Manager) ReleaseVersion(model, version string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for k := range m.alerts {
		if k.model == model && k.version == version {
			delete(m.alerts, k)
			n++
		}
	}
	m.forget(model, version)
	return n
}

// forget tells the Forgetter sinks to drop model/version's alerts.
// Called with mu held, as notify is.
func (m *Manager) forget(model, version string) {
	for _, s := range m.sinks {
		if f, ok := s.(Forgetter); ok {
			f.Forget(model, version)
		}
	}
}

// outcomeFindings makes one finding per outcome (drift.WorstOutcomes), so
// that one outcome pages once.
func outcomeFindings(reps []drift.OutcomeReport) []finding {
	var out []finding
	for _, o := range drift.WorstOutcomes(reps) {
		out = append(out, finding{"outcome", o.Name, o.Diagnosis, o.Severity, o.Summary, map[string]float64{
			"delta_points": o.DeltaPoints, "p_value": o.PValue, "mean": o.Mean, "ref_mean": o.RefMean,
		}})
	}
	return out
}
