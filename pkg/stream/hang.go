package stream

import (
	"net"
	"sync"
)

// HangSwitch makes an embedded broker hang the way a stopped broker process
// does: connections are still accepted (the kernel completes them), and
// nothing sent on any of them is answered. Restart ends the hang as a
// restarted broker would: the connections of the hang are dropped, and
// what was sent on them is never handled; new connections are served. Give
// it to StartEmbedded in EmbeddedOptions.Hang. It is for tests of what
// normwatch does when Kafka hangs.
type HangSwitch struct {
	mu    sync.Mutex
	hung  bool
	wake  chan struct{} // closed by Restart
	conns map[*hangConn]struct{}
}

// Hang stops every answer, on the connections open now and on those
// accepted from now on.
func (h *HangSwitch) Hang() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.hung {
		h.hung = true
		h.wake = make(chan struct{})
	}
}

// Restart drops every connection that was open during the hang and serves
// new ones again.
func (h *HangSwitch) Restart() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.hung {
		return
	}
	for c := range h.conns {
		c.dropped = true
		_ = c.Conn.Close()
		delete(h.conns, c)
	}
	h.hung = false
	close(h.wake)
}

func (h *HangSwitch) listen(network, address string) (net.Listener, error) {
	ln, err := net.Listen(network, address)
	if err != nil {
		return nil, err
	}
	return &hangListener{Listener: ln, h: h}, nil
}

type hangListener struct {
	net.Listener
	h *HangSwitch
}

func (l *hangListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	hc := &hangConn{Conn: c, h: l.h, closed: make(chan struct{})}
	l.h.mu.Lock()
	if l.h.conns == nil {
		l.h.conns = map[*hangConn]struct{}{}
	}
	l.h.conns[hc] = struct{}{}
	l.h.mu.Unlock()
	return hc, nil
}

// hangConn is the broker's side of one connection.
type hangConn struct {
	net.Conn
	h         *HangSwitch
	dropped   bool // by Restart; guarded by h.mu
	closeOnce sync.Once
	closed    chan struct{}
}

func (c *hangConn) Read(b []byte) (int, error) {
	if err := c.hold(); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(b)
	// What arrived while the broker hung is never handled.
	if herr := c.hold(); herr != nil {
		return 0, herr
	}
	return n, err
}

func (c *hangConn) Write(b []byte) (int, error) {
	if err := c.hold(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

func (c *hangConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	c.h.mu.Lock()
	delete(c.h.conns, c)
	c.h.mu.Unlock()
	return c.Conn.Close()
}

// hold waits while the broker hangs; it fails once the connection was
// dropped by Restart or closed.
func (c *hangConn) hold() error {
	for {
		c.h.mu.Lock()
		hung, wake, dropped := c.h.hung, c.h.wake, c.dropped
		c.h.mu.Unlock()
		switch {
		case dropped:
			return net.ErrClosed
		case !hung:
			return nil
		}
		select {
		case <-wake:
		case <-c.closed:
			return net.ErrClosed
		}
	}
}
