package baseline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/normwatch/normwatch/pkg/drift"
)

// Scaler is the training normalization a scaler file declares: per feature
// a drift.Normalization, per embedding "l2" or "none".
type Scaler struct {
	File       string
	Features   map[string]drift.Normalization
	Embeddings map[string]string
}

// scalerFile is normwatch's own scaler format (YAML or JSON):
//
//	features:
//	  income: {kind: zscore, mean: 52100, std: 18300}
//	  age:    {kind: minmax, min: 18, max: 90}
//	  clicks: {kind: robust, median: 3, iqr: 4}
//	embeddings:
//	  query: l2
type scalerFile struct {
	Features   map[string]scalerFeature `yaml:"features"`
	Embeddings map[string]string        `yaml:"embeddings"`
}

type scalerFeature struct {
	Kind   string   `yaml:"kind"`
	Mean   *float64 `yaml:"mean"`
	Std    *float64 `yaml:"std"`
	Min    *float64 `yaml:"min"`
	Max    *float64 `yaml:"max"`
	Median *float64 `yaml:"median"`
	IQR    *float64 `yaml:"iqr"`
}

// LoadScaler reads a scaler file: normwatch's own format in YAML or JSON,
// or the fitted attributes of a scikit-learn StandardScaler, MinMaxScaler or
// RobustScaler exported as JSON (one object, or an array of them), with
// feature_names_in_. Unknown keys are errors.
func LoadScaler(path string) (*Scaler, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseScaler(data, path)
}

// ParseScaler parses the content of a scaler file; file names it in errors.
func ParseScaler(data []byte, file string) (*Scaler, error) {
	var probe any
	if err := yaml.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	s := &Scaler{File: file, Features: map[string]drift.Normalization{}, Embeddings: map[string]string{}}
	switch p := probe.(type) {
	case nil:
		return nil, fmt.Errorf("%s: empty scaler file", file)
	case []any:
		var objs []json.RawMessage
		if err := json.Unmarshal(data, &objs); err != nil {
			return nil, fmt.Errorf("%s: a list of scikit-learn scalers must be JSON: %w", file, err)
		}
		for i, o := range objs {
			if err := s.addSklearn(o, fmt.Sprintf("[%d]", i)); err != nil {
				return nil, fmt.Errorf("%s: %w", file, err)
			}
		}
	case map[string]any:
		if isSklearn(p) {
			if err := s.addSklearn(data, ""); err != nil {
				return nil, fmt.Errorf("%s: %w", file, err)
			}
			break
		}
		if err := s.addOwn(data); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
	default:
		return nil, fmt.Errorf("%s: a scaler file is a mapping with features and embeddings, not a %T", file, probe)
	}
	if len(s.Features)+len(s.Embeddings) == 0 {
		return nil, fmt.Errorf("%s: the scaler declares no feature and no embedding", file)
	}
	return s, nil
}

// isSklearn tells a scikit-learn export by its fitted attributes, whose
// names end in an underscore.
func isSklearn(m map[string]any) bool {
	for k := range m {
		if strings.HasSuffix(k, "_") {
			return true
		}
	}
	return false
}

func (s *Scaler) addOwn(data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f scalerFile
	if err := dec.Decode(&f); err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(f.Features)) {
		sf := f.Features[name]
		n, err := sf.normalization()
		if err != nil {
			return fmt.Errorf("features.%s: %w", name, err)
		}
		s.Features[name] = n
	}
	for _, name := range slices.Sorted(maps.Keys(f.Embeddings)) {
		switch k := f.Embeddings[name]; k {
		case drift.EmbeddingL2, drift.EmbeddingNone:
			s.Embeddings[name] = k
		default:
			return fmt.Errorf("embeddings.%s: %q: want l2 or none", name, k)
		}
	}
	return nil
}

