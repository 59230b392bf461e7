package broker

import "github.com/prometheus/client_golang/prometheus"

type brokerMetrics struct {
	connected    prometheus.Gauge
	authFailures prometheus.Counter
	aclDenied    prometheus.Counter
	tooLarge     prometheus.Counter
}

func newBrokerMetrics() brokerMetrics {
	return brokerMetrics{
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "valise_mqtt_connected_agents",
			Help: "Devices holding an MQTT connection now.",
		}),
		authFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "valise_mqtt_auth_failures_total",
			Help: "MQTT connections refused: anonymous, unknown credentials, or a client id that is not the device's.",
		}),
		aclDenied: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "valise_mqtt_acl_denied_total",
			Help: "Publishes dropped and subscriptions refused because the topic is not the device's own.",
		}),
		tooLarge: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "valise_mqtt_packets_too_large_total",
			Help: "Connections ended because a packet exceeded the maximum packet size.",
		}),
	}
}

func (m brokerMetrics) register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.connected, m.authFailures, m.aclDenied, m.tooLarge} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}
