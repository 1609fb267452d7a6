package export

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

// bigRegistry holds n gauge series: with 30000, /metrics answers are
// larger than the 4 MiB a Linux loopback socket buffers by default for a
// client that does not read, so the server's writes stall.
func bigRegistry(n int) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "normwatch_test_series", Help: "Series for the limit tests."},
		[]string{"model", "model_version", "feature"})
	for i := range n {
		g.WithLabelValues("ranker", fmt.Sprintf("v%d", i%7), fmt.Sprintf("feature_with_a_long_name_%06d", i)).Set(float64(i))
	}
	reg.MustRegister(g)
	return reg
}

func startServer(t *testing.T, opts ServerOptions) *Server {
	t.Helper()
	opts.Listen = "127.0.0.1:0"
	opts.Logger = slog.New(slog.DiscardHandler)
	s, err := NewServer(opts)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- s.Run() }()
	t.Cleanup(func() {
		s.Stop()
		require.NoError(t, <-done)
	})
	return s
}

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd to count descriptors: %v", err)
	}
	return len(ents)
}

func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// dialSmallBuffer connects with a 4 KiB receive buffer, so that a client
// that never reads stops the server's writes after a few kilobytes rather
// than after the megabytes loopback would buffer.
func dialSmallBuffer(addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return errors.Join(err, serr)
	}}
	return d.Dial("tcp", addr)
}

