package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/normwatch/normwatch/pkg/alert"
	"github.com/normwatch/normwatch/pkg/drift"
	"github.com/normwatch/normwatch/pkg/sketch"
	"github.com/normwatch/normwatch/pkg/stream"
)

// alertRecorder is an alert sink that keeps every change and the versions
// it was told to forget.
type alertRecorder struct {
	mu      sync.Mutex
	changes []alert.Change
	forgot  []string
}

func (r *alertRecorder) Notify(cs []alert.Change) {
	r.mu.Lock()
	r.changes = append(r.changes, cs...)
	r.mu.Unlock()
}

func (r *alertRecorder) Forget(model, version string) {
	r.mu.Lock()
	r.forgot = append(r.forgot, model+" "+version)
	r.mu.Unlock()
}

func (r *alertRecorder) all() []alert.Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]alert.Change(nil), r.changes...)
}

func (r *alertRecorder) states() []string {
	var out []string
	for _, c := range r.all() {
		out = append(out, c.From.String()+">"+c.To.String())
	}
	return out
}

// alertStates is the engine's state sink of an alert.Manager, as
// cmd/monitor wires it.
type alertStates struct{ m *alert.Manager }

func (s alertStates) Publish(e Evaluation) {
	s.m.ObserveHeld(e.Stage, e.Model, e.Version, e.Report, e.EvaluatedAt)
}
func (s alertStates) Lifecycle(l Lifecycle) {
	if l.State != StateActive {
		s.m.RetireHeld(l.Stage, l.Model, l.Version, l.At)
	}
}
func (s alertStates) TakeHeld(stage string) Held {
	return &heldChanges{m: s.m, stage: stage, changes: s.m.TakeHeld(stage)}
}

type heldChanges struct {
	m       *alert.Manager
	stage   string
	changes []alert.Change
}

func (h *heldChanges) Deliver()  { h.m.Deliver(h.changes) }
func (h *heldChanges) Discard()  {}
func (h *heldChanges) Keep()     { h.m.ReturnHeld(h.stage, h.changes) }
func (h *heldChanges) Len() int  { return len(h.changes) }
func (alertStates) Name() string { return "alerts" }
func (s alertStates) ExportState(model, version string) ([]byte, error) {
	return s.m.ExportVersion(model, version)
}
func (s alertStates) RestoreState(model, version string, state []byte) error {
	_, err := s.m.RestoreVersion(model, version, state)
	return err
}
func (s alertStates) ReleaseState(model, version string) { s.m.ReleaseVersion(model, version) }

func newAlerts(t *testing.T) (alertStates, *alertRecorder) {
	t.Helper()
	rec := &alertRecorder{}
	m, err := alert.NewManager(alert.Options{ForEvaluations: 2, ResolveAfter: 2}, rec)
	require.NoError(t, err)
	return alertStates{m}, rec
}

// scalerBaseline: m/v1's f1 standardized from mean 50, std 10.
func scalerBaseline() baselines {
	return baselines{"m/v1": func() drift.Set {
		r := rand.New(rand.NewPCG(3, 3))
		f1 := sketch.NewNumeric()
		for range 4000 {
			f1.Add(r.NormFloat64())
		}
		return drift.Set{Features: map[string]drift.FeatureSketch{
			"f1": {Sketch: f1, Norm: drift.Normalization{Kind: drift.ScalerZScore, Mean: 50, Std: 10}},
		}}
	}}
}

// scalerRecords are the partial records of one source partition of m/v1:
// f1 raw (the scaler skipped) for the first bad windows, standardized for
// the next good ones, then a flush event that closes them all.
func scalerRecords(t *testing.T, bad, good int) []stream.Record {
	t.Helper()
	w := &captureWriter{}
	in, _ := newEngine(t, clusterOptions(w), nil, nil)
	runEngine(t, in)
	p := open(t, in, 0)
	r := rand.New(rand.NewPCG(5, 5))
	off := int64(0)
	for win := range bad + good {
		for i := range 200 {
			raw := normal(r, 50, 10)
			f1 := raw
			if win >= bad {
				f1 = (raw - 50) / 10
			}
			require.NoError(t, p.Apply(off, event(t0.Add(time.Duration(win)*time.Minute+time.Duration(i)*250*time.Millisecond), "m", "v1", "f1", f1)))
			off++
		}
		if win == 0 {
			_, err := p.Checkpoint() // the source's first watermark
			require.NoError(t, err)
		}
	}
	require.NoError(t, p.Apply(off, event(t0.Add(time.Duration(bad+good+3)*time.Minute), "flush", "v0", "x", 1.0)))
	_, err := p.Checkpoint()
	require.NoError(t, err)
	return w.take()
}

