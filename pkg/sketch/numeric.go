package sketch

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"unsafe"

	"github.com/influxdata/tdigest"
)

// Defaults of NumericOptions.
const (
	// DefaultCompression is the t-digest compression: about 100 centroids,
	// a rank error near 0.0003 on continuous data and 1.6 KiB compacted.
	DefaultCompression = 100
	// DefaultExactLimit is how many distinct values are counted exactly
	// before the sketch switches to a t-digest.
	DefaultExactLimit = 128
	// DefaultBufferSize is how many finite values are buffered, sorted and
	// folded into the digest at once. Sorting a batch and handing the
	// digest pre-clustered centroids costs far less per value than adding
	// values to it one by one.
	DefaultBufferSize = 2048
)

// precluster is how much finer than the digest a batch is clustered before
// it reaches the digest, so the merge, not the batch, sets the accuracy.
// Of 1, 2, 4, 8 and 16, 2 gave the smallest rank errors (see
// TestQuantileRankError).
const precluster = 2

// NumericOptions configures a Numeric. Zero fields take the defaults.
type NumericOptions struct {
	Compression  float64 // t-digest compression, in [20, 1000]
	ExactLimit   int     // distinct values kept exactly, in [0, 4096]
	BufferSize   int     // values buffered before a flush, in [16, 1<<20]
	HeavyHitters int     // heavy-hitter counters, in [0, 64]
}

func (o NumericOptions) withDefaults() NumericOptions {
	if o.Compression == 0 {
		o.Compression = DefaultCompression
	}
	if o.ExactLimit == 0 {
		o.ExactLimit = DefaultExactLimit
	}
	if o.BufferSize == 0 {
		o.BufferSize = DefaultBufferSize
	}
	if o.HeavyHitters == 0 {
		o.HeavyHitters = DefaultHeavyHitters
	}
	return o
}

// Validate reports the first option out of its range.
func (o NumericOptions) Validate() error {
	switch {
	case !(o.Compression >= 20 && o.Compression <= 1000) || o.Compression != math.Trunc(o.Compression):
		return fmt.Errorf("sketch: compression %v is not a whole number in [20, 1000]", o.Compression)
	case o.ExactLimit < 0 || o.ExactLimit > 4096:
		return fmt.Errorf("sketch: exact limit %d out of range [0, 4096]", o.ExactLimit)
	case o.BufferSize < 16 || o.BufferSize > 1<<20:
		return fmt.Errorf("sketch: buffer size %d out of range [16, 1048576]", o.BufferSize)
	case o.HeavyHitters < 0 || o.HeavyHitters > 64:
		return fmt.Errorf("sketch: heavy hitters %d out of range [0, 64]", o.HeavyHitters)
	}
	return nil
}

// Numeric summarizes the values of one scalar feature: a t-digest of the
// finite values (exact counts while there are few distinct ones), their
// moments, minimum and maximum, the most frequent exact values, and counts
// of missing, NaN and infinite values, which stay out of everything else.
type Numeric struct {
	opts NumericOptions

	buf []uint64 // keys (floatKey) of finite values not yet folded in
	// frozen: Compact kept n in its raw form, its values sorted in buf with
	// nothing folded in yet, because that is smaller than the digest they
	// would make. A closed window's sketch is read by several goroutines
	// at once, so queries on a frozen n fold into a copy and leave n as it
	// is; a change (Add, Merge into n, Reset) thaws it.
	frozen bool

	exact     []ValueCount // sorted distinct values, while exactMode
	exactMode bool
	centroids tdigest.CentroidList // the digest, while not exactMode
	// masses are exact counts of frequent values kept out of the digest
	// while not exactMode: an imputed 0 or -1 stays a jump in the CDF
	// instead of being smeared over its neighbours by interpolation.
	masses []ValueCount
	// lo and hi are the tailSize smallest and largest values in the
	// digest, exactly: the extremes of a heavy tail are what the
	// Wasserstein distance weighs most and what interpolation between the
	// outermost centroids gets most wrong.
	lo, hi []float64

	mom      Moments
	min, max float64

	missing, nan, posInf, negInf uint64

	hh heavyHitters
}