// scrape is a normal scrape on a connection of its own. Its timeout is
// the server's write timeout: the tests ask whether a scrape gets through,
// and under -race on a loaded machine a 3 MB answer once took over 10 s.
func scrape(addr, user, pass string) (int, string, error) {
	c := http.Client{Timeout: DefaultWriteTimeout, Transport: &http.Transport{DisableKeepAlives: true}}
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return 0, "", err
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// Clients that request /metrics and never read: the server's descriptors
// and heap stay bounded by its limits however many there are, and a
// normal scrape is answered meanwhile.
func TestSlowReadersBounded(t *testing.T) {
	const (
		clients  = 150
		series   = 30000
		maxConns = 24
		maxReqs  = 4
	)
	reg := bigRegistry(series)
	s := startServer(t, ServerOptions{Gatherer: reg, MaxConnections: maxConns, MaxConcurrentRequests: maxReqs, Registerer: reg})

	code, body, err := scrape(s.Addr(), "", "")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	require.Greater(t, len(body), 3_000_000, "an answer larger than what loopback buffers")
	// What one scrape allocates: a stalled one holds at most that.
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, err = scrape(s.Addr(), "", "")
	require.NoError(t, err)
	runtime.ReadMemStats(&after)
	perScrape := after.TotalAlloc - before.TotalAlloc

	fd0, heap0 := openFDs(t), liveHeap()
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for range clients {
		c, err := dialSmallBuffer(s.Addr())
		require.NoError(t, err)
		conns = append(conns, c)
		_, err = io.WriteString(c, "GET /metrics HTTP/1.1\r\nHost: normwatch\r\n\r\n")
		require.NoError(t, err)
	}

	// Long enough for writes to stall and be evicted, and for requests to
	// wait at the gate and give up: every limit is at work.
	var maxServerFDs int
	var maxHeap uint64
	for i := range 12 {
		if i == 6 {
			code, body, err := scrape(s.Addr(), "", "")
			require.NoError(t, err, "a normal scrape meanwhile")
			require.Equal(t, http.StatusOK, code)
			require.Contains(t, body, `feature="feature_with_a_long_name_004999"`)
		}
		// The test holds every client descriptor open; the rest are the
		// server's.
		maxServerFDs = max(maxServerFDs, openFDs(t)-fd0-len(conns))
		maxHeap = max(maxHeap, liveHeap())
		time.Sleep(250 * time.Millisecond)
	}
	grew := int64(maxHeap) - int64(heap0)
	t.Logf("%d slow readers: at most %d server descriptors (cap %d), heap grew by at most %.1f MiB (one scrape allocates %.1f MiB)",
		clients, maxServerFDs, maxConns, float64(grew)/(1<<20), float64(perScrape)/(1<<20))
	require.LessOrEqual(t, maxServerFDs, maxConns+1, "server descriptors")
	// The gated requests hold at most a scrape's allocations each; the
	// connections a few buffers.
	bound := int64(maxReqs+2)*int64(perScrape) + maxConns*(64<<10) + 8<<20
	require.Less(t, grew, bound, "heap growth")
	require.Positive(t, counterSum(t, reg, "normwatch_http_connections_evicted_total"), "room was made by evictions")
	t.Logf("evicted %.0f, connections rejected %.0f, requests rejected %.0f",
		counterSum(t, reg, "normwatch_http_connections_evicted_total"),
		counterSum(t, reg, "normwatch_http_connections_rejected_total"), counterSum(t, reg, "normwatch_http_requests_rejected_total"))
}

// counterSum sums the samples of a counter family of reg.
func counterSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// Keep-alive connections left idle, after a 401 or a 200, are closed by
// the server after the idle timeout; while they are open the server's
// descriptors stay within the cap and an authorized scrape is answered.
func TestIdleConnectionsClosed(t *testing.T) {
	const (
		clients  = 120
		maxConns = 16
		idle     = time.Second
	)
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	require.NoError(t, err)
	cfg := filepath.Join(t.TempDir(), "web.yml")
	require.NoError(t, os.WriteFile(cfg, []byte("basic_auth_users:\n  prometheus: "+string(hash)+"\n"), 0o600))
	reg := bigRegistry(10)
	s := startServer(t, ServerOptions{Gatherer: reg, WebConfigFile: cfg, MaxConnections: maxConns, IdleTimeout: idle})

	fd0 := openFDs(t)
	type client struct {
		c net.Conn
		r *bufio.Reader
	}
	var clientsOpen []client
	t.Cleanup(func() {
		for _, c := range clientsOpen {
			c.c.Close()
		}
	})
	statuses := map[int]int{}
	for i := range clients {
		c, err := net.DialTimeout("tcp", s.Addr(), 5*time.Second)
		require.NoError(t, err)
		cl := client{c, bufio.NewReader(c)}
		clientsOpen = append(clientsOpen, cl)
		auth := ""
		if i%2 == 0 { // half of them authorized, half answered 401
			auth = "Authorization: Basic cHJvbWV0aGV1czpzM2NyZXQ=\r\n"
		}
		_, err = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: normwatch\r\n"+auth+"\r\n")
		require.NoError(t, err)
		require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
		resp, err := http.ReadResponse(cl.r, nil)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		statuses[resp.StatusCode]++
		require.LessOrEqual(t, openFDs(t)-fd0-len(clientsOpen), maxConns+1, "server descriptors with %d clients", i+1)
	}
	require.Equal(t, map[int]int{200: clients / 2, 401: clients / 2}, statuses)

	code, _, err := scrape(s.Addr(), "prometheus", "s3cret")
	require.NoError(t, err, "an authorized scrape meanwhile")
	require.Equal(t, http.StatusOK, code)

	// Every connection is closed by the server: evicted for a newcomer,
	// or after the idle timeout.
	start := time.Now()
	for i, cl := range clientsOpen {
		require.NoError(t, cl.c.SetReadDeadline(start.Add(idle+5*time.Second)))
		_, err := cl.r.ReadByte()
		require.Error(t, err, "client %d", i)
		require.False(t, errors.Is(err, os.ErrDeadlineExceeded), "client %d: the server left its idle connection open", i)
	}
	require.LessOrEqual(t, openFDs(t)-fd0-len(clientsOpen), 1, "server descriptors once all are idle past the timeout")
}

func TestVictimOrder(t *testing.T) {
	now := time.Now().UnixNano()
	ago := func(d time.Duration) int64 { return now - int64(d) }
	type conn struct {
		state   http.ConnState
		since   int64
		writing int64
	}
	tests := []struct {
		name   string
		conns  []conn
		victim int // index, -1 none
		reason string
	}{
		{name: "all busy", conns: []conn{
			{state: http.StateActive, since: ago(time.Minute)},
			{state: http.StateActive, since: ago(time.Minute), writing: ago(stallAfter / 2)},
			{state: http.StateNew, since: ago(stallAfter / 2)},
		}, victim: -1},
		{name: "longest idle first", conns: []conn{
			{state: http.StateActive, since: ago(time.Minute), writing: ago(time.Minute)},
			{state: http.StateIdle, since: ago(time.Second)},
			{state: http.StateIdle, since: ago(time.Minute)},
			{state: http.StateNew, since: ago(time.Hour)},
		}, victim: 2, reason: evictIdle},
		{name: "no request before a stalled write", conns: []conn{
			{state: http.StateActive, since: ago(time.Minute), writing: ago(time.Minute)},
			{state: http.StateNew, since: ago(2 * stallAfter)},
		}, victim: 1, reason: evictNoRequest},
		{name: "longest stalled write", conns: []conn{
			{state: http.StateActive, since: ago(time.Hour), writing: ago(2 * stallAfter)},
			{state: http.StateActive, since: ago(time.Second), writing: ago(time.Minute)},
			{state: http.StateActive, since: ago(time.Minute)},
		}, victim: 1, reason: evictStalled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newConnLimit(nil, len(tt.conns), newServerMetrics(nil))
			cs := make([]*trackedConn, len(tt.conns))
			for i, c := range tt.conns {
				cs[i] = &trackedConn{l: l}
				cs[i].state.Store(int32(c.state))
				cs[i].since.Store(c.since)
				cs[i].writing.Store(c.writing)
				l.conns[cs[i]] = struct{}{}
			}
			v, reason := l.victimLocked(now)
			if tt.victim < 0 {
				require.Nil(t, v)
				return
			}
			require.Same(t, cs[tt.victim], v)
			require.Equal(t, tt.reason, reason)
		})
	}
}

