package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/normwatch/normwatch/pkg/config"
	"github.com/normwatch/normwatch/pkg/engine"
	"github.com/normwatch/normwatch/pkg/export"
	"github.com/normwatch/normwatch/pkg/stream"
)

// exitGateUnanswered is the exit status of `monitor gate` when it has no
// answer: bad flags, the daemon unreachable, not a candidate. Above the
// answers' 0-3, so that no failure reads as one of them.
const exitGateUnanswered = 4

const gateHelp = `Asks a running daemon whether a candidate model version may go live: the
candidate (declared under gate.candidates, or marked by its events' route
header, gate.route_header: shadow) is compared with the live version of its
model on the same windows, and with its own baseline.

Exit status (and "state" in --output json):
  0  clear    compared with live on at least gate.min_windows windows, no
              warning or critical finding in either comparison
  1  warning  a warning finding, nothing critical
  2  blocked  a critical finding (a skipped scaler, vectors not normalized,
              ...): answered as soon as one window shows it
  3  pending  not enough evidence yet: too few windows compared, no live
              traffic in them, too few values, or the candidate stale;
              never read as clear
  4  no answer: bad flags, the daemon unreachable, or not a candidate

With --wait, asks again every --interval until the answer is not pending or
the wait is over. A deploy pipeline holds the candidate until exit 0:

  monitor gate --model search --model-version v3 --wait 30m || exit 1
`

func runGate(args []string, stdout, stderr io.Writer) int {
	cmd := newCommand("monitor gate", "Usage: monitor gate --model MODEL --model-version VERSION [flags]", gateHelp, exitGateUnanswered, stdout, stderr)
	model := cmd.fs.String("model", "", "model of the candidate (required)")
	version := cmd.fs.String("model-version", "", "candidate version (required)")
	base := cmd.fs.String("url", "", "base URL of the daemon (default: http://localhost and the port of http.listen, from --config.file or NORMWATCH_HTTP_LISTEN, else 10308); user:password@ in it for basic auth")
	cfgFile := cmd.fs.String("config.file", "", "the daemon's configuration file, for its http.listen")
	output := cmd.fs.String("output", "text", "text (for people) or json (the daemon's answer)")
	wait := cmd.fs.Duration("wait", 0, "ask again until the answer is not pending, for at most this long (0: ask once)")
	interval := cmd.fs.Duration("interval", 15*time.Second, "time between questions with --wait")
	timeout := cmd.fs.Duration("timeout", 10*time.Second, "timeout of one question")
	if code, done := cmd.parse(args); done {
		return code
	}
	var errs []error
	if cmd.fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected argument %q: monitor gate takes flags only", cmd.fs.Arg(0)))
	}
	if *model == "" {
		errs = append(errs, errors.New("--model: is required"))
	}
	if *version == "" {
		errs = append(errs, errors.New("--model-version: is required"))
	}
	if *output != "text" && *output != "json" {
		errs = append(errs, fmt.Errorf("--output: %q is not text or json", *output))
	}
	if *wait < 0 {
		errs = append(errs, fmt.Errorf("--wait: %s is negative", *wait))
	}
	if *interval < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("--interval: %s is below 100ms", *interval))
	}
	if *timeout <= 0 {
		errs = append(errs, fmt.Errorf("--timeout: %s is not positive", *timeout))
	}
	u, err := gateURL(*base, *cfgFile)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return cmd.usageError(errors.Join(errs...))
	}
	q := url.Values{"model": {*model}, "model_version": {*version}}
	u.Path = strings.TrimRight(u.Path, "/") + "/api/v1/gate"
	u.RawQuery = q.Encode()

	deadline := time.Now().Add(*wait)
	for {
		a, raw, err := askGate(u, *timeout)
		if err != nil {
			fmt.Fprintf(stderr, "monitor gate: %s\n", err)
			return exitGateUnanswered
		}
		if a.State != engine.GatePending || *wait == 0 || time.Now().Add(*interval).After(deadline) {
			if *output == "json" {
				stdout.Write(raw)
				if len(raw) > 0 && raw[len(raw)-1] != '\n' {
					fmt.Fprintln(stdout)
				}
			} else {
				printGate(stdout, a)
			}
			return engine.GateCode(a.State)
		}
		if *output == "text" {
			fmt.Fprintf(stderr, "monitor gate: %s %s pending (%d of %d windows compared); asking again in %s\n",
				a.Model, a.Version, a.WindowsCompared, a.MinWindows, *interval)
		}
		time.Sleep(*interval)
	}
}

