package main

import (
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzTrainFlags parses arbitrary `mirage train` command lines (arguments
// separated by NUL bytes): a command line is refused with an error or
// gives a configuration that validates and whose backend options the
// backend accepts or refuses with an error; nothing panics.
func FuzzTrainFlags(f *testing.F) {
	for _, args := range [][]string{
		{"--lr", "inf"},
		{"--batch-size", "100000000", "--train-limit", "500"},
		{"--model", "bert", "--max-len", "100000000"},
		{"--backend", "rns", "--noise-sigma", "NaN", "--rrns-redundant", "99"},
		{"--model", "mlp", "--dataset", "imdb"},
		{"--fp32-layers", "nosuchlayer", "--backend", "bfp", "--tile", "-3"},
		{"--momentum", "1", "--warmup", "-0", "--label-smoothing", "0x1p-3"},
		{"-epochs=2", "--augment=maybe", "extra"},
	} {
		f.Add(strings.Join(args, "\x00"))
	}
	f.Fuzz(func(t *testing.T, line string) {
		args := strings.Split(line, "\x00")
		cfg, err := parseTrainArgs(testReg(), args, io.Discard, io.Discard)
		if err != nil {
			require.NotContains(t, err.Error(), "\n", "errors are one line")
			return
		}
		require.NoError(t, cfg.Validate(testReg()))
		_, _ = testReg().Backends.New(cfg.Backend, cfg.BackendOptions)
	})
}