// NewNumeric returns an empty Numeric with default options.
func NewNumeric() *Numeric {
	n, _ := NewNumericWith(NumericOptions{})
	return n
}

// NewNumericWith returns an empty Numeric, or an error naming the bad option.
func NewNumericWith(opts NumericOptions) (*Numeric, error) {
	opts = opts.withDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	n := &Numeric{opts: opts}
	n.Reset()
	return n, nil
}

// Options returns the options n was built with.
func (n *Numeric) Options() NumericOptions { return n.opts }

// Reset empties n, keeping its options and buffers.
func (n *Numeric) Reset() {
	if n.frozen {
		n.buf, n.frozen = nil, false // others may still read it
	}
	n.buf = n.buf[:0]
	n.exact = n.exact[:0]
	n.exactMode = n.opts.ExactLimit > 0
	n.centroids = nil
	n.masses = nil
	n.lo, n.hi = nil, nil
	n.mom = Moments{}
	n.min, n.max = math.Inf(1), math.Inf(-1)
	n.missing, n.nan, n.posInf, n.negInf = 0, 0, 0, 0
	n.hh = heavyHitters{k: n.opts.HeavyHitters}
}

// Add adds one value. NaN and infinities are counted, not summarized.
func (n *Numeric) Add(x float64) {
	if x-x != 0 { // NaN or ±Inf
		n.addNonFinite(x)
		return
	}
	if n.frozen {
		n.thaw()
	}
	if len(n.buf) == cap(n.buf) {
		n.grow()
	}
	n.buf = append(n.buf, floatKey(x))
	if len(n.buf) >= n.opts.BufferSize {
		n.flush()
	}
}

// grow doubles the buffer's room, up to BufferSize: a window's sketch
// starts empty, and append's own growth (by a quarter past 256 values,
// and past BufferSize) copied each value twice more on its way to a flush.
func (n *Numeric) grow() {
	c := min(max(2*cap(n.buf), 16), n.opts.BufferSize)
	if c <= cap(n.buf) {
		return
	}
	buf := make([]uint64, len(n.buf), c)
	copy(buf, n.buf)
	n.buf = buf
}

// AddBatch adds every value of xs.
func (n *Numeric) AddBatch(xs []float64) {
	if n.frozen && len(xs) > 0 {
		n.thaw()
	}
	for len(xs) > 0 {
		room := n.opts.BufferSize - len(n.buf)
		take := min(room, len(xs))
		for _, x := range xs[:take] {
			if x-x != 0 {
				n.addNonFinite(x)
				continue
			}
			n.buf = append(n.buf, floatKey(x))
		}
		xs = xs[take:]
		if len(n.buf) >= n.opts.BufferSize {
			n.flush()
		}
	}
}

// AddMissing counts k missing values (an absent or null feature).
func (n *Numeric) AddMissing(k uint64) { n.missing += k }

func (n *Numeric) addNonFinite(x float64) {
	switch {
	case math.IsNaN(x):
		n.nan++
	case x > 0:
		n.posInf++
	default:
		n.negInf++
	}
}

// thaw makes a frozen n an ordinary sketch again, its raw values still
// buffered; the buffer is copied on its next append, as others may be
// reading it.
func (n *Numeric) thaw() {
	n.frozen = false
	n.buf = slices.Clip(n.buf)
}

// flush folds the buffered values into the exact counts or the digest,
// the moments and the heavy hitters. A frozen n is thawed first: flush is
// for its owner.
func (n *Numeric) flush() {
	if len(n.buf) == 0 {
		return
	}
	if n.frozen {
		n.frozen = false
		n.fold(n.buf)
		n.buf = nil
		return
	}
	radixSort(n.buf)
	n.fold(n.buf)
	n.buf = n.buf[:0]
}

// fold folds sorted keys into n, which keeps no reference to them.
func (n *Numeric) fold(keys []uint64) {
	if len(keys) == 0 {
		return
	}
	runs, mom := summarizeSorted(keys)
	n.mom.Merge(mom)
	n.min = math.Min(n.min, runs[0].Value)
	n.max = math.Max(n.max, runs[len(runs)-1].Value)
	n.mom.Mean = min(max(n.mom.Mean, n.min), n.max)
	n.hh.mergeRuns(runs)
	n.addRuns(runs)
}

