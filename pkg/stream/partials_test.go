package stream

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
)

// TestEnsurePartialsTopic: the topic is created compacted with the
// configuration it needs, taken as it is when right, and refused with
// what to change when not.
func TestEnsurePartialsTopic(t *testing.T) {
	brokers, _ := testBrokers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	opts := PartialsTopicOptions{Topic: testTopic(t, "partials"), Partitions: 3, Retention: 30 * time.Minute, MaxMessageBytes: 4 << 20}
	require.NoError(t, EnsurePartialsTopic(ctx, brokers, opts))
	cl := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second}
	desc, err := cl.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: opts.Topic,
	}}})
	require.NoError(t, err)
	got := map[string]string{}
	for _, r := range desc.Resources {
		for _, e := range r.ConfigEntries {
			got[e.ConfigName] = e.ConfigValue
		}
	}
	for k, v := range PartialsTopicConfig(opts) {
		require.Equal(t, v, got[k], k)
	}
	require.NoError(t, EnsurePartialsTopic(ctx, brokers, opts), "the topic exists, rightly configured")

	wrong := testTopic(t, "deleting")
	createTopic(t, brokers, wrong, 1)
	_, err = cl.IncrementalAlterConfigs(ctx, &kafka.IncrementalAlterConfigsRequest{Resources: []kafka.IncrementalAlterConfigsRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: wrong,
		Configs: []kafka.IncrementalAlterConfigsRequestConfig{{Name: "cleanup.policy", Value: "delete", ConfigOperation: kafka.ConfigOperationSet}},
	}}})
	require.NoError(t, err)
	err = EnsurePartialsTopic(ctx, brokers, PartialsTopicOptions{Topic: wrong, Retention: time.Hour})
	require.ErrorContains(t, err, `cleanup.policy is "delete", want compact,delete`)
	require.ErrorContains(t, err, "evaluation.partials_topic")
}

func TestRoutePartition(t *testing.T) {
	for _, n := range []int{1, 4, 12} {
		seen := map[int]bool{}
		for _, m := range []string{"ranker", "search", "ads", "fraud", "churn", "ltv"} {
			p := RoutePartition(m, n)
			require.GreaterOrEqual(t, p, 0)
			require.Less(t, p, n)
			require.Equal(t, p, RoutePartition(m, n), "stable")
			seen[p] = true
		}
		if n > 1 {
			require.Greater(t, len(seen), 1, "models spread over %d partitions", n)
		}
	}
}

// TestInternalTopicsStartTogether: processes that start at once (a
// Deployment's replicas) each create the partials and checkpoint topics
// or find them made by another; every one must start, also while the
// topic just created is not yet known to the broker that answers (seen on
// Apache Kafka 4: "Unknown Topic Or Partition" reading its configuration,
// and the daemon exited).
func TestInternalTopicsStartTogether(t *testing.T) {
	brokers, _ := testBrokers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for round := range 3 {
		partials := testTopic(t, fmt.Sprintf("partials-%d", round))
		checkpoints := testTopic(t, fmt.Sprintf("checkpoints-%d", round))
		// Something in the process asked kafka-go's default transport of
		// the partials topic before it existed (in the daemon: a metadata
		// request of another part), so that transport's cache says the
		// topic is unknown for its 6 s TTL.
		cl := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: time.Second}
		_, _ = cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{partials}})
		const processes = 4
		errs := make(chan error, 2*processes)
		for range processes {
			go func() {
				// Each process writes as soon as it started: every write
				// lands at once, not after kafka-go's metadata cache
				// expires.
				if err := EnsurePartialsTopic(ctx, brokers, PartialsTopicOptions{Topic: partials, Partitions: 6, Retention: time.Hour}); err != nil {
					errs <- err
					return
				}
				// The default timeout: under load a shorter one fails
				// the write itself.
				w, err := NewPartialsWriter(PartialsWriterOptions{Brokers: brokers, Topic: partials})
				if err != nil {
					errs <- err
					return
				}
				defer w.Close()
				errs <- w.WritePartials(ctx, []Record{{Key: []byte("k"), Value: []byte("v"), Broadcast: true}})
			}()
			go func() {
				s, err := NewKafkaCheckpoints(ctx, KafkaCheckpointOptions{Brokers: brokers, Topic: checkpoints, GroupID: "g", Partitions: 6})
				if err == nil {
					s.Close()
				}
				errs <- err
			}()
		}
		for range 2 * processes {
			require.NoError(t, <-errs, "round %d", round)
		}
	}
}
