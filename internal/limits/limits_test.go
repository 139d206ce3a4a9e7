package limits

import (
	"flag"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFloatCheck(t *testing.T) {
	lr := Float{Min: 0, OpenMin: true, Max: 10}
	for _, tc := range []struct {
		v    float64
		want string // "" = accepted
	}{
		{0.1, ""}, {10, ""},
		{0, "invalid --lr 0: must be in (0, 10]"},
		{-1, "must be in (0, 10]"},
		{10.5, "must be in (0, 10]"},
		{math.NaN(), "invalid --lr NaN: must be a finite number in (0, 10]"},
		{math.Inf(1), "invalid --lr +Inf: must be a finite number"},
		{math.Inf(-1), "invalid --lr -Inf: must be a finite number"},
	} {
		err := lr.Check("--lr", tc.v)
		if tc.want == "" {
			require.NoError(t, err, "%v", tc.v)
			continue
		}
		require.ErrorContains(t, err, tc.want, "%v", tc.v)
	}
	// No upper limit: still finite.
	require.NoError(t, Float{}.Check("x", 1e308))
	require.ErrorContains(t, Float{}.Check("x", math.Inf(1)), "finite number ≥ 0")
	require.ErrorContains(t, Float{Min: 0, Max: 1, OpenMax: true, Hint: "h"}.Check("m", 1), "must be in [0, 1) (h)")
}

func TestFloatParse(t *testing.T) {
	r := Float{Min: 0, Max: 1e6}
	for text, want := range map[string]string{
		"0.5": "", " 2 ": "", "0x1p-2": "",
		"NaN": "finite", "nan": "finite", "inf": "finite", "-Infinity": "finite",
		"1e999": "out of the range of a float64", "abc": `"abc": not a number`, "": "not a number",
	} {
		_, err := r.Parse("--noise-sigma", text)
		if want == "" {
			require.NoError(t, err, text)
		} else {
			require.ErrorContains(t, err, want, text)
		}
	}
}

func TestIntCheckAndParse(t *testing.T) {
	r := Int{Min: 1, Max: 100, Hint: "h"}
	require.NoError(t, r.Check("--epochs", 1))
	require.ErrorContains(t, r.Check("--epochs", 0), "invalid --epochs 0: must be in [1, 100] (h)")
	require.ErrorContains(t, Int{Min: 0, Max: math.MaxInt}.Check("n", -1), "must be ≥ 0")
	_, err := r.Parse("--epochs", "1e3")
	require.ErrorContains(t, err, `"1e3": not an integer`)
	_, err = r.Parse("--epochs", "99999999999999999999999")
	require.ErrorContains(t, err, "not an integer")
}

func TestFlagValues(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	n := &IntFlag{Name: "--n", Range: Int{Min: 0, Max: 5}}
	x := &FloatFlag{Name: "--x", Range: Float{Min: 0, Max: 1}}
	fs.Var(n, "n", "")
	fs.Var(x, "x", "")
	require.NoError(t, fs.Parse([]string{"-n", "3", "-x", "0.25"}))
	require.Equal(t, 3, n.Value)
	require.Equal(t, 0.25, x.Value)
	require.ErrorContains(t, fs.Parse([]string{"-x", "NaN"}), "invalid --x NaN")
	require.ErrorContains(t, fs.Parse([]string{"-n", "6"}), "invalid --n 6")

	seed := &Uint64Flag{Name: "--seed", Value: 1}
	fs.Var(seed, "seed", "")
	require.NoError(t, fs.Parse([]string{"-seed", "18446744073709551615"}))
	require.Equal(t, uint64(math.MaxUint64), seed.Value)
	for _, bad := range []string{"-1", "18446744073709551616", "1.5", "NaN"} {
		require.ErrorContains(t, fs.Parse([]string{"-seed", bad}), `invalid --seed "`+bad+`": must be an integer in [0, 18446744073709551615]`)
	}

	d := &DurationFlag{Name: "--poll", Range: Duration{Min: 0, OpenMin: true, Max: time.Hour}, Value: time.Second}
	fs.Var(d, "poll", "")
	require.NoError(t, fs.Parse([]string{"-poll", "1m30s"}))
	require.Equal(t, 90*time.Second, d.Value)
	for text, want := range map[string]string{
		"0s": "invalid --poll 0s: must be > 0s and ≤ 1h0m0s", "-5s": "invalid --poll -5s", "2h": "invalid --poll 2h0m0s",
		"soon": `invalid --poll "soon": not a duration`, "9999999999h": "not a duration",
	} {
		require.ErrorContains(t, fs.Parse([]string{"-poll", text}), want, text)
	}
}

func TestParseBytes(t *testing.T) {
	for text, want := range map[string]int64{"1024": 1024, "2GiB": 2 << 30, "1.5 GB": 1.5e9, "500MB": 500e6, "3 KiB": 3072} {
		got, err := ParseBytes(text)
		require.NoError(t, err, text)
		require.Equal(t, want, got, text)
	}
	for _, bad := range []string{"", "-1", "0", "1XB", "GB", "NaN", "1e30"} {
		_, err := ParseBytes(bad)
		require.Error(t, err, bad)
	}
}

func TestParseMeminfo(t *testing.T) {
	n, err := parseMeminfo(strings.NewReader("MemTotal:       24000000 kB\nMemFree:  1 kB\nMemAvailable:   20000000 kB\n"))
	require.NoError(t, err)
	require.Equal(t, int64(20000000*1024), n)
	_, err = parseMeminfo(strings.NewReader("MemTotal: 5 kB\n"))
	require.Error(t, err)
	_, err = parseMeminfo(strings.NewReader("MemAvailable: x kB\n"))
	require.Error(t, err)
}

func TestReadMemoryHonoursTheEnvironment(t *testing.T) {
	t.Setenv(MemoryEnv, "3GiB")
	m, err := ReadMemory()
	require.NoError(t, err)
	require.Equal(t, Memory{Bytes: 3 << 30, Source: "$" + MemoryEnv}, m)
	t.Setenv(MemoryEnv, "lots")
	_, err = ReadMemory()
	require.ErrorContains(t, err, MemoryEnv)
}

func TestMemoryCheck(t *testing.T) {
	m := Memory{Bytes: 1e9, Source: "test"}
	require.NoError(t, m.Check("--batch-size 10", 1e9, "lower it"))
	require.EqualError(t, m.Check("--batch-size 100000000", 313_600_000_000, "lower --batch-size"),
		"--batch-size 100000000 needs about 313.6 GB of memory but 1.0 GB are available (test); lower --batch-size")
	require.ErrorContains(t, m.Check("x", -1, "f"), "more than 9.2 EB")
	// Unknown budget: only impossible sizes are refused.
	require.NoError(t, Memory{}.Check("x", 1<<62, "f"))
	require.ErrorContains(t, Memory{}.Check("x", -1, "f"), "more than any machine has")
}

func TestSizeAndAddSaturate(t *testing.T) {
	require.Equal(t, int64(24), Size(2, 3, 4))
	require.Equal(t, int64(0), Size(0, math.MaxInt64, 5))
	require.Equal(t, int64(-1), Size(1<<32, 1<<32))
	require.Equal(t, int64(-1), Size(-1, 2))
	require.Equal(t, int64(5), Add(2, 3))
	require.Equal(t, int64(-1), Add(math.MaxInt64, 1))
	require.Equal(t, int64(-1), Add(1, -1))
}

func TestFormatBytes(t *testing.T) {
	require.Equal(t, "999 B", FormatBytes(999))
	require.Equal(t, "1.5 kB", FormatBytes(1500))
	require.Equal(t, "160.0 GB", FormatBytes(160e9))
	require.Equal(t, "9223.4 PB", FormatBytes(math.MaxInt64))
}
