package export

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

// TestWebConfig serves through an exporter-toolkit web config with TLS and
// basic auth: plain HTTP, no password and a wrong password are refused.
func TestWebConfig(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM := selfSigned(t)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cert.pem"), certPEM, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "key.pem"), keyPEM, 0o600))
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	require.NoError(t, err)
	cfg := filepath.Join(dir, "web.yml")
	require.NoError(t, os.WriteFile(cfg, []byte("tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\nbasic_auth_users:\n  prometheus: "+string(hash)+"\n"), 0o600))

	s, err := NewServer(ServerOptions{Listen: "127.0.0.1:0", WebConfigFile: cfg, Gatherer: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	go func() { _ = s.Run() }()
	defer s.Stop()

	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(certPEM))
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
	get := func(scheme, user, pass string) int {
		req, err := http.NewRequest("GET", scheme+"://"+s.Addr()+"/healthz", nil)
		require.NoError(t, err)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Eventually(t, func() bool { return get("https", "prometheus", "s3cret") == 200 }, 5*time.Second, 50*time.Millisecond)
	require.Equal(t, 401, get("https", "", ""))
	require.Equal(t, 401, get("https", "prometheus", "wrong"))
	require.NotEqual(t, 200, get("http", "prometheus", "s3cret"), "plain HTTP must not be served")

	// A broken web config is refused at start, naming the file.
	bad := filepath.Join(dir, "bad.yml")
	require.NoError(t, os.WriteFile(bad, []byte("tls_server_config:\n  cert_file: missing.pem\n"), 0o600))
	_, err = NewServer(ServerOptions{Listen: "127.0.0.1:0", WebConfigFile: bad, Gatherer: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler)})
	require.ErrorContains(t, err, bad)
}

func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kb, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

// TestProbesWithoutCredentials: with basic auth on the main address, the
// probe address answers /healthz and /readyz without credentials, and
// nothing else.
func TestProbesWithoutCredentials(t *testing.T) {
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	require.NoError(t, err)
	cfg := filepath.Join(dir, "web.yml")
	require.NoError(t, os.WriteFile(cfg, []byte("basic_auth_users:\n  prometheus: "+string(hash)+"\n"), 0o600))
	var failing atomic.Bool
	failing.Store(true)
	s, err := NewServer(ServerOptions{
		Listen: "127.0.0.1:0", ProbeListen: "127.0.0.1:0", WebConfigFile: cfg,
		Gatherer: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler),
		Ready: map[string]Check{"consumer": func() error {
			if failing.Load() {
				return errors.New("checkpoints failing")
			}
			return nil
		}},
	})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- s.Run() }()
	get := func(addr, path string) int {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Eventually(t, func() bool { return get(s.ProbeAddr(), "/healthz") == 200 }, 5*time.Second, 20*time.Millisecond)
	require.Equal(t, 503, get(s.ProbeAddr(), "/readyz"))
	failing.Store(false)
	require.Equal(t, 200, get(s.ProbeAddr(), "/readyz"))
	require.Equal(t, 404, get(s.ProbeAddr(), "/metrics"), "only the probes")
	require.Equal(t, 404, get(s.ProbeAddr(), "/"))
	require.Equal(t, 401, get(s.Addr(), "/healthz"), "the main address still asks for credentials")
	require.Equal(t, 401, get(s.Addr(), "/readyz"))
	s.Stop()
	require.NoError(t, <-done)
	require.Zero(t, get(s.ProbeAddr(), "/healthz"), "stopped with the server")
}
