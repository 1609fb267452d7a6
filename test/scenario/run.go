package scenario

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/normwatch/normwatch/pkg/alert"
	"github.com/normwatch/normwatch/pkg/stream"
)

// Options configures a run of a suite.
type Options struct {
	Size Size
	// Monitor is the path of a built monitor binary.
	Monitor string
	// Dir is a scratch directory (training data, baselines, checkpoints).
	Dir string
	// Progress receives a line per step; nil discards them.
	Progress io.Writer
	// Only, when set, keeps the scenarios whose ID it matches.
	Only *regexp.Regexp
	// TrainingRows per scenario; default 10000.
	TrainingRows int
}

// Observation is what /metrics said of a scenario's target after one window.
type Observation struct {
	Window    int    `json:"window"`
	Diagnosis string `json:"diagnosis"`
	Severity  int    `json:"severity"`
}

// Outcome is how normwatch did on one scenario.
type Outcome struct {
	ID     string `json:"id"`
	Fault  string `json:"fault"`
	Params string `json:"params"`
	Expect string `json:"expect,omitempty"`
	Onset  int    `json:"onset"`

	Windows []Observation `json:"windows"`
	// Detected: the target alerted in some window with the fault.
	Detected bool `json:"detected"`
	// Named: the target's diagnosis in the last window is the expected one.
	Named bool `json:"named"`
	// TimeToName counts the windows with the fault up to the first one
	// named as expected (1: the first window with the fault); 0 never.
	TimeToName int `json:"time_to_name"`
	// Flips counts changes of the target's diagnosis after it was first
	// named.
	Flips int `json:"flips"`
	// FalseAlarms counts windows alerting on something that is not the
	// fault: any subject of a control, another subject, or the target
	// before the onset.
	FalseAlarms int      `json:"false_alarms"`
	FalseDetail []string `json:"false_detail,omitempty"`
	// Pages counts alerts that fired for the target's subject, and
	// MaxConcurrent the most firing at once for any one subject.
	Pages         int    `json:"pages"`
	FalsePages    int    `json:"false_pages"`
	MaxConcurrent int    `json:"max_concurrent"`
	Final         string `json:"final"`
	Summary       string `json:"summary"`
	// ShareOK tells, for a fault on part of the traffic, whether the
	// summary states its share (within 5 points).
	ShareOK *bool `json:"share_ok,omitempty"`
}

// Result is a suite's run.
type Result struct {
	Size      string        `json:"size"`
	Windows   int           `json:"windows"`
	Outcomes  []Outcome     `json:"outcomes"`
	Elapsed   time.Duration `json:"elapsed"`
	DaemonLog string        `json:"-"`
}

const (
	eventsTopic = "scenario.events"
	alertTopic  = "scenario.alerts"
	dlqTopic    = "scenario.dlq"
	partitions  = 2
	windowSize  = time.Minute
)

