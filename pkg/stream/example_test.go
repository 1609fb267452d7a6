package stream_test

import (
	"fmt"
	"time"

	"github.com/normwatch/normwatch/pkg/stream"
)

func ExampleDecoder_Decode() {
	d, err := stream.NewDecoder(stream.DecoderOptions{})
	if err != nil {
		panic(err)
	}
	var ev stream.Event // reused from message to message
	msg := []byte(`{"model": "ranker", "model_version": "v4",
		"features": {"age": 0.41, "income": null, "segment": "gold"},
		"embeddings": {"doc": "b64f32:AACAPwAAAEA="}}`)
	fb := stream.Fallback{Time: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	if err := d.Decode(msg, fb, &ev); err != nil {
		fmt.Println(stream.ReasonOf(err)) // count it, dead-letter it
		return
	}
	fmt.Println(ev.Model, ev.Version, ev.Time)
	for _, f := range ev.Features {
		fmt.Printf("%s value=%v missing=%v type_error=%v\n", f.Name, f.Value, f.Missing, f.TypeError)
	}
	fmt.Println(ev.Embeddings[0].Name, ev.Embeddings[0].Values)

	err = d.Decode([]byte(`{"model": "ranker"}`), fb, &ev)
	fmt.Println(stream.ReasonOf(err))
	// Output:
	// ranker v4 2026-11-25 10:00:00 +0000 UTC
	// age value=0.41 missing=false type_error=false
	// income value=0 missing=true type_error=false
	// segment value=0 missing=false type_error=true
	// doc [1 2]
	// missing_version
}
