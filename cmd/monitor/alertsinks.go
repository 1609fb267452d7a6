package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/normwatch/normwatch/pkg/alert"
	"github.com/normwatch/normwatch/pkg/config"
	"github.com/normwatch/normwatch/pkg/stream"
)

// runner is a component with a blocking Run and an idempotent Stop: the
// network alert sinks.
type runner interface {
	Run(ctx context.Context) error
	Stop()
}

// namedRunner is a runner with the name the shutdown reports it by.
type namedRunner struct {
	name string
	runner
}

// newAlertSinks builds the sinks the configuration asks for beyond the log:
// Alertmanager (alerting.alertmanager_urls) and the alert topic
// (kafka.alert_topic, on d.brokers). Each is also a runner for the group.
func (d *daemon) newAlertSinks() ([]alert.Sink, []namedRunner, error) {
	var (
		sinks   []alert.Sink
		runners []namedRunner
	)
	a := d.cfg.Alerting
	if len(a.AlertmanagerURLs) > 0 {
		var tlsConfig *tls.Config
		if a.TLS != (config.ClientTLS{}) {
			var err error
			if tlsConfig, err = clientTLS("alerting.tls", a.TLS); err != nil {
				return nil, nil, err
			}
		}
		am, err := alert.NewAlertmanager(alert.AlertmanagerOptions{
			URLs: a.AlertmanagerURLs, PathPrefix: a.PathPrefix,
			ResendInterval: a.ResendInterval, Timeout: a.Timeout, QueueCapacity: a.QueueCapacity,
			FlushTimeout: d.clock.flushTimeout(),
			TLS:          tlsConfig,
			Username:     a.BasicAuth.Username, Password: a.BasicAuth.Password, BearerToken: a.BearerToken,
			GeneratorURL: a.ExternalURL, Watchdog: a.Watchdog,
			Logger: d.logger.With("component", "alertmanager"), Registerer: d.reg,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("alerting: %w", err)
		}
		sinks, runners = append(sinks, am), append(runners, namedRunner{"alertmanager", am})
	}
	if topic := d.cfg.Kafka.AlertTopic; topic != "" {
		w, err := alertTopicWriter(d.cfg.Kafka, d.brokers)
		if err != nil {
			return nil, nil, err
		}
		k, err := alert.NewKafka(alert.KafkaOptions{
			Producer: kafkaProducer{w}, QueueCapacity: a.QueueCapacity, Timeout: a.Timeout, FlushTimeout: d.clock.flushTimeout(),
			Logger: d.logger.With("component", "alert_topic", "topic", topic), Registerer: d.reg,
		})
		if err != nil {
			return nil, nil, err
		}
		sinks, runners = append(sinks, k), append(runners, namedRunner{"alert_topic", closing{k, w, d.clock, d.logger}})
	}
	return sinks, runners, nil
}

func alertTopicWriter(c config.Kafka, brokers []string) (*kafka.Writer, error) {
	tlsConfig, err := kafkaTLS(c.TLS)
	if err != nil {
		return nil, err
	}
	mech, err := stream.SASLMechanism(stream.SASLOptions{
		Mechanism: c.SASL.Mechanism, Username: c.SASL.Username, Password: c.SASL.Password,
	})
	if err != nil {
		return nil, fmt.Errorf("kafka.sasl: %w", err)
	}
	return &kafka.Writer{
		Addr:  kafka.TCP(brokers...),
		Topic: c.AlertTopic,
		// By fingerprint: one alert's changes stay in order on one
		// partition, and compaction keeps its last state.
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		MaxAttempts:  3,
		BatchTimeout: 10 * time.Millisecond,
		WriteTimeout: 10 * time.Second,
		Transport:    &kafka.Transport{ClientID: "normwatch", TLS: tlsConfig, SASL: mech},
	}, nil
}

// kafkaProducer adapts a kafka-go Writer to alert.Producer.
type kafkaProducer struct{ w *kafka.Writer }

func (p kafkaProducer) Produce(ctx context.Context, key, value []byte) error {
	// With its time set, kafka-go's Writer does not stamp the message after
	// a timed-out attempt while its connection may still encode it (a
	// data race in kafka-go v0.4.51).
	return p.w.WriteMessages(ctx, kafka.Message{Key: key, Value: value, Time: time.Now()})
}

// closing closes the writer once its sink's Run has returned, waiting for
// it no later than the shutdown's deadline: kafka-go's Close waits for
// batches in flight, which a hung broker never answers. The sink has
// already counted what it could not write.
type closing struct {
	runner
	w      *kafka.Writer
	clock  *stopClock
	logger *slog.Logger
}

func (c closing) Run(ctx context.Context) error {
	err := c.runner.Run(ctx)
	deadline := time.Now().Add(c.w.WriteTimeout)
	select {
	case <-c.clock.begun:
		deadline = c.clock.deadline()
	default:
	}
	var cerr error
	if !within(deadline, func() { cerr = c.w.Close() }) {
		c.logger.Warn("the alert topic writer did not close in time; leaving it")
	} else if cerr != nil && err == nil {
		err = cerr
	}
	return err
}
