package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The results command on the outputs of a real (tiny) compare and sweep:
// the document records its command, has a section per input, answers the
// BFP-width question, and links only files that exist.
func TestResultsCommand(t *testing.T) {
	root := t.TempDir()
	cmpDir := filepath.Join(root, "runs", "ab")
	var stdout, stderr bytes.Buffer
	require.NoError(t, compareCommand(testReg(), []string{"--model", "mlp", "--epochs", "1", "--train-limit", "256", "--test-limit", "128",
		"--backends", "fp32,bfp:bfp-bits=5", "--tile", "64", "--out", cmpDir}, &stdout, &stderr), stderr.String())

	spec := filepath.Join(root, "tiny.yaml")
	require.NoError(t, os.WriteFile(spec, []byte(`
name: tiny
base: {model: mlp, dataset: mnist, epochs: 1, train_limit: 256, test_limit: 128}
options: {tile: 64}
groups:
  - name: fp32
    backend: fp32
  - name: bfp
    backend: bfp
    grid: {bfp-bits: [4, 6]}
`), 0o644))
	sweepDir := filepath.Join(root, "runs", "tiny")
	stdout.Reset()
	stderr.Reset()
	require.NoError(t, sweepCommand(testReg(), []string{"--spec", spec, "--out", sweepDir}, &stdout, &stderr), stderr.String())

	out := filepath.Join(root, "doc", "RESULTS.md")
	code, so, se := runCLI("results", "--compare", cmpDir, "--sweep", sweepDir, "--out", out)
	require.Equal(t, 0, code, se)
	require.Contains(t, so, "wrote "+out)
	data, err := os.ReadFile(out)
	require.NoError(t, err)
	md := string(data)
	require.Contains(t, md, "mirage results --compare "+cmpDir+" --sweep "+sweepDir+" --out "+out, "the command is recorded")
	require.Contains(t, md, "## mlp on mnist")
	require.Contains(t, md, "| bfp_bfp-bits=5 | bfp | `bfp-bits=5 tile=64` |")
	require.Contains(t, md, "## Sweep tiny")
	require.Regexp(t, `BFP without noise: narrowest width within 0\.5 points of FP32: \*\*(\d bits|none)\*\*`, md)
	require.Contains(t, md, "[report](../runs/ab/report.md)")
	links := regexp.MustCompile(`\]\(([^)#][^)]*)\)`).FindAllStringSubmatch(md, -1)
	require.NotEmpty(t, links)
	for _, m := range links {
		require.FileExists(t, filepath.Join(filepath.Dir(out), filepath.FromSlash(m[1])), "links are relative to the document")
	}
}

func TestResultsCommandBadInput(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"no directories", []string{"results"}, 2, []string{"--compare, --sweep, --full or --width-sweep"}},
		{"narrowest-adc with a document", []string{"results", "--narrowest-adc", dir, "--sweep", dir}, 2, []string{"--narrowest-adc only prints a width"}},
		{"narrowest-adc of a directory that is no sweep", []string{"results", "--narrowest-adc", dir}, 1, []string{dir + ": no plan.json"}},
		{"full command without --out", []string{"results", "--full", "mirage compare --model lenet"}, 2, []string{"--full", "--out is required"}},
		{"unknown flag", []string{"results", "--compares", dir}, 2, []string{"compares"}},
		{"stray argument", []string{"results", "--sweep", dir, "extra"}, 2, []string{`"extra"`}},
		{"missing directory", []string{"results", "--compare", missing}, 1, []string{missing + ": no such directory", "mirage compare"}},
		{"empty sweep directories, comma-separated and repeated", []string{"results", "--sweep", dir + "," + missing, "--sweep", missing + "2"}, 1,
			[]string{dir + ": no plan.json", missing + ": no such directory", missing + "2: no such directory"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(tc.args...)
			require.Equal(t, tc.code, code, stderr)
			line := strings.TrimRight(stderr, "\n")
			require.NotContains(t, line, "\n", "one-line error")
			require.True(t, strings.HasPrefix(line, "mirage results: "), line)
			for _, w := range tc.want {
				require.Contains(t, line, w)
			}
		})
	}
	require.NoFileExists(t, "RESULTS.md", "a failed command writes nothing")
}

// --full reads a comparison from the command that runs it: the arms that
// ran are shown with their accuracy; an arm the command adds later (here
// two analog arms at different ADC widths, whose labels must differ) is
// shown as not started, and a directory that does not exist as not run yet.
func TestResultsFullFromCommands(t *testing.T) {
	root := t.TempDir()
	cmpDir := filepath.Join(root, "runs", "full")
	args := []string{"--model", "mlp", "--epochs", "1", "--train-limit", "256", "--test-limit", "128"}
	var stdout, stderr bytes.Buffer
	require.NoError(t, compareCommand(testReg(), append(args, "--backends", "fp32", "--out", cmpDir, "--checkpoint-every", "2"), &stdout, &stderr), stderr.String())

	later := "mirage compare " + strings.Join(args, " ") + " --backends fp32,analog:adc-bits=6,analog:adc-bits=10 --checkpoint-every 2 --out " + cmpDir
	missing := "mirage compare " + strings.Join(args, " ") + " --backends fp32 --out " + filepath.Join(root, "runs", "absent")
	out := filepath.Join(root, "RESULTS.md")
	code, so, se := runCLI("results", "--full", later, "--full", missing, "--width-sweep", filepath.Join(root, "runs", "adc"), "--out", out)
	require.Equal(t, 0, code, se)
	require.Contains(t, so, "wrote "+out)
	data, err := os.ReadFile(out)
	require.NoError(t, err)
	md := string(data)
	require.Contains(t, md, "1 of 3 arms finished")
	require.Regexp(t, `\| fp32 \| fp32 \| defaults \| (finished|\*\*COLLAPSED\*\*) \| 1/1 \| \d+\.\d\d% \|`, md)
	require.Contains(t, md, "| analog_adc-bits=6 | analog | `adc-bits=6` | not started | 0/1 |")
	require.Contains(t, md, "| analog_adc-bits=10 | analog | `adc-bits=10` | not started | 0/1 |")
	require.Contains(t, md, "does not exist. Arms: fp32.")

	// The width of a sweep that has not run cannot be chosen: one line, non-zero.
	code, so, se = runCLI("results", "--narrowest-adc", filepath.Join(root, "runs", "adc"))
	require.NotEqual(t, 0, code)
	require.Empty(t, so)
	require.Contains(t, se, "no ADC width chosen: the sweep has not been run yet")
	require.Equal(t, 1, strings.Count(strings.TrimSpace(se), "\n")+1, se)

	code, _, se = runCLI("results", "--full", "mirage compare --model nosuch --out x", "--out", out)
	require.NotEqual(t, 0, code)
	require.Contains(t, se, "--full")
}