// ipList encodes itself.
type ipList [][1]byte

func (l ipList) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf(`"%d addresses"`, len(l))), nil
}

// writeJSON writes what json.Encoder with a two-space indent writes.
func TestWriteJSON(t *testing.T) {
	type item struct {
		Name  string              `json:"name"`
		Vals  []float64           `json:"vals"`
		Attrs map[string]string   `json:"attrs,omitempty"`
		Inner *struct{ A, B int } `json:"inner,omitempty"`
	}
	tests := []struct {
		name string
		v    any
	}{
		{name: "nil slice", v: []item(nil)},
		{name: "empty slice", v: []item{}},
		{name: "one", v: []item{{Name: "a", Vals: []float64{1, 2.5}}}},
		{name: "several", v: []item{{Name: "a<b>&", Attrs: map[string]string{"k": "v"}}, {Name: "b", Inner: &struct{ A, B int }{1, 2}}, {}}},
		{name: "not a slice", v: map[string]any{"x": []int{1, 2}, "y": "z"}},
		{name: "strings", v: []string{"x", "y"}},
		{name: "raw message", v: json.RawMessage(`{"a": [1, 2]}`)},
		{name: "bytes", v: []byte("base64 of these")},
		{name: "marshaler slice", v: ipList{{1}, {2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want, got bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetIndent("", "  ")
			require.NoError(t, enc.Encode(tt.v))
			require.NoError(t, writeJSON(&got, tt.v))
			require.Equal(t, want.String(), got.String())
			require.True(t, json.Valid(got.Bytes()))
		})
	}
}

// Stop returns at once; Run returns once the requests in progress had
// their grace.
func TestStopBounded(t *testing.T) {
	reg := bigRegistry(5000)
	s, err := NewServer(ServerOptions{Listen: "127.0.0.1:0", Gatherer: reg, ShutdownGrace: 500 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- s.Run() }()
	c, err := dialSmallBuffer(s.Addr())
	require.NoError(t, err)
	defer c.Close()
	_, err = io.WriteString(c, "GET /metrics HTTP/1.1\r\nHost: normwatch\r\n\r\n")
	require.NoError(t, err)
	// The answer has begun: the request is in progress, stuck.
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	line, err := bufio.NewReader(c).ReadString('\n')
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(line, "HTTP/1.1 200"), line)

	// Stop returns while the stuck request still has its grace: Run has
	// not returned yet.
	s.Stop()
	s.Stop()
	select {
	case <-done:
		t.Fatal("Stop waited for the request in progress")
	default:
	}
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after the grace")
	}
}
