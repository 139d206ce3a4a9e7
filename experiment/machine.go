package experiment

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/klauspost/cpuid/v2"
)

// Machine describes the computer a document was generated on.
type Machine struct {
	// CPUModel is the processor's brand string, "" when unknown.
	CPUModel string
	// SIMD lists the vector extensions mirage's GEMM kernels can use
	// (AVX2, FMA3, AVX512F), "" when there are none or they are unknown:
	// they decide which kernel runs, and so the speed.
	SIMD       string
	NumCPU     int
	GOMAXPROCS int
	OS, Arch   string
	GoVersion  string
}

// ThisMachine describes the computer the program runs on. The processor
// comes from the CPUID instruction (github.com/klauspost/cpuid), which
// works on every operating system, rather than from /proc/cpuinfo.
func ThisMachine() Machine {
	return Machine{
		CPUModel: strings.Join(strings.Fields(cpuid.CPU.BrandName), " "), SIMD: simdFeatures(cpuid.CPU),
		NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		OS: runtime.GOOS, Arch: runtime.GOARCH, GoVersion: runtime.Version(),
	}
}

// simdFeatures names the vector extensions of c that the kernels use.
func simdFeatures(c cpuid.CPUInfo) string {
	var names []string
	for _, f := range []cpuid.FeatureID{cpuid.AVX2, cpuid.FMA3, cpuid.AVX512F} {
		if c.Supports(f) {
			names = append(names, f.String())
		}
	}
	return strings.Join(names, " ")
}

func (m Machine) String() string {
	cpu := m.CPUModel
	if cpu == "" {
		cpu = "CPU model unknown"
	}
	if m.SIMD != "" {
		cpu += " (" + m.SIMD + ")"
	}
	return fmt.Sprintf("%s; %d logical CPUs (runtime.NumCPU), GOMAXPROCS %d; %s/%s; %s",
		cpu, m.NumCPU, m.GOMAXPROCS, m.OS, m.Arch, m.GoVersion)
}
