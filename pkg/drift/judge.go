package drift

import (
	"fmt"
	"path"
	"strings"
)

// Input is what Judge weighs for one model version.
type Input struct {
	Model, Version string
	// Ref is the reference (a baseline); Cur the horizon.
	Ref, Cur Set
	// Recent holds the newest windows of the horizon, judged beside it so
	// that a change is named soon after its onset, before it fills the
	// horizon; an empty Set judges the horizon alone.
	Recent Set
	// Previous is the last report of the same model version, for the
	// hysteresis of names; nil for the first.
	Previous *Report
}

// Judge compares in.Cur with in.Ref like Compare, with the thresholds the
// policy gives each feature and embedding, and then:
//
//   - the newest windows: where the horizon's diagnosis is ok or generic
//     (distribution_change or range_violation, then shift or a rescaling
//     that names no unit) and in.Recent, judged on its own, names a more
//     specific cause, that name is reported: the horizon of a bug that
//     started one window ago is mostly clean, and mixed windows look like
//     a generic change;
//   - hysteresis: an alerting subject whose diagnosis would change to
//     another alerting one of no higher specificity keeps its name (and
//     sentence) until the new name is seen twice in a row, so the same
//     evidence does not flip names between windows;
//   - muting: a muted subject is judged and named but its severity is ok.
func Judge(in Input, p Policy) Report {
	var rep Report
	prevF := map[string]*FeatureReport{}
	prevE := map[string]*EmbeddingReport{}
	if in.Previous != nil {
		for i := range in.Previous.Features {
			prevF[in.Previous.Features[i].Name] = &in.Previous.Features[i]
		}
		for i := range in.Previous.Embeddings {
			prevE[in.Previous.Embeddings[i].Name] = &in.Previous.Embeddings[i]
		}
	}
	for _, name := range unionKeys(in.Ref.Features, in.Cur.Features) {
		th, muted := p.For(in.Model, in.Version, KindFeature, name)
		r, c := in.Ref.Features[name], in.Cur.Features[name]
		var refDist refDistribution // one for both comparisons
		h := compareFeatureWith(Feature{Name: name, Ref: r.Sketch, Cur: c.Sketch, Norm: r.Norm, Pair: c.Pair, Events: in.Cur.Events}, th, &refDist)
		var n *verdict
		if rc, ok := in.Recent.Features[name]; ok && rc.Sketch != nil {
			v := compareFeatureWith(Feature{Name: name, Ref: r.Sketch, Cur: rc.Sketch, Norm: r.Norm, Pair: rc.Pair, Events: in.Recent.Events}, th, &refDist).verdict()
			n = &v
		}
		var p *verdict
		if pr := prevF[name]; pr != nil {
			v := pr.verdict()
			p = &v
		}
		h.setVerdict(weigh(h.verdict(), n, p))
		if muted {
			h.Severity, h.Muted = SeverityOK, true
		}
		rep.Features = append(rep.Features, h)
	}
	for _, name := range unionKeys(in.Ref.Embeddings, in.Cur.Embeddings) {
		th, muted := p.For(in.Model, in.Version, KindEmbedding, name)
		r, c := in.Ref.Embeddings[name], in.Cur.Embeddings[name]
		h := CompareEmbedding(embeddingOf(name, r, c, in.Cur.Events), th)
		var n *verdict
		if rc, ok := in.Recent.Embeddings[name]; ok && (rc.Sketch != nil || rc.Similarity != nil || rc.Activation != nil || rc.Frozen != nil) {
			v := CompareEmbedding(embeddingOf(name, r, rc, in.Recent.Events), th).verdict()
			n = &v
		}
		var p *verdict
		if pr := prevE[name]; pr != nil {
			v := pr.verdict()
			p = &v
		}
		h.setVerdict(weigh(h.verdict(), n, p))
		if muted {
			h.Severity, h.Muted = SeverityOK, true
		}
		rep.Embeddings = append(rep.Embeddings, h)
	}
	return rep
}

