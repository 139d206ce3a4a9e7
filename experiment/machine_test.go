package experiment

import (
	"runtime"
	"testing"

	"github.com/klauspost/cpuid/v2"
	"github.com/stretchr/testify/require"
)

func TestMachineString(t *testing.T) {
	tests := []struct {
		m    Machine
		want string
	}{
		{Machine{CPUModel: "Test CPU 3000", SIMD: "AVX2 FMA3", NumCPU: 12, GOMAXPROCS: 6, OS: "linux", Arch: "amd64", GoVersion: "go1.99"},
			"Test CPU 3000 (AVX2 FMA3); 12 logical CPUs (runtime.NumCPU), GOMAXPROCS 6; linux/amd64; go1.99"},
		{Machine{NumCPU: 1, GOMAXPROCS: 1, OS: "darwin", Arch: "arm64", GoVersion: "go1.99"},
			"CPU model unknown; 1 logical CPUs (runtime.NumCPU), GOMAXPROCS 1; darwin/arm64; go1.99"},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, tc.m.String())
	}
}

func TestThisMachine(t *testing.T) {
	m := ThisMachine()
	require.Equal(t, runtime.NumCPU(), m.NumCPU)
	require.Equal(t, runtime.GOOS+"/"+runtime.GOARCH, m.OS+"/"+m.Arch)
	require.NotContains(t, m.CPUModel, "  ", "the brand string's padding is squeezed")
	t.Logf("this machine: %s", m)
}

func TestSIMDFeatures(t *testing.T) {
	var c cpuid.CPUInfo
	require.Equal(t, "", simdFeatures(c))
	c.Enable(cpuid.AVX2, cpuid.AVX512F)
	require.Equal(t, "AVX2 AVX512F", simdFeatures(c))
	c.Enable(cpuid.FMA3)
	require.Equal(t, "AVX2 FMA3 AVX512F", simdFeatures(c))
}
