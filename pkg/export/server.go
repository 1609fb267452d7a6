package export

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/exporter-toolkit/web"
)

// Check is a readiness condition: nil when ready, else why not.
type Check func() error

// ServerOptions configures a Server.
type ServerOptions struct {
	Listen string // host:port
	// WebConfigFile is a Prometheus exporter-toolkit web configuration:
	// TLS, client certificates (mTLS) and basic auth. Empty serves plain
	// HTTP.
	WebConfigFile string
	// ProbeListen, if set, is a second address serving /healthz and
	// /readyz alone, in plain HTTP without authentication: for probes
	// (Kubernetes') that send no credentials when the web config asks for
	// them. The answers name the failing checks, never a secret.
	ProbeListen string
	Gatherer    prometheus.Gatherer
	Source      Source
	// Ready lists the readiness checks by name.
	Ready map[string]Check
	// API maps paths (/api/v1/...) to JSON endpoints.
	API map[string]APIFunc
	// Notices, if set, lists the problems the status page shows first.
	Notices func() []Notice
	Logger  *slog.Logger
	// Pprof serves Go's profiles at /debug/pprof/ (behind the same web
	// config as the rest), for profiling a live daemon.
	Pprof bool
}

// APIFunc answers a JSON API request: the value to encode, or an error
// (an *APIError sets the status code; any other error is a 500).
type APIFunc func(r *http.Request) (any, error)

// APIError is an API error with its HTTP status.
type APIError struct {
	Code int
	Msg  string
}

func (e *APIError) Error() string { return e.Msg }

// Server serves /metrics, /healthz, /readyz and the status page.
type Server struct {
	opts ServerOptions
	srv  *http.Server
	ln   net.Listener
	once sync.Once

	probe   *http.Server // nil without ProbeListen
	probeLn net.Listener
}

// NewServer listens on opts.Listen at once, so the address is known (and
// a port in use is an error) before Run.
func NewServer(opts ServerOptions) (*Server, error) {
	if opts.WebConfigFile != "" {
		if err := web.Validate(opts.WebConfigFile); err != nil {
			return nil, fmt.Errorf("web config file %s: %w", opts.WebConfigFile, err)
		}
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", opts.Listen, err)
	}
	s := &Server{opts: opts, ln: ln}
	if opts.ProbeListen != "" {
		pln, err := net.Listen("tcp", opts.ProbeListen)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("listening for probes on %s: %w", opts.ProbeListen, err)
		}
		pmux := http.NewServeMux()
		pmux.HandleFunc("/healthz", healthz)
		pmux.HandleFunc("/readyz", s.readyz)
		s.probeLn = pln
		s.probe = &http.Server{Handler: pmux, ReadHeaderTimeout: 10 * time.Second}
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(opts.Logger.Handler(), slog.LevelError)}))
	mux.HandleFunc("/healthz", healthz)
	mux.HandleFunc("/readyz", s.readyz)
	for path, f := range opts.API {
		mux.HandleFunc(path, s.api(f))
	}
	mux.HandleFunc("/", s.status)
	if opts.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return s, nil
}

func healthz(w http.ResponseWriter, _ *http.Request) {
	_, _ = w.Write([]byte("ok\n"))
}

// Addr returns the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// ProbeAddr returns the address of the probes, "" without ProbeListen.
func (s *Server) ProbeAddr() string {
	if s.probeLn == nil {
		return ""
	}
	return s.probeLn.Addr().String()
}

// Run serves until Stop.
func (s *Server) Run() error {
	probeErr := make(chan error, 1)
	if s.probe != nil {
		go func() {
			err := s.probe.Serve(s.probeLn)
			if !errors.Is(err, http.ErrServerClosed) {
				s.Stop() // one server failing stops both
			}
			probeErr <- err
		}()
	} else {
		probeErr <- http.ErrServerClosed
	}
	cfg := s.opts.WebConfigFile
	err := web.Serve(s.ln, s.srv, &web.FlagConfig{WebConfigFile: &cfg}, s.opts.Logger)
	s.Stop()
	perr := <-probeErr
	switch {
	case !errors.Is(err, http.ErrServerClosed):
		return fmt.Errorf("serving http: %w", err)
	case !errors.Is(perr, http.ErrServerClosed):
		return fmt.Errorf("serving probes: %w", perr)
	}
	return nil
}

// Stop shuts the server down, waiting up to five seconds for requests in
// flight. It is safe to call more than once.
func (s *Server) Stop() {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if s.probe != nil {
			_ = s.probe.Shutdown(ctx)
		}
		_ = s.srv.Shutdown(ctx)
	})
}

func (s *Server) api(f APIFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		v, err := f(r)
		if err != nil {
			code := http.StatusInternalServerError
			var ae *APIError
			if errors.As(err, &ae) {
				code = ae.Code
			}
			w.WriteHeader(code)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
			return
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
			s.opts.Logger.Error("encoding an API answer", "path", r.URL.Path, "err", err)
		}
	}
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	names := make([]string, 0, len(s.opts.Ready))
	for n := range s.opts.Ready {
		names = append(names, n)
	}
	slices.Sort(names)
	var failed []string
	for _, n := range names {
		if err := s.opts.Ready[n](); err != nil {
			failed = append(failed, n+": "+err.Error())
		}
	}
	if len(failed) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready\n" + strings.Join(failed, "\n") + "\n"))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	var snaps []Snapshot
	if s.opts.Source != nil {
		snaps = s.opts.Source.Snapshots()
	}
	p := newPage(snaps, time.Now())
	if s.opts.Notices != nil {
		p.Notices = s.opts.Notices()
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := statusPage.Execute(w, p); err != nil {
		s.opts.Logger.Error("rendering the status page", "err", err)
	}
}
