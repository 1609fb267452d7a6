package baseline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/normwatch/normwatch/pkg/drift"
)

// Scaler is the training normalization a scaler file declares: per feature
// a drift.Normalization, per embedding "l2" or "none". The Python client's
// normwatch.export_scalers writes one from fitted scikit-learn scalers.
type Scaler struct {
	File       string
	Features   map[string]drift.Normalization
	Embeddings map[string]string
}

// LoadScaler reads a scaler file: normwatch's own format in YAML or JSON,
// or the fitted attributes of a scikit-learn StandardScaler, MinMaxScaler,
// RobustScaler or MaxAbsScaler exported as JSON (one object, or an array
// of them), with feature_names_in_. Unknown keys are errors; a pickle or
// joblib file is refused with how to export it.
func LoadScaler(path string) (*Scaler, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseScaler(data, path)
}

// ParseScaler parses the content of a scaler file; file names it in errors.
func ParseScaler(data []byte, file string) (*Scaler, error) {
	if isPickle(data, file) {
		return nil, fmt.Errorf("%s: %s", file, pickleHint)
	}
	var probe any
	if err := yaml.Unmarshal(data, &probe); err != nil {
		if !utf8.Valid(data) {
			return nil, fmt.Errorf("%s: not a text file (%w); if it is a pickle or joblib file: %s", file, err, pickleHint)
		}
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

// The scaler file is normwatch's own format (YAML or JSON):
//
//	features:
//	  income: {kind: zscore, mean: 52100, std: 18300}
//	  age:    {kind: minmax, min: 18, max: 90, range: [-1, 1], clip: true}
//	  clicks: {kind: robust, median: 3, iqr: 4}
//	  views:  {kind: scale, scale: 250}
//	embeddings:
//	  query: l2            # or {kind: l2}
//
// It is read through yaml.Node rather than into a struct, so that every
// error names the key (features.age.range) and the forms it accepts.

// pickleHint is what a pickle or joblib file is told: normwatch never
// unpickles (a pickle runs code), so the scaler must be exported.
const pickleHint = "a Python pickle or joblib file, which normwatch does not load (unpickling runs code): " +
	"export the fitted scaler or pipeline with normwatch.export_scalers(obj, \"scaler.json\") " +
	"from the Python client (pip install ./clients/python), or write the YAML format of 'monitor baseline build --help'"

// isPickle tells a pickle (protocol 2 and later start with 0x80 and the
// protocol) or a compressed joblib dump (zlib, gzip, bz2, xz, lzma, lz4)
// by its first bytes, or by its name.
func isPickle(data []byte, file string) bool {
	switch strings.ToLower(filepath.Ext(file)) {
	case ".pkl", ".pickle", ".joblib", ".sav", ".pck":
		return true
	}
	switch {
	case len(data) >= 2 && data[0] == 0x80 && data[1] >= 2 && data[1] <= 5:
		return true
	case len(data) >= 2 && data[0] == 0x78 && (data[1] == 0x01 || data[1] == 0x5e || data[1] == 0x9c || data[1] == 0xda):
		return true
	case bytes.HasPrefix(data, []byte{0x1f, 0x8b}), bytes.HasPrefix(data, []byte("BZh")),
		bytes.HasPrefix(data, []byte("\xfd7zXZ\x00")), bytes.HasPrefix(data, []byte{0x5d, 0x00, 0x00}),
		bytes.HasPrefix(data, []byte{0x04, 0x22, 0x4d, 0x18}):
		return true
	}
	return false
}

// featureForm and embeddingForm are the accepted forms, for messages.
const (
	featureForm   = "a mapping such as {kind: zscore, mean: 52100, std: 18300}; kinds: " + drift.ScalerKinds
	embeddingForm = "l2 or none, as query: l2 or query: {kind: l2}"
)

func (s *Scaler) addOwn(data []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return err
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a scaler file is a mapping with features and embeddings", root.Line)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if seen[k.Value] {
			return fmt.Errorf("line %d: %s: given twice", k.Line, k.Value)
		}
		seen[k.Value] = true
		switch k.Value {
		case "features":
			if err := mapping(v, "features", "a mapping of feature names to their scalers", func(name string, n *yaml.Node) error {
				norm, err := ownFeature(n, "features."+name)
				if err != nil {
					return err
				}
				s.Features[name] = norm
				return nil
			}); err != nil {
				return err
			}
		case "embeddings":
			if err := mapping(v, "embeddings", "a mapping of embedding names to l2 or none", func(name string, n *yaml.Node) error {
				kind, err := ownEmbedding(n, "embeddings."+name)
				if err != nil {
					return err
				}
				s.Embeddings[name] = kind
				return nil
			}); err != nil {
				return err
			}
		default:
			return fmt.Errorf("line %d: %s: unknown key; a scaler file has features and embeddings", k.Line, k.Value)
		}
	}
	return nil
}

