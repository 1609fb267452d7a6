package stream

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestOutcomes: the outcomes object decodes into named values, booleans as
// 1 and 0 and null as missing; what is not a finite number is a decode
// error with its reason, through both decoders.
func TestOutcomes(t *testing.T) {
	const head = `{"model":"m","model_version":"v1","outcomes":`
	for _, tc := range []struct {
		name   string
		msg    string
		want   []OutcomeValue
		reason Reason
	}{
		{name: "numbers and bools", msg: head + `{"eval_pass":1,"context_recall":0.82,"ok":true,"bad":false,"later":null}}`,
			want: []OutcomeValue{{Name: "eval_pass", Value: 1}, {Name: "context_recall", Value: 0.82}, {Name: "ok", Value: 1}, {Name: "bad"}, {Name: "later", Missing: true}}},
		{name: "empty", msg: head + `{}}`, want: nil},
		{name: "null object", msg: head + `null}`, want: nil},
		{name: "a string value", msg: head + `{"eval_pass":"yes"}}`, reason: ReasonBadOutcome},
		{name: "an array value", msg: head + `{"eval_pass":[1]}}`, reason: ReasonBadOutcome},
		{name: "an object value", msg: head + `{"eval_pass":{"v":1}}}`, reason: ReasonBadOutcome},
		{name: "infinite", msg: head + `{"eval_pass":1e999}}`, reason: ReasonBadOutcome},
		{name: "NaN", msg: head + `{"eval_pass":NaN}}`, reason: ReasonBadOutcome},
		{name: "not an object", msg: head + `[1,0]}`, reason: ReasonBadOutcome},
		{name: "a number", msg: head + `1}`, reason: ReasonBadOutcome},
		{name: "empty name", msg: head + `{"":1}}`, reason: ReasonNameInvalid},
		{name: "name twice", msg: head + `{"p":1,"p":0}}`, reason: ReasonDuplicateName},
		{name: "too many", msg: head + `{"a":1,"b":1,"c":1,"d":1}}`, reason: ReasonTooManyOutcomes},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, noFast := range []bool{false, true} {
				d, err := NewDecoder(DecoderOptions{MaxOutcomes: 3 + len(tc.want)})
				require.NoError(t, err)
				d.noFast = noFast
				var ev Event
				err = d.Decode([]byte(tc.msg), Fallback{}, &ev)
				if tc.reason != "" {
					require.Error(t, err)
					require.Equal(t, tc.reason, ReasonOf(err), "%v", err)
					continue
				}
				require.NoError(t, err)
				require.Equal(t, tc.want, ev.Outcomes)
			}
			decodeBoth(t, DecoderOptions{MaxOutcomes: 3 + len(tc.want)}, []byte(tc.msg))
		})
	}
}