func applyRecords(t *testing.T, sp stream.PartitionProcessor, from int, recs []stream.Record) {
	t.Helper()
	for i, r := range recs {
		require.NoError(t, sp.(stream.RawPartitionProcessor).ApplyRaw(int64(from+i), r.Key, r.Value))
	}
}

// TestStageAlertsMove: a firing alert survives its stage partition moving
// from one engine to another through the checkpoint store. The engine
// that let the partition go sends no resolution (its copy is dropped,
// the Alertmanager sink forgets it), also when it releases the version
// after ReleaseWait; the engine that restores it tells its sinks the alert
// is firing, with its original ActiveAt, and resolves it after
// resolve_after clean evaluations: the changes of the two together are
// those of one engine that judged every window.
func TestStageAlertsMove(t *testing.T) {
	recs := scalerRecords(t, 4, 8)

	// The reference: one stage judges every window.
	refSink, refRec := newAlerts(t)
	refEvals := &collect{}
	ref, _ := newEngine(t, clusterOptions(&captureWriter{}), scalerBaseline(), nil, refSink, refEvals)
	runEngine(t, ref)
	rsp, err := ref.Stage(nil).OpenPartition("partials", 0)
	require.NoError(t, err)
	applyRecords(t, rsp, 0, recs)
	_, err = rsp.Checkpoint()
	require.NoError(t, err)
	const windows = 12
	waitFor(t, "the reference's evaluations", func() bool { return len(refEvals.all()) == windows })
	waitFor(t, "the reference's alerts", func() bool { return len(refRec.all()) == 3 })
	refStates := refRec.states()
	require.Equal(t, []string{"inactive>pending", "pending>firing", "firing>inactive"}, refStates)

	// The first owner: records until the alert fires and a window more.
	store := newMemStore()
	o := clusterOptions(&captureWriter{})
	o.Cluster.ReleaseWait = 10 * time.Millisecond
	sink1, rec1 := newAlerts(t)
	evals1 := &collect{}
	s1, _ := newEngine(t, o, scalerBaseline(), store, sink1, evals1)
	runEngine(t, s1)
	sp1, err := s1.Stage(nil).OpenPartition("partials", 0)
	require.NoError(t, err)
	cut := 0
	for cut < len(recs) && testutil.ToFloat64(s1.m.evaluations) < 3 {
		applyRecords(t, sp1, cut, recs[cut:cut+1])
		cut++
		s1.ev.sync(time.Second)
	}
	// The changes wait for the checkpoint that records them.
	waitFor(t, "the alert firing in the manager", func() bool {
		a := sink1.m.Active()
		return len(a) == 1 && a[0].State == alert.Firing
	})
	require.Empty(t, rec1.all(), "notices sent before the checkpoint that records them")
	_, err = sp1.Checkpoint()
	require.NoError(t, err)
	require.Equal(t, []string{"inactive>pending", "pending>firing"}, rec1.states())
	firing := rec1.all()[1].Alert
	require.NoError(t, sp1.Close())
	waitFor(t, "the version released", func() bool { return testutil.ToFloat64(s1.m.stageReleased) == 1 })
	s1.ev.sync(time.Second)
	require.Equal(t, []string{"inactive>pending", "pending>firing"}, rec1.states(), "a resolution sent by the engine that let the partition go")
	require.Equal(t, []string{"m v1"}, rec1.forgot)
	require.Empty(t, sink1.m.Active())

	// The next owner restores it, and the lifecycle goes on.
	sink2, rec2 := newAlerts(t)
	evals2 := &collect{}
	s2, _ := newEngine(t, o, scalerBaseline(), store, sink2, evals2)
	runEngine(t, s2)
	sp2, err := s2.Stage(nil).OpenPartition("partials", 0)
	require.NoError(t, err)
	waitFor(t, "the alert taken over", func() bool { return len(rec2.all()) == 1 })
	took := rec2.all()[0]
	require.Equal(t, alert.Firing, took.From)
	require.Equal(t, alert.Firing, took.To)
	require.Equal(t, firing.Labels, took.Alert.Labels)
	require.True(t, firing.ActiveAt.Equal(took.Alert.ActiveAt), "original ActiveAt")
	require.True(t, firing.FiredAt.Equal(took.Alert.FiredAt), "original FiredAt")
	applyRecords(t, sp2, cut, recs[cut:])
	_, err = sp2.Checkpoint()
	require.NoError(t, err)
	waitFor(t, "every window judged", func() bool { return len(evals1.all())+len(evals2.all()) == windows })
	waitFor(t, "the resolution", func() bool { return len(rec2.all()) == 2 })
	require.Equal(t, []string{"firing>firing", "firing>inactive"}, rec2.states())
	resolved := rec2.all()[1].Alert
	require.True(t, firing.ActiveAt.Equal(resolved.ActiveAt))
	require.False(t, resolved.ResolvedAt.IsZero())
	// Resolved after the same window as the reference's resolution.
	resolvedAt := func(evs []Evaluation, rec *alertRecorder) time.Time {
		for _, c := range rec.all() {
			if c.From == alert.Firing && c.To == alert.Inactive {
				for _, e := range evs {
					if e.EvaluatedAt.Equal(c.Alert.ResolvedAt) {
						return e.WindowStart
					}
				}
			}
		}
		return time.Time{}
	}
	require.Equal(t, resolvedAt(refEvals.all(), refRec), resolvedAt(evals2.all(), rec2))
}

