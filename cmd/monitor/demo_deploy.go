package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/normwatch/normwatch/pkg/config"
	"github.com/normwatch/normwatch/pkg/demo"
)

// The demo split in parts, for deployments where Kafka, the daemon and the
// producer are separate processes (docker-compose.yml): the baselines are
// written once, `monitor run` reads them, and the producer sends to Kafka.

// demoWriteBaselines writes the demo model's training baselines to dir.
func demoWriteBaselines(dir string, stdout, stderr io.Writer) int {
	work, err := os.MkdirTemp("", "normwatch-demo-")
	if err != nil {
		fmt.Fprintf(stderr, "monitor demo: %v\n", err)
		return exitError
	}
	defer os.RemoveAll(work)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintf(stderr, "monitor demo: --write-baselines: %v\n", err)
		return exitError
	}
	if err := demoBaselines(dir, work); err != nil {
		fmt.Fprintf(stderr, "monitor demo: %v\n", err)
		return exitError
	}
	for _, mv := range [][2]string{{demo.Model, demo.Healthy}, {demo.Model, demo.Buggy}, {demo.SearchModel, demo.SearchHealthy}, {demo.SearchModel, demo.SearchBuggy}} {
		if p, ok := existing(dir, mv[0], mv[1]); ok {
			fmt.Fprintf(stdout, "baseline %s %s: %s\n", mv[0], mv[1], p)
		}
	}
	return 0
}

// demoProduceOnly sends the demo traffic to brokers until SIGINT, SIGTERM
// or duration.
func demoProduceOnly(brokers []string, rate int, duration, bugsFor time.Duration, stdout, stderr io.Writer) int {
	if len(brokers) == 0 {
		fmt.Fprintln(stderr, "monitor demo: --produce-only needs --brokers")
		return exitUsageError
	}
	c := config.Default()
	c.Kafka.Brokers = brokers
	if err := c.Validate(); err != nil {
		fmt.Fprintf(stderr, "monitor demo: --brokers: %v\n", err)
		return exitUsageError
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}
	out := &syncWriter{w: stdout}
	healed := &atomic.Bool{}
	heal := healActor(ctx, bugsFor, healed, out)
	go func() { _ = heal.execute() }()
	defer heal.interrupt(nil)
	topic := c.Kafka.Topics[0]
	fmt.Fprintf(out, "normwatch demo: producing %d events/s of %s v3 and v4 to %s at %v; v4 has its two bugs\n",
		rate, demo.Model, topic, brokers)
	if err := produceDemo(ctx, brokers, topic, rate, healed); err != nil {
		fmt.Fprintf(stderr, "monitor demo: %v\n", err)
		return exitError
	}
	return 0
}

// healActor heals v4 (sets healed) after bugsFor, if positive, or on
// SIGUSR1, then waits to be interrupted: the demo goes on with healthy
// traffic and its alerts resolve.
func healActor(ctx context.Context, bugsFor time.Duration, healed *atomic.Bool, out io.Writer) actor {
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	done := make(chan struct{})
	var once sync.Once
	return actor{
		execute: func() error {
			var after <-chan time.Time
			if bugsFor > 0 {
				t := time.NewTimer(bugsFor)
				defer t.Stop()
				after = t.C
			}
			for {
				select {
				case <-after:
				case <-usr1:
				case <-ctx.Done():
					return nil
				case <-done:
					return nil
				}
				if !healed.Swap(true) {
					fmt.Fprintf(out, "%s demo: v4 healed: income is z-scored again and every query vector is unit-norm; its alerts resolve within a few windows\n",
						time.Now().Format("15:04:05"))
				}
			}
		},
		interrupt: func(error) {
			once.Do(func() {
				signal.Stop(usr1)
				close(done)
			})
		},
	}
}
