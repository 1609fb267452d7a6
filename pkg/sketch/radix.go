package sketch

import (
	"math"
	"sync"
)

// Finite values are buffered as order-preserving keys: the float64 bits
// with the sign bit flipped for positives and all bits flipped for
// negatives, so unsigned order is numeric order. A least-significant-digit
// radix sort of the keys costs a few nanoseconds a value, a fraction of a
// comparison sort's.

func floatKey(x float64) uint64 {
	if x == 0 {
		// -0 and +0 are one value: distinct keys would make two runs of
		// equal value, which no exact table or centroid list may hold.
		x = 0
	}
	b := math.Float64bits(x)
	if b>>63 != 0 {
		return ^b
	}
	return b | 1<<63
}

func keyFloat(k uint64) float64 {
	if k>>63 != 0 {
		return math.Float64frombits(k &^ (1 << 63))
	}
	return math.Float64frombits(^k)
}

var scratchPool = sync.Pool{New: func() any { return new([]uint64) }}

// radixSort sorts keys in place, skipping the byte positions where every
// key has the same digit (the sign and exponent bytes of similar values).
func radixSort(keys []uint64) {
	n := len(keys)
	if n < 64 {
		insertionSort(keys)
		return
	}
	var counts [8][256]uint32
	for _, k := range keys {
		counts[0][k&0xff]++
		counts[1][(k>>8)&0xff]++
		counts[2][(k>>16)&0xff]++
		counts[3][(k>>24)&0xff]++
		counts[4][(k>>32)&0xff]++
		counts[5][(k>>40)&0xff]++
		counts[6][(k>>48)&0xff]++
		counts[7][k>>56]++
	}
	sp := scratchPool.Get().(*[]uint64)
	if cap(*sp) < n {
		*sp = make([]uint64, n)
	}
	tmp := (*sp)[:n]
	src, dst := keys, tmp
	for pass := uint(0); pass < 8; pass++ {
		c := &counts[pass]
		shift := pass * 8
		if c[(src[0]>>shift)&0xff] == uint32(n) {
			continue // every key has this digit
		}
		var offs [256]uint32
		var sum uint32
		for d := range offs {
			offs[d] = sum
			sum += c[d]
		}
		for _, k := range src {
			d := (k >> shift) & 0xff
			dst[offs[d]] = k
			offs[d]++
		}
		src, dst = dst, src
	}
	if &src[0] != &keys[0] {
		copy(keys, src)
	}
	scratchPool.Put(sp)
}

func insertionSort(keys []uint64) {
	for i := 1; i < len(keys); i++ {
		k := keys[i]
		j := i
		for j > 0 && keys[j-1] > k {
			keys[j] = keys[j-1]
			j--
		}
		keys[j] = k
	}
}
