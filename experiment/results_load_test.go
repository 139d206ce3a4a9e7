package experiment

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/backend/registry"
)

// The loaders on small fixture directories, including malformed files:
// each problem is one line naming the directory and what to do.

// fixtureDir makes a directory under root holding files (name → content).
func fixtureDir(t *testing.T, root, name string, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(root, name)
	for f, content := range files {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), []byte(content), 0o644))
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

func TestLoadSweepDirRefusesMalformedFiles(t *testing.T) {
	root := t.TempDir()
	good := filepath.Join(root, "good")
	writeFakeSweep(t, good, bitsSpec, map[string]fakeResult{"fp32/fp32": ok(0.99), "bfp/bfp-bits=3": ok(0.9)})
	plan := readFile(t, filepath.Join(good, "plan.json"))
	results := readFile(t, filepath.Join(good, "results.jsonl"))
	firstLine := results[:strings.IndexByte(results, '\n')+1]
	stale := strings.Replace(firstLine, `"id":"`, `"id":"gone`, 1)

	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string // "" for no error
	}{
		{"plan.json is not JSON", map[string]string{"plan.json": "{", "results.jsonl": results}, "plan.json is not a sweep plan"},
		{"plan.json of another shape", map[string]string{"plan.json": `{"spec": 3}`, "results.jsonl": results}, "plan.json is not a sweep plan"},
		{"plan.json without rows", map[string]string{"plan.json": `{"spec": {"name": "x"}, "rows": []}`, "results.jsonl": results}, "plan.json has no spec or no rows"},
		{"results.jsonl line without id", map[string]string{"plan.json": plan, "results.jsonl": results + "{}\n"}, "results.jsonl line 3 has no id"},
		{"results.jsonl with a bad middle line", map[string]string{"plan.json": plan, "results.jsonl": firstLine + "[1,2]\n" + results}, "results.jsonl line 2 is not a result row"},
		{"results only of rows the plan no longer has", map[string]string{"plan.json": plan, "results.jsonl": stale}, "holds no result of the 8 runs in plan.json"},
		{"an empty results.jsonl", map[string]string{"plan.json": plan, "results.jsonl": ""}, "holds no result"},
		{"a stale row among current ones", map[string]string{"plan.json": plan, "results.jsonl": stale + results}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := fixtureDir(t, root, strings.ReplaceAll(tc.name, " ", "-"), tc.files)
			in, err := loadSweepDir(dir, testReg())
			if tc.want == "" {
				require.NoError(t, err)
				require.Equal(t, 1, in.stale)
				require.Len(t, in.res.Results, 2)
				return
			}
			require.ErrorContains(t, err, tc.want)
			require.True(t, strings.HasPrefix(err.Error(), dir+": "), "the error names the directory: %v", err)
			require.NotContains(t, err.Error(), "\n", "one-line error")
		})
	}
}

func TestLoadSweepDirNotesPlots(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "s")
	writeFakeSweep(t, dir, bitsSpec, map[string]fakeResult{"fp32/fp32": ok(0.99), "bfp/bfp-bits=3": ok(0.9), "bfp/bfp-bits=4": ok(0.95)})
	require.NoError(t, os.WriteFile(filepath.Join(dir, "accuracy-vs-aaa.png"), nil, 0o644))
	in, err := loadSweepDir(dir, testReg())
	require.NoError(t, err)
	require.Equal(t, "accuracy-vs-aaa.png", in.plots[0], "sorted")
	require.Contains(t, in.plots, "accuracy-vs-bfp-bits-bfp.png")
	for _, p := range in.plots {
		require.FileExists(t, filepath.Join(dir, p))
	}
}