// Run generates the suite's training data and baselines, starts `monitor
// run` against an embedded broker, produces every scenario's stream window
// by window over the Kafka protocol, and after each window scrapes
// /metrics for the diagnoses; at the end it reads the alert topic.
func Run(ctx context.Context, opts Options) (*Result, error) {
	began := time.Now()
	if opts.TrainingRows == 0 {
		opts.TrainingRows = 10000
	}
	progress := opts.Progress
	if progress == nil {
		progress = io.Discard
	}
	var scens []Scenario
	for _, s := range Suite(opts.Size) {
		if opts.Only == nil || opts.Only.MatchString(s.ID) {
			scens = append(scens, s)
		}
	}
	if len(scens) == 0 {
		return nil, errors.New("scenario: no scenario selected")
	}
	W := opts.Size.Windows

	// Training data and baselines, through `monitor baseline build`.
	bdir := filepath.Join(opts.Dir, "baselines")
	streams := make([]*traffic, len(scens))
	outcomes := make([]*outcomeTraffic, len(scens))
	for i := range scens {
		s := &scens[i]
		w, rows, vecs := newWorld(s.Seed, opts.TrainingRows)
		streams[i] = newTraffic(s, w)
		if s.Outcomes {
			outcomes[i] = newOutcomeTraffic(s)
		}
		build := buildBaseline
		if s.Signals != "" {
			build = func(ctx context.Context, monitor, dir, bdir, model string, w *world, rows [][]float64, vecs [][]float32) error {
				return buildSignalBaseline(ctx, monitor, dir, bdir, s, w, len(rows))
			}
		}
		if err := build(ctx, opts.Monitor, filepath.Join(opts.Dir, "train", s.ID), bdir, s.ID, w, rows, vecs); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(progress, "scenario: %d baselines built in %v\n", len(scens), time.Since(began).Round(time.Millisecond))

	emb, err := stream.StartEmbedded(ctx, stream.EmbeddedOptions{Topics: []string{alertTopic, dlqTopic}, Partitions: 1})
	if err != nil {
		return nil, fmt.Errorf("starting the embedded broker: %w", err)
	}
	defer emb.Close()
	if err := stream.CreateTopic(ctx, emb.Addrs(), eventsTopic, partitions); err != nil {
		return nil, fmt.Errorf("creating %s: %w", eventsTopic, err)
	}

	d, err := startDaemon(ctx, opts, emb.Addrs(), bdir, len(scens))
	if err != nil {
		return nil, err
	}
	defer d.kill()

	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	wr := &kafka.Writer{
		Addr: kafka.TCP(emb.Addrs()...), Transport: tr, Topic: eventsTopic,
		Balancer: kafka.BalancerFunc(func(m kafka.Message, ps ...int) int {
			i, _ := strconv.Atoi(string(m.Key))
			return ps[i%len(ps)]
		}),
		RequiredAcks: kafka.RequireAll, BatchSize: 500, BatchBytes: 900 << 10, BatchTimeout: time.Millisecond, MaxAttempts: 20,
	}
	defer wr.Close()

	epoch := time.Now().Truncate(windowSize).Add(-time.Duration(W+3) * windowSize)
	outs := make([]Outcome, len(scens))
	for i, s := range scens {
		outs[i] = Outcome{ID: s.ID, Fault: s.Fault, Params: s.Params, Expect: s.Expect, Onset: s.Onset}
	}
	seq := 0
	for k := 0; k <= W; k++ {
		var msgs []kafka.Message
		start := epoch.Add(time.Duration(k) * windowSize)
		if k < W {
			for i, st := range streams {
				n := st.s.Events
				ot := outcomes[i]
				for j := range n {
					t := start.Add(time.Duration(j) * windowSize / time.Duration(n))
					msgs = append(msgs, kafka.Message{Key: []byte(strconv.Itoa(seq)), Value: st.encode(nil, st.next(k), t)})
					seq++
					if ot != nil {
						msgs = append(msgs, kafka.Message{Key: []byte(strconv.Itoa(seq)), Value: ot.encode(nil, "v1", healthyOutcomes, t)})
						seq++
					}
				}
				if ot != nil {
					n2 := st.s.V2Events
					for j := range n2 {
						t := start.Add(time.Duration(j)*windowSize/time.Duration(n2) + time.Millisecond)
						msgs = append(msgs, kafka.Message{Key: []byte(strconv.Itoa(seq)), Value: ot.encode(nil, oV2, st.s.v2Levels(k), t)})
						seq++
					}
				}
			}
		} else {
			// The clock: one event per partition past the last window.
			for range partitions {
				msgs = append(msgs, kafka.Message{Key: []byte(strconv.Itoa(seq)),
					Value: fmt.Appendf(nil, `{"ts":%d,"model":"zz-clock","model_version":"v1","features":{}}`, start.UnixMilli())})
				seq++
			}
		}
		if err := wr.WriteMessages(ctx, msgs...); err != nil {
			msg := err.Error()
			return nil, fmt.Errorf("producing window %d: %s", k, msg[:min(len(msg), 300)])
		}
		if k == 0 {
			continue
		}
		// Window k-1 is closed everywhere once every model's evaluation of it is in.
		versions := 0
		for _, s := range scens {
			versions += s.versions()
		}
		want := float64(versions * k)
		var text string
		deadline := time.Now().Add(2 * time.Minute)
		for {
			// The count alone is not enough: a version judged twice (a
			// partition's share arriving after the first judgement) can
			// make it up while another version's judgement of the window
			// is still to come, whose figures would then be read a
			// window late (seen in CI under load).
			text, err = d.get("/metrics")
			if err == nil && metricValue(text, "normwatch_evaluations_total") >= want && d.judgedThrough(start.Add(-windowSize), versions) {
				if text, err = d.get("/metrics"); err == nil {
					break
				}
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("window %d: %v evaluations of %v after 2m (err %v)\n%s", k-1,
					metricValue(text, "normwatch_evaluations_total"), want, err, d.tail(40))
			}
			if d.exited() {
				return nil, fmt.Errorf("the daemon exited:\n%s", d.tail(40))
			}
			time.Sleep(50 * time.Millisecond)
		}
		observe(scens, outs, k-1, text)
		fmt.Fprintf(progress, "scenario: window %d/%d evaluated (%v)\n", k, W, time.Since(began).Round(time.Millisecond))
	}

	// The final sentences, from the API.
	var evs []struct {
		Model  string `json:"model"`
		Report struct {
			Features   []struct{ Name, Diagnosis, Summary string } `json:"features"`
			Embeddings []struct{ Name, Diagnosis, Summary string } `json:"embeddings"`
		} `json:"report"`
	}
	body, err := d.get("/api/v1/evaluations")
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(body), &evs); err != nil {
		return nil, fmt.Errorf("decoding evaluations: %w", err)
	}
	for i, s := range scens {
		for _, e := range evs {
			if e.Model != s.ID {
				continue
			}
			subs := e.Report.Features
			if s.Kind == "embedding" {
				subs = e.Report.Embeddings
			}
			for _, f := range subs {
				if f.Name == s.Target {
					outs[i].Summary = f.Summary
				}
			}
		}
	}
	if err := d.stop(); err != nil {
		return nil, err
	}
	if err := readAlerts(ctx, emb.Addrs(), scens, outs); err != nil {
		return nil, err
	}
	for i := range outs {
		finish(&scens[i], &outs[i])
	}
	return &Result{Size: opts.Size.Name, Windows: W, Outcomes: outs, Elapsed: time.Since(began), DaemonLog: d.log()}, nil
}