// verdict is the part of a report Judge weighs and may replace.
type verdict struct {
	Diagnosis  Diagnosis
	Severity   Severity
	Confidence float64
	Summary    string
	Share      float64
	Pending    Diagnosis
}

func (r FeatureReport) verdict() verdict {
	return verdict{r.Diagnosis, r.Severity, r.Confidence, r.Summary, r.Share, r.Pending}
}

func (r *FeatureReport) setVerdict(v verdict) {
	r.Diagnosis, r.Severity, r.Confidence, r.Summary, r.Share, r.Pending = v.Diagnosis, v.Severity, v.Confidence, v.Summary, v.Share, v.Pending
}

func (r EmbeddingReport) verdict() verdict {
	return verdict{r.Diagnosis, r.Severity, r.Confidence, r.Summary, r.Share, r.Pending}
}

func (r *EmbeddingReport) setVerdict(v verdict) {
	r.Diagnosis, r.Severity, r.Confidence, r.Summary, r.Share, r.Pending = v.Diagnosis, v.Severity, v.Confidence, v.Summary, v.Share, v.Pending
}

// specificity ranks diagnoses: no change (-1); a change no affine map
// explains or values beyond the range (0) say less than a shift or a
// rescaling (1), which say less than a named cause (2).
func specificity(d Diagnosis) int {
	switch d {
	case OK, InsufficientData, NoBaseline:
		return -1
	case DistributionChange, RangeViolation:
		return 0
	case Shift:
		return 1
	case EmbeddingDimMismatch:
		// A merged horizon keeps the vectors of one dimension only, so a
		// change of dimension first looks like vectors gone missing.
		return 3
	case SimilarityCompressed, ActivationNormChange, RetrievalRegression:
		// They name the cause with the norm evidence an embedding's own
		// diagnosis (unnormalized, mixed, model change) sees, and more.
		return 3
	}
	return 2
}

// spreadChanged is how the sentence of a scale_change that is no unit
// change begins its cause (see diagnoseFeature).
const spreadChanged = "the spread changed ×"

// specificity is the verdict's diagnosis's, but for a scale_change that
// names no unit: a rescaling is as generic as a shift (a single window of
// a shifted heavy-tailed feature may fit a spread 12% narrower). The
// sentence tells them apart, so a report restored from a checkpoint is
// weighed as it was.
func (v verdict) specificity() int {
	if v.Diagnosis == ScaleChange && strings.Contains(v.Summary, spreadChanged) {
		return 1
	}
	return specificity(v.Diagnosis)
}

// weigh returns the verdict to report from the horizon's h, the newest
// windows' n and the previous report's p (either may be nil): a name the
// newest windows still show is kept (the horizon of a change that started
// less than a horizon ago mixes before and after, and may look like
// another change); else the newest windows' name where it is more
// specific, or its sentence where it names the same cause on a share half
// as large again; then the hysteresis of hold, unless the horizon and the
// newest window agree on the new name.
func weigh(h verdict, n, p *verdict) verdict {
	if p != nil && n != nil && p.Severity > SeverityOK && h.Severity > SeverityOK && n.Severity > SeverityOK &&
		n.Diagnosis == p.Diagnosis && n.specificity() == p.specificity() && h.Diagnosis != p.Diagnosis {
		v := newest(*n)
		v.Severity = max(h.Severity, n.Severity)
		return v
	}
	if n != nil && preferRecent(h, *n) {
		h = newest(*n)
	}
	agreed := n != nil && n.Diagnosis == h.Diagnosis && n.Severity > SeverityOK && h.Severity > SeverityOK
	if agreed && h.Share > 0 && (n.Share == 0 || n.Share >= 1.5*h.Share) {
		// The same cause on a larger share of the newest window's traffic
		// (0: all of it): it started within the horizon, whose share
		// dilutes it with the clean windows before (30% of the traffic
		// since one window ago is 6% of a horizon of five).
		sev := max(h.Severity, n.Severity)
		h = newest(*n)
		h.Severity = sev
	}
	switch {
	case p == nil:
	case agreed && h.Diagnosis != p.Diagnosis:
		// The horizon and its newest window both name the new cause: it
		// is seen twice already.
		h.Pending = ""
	default:
		h = hold(*p, h)
	}
	return h
}