// mapping calls f for each entry of the mapping n, at key, in order; a
// null is an empty mapping.
func mapping(n *yaml.Node, key, form string, f func(name string, v *yaml.Node) error) error {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: %s: want %s, not %s", n.Line, key, form, nodeText(n))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if seen[k.Value] {
			return fmt.Errorf("line %d: %s.%s: given twice", k.Line, key, k.Value)
		}
		seen[k.Value] = true
		if err := validFeatureName(k.Value); err != nil {
			return fmt.Errorf("line %d: %s: %q: %w", k.Line, key, k.Value, err)
		}
		if err := f(k.Value, n.Content[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// nodeText says what a node is, for messages: "the string \"zscore\"".
func nodeText(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	switch n.Tag {
	case "!!null":
		return "nothing"
	case "!!str":
		return fmt.Sprintf("the string %q", n.Value)
	}
	return n.Value
}

func ownEmbedding(n *yaml.Node, key string) (string, error) {
	kindNode := n
	if n.Kind == yaml.MappingNode {
		kindNode = nil
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Value != "kind" {
				return "", fmt.Errorf("line %d: %s.%s: unknown key; an embedding takes only kind (%s)", k.Line, key, k.Value, embeddingForm)
			}
			kindNode = n.Content[i+1]
		}
		if kindNode == nil {
			return "", fmt.Errorf("line %d: %s.kind: missing: want %s", n.Line, key, embeddingForm)
		}
		key += ".kind"
	}
	if kindNode.Kind != yaml.ScalarNode || kindNode.Tag != "!!str" {
		return "", fmt.Errorf("line %d: %s: want %s, not %s", kindNode.Line, key, embeddingForm, nodeText(kindNode))
	}
	switch k := kindNode.Value; k {
	case drift.EmbeddingL2, drift.EmbeddingNone:
		return k, nil
	default:
		return "", fmt.Errorf("line %d: %s: %q: want %s", kindNode.Line, key, k, embeddingForm)
	}
}

func ownFeature(n *yaml.Node, key string) (drift.Normalization, error) {
	var norm drift.Normalization
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" && n.Value == drift.ScalerNone {
		// "flag: none" is as clear as {kind: none}.
		norm.Kind = drift.ScalerNone
		return norm, nil
	}
	if n.Kind != yaml.MappingNode {
		return norm, fmt.Errorf("line %d: %s: want %s, not %s", n.Line, key, featureForm, nodeText(n))
	}
	params := map[string]*yaml.Node{}
	var order []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if _, dup := params[k.Value]; dup {
			return norm, fmt.Errorf("line %d: %s.%s: given twice", k.Line, key, k.Value)
		}
		params[k.Value] = n.Content[i+1]
		order = append(order, k)
	}
	kn, ok := params["kind"]
	if !ok {
		return norm, fmt.Errorf("line %d: %s.kind: missing: want %s", n.Line, key, drift.ScalerKinds)
	}
	norm.Kind = kn.Value
	allowed := drift.KindParams(norm.Kind)
	if kn.Kind != yaml.ScalarNode || (allowed == nil && norm.Kind != drift.ScalerNone) {
		what := nodeText(kn)
		if kn.Kind == yaml.ScalarNode {
			what = strconv.Quote(kn.Value)
		}
		return norm, fmt.Errorf("line %d: %s.kind: %s: want %s", kn.Line, key, what, drift.ScalerKinds)
	}
	for _, k := range order {
		if k.Value == "kind" {
			continue
		}
		if !slices.Contains(allowed, k.Value) {
			takes := "no parameter"
			if len(allowed) > 0 {
				takes = strings.Join(allowed, ", ")
			}
			return norm, fmt.Errorf("line %d: %s.%s: not a parameter of a %s scaler (it takes %s)", k.Line, key, k.Value, norm.Kind, takes)
		}
	}
	num := func(name string, dst *float64) error {
		v, ok := params[name]
		if !ok {
			return nil
		}
		f, err := yamlFloat(v)
		if err != nil {
			return fmt.Errorf("line %d: %s.%s: %s: want a number", v.Line, key, name, nodeText(v))
		}
		*dst = f
		return nil
	}
	pair := func(name, example string, dst *[2]float64) error {
		v, ok := params[name]
		if !ok {
			return nil
		}
		bad := fmt.Errorf("line %d: %s.%s: %s: want a list of two numbers, such as %s", v.Line, key, name, nodeText(v), example)
		if v.Kind != yaml.SequenceNode || len(v.Content) != 2 {
			return bad
		}
		for i, e := range v.Content {
			f, err := yamlFloat(e)
			if err != nil {
				return bad
			}
			dst[i] = f
		}
		return nil
	}
	flag := func(name string, dst *bool) error {
		v, ok := params[name]
		if !ok {
			return nil
		}
		if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" {
			return fmt.Errorf("line %d: %s.%s: %s: want true or false", v.Line, key, name, nodeText(v))
		}
		*dst = v.Value == "true" || v.Value == "True" || v.Value == "TRUE"
		return nil
	}
	for _, err := range []error{
		num("mean", &norm.Mean), num("std", &norm.Std), num("min", &norm.Min), num("max", &norm.Max),
		num("median", &norm.Median), num("iqr", &norm.IQR), num("scale", &norm.Scale),
		num("center", &norm.Center), num("max_abs", &norm.MaxAbs),
		pair("range", "[-1, 1]", &norm.Range), pair("quantile_range", "[25, 75]", &norm.QuantileRange),
		flag("clip", &norm.Clip), flag("unit_variance", &norm.UnitVariance),
	} {
		if err != nil {
			return norm, err
		}
	}
	// The defaults are stored as zero, so that a baseline reads the same
	// whether the file spelled them out or not.
	if norm.Range == [2]float64{0, 1} {
		norm.Range = [2]float64{}
	}
	if norm.QuantileRange == [2]float64{25, 75} {
		norm.QuantileRange = [2]float64{}
	}
	for _, name := range requiredParams[norm.Kind] {
		if _, ok := params[name]; !ok {
			return norm, fmt.Errorf("line %d: %s.%s: missing for a %s scaler (it takes %s)", n.Line, key, name, norm.Kind, strings.Join(allowed, ", "))
		}
	}
	if err := norm.Validate(); err != nil {
		return norm, fmt.Errorf("line %d: %s: %w", n.Line, key, err)
	}
	return norm, nil
}