func buildBaseline(ctx context.Context, monitor, dir, bdir, model string, w *world, rows [][]float64, vecs [][]float32) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	csvPath, scalerPath := filepath.Join(dir, "train.csv"), filepath.Join(dir, "scaler.yaml")
	cf, err := os.Create(csvPath)
	if err != nil {
		return err
	}
	sf, err := os.Create(scalerPath)
	if err != nil {
		cf.Close()
		return err
	}
	bw := bufio.NewWriter(cf)
	err = w.writeTraining(bw, sf, rows, vecs)
	if err == nil {
		err = bw.Flush()
	}
	cf.Close()
	sf.Close()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, monitor, "baseline", "build", "--input", csvPath, "--model", model,
		"--model-version", "v1", "--scaler", scalerPath, "--out", bdir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("monitor baseline build for %s: %w: %s", model, err, out)
	}
	return os.Remove(csvPath) // large, and no longer needed
}

// observe records each scenario's diagnoses of window k from a scrape.
func observe(scens []Scenario, outs []Outcome, k int, text string) {
	byModel := map[string][]statusLine{}
	for _, l := range statusLines(text) {
		byModel[l.model] = append(byModel[l.model], l)
	}
	for i, s := range scens {
		o := &outs[i]
		ob := Observation{Window: k, Diagnosis: "absent"}
		for _, l := range byModel[s.ID] {
			subject, kind := l.feature, "feature"
			switch {
			case l.embedding != "":
				subject, kind = l.embedding, "embedding"
			case l.outcome != "":
				subject, kind = l.outcome, "outcome"
			}
			if kind == "outcome" && l.version == oV2 && (subject == s.Target || subject == s.Also) && s.Kind == "outcome" {
				if subject == s.Target {
					ob.Diagnosis, ob.Severity = l.diagnosis, l.value
				}
				continue
			}
			if subject == s.Target && kind == s.Kind && kind != "outcome" {
				ob.Diagnosis, ob.Severity = l.diagnosis, l.value
				continue
			}
			if l.value > 0 {
				o.FalseAlarms++
				o.FalseDetail = append(o.FalseDetail, fmt.Sprintf("w%d %s %s", k, subject, l.diagnosis))
			}
		}
		if s.Target != "" && k < s.Onset && ob.Severity > 0 {
			o.FalseAlarms++
			o.FalseDetail = append(o.FalseDetail, fmt.Sprintf("w%d %s %s before onset", k, s.Target, ob.Diagnosis))
		}
		if s.Target != "" {
			o.Windows = append(o.Windows, ob)
		}
	}
}