// gateURL is the daemon's base URL: --url, else localhost at the port of
// http.listen (--config.file, NORMWATCH_HTTP_LISTEN, or the default).
func gateURL(base, cfgFile string) (*url.URL, error) {
	if base == "" {
		listen := config.Default().HTTP.Listen
		if cfgFile != "" {
			c, err := config.Load(cfgFile, nil)
			if err != nil {
				return nil, fmt.Errorf("--config.file: %w", err)
			}
			listen = c.HTTP.Listen
		} else if v := os.Getenv(config.EnvPrefix + "_HTTP_LISTEN"); v != "" {
			listen = v
		}
		base = browseURL(listen)
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--url: %q is not an http(s)://host:port URL", config.RedactURL(base))
	}
	return u, nil
}

// askGate asks the daemon once: its answer decoded, and as it came.
func askGate(u *url.URL, timeout time.Duration) (engine.GateAnswer, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	shown := config.RedactURL(u.Scheme + "://" + u.Host)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return engine.GateAnswer{}, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may hold a password
		}
		return engine.GateAnswer{}, nil, fmt.Errorf("asking the daemon at %s: %w (is it running? --url sets its address)", shown, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return engine.GateAnswer{}, nil, fmt.Errorf("reading the daemon's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(raw, &e) == nil && e.Error != "" {
			return engine.GateAnswer{}, nil, fmt.Errorf("the daemon at %s: %s (HTTP %d)", shown, e.Error, resp.StatusCode)
		}
		return engine.GateAnswer{}, nil, fmt.Errorf("the daemon at %s answered HTTP %d", shown, resp.StatusCode)
	}
	var a engine.GateAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		return engine.GateAnswer{}, nil, fmt.Errorf("the daemon at %s: its answer is not a gate answer: %w", shown, err)
	}
	switch a.State {
	case engine.GateClear, engine.GateWarning, engine.GateBlocked, engine.GatePending:
	default:
		return engine.GateAnswer{}, nil, fmt.Errorf("the daemon at %s: unknown gate state %q", shown, a.State)
	}
	return a, raw, nil
}

// printGate writes the answer for people: one line of state, one per reason.
func printGate(w io.Writer, a engine.GateAnswer) {
	fmt.Fprint(w, export.GateLine(a), "\n")
	for _, r := range a.Reasons {
		sev := "pending"
		if r.Against != "evidence" {
			sev = r.Severity.String()
		}
		fmt.Fprintf(w, "  %-8s %s\n", sev, r.Sentence)
	}
}

// gateOptions are the engine's gate options of the configuration.
func gateOptions(g config.Gate) engine.GateOptions {
	o := engine.GateOptions{MinWindows: g.MinWindows, JoinBuffer: g.JoinBuffer, JoinWait: g.JoinWait}
	for _, c := range g.Candidates {
		o.Candidates = append(o.Candidates, engine.Candidate{Model: c.Model, Version: c.ModelVersion, Live: c.LiveVersion})
	}
	return o
}

// routeOptions adds the gate's route header to the decoder's options.
func routeOptions(o stream.DecoderOptions, g config.Gate) stream.DecoderOptions {
	if g.RouteHeader != "-" {
		o.RouteHeader, o.CandidateRoutes = g.RouteHeader, g.CandidateRoutes
	}
	return o
}

// gate answers /api/v1/gate: ?model=&model_version= (or &version=) for
// one candidate, nothing for every candidate's answer.
func (d *daemon) gate(r *http.Request) (any, error) {
	q := r.URL.Query()
	model, version := q.Get("model"), q.Get("model_version")
	if version == "" {
		version = q.Get("version")
	}
	switch {
	case model == "" && version == "":
		return d.engine.Gates(), nil
	case model == "" || version == "":
		return nil, &export.APIError{Code: http.StatusBadRequest, Msg: "give both model and model_version (or neither, for every candidate)"}
	}
	a, err := d.engine.Gate(model, version)
	if errors.Is(err, engine.ErrNotCandidate) {
		return nil, &export.APIError{Code: http.StatusNotFound, Msg: err.Error()}
	}
	return a, err
}