// requiredParams are the parameters each kind needs; the others have
// defaults (range [0, 1], no clip, quantile_range [25, 75]).
var requiredParams = map[string][]string{
	drift.ScalerZScore: {"mean", "std"},
	drift.ScalerMinMax: {"min", "max"},
	drift.ScalerRobust: {"median", "iqr"},
	drift.ScalerScale:  {"scale"},
	drift.ScalerCenter: {"center"},
	drift.ScalerMaxAbs: {"max_abs"},
}

func yamlFloat(n *yaml.Node) (float64, error) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") {
		return 0, errors.New("not a number")
	}
	var f float64
	if err := n.Decode(&f); err != nil {
		return 0, err
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, errors.New("not finite")
	}
	return f, nil
}

// sklearnKeys are the attributes and parameters of each scikit-learn
// scaler that an export may carry.
var sklearnKeys = map[string][]string{
	"StandardScaler": {"mean_", "scale_", "var_", "with_mean", "with_std"},
	"MinMaxScaler":   {"data_min_", "data_max_", "data_range_", "min_", "scale_", "feature_range", "clip"},
	"RobustScaler":   {"center_", "scale_", "with_centering", "with_scaling", "quantile_range", "unit_variance"},
	"MaxAbsScaler":   {"max_abs_", "scale_"},
}

