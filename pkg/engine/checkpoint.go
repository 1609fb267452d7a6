package engine

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
	"time"

	"github.com/normwatch/normwatch/pkg/sketch"
)

// A checkpoint is the whole state of one partition, self-contained:
//
//	"NWEC" version(6)
//	offset, largest event time, has-time, closed-through
//	per model version: model, version, end of the last window evaluated,
//	  newest event time and wall time last seen (version 2),
//	  feature names, embedding names (their order numbers the sketches),
//	  open windows, late events, cumulative snapshot, horizon windows,
//	  each window with its embeddings' signals after its vectors (version 4;
//	  frozen-query aggregates among them from version 5)
//	  then (version 6) its first event time and its windows' outcomes (outcomes.go)
//	CRC-32C of everything before it, little-endian
//
// Integers are varints, strings and sketches length-prefixed, sketches in
// their own binary forms (from version 3, a numeric sketch may be in the
// form that keeps its values raw, which version 2 readers do not know). Feature indexes are the checkpoint's own: the
// process's registry indexes are assigned anew on restore, by name and
// within the limits of the restoring process.
const (
	checkpointMagic   = "NWEC"
	checkpointVersion = 6
	// checkpointV1 to checkpointV5 are read too: version 5 is version 6
	// without the outcomes (outcomes.go), version 4 that without the
	// frozen-query aggregates among the signals (signals.go),
	// version 3 that without the embeddings' signals, version 2 that with
	// every sketch folded, version 1 that without the activity of
	// versions.
	checkpointV1 = 1
	checkpointV2 = 2
	checkpointV3 = 3
	checkpointV4 = 4
	checkpointV5 = 5
)

// ErrCorrupt is wrapped by the errors of a checkpoint that does not decode.
var ErrCorrupt = errors.New("engine: corrupt checkpoint")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type ckWriter struct{ b []byte }

func (w *ckWriter) u(v uint64) { w.b = binary.AppendUvarint(w.b, v) }
func (w *ckWriter) i(v int64)  { w.b = binary.AppendVarint(w.b, v) }
func (w *ckWriter) s(v string) { w.u(uint64(len(v))); w.b = append(w.b, v...) }
func (w *ckWriter) bytes(f func([]byte) ([]byte, error)) error {
	// Length prefix patched after the fact: reserve the maximum varint.
	at := len(w.b)
	w.b = append(w.b, make([]byte, binary.MaxVarintLen64)...)
	b, err := f(w.b)
	if err != nil {
		return err
	}
	n := len(b) - at - binary.MaxVarintLen64
	var pre [binary.MaxVarintLen64]byte
	k := binary.PutUvarint(pre[:], uint64(n))
	copy(b[at:], pre[:k])
	w.b = append(b[:at+k], b[at+binary.MaxVarintLen64:]...)
	return nil
}

// encode serializes p. Called with p.mu held. Open windows' sketches fold
// their buffers in on the way, unless they are small enough to keep raw
// (Numeric's encoding decides).
func (p *partition) encode() ([]byte, error) {
	w := &ckWriter{b: make([]byte, 0, 4096)}
	w.b = append(w.b, checkpointMagic...)
	w.b = append(w.b, checkpointVersion)
	w.i(p.offset)
	w.i(p.maxTime)
	if p.haveTime {
		w.u(1)
	} else {
		w.u(0)
	}
	w.i(p.closedEnd)
	var live []*pver
	for _, pv := range p.order {
		if !pv.s.retired.Load() {
			live = append(live, pv)
		}
	}
	w.u(uint64(len(live)))
	for _, pv := range live {
		b, err := p.encodeVersionGuarded(pv)
		if err != nil {
			return nil, err
		}
		w.b = append(w.b, b...)
	}
	w.b = binary.LittleEndian.AppendUint32(w.b, crc32.Checksum(w.b, castagnoli))
	return w.b, nil
}