func TestLoadCompareInput(t *testing.T) {
	root := t.TempDir()
	good := filepath.Join(root, "good")
	writeFakeCompare(t, good, fakeCompareConfig(), []fakeArm{{"fp32", "fp32", 0.99, OK}})
	in, err := loadCompareInput(good)
	require.NoError(t, err)
	require.True(t, in.hasAccuracyPlot)
	require.Equal(t, "fp32", in.cmp.Arms[0].Label)
	require.NoError(t, os.Remove(filepath.Join(good, "accuracy.png")))
	in, err = loadCompareInput(good)
	require.NoError(t, err)
	require.False(t, in.hasAccuracyPlot)

	for _, tc := range []struct{ name, report, want string }{
		{"not JSON", "{", "report.json is not a comparison report"},
		{"a list", "[]", "report.json is not a comparison report"},
		{"no arms", `{"arms": []}`, "report.json lists no arms"},
	} {
		dir := fixtureDir(t, root, tc.name, map[string]string{"report.json": tc.report})
		_, err := loadCompareInput(dir)
		require.ErrorContains(t, err, tc.want, tc.name)
		require.NotContains(t, err.Error(), "\n", tc.name)
	}
	file := filepath.Join(root, "a-file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	_, err = loadCompareInput(file)
	require.ErrorContains(t, err, "is a file, not an experiment output directory")
}

func TestLoadFullRefusesMalformedFiles(t *testing.T) {
	root := t.TempDir()
	base := fakeCompareConfig()
	arms := []Arm{{Label: "fp32", Backend: "fp32"}}
	plan := func(dir string) CompareConfig { return CompareConfig{Base: base, Arms: arms, Out: dir} }

	in, err := loadFull(plan(filepath.Join(root, "absent")))
	require.NoError(t, err, "a comparison not run yet is no error")
	require.False(t, in.exists)
	require.Equal(t, armNotStarted, in.arms[0].State)

	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"corrupt report.json", map[string]string{"report.json": "{"}, "report.json is not a comparison report"},
		{"corrupt metrics.jsonl", map[string]string{"fp32/metrics.jsonl": "{\n"}, "fp32: unreadable metrics.jsonl"},
		{"corrupt summary.json", map[string]string{"fp32/summary.json": "nope"}, "summary.json"},
	} {
		dir := fixtureDir(t, root, strings.ReplaceAll(tc.name, " ", "-"), tc.files)
		_, err := loadFull(plan(dir))
		require.ErrorContains(t, err, tc.want, tc.name)
		require.Contains(t, err.Error(), dir, tc.name)
		require.NotContains(t, err.Error(), "\n", tc.name)
	}
	file := filepath.Join(root, "a-file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	_, err = loadFull(plan(file))
	require.ErrorContains(t, err, "is a file, not a comparison's output directory")
}

func TestLoadWidthSweep(t *testing.T) {
	root := t.TempDir()
	spec := `
name: adc
base: {model: lenet, dataset: mnist, epochs: 1}
groups:
  - {name: fp32, backend: fp32}
  - {name: analog, backend: analog, grid: {adc-bits: [6, 8]}}
`
	dir := filepath.Join(root, "adc")
	writeFakeSweep(t, dir, spec, map[string]fakeResult{"fp32/fp32": ok(0.6), "analog/adc-bits=6": ok(0.1), "analog/adc-bits=8": ok(0.6)})
	in, err := loadWidthSweep(dir, testReg(), registryModels(registry.New()))
	require.NoError(t, err)
	require.True(t, in.choice.Found)
	require.Equal(t, 8, in.choice.Bits)
	require.Len(t, in.runs, 2)

	// A plan without results yet is "not finished", not an error.
	planOnly := fixtureDir(t, root, "plan-only", map[string]string{"plan.json": readFile(t, filepath.Join(dir, "plan.json"))})
	in, err = loadWidthSweep(planOnly, testReg(), registryModels(registry.New()))
	require.NoError(t, err)
	require.False(t, in.choice.Found)
	require.Contains(t, in.choice.Why, "none of the sweep's runs has finished yet")

	// A row whose adc-bits is no whole number (which the spec refuses,
	// but plan.json is a user's file) is refused by the analysis.
	w := &widthInput{dir: "adc", sweep: &sweepInput{res: &SweepResult{
		Rows: rowList{knobRow(0, "a", "", "analog", "adc-bits", "8.5")}, Results: map[string]*ResultRow{}}}}
	require.EqualError(t, w.analyse(registryModels(registry.New())), `adc: row 1 has adc-bits "8.5", not a whole number`)
}
