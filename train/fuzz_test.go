package train

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzConfigFromMetadata feeds arbitrary mirage.config metadata, as a
// hand-edited or damaged checkpoint would carry, to the code that turns it
// into an evaluation configuration: it must be refused or valid, and a
// valid one must survive a JSON round trip unchanged.
func FuzzConfigFromMetadata(f *testing.F) {
	good, err := json.Marshal(Recipe(testReg(), "lenet", "mnist"))
	require.NoError(f, err)
	f.Add(string(good))
	f.Add(`{"model":"lenet","dataset":"mnist","backend":"fp32","epochs":1,"batch_size":64,"eval_batch_size":0,"optimizer":"sgd","lr":0.1,"schedule":"constant"}`)
	f.Add(`{"model":"lenet","dataset":"mnist","backend":"fp32","epochs":1,"batch_size":64,"eval_batch_size":100000000,"optimizer":"sgd","lr":0.1,"schedule":"constant"}`)
	f.Add(`{"model":"mlp","dataset":"imdb","backend":"rns","backend_options":{"noise-sigma":"NaN"},"lr":1e400}`)
	f.Add(`null`)
	f.Fuzz(func(t *testing.T, raw string) {
		cfg, err := configFromMetadata("fuzz.safetensors", map[string]string{configMetadataKey: raw}, testReg())
		if err != nil {
			return
		}
		require.NoError(t, cfg.Validate(testReg()))
		data, err := json.Marshal(cfg)
		require.NoError(t, err, "a valid configuration must encode (no NaN or Inf)")
		var again Config
		require.NoError(t, json.Unmarshal(data, &again))
		require.Equal(t, cfg.Model, again.Model)
	})
}
