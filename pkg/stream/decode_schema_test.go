package stream

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"
)

// TestEventSchema holds docs/event.schema.json to the decoder with its
// default options: an event is valid by the schema exactly when the decoder
// takes it whole (no error, no type error, its own time or none).
func TestEventSchema(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "event.schema.json")
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	require.NoError(t, c.AddResource("event.schema.json", doc))
	schema, err := c.Compile("event.schema.json")
	require.NoError(t, err)

	var examples struct {
		Examples []json.RawMessage `json:"examples"`
	}
	require.NoError(t, json.Unmarshal(raw, &examples))
	require.NotEmpty(t, examples.Examples)

	long := strings.Repeat("x", 257)
	events := []struct{ name, msg string }{
		{"minimal", `{"model":"m","model_version":"v1"}`},
		{"numeric version", `{"model":"m","model_version":4}`},
		{"no model", `{"model_version":"v1"}`},
		{"no version", `{"model":"m"}`},
		{"empty model", `{"model":"","model_version":"v1"}`},
		{"model a number", `{"model":3,"model_version":"v1"}`},
		{"long model name", `{"model":"` + long + `","model_version":"v1"}`},
		{"not an object", `[1,2]`},
		{"features", `{"model":"m","model_version":"v1","features":{"a":1,"b":-2.5e3,"c":null}}`},
		{"feature a string", `{"model":"m","model_version":"v1","features":{"a":"1"}}`},
		{"feature a bool", `{"model":"m","model_version":"v1","features":{"a":true}}`},
		{"feature an object", `{"model":"m","model_version":"v1","features":{"a":{}}}`},
		{"empty feature name", `{"model":"m","model_version":"v1","features":{"":1}}`},
		{"long feature name", `{"model":"m","model_version":"v1","features":{"` + long + `":1}}`},
		{"features a number", `{"model":"m","model_version":"v1","features":3}`},
		{"features null", `{"model":"m","model_version":"v1","features":null}`},
		{"feature list", `{"model":"m","model_version":"v1","features":[{"name":"a","value":1},{"name":"b","value":null},{"name":"c"}]}`},
		{"feature list entry a number", `{"model":"m","model_version":"v1","features":[1]}`},
		{"feature list without name", `{"model":"m","model_version":"v1","features":[{"value":1}]}`},
		{"feature list value a string", `{"model":"m","model_version":"v1","features":[{"name":"a","value":"x"}]}`},
		{"raw", `{"model":"m","model_version":"v1","features":{"a":1},"raw":{"a":52000}}`},
		{"outcomes", `{"model":"m","model_version":"v1","outcomes":{"eval_pass":1,"context_recall":0.82,"ok":true,"later":null}}`},
		{"outcome a string", `{"model":"m","model_version":"v1","outcomes":{"eval_pass":"1"}}`},
		{"outcomes a list", `{"model":"m","model_version":"v1","outcomes":[1]}`},
		{"raw a string", `{"model":"m","model_version":"v1","raw":{"a":"52000"}}`},
		{"embeddings", `{"model":"m","model_version":"v1","embeddings":{"q":[0.6,0.8],"d":"b64f32:AACAPwAAAEA=","n":null}}`},
		{"embedding list", `{"model":"m","model_version":"v1","embeddings":[{"name":"q","value":[1,2]},{"name":"d","value":"` + b64f32(1, 2, 3) + `"}]}`},
		{"b64f32 one value", `{"model":"m","model_version":"v1","embeddings":{"d":"` + b64f32(1) + `"}}`},
		{"b64f32 four values", `{"model":"m","model_version":"v1","embeddings":{"d":"` + b64f32(1, 2, 3, 4) + `"}}`},
		{"b64f32 three bytes", `{"model":"m","model_version":"v1","embeddings":{"d":"b64f32:AAAA"}}`},
		{"b64f32 no prefix", `{"model":"m","model_version":"v1","embeddings":{"d":"AACAPwAAAEA="}}`},
		{"b64f32 empty", `{"model":"m","model_version":"v1","embeddings":{"d":"b64f32:"}}`},
		{"embedding empty", `{"model":"m","model_version":"v1","embeddings":{"q":[]}}`},
		{"embedding of strings", `{"model":"m","model_version":"v1","embeddings":{"q":["a"]}}`},
		{"embedding a number", `{"model":"m","model_version":"v1","embeddings":{"q":1}}`},
		{"ts rfc 3339", `{"ts":"2026-11-25T10:00:00.123Z","model":"m","model_version":"v1"}`},
		{"ts space", `{"ts":"2026-12-01 20:50:00","model":"m","model_version":"v1"}`},
		{"ts offset", `{"ts":"2026-12-01T20:50:00+0130","model":"m","model_version":"v1"}`},
		{"ts date", `{"ts":"2026-12-01","model":"m","model_version":"v1"}`},
		{"ts epoch seconds", `{"ts":1796158200,"model":"m","model_version":"v1"}`},
		{"ts epoch ms", `{"ts":1796158200123,"model":"m","model_version":"v1"}`},
		{"ts epoch us", `{"ts":1796158200123456,"model":"m","model_version":"v1"}`},
		{"ts epoch ns", `{"ts":1796158200123456789,"model":"m","model_version":"v1"}`},
		{"ts epoch seconds string", `{"ts":"1796158200","model":"m","model_version":"v1"}`},
		{"ts epoch ms string", `{"ts":"1796158200123","model":"m","model_version":"v1"}`},
		{"ts null", `{"ts":null,"model":"m","model_version":"v1"}`},
		{"ts day first", `{"ts":"01/12/2026","model":"m","model_version":"v1"}`},
		{"ts bool", `{"ts":false,"model":"m","model_version":"v1"}`},
		{"ts huge", `{"ts":1e300,"model":"m","model_version":"v1"}`},
		{"ts seconds past 2262", `{"ts":50000000000,"model":"m","model_version":"v1"}`},
		{"ts hour 25", `{"ts":"2026-12-01T25:00:00Z","model":"m","model_version":"v1"}`},
		{"other fields", `{"model":"m","model_version":"v1","request_id":"x","meta":{"a":[1]}}`},
		{"retrieval scores", `{"model":"m","model_version":"v1","retrieval":{"query":"q","scores":[0.8,0.7]}}`},
		{"retrieval docs", `{"model":"m","model_version":"v1","embeddings":{"q":[0.6,0.8]},"retrieval":{"query":"q","metric":"cosine","docs":[[1,0],"` + b64f32(0, 1) + `"]}}`},
		{"retrieval null", `{"model":"m","model_version":"v1","retrieval":null}`},
		{"retrieval without query", `{"model":"m","model_version":"v1","retrieval":{"scores":[1]}}`},
		{"retrieval empty", `{"model":"m","model_version":"v1","retrieval":{"query":"q"}}`},
		{"retrieval bad metric", `{"model":"m","model_version":"v1","retrieval":{"query":"q","scores":[1],"metric":"l1"}}`},
		{"retrieval score a string", `{"model":"m","model_version":"v1","retrieval":{"query":"q","scores":["1"]}}`},
		{"retrieval an array", `{"model":"m","model_version":"v1","retrieval":[1]}`},
		{"retrieval too many scores", `{"model":"m","model_version":"v1","retrieval":{"query":"q","scores":[` + strings.Repeat("1,", 256) + `1]}}`},
	}
	for _, ex := range examples.Examples {
		events = append(events, struct{ name, msg string }{"schema example", string(ex)})
	}
	d, err := NewDecoder(DecoderOptions{})
	require.NoError(t, err)
	valid := 0
	for _, e := range events {
		t.Run(e.name, func(t *testing.T) {
			inst, err := jsonschema.UnmarshalJSON(strings.NewReader(e.msg))
			require.NoError(t, err)
			schemaOK := schema.Validate(inst) == nil
			var ev Event
			derr := d.Decode([]byte(e.msg), Fallback{}, &ev)
			whole := derr == nil && ev.TypeErrors() == 0 &&
				(ev.TimeFallback == TimeFallbackNone || ev.TimeFallback == TimeFallbackAbsent)
			require.Equal(t, whole, schemaOK, "schema says %v, decoder: err %v, %d type errors, time fallback %q",
				schemaOK, derr, ev.TypeErrors(), ev.TimeFallback)
			if schemaOK {
				valid++
			}
		})
	}
	require.Greater(t, valid, 10)
	require.Less(t, valid, len(events)-10)
}
