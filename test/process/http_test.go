package process

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// procStats reads a process's resident memory and open descriptors.
func procStats(t *testing.T, pid int) (rssBytes int64, fds int) {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc to measure the daemon: %v", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			rssBytes = kb << 10
		}
	}
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	require.NoError(t, err)
	return rssBytes, len(ents)
}

// The daemon under a flood of idle keep-alive connections and of clients
// that request /metrics and never read: its descriptors stay within
// http.max_connections, its memory grows by little, a normal scrape is
// answered meanwhile, and the idle connections are closed after
// http.idle_timeout.
func TestHTTPFlood(t *testing.T) {
	const (
		idleClients = 400
		slowClients = 400
		maxConns    = 32
		idleTimeout = 2 * time.Second
	)
	b, c := setup(t)
	c.env = []string{
		"NORMWATCH_HTTP_MAX_CONNECTIONS=" + strconv.Itoa(maxConns),
		"NORMWATCH_HTTP_IDLE_TIMEOUT=" + idleTimeout.String(),
		// The collector's headroom lets the flood's garbage stand up to
		// 64 MiB before a collection (more under the race detector's
		// shadow memory): off, so that what is measured is what the HTTP
		// limits hold.
		"NORMWATCH_RUNTIME_GC_HEADROOM_BYTES=0",
	}
	d := startDaemon(t, "daemon", c)
	d.waitReady()
	mustProduce(t, b.addrs, c.topic, 0, 3000)
	d.requireExact(expect(3000, nil), 30*time.Second)
	addr := strings.TrimPrefix(d.url, "http://")
	pid := d.cmd.Process.Pid
	rss0, fd0 := procStats(t, pid)

	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	var maxRSS int64
	var maxFDs int
	sample := func() {
		rss, fds := procStats(t, pid)
		maxRSS, maxFDs = max(maxRSS, rss), max(maxFDs, fds)
	}
	for i := range idleClients + slowClients {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		require.NoError(t, err)
		conns = append(conns, conn)
		if i < idleClients {
			// One request answered, then the connection is left idle.
			_, err = io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: normwatch\r\n\r\n")
			require.NoError(t, err)
			require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
			if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err == nil {
				resp.Body.Close()
			} // else the daemon closed it at once, all busy: fine
		} else {
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetReadBuffer(4096)
			}
			_, _ = io.WriteString(conn, "GET /metrics HTTP/1.1\r\nHost: normwatch\r\n\r\n")
		}
		if i%50 == 0 {
			sample()
		}
	}
	for range 8 {
		sample()
		time.Sleep(250 * time.Millisecond)
	}
	code, body, err := d.get("/metrics")
	require.NoError(t, err, "a normal scrape meanwhile")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(body), "normwatch_events_total")
	sample()
	t.Logf("%d idle and %d slow-reading clients: daemon RSS %.0f MiB -> at most %.0f MiB, descriptors %d -> at most %d (http.max_connections %d)",
		idleClients, slowClients, float64(rss0)/(1<<20), float64(maxRSS)/(1<<20), fd0, maxFDs, maxConns)
	// Beside the cap, the daemon's Kafka connections may come and go.
	require.LessOrEqual(t, maxFDs, fd0+maxConns+10, "descriptors")
	require.Less(t, maxRSS-rss0, int64(64<<20), "memory growth")

	// Every idle connection the daemon kept is closed after the timeout.
	deadline := time.Now().Add(idleTimeout + 5*time.Second)
	for i, conn := range conns[:idleClients] {
		require.NoError(t, conn.SetReadDeadline(deadline))
		_, err := conn.Read(make([]byte, 1))
		require.Error(t, err)
		require.False(t, errors.Is(err, os.ErrDeadlineExceeded), "idle client %d still connected", i)
	}
	d.stop()
}