// preferRecent tells whether the newest windows' verdict n names the
// change better than the horizon's h.
func preferRecent(h, n verdict) bool {
	if n.Severity == SeverityOK || n.Diagnosis == h.Diagnosis {
		return false
	}
	if h.Severity == SeverityOK {
		return n.specificity() > 1 || n.Severity == Critical
	}
	return n.specificity() > h.specificity()
}

func newest(v verdict) verdict {
	v.Summary = "in the newest window, " + v.Summary
	return v
}

// hold applies the hysteresis of names to cur given the previous verdict.
func hold(prev, cur verdict) verdict {
	cur.Pending = ""
	if prev.Severity == SeverityOK || cur.Severity == SeverityOK || cur.Diagnosis == prev.Diagnosis {
		return cur
	}
	if cur.specificity() > prev.specificity() || prev.Pending == cur.Diagnosis {
		return cur
	}
	held := prev
	held.Severity = cur.Severity
	held.Pending = cur.Diagnosis
	return held
}

// Kinds of subject a Policy tells apart.
const (
	KindFeature   = "feature"
	KindEmbedding = "embedding"
)

// Override changes the thresholds of the subjects it matches, or mutes
// them. Patterns are path.Match globs ("score_*", "v4*"); an empty one
// matches anything. An override with Feature set applies to features
// only, with Embedding set to embeddings only, with neither to both.
type Override struct {
	Model, Version     string
	Feature, Embedding string
	// Mute keeps the subjects judged and named but never alerting.
	Mute bool
	// Apply changes the thresholds; nil changes nothing.
	Apply func(*Thresholds)
}

// Policy gives each subject its thresholds: Default, then every matching
// override in order (later ones win).
type Policy struct {
	Default   Thresholds
	Overrides []Override
}

// DefaultPolicy is DefaultThresholds for every subject.
func DefaultPolicy() Policy { return Policy{Default: DefaultThresholds()} }

func globMatch(pattern, s string) bool {
	if pattern == "" {
		return true
	}
	ok, err := path.Match(pattern, s)
	return ok && err == nil
}

func (o Override) matches(model, version, kind, name string) bool {
	if !globMatch(o.Model, model) || !globMatch(o.Version, version) {
		return false
	}
	switch {
	case o.Feature != "":
		return kind == KindFeature && globMatch(o.Feature, name)
	case o.Embedding != "":
		return kind == KindEmbedding && globMatch(o.Embedding, name)
	}
	return true
}

// For returns the thresholds of one subject and whether it is muted.
func (p Policy) For(model, version, kind, name string) (Thresholds, bool) {
	th, muted := p.Default, false
	for _, o := range p.Overrides {
		if !o.matches(model, version, kind, name) {
			continue
		}
		if o.Apply != nil {
			o.Apply(&th)
		}
		muted = muted || o.Mute
	}
	return th, muted
}

// Validate reports a bad glob or an override whose thresholds are out of
// range, naming the override by its index.
func (p Policy) Validate() error {
	if err := p.Default.Validate(); err != nil {
		return err
	}
	for i, o := range p.Overrides {
		if o.Feature != "" && o.Embedding != "" {
			return fmt.Errorf("override %d: feature and embedding are exclusive", i)
		}
		for _, g := range []string{o.Model, o.Version, o.Feature, o.Embedding} {
			if _, err := path.Match(g, ""); err != nil {
				return fmt.Errorf("override %d: pattern %q: %w", i, g, err)
			}
		}
		th := p.Default
		if o.Apply != nil {
			o.Apply(&th)
		}
		if err := th.Validate(); err != nil {
			return fmt.Errorf("override %d: %w", i, err)
		}
	}
	return nil
}
