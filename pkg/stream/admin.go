package stream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// CreateTopic creates topic with the given partitions (replication factor
// one) through the cluster's controller, and returns once every partition
// has a leader: a real broker answers CreateTopics before its metadata shows
// the topic, and a produce in between would fail. ctx bounds the wait.
func CreateTopic(ctx context.Context, brokers []string, topic string, partitions int) error {
	if len(brokers) == 0 {
		return errors.New("stream: creating a topic: no brokers")
	}
	var d kafka.Dialer
	conn, err := d.DialContext(ctx, "tcp", brokers[0])
	if err != nil {
		return fmt.Errorf("creating topic %s: %w", topic, err)
	}
	defer conn.Close()
	ctrl, err := conn.Controller()
	if err != nil {
		return fmt.Errorf("creating topic %s: finding the controller: %w", topic, err)
	}
	cc, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
	if err != nil {
		return fmt.Errorf("creating topic %s: dialing the controller: %w", topic, err)
	}
	defer cc.Close()
	if err := cc.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: partitions, ReplicationFactor: 1}); err != nil {
		return fmt.Errorf("creating topic %s: %w", topic, err)
	}
	for {
		if ps, err := conn.ReadPartitions(topic); err == nil && len(ps) == partitions && allLed(ps) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("creating topic %s: waiting for partition leaders: %w", topic, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func allLed(ps []kafka.Partition) bool {
	for _, p := range ps {
		if p.Leader.Host == "" {
			return false
		}
	}
	return true
}