type statusLine struct {
	model, version, feature, embedding, outcome, diagnosis string
	value                                                  int
}

var (
	statusRe = regexp.MustCompile(`^normwatch_(?:drift|outcome)_status\{(.*)\} (\S+)$`)
	labelRe  = regexp.MustCompile(`(\w+)="((?:[^"\\]|\\.)*)"`)
)

func statusLines(text string) []statusLine {
	var out []statusLine
	for _, line := range strings.Split(text, "\n") {
		m := statusRe.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		var l statusLine
		for _, kv := range labelRe.FindAllStringSubmatch(m[1], -1) {
			switch kv[1] {
			case "model":
				l.model = kv[2]
			case "model_version":
				l.version = kv[2]
			case "outcome":
				l.outcome = kv[2]
			case "feature":
				l.feature = kv[2]
			case "embedding":
				l.embedding = kv[2]
			case "diagnosis":
				l.diagnosis = kv[2]
			}
		}
		v, _ := strconv.ParseFloat(m[2], 64)
		l.value = int(v)
		out = append(out, l)
	}
	return out
}

// metricValue returns the value of an unlabelled sample, or -1.
// judgedThrough reports whether at least versions model versions (the
// clock model's aside) have a latest evaluation of a window starting at
// from or later.
func (d *daemon) judgedThrough(from time.Time, versions int) bool {
	body, err := d.get("/api/v1/evaluations")
	if err != nil {
		return false
	}
	var evs []struct {
		Model       string    `json:"model"`
		WindowStart time.Time `json:"window_start"`
	}
	if json.Unmarshal([]byte(body), &evs) != nil {
		return false
	}
	n := 0
	for _, e := range evs {
		if e.Model != "zz-clock" && !e.WindowStart.Before(from) {
			n++
		}
	}
	return n >= versions
}

func metricValue(text, name string) float64 {
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, name+" ") {
			v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, name)), 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}

var shareRe = regexp.MustCompile(`([0-9.]+)%`)

// finish derives an outcome's verdicts from its observations.
func finish(s *Scenario, o *Outcome) {
	if s.Target == "" {
		return
	}
	named := -1
	prev := ""
	for _, ob := range o.Windows {
		if ob.Window < s.Onset {
			continue
		}
		if ob.Severity > 0 {
			o.Detected = true
		}
		if named < 0 && ob.Diagnosis == s.Expect && ob.Severity > 0 {
			named = ob.Window
			o.TimeToName = ob.Window - s.Onset + 1
		}
		if named >= 0 && ob.Window > named && ob.Diagnosis != prev {
			o.Flips++
		}
		prev = ob.Diagnosis
	}
	if n := len(o.Windows); n > 0 {
		last := o.Windows[n-1]
		o.Final = last.Diagnosis
		o.Named = last.Diagnosis == s.Expect && last.Severity > 0
	}
	if s.Share > 0 {
		ok := false
		for _, m := range shareRe.FindAllStringSubmatch(o.Summary, -1) {
			if v, err := strconv.ParseFloat(m[1], 64); err == nil && abs(v/100-s.Share) <= 0.05 {
				ok = true
			}
		}
		o.ShareOK = &ok
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// readAlerts reads the alert topic: every state change the daemon sent.
func readAlerts(ctx context.Context, brokers []string, scens []Scenario, outs []Outcome) error {
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: alertTopic, Partition: 0, MaxWait: 200 * time.Millisecond})
	defer r.Close()
	idx := map[string]int{}
	for i, s := range scens {
		idx[s.ID] = i
	}
	firing := map[string]map[string]bool{} // subject -> fingerprints firing
	for {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		m, err := r.ReadMessage(rctx)
		cancel()
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return nil
			}
			return fmt.Errorf("reading %s: %w", alertTopic, err)
		}
		var km alert.KafkaMessage
		if err := json.Unmarshal(m.Value, &km); err != nil {
			return fmt.Errorf("decoding an alert: %w", err)
		}
		model := km.Labels.Get("model")
		i, ok := idx[model]
		if !ok {
			continue
		}
		subject := km.Labels.Get("feature")
		kind := "feature"
		if subject == "" {
			subject, kind = km.Labels.Get("embedding"), "embedding"
		}
		if o := km.Labels.Get("outcome"); o != "" {
			subject, kind = o, "outcome"
		}
		key := model + "/" + kind + "/" + subject
		if firing[key] == nil {
			firing[key] = map[string]bool{}
		}
		switch km.State {
		case "firing":
			firing[key][km.Fingerprint] = true
			switch {
			case kind == "outcome" && km.Labels.Get("model_version") != oV2:
				outs[i].FalsePages++
			case subject == scens[i].Target && kind == scens[i].Kind:
				outs[i].Pages++
			case kind == scens[i].Kind && subject == scens[i].Also && subject != "":
				// The fault names it too: not a false page, not the target's.
			default:
				outs[i].FalsePages++
			}
		case "resolved":
			delete(firing[key], km.Fingerprint)
		}
		outs[i].MaxConcurrent = max(outs[i].MaxConcurrent, len(firing[key]))
	}
}