// TestStageRetiredResolves: a version judged by a restored stage partition
// that truly retires (idle timeout) still resolves its firing alert.
func TestStageRetiredResolves(t *testing.T) {
	recs := scalerRecords(t, 3, 0)
	sink, rec := newAlerts(t)
	st, _ := newEngine(t, clusterOptions(&captureWriter{}), scalerBaseline(), nil, sink)
	runEngine(t, st)
	sp, err := st.Stage(nil).OpenPartition("partials", 0)
	require.NoError(t, err)
	applyRecords(t, sp, 0, recs)
	_, err = sp.Checkpoint()
	require.NoError(t, err)
	require.Equal(t, []string{"inactive>pending", "pending>firing"}, rec.states())
	s := st.reg.lookup("m", "v1")
	require.NotNil(t, s)
	at := time.Now()
	st.retireSeries(s, StateRetired, "idle", at)
	waitFor(t, "the alert gone from the manager", func() bool { return len(sink.m.Active()) == 0 })
	require.Len(t, rec.all(), 2, "the resolution waits for the partition's checkpoint")
	_, err = sp.Checkpoint()
	require.NoError(t, err)
	require.Equal(t, []string{"inactive>pending", "pending>firing", "firing>inactive"}, rec.states())
	require.True(t, at.UTC().Equal(rec.all()[2].Alert.ResolvedAt))
}

