package ingest

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	messages      *prometheus.CounterVec
	duplicates    prometheus.Counter
	rejected      *prometheus.CounterVec
	batchSize     prometheus.Histogram
	commitSeconds prometheus.Histogram
}

func newMetrics() metrics {
	return metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "valise_ingest_messages_total",
			Help: "Messages stored, by kind (duplicates not included).",
		}, []string{"kind"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "valise_ingest_duplicates_total",
			Help: "Messages whose (device, seq) was already stored.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "valise_ingest_rejected_total",
			Help: "Messages refused, by reason (too_large, malformed, version, invalid, topic, wrong_device…).",
		}, []string{"reason"}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "valise_ingest_batch_size",
			Help:    "Messages and presence changes per commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 11), // 1…1024
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "valise_ingest_commit_seconds",
			Help:    "Duration of one commit, fsync included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14), // 0.5 ms…4 s
		}),
	}
}

func (m metrics) register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.messages, m.duplicates, m.rejected, m.batchSize, m.commitSeconds} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}
