package experiment

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/train"
)

// A finished run is the run a configuration describes when its settings
// and its backend's effective settings agree, however the backend options
// are spelled; the same options whose effective settings differ from those
// recorded (defaults changed since) are another run.
func TestRunDiffComparesEffectiveBackendSettings(t *testing.T) {
	reg := testReg().Backends
	cfg := train.Recipe(testReg(), "lenet", "mnist")
	cfg.Backend = "rns"
	b, err := reg.New("rns", nil)
	require.NoError(t, err)
	effective := b.(backend.Configurer).Config()
	// recorded is what summary.json holds: effective, through JSON.
	recorded := func(edit func(map[string]any)) any {
		data, err := json.Marshal(effective)
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal(data, &m))
		if edit != nil {
			edit(m)
		}
		return m
	}
	prev := &train.Summary{Config: cfg, BackendConfig: recorded(nil)}

	with := func(opts backend.Options) train.Config {
		c := cfg
		c.BackendOptions = opts
		return c
	}
	for _, tc := range []struct {
		name string
		prev *train.Summary
		cfg  train.Config
		want string // "" for the same run, else a part of the difference
	}{
		{"same", prev, cfg, ""},
		{"a default spelled out", prev, with(backend.Options{"rrns-redundant": "2", "noise-sigma": "0.08"}), ""},
		{"another value", prev, with(backend.Options{"rrns-redundant": "0"}), "backend_options differ"},
		{"defaults changed since", &train.Summary{Config: cfg, BackendConfig: recorded(func(m map[string]any) {
			m["rrns_redundant_moduli"] = []int{}
		})}, cfg, "rrns_redundant_moduli: [] → [131,133]"},
		{"a setting the run did not record", &train.Summary{Config: cfg, BackendConfig: recorded(func(m map[string]any) {
			delete(m, "readout_error_probability")
		})}, cfg, ""},
		{"other settings", prev, func() train.Config { c := cfg; c.Epochs++; return c }(), "epochs differ"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := runDiff(tc.prev, tc.cfg, testReg())
			if tc.want == "" {
				require.Empty(t, got)
			} else {
				require.Contains(t, got, tc.want)
			}
		})
	}
}