var sklearnCommon = []string{"feature_names_in_", "n_features_in_", "n_samples_seen_", "copy", "type", "class", "__class__"}

// addSklearn reads the attributes of one fitted scikit-learn scaler, as
// json.dump(vars(scaler)) writes them once arrays are lists. Private
// attributes (a leading underscore, such as _sklearn_output_config) are
// scikit-learn's own state and ignored.
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
		case m["mean_"] != nil || m["var_"] != nil || m["with_mean"] != nil:
			class = "StandardScaler"
		case m["data_min_"] != nil:
			class = "MinMaxScaler"
		case m["center_"] != nil || m["with_centering"] != nil:
			class = "RobustScaler"
		case m["max_abs_"] != nil:
			class = "MaxAbsScaler"
		default:
			return fmt.Errorf("%sneither mean_ (StandardScaler), data_min_ (MinMaxScaler), center_ (RobustScaler) nor max_abs_ (MaxAbsScaler): not a scaler export normwatch reads; export with normwatch.export_scalers from the Python client", prefix)
		}
	}
	keys, ok := sklearnKeys[class]
	if !ok {
		return fmt.Errorf("%stype %q: want StandardScaler, MinMaxScaler, RobustScaler or MaxAbsScaler (normwatch.export_scalers walks pipelines and column transformers)", prefix, class)
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if strings.HasPrefix(k, "_") && k != "__class__" {
			continue
		}
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
	flag := func(key string, def bool) (bool, error) {
		raw, ok := m[key]
		if !ok || string(raw) == "null" {
			return def, nil
		}
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return false, fmt.Errorf("%s%s: %s: want true or false", prefix, key, raw)
		}
		return b, nil
	}
	pair := func(key string, def [2]float64) ([2]float64, error) {
		raw, ok := m[key]
		if !ok || string(raw) == "null" {
			return def, nil
		}
		var p []float64
		if err := json.Unmarshal(raw, &p); err != nil || len(p) != 2 {
			return def, fmt.Errorf("%s%s: %s: want a list of two numbers", prefix, key, raw)
		}
		return [2]float64{p[0], p[1]}, nil
	}
	out := make([]drift.Normalization, len(names))
	switch class {
	case "StandardScaler":
		withMean, err := flag("with_mean", true)
		if err != nil {
			return err
		}
		withStd, err := flag("with_std", true)
		if err != nil {
			return err
		}
		mean, err := vec("mean_", 0, withMean)
		if err != nil {
			return err
		}
		scale, err := vec("scale_", 1, withStd)
		if err != nil {
			return err
		}
		for i := range out {
			switch {
			case withMean && withStd:
				out[i] = drift.Normalization{Kind: drift.ScalerZScore, Mean: mean[i], Std: scale[i]}
			case withStd:
				out[i] = drift.Normalization{Kind: drift.ScalerScale, Scale: scale[i]}
			case withMean:
				out[i] = drift.Normalization{Kind: drift.ScalerCenter, Center: mean[i]}
			default:
				out[i] = drift.Normalization{Kind: drift.ScalerNone}
			}
		}
	case "MinMaxScaler":
		fr, err := pair("feature_range", [2]float64{0, 1})
		if err != nil {
			return err
		}
		clip, err := flag("clip", false)
		if err != nil {
			return err
		}
		if fr == [2]float64{0, 1} {
			fr = [2]float64{}
		}
		lo, err := vec("data_min_", 0, true)
		if err != nil {
			return err
		}
		hi, err := vec("data_max_", 0, true)
		if err != nil {
			return err
		}
		for i := range out {
			mx := hi[i]
			if mx == lo[i] {
				// scikit-learn maps a constant feature with range 1.
				mx = lo[i] + 1
			}
			out[i] = drift.Normalization{Kind: drift.ScalerMinMax, Min: lo[i], Max: mx, Range: fr, Clip: clip}
		}
	case "RobustScaler":
		withCenter, err := flag("with_centering", true)
		if err != nil {
			return err
		}
		withScale, err := flag("with_scaling", true)
		if err != nil {
			return err
		}
		unitVar, err := flag("unit_variance", false)
		if err != nil {
			return err
		}
		qr, err := pair("quantile_range", [2]float64{25, 75})
		if err != nil {
			return err
		}
		if qr == [2]float64{25, 75} {
			qr = [2]float64{}
		}
		center, err := vec("center_", 0, withCenter)
		if err != nil {
			return err
		}
		scale, err := vec("scale_", 1, withScale)
		if err != nil {
			return err
		}
		for i := range out {
			switch {
			case withCenter && withScale:
				// scale_ is the divisor; the file keeps the quantile
				// range's width, from which unit_variance divides again.
				width := scale[i]
				if unitVar {
					q := drift.Normalization{Kind: drift.ScalerRobust, Median: 0, IQR: 1, QuantileRange: qr, UnitVariance: true}
					width = scale[i] * q.Apply(1) // the normal width: 1 / (1 / width)
				}
				out[i] = drift.Normalization{Kind: drift.ScalerRobust, Median: center[i], IQR: width, QuantileRange: qr, UnitVariance: unitVar}
			case withScale:
				out[i] = drift.Normalization{Kind: drift.ScalerScale, Scale: scale[i]}
			case withCenter:
				out[i] = drift.Normalization{Kind: drift.ScalerCenter, Center: center[i]}
			default:
				out[i] = drift.Normalization{Kind: drift.ScalerNone}
			}
		}
	case "MaxAbsScaler":
		maxAbs, err := vec("max_abs_", 0, true)
		if err != nil {
			return err
		}
		for i := range out {
			m := math.Abs(maxAbs[i])
			if m == 0 {
				// scikit-learn leaves an all-zero feature as it is.
				m = 1
			}
			out[i] = drift.Normalization{Kind: drift.ScalerMaxAbs, MaxAbs: m}
		}
	}
	for i, name := range names {
		if _, dup := s.Features[name]; dup {
			return fmt.Errorf("%sfeature_names_in_: %q is declared twice", prefix, name)
		}
		n := out[i]
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
	_, err := s.apply(b, false, false)
	return err
}

// apply sets the declared normalizations; with subsetF (subsetE) the
// scaler's features (embeddings) that b does not have are returned, not
// an error: the build was asked for a subset of the scaler's columns.
func (s *Scaler) apply(b *Baseline, subsetF, subsetE bool) ([]string, error) {
	var unused []string
	for _, name := range slices.Sorted(maps.Keys(s.Features)) {
		f, ok := b.Features[name]
		if !ok {
			if subsetF {
				unused = append(unused, name)
				continue
			}
			return nil, fmt.Errorf("%s: feature %q is not among the baseline's features (%s); --features with a subset leaves the scaler's other entries out", s.File, name, nameList(b.Features))
		}
		f.Normalization = s.Features[name]
	}
	for _, name := range slices.Sorted(maps.Keys(s.Embeddings)) {
		e, ok := b.Embeddings[name]
		if !ok {
			if subsetE {
				unused = append(unused, "embedding "+name)
				continue
			}
			return nil, fmt.Errorf("%s: embedding %q is not among the baseline's embeddings (%s); --embeddings with a subset leaves the scaler's other entries out", s.File, name, nameList(b.Embeddings))
		}
		e.Normalization = s.Embeddings[name]
	}
	return unused, nil
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