// encodeVersionGuarded encodes pv's state. If that fails (a bug of ours),
// pv's windows in this partition are reset, which is logged and counted,
// and the empty state is encoded: one broken version never keeps a
// partition from checkpointing, and so its offsets from being committed.
func (p *partition) encodeVersionGuarded(pv *pver) ([]byte, error) {
	b, err := p.tryEncodeVersion(pv)
	if err == nil {
		return b, nil
	}
	p.e.internalError(ComponentCheckpoint, pv.s, "", err, nil)
	pv.open, pv.late, pv.cum, pv.horizon = nil, nil, nil, nil
	return p.tryEncodeVersion(pv)
}

func (p *partition) tryEncodeVersion(pv *pver) (b []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err, _ = recovered(r)
		}
	}()
	w := &ckWriter{}
	err = p.encodeVersion(w, pv)
	return w.b, err
}

func (p *partition) encodeVersion(w *ckWriter, pv *pver) error {
	feats, embs := p.e.reg.names(pv.s)
	w.s(pv.s.model)
	w.s(pv.s.version)
	w.i(max(pv.evaluatedThrough, p.e.ev.evaluatedThrough(pv.s)))
	w.i(pv.s.lastEvent.Load())
	w.i(p.e.reg.lastSeen(pv.s))
	// Local numbering: position in known / embKnown.
	fl := make(map[int32]uint64, len(pv.known))
	w.u(uint64(len(pv.known)))
	for k, idx := range pv.known {
		fl[idx] = uint64(k)
		w.s(feats[idx])
	}
	el := make(map[int32]uint64, len(pv.embKnown))
	w.u(uint64(len(pv.embKnown)))
	for k, idx := range pv.embKnown {
		el[idx] = uint64(k)
		w.s(embs[idx])
	}
	enc := func(win *window) error { return encodeWindow(w, win, fl, el) }
	w.u(uint64(len(pv.open)))
	for _, win := range pv.open {
		if err := enc(win); err != nil {
			return err
		}
	}
	for _, win := range []*window{pv.late, pv.cum} {
		if win == nil {
			w.u(0)
			continue
		}
		w.u(1)
		if err := enc(win); err != nil {
			return err
		}
	}
	w.u(uint64(len(pv.horizon)))
	for _, win := range pv.horizon {
		if err := enc(win); err != nil {
			return err
		}
	}
	p.encodeOutcomes(w, pv)
	return nil
}

func encodeWindow(w *ckWriter, win *window, fl, el map[int32]uint64) error {
	w.i(win.start)
	w.u(win.events)
	n := 0
	for _, x := range win.num {
		if x != nil {
			n++
		}
	}
	w.u(uint64(n))
	for i, x := range win.num {
		if x == nil {
			continue
		}
		w.u(fl[int32(i)])
		if err := w.bytes(x.AppendBinary); err != nil {
			return err
		}
	}
	n = 0
	for _, x := range win.pairs {
		if x != nil {
			n++
		}
	}
	w.u(uint64(n))
	for i, x := range win.pairs {
		if x == nil {
			continue
		}
		w.u(fl[int32(i)])
		if err := w.bytes(func(b []byte) ([]byte, error) {
			pb, err := x.MarshalBinary()
			return append(b, pb...), err
		}); err != nil {
			return err
		}
	}
	n = 0
	for _, x := range win.vec {
		if x != nil {
			n++
		}
	}
	w.u(uint64(n))
	for i, x := range win.vec {
		if x == nil {
			continue
		}
		w.u(el[int32(i)])
		if err := w.bytes(func(b []byte) ([]byte, error) {
			vb, err := x.MarshalBinary()
			return append(b, vb...), err
		}); err != nil {
			return err
		}
	}
	return encodeSignals(w, win, el)
}

type ckReader struct {
	b   []byte
	err error
	ver byte // the checkpoint's version
}

func (r *ckReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
	}
}

