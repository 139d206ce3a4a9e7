// Package examples_test builds the example programs and runs each briefly,
// so that the library's door for newcomers keeps opening.
package examples_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	// The examples are built by the go command in a child process, which
	// go test's result cache does not see. Linking the packages they use
	// into this test, and reading their sources (run), makes a change to
	// either invalidate a cached pass.
	_ "github.com/mirage-go/mirage"
	_ "github.com/mirage-go/mirage/autograd"
	_ "github.com/mirage-go/mirage/backend/fp32"
	_ "github.com/mirage-go/mirage/backend/registry"
	_ "github.com/mirage-go/mirage/datasets"
	_ "github.com/mirage-go/mirage/datasets/catalog"
	_ "github.com/mirage-go/mirage/layers"
	_ "github.com/mirage-go/mirage/models"
	_ "github.com/mirage-go/mirage/optim"
	_ "github.com/mirage-go/mirage/train"
)

// run builds the example in dir and runs it with args, returning its
// standard output.
func run(t *testing.T, dir string, args ...string) string {
	t.Helper()
	gotool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the examples with")
	}
	_, err = os.ReadFile(filepath.Join(dir, "main.go")) // for the test cache (see the imports)
	require.NoError(t, err)
	bin := filepath.Join(t.TempDir(), dir)
	out, err := exec.Command(gotool, "build", "-o", bin, "./"+dir).CombinedOutput()
	require.NoError(t, err, "go build ./%s:\n%s", dir, out)
	cmd := exec.Command(bin, args...)
	out, err = cmd.Output()
	require.NoError(t, err, "%s %v", dir, args)
	return string(out)
}

// floats returns the numbers captured by re's first group, in order.
func floats(t *testing.T, re, text string) []float64 {
	t.Helper()
	var out []float64
	for _, m := range regexp.MustCompile(re).FindAllStringSubmatch(text, -1) {
		v, err := strconv.ParseFloat(m[1], 64)
		require.NoError(t, err)
		out = append(out, v)
	}
	return out
}

func TestCustomModel(t *testing.T) {
	out := run(t, "custommodel", "-epochs", "3")
	losses := floats(t, `train loss ([0-9.]+)`, out)
	require.Len(t, losses, 3, out)
	require.Less(t, losses[2], losses[0], "the training loss must fall:\n%s", out)
	acc := floats(t, `test accuracy ([0-9.]+)%`, out)
	require.Len(t, acc, 1, out)
	require.Greater(t, acc[0], 60.0, "two classes: better than chance after 3 epochs:\n%s", out)
}

func TestCustomBackend(t *testing.T) {
	out := run(t, "custombackend", "-steps", "20")
	relErr := floats(t, `relative error ([0-9.e+-]+)`, out)
	require.Len(t, relErr, 1, out)
	// Int8 with a scale per vector: about 1% error, far from exact and far
	// from garbage.
	require.InDelta(t, 0.01, relErr[0], 0.009, out)
	losses := floats(t, `final training loss ([0-9.]+)`, out)
	require.Len(t, losses, 2, out)
	require.Less(t, losses[0], 0.6, "fp32 learns:\n%s", out)
	require.InDelta(t, losses[0], losses[1], 0.05, "int8-sr trains like fp32:\n%s", out)
}
