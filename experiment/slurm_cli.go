package experiment

// Slurm's client commands, and the parsers of what they print.

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"time"
)

// formatArrayList writes sorted, distinct indices as sbatch's --array
// value: runs of consecutive indices as ranges ("0-3,5,7-9"), then "%K"
// when at most K tasks may run at once.
func formatArrayList(indices []int, maxParallel int) string {
	var b strings.Builder
	for i := 0; i < len(indices); {
		j := i
		for j+1 < len(indices) && indices[j+1] == indices[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(indices[i]))
		if j > i {
			b.WriteString("-" + strconv.Itoa(indices[j]))
		}
		i = j + 1
	}
	if maxParallel > 0 {
		b.WriteString("%" + strconv.Itoa(maxParallel))
	}
	return b.String()
}

// maxArrayIndex bounds the indices parseArrayList accepts; Slurm's own
// MaxArraySize is at most 4,000,001.
const maxArrayIndex = 4_000_000

// parseArrayList reads an array index list as sbatch and squeue write it
// ("0-3,5,7-9:2%4"), returning the indices in order and the %K limit (0
// when there is none).
func parseArrayList(s string) ([]int, int, error) {
	list, limit, hasLimit := strings.Cut(s, "%")
	k := 0
	if hasLimit {
		v, err := strconv.Atoi(limit)
		if err != nil || v < 1 {
			return nil, 0, fmt.Errorf("array list %q: bad task limit %q", s, limit)
		}
		k = v
	}
	var out []int
	for _, part := range strings.Split(list, ",") {
		rng, stepText, hasStep := strings.Cut(part, ":")
		lo, hi, isRange := strings.Cut(rng, "-")
		a, err := parseIndex(lo)
		if err != nil {
			return nil, 0, fmt.Errorf("array list %q: %v", s, err)
		}
		b := a
		if isRange {
			if b, err = parseIndex(hi); err != nil {
				return nil, 0, fmt.Errorf("array list %q: %v", s, err)
			}
			if b < a {
				return nil, 0, fmt.Errorf("array list %q: range %s runs backwards", s, rng)
			}
		}
		step := 1
		if hasStep {
			if step, err = strconv.Atoi(stepText); err != nil || step < 1 || !isRange {
				return nil, 0, fmt.Errorf("array list %q: bad step in %q", s, part)
			}
		}
		if (b-a)/step+1+len(out) > maxArrayIndex+1 {
			return nil, 0, fmt.Errorf("array list %q has more than %d indices", s, maxArrayIndex+1)
		}
		for v := a; v <= b; v += step {
			out = append(out, v)
		}
	}
	return out, k, nil
}

func parseIndex(s string) (int, error) {
	if s == "" || len(s) > 7 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("bad array index %q", s)
	}
	v, _ := strconv.Atoi(s)
	if v > maxArrayIndex {
		return 0, fmt.Errorf("array index %d is above %d", v, maxArrayIndex)
	}
	return v, nil
}

// parseSbatchID reads the output of sbatch --parsable: "JOBID" or
// "JOBID;CLUSTER".
func parseSbatchID(out string) (string, error) {
	line := strings.TrimSpace(out)
	if i := strings.LastIndexByte(line, '\n'); i >= 0 {
		line = strings.TrimSpace(line[i+1:]) // warnings come first
	}
	id, _, _ := strings.Cut(line, ";")
	if id == "" || len(id) > 20 || strings.TrimLeft(id, "0123456789") != "" {
		return "", fmt.Errorf("sbatch printed %q where a job id was expected", strings.TrimSpace(out))
	}
	return id, nil
}

// queueState is what squeue says about one array task or job: PENDING,
// RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, ...
type queueState string

// active reports whether the task has yet to finish.
func (s queueState) active() bool {
	switch s {
	case "PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD":
		return true
	}
	return false
}

// queueKey names an array task ("12", 3) or a plain job ("13", -1).
type queueKey struct {
	Job  string
	Task int
}

// parseSqueue reads `squeue -h -r -t all -o %i|%T` output: one line per
// job or array task ("12_3|RUNNING", "13|PENDING"), or per group of array
// tasks not yet started ("12_[4-7%2]|PENDING"). Only jobs for which keep
// returns true are kept (nil keeps all), so other users' huge arrays are
// never expanded.
func parseSqueue(out string, keep func(job string) bool) (map[queueKey]queueState, error) {
	states := map[queueKey]queueState{}
	for n, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		id, state, ok := strings.Cut(line, "|")
		if !ok || state == "" || strings.ContainsAny(state, " |") {
			return nil, fmt.Errorf("squeue line %d is not JOBID|STATE: %q", n+1, line)
		}
		job, task, isTask := strings.Cut(id, "_")
		if job == "" || strings.TrimLeft(job, "0123456789") != "" {
			return nil, fmt.Errorf("squeue line %d: bad job id %q", n+1, id)
		}
		if keep != nil && !keep(job) {
			continue
		}
		if !isTask {
			states[queueKey{job, -1}] = queueState(state)
			continue
		}
		list := task
		if strings.HasPrefix(task, "[") && strings.HasSuffix(task, "]") {
			list = task[1 : len(task)-1]
		}
		indices, _, err := parseArrayList(list)
		if err != nil {
			return nil, fmt.Errorf("squeue line %d: %v", n+1, err)
		}
		for _, i := range indices {
			states[queueKey{job, i}] = queueState(state)
		}
	}
	return states, nil
}

// slurmCLI runs Slurm's client commands.
type slurmCLI struct{}

// timeout bounds every Slurm command: a controller that does not answer
// within it counts as unreachable.
const slurmTimeout = 60 * time.Second

func (slurmCLI) run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), slurmTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(stdout.String())
		}
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("%s: %s", name, msg)
	}
	return stdout.String(), nil
}

// check fails with one line when the Slurm commands are missing or the
// controller does not answer.
func (c slurmCLI) check() error {
	for _, name := range []string{"sbatch", "squeue", "scancel", "scontrol"} {
		if _, err := exec.LookPath(name); err != nil {
			return fmt.Errorf("--executor slurm needs Slurm's commands, and %s is not on PATH (install slurm-client, or load your cluster's Slurm module)", name)
		}
	}
	out, err := c.run("scontrol", "ping")
	if err != nil || !strings.Contains(out, " is UP") {
		why := strings.TrimSpace(out)
		if err != nil {
			why = err.Error()
		}
		return fmt.Errorf("the Slurm controller does not answer (%s); nothing was submitted", firstLine(why))
	}
	return nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// queue returns the states of the given jobs' tasks. Jobs Slurm has
// forgotten are absent.
func (c slurmCLI) queue(jobs []string) (map[queueKey]queueState, error) {
	args := []string{"-h", "-r", "-t", "all", "-o", "%i|%T"}
	if u, err := user.Current(); err == nil {
		args = append(args, "-u", u.Username)
	}
	out, err := c.run("squeue", args...)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, j := range jobs {
		want[j] = true
	}
	return parseSqueue(out, func(job string) bool { return want[job] })
}
