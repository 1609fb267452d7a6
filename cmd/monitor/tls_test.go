package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/normwatch/normwatch/pkg/config"
)

// TestClientTLS: every client TLS (Kafka, Alertmanager) is built by one
// helper whose errors name the configuration key.
func TestClientTLS(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.txt")
	require.NoError(t, os.WriteFile(notPEM, []byte("not a certificate"), 0o600))
	for _, tc := range []struct {
		name string
		c    config.ClientTLS
		err  string
	}{
		{"system roots", config.ClientTLS{}, ""},
		{"missing CA", config.ClientTLS{CAFile: filepath.Join(dir, "nope.pem")}, "alerting.tls.ca_file: "},
		{"CA not PEM", config.ClientTLS{CAFile: notPEM}, "alerting.tls.ca_file: " + notPEM + " holds no PEM certificate"},
		{"key without cert", config.ClientTLS{KeyFile: filepath.Join(dir, "k.pem")}, "alerting.tls.cert_file/key_file: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := clientTLS("alerting.tls", tc.c)
			if tc.err == "" {
				require.NoError(t, err)
				require.Nil(t, c.RootCAs)
				return
			}
			require.ErrorContains(t, err, tc.err)
		})
	}
	c, err := kafkaTLS(config.TLS{Enabled: false, CAFile: notPEM})
	require.NoError(t, err)
	require.Nil(t, c, "TLS off: plaintext")
	_, err = kafkaTLS(config.TLS{Enabled: true, CAFile: notPEM})
	require.ErrorContains(t, err, "kafka.tls.ca_file: ")
}
