package export

import (
	"context"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/normwatch/normwatch/pkg/engine"
)

// Check is a readiness condition: nil when ready, else why not.
type Check func() error

// Defaults of the ServerOptions limits.
const (
	DefaultReadHeaderTimeout     = 10 * time.Second
	DefaultReadTimeout           = 30 * time.Second
	DefaultWriteTimeout          = 30 * time.Second
	DefaultIdleTimeout           = 90 * time.Second
	DefaultMaxConnections        = 256
	DefaultMaxConcurrentRequests = 8
	DefaultShutdownGrace         = 5 * time.Second
)

// maxHeaderBytes bounds a request's header: what it costs to read one is
// bounded with it. Scrapers and browsers send a few kilobytes.
const maxHeaderBytes = 64 << 10

// ServerOptions configures a Server. Zero limits take the defaults.
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
	// Status configures the status page and its detail views.
	Status StatusOptions
	Logger *slog.Logger
	// Pprof serves Go's profiles at /debug/pprof/ (behind the same web
	// config as the rest), for profiling a live daemon.
	Pprof bool
	// Registerer takes the server's own metrics; nil registers none.
	Registerer prometheus.Registerer

	// ReadHeaderTimeout bounds reading a request's header, ReadTimeout
	// the whole request, WriteTimeout the time from the end of the
	// header to the end of the answer, IdleTimeout how long a keep-alive
	// connection may wait for its next request, whatever the last answer
	// was (a 401 included).
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// MaxConnections caps the open connections (see connLimit: at the cap
	// the longest idle or stalled one is closed for a newcomer).
	MaxConnections int
	// MaxConcurrentRequests caps the requests of /metrics, the status page
	// and the API served at once: their answers are the large ones. Health
	// and readiness are never held back.
	MaxConcurrentRequests int
	// ShutdownGrace is how long Stop lets requests in progress finish
	// before it closes their connections.
	ShutdownGrace time.Duration
}

func (o ServerOptions) withDefaults() ServerOptions {
	dur := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	num := func(n *int, def int) {
		if *n <= 0 {
			*n = def
		}
	}
	dur(&o.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	dur(&o.ReadTimeout, DefaultReadTimeout)
	dur(&o.WriteTimeout, DefaultWriteTimeout)
	dur(&o.IdleTimeout, DefaultIdleTimeout)
	dur(&o.ShutdownGrace, DefaultShutdownGrace)
	num(&o.MaxConnections, DefaultMaxConnections)
	num(&o.MaxConcurrentRequests, DefaultMaxConcurrentRequests)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
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

// Server serves /metrics, /healthz, /readyz, the status page and the API,
// within the limits of its options.
type Server struct {
	opts    ServerOptions
	srv     *http.Server
	ln      *connLimit
	once    sync.Once
	stopped chan struct{}

	probe   *http.Server // nil without ProbeListen
	probeLn *connLimit

	details detailCache // the status page's detail views, built once per evaluation
}

// NewServer listens on opts.Listen at once, so the address is known (and
// a port in use is an error) before Run.
func NewServer(opts ServerOptions) (*Server, error) {
	opts = opts.withDefaults()
	if opts.WebConfigFile != "" {
		if err := web.Validate(opts.WebConfigFile); err != nil {
			return nil, fmt.Errorf("web config file %s: %w", opts.WebConfigFile, err)
		}
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", opts.Listen, err)
	}
	m := newServerMetrics(opts.Registerer)
	s := &Server{opts: opts, ln: newConnLimit(ln, opts.MaxConnections, m), stopped: make(chan struct{})}
	if opts.ProbeListen != "" {
		pln, err := net.Listen("tcp", opts.ProbeListen)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("listening for probes on %s: %w", opts.ProbeListen, err)
		}
		pmux := http.NewServeMux()
		pmux.HandleFunc("/healthz", healthz)
		pmux.HandleFunc("/readyz", s.readyz)
		// Unauthenticated, so as bounded as the main address.
		s.probeLn = newConnLimit(pln, opts.MaxConnections, m)
		s.probe = s.httpServer(pmux, s.probeLn)
	}
	heavy := newGate(opts.MaxConcurrentRequests, m)
	mux := http.NewServeMux()
	mux.Handle("/metrics", heavy.wrap(promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(opts.Logger.Handler(), slog.LevelError)})))
	mux.HandleFunc("/healthz", healthz)
	mux.HandleFunc("/readyz", s.readyz)
	for path, f := range opts.API {
		mux.Handle(path, heavy.wrap(s.api(f)))
	}
	mux.Handle("/", heavy.wrap(http.HandlerFunc(s.status)))
	mux.Handle("/detail", heavy.wrap(http.HandlerFunc(s.detail)))
	if opts.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	s.srv = s.httpServer(mux, s.ln)
	return s, nil
}

