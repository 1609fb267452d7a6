package stream

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestBufferedConnReadsWhatWasSent: whatever sizes the writer writes and
// the reader asks for (below, at and above the buffer), the bytes come
// out as they went in, then the connection's end.
func TestBufferedConnReadsWhatWasSent(t *testing.T) {
	tests := []struct {
		name    string
		readMax int
	}{
		{"kafka-go's bufio reads", 4096},
		{"small reads", 7},
		{"reads larger than the buffer", 3 * readBufferBytes},
		{"mixed", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, uint64(tt.readMax)))
			want := make([]byte, 5*readBufferBytes+123)
			for i := range want {
				want[i] = byte(r.Uint32())
			}
			a, b := net.Pipe()
			go func() {
				rest := want
				for len(rest) > 0 {
					n := min(len(rest), 1+r.IntN(2*readBufferBytes))
					_, _ = a.Write(rest[:n])
					rest = rest[n:]
				}
				a.Close()
			}()
			c := &bufferedConn{Conn: b}
			defer c.Close()
			var got bytes.Buffer
			rr := rand.New(rand.NewPCG(2, 2))
			for {
				size := tt.readMax
				if size == 0 {
					size = 1 + rr.IntN(2*readBufferBytes)
				}
				p := make([]byte, size)
				n, err := c.Read(p)
				got.Write(p[:n])
				if errors.Is(err, io.EOF) {
					break
				}
				require.NoError(t, err)
			}
			require.Equal(t, want, got.Bytes())
		})
	}
}

// TestBufferedConnDeadline: a read deadline set on the connection ends a
// read that waits for the broker, as on the bare connection, and the
// connection reads again after the deadline is lifted.
func TestBufferedConnDeadline(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	c := &bufferedConn{Conn: b}
	defer c.Close()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
	_, err := c.Read(make([]byte, 10))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)

	require.NoError(t, c.SetReadDeadline(time.Time{}))
	go func() { _, _ = a.Write([]byte("hello")) }()
	p := make([]byte, 10)
	n, err := c.Read(p)
	require.NoError(t, err)
	require.Equal(t, "hello", string(p[:n]))
}

// TestBufferedConnDeadlineInterruptsAWaitingRead: a deadline set while a
// read waits for the broker (as a close or a cancel does from another
// goroutine) ends that read.
func TestBufferedConnDeadlineInterruptsAWaitingRead(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	c := &bufferedConn{Conn: b}
	defer c.Close()
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 10))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond) // the read is waiting
	require.NoError(t, c.SetReadDeadline(time.Now()))
	select {
	case err := <-done:
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	case <-time.After(5 * time.Second):
		t.Fatal("the deadline did not end the waiting read")
	}
}

// TestBufferedConnBufferedBytesBeforeDeadline: bytes already received are
// read whatever the deadline, then the deadline applies to the socket.
func TestBufferedConnBufferedBytesBeforeDeadline(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	c := &bufferedConn{Conn: b}
	defer c.Close()
	go func() { _, _ = a.Write([]byte("0123456789")) }()
	p := make([]byte, 4)
	n, err := c.Read(p)
	require.NoError(t, err)
	require.Equal(t, "0123", string(p[:n]))
	require.NoError(t, c.SetReadDeadline(time.Now().Add(-time.Second)))
	var rest []byte
	for len(rest) < 6 {
		n, err := c.Read(p)
		require.NoError(t, err)
		rest = append(rest, p[:n]...)
	}
	require.Equal(t, "456789", string(rest))
	_, err = c.Read(p)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
}
