package stream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// DefaultTopicCheckInterval is how often the consumer checks that its
// topics exist while it consumes, and the longest pause between checks
// while none does.
const DefaultTopicCheckInterval = 30 * time.Second

// topicState is what the last check of the configured topics found. A
// consumer group subscribed to a topic that does not exist rebalances
// without end in kafka-go (its partition watcher ends every generation it
// starts), so the consumer joins with the topics that exist only, and
// re-joins when that set changes.
type topicState struct {
	mu      sync.Mutex
	present []string // sorted
	missing map[string]bool
	err     error // the last check's, nil when it succeeded
	checked bool
}

// checkTopics asks the brokers which configured topics exist, without
// creating any (a metadata request that does not allow auto-creation,
// which kafka-go's Conn always allows). Each check has a transport of its
// own: a transport answers metadata from a cache seconds old, and a check
// must see a topic deleted now.
func (c *Consumer) checkTopics(ctx context.Context) (present []string, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.RequestTimeout)
	defer cancel()
	tr := &kafka.Transport{
		ClientID: c.transport.ClientID, DialTimeout: c.opts.DialTimeout, TLS: c.opts.TLS, SASL: c.transport.SASL,
		MetadataTopics: c.opts.Topics,
	}
	defer tr.CloseIdleConnections()
	cl := &kafka.Client{Addr: kafka.TCP(c.opts.Brokers...), Transport: tr, Timeout: c.opts.RequestTimeout}
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: c.opts.Topics})
	if err != nil {
		return nil, fmt.Errorf("reading topic metadata: %w", err)
	}
	for _, t := range md.Topics {
		switch {
		case t.Error == nil && len(t.Partitions) > 0:
			present = append(present, t.Name)
		case t.Error == nil, errors.Is(t.Error, kafka.UnknownTopicOrPartition):
		default:
			return nil, fmt.Errorf("reading metadata of topic %s: %w", t.Name, t.Error)
		}
	}
	slices.Sort(present)
	return present, nil
}

// refreshTopics checks the topics and records what it found: the metric,
// the readiness reason, and one log line per change (a topic gone missing
// is a WARN once, not at every retry).
func (c *Consumer) refreshTopics(ctx context.Context) ([]string, error) {
	present, err := c.checkTopics(ctx)
	ts := &c.topics
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if err != nil {
		if ts.err == nil && ctx.Err() == nil {
			c.log.Warn("cannot check the topics; retrying with backoff", "err", err)
		}
		ts.err = err
		return nil, err
	}
	if ts.err != nil {
		c.log.Info("topics checked again", "present", strings.Join(present, ","))
	}
	ts.err = nil
	for _, t := range c.opts.Topics {
		gone := !slices.Contains(present, t)
		switch {
		case gone && !ts.missing[t]:
			c.log.Warn("topic does not exist; checking again with backoff, consuming the topics that do",
				"topic", t, "brokers", strings.Join(c.opts.Brokers, ","))
		case !gone && ts.missing[t]:
			c.log.Info("topic exists now; consuming it", "topic", t)
		}
		ts.missing[t] = gone
		v := 0.0
		if gone {
			v = 1
		}
		c.m.topicMissing.WithLabelValues(t).Set(v)
	}
	ts.present, ts.checked = present, true
	return present, nil
}

// topicsProblem is the readiness reason of the topics, or nil.
func (c *Consumer) topicsProblem() error {
	ts := &c.topics
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.err != nil {
		return fmt.Errorf("cannot check the topics: %w", ts.err)
	}
	var missing []string
	for _, t := range c.opts.Topics {
		if ts.missing[t] {
			missing = append(missing, t)
		}
	}
	switch len(missing) {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("topic %s does not exist", missing[0])
	}
	return fmt.Errorf("topics %s do not exist", strings.Join(missing, ", "))
}

// waitForTopics checks the topics until at least one exists, backing off
// from RetryBackoff to TopicCheckInterval; it returns those that exist, or
// nil when the consumer stops.
func (c *Consumer) waitForTopics() []string {
	backoff := c.opts.RetryBackoff
	for {
		present, err := c.refreshTopics(c.stopCtx)
		if err == nil && len(present) > 0 {
			return present
		}
		if !sleepCtx(c.stopCtx, backoff) {
			return nil
		}
		backoff = min(2*backoff, c.opts.TopicCheckInterval)
	}
}

// watchTopics checks the topics every TopicCheckInterval, and whenever
// check says so, until ctx ends; it calls changed, once, when the set of
// topics that exist differs from topics.
func (c *Consumer) watchTopics(ctx context.Context, topics []string, check <-chan struct{}, changed func()) {
	t := time.NewTicker(c.opts.TopicCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-check:
		}
		present, err := c.refreshTopics(ctx)
		if err == nil && !slices.Equal(present, topics) {
			c.log.Info("the topics that exist changed; re-joining the group with them",
				"was", strings.Join(topics, ","), "now", strings.Join(present, ","))
			changed()
			return
		}
	}
}

// MissingTopics returns the configured topics that did not exist at the
// last check, sorted.
func (c *Consumer) MissingTopics() []string {
	ts := &c.topics
	ts.mu.Lock()
	defer ts.mu.Unlock()
	var out []string
	for t, m := range ts.missing {
		if m {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}
