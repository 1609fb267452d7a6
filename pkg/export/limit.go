package export

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// stallAfter is how long a connection must have been doing nothing useful
// before it may be closed to make room: idle between requests, connected
// without sending a request, or blocked in one write (its client reads
// nothing). A client that is reading, even slowly over a long path, does
// not block a single write of a few kilobytes for a second; one that has
// stopped reading does.
const stallAfter = time.Second

// Reasons a connection is closed to make room, the reason label of
// http_connections_evicted_total.
const (
	evictIdle      = "idle"
	evictNoRequest = "no_request"
	evictStalled   = "stalled"
)

// connLimit caps the server's open connections. At the cap, a new
// connection is let in by closing one that does nothing useful: the one
// idle longest between requests (HTTP lets a server close an idle
// keep-alive connection at any time; clients retry on a new one), else one
// that connected stallAfter ago and has sent no request, else the one whose
// client has stopped reading longest. When every connection is busy
// making progress, the newcomer is closed at once.
//
// netutil.LimitListener was the other choice; it blocks Accept at the cap,
// so connections that cost a client nothing (idle keep-alives, requests
// whose answer is never read) hold every slot until their timeouts, and a
// scrape waits behind all of them in the kernel's accept queue.
type connLimit struct {
	net.Listener
	max int
	m   *serverMetrics

	mu    sync.Mutex
	conns map[*trackedConn]struct{}
}

func newConnLimit(ln net.Listener, max int, m *serverMetrics) *connLimit {
	return &connLimit{Listener: ln, max: max, m: m, conns: map[*trackedConn]struct{}{}}
}

// Accept returns the next connection the cap lets in.
func (l *connLimit) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if !l.makeRoom() {
			l.m.connRejected.Inc()
			_ = c.Close()
			continue
		}
		now := time.Now().UnixNano()
		tc := &trackedConn{Conn: c, l: l}
		tc.state.Store(int32(http.StateNew))
		tc.since.Store(now)
		l.mu.Lock()
		l.conns[tc] = struct{}{}
		l.mu.Unlock()
		l.m.connections.Inc()
		return tc, nil
	}
}

// makeRoom reports whether there is room for one more connection, closing
// one that does nothing useful if it must.
func (l *connLimit) makeRoom() bool {
	for {
		l.mu.Lock()
		if len(l.conns) < l.max {
			l.mu.Unlock()
			return true
		}
		victim, reason := l.victimLocked(time.Now().UnixNano())
		l.mu.Unlock()
		if victim == nil {
			return false
		}
		l.m.evicted.WithLabelValues(reason).Inc()
		_ = victim.Close() // removes it from conns
	}
}

// victimLocked picks the connection to close for a newcomer, nil if none
// may be closed.
func (l *connLimit) victimLocked(now int64) (*trackedConn, string) {
	const (
		none = iota
		stalled
		noRequest
		idle
	)
	var (
		best      *trackedConn
		bestClass int
		bestSince int64
	)
	for c := range l.conns {
		class, since := none, int64(0)
		switch st := http.ConnState(c.state.Load()); {
		case st == http.StateIdle:
			class, since = idle, c.since.Load()
		case st == http.StateNew && now-c.since.Load() >= int64(stallAfter):
			class, since = noRequest, c.since.Load()
		default:
			if w := c.writing.Load(); w != 0 && now-w >= int64(stallAfter) {
				class, since = stalled, w
			}
		}
		if class > bestClass || (class == bestClass && class != none && since < bestSince) {
			best, bestClass, bestSince = c, class, since
		}
	}
	switch bestClass {
	case idle:
		return best, evictIdle
	case noRequest:
		return best, evictNoRequest
	case stalled:
		return best, evictStalled
	}
	return nil, ""
}

func (l *connLimit) release(c *trackedConn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
	l.m.connections.Dec()
}

// connState is the http.Server's ConnState hook: it keeps each
// connection's state for victimLocked.
func (l *connLimit) connState(c net.Conn, st http.ConnState) {
	if tc := tracked(c); tc != nil {
		tc.state.Store(int32(st))
		tc.since.Store(time.Now().UnixNano())
	}
}

