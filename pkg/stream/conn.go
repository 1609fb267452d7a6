package stream

import (
	"context"
	"net"
	"sync"
	"time"
)

// readBufferBytes is the most one read from a broker connection takes.
// kafka-go reads a connection through a bufio.Reader of 4 KiB of its
// own, so a fetch of many messages cost a system call every few
// messages: about a tenth of the CPU of a monitor on the realistic
// benchmark. A connection that buffers this much under it leaves one
// system call for every hundred or so 1 KiB messages.
const readBufferBytes = 128 << 10

// bufferedConn is a broker connection read readBufferBytes at a time.
// kafka-go's Conn reads it from one goroutine at a time, as any net.Conn.
//
// kafka-go also sets a read deadline before every message it reads, most
// of which come out of the buffer: setting it on the socket each time (a
// runtime timer moved) cost a twentieth of the monitor's CPU. So a read
// deadline is only noted, and set on the socket before a read that waits
// for it, or at once while such a read is waiting (which another
// goroutine may set it to interrupt). Bytes already buffered were
// received before any deadline and are returned whatever it is.
type bufferedConn struct {
	net.Conn
	buf  []byte
	r, w int
	err  error // returned once the buffer is drained

	mu       sync.Mutex
	reading  bool      // a read of the socket is under way
	deadline time.Time // the read deadline asked for
	set      time.Time // the read deadline of the socket
}

func (c *bufferedConn) Read(p []byte) (int, error) {
	if c.r == c.w {
		if err := c.err; err != nil {
			c.err = nil
			return 0, err
		}
		if len(p) >= readBufferBytes {
			return c.readConn(p)
		}
		if c.buf == nil {
			c.buf = make([]byte, readBufferBytes)
		}
		n, err := c.readConn(c.buf)
		c.r, c.w = 0, n
		if n == 0 {
			return 0, err
		}
		c.err = err
	}
	n := copy(p, c.buf[c.r:c.w])
	c.r += n
	return n, nil
}

// readConn reads the socket under the read deadline last asked for.
func (c *bufferedConn) readConn(p []byte) (int, error) {
	c.mu.Lock()
	if !c.set.Equal(c.deadline) {
		if err := c.Conn.SetReadDeadline(c.deadline); err != nil {
			c.mu.Unlock()
			return 0, err
		}
		c.set = c.deadline
	}
	c.reading = true
	c.mu.Unlock()
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.reading = false
	c.mu.Unlock()
	return n, err
}

// SetReadDeadline notes t for the next read of the socket, or sets it on
// the socket at once when a read of it is waiting.
func (c *bufferedConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	if !c.reading {
		return nil
	}
	c.set = t
	return c.Conn.SetReadDeadline(t)
}

// SetDeadline sets the write deadline on the socket and the read deadline
// as SetReadDeadline does.
func (c *bufferedConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.SetReadDeadline(t)
}

// dialBuffered dials a broker as kafka-go's Dialer does without a DialFunc
// (Happy Eyeballs, TCP keep-alive at Go's default), returning the
// connection buffered. TLS, when configured, is layered on it by kafka-go.
func dialBuffered(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &bufferedConn{Conn: c}, nil
}
