package sketch

import (
	"math"
	"slices"
)

// ValueCount is an exact value with its count.
type ValueCount struct {
	Value float64 `json:"value"`
	Count uint64  `json:"count"`
}

// DefaultHeavyHitters is the number of counters of the heavy-hitters
// summary: any value making up more than 1/(k+1) of a feature's values
// (9% with 10 counters) is guaranteed to be listed.
const DefaultHeavyHitters = 10

// heavyHitters is a Misra-Gries summary, mergeable as in Agarwal et al.,
// "Mergeable Summaries" (2012): each listed count is a lower bound of the
// true count, short of it by at most n/(k+1).
type heavyHitters struct {
	k        int
	counters []ValueCount // sorted by value
}

// mergeRuns folds sorted, distinct (value, count) runs into the summary.
func (h *heavyHitters) mergeRuns(runs []ValueCount) {
	if h.k <= 0 || len(runs) == 0 {
		return
	}
	// Candidates: current counters plus the batch's runs that repeat or
	// that match a counter. Runs of count one that match no counter are
	// only counted: they matter for the threshold, never as survivors
	// unless fewer than k+1 values compete.
	cand := make([]ValueCount, 0, len(h.counters)+16)
	ones := 0
	i := 0
	for _, r := range runs {
		for i < len(h.counters) && h.counters[i].Value < r.Value {
			cand = append(cand, h.counters[i])
			i++
		}
		if i < len(h.counters) && h.counters[i].Value == r.Value {
			cand = append(cand, ValueCount{r.Value, h.counters[i].Count + r.Count})
			i++
			continue
		}
		if r.Count > 1 || len(runs) <= h.k {
			cand = append(cand, r)
		} else {
			ones++
		}
	}
	cand = append(cand, h.counters[i:]...)
	h.counters = h.reduce(cand, ones)
}

// reduce keeps at most k counters: it subtracts the (k+1)-th largest count
// (counting the ones values not listed in cand) and drops what falls to zero.
func (h *heavyHitters) reduce(cand []ValueCount, ones int) []ValueCount {
	if len(cand)+ones <= h.k {
		return cand
	}
	counts := make([]uint64, len(cand))
	for i, c := range cand {
		counts[i] = c.Count
	}
	slices.Sort(counts)
	slices.Reverse(counts)
	var cut uint64
	if len(counts) > h.k {
		cut = counts[h.k]
	} else {
		cut = 1 // the (k+1)-th largest is one of the ones
	}
	out := cand[:0]
	for _, c := range cand {
		if c.Count > cut {
			out = append(out, ValueCount{c.Value, c.Count - cut})
		}
	}
	return out
}

func (h *heavyHitters) merge(o *heavyHitters) {
	if len(o.counters) == 0 {
		return
	}
	h.counters = h.reduce(mergeValueCounts(h.counters, o.counters), 0)
}

// top returns the counters by descending count, ties by value.
func (h *heavyHitters) top() []ValueCount {
	out := slices.Clone(h.counters)
	slices.SortFunc(out, func(a, b ValueCount) int {
		if a.Count != b.Count {
			if a.Count > b.Count {
				return -1
			}
			return 1
		}
		if a.Value < b.Value {
			return -1
		}
		if a.Value > b.Value {
			return 1
		}
		return 0
	})
	return out
}

// validValues reports whether vc is sorted by strictly ascending finite
// values with positive counts.
func validValues(vc []ValueCount) bool {
	for i, v := range vc {
		if v.Count == 0 || math.IsNaN(v.Value) || math.IsInf(v.Value, 0) {
			return false
		}
		if i > 0 && !(vc[i-1].Value < v.Value) {
			return false
		}
	}
	return true
}