// connContext is the http.Server's ConnContext hook: requests find their
// connection in their context, for the request gate.
func (l *connLimit) connContext(ctx context.Context, c net.Conn) context.Context {
	if tc := tracked(c); tc != nil {
		return context.WithValue(ctx, connKey{}, tc)
	}
	return ctx
}

type connKey struct{}

// trackedConn is a connection let in by connLimit.
type trackedConn struct {
	net.Conn
	l *connLimit

	state   atomic.Int32 // http.ConnState
	since   atomic.Int64 // unix nanoseconds of the last state change
	writing atomic.Int64 // unix nanoseconds the write in progress began, 0 if none

	closeOnce sync.Once
	closeErr  error
}

func (c *trackedConn) Write(b []byte) (int, error) {
	c.writing.Store(time.Now().UnixNano())
	n, err := c.Conn.Write(b)
	c.writing.Store(0)
	return n, err
}

// Close closes the connection and gives its slot back, once.
func (c *trackedConn) Close() error {
	c.closeOnce.Do(func() {
		c.closeErr = c.Conn.Close()
		c.l.release(c)
	})
	return c.closeErr
}

// stalledFor is how long the write in progress has been blocked, 0 if none.
func (c *trackedConn) stalledFor(now int64) time.Duration {
	if w := c.writing.Load(); w != 0 {
		return time.Duration(now - w)
	}
	return 0
}

// tracked finds the trackedConn under c, through TLS.
func tracked(c net.Conn) *trackedConn {
	for c != nil {
		switch v := c.(type) {
		case *trackedConn:
			return v
		case interface{ NetConn() net.Conn }:
			c = v.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// gate bounds the requests served at once by the endpoints whose answers
// are large (/metrics, the status page, the JSON API), and so the memory
// they hold: each holds its gathered metrics or its copy of the state
// until its answer is written. A request finding every slot taken waits up
// to stallAfter for one, closing the connection of a holder whose client
// has stopped reading if there is one, and is then answered 503.
type gate struct {
	slots chan struct{}
	m     *serverMetrics

	mu      sync.Mutex
	holders map[*trackedConn]int
}

func newGate(n int, m *serverMetrics) *gate {
	return &gate{slots: make(chan struct{}, n), m: m, holders: map[*trackedConn]int{}}
}

func (g *gate) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tc, _ := r.Context().Value(connKey{}).(*trackedConn)
		if !g.acquire(r.Context(), tc) {
			g.m.reqRejected.Inc()
			w.Header().Set("Retry-After", "1")
			http.Error(w, "too many requests in progress; retry", http.StatusServiceUnavailable)
			return
		}
		defer g.release(tc)
		h.ServeHTTP(w, r)
	})
}

func (g *gate) acquire(ctx context.Context, tc *trackedConn) bool {
	deadline := time.NewTimer(stallAfter)
	defer deadline.Stop()
	tick := time.NewTicker(stallAfter / 4)
	defer tick.Stop()
	for {
		select {
		case g.slots <- struct{}{}:
			g.mu.Lock()
			if tc != nil {
				g.holders[tc]++
			}
			g.mu.Unlock()
			return true
		default:
		}
		if v := g.stalledHolder(); v != nil {
			g.m.evicted.WithLabelValues(evictStalled).Inc()
			_ = v.Close() // its handler fails its write and gives the slot back
		}
		select {
		case g.slots <- struct{}{}:
			g.mu.Lock()
			if tc != nil {
				g.holders[tc]++
			}
			g.mu.Unlock()
			return true
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return false
		case <-tick.C:
		}
	}
}

func (g *gate) release(tc *trackedConn) {
	g.mu.Lock()
	if tc != nil {
		if g.holders[tc]--; g.holders[tc] <= 0 {
			delete(g.holders, tc)
		}
	}
	g.mu.Unlock()
	<-g.slots
}

// stalledHolder is the holder blocked longest in a write, if for at least
// stallAfter.
func (g *gate) stalledHolder() *trackedConn {
	now := time.Now().UnixNano()
	g.mu.Lock()
	defer g.mu.Unlock()
	var (
		best    *trackedConn
		longest time.Duration
	)
	for c := range g.holders {
		if d := c.stalledFor(now); d >= stallAfter && d > longest {
			best, longest = c, d
		}
	}
	return best
}