func (r *ckReader) u(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad %s", what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *ckReader) i(what string) int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("bad %s", what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a count of items each at least minSize bytes long.
func (r *ckReader) count(what string, minSize int) int {
	n := r.u(what)
	if r.err == nil && n > uint64(len(r.b)/minSize) {
		r.fail("%s %d exceeds the data", what, n)
		return 0
	}
	return int(n)
}

func (r *ckReader) bytes(what string) []byte {
	n := r.count(what, 1)
	if r.err != nil {
		return nil
	}
	b := r.b[:n]
	r.b = r.b[n:]
	return b
}

func (r *ckReader) s(what string) string { return string(r.bytes(what)) }

// ckWindow is a decoded window whose sketches are numbered locally.
type ckWindow struct {
	start  int64
	events uint64
	num    map[uint64]*sketch.Numeric
	pairs  map[uint64]*sketch.Pair
	vec    map[uint64]*sketch.Vector
	sim    map[uint64]*sketch.Similarity
	act    map[uint64]*sketch.Activation
	frz    map[uint64]*sketch.Frozen
	out    map[uint64]sketch.Moments // by the version's outcomes (version 6)
}

type ckVersion struct {
	model, version      string
	evaluated           int64
	lastEvent, lastSeen int64 // 0 from a version 1 checkpoint
	feats, embs         []string
	open                []*ckWindow
	late, cum           *ckWindow
	horizon             []*ckWindow
	firstEvent          int64    // version 6; 0 before
	outcomes            []string // version 6: the outcome names, numbering ckWindow.out
	// broken are the sketches that did not decode although the
	// checkpoint's checksum holds: written by a bug of ours. Each is left
	// out (its feature's state in that window reset) and reported.
	broken []ckBroken
}

type ckBroken struct {
	name string
	err  error
}

type ckState struct {
	offset, maxTime, closedEnd int64
	haveTime                   bool
	versions                   []*ckVersion
}

func decodeCheckpoint(data []byte) (*ckState, error) {
	if len(data) < len(checkpointMagic)+1+4 || string(data[:len(checkpointMagic)]) != checkpointMagic {
		return nil, fmt.Errorf("%w: not a normwatch engine checkpoint", ErrCorrupt)
	}
	v := data[len(checkpointMagic)]
	if v < checkpointV1 || v > checkpointVersion {
		return nil, fmt.Errorf("%w: version %d, this build reads %d to %d", ErrCorrupt, v, checkpointV1, checkpointVersion)
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	r := &ckReader{b: body[len(checkpointMagic)+1:], ver: v}
	st := &ckState{offset: r.i("offset"), maxTime: r.i("event time")}
	st.haveTime = r.u("has time") == 1
	st.closedEnd = r.i("closed through")
	nv := r.count("versions", 3)
	for range nv {
		cv := &ckVersion{model: r.s("model"), version: r.s("version"), evaluated: r.i("evaluated")}
		if v >= checkpointV2 {
			cv.lastEvent, cv.lastSeen = r.i("last event"), r.i("last seen")
		}
		nf := r.count("features", 1)
		for range nf {
			cv.feats = append(cv.feats, r.s("feature"))
		}
		ne := r.count("embeddings", 1)
		for range ne {
			cv.embs = append(cv.embs, r.s("embedding"))
		}
		win := func() *ckWindow { return decodeWindow(r, cv) }
		no := r.count("open windows", 5)
		for range no {
			cv.open = append(cv.open, win())
		}
		if r.u("late") == 1 {
			cv.late = win()
		}
		if r.u("cumulative") == 1 {
			cv.cum = win()
		}
		nh := r.count("horizon windows", 5)
		for range nh {
			cv.horizon = append(cv.horizon, win())
		}
		if v > checkpointV5 {
			decodeOutcomes(r, cv)
		}
		st.versions = append(st.versions, cv)
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d bytes left over", len(r.b))
	}
	return st, r.err
}

func decodeWindow(r *ckReader, cv *ckVersion) *ckWindow {
	nf, ne := len(cv.feats), len(cv.embs)
	w := &ckWindow{start: r.i("window start"), events: r.u("window events"),
		num: map[uint64]*sketch.Numeric{}, pairs: map[uint64]*sketch.Pair{}, vec: map[uint64]*sketch.Vector{}}
	index := func(what string, limit int) uint64 {
		i := r.u(what)
		if r.err == nil && i >= uint64(limit) {
			r.fail("%s index %d out of %d", what, i, limit)
		}
		return i
	}
	n := r.count("numerics", 2)
	for range n {
		i := index("feature", nf)
		b := r.bytes("numeric")
		if r.err != nil {
			return w
		}
		x := new(sketch.Numeric)
		if err := x.UnmarshalBinary(b); err != nil {
			cv.broken = append(cv.broken, ckBroken{cv.feats[i], fmt.Errorf("feature sketch: %w", err)})
			continue
		}
		w.num[i] = x
	}
	n = r.count("pairs", 2)
	for range n {
		i := index("pair", nf)
		b := r.bytes("pair")
		if r.err != nil {
			return w
		}
		x := new(sketch.Pair)
		if err := x.UnmarshalBinary(b); err != nil {
			cv.broken = append(cv.broken, ckBroken{cv.feats[i], fmt.Errorf("pair sketch: %w", err)})
			continue
		}
		w.pairs[i] = x
	}
	n = r.count("vectors", 2)
	for range n {
		i := index("embedding", ne)
		b := r.bytes("vector")
		if r.err != nil {
			return w
		}
		x := new(sketch.Vector)
		if err := x.UnmarshalBinary(b); err != nil {
			cv.broken = append(cv.broken, ckBroken{cv.embs[i], fmt.Errorf("embedding sketch: %w", err)})
			continue
		}
		w.vec[i] = x
	}
	if r.ver > checkpointV3 {
		decodeSignals(r, cv, w)
	}
	return w
}

// restore replaces p's state with the checkpoint's. Versions and names over
// this process's limits are dropped and counted, as if their events had
// come now.
func (p *partition) restore(data []byte) error {
	st, err := decodeCheckpoint(data)
	if err != nil {
		return err
	}
	p.offset, p.maxTime, p.haveTime, p.closedEnd = st.offset, st.maxTime, st.haveTime, st.closedEnd
	for _, cv := range st.versions {
		// A version idle past the timeout before the restart stays
		// retired; the others compete for the caps by their activity, as
		// if their events came now.
		now := p.e.opts.Clock()
		if idle := p.e.opts.VersionIdleTimeout; idle > 0 && cv.lastSeen > 0 && now.Sub(time.Unix(0, cv.lastSeen)) >= idle {
			p.e.m.retirements[StateRetired].Inc()
			p.e.log.Info("model version retired: idle past limits.version_idle_timeout before the restart; its checkpointed state is dropped",
				"model", cv.model, "model_version", cv.version, "last_seen", time.Unix(0, cv.lastSeen).UTC())
			continue
		}
		seen := cv.lastSeen
		if seen == 0 {
			seen = now.UnixNano()
		}
		s, evicted := p.e.reg.version(admission{model: cv.model, version: cv.version, lastEvent: cv.lastEvent, lastSeen: seen})
		for _, x := range evicted {
			p.e.afterRetire(x, StateEvicted, "evicted at a cap for "+cv.model+" "+cv.version+" (restored)", now)
		}
		if s == nil {
			continue
		}
		for _, b := range cv.broken {
			p.e.internalError(ComponentRestore, s, b.name, b.err, nil)
		}
		pv := newPver(s)
		pv.evaluatedThrough = cv.evaluated
		fmap := make([]int32, len(cv.feats))
		for k, name := range cv.feats {
			idx := p.e.reg.feature(s, name)
			fmap[k] = idx
			if idx >= 0 {
				pv.learnFeature(name, idx)
			}
		}
		emap := make([]int32, len(cv.embs))
		for k, name := range cv.embs {
			idx := p.e.reg.embedding(s, name)
			emap[k] = idx
			if idx >= 0 {
				pv.learnEmbedding(name, idx)
			}
		}
		s.noteFirst(cv.firstEvent)
		conv := func(cw *ckWindow) *window {
			w := convWindow(cw, fmap, emap)
			if w != nil {
				p.e.restoreOutcomes(cw, w, cv.outcomes)
			}
			return w
		}
		for _, cw := range cv.open {
			pv.open = append(pv.open, conv(cw))
		}
		pv.late, pv.cum = conv(cv.late), conv(cv.cum)
		if pv.late != nil {
			pv.late.start = math.MinInt64
		}
		for _, cw := range cv.horizon {
			pv.horizon = append(pv.horizon, conv(cw))
		}
		// The expected dimensions come back from the sketches, the
		// cumulative view's first: it has seen the most.
		for _, w := range append([]*window{pv.cum, pv.late}, append(pv.horizon, pv.open...)...) {
			if w == nil {
				continue
			}
			for i, v := range w.vec {
				if v != nil && v.Dim() > 0 {
					pv.embDim(int32(i), v.Dim())
				}
			}
		}
		p.versions[vkey{cv.model, cv.version}] = pv
		p.order = append(p.order, pv)
	}
	slices.SortFunc(p.order, func(a, b *pver) int { return cmp.Compare(a.s.id, b.s.id) })
	p.repairWatermark()
	return nil
}

// repairWatermark undoes a watermark that a checkpoint of an older release
// (without guardWatermark) may hold: moved far ahead of the wall clock by
// one message, so that every later event would be late. The windows that
// message opened go to the late events (the cumulative view keeps them),
// and the watermark returns to the newest window left.
func (p *partition) repairWatermark() {
	skew := int64(p.e.opts.MaxFutureSkew)
	if skew <= 0 || !p.haveTime {
		return
	}
	bound := p.e.opts.Clock().UnixNano() + skew
	if p.maxTime <= bound {
		return
	}
	was := p.maxTime
	p.maxTime, p.haveTime, p.closedEnd = math.MinInt64, false, math.MinInt64
	for _, pv := range p.order {
		keep := pv.open[:0]
		for _, w := range pv.open {
			if w.start <= bound {
				keep = append(keep, w)
				continue
			}
			if pv.late == nil {
				pv.late = &window{start: math.MinInt64}
			}
			mergeWindow(pv.late, w, true, func(i int32, err error) {
				p.e.internalError(ComponentRestore, pv.s, "", err, nil)
			})
		}
		pv.open = keep
		pv.horizon = slices.DeleteFunc(pv.horizon, func(w *window) bool { return w.start > bound })
		for _, w := range pv.open {
			p.maxTime, p.haveTime = max(p.maxTime, w.start), true
		}
		for _, w := range pv.horizon {
			p.closedEnd = max(p.closedEnd, w.start+p.e.window)
			p.maxTime, p.haveTime = max(p.maxTime, w.start+p.e.window-1), true
		}
		if pv.evaluatedThrough > bound {
			pv.evaluatedThrough = p.closedEnd
		}
	}
	p.e.m.futureBy[FutureRepaired].Inc()
	p.e.log.Warn("a restored watermark was far ahead of the wall clock (one message with a future time, before this release's guard); repaired",
		"partition", p.key.String(), "watermark", time.Unix(0, was).UTC(), "repaired_to", time.Unix(0, p.maxTime).UTC())
}

// convWindow renumbers a decoded window's sketches by this process's
// indexes (fmap, emap: checkpoint's to process's; -1 for a name refused).
func convWindow(cw *ckWindow, fmap, emap []int32) *window {
	if cw == nil {
		return nil
	}
	w := &window{start: cw.start, events: cw.events}
	for k, x := range cw.num {
		if i := fmap[k]; i >= 0 {
			w.num = grow(w.num, i)
			w.num[i] = x
		}
	}
	for k, x := range cw.pairs {
		if i := fmap[k]; i >= 0 {
			w.pairs = grow(w.pairs, i)
			w.pairs[i] = x
		}
	}
	for k, x := range cw.vec {
		if i := emap[k]; i >= 0 {
			w.vec = grow(w.vec, i)
			w.vec[i] = x
		}
	}
	restoreSignals(cw, w, emap)
	return w
}

func grow[T any](s []*T, i int32) []*T {
	if int(i) >= len(s) {
		s = append(s, make([]*T, int(i)+1-len(s))...)
	}
	return s
}