// daemon is the `monitor run` child process.
type daemon struct {
	cmd  *exec.Cmd
	url  string
	done chan struct{}

	mu  sync.Mutex
	buf strings.Builder
}

var servingRe = regexp.MustCompile(`msg=serving addr=(http://\S+)`)

func startDaemon(ctx context.Context, opts Options, brokers []string, bdir string, models int) (*daemon, error) {
	cfg := fmt.Sprintf(`kafka:
  brokers: [%s]
  topics: [%s]
  group_id: scenario
  dlq_topic: %s
  alert_topic: %s
window:
  size: %s
  allowed_lateness: 0s
  max_future_skew: 0s
limits:
  max_models: %d
baselines:
  dir: %s
  fallback: report_only
checkpoint:
  dir: %s
  interval: 2s
http:
  listen: 127.0.0.1:0
log:
  level: info
activations: [%s]
`+outcomesConfig, strings.Join(brokers, ", "), eventsTopic, dlqTopic, alertTopic, windowSize, models+5, bdir, filepath.Join(opts.Dir, "checkpoints"), eHidden)
	path := filepath.Join(opts.Dir, "normwatch.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(opts.Monitor, "run", "--config.file", path)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	d := &daemon{cmd: cmd, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting monitor run: %w", err)
	}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			d.mu.Lock()
			d.buf.WriteString(line + "\n")
			d.mu.Unlock()
			if m := servingRe.FindStringSubmatch(line); m != nil {
				select {
				case urlc <- m[1]:
				default:
				}
			}
		}
		_ = cmd.Wait()
		close(d.done)
	}()
	select {
	case d.url = <-urlc:
		return d, nil
	case <-d.done:
		return nil, fmt.Errorf("monitor run exited before serving:\n%s", d.log())
	case <-time.After(30 * time.Second):
		d.kill()
		return nil, fmt.Errorf("monitor run did not serve within 30s:\n%s", d.log())
	case <-ctx.Done():
		d.kill()
		return nil, ctx.Err()
	}
}

func (d *daemon) log() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.buf.String()
}

func (d *daemon) tail(n int) string {
	lines := strings.Split(strings.TrimRight(d.log(), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

func (d *daemon) get(path string) (string, error) {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(d.url + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return string(b), nil
}

// stop ends the daemon with SIGTERM and requires a clean exit.
func (d *daemon) stop() error {
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-d.done:
	case <-time.After(40 * time.Second):
		d.kill()
		return fmt.Errorf("monitor run did not stop within 40s of SIGTERM:\n%s", d.tail(40))
	}
	if !d.cmd.ProcessState.Success() {
		return fmt.Errorf("monitor run exited with %v:\n%s", d.cmd.ProcessState, d.tail(40))
	}
	return nil
}

func (d *daemon) kill() {
	if !d.exited() {
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}
