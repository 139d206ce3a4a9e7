package experiment

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mirage-go/mirage/train"
)

// cancelOn is a log that cancels a context when a line containing trigger
// is written, as SIGINT would at that moment.
type cancelOn struct {
	mu      sync.Mutex
	trigger string
	cancel  context.CancelFunc
	text    strings.Builder
}

func (c *cancelOn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.text.Write(p)
	if strings.Contains(string(p), c.trigger) {
		c.cancel()
	}
	return len(p), nil
}

// An interrupted comparison stops inside the running arm without
// recording it as failed, and the next invocation resumes that arm from
// its state: its metrics and backend statistics are those of an
// uninterrupted comparison.
func TestCompareResumesAnInterruptedArm(t *testing.T) {
	arms, err := ParseArms("fp32,bfp:rounding=stochastic", nil, testReg().Backends)
	require.NoError(t, err)
	ref, err := Compare(CompareConfig{Registries: testReg(), Base: tinyConfig(), Arms: arms, Out: t.TempDir(), ProbeBatch: 32}, io.Discard)
	require.NoError(t, err)

	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The bfp arm stops after its first step.
	log := &cancelOn{trigger: "backend bfp,", cancel: cancel}
	_, err = CompareContext(ctx, CompareConfig{Registries: testReg(), Base: tinyConfig(), Arms: arms, Out: out, ProbeBatch: 32}, log)
	var ie *train.InterruptedError
	require.True(t, errors.As(err, &ie), "%v", err)
	require.Equal(t, 1, ie.Epoch)
	require.Equal(t, 1, ie.Step)
	require.Contains(t, err.Error(), "arm bfp_rounding=stochastic")
	require.FileExists(t, filepath.Join(out, "bfp_rounding=stochastic", train.StateFile))
	require.NoFileExists(t, filepath.Join(out, "report.md"), "no report of a comparison that did not finish")

	// The interrupted arm's state belongs to these settings: others are
	// refused before anything trains.
	longer := tinyConfig()
	longer.Epochs = 3
	_, err = Compare(CompareConfig{Registries: testReg(), Base: longer, Arms: arms[1:], Out: out, ProbeBatch: 32}, io.Discard)
	require.ErrorContains(t, err, "holds an unfinished run with other settings (epochs: 2 → 3)")

	var again strings.Builder
	cmp, err := Compare(CompareConfig{Registries: testReg(), Base: tinyConfig(), Arms: arms, Out: out, ProbeBatch: 32}, &again)
	require.NoError(t, err)
	require.Contains(t, again.String(), "is finished, reusing it")
	require.Contains(t, again.String(), "resuming "+filepath.Join(out, "bfp_rounding=stochastic")+" from epoch 1 step 1")
	for i := range ref.Arms {
		want, got := ref.Arms[i].Outcome, cmp.Arms[i].Outcome
		require.Equal(t, curves(want.Metrics), curves(got.Metrics), "arm %s", ref.Arms[i].Label)
		require.Equal(t, want.Summary.BackendStats, got.Summary.BackendStats, "arm %s", ref.Arms[i].Label)
	}
}

// An interrupted sweep records no row for the row it stopped in, and the
// next invocation resumes that row.
func TestSweepResumesAnInterruptedRow(t *testing.T) {
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := &cancelOn{trigger: "epoch 1/2", cancel: cancel} // the first row, at the end of its first epoch
	_, err := SweepContext(ctx, SweepConfig{Registries: testReg(), Spec: parseTiny(t), Out: out}, log)
	var ie *train.InterruptedError
	require.True(t, errors.As(err, &ie), "%v", err)
	require.Equal(t, train.InterruptedError{Dir: ie.Dir, Epoch: 2, Step: 0, Steps: 8}, *ie)
	require.Contains(t, err.Error(), "row 1")
	require.NoFileExists(t, filepath.Join(out, "results.jsonl"), "nothing recorded for the interrupted row")

	var again strings.Builder
	res, err := Sweep(SweepConfig{Registries: testReg(), Spec: parseTiny(t), Out: out, MaxRuns: 1}, &again)
	require.NoError(t, err)
	require.Equal(t, 1, res.Ran)
	require.Contains(t, again.String(), "resuming "+ie.Dir+" from epoch 2 step 0")
	rows := resultLines(t, filepath.Join(out, "results.jsonl"))
	require.Len(t, rows, 1)
	require.Equal(t, OK, rows[0].Status)
	require.Len(t, rows[0].TestAccCurve, 2)
}
