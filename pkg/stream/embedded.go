package stream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// Defaults of EmbeddedOptions.
const (
	DefaultEmbeddedBrokers    = 1
	DefaultEmbeddedPartitions = 3
)

// EmbeddedOptions configures the embedded broker. Zero fields take the
// defaults.
type EmbeddedOptions struct {
	// Port is the first broker's port on 127.0.0.1, the next brokers
	// taking the following ports; 0 picks free ports at random.
	Port int
	// Brokers is the number of brokers, DefaultEmbeddedBrokers by default.
	Brokers int
	// Topics are created at start with Partitions partitions each.
	Topics     []string
	Partitions int
	// Hang, when set, can make the broker hang (tests of a broker that
	// accepts connections and never answers).
	Hang *HangSwitch
	// Extra are further kfake options, for tests (kfake.GroupMinSessionTimeout,
	// kfake.WithLogger, ...). They are applied last.
	Extra []kfake.Opt
}

// Embedded is an in-process Kafka-protocol broker (kfake) listening on
// localhost: what `monitor run --kafka.embedded` starts, so a
// first run needs no Kafka, and what the integration tests run against. Its
// data lives in memory and goes with Close.
type Embedded struct {
	cluster *kfake.Cluster
	addrs   []string
}

// StartEmbedded starts the embedded broker and returns once it answers on
// every address with its topics in place, or when ctx ends.
func StartEmbedded(ctx context.Context, opts EmbeddedOptions) (*Embedded, error) {
	if opts.Brokers == 0 {
		opts.Brokers = DefaultEmbeddedBrokers
	}
	if opts.Partitions == 0 {
		opts.Partitions = DefaultEmbeddedPartitions
	}
	switch {
	case opts.Brokers < 1 || opts.Brokers > 16:
		return nil, fmt.Errorf("stream: embedded option Brokers: %d out of range [1, 16]", opts.Brokers)
	case opts.Partitions < 1 || opts.Partitions > 10000:
		return nil, fmt.Errorf("stream: embedded option Partitions: %d out of range [1, 10000]", opts.Partitions)
	case opts.Port < 0 || opts.Port+opts.Brokers-1 > 65535:
		return nil, fmt.Errorf("stream: embedded option Port: %d out of range [0, %d]", opts.Port, 65536-opts.Brokers)
	}
	for i, t := range opts.Topics {
		if err := validTopic(t); err != nil {
			return nil, fmt.Errorf("stream: embedded option Topics[%d]: %w", i, err)
		}
	}

	kopts := []kfake.Opt{kfake.NumBrokers(opts.Brokers)}
	if opts.Port != 0 {
		ports := make([]int, opts.Brokers)
		for i := range ports {
			ports[i] = opts.Port + i
		}
		kopts = append(kopts, kfake.Ports(ports...))
	}
	if len(opts.Topics) > 0 {
		kopts = append(kopts, kfake.SeedTopics(int32(opts.Partitions), opts.Topics...))
	}
	if opts.Hang != nil {
		kopts = append(kopts, kfake.ListenFn(opts.Hang.listen))
	}
	kopts = append(kopts, opts.Extra...)
	c, err := kfake.NewCluster(kopts...)
	if err != nil {
		return nil, fmt.Errorf("starting embedded broker: %w", err)
	}
	e := &Embedded{cluster: c, addrs: c.ListenAddrs()}
	if err := e.waitUp(ctx, opts.Topics); err != nil {
		c.Close()
		return nil, err
	}
	return e, nil
}

// waitUp checks that each broker answers a metadata request listing the
// topics, so that the caller's first client does not race the listeners.
func (e *Embedded) waitUp(ctx context.Context, topics []string) error {
	for _, addr := range e.addrs {
		for {
			err := func() error {
				dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				defer cancel()
				conn, err := (&net.Dialer{}).DialContext(dctx, "tcp", addr)
				if err != nil {
					return err
				}
				kc := kafka.NewConn(conn, "", 0)
				defer kc.Close()
				_ = kc.SetDeadline(time.Now().Add(2 * time.Second))
				if len(topics) == 0 {
					_, err = kc.Brokers()
					return err
				}
				_, err = kc.ReadPartitions(topics...)
				return err
			}()
			if err == nil {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for embedded broker %s: %w", addr, errors.Join(ctx.Err(), err))
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return nil
}

// Addrs returns the host:port of each broker.
func (e *Embedded) Addrs() []string { return append([]string(nil), e.addrs...) }

// Cluster returns the kfake cluster, for tests' control hooks
// (ControlKey, MoveTopicPartition, ShufflePartitionLeaders, ...).
func (e *Embedded) Cluster() *kfake.Cluster { return e.cluster }

// Close stops the broker and drops its data. It is safe to call twice.
func (e *Embedded) Close() { e.cluster.Close() }

// validTopic applies Kafka's rule for topic names.
func validTopic(t string) error {
	if t == "" || t == "." || t == ".." || len(t) > 249 {
		return fmt.Errorf("%q is not a valid topic name", t)
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%q is not a valid topic name: byte %q is outside [a-zA-Z0-9._-]", t, c)
		}
	}
	return nil
}
