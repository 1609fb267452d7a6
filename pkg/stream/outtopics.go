package stream

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/segmentio/kafka-go"
)

// EnsureOutputTopic creates topic, one the daemon writes to (the
// dead-letter topic, the alert topic), with the brokers' default
// partitions and replication factor when the brokers do not know it. The
// writers never ask the brokers to create a topic: against a cluster
// without it, every write failed, and the first dead letter held its
// partition's commits (and readiness) for good. A topic that exists is
// left as it is. It reports whether it created the topic.
func EnsureOutputTopic(ctx context.Context, brokers []string, topic string, tlsConfig *tls.Config, sasl SASLOptions) (bool, error) {
	if len(brokers) == 0 {
		return false, errors.New("stream: output topic: no brokers")
	}
	mech, err := SASLMechanism(sasl)
	if err != nil {
		return false, err
	}
	cl := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: DefaultRequestTimeout}
	if tlsConfig != nil || mech != nil {
		cl.Transport = &kafka.Transport{TLS: tlsConfig, SASL: mech}
	}
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return false, fmt.Errorf("looking up topic %s: %w", topic, err)
	}
	if len(md.Topics) == 1 && !errors.Is(md.Topics[0].Error, kafka.UnknownTopicOrPartition) {
		return false, md.Topics[0].Error // nil when it exists
	}
	res, err := cl.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: topic, NumPartitions: -1, ReplicationFactor: -1,
	}}})
	if err != nil {
		return false, fmt.Errorf("creating topic %s: %w", topic, err)
	}
	created := true
	switch err := res.Errors[topic]; {
	case errors.Is(err, kafka.TopicAlreadyExists): // another process, a moment ago
		created = false
	case err != nil:
		return false, fmt.Errorf("creating topic %s: %w", topic, err)
	}
	// A real broker answers before its metadata shows the topic led.
	if err := waitLeaders(ctx, cl, topic); err != nil {
		return created, err
	}
	return created, nil
}
