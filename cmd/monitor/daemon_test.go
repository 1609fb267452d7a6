package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/normwatch/normwatch/pkg/config"
	"github.com/normwatch/normwatch/pkg/stream"
)

// TestDecoderOptionsFromConfig: every decode.* key reaches the decoder.
func TestDecoderOptionsFromConfig(t *testing.T) {
	c := config.Default().Decode
	c.FeaturesPath = config.PathRoot
	c.ModelPath = `meta\.v2.model`
	c.VersionPath = "v"
	c.TimePath = "t"
	c.TimeUnit = "ms"
	c.RawPath = "-"
	c.EmbeddingsPath = "e"
	c.ListNameKey, c.ListValueKey = "k", "x"
	d, err := stream.NewDecoder(decoderOptions(c))
	require.NoError(t, err)
	var ev stream.Event
	require.NoError(t, d.Decode([]byte(`{"t":1796158200,"meta.v2":{"model":"m"},"v":"1","age":3,"e":[{"k":"q","x":[1,0]}]}`), stream.Fallback{}, &ev))
	require.Equal(t, "m", ev.Model)
	require.Equal(t, "1", ev.Version)
	require.Equal(t, int64(1796158200), ev.Time.UnixMilli(), "decode.time_unit ms")
	require.Len(t, ev.Features, 1)
	require.Equal(t, "age", ev.Features[0].Name)
	require.Len(t, ev.Embeddings, 1)
	require.Equal(t, "q", ev.Embeddings[0].Name)
	require.Equal(t, c.MaxNames, d.Options().MaxNames)
}