// settled returns n with every value folded in, for a query: n itself,
// flushed, or, when n is frozen, a folded copy, leaving n unchanged.
func (n *Numeric) settled() *Numeric {
	if !n.frozen {
		n.flush()
		return n
	}
	// Frozen, nothing is folded in yet: the copy shares no slice of n's
	// that folding would write to.
	c := *n
	c.frozen, c.buf = false, nil
	c.fold(n.buf)
	return &c
}

// keepRaw reports whether n's buffered values, sorted, take less memory
// than the exact counts or the digest they would fold into, and n holds
// nothing else that would need folding. It sorts the buffer, so only n's
// owner calls it.
func (n *Numeric) keepRaw() bool {
	if n.frozen {
		return true
	}
	if len(n.buf) == 0 || n.mom.N > 0 || len(n.buf) > n.opts.BufferSize {
		return false
	}
	radixSort(n.buf)
	distinct := 1
	for i := 1; i < len(n.buf); i++ {
		if n.buf[i] != n.buf[i-1] {
			distinct++
		}
	}
	raw := 8 * len(n.buf)
	if n.opts.ExactLimit > 0 && distinct <= n.opts.ExactLimit {
		return raw <= 16*distinct // a ValueCount per distinct value
	}
	// A digest of a few hundred values keeps about compression+16
	// centroids of 16 bytes and both exact tails.
	return raw <= 16*min(distinct, int(n.opts.Compression)+16)+16*min(len(n.buf), tailSize)
}

// Point masses: a value with at least massShare of a batch's values (and
// at least massMinCount of them) is counted exactly, up to maxMasses values.
const (
	maxMasses    = 16
	massShare    = 1.0 / 128
	massMinCount = 8
)

// addRuns folds sorted distinct runs into the exact counts, or into the
// point masses and the digest.
func (n *Numeric) addRuns(runs []ValueCount) {
	if n.exactMode {
		merged := mergeValueCounts(n.exact, runs)
		if len(merged) <= n.opts.ExactLimit {
			n.exact = merged
			return
		}
		n.exactMode = false
		n.exact = nil
		runs = merged
	}
	var total uint64
	for _, r := range runs {
		total += r.Count
	}
	threshold := max(uint64(massMinCount), uint64(float64(total)*massShare))
	// Most batches of continuous data have no mass and touch none: then the
	// runs go to the digest as they are, without a copy.
	touches := false
	for _, r := range runs {
		if r.Count >= threshold {
			touches = true
			break
		}
	}
	if !touches && len(n.masses) > 0 {
		for _, r := range runs {
			if _, ok := slices.BinarySearchFunc(n.masses, r.Value, cmpValue); ok {
				touches = true
				break
			}
		}
	}
	rest := runs
	var newMasses []ValueCount
	if touches {
		rest = make([]ValueCount, 0, len(runs))
		for _, r := range runs {
			if i, ok := slices.BinarySearchFunc(n.masses, r.Value, cmpValue); ok {
				n.masses[i].Count += r.Count
				continue
			}
			if r.Count >= threshold {
				newMasses = append(newMasses, r)
				continue
			}
			rest = append(rest, r)
		}
	}
	rest = n.admitMasses(newMasses, rest)
	if len(rest) == 0 {
		return
	}
	n.updateTails(rest)
	n.compress(mergeSorted(n.centroids, cluster(rest, n.opts.Compression*precluster), centroidLess))
}

// tailSize is how many of the smallest and of the largest values in the
// digest are kept exactly: 1.5 KiB, which brings the Wasserstein distance of
// heavy tails (Pareto, Cauchy) close to its exact value.
const tailSize = 96

