package scenario

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// WriteTable prints the suite's table: per fault kind, how many scenarios
// were detected, named as expected, named within two windows of the
// onset, the median and worst time to name, flips of the name, false
// alarms and double pages; then the totals.
func (r *Result) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "fault\tn\tdetected\tnamed\tnamed≤2w\tttn med\tttn max\tflips\tshare ok\tfalse alarms\tdouble pages\t")
	type agg struct {
		n, det, named, fast, flips, shareN, shareOK, fa, double int
		ttn                                                     []int
	}
	var order []string
	groups := map[string]*agg{}
	total := &agg{}
	for _, o := range r.Outcomes {
		g, ok := groups[o.Fault]
		if !ok {
			g = &agg{}
			groups[o.Fault] = g
			order = append(order, o.Fault)
		}
		for _, a := range []*agg{g, total} {
			a.n++
			if o.Detected {
				a.det++
			}
			if o.Named {
				a.named++
			}
			if o.TimeToName > 0 {
				a.ttn = append(a.ttn, o.TimeToName)
				if o.TimeToName <= 2 {
					a.fast++
				}
			}
			a.flips += o.Flips
			if o.ShareOK != nil {
				a.shareN++
				if *o.ShareOK {
					a.shareOK++
				}
			}
			if o.FalseAlarms > 0 || o.FalsePages > 0 {
				a.fa++
			}
			if o.MaxConcurrent > 1 {
				a.double++
			}
		}
	}
	row := func(name string, a *agg) {
		control := name == "clean"
		frac := func(k int) string {
			if control {
				return "-"
			}
			return fmt.Sprintf("%d/%d", k, a.n)
		}
		med, worst := "-", "-"
		if len(a.ttn) > 0 {
			s := slices.Sorted(slices.Values(a.ttn))
			med, worst = fmt.Sprint(s[len(s)/2]), fmt.Sprint(s[len(s)-1])
		}
		share := "-"
		if a.shareN > 0 {
			share = fmt.Sprintf("%d/%d", a.shareOK, a.shareN)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%d/%d\t%d\t\n", name, a.n, frac(a.det), frac(a.named), frac(a.fast),
			med, worst, a.flips, share, a.fa, a.n, a.double)
	}
	for _, name := range order {
		row(name, groups[name])
	}
	faults := *total
	if c, ok := groups["clean"]; ok {
		// The totals of detection and naming are over the faults only.
		faults.n -= c.n
	}
	row("total", &faults)
	return tw.Flush()
}

// WriteDetails prints one line per scenario: its verdicts, the
// diagnoses window by window, and the final sentence.
func (r *Result) WriteDetails(w io.Writer) {
	for _, o := range r.Outcomes {
		var ds []string
		for _, ob := range o.Windows {
			d := ob.Diagnosis
			if ob.Severity == 0 {
				d = strings.ToUpper(d[:1]) + d[1:] // capital: not alerting
			}
			ds = append(ds, d)
		}
		fmt.Fprintf(w, "%-34s %-28s expect=%s named=%v ttn=%d flips=%d false=%d pages=%d max_concurrent=%d\n    %s\n",
			o.ID, o.Params, o.Expect, o.Named, o.TimeToName, o.Flips, o.FalseAlarms+o.FalsePages, o.Pages, o.MaxConcurrent,
			strings.Join(ds, " "))
		if len(o.FalseDetail) > 0 {
			fmt.Fprintf(w, "    false alarms: %s\n", strings.Join(o.FalseDetail[:min(6, len(o.FalseDetail))], "; "))
		}
		if o.Summary != "" {
			fmt.Fprintf(w, "    %s\n", o.Summary)
		}
	}
}

// Verdict is what CI holds each scenario to: what it achieved when the
// record was made.
type Verdict struct {
	Detected      bool `json:"detected"`
	Named         bool `json:"named"`
	TimeToName    int  `json:"time_to_name"`
	FalseAlarm    bool `json:"false_alarm"`
	DoublePage    bool `json:"double_page"`
	ShareOK       bool `json:"share_ok"`
	Flips         int  `json:"flips"`
	ExpectedFinal bool `json:"-"`
}

// Verdicts returns each scenario's verdict by ID.
func (r *Result) Verdicts() map[string]Verdict {
	out := map[string]Verdict{}
	for _, o := range r.Outcomes {
		out[o.ID] = Verdict{
			Detected: o.Detected, Named: o.Named, TimeToName: o.TimeToName,
			FalseAlarm: o.FalseAlarms > 0 || o.FalsePages > 0, DoublePage: o.MaxConcurrent > 1,
			ShareOK: o.ShareOK != nil && *o.ShareOK, Flips: o.Flips,
		}
	}
	return out
}

// Regressions lists how got is worse than the record was.
func Regressions(record, got map[string]Verdict) []string {
	var out []string
	ids := make([]string, 0, len(record))
	for id := range record {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		was := record[id]
		now, ok := got[id]
		if !ok {
			out = append(out, id+": not run")
			continue
		}
		switch {
		case was.Detected && !now.Detected:
			out = append(out, id+": no longer detected")
		case was.Named && !now.Named:
			out = append(out, id+": no longer named as expected")
		case was.TimeToName > 0 && (now.TimeToName == 0 || now.TimeToName > was.TimeToName):
			out = append(out, fmt.Sprintf("%s: named after %d windows, was %d", id, now.TimeToName, was.TimeToName))
		case !was.FalseAlarm && now.FalseAlarm:
			out = append(out, id+": a false alarm")
		case !was.DoublePage && now.DoublePage:
			out = append(out, id+": two alerts at once for one subject")
		case was.ShareOK && !now.ShareOK:
			out = append(out, id+": the summary no longer states the share")
		case now.Flips > was.Flips:
			out = append(out, fmt.Sprintf("%s: the name flipped %d times, was %d", id, now.Flips, was.Flips))
		}
	}
	return out
}
