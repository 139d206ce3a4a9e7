package limits

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// MemoryEnv overrides the memory budget read from the system: a size such
// as 2GiB, 500MB or a plain number of bytes. Tests use it to exercise the
// limits without allocating, and users on shared machines to keep mirage
// below their share.
const MemoryEnv = "MIRAGE_MEMORY_LIMIT"

// Memory is the number of bytes a run may use and where that figure came
// from. The zero value (Bytes 0) means unknown: Check then refuses only
// sizes that overflow an int64.
type Memory struct {
	Bytes  int64
	Source string // e.g. "MemAvailable in /proc/meminfo"
}

// ReadMemory returns the memory budget: $MIRAGE_MEMORY_LIMIT when set,
// else MemAvailable from /proc/meminfo (the memory the kernel can hand out
// without swapping), else unknown.
func ReadMemory() (Memory, error) {
	if v := os.Getenv(MemoryEnv); v != "" {
		n, err := ParseBytes(v)
		if err != nil {
			return Memory{}, fmt.Errorf("$%s: %w", MemoryEnv, err)
		}
		return Memory{Bytes: n, Source: "$" + MemoryEnv}, nil
	}
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return Memory{}, nil // not Linux: no budget known
	}
	defer f.Close()
	n, err := parseMeminfo(f)
	if err != nil {
		return Memory{}, nil
	}
	return Memory{Bytes: n, Source: "MemAvailable in /proc/meminfo"}, nil
}

// parseMeminfo reads MemAvailable (in kB) from /proc/meminfo's format.
func parseMeminfo(r io.Reader) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != "MemAvailable" {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			break
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil || kb < 0 || kb > math.MaxInt64/1024 {
			return 0, fmt.Errorf("bad MemAvailable line %q", sc.Text())
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("no MemAvailable in /proc/meminfo")
}

// ParseBytes reads a size: a number of bytes, optionally followed by a unit
// (kB, MB, GB, TB powers of 1000; KiB, MiB, GiB, TiB powers of 1024).
func ParseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := len(s)
	for i > 0 && (s[i-1] < '0' || s[i-1] > '9') && s[i-1] != '.' {
		i--
	}
	num, unit := s[:i], strings.TrimSpace(s[i:])
	scale := map[string]float64{"": 1, "B": 1,
		"kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
		"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}[unit]
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || scale == 0 || !(v > 0) || v*scale > math.MaxInt64/2 {
		return 0, fmt.Errorf("invalid size %q: use a positive number of bytes with an optional unit (kB, MB, GB, KiB, MiB, GiB)", s)
	}
	return int64(v * scale), nil
}

// FormatBytes prints n bytes with a decimal unit, e.g. "313.6 GB".
func FormatBytes(n int64) string {
	f := float64(n)
	for _, u := range []string{"B", "kB", "MB", "GB", "TB", "PB"} {
		if f < 1000 || u == "PB" {
			if u == "B" {
				return fmt.Sprintf("%d B", n)
			}
			return fmt.Sprintf("%.1f %s", f, u)
		}
		f /= 1000
	}
	return ""
}

// Check refuses a setting whose estimated need (bytes) exceeds the budget.
// what names the setting and its value ("--batch-size 100000000"); fix
// says what to do ("lower --batch-size"). A negative need stands for an
// estimate that overflowed, which no machine can satisfy.
func (m Memory) Check(what string, need int64, fix string) error {
	if need >= 0 && (m.Bytes <= 0 || need <= m.Bytes) {
		return nil
	}
	needText := FormatBytes(need)
	if need < 0 {
		needText = "more than 9.2 EB"
	}
	if m.Bytes <= 0 {
		return fmt.Errorf("%s needs about %s of memory, more than any machine has; %s", what, needText, fix)
	}
	return fmt.Errorf("%s needs about %s of memory but %s are available (%s); %s", what, needText, FormatBytes(m.Bytes), m.Source, fix)
}

// Size multiplies element counts and a byte width, returning -1 when the
// product overflows an int64 (or any factor is negative), so that an
// absurd setting produces an absurd estimate instead of a wrapped one.
func Size(factors ...int64) int64 {
	p := int64(1)
	for _, f := range factors {
		if f < 0 {
			return -1
		}
		if f != 0 && p > math.MaxInt64/f {
			return -1
		}
		p *= f
	}
	return p
}

// Add sums sizes from Size, keeping -1 (overflow) sticky.
func Add(sizes ...int64) int64 {
	s := int64(0)
	for _, v := range sizes {
		if v < 0 || s > math.MaxInt64-v {
			return -1
		}
		s += v
	}
	return s
}