func (sf scalerFeature) normalization() (drift.Normalization, error) {
	type param struct {
		name string
		v    *float64
	}
	var need, allowed []param
	all := []param{{"mean", sf.Mean}, {"std", sf.Std}, {"min", sf.Min}, {"max", sf.Max}, {"median", sf.Median}, {"iqr", sf.IQR}}
	n := drift.Normalization{Kind: sf.Kind}
	switch sf.Kind {
	case drift.ScalerNone:
	case drift.ScalerZScore:
		need = []param{{"mean", sf.Mean}, {"std", sf.Std}}
	case drift.ScalerMinMax:
		need = []param{{"min", sf.Min}, {"max", sf.Max}}
	case drift.ScalerRobust:
		need = []param{{"median", sf.Median}, {"iqr", sf.IQR}}
	case "":
		return n, errors.New("kind: missing: want none, zscore, minmax or robust")
	default:
		return n, fmt.Errorf("kind: %q: want none, zscore, minmax or robust", sf.Kind)
	}
	allowed = need
	for _, p := range need {
		if p.v == nil {
			return n, fmt.Errorf("%s: missing for a %s scaler", p.name, sf.Kind)
		}
	}
	for _, p := range all {
		if p.v != nil && !slices.ContainsFunc(allowed, func(a param) bool { return a.name == p.name }) {
			return n, fmt.Errorf("%s: not a parameter of a %s scaler", p.name, sf.Kind)
		}
	}
	get := func(p *float64) float64 {
		if p == nil {
			return 0
		}
		return *p
	}
	n.Mean, n.Std, n.Min, n.Max, n.Median, n.IQR = get(sf.Mean), get(sf.Std), get(sf.Min), get(sf.Max), get(sf.Median), get(sf.IQR)
	if err := n.Validate(); err != nil {
		return n, err
	}
	return n, nil
}

// sklearnKeys are the attributes and parameters of each scikit-learn
// scaler that an export may carry; the first group of each identifies it.
var sklearnKeys = map[string][]string{
	"StandardScaler": {"mean_", "scale_", "var_", "with_mean", "with_std"},
	"MinMaxScaler":   {"data_min_", "data_max_", "data_range_", "min_", "scale_", "feature_range", "clip"},
	"RobustScaler":   {"center_", "scale_", "with_centering", "with_scaling", "quantile_range", "unit_variance"},
}

var sklearnCommon = []string{"feature_names_in_", "n_features_in_", "n_samples_seen_", "copy", "type", "class", "__class__"}

