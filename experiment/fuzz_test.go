package experiment

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/backend"
	"github.com/mirage-go/mirage/backend/registry"
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

// FuzzLoadSweepDir: whatever plan.json and results.jsonl hold, the sweep
// loader returns a one-line error naming the directory or a sweep whose
// results all belong to planned rows; it never panics.
func FuzzLoadSweepDir(f *testing.F) {
	plan := `{"spec":{"name":"s","base":{"model":"lenet"}},"rows":[{"index":0,"id":"a","knobs":[],"config":{"model":"lenet","backend":"fp32"}},` +
		`{"index":1,"id":"b","knobs":[{"name":"adc-bits","value":"6"}],"config":{"model":"lenet","backend":"analog"}}]}`
	f.Add([]byte(plan), []byte(`{"id":"a","status":"ok","final_test_acc":0.9}`+"\n"+`{"id":"b","status":"diverged","final_test_acc":null}`+"\n"))
	f.Add([]byte(plan), []byte(`{"id":"a","status":"ok"}`+"\n"+`{"id":"b","sta`))
	f.Add([]byte(plan), []byte("{}\n"))
	f.Add([]byte(`{"spec":null,"rows":null}`), []byte(""))
	f.Add([]byte(`[`), []byte("\n\n"))
	f.Fuzz(func(t *testing.T, plan, results []byte) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "plan.json"), plan, 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "results.jsonl"), results, 0o644))
		in, err := loadSweepDir(dir, testReg())
		if err != nil {
			require.True(t, strings.HasPrefix(err.Error(), dir+": "), "the error names the directory: %v", err)
			require.NotContains(t, err.Error(), "\n")
			return
		}
		require.NotEmpty(t, in.res.Results)
		planned := map[string]bool{}
		for r := range All(in.res.Rows) {
			planned[r.ID] = true
		}
		for id := range in.res.Results {
			require.True(t, planned[id], "result %q of no planned row", id)
		}
		// The width analysis reads the same typed rows without panicking.
		w := &widthInput{dir: dir, sweep: in}
		_ = w.analyse(registryModels(registry.New()))
	})
}

// FuzzLoadCompareDir: whatever report.json holds, the comparison loader
// returns a one-line error or a comparison with arms; it never panics.
func FuzzLoadCompareDir(f *testing.F) {
	f.Add([]byte(`{"config":{"model":"lenet","epochs":2},"reference_arm":"fp32","arms":[{"label":"fp32","backend":"fp32","outcome":{"summary":{"final_test_acc":0.9},"status":"ok"}}]}`))
	f.Add([]byte(`{"arms":[{}]}`))
	f.Add([]byte(`{"arms":null}`))
	f.Add([]byte(`nul`))
	f.Fuzz(func(t *testing.T, report []byte) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "report.json"), report, 0o644))
		c, err := loadCompareDir(dir)
		if err != nil {
			require.NotContains(t, err.Error(), "\n")
			return
		}
		require.NotEmpty(t, c.Arms)
	})
}
