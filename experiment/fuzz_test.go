package experiment

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/backend"
)

// FuzzSpec parses arbitrary sweep specs (YAML, or JSON when asJSON) and
// plans them: a bad spec must be an error, never a panic, and a plan that
// is accepted must hold only rows whose configuration validates.
func FuzzSpec(f *testing.F) {
	f.Add([]byte("name: n\nbase: {model: lenet, epochs: 1}\nbackend: rns\ngrid:\n  noise-sigma: [0, 0.1]\n  rrns-redundant: [0, 2]\n"), false)
	f.Add([]byte("name: n\nbase: {model: lenet}\nbackend: rns\ngrid:\n  noise-sigma: [.nan, .inf]\n"), false)
	f.Add([]byte("name: n\nbase: {model: mlp, lr: .inf}\nbackend: fp32\n"), false)
	f.Add([]byte(`{"name":"n","base":{"model":"lenet"},"groups":[{"backend":"analog","grid":{"adc-bits":[6,8]}},{"backend":"fp32"}]}`), true)
	f.Add([]byte("base: {model: lenet}\ngrid: {backend: [fp32, bfp], tile: [16, 1e300]}\n"), false)
	f.Fuzz(func(t *testing.T, data []byte, asJSON bool) {
		name := "fuzz.yaml"
		if asJSON {
			name = "fuzz.json"
		}
		spec, err := ParseSpec(data, name)
		if err != nil {
			return
		}
		rows, err := Plan(spec, testReg())
		if err != nil {
			return
		}
		require.LessOrEqual(t, len(rows), MaxSweepRows)
		for _, r := range rows {
			require.NoError(t, r.Config.Validate(testReg()), "row %d", r.Index)
		}
	})
}

// FuzzParseArms parses --backends lists with per-arm option strings
// ("rns:noise-sigma=0.1:rrns-redundant=2") and builds each arm's backend:
// errors are fine, panics are not.
func FuzzParseArms(f *testing.F) {
	f.Add("fp32,rns:noise-sigma=0.12:rrns-redundant=2,analog:adc-bits=8", "")
	f.Add("rns:noise-sigma=NaN", "0.1")
	f.Add("rns:rns-moduli=63,64,65:tile=16,bfp", "")
	f.Add("analog:adc-bits=99999999999", "1e300")
	f.Fuzz(func(t *testing.T, list, sigma string) {
		reg := testReg().Backends
		shared := backend.Options{}
		if sigma != "" {
			shared["noise-sigma"] = sigma
		}
		arms, err := ParseArms(list, shared, reg)
		if err != nil {
			return
		}
		for _, a := range arms {
			_, _ = reg.New(a.Backend, a.Options)
		}
	})
}