func (s *Scaler) addSklearn(data []byte, where string) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("%sscikit-learn scaler export must be a JSON object: %w", where, err)
	}
	prefix := where
	if prefix != "" {
		prefix += "."
	}
	class := ""
	for _, k := range []string{"type", "class", "__class__"} {
		if raw, ok := m[k]; ok {
			if err := json.Unmarshal(raw, &class); err != nil {
				return fmt.Errorf("%s%s: %w", prefix, k, err)
			}
			class = class[strings.LastIndexByte(class, '.')+1:]
		}
	}
	if class == "" {
		switch {
		case m["mean_"] != nil || m["var_"] != nil:
			class = "StandardScaler"
		case m["data_min_"] != nil:
			class = "MinMaxScaler"
		case m["center_"] != nil:
			class = "RobustScaler"
		default:
			return fmt.Errorf("%sneither mean_ (StandardScaler), data_min_ (MinMaxScaler) nor center_ (RobustScaler): not a scaler export normwatch reads", prefix)
		}
	}
	keys, ok := sklearnKeys[class]
	if !ok {
		return fmt.Errorf("%stype %q: want StandardScaler, MinMaxScaler or RobustScaler", prefix, class)
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !slices.Contains(keys, k) && !slices.Contains(sklearnCommon, k) {
			return fmt.Errorf("%s%s: unknown key for a %s (known: %s)", prefix, k, class, strings.Join(append(slices.Clone(keys), sklearnCommon[:3]...), ", "))
		}
	}
	var names []string
	if raw, ok := m["feature_names_in_"]; !ok {
		return fmt.Errorf("%sfeature_names_in_: missing: fit the scaler on a DataFrame so that it knows the feature names, or write normwatch's scaler format", prefix)
	} else if err := json.Unmarshal(raw, &names); err != nil {
		return fmt.Errorf("%sfeature_names_in_: %w", prefix, err)
	}
	if len(names) == 0 {
		return fmt.Errorf("%sfeature_names_in_: empty", prefix)
	}
	// vec reads a per-feature array; a missing or null one gives def.
	vec := func(key string, def float64, required bool) ([]float64, error) {
		raw, ok := m[key]
		if !ok || string(raw) == "null" {
			if required {
				return nil, fmt.Errorf("%s%s: missing", prefix, key)
			}
			out := make([]float64, len(names))
			for i := range out {
				out[i] = def
			}
			return out, nil
		}
		var out []float64
		if err := json.Unmarshal(raw, &out); err != nil {
			return nil, fmt.Errorf("%s%s: %w", prefix, key, err)
		}
		if len(out) != len(names) {
			return nil, fmt.Errorf("%s%s: %d values for %d feature names", prefix, key, len(out), len(names))
		}
		return out, nil
	}
	var center, spread []float64
	var kind string
	var err error
	switch class {
	case "StandardScaler":
		kind = drift.ScalerZScore
		if center, err = vec("mean_", 0, false); err != nil {
			return err
		}
		if spread, err = vec("scale_", 1, false); err != nil {
			return err
		}
	case "MinMaxScaler":
		kind = drift.ScalerMinMax
		if raw, ok := m["feature_range"]; ok {
			var fr []float64
			if err := json.Unmarshal(raw, &fr); err != nil || len(fr) != 2 || fr[0] != 0 || fr[1] != 1 {
				return fmt.Errorf("%sfeature_range: %s: only (0, 1) is supported", prefix, raw)
			}
		}
		if center, err = vec("data_min_", 0, true); err != nil {
			return err
		}
		var hi []float64
		if hi, err = vec("data_max_", 0, true); err != nil {
			return err
		}
		spread = make([]float64, len(hi))
		for i := range hi {
			spread[i] = hi[i] - center[i]
			if spread[i] == 0 {
				// scikit-learn maps a constant feature with range 1.
				spread[i] = 1
			}
		}
	case "RobustScaler":
		kind = drift.ScalerRobust
		if center, err = vec("center_", 0, false); err != nil {
			return err
		}
		if spread, err = vec("scale_", 1, false); err != nil {
			return err
		}
	}
	for i, name := range names {
		if _, dup := s.Features[name]; dup {
			return fmt.Errorf("%sfeature_names_in_: %q is declared twice", prefix, name)
		}
		n := drift.Normalization{Kind: kind}
		switch kind {
		case drift.ScalerZScore:
			n.Mean, n.Std = center[i], spread[i]
		case drift.ScalerMinMax:
			n.Min, n.Max = center[i], center[i]+spread[i]
		case drift.ScalerRobust:
			n.Median, n.IQR = center[i], spread[i]
		}
		if err := n.Validate(); err != nil {
			return fmt.Errorf("%sfeature %q: %w", prefix, name, err)
		}
		if math.IsInf(n.Max, 0) {
			return fmt.Errorf("%sfeature %q: range overflows", prefix, name)
		}
		s.Features[name] = n
	}
	return nil
}

// Apply sets the declared normalizations of b's features and embeddings.
// A name the scaler declares but b does not have is an error: most often a
// typo, or a scaler of another model.
func (s *Scaler) Apply(b *Baseline) error {
	for _, name := range slices.Sorted(maps.Keys(s.Features)) {
		f, ok := b.Features[name]
		if !ok {
			return fmt.Errorf("%s: feature %q is not among the baseline's features (%s)", s.File, name, nameList(b.Features))
		}
		f.Normalization = s.Features[name]
	}
	for _, name := range slices.Sorted(maps.Keys(s.Embeddings)) {
		e, ok := b.Embeddings[name]
		if !ok {
			return fmt.Errorf("%s: embedding %q is not among the baseline's embeddings (%s)", s.File, name, nameList(b.Embeddings))
		}
		e.Normalization = s.Embeddings[name]
	}
	return nil
}

func nameList[V any](m map[string]V) string {
	names := slices.Sorted(maps.Keys(m))
	if len(names) == 0 {
		return "none"
	}
	if len(names) > 10 {
		return strings.Join(names[:10], ", ") + fmt.Sprintf(", … %d more", len(names)-10)
	}
	return strings.Join(names, ", ")
}
