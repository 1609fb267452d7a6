package stream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// describeTopicConfig reads the named configuration entries of topic. A
// topic another process has just created can be unknown to the broker
// that answers for a moment (its metadata not yet propagated: seen on
// Apache Kafka 4 when N processes start together and one creates the
// internal topics the others find existing), so UnknownTopicOrPartition
// is retried every 50 ms until ctx ends.
func describeTopicConfig(ctx context.Context, cl *kafka.Client, topic string, names ...string) (map[string]string, error) {
	for {
		got, err := describeTopicConfigOnce(ctx, cl, topic, names)
		if err == nil || !errors.Is(err, kafka.UnknownTopicOrPartition) {
			return got, err
		}
		select {
		case <-ctx.Done():
			return nil, errors.Join(err, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func describeTopicConfigOnce(ctx context.Context, cl *kafka.Client, topic string, names []string) (map[string]string, error) {
	res, err := cl.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: topic, ConfigNames: names,
	}}})
	if err != nil {
		return nil, err
	}
	got := map[string]string{}
	for _, r := range res.Resources {
		if r.Error != nil {
			return nil, fmt.Errorf("topic %s: %w", topic, r.Error)
		}
		for _, e := range r.ConfigEntries {
			got[e.ConfigName] = e.ConfigValue
		}
	}
	return got, nil
}
