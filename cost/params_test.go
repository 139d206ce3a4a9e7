package cost

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// edit returns the mirage-isca24 preset's text with old replaced by new.
func edit(t *testing.T, preset, old, new string) []byte {
	t.Helper()
	data, err := PresetSource(preset)
	require.NoError(t, err)
	s := string(data)
	require.Contains(t, s, old)
	return []byte(strings.Replace(s, old, new, 1))
}

// TestBadParamFiles: every bad file is refused with one line that names
// the file and the field.
func TestBadParamFiles(t *testing.T) {
	cases := []struct {
		name, preset, old, new, want string
	}{
		{"unknown key", "mirage-isca24", "  adc_bits: 5", "  adc_bits: 5\n  adc_gain: 3", "adc_gain"},
		{"unknown section", "systolic-bf16-128x128", "host:", "cache:\n  size: 3\nhost:", "cache"},
		{"missing field", "mirage-isca24", "  tia_pj: 0.075", "", "converters.tia_pj: missing"},
		{"missing section", "systolic-int8-256x256", "memory:", "memory_:", "memory_"},
		{"missing systolic", "systolic-int8-256x256", "systolic:\n", "unused:\n", "unused"},
		{"null field", "mirage-isca24", "  tia_pj: 0.075", "  tia_pj: ~", "converters.tia_pj: missing"},
		{"negative", "mirage-isca24", "adc_pj: 1.15", "adc_pj: -1.15", "converters.adc_pj"},
		{"NaN", "mirage-isca24", "adc_pj: 1.15", "adc_pj: .nan", "converters.adc_pj"},
		{"Inf", "systolic-bf16-128x128", "mult_pj: 1.1", "mult_pj: .inf", "systolic.mult_pj"},
		{"zero clock", "systolic-bf16-128x128", "clock_ghz: 1.05", "clock_ghz: 0", "systolic.clock_ghz: must be positive"},
		{"negative int", "mirage-isca24", "rows: 64", "rows: -64", "photonic.rows"},
		{"not a number", "mirage-isca24", "rows: 64", "rows: many", "rows"},
		{"moduli too small", "mirage-isca24", "tile: 64", "tile: 128", "do not fit mantissa_bits 5 with tile 128"},
		{"moduli not coprime", "mirage-isca24", "moduli: [31, 32, 33]", "moduli: [30, 32, 33]", "not coprime"},
		{"redundant not coprime", "mirage-isca24", "redundant_moduli: []", "redundant_moduli: [62]", "not coprime"},
		{"wrong kind", "mirage-isca24", "kind: mirage", "kind: gpu", "field kind"},
		{"section of the other kind", "systolic-bf16-128x128", "host:", "format:\n  moduli: [3]\n  mantissa_bits: 2\n  tile: 1\nhost:", "field format: not used by kind systolic"},
		{"wall plug above 1", "mirage-isca24", "laser_wall_plug: 0.2", "laser_wall_plug: 2", "laser_wall_plug"},
		{"duplicate key", "mirage-isca24", "  tia_pj: 0.075", "  tia_pj: 0.075\n  tia_pj: 1", "tia_pj"},
	}
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			file := filepath.Join(dir, "p.yaml")
			require.NoError(t, os.WriteFile(file, edit(t, c.preset, c.old, c.new), 0o644))
			_, err := Load(file)
			require.Error(t, err)
			msg := err.Error()
			require.NotContains(t, msg, "\n")
			require.True(t, strings.HasPrefix(msg, file+": "), msg)
			require.Contains(t, msg, c.want)
		})
	}
	for _, bad := range []string{"", "[1, 2]", "3", "name: x\nkind: mirage\n"} {
		_, err := Parse([]byte(bad), "f.yaml")
		require.Error(t, err, "%q", bad)
		require.NotContains(t, err.Error(), "\n")
	}
	_, err := Load(filepath.Join(dir, "absent.yaml"))
	require.Error(t, err)
}

// FuzzParse: no input makes the parser panic, every error is one line
// naming the source, and what it accepts can be priced.
func FuzzParse(f *testing.F) {
	for _, name := range Presets() {
		data, err := PresetSource(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data, "fuzz.yaml")
		if err != nil {
			if strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), "fuzz.yaml: ") {
				t.Fatalf("error not one line naming the source: %q", err)
			}
			return
		}
		hw, err := New(p)
		if err != nil {
			t.Fatal(err)
		}
		c, err := hw.GEMM(Record{Layer: "l", M: 7, N: 9, K: 70, Count: 2}, nil)
		if err == nil && (c.Joules < 0 || c.Seconds < 0) {
			t.Fatalf("negative cost %+v", c)
		}
	})
}
