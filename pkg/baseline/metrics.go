package baseline

import "github.com/prometheus/client_golang/prometheus"

// storeCollector computes the store's metrics at scrape time.
type storeCollector struct {
	s               *Store
	served, refused *prometheus.Desc
}

// Collector returns the store's metrics, read at each scrape:
//
//	normwatch_baselines_served        model versions the store serves a baseline for
//	normwatch_baseline_files_refused  files the last reload refused (each is logged and on the status page)
func (s *Store) Collector() prometheus.Collector {
	return &storeCollector{
		s: s,
		served: prometheus.NewDesc("normwatch_baselines_served",
			"Model versions the baseline store serves a baseline for.", nil, nil),
		refused: prometheus.NewDesc("normwatch_baseline_files_refused",
			"Baseline files the last reload of the store refused: unreadable, invalid, misplaced, or a second file for one version.", nil, nil),
	}
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.served
	ch <- c.refused
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	snap := c.s.snap.Load()
	ch <- prometheus.MustNewConstMetric(c.served, prometheus.GaugeValue, float64(len(snap.entries)))
	ch <- prometheus.MustNewConstMetric(c.refused, prometheus.GaugeValue, float64(len(snap.refused)))
}