// httpServer is an http.Server of h with the options' limits, its
// connections let in by l.
func (s *Server) httpServer(h http.Handler, l *connLimit) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: s.opts.ReadHeaderTimeout,
		ReadTimeout:       s.opts.ReadTimeout,
		WriteTimeout:      s.opts.WriteTimeout,
		IdleTimeout:       s.opts.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ConnState:         l.connState,
		ConnContext:       l.connContext,
	}
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

// Run serves until Stop, and returns once Stop has finished.
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
	<-s.stopped
	switch {
	case !errors.Is(err, http.ErrServerClosed):
		return fmt.Errorf("serving http: %w", err)
	case !errors.Is(perr, http.ErrServerClosed):
		return fmt.Errorf("serving probes: %w", perr)
	}
	return nil
}

// Stop stops accepting, lets the requests in progress finish for up to
// ShutdownGrace and then closes every connection. It returns at once and
// is safe to call more than once.
func (s *Server) Stop() {
	s.once.Do(func() {
		go func() {
			defer close(s.stopped)
			ctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownGrace)
			defer cancel()
			if s.probe != nil {
				if err := s.probe.Shutdown(ctx); err != nil {
					_ = s.probe.Close()
				}
			}
			if err := s.srv.Shutdown(ctx); err != nil {
				_ = s.srv.Close()
			}
		}()
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
		if err := writeJSON(w, v); err != nil {
			s.opts.Logger.Warn("writing an API answer", "path", r.URL.Path, "err", err)
		}
	}
}

// writeJSON writes v as indented JSON, as json.Encoder with an indent of
// two spaces would, but a slice one element at a time: the answer is
// never held whole in memory, only the element being written. A value
// that encodes itself (json.RawMessage, say) is written whole.
func writeJSON(w io.Writer, v any) error {
	rv := reflect.ValueOf(v)
	_, marshals := v.(json.Marshaler)
	_, text := v.(encoding.TextMarshaler)
	if rv.Kind() != reflect.Slice || rv.IsNil() || marshals || text || rv.Type().Elem().Kind() == reflect.Uint8 {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	if rv.Len() == 0 {
		_, err := io.WriteString(w, "[]\n")
		return err
	}
	if _, err := io.WriteString(w, "[\n"); err != nil {
		return err
	}
	for i := range rv.Len() {
		b, err := json.MarshalIndent(rv.Index(i).Interface(), "  ", "  ")
		if err != nil {
			return err
		}
		sep := ",\n"
		if i == rv.Len()-1 {
			sep = "\n]\n"
		}
		if _, err := io.WriteString(w, "  "); err != nil {
			return err
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
		if _, err := io.WriteString(w, sep); err != nil {
			return err
		}
	}
	return nil
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
	q := r.URL.Query()
	filtered := q.Has("model") || q.Has("model_version")
	if filtered {
		snaps = filter(snaps, q.Get("model"), q.Get("model_version"))
	}
	p := newPage(snaps, time.Now(), s.opts.Status)
	p.Filtered = filtered
	if s.opts.Notices != nil {
		p.Notices = s.opts.Notices()
	}
	if g := s.opts.Status.Gates; g != nil {
		var as []engine.GateAnswer
		for _, a := range g() {
			if !filtered || (a.Model == q.Get("model") && (!q.Has("model_version") || a.Version == q.Get("model_version"))) {
				as = append(as, a)
			}
		}
		p.Gates = gateViews(as)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := statusPage.Execute(w, p); err != nil {
		s.opts.Logger.Error("rendering the status page", "err", err)
	}
}