// updateTails folds sorted runs into the exact tails.
func (n *Numeric) updateTails(runs []ValueCount) {
	var first, last []float64
	for _, r := range runs {
		for c := uint64(0); c < r.Count && len(first) < tailSize; c++ {
			first = append(first, r.Value)
		}
		if len(first) == tailSize {
			break
		}
	}
	for i := len(runs) - 1; i >= 0 && len(last) < tailSize; i-- {
		for c := uint64(0); c < runs[i].Count && len(last) < tailSize; c++ {
			last = append(last, runs[i].Value)
		}
	}
	slices.Reverse(last)
	n.lo, n.hi = mergeTails(n.lo, first, n.hi, last)
}

// mergeTails keeps the tailSize smallest of lo ∪ lo2 and largest of hi ∪ hi2,
// in new arrays of their length: the head of mergeSorted(lo, lo2) and the
// end of mergeSorted(hi, hi2), merged only as far as they reach.
func mergeTails(lo, lo2, hi, hi2 []float64) ([]float64, []float64) {
	return smallest(lo, lo2, tailSize), largest(hi, hi2, tailSize)
}

// smallest returns the first k values of the merge of sorted a and b, a's
// first among equals.
func smallest(a, b []float64, k int) []float64 {
	out := make([]float64, min(k, len(a)+len(b)))
	i, j := 0, 0
	for p := range out {
		if j < len(b) && (i == len(a) || b[j] < a[i]) {
			out[p] = b[j]
			j++
		} else {
			out[p] = a[i]
			i++
		}
	}
	return out
}

// largest returns the last k values of the merge of sorted a and b, a's
// first among equals, filled from the end.
func largest(a, b []float64, k int) []float64 {
	out := make([]float64, min(k, len(a)+len(b)))
	i, j := len(a)-1, len(b)-1
	for p := len(out) - 1; p >= 0; p-- {
		if i >= 0 && (j < 0 || b[j] < a[i]) {
			out[p] = a[i]
			i--
		} else {
			out[p] = b[j]
			j--
		}
	}
	return out
}