// TestStageCheckpointV1: a stage checkpoint of format 1 (written by the
// build before the alerts' states went into it, in testdata with the
// records of scalerRecords(4, 8) it was made of, half of them applied)
// restores: the stage goes on from its offset and judges every later
// window once, as one stage fed every record; its alerts start over.
func TestStageCheckpointV1(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "stage-checkpoint-v1.bin"))
	require.NoError(t, err)
	raw, err := os.ReadFile(filepath.Join("testdata", "stage-checkpoint-v1-records.bin"))
	require.NoError(t, err)
	var recs []stream.Record
	for len(raw) > 0 {
		var r stream.Record
		for _, f := range []*[]byte{&r.Key, &r.Value} {
			n, k := binary.Uvarint(raw)
			require.Positive(t, k)
			*f, raw = raw[k:k+int(n)], raw[k+int(n):]
		}
		recs = append(recs, r)
	}
	half := len(recs) / 2
	store := newMemStore()
	require.NoError(t, store.Save("partials", 0, data))
	sink, rec := newAlerts(t)
	evals := &collect{}
	st, _ := newEngine(t, clusterOptions(&captureWriter{}), scalerBaseline(), store, sink, evals)
	runEngine(t, st)
	sp, err := st.Stage(nil).OpenPartition("partials", 0)
	require.NoError(t, err)
	require.Equal(t, int64(half-1), sp.Offset())
	applyRecords(t, sp, half, recs[half:])
	_, err = sp.Checkpoint()
	require.NoError(t, err)

	// The reference's windows from the first this one judges.
	ref := &collect{}
	one, _ := newEngine(t, clusterOptions(&captureWriter{}), scalerBaseline(), nil, ref)
	runEngine(t, one)
	rsp, err := one.Stage(nil).OpenPartition("partials", 0)
	require.NoError(t, err)
	applyRecords(t, rsp, 0, recs)
	_, err = rsp.Checkpoint()
	require.NoError(t, err)
	waitFor(t, "the reference's evaluations", func() bool { return len(ref.all()) == 12 })
	got := evals.all()
	require.NotEmpty(t, got)
	first := got[0].WindowStart
	var want []Evaluation
	for _, e := range ref.all() {
		if !e.WindowStart.Before(first) {
			want = append(want, e)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(evals.all()) < len(want) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	var gotKeys, wantKeys []string
	for _, e := range evals.all() {
		gotKeys = append(gotKeys, evalKey(e))
	}
	for _, e := range want {
		wantKeys = append(wantKeys, evalKey(e))
	}
	require.Equal(t, wantKeys, gotKeys)
	for i, e := range evals.all() {
		requireSameReports(t, want[i], e, 1e-9)
	}
	for _, c := range rec.all() {
		require.NotEqual(t, alert.Firing, c.From, "an alert taken over from a checkpoint without alerts: %v", c)
	}

	// Saved again, it is of format 2 and round-trips.
	again, err := store.Load("partials", 0)
	require.NoError(t, err)
	require.Equal(t, byte(stageVersion), again[len(stageMagic)])
}

// ownedStore is a checkpoint store whose partitions are owned as owned
// says: nil, an error wrapping stream.ErrFenced, or another error.
type ownedStore struct {
	*memStore
	mu    sync.Mutex
	owned error
}

func (s *ownedStore) set(err error) {
	s.mu.Lock()
	s.owned = err
	s.mu.Unlock()
}

func (s *ownedStore) Owned(string, int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.owned
}

// TestStageFence: the alert changes of the stage's judgements go out only
// after the checkpoint that records them is saved and the partition is
// confirmed still owned. While that cannot be told they wait, in order,
// for the next checkpoint; a fenced partition (a zombie: a newer owner
// restored it) sends nothing of them, counted, nor of anything it judges
// afterwards.
func TestStageFence(t *testing.T) {
	recs := scalerRecords(t, 4, 8)
	store := &ownedStore{memStore: newMemStore()}
	sink, rec := newAlerts(t)
	st, _ := newEngine(t, clusterOptions(&captureWriter{}), scalerBaseline(), store, sink)
	runEngine(t, st)
	sp, err := st.Stage(nil).OpenPartition("partials", 0)
	require.NoError(t, err)
	cut := 0
	for cut < len(recs) && testutil.ToFloat64(st.m.evaluations) < 2 {
		applyRecords(t, sp, cut, recs[cut:cut+1])
		cut++
		st.ev.sync(time.Second)
	}
	store.set(errors.New("coordinator out of reach"))
	_, err = sp.Checkpoint()
	require.NoError(t, err, "the checkpoint is saved; only its notices wait")
	require.Empty(t, rec.all())
	store.set(nil)
	_, err = sp.Checkpoint()
	require.NoError(t, err)
	require.Equal(t, []string{"inactive>pending", "pending>firing"}, rec.states(), "kept, then sent in order")
	require.Zero(t, testutil.ToFloat64(st.m.stageWithheld))

	// Paused past its session timeout, resumed: it judges the rest
	// before it learns of the rebalance, and sends none of it.
	applyRecords(t, sp, cut, recs[cut:])
	fenced := fmt.Errorf("%w: a newer generation holds it", stream.ErrFenced)
	store.set(fenced)
	waitFor(t, "the resolution in the manager", func() bool { return len(sink.m.Active()) == 0 })
	_, err = sp.Checkpoint()
	require.ErrorIs(t, err, stream.ErrFenced)
	require.Len(t, rec.all(), 2, "a fenced partition's notices sent")
	require.Equal(t, 1.0, testutil.ToFloat64(st.m.stageWithheld), "the resolution withheld")
	require.NoError(t, sp.Close())
	st.ev.sync(time.Second)
	require.Len(t, rec.all(), 2)
}
