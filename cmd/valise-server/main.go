// Command valise-server runs the Valise server: the embedded MQTT broker
// (or a consumer of an external one), the bbolt store, the HTTP JSON API
// and /metrics, in one process. SIGINT and SIGTERM shut it down cleanly.
// Its commands backup and restore copy the store out, while the server
// runs or not, and put a copy back in place, the server stopped.
//
// Every flag can also be given as an environment variable (VALISE_DATA,
// VALISE_HTTP, VALISE_MQTT, VALISE_MQTT_URL, VALISE_PUBLIC_URL…). Exit
// codes: 0 after a clean shutdown, 1 on failure with a one-line reason on
// stderr, 2 on bad usage.
package main

import (
	"context"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/valise-numerique/valise/internal/cmdmain"
	"github.com/valise-numerique/valise/server"
)

// version is set at build time (-ldflags "-X main.version=…").
var version = "dev"

func main() { cmdmain.Main(cmdmain.Reporting("valise-server", run)) }

// run parses args, starts the server and blocks until ctx is done or the
// server fails.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	app := &cli.App{
		Name:    "valise-server",
		Version: version,
		Usage:   "fleet server for Valise: MQTT broker, store and HTTP API",
		UsageText: "valise-server [--data DIR] [--http ADDR] [--mqtt ADDR] [--mqtt-url URL] [--public-url URL] [--tls] [--tls-cert FILE --tls-key FILE] [--log-level LEVEL]\n" +
			"valise-server backup --to FILE [--data DIR] [--server URL]\n" +
			"valise-server restore FILE [--data DIR]",
		Writer:    stdout,
		ErrWriter: stderr,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data", Value: "./" + server.DefaultDataDir, EnvVars: []string{"VALISE_DATA"},
				Usage: "data directory: store, admin token, keys (created 0700)"},
			&cli.StringFlag{Name: "http", Value: server.DefaultHTTPAddr, EnvVars: []string{"VALISE_HTTP"},
				Usage: "address of the HTTP API"},
			&cli.StringFlag{Name: "mqtt", Value: server.DefaultMQTTAddr, EnvVars: []string{"VALISE_MQTT"},
				Usage: "address of the embedded MQTT broker"},
			&cli.StringFlag{Name: "mqtt-url", EnvVars: []string{"VALISE_MQTT_URL"},
				Usage: "external MQTT broker (tcp://host:1883) to consume from instead of the embedded one"},
			&cli.StringFlag{Name: "mqtt-client-id", Value: server.DefaultMQTTClientID, EnvVars: []string{"VALISE_MQTT_CLIENT_ID"},
				Usage: "client id of the server's persistent session on the external broker"},
			&cli.StringFlag{Name: "mqtt-username", EnvVars: []string{"VALISE_MQTT_USERNAME"},
				Usage: "the server's username on the external broker"},
			&cli.StringFlag{Name: "mqtt-password", EnvVars: []string{"VALISE_MQTT_PASSWORD"},
				Usage: "the server's password on the external broker (prefer the environment variable)"},
			&cli.StringFlag{Name: "public-url", EnvVars: []string{"VALISE_PUBLIC_URL"},
				Usage: "URL agents use to reach the API, for join commands (default: from --http)"},
			&cli.BoolFlag{Name: "tls", EnvVars: []string{"VALISE_TLS"},
				Usage: "HTTPS and MQTT over TLS even on loopback (always on for listeners off loopback)"},
			&cli.StringFlag{Name: "tls-cert", EnvVars: []string{"VALISE_TLS_CERT"},
				Usage: "PEM certificate chain (leaf first) to serve instead of the server's own CA; agents pin its last certificate"},
			&cli.StringFlag{Name: "tls-key", EnvVars: []string{"VALISE_TLS_KEY"},
				Usage: "PEM key of --tls-cert"},
			&cli.StringFlag{Name: "kit-wifi-ssid", EnvVars: []string{"VALISE_KIT_WIFI_SSID"},
				Usage: "Wi-Fi network that provisioned laptops and tablets join (the kits' hotspots)"},
			&cli.StringFlag{Name: "kit-wifi-key", EnvVars: []string{"VALISE_KIT_WIFI_KEY"},
				Usage: "WPA passphrase of --kit-wifi-ssid (prefer the environment variable)"},
			&cli.StringFlag{Name: "profiles", EnvVars: []string{"VALISE_PROFILES"},
				Usage: "directory of provisioning profiles (*.toml) to use instead of the built-in ones"},
			&cli.StringFlag{Name: "timezone", EnvVars: []string{"VALISE_TIMEZONE"}, Value: server.DefaultTimeZone,
				Usage: "time zone of dates in messages (due dates, returns)"},
			&cli.StringFlag{Name: "topic-prefix", EnvVars: []string{"VALISE_TOPIC_PREFIX"},
				Usage: "MQTT topic prefix (default valise/v1)"},
			cmdmain.LogLevelFlag(),
		},
		Commands: []*cli.Command{backupCommand(stdout), restoreCommand(stdout)},
		Action: func(c *cli.Context) error {
			if err := cmdmain.NoArgs(c); err != nil {
				return err
			}
			logger, err := cmdmain.NewLogger(c, stderr)
			if err != nil {
				return err
			}
			s, err := server.New(server.Config{
				DataDir:      c.String("data"),
				HTTPAddr:     c.String("http"),
				MQTTAddr:     c.String("mqtt"),
				MQTTURL:      c.String("mqtt-url"),
				MQTTClientID: c.String("mqtt-client-id"),
				MQTTUsername: c.String("mqtt-username"),
				MQTTPassword: c.String("mqtt-password"),
				PublicURL:    c.String("public-url"),
				TLS:          c.Bool("tls"),
				TLSCertFile:  c.String("tls-cert"),
				TLSKeyFile:   c.String("tls-key"),
				TopicPrefix:  c.String("topic-prefix"),
				KitWiFiSSID:  c.String("kit-wifi-ssid"),
				KitWiFiKey:   c.String("kit-wifi-key"),
				ProfilesDir:  c.String("profiles"),
				TimeZone:     c.String("timezone"),
				Logger:       logger,
			})
			if err != nil {
				return cmdmain.Usage(c, err)
			}
			return s.Run(c.Context)
		},
	}
	return cmdmain.RunApp(ctx, app, args)
}