// mergeSorted merges two lists sorted by less, keeping a's element first
// among equals.
func mergeSorted[T any](a, b []T, less func(x, y T) bool) []T {
	out := make([]T, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if less(b[j], a[i]) {
			out = append(out, b[j])
			j++
		} else {
			out = append(out, a[i])
			i++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

func centroidLess(x, y tdigest.Centroid) bool { return x.Mean < y.Mean }

func cmpValue(v ValueCount, x float64) int { return cmp.Compare(v.Value, x) }

// admitMasses adds candidates to the point masses, keeping the maxMasses
// largest; the runs that do not fit are merged into rest (value-sorted)
// and returned, to go to the digest.
func (n *Numeric) admitMasses(cand, rest []ValueCount) []ValueCount {
	if len(cand) == 0 {
		return rest
	}
	all := mergeValueCounts(n.masses, cand)
	if len(all) <= maxMasses {
		n.masses = all
		return rest
	}
	byCount := slices.Clone(all)
	slices.SortFunc(byCount, func(a, b ValueCount) int {
		if a.Count != b.Count {
			if a.Count > b.Count {
				return -1
			}
			return 1
		}
		return cmpValue(a, b.Value)
	})
	keep := byCount[:maxMasses]
	evicted := byCount[maxMasses:]
	slices.SortFunc(keep, func(a, b ValueCount) int { return cmpValue(a, b.Value) })
	slices.SortFunc(evicted, func(a, b ValueCount) int { return cmpValue(a, b.Value) })
	n.masses = slices.Clip(keep)
	return mergeValueCounts(rest, evicted)
}

// compress replaces the centroids with the t-digest compression of cl,
// which must be sorted by mean and lie within the exact tails. The digest's
// buffers are borrowed from a pool for the call, so a sketch between
// flushes holds only its centroids.
func (n *Numeric) compress(cl tdigest.CentroidList) {
	if len(cl) == 0 || len(n.lo) == 0 {
		n.centroids = nil
		return
	}
	pool := digestPool(n.opts.Compression)
	td := pool.Get().(*tdigest.TDigest)
	td.Reset()
	// The digest updates means by differences of means times weights:
	// near ±MaxFloat64 those overflow, so it works on scaled means.
	lo, hi := n.lo[0], n.hi[len(n.hi)-1]
	scale := scaleFor(lo, hi)
	// Not AddCentroidList: in tdigest v0.0.1 it skips a centroid each time
	// its buffer fills.
	for _, c := range cl {
		if scale != 1 {
			c.Mean *= scale
		}
		td.AddCentroid(c)
	}
	n.centroids = td.Centroids()
	pool.Put(td)
	repairCentroids(n.centroids, scale, lo, hi)
}

// repairCentroids undoes the scaling of the means and holds them to the
// invariants the digest's floating-point updates can break by a rounding
// step: ordered, and within [lo, hi], the smallest and largest values
// summarized.
func repairCentroids(cl tdigest.CentroidList, scale, lo, hi float64) {
	prev := lo
	for i := range cl {
		m := cl[i].Mean
		if scale != 1 {
			m /= scale
		}
		if !(m >= prev) { // also NaN
			m = prev
		}
		cl[i].Mean = min(m, hi)
		prev = cl[i].Mean
	}
}

// digestPools holds a pool of digests per compression; Validate keeps
// compressions to at most 981 whole numbers, which bounds the map.
var digestPools sync.Map // compression -> *sync.Pool of *tdigest.TDigest

func digestPool(compression float64) *sync.Pool {
	if p, ok := digestPools.Load(compression); ok {
		return p.(*sync.Pool)
	}
	p, _ := digestPools.LoadOrStore(compression, &sync.Pool{New: func() any {
		return tdigest.NewWithCompression(compression)
	}})
	return p.(*sync.Pool)
}

// summarizeSorted turns sorted keys into distinct values with counts and
// computes their moments: a compensated sum for the mean, then a second
// pass over the runs for the central sums, which keeps them accurate where
// a one-pass update loses digits (large means, small spreads).
func summarizeSorted(keys []uint64) ([]ValueCount, Moments) {
	runs := make([]ValueCount, 0, len(keys))
	var sum, c float64
	for i := 0; i < len(keys); {
		j := i + 1
		for j < len(keys) && keys[j] == keys[i] {
			j++
		}
		x := keyFloat(keys[i])
		w := float64(j - i)
		y := x*w - c
		t := sum + y
		c = (t - sum) - y
		sum = t
		runs = append(runs, ValueCount{Value: x, Count: uint64(j - i)})
		i = j
	}
	n := float64(len(keys))
	mean := sum / n
	if mean-mean != 0 {
		// The sum overflowed: average in scaled form.
		mean = 0
		for _, r := range runs {
			mean += r.Value / n * float64(r.Count)
		}
	}
	var s1, m2, m3, m4 float64
	for _, r := range runs {
		d := r.Value - mean
		d2 := d * d
		w := float64(r.Count)
		s1 += d * w
		m2 += d2 * w
		m3 += d2 * d * w
		m4 += d2 * d2 * w
	}
	// s1 is the rounding residue of the mean; fold it back in.
	corr := s1 / n
	if corr-corr != 0 { // deviations overflowed: no correction to make
		corr = 0
	}
	m := Moments{N: n, Mean: mean + corr, M2: math.Max(m2-s1*corr, 0), M3: m3, M4: m4}
	m.saturate()
	return runs, m
}

// mergeValueCounts merges two value-sorted lists, adding counts of equal values.
func mergeValueCounts(a, b []ValueCount) []ValueCount {
	out := make([]ValueCount, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i].Value < b[j].Value:
			out = append(out, a[i])
			i++
		case b[j].Value < a[i].Value:
			out = append(out, b[j])
			j++
		default:
			out = append(out, ValueCount{a[i].Value, a[i].Count + b[j].Count})
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

// cluster groups sorted runs into centroids no larger than a t-digest of the
// given compression over the batch alone would allow (the k1 scale
// function: small centroids at the tails, larger ones in the middle).
//
// A centroid's mean is its weighted sum over its weight, clamped to the
// range of its values: rounding would otherwise put the mean of three tied
// values one step above them, outside the sketch's own maximum.
func cluster(runs []ValueCount, compression float64) tdigest.CentroidList {
	var total float64
	for _, r := range runs {
		total += float64(r.Count)
	}
	out := make(tdigest.CentroidList, 0, min(len(runs), int(2*compression)+1))
	if len(runs) == 0 {
		return out
	}
	// Sums of values near ±MaxFloat64 overflow: beside the plain sum, each
	// centroid keeps one scaled by a power of two (exact), used when its
	// values are that large. Tiny values keep their precision in the plain
	// sum.
	const scale = 0x1p-64
	// Each centroid accumulates its weighted sum; its mean is taken once,
	// when it is emitted, not updated with a division per run.
	w0 := float64(runs[0].Count)
	weight, sum, sumS := w0, w0*runs[0].Value, w0*(runs[0].Value*scale)
	first, last := runs[0].Value, runs[0].Value
	emit := func() {
		mean := first // exact for one value
		if first != last {
			if max(-first, last) > bigValue {
				mean = sumS / weight / scale
			} else {
				mean = sum / weight
			}
			mean = min(max(mean, first), last)
		}
		out = append(out, tdigest.Centroid{Mean: mean, Weight: weight})
	}
	soFar := weight
	limit := total * integratedQ(1, compression)
	for _, r := range runs[1:] {
		w := float64(r.Count)
		if soFar+w <= limit {
			weight += w
			sum += w * r.Value
			sumS += w * (r.Value * scale)
			soFar += w
			last = r.Value
			continue
		}
		emit()
		limit = total * integratedQ(integratedLocation(soFar/total, compression)+1, compression)
		soFar += w
		weight, sum, sumS, first, last = w, w*r.Value, w*(r.Value*scale), r.Value, r.Value
	}
	emit()
	return out
}

// bigValue is the magnitude past which weighted sums and differences of
// values may overflow: 2^53 weights times twice 2^960 stays finite.
const bigValue = 0x1p960

// scaleFor returns the power of two by which a digest over [lo, hi] works:
// 1 for ordinary values; below 1 where differences of means times weights
// would overflow (only the precision of values under about 1e-288 suffers,
// beside values over 1e289); above 1 where every value is so small that
// the digest's updates would underflow into subnormals.
func scaleFor(lo, hi float64) float64 {
	switch m := max(-lo, hi, lo, -hi); {
	case m > bigValue:
		return 0x1p-64
	case m < 0x1p-900:
		return 0x1p64
	}
	return 1
}

func integratedQ(k, compression float64) float64 {
	return (math.Sin(math.Min(k, compression)*math.Pi/compression-math.Pi/2) + 1) / 2
}

func integratedLocation(q, compression float64) float64 {
	return compression * (math.Asin(2*q-1) + math.Pi/2) / math.Pi
}

// Compact leaves n in its smallest form, a closed window's sketch, which
// several goroutines may query at once: its values folded in and the
// buffer released, or, when n holds only buffered values and they take
// less memory than what they would fold into (most windows of most
// features see a few hundred values), those values sorted and kept raw,
// to be folded where n is merged. Queries and merges read a compacted n
// and never change it. Adding to n afterwards works and re-allocates the
// buffer.
func (n *Numeric) Compact() {
	if n.keepRaw() {
		if !n.frozen {
			n.buf = slices.Clone(n.buf) // Clone, not Clip: the array may be BufferSize long
			n.exact = nil
			n.frozen = true
		}
		return
	}
	n.compactFolded()
}

// compactFolded is Compact of an n not kept raw.
func (n *Numeric) compactFolded() {
	n.flush()
	n.buf = nil
	// Clone rather than Clip: Clip keeps the whole underlying array.
	n.exact = slices.Clone(n.exact)
	n.centroids = slices.Clone(n.centroids)
	n.masses = slices.Clone(n.masses)
	n.hh.counters = slices.Clone(n.hh.counters)
}

// CompactAll compacts every sketch of ns (nil ones are skipped) as
// Compact does, with the values of those kept raw copied into one shared
// array: a closed window's features close together and go together, and
// a few hundred values each would otherwise take an allocation apiece,
// rounded up to the allocator's next size class (1,792 bytes for 200
// values). Each sketch's part is capped at its length, so a sketch added
// to afterwards re-allocates and never writes into its neighbour's.
func CompactAll(ns []*Numeric) {
	raw := make([]bool, len(ns))
	total := 0
	for i, n := range ns {
		if n != nil && !n.frozen && n.keepRaw() {
			raw[i] = true
			total += len(n.buf)
		}
	}
	shared := make([]uint64, total)
	for i, n := range ns {
		switch {
		case n == nil:
		case raw[i]:
			k := copy(shared, n.buf)
			n.buf, shared = shared[:k:k], shared[k:]
			n.exact = nil
			n.frozen = true
		case n.frozen:
		default:
			n.compactFolded()
		}
	}
}

// Merge folds o into n, as if every value added to o had been added to n.
// o is flushed (unless compacted) but otherwise unchanged; a compacted o
// kept raw is folded into n as one batch of values.
func (n *Numeric) Merge(o *Numeric) error {
	if o == nil {
		return errors.New("sketch: merge with nil Numeric")
	}
	if o == n {
		return errors.New("sketch: merge of a Numeric with itself")
	}
	n.flush()
	if o.frozen {
		// Nothing of o is folded in: its counts and its values are all.
		n.missing += o.missing
		n.nan += o.nan
		n.posInf += o.posInf
		n.negInf += o.negInf
		n.fold(o.buf)
		return nil
	}
	o.flush()
	n.mom.Merge(o.mom)
	n.min = math.Min(n.min, o.min)
	n.max = math.Max(n.max, o.max)
	if n.mom.N > 0 {
		n.mom.Mean = min(max(n.mom.Mean, n.min), n.max)
	}
	n.missing += o.missing
	n.nan += o.nan
	n.posInf += o.posInf
	n.negInf += o.negInf
	n.hh.merge(&o.hh)
	switch {
	case o.exactMode:
		n.addRuns(o.exact)
	default:
		if n.exactMode {
			n.exactMode = false
			runs := n.exact
			n.exact = nil
			n.addRuns(runs)
		}
		n.lo, n.hi = mergeTails(n.lo, o.lo, n.hi, o.hi)
		rest := n.admitMasses(slices.Clone(o.masses), nil)
		cl := mergeSorted(n.centroids, o.centroids, centroidLess)
		if len(rest) > 0 {
			n.updateTails(rest)
			cl = mergeSorted(cl, valueCentroids(rest), centroidLess)
		}
		n.compress(cl)
	}
	return nil
}

func valueCentroids(vc []ValueCount) tdigest.CentroidList {
	out := make(tdigest.CentroidList, len(vc))
	for i, v := range vc {
		out[i] = tdigest.Centroid{Mean: v.Value, Weight: float64(v.Count)}
	}
	return out
}

// Count returns the number of finite values.
func (n *Numeric) Count() uint64 { return uint64(n.mom.N) + uint64(len(n.buf)) }

// Missing returns the number of missing values.
func (n *Numeric) Missing() uint64 { return n.missing }

// NaN returns the number of NaN values.
func (n *Numeric) NaN() uint64 { return n.nan }

// PosInf returns the number of +Inf values.
func (n *Numeric) PosInf() uint64 { return n.posInf }

// NegInf returns the number of -Inf values.
func (n *Numeric) NegInf() uint64 { return n.negInf }

// NonFinite returns the number of NaN and infinite values.
func (n *Numeric) NonFinite() uint64 { return n.nan + n.posInf + n.negInf }

// Total returns the number of values of every kind, missing included.
func (n *Numeric) Total() uint64 { return n.Count() + n.missing + n.NonFinite() }

// Moments returns the moments of the finite values.
func (n *Numeric) Moments() Moments {
	return n.settled().mom
}

// Mean returns the mean of the finite values (0 when there are none).
func (n *Numeric) Mean() float64 { return n.Moments().Mean }

// StdDev returns the population standard deviation of the finite values.
func (n *Numeric) StdDev() float64 { return n.Moments().StdDev() }

// Min returns the smallest finite value, or +Inf when there is none.
func (n *Numeric) Min() float64 {
	if n.frozen {
		return keyFloat(n.buf[0])
	}
	n.flush()
	return n.min
}

// Max returns the largest finite value, or -Inf when there is none.
func (n *Numeric) Max() float64 {
	if n.frozen {
		return keyFloat(n.buf[len(n.buf)-1])
	}
	n.flush()
	return n.max
}

// Exact reports whether n holds exact counts of every distinct value.
func (n *Numeric) Exact() bool {
	return n.settled().exactMode
}

// HeavyHitters returns the most frequent exact values, most frequent first.
// While n is exact the counts are exact; otherwise each is a lower bound
// short of the truth by at most Count()/(k+1).
func (n *Numeric) HeavyHitters() []ValueCount {
	n = n.settled()
	if n.exactMode {
		if len(n.exact) == 0 {
			return nil
		}
		h := heavyHitters{k: n.opts.HeavyHitters, counters: slices.Clone(n.exact)}
		top := h.top()
		return top[:min(len(top), h.k)]
	}
	// Both the point masses and the Misra-Gries counters are lower bounds
	// of the true counts: the larger of the two is the better one.
	best := mergeValueCounts(nil, n.hh.counters)
	for _, m := range n.masses {
		if i, ok := slices.BinarySearchFunc(best, m.Value, cmpValue); ok {
			best[i].Count = max(best[i].Count, m.Count)
		} else {
			best = slices.Insert(best, i, m)
		}
	}
	if len(best) == 0 {
		return nil
	}
	top := (&heavyHitters{counters: best}).top()
	return top[:min(len(top), max(n.opts.HeavyHitters, 1))]
}

// Distribution returns the CDF n stands for, or ErrEmpty. Each call builds
// it anew: on a flushed sketch (after Compact, Merge or any query) queries
// only read, so several goroutines may query one sketch at once.
func (n *Numeric) Distribution() (Distribution, error) {
	n = n.settled()
	if n.mom.N == 0 {
		return Distribution{}, ErrEmpty
	}
	if n.exactMode {
		return stepDistribution(n.exact, n.mom.N), nil
	}
	means := make([]float64, len(n.centroids))
	weights := make([]float64, len(n.centroids))
	var wd float64
	for i, c := range n.centroids {
		means[i], weights[i] = c.Mean, c.Weight
		wd += c.Weight
	}
	return withMasses(centroidDistribution(means, weights, n.lo, n.hi), wd, n.masses), nil
}

// Clone returns an independent copy of n, flushed (compacted if n is).
func (n *Numeric) Clone() *Numeric {
	if n.frozen {
		c := *n
		c.buf = slices.Clone(n.buf)
		return &c
	}
	n.flush()
	c := *n
	c.buf = nil
	c.exact = slices.Clone(n.exact)
	c.centroids = slices.Clone(n.centroids)
	c.masses = slices.Clone(n.masses)
	c.lo, c.hi = slices.Clone(n.lo), slices.Clone(n.hi)
	c.hh.counters = slices.Clone(n.hh.counters)
	return &c
}

// Quantile returns the q-quantile of the finite values, or ErrEmpty.
func (n *Numeric) Quantile(q float64) (float64, error) {
	if !(q >= 0 && q <= 1) {
		return math.NaN(), fmt.Errorf("sketch: quantile %v out of [0, 1]", q)
	}
	d, err := n.Distribution()
	if err != nil {
		return math.NaN(), err
	}
	return d.Quantile(q), nil
}

// CDF returns the share of finite values at or below x, or ErrEmpty.
func (n *Numeric) CDF(x float64) (float64, error) {
	d, err := n.Distribution()
	if err != nil {
		return math.NaN(), err
	}
	return d.CDF(x), nil
}

// SizeBytes estimates the heap n holds: what memory limits and the
// compaction budget are measured in (BenchmarkCompactedHeap checks the
// estimate against the runtime's own count).
func (n *Numeric) SizeBytes() int {
	const valueCount = 16 // float64 + uint64
	return int(unsafe.Sizeof(*n)) + 8*cap(n.buf) + valueCount*cap(n.exact) +
		16*cap(n.centroids) + valueCount*(cap(n.hh.counters)+cap(n.masses)) + 8*(cap(n.lo)+cap(n.hi))
}
