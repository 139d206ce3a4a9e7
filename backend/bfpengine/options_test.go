package bfpengine

import (
	"flag"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

// Every shared flag's text parses to a value whose String parses back to
// the same value; bad text gets the flag's one-line message.
func TestSharedFlags(t *testing.T) {
	s, n := DefaultSettings(), DefaultNoise()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	s.BindFlags(fs, true)
	n.BindFlags(fs)
	for _, tc := range []struct{ name, text, canonical, err string }{
		{"bfp-bits", " 7 ", "7", ""},
		{"bfp-bits", "7.5", "", `--bfp-bits "7.5" is not an integer`},
		{"tile", "0x10", "", `--tile "0x10" is not an integer`},
		{"rounding", "stochastic", "stochastic", ""},
		{"rounding", "even", "", `--rounding: unknown rounding "even"`},
		{"fp32-layers", ",conv1,, fc* ", "conv1,fc*", ""},
		{"fp32-layers", "", "", ""},
		{"noise-seed", "0", "0", ""},
		{"noise-seed", "18446744073709551616", "", `--noise-seed "18446744073709551616" must be a non-negative integer`},
		{"stats-every", "-1", "-1", ""}, // a range, checked by Validate
		{"tile-accumulation", "ordered", "ordered", ""},
		{"tile-accumulation", "", "gemm", ""},
		{"tile-accumulation", "tree", "", `--tile-accumulation "tree": use gemm or ordered`},
		{"noise-sigma", "1e-3", "0.001", ""},
		{"noise-sigma", "-Inf", "", "invalid --noise-sigma -Inf: must be a finite number"},
		{"noise-sigma", "two", "", `invalid --noise-sigma "two": not a number`},
		{"noise-roles", "dX, forward", "forward,dX", ""},
		{"noise-roles", "none", "none", ""},
		{"noise-roles", "", "none", ""},
		{"noise-roles", "dY", "", `--noise-roles: unknown GEMM role "dY" (valid: forward, dX, dW), or none`},
	} {
		f := fs.Lookup(tc.name)
		require.NotNil(t, f, tc.name)
		err := f.Value.Set(tc.text)
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err)
			continue
		}
		require.NoError(t, err, "%s %q", tc.name, tc.text)
		require.Equal(t, tc.canonical, f.Value.String(), "%s %q", tc.name, tc.text)
		require.NoError(t, f.Value.Set(f.Value.String()))
		require.Equal(t, tc.canonical, f.Value.String(), "%s: the canonical text is a fixed point", tc.name)
	}
	require.EqualError(t, s.Validate(), "--stats-every -1 must be 0 (off) or positive")
}
