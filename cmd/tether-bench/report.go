package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// marker separates BENCHMARKS.md's written analysis from the section
// `make bench` rewrites with the latest run.
const marker = "<!-- make bench writes below this line -->"

// goBench is one line of `go test -bench` output.
type goBench struct {
	family, sub string
	nsPerOp     float64
	metrics     map[string]float64 // e.g. p50-ns, p99-ns
}

var benchLine = regexp.MustCompile(`^Benchmark(\S+?)-\d+\s+\d+\s+(.*)$`)

func parseGoBench(data []byte) []goBench {
	var out []goBench
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		name := m[1]
		family, sub := name, ""
		if i := strings.LastIndex(name, "/"); i >= 0 {
			family, sub = name[:i], name[i+1:]
		}
		b := goBench{family: family, sub: sub, metrics: map[string]float64{}}
		fields := strings.Fields(m[2])
		for i := 0; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				continue
			}
			if fields[i+1] == "ns/op" {
				b.nsPerOp = v
			} else {
				b.metrics[fields[i+1]] = v
			}
		}
		out = append(out, b)
	}
	return out
}

// isBaseline reports whether a sub-benchmark is its family's same-run
// baseline.
func isBaseline(sub string) bool {
	s := strings.ToLower(sub)
	return strings.Contains(s, "direct") || strings.Contains(s, "bare") || strings.Contains(s, "baseline")
}

// goTable renders Go benchmark results with each figure as a ratio to its
// family's baseline.
func goTable(benches []goBench) string {
	var b strings.Builder
	b.WriteString("| benchmark | ns/op | ratio | p50 | p50 ratio | p99 |\n|---|---:|---:|---:|---:|---:|\n")
	base := map[string]goBench{}
	for _, x := range benches {
		if isBaseline(x.sub) {
			base[x.family] = x
		}
	}
	for _, x := range benches {
		ratio, p50ratio := "—", "—"
		if bl, ok := base[x.family]; ok && bl.nsPerOp > 0 {
			ratio = fmt.Sprintf("%.2f×", x.nsPerOp/bl.nsPerOp)
			if bl.metrics["p50-ns"] > 0 && x.metrics["p50-ns"] > 0 {
				p50ratio = fmt.Sprintf("%.2f×", x.metrics["p50-ns"]/bl.metrics["p50-ns"])
			}
		}
		fmt.Fprintf(&b, "| %s/%s | %s | %s | %s | %s | %s |\n", x.family, x.sub, human(x.nsPerOp), ratio,
			human(x.metrics["p50-ns"]), p50ratio, human(x.metrics["p99-ns"]))
	}
	return b.String()
}

func human(ns float64) string {
	switch {
	case ns == 0:
		return "—"
	case ns >= 1e9:
		return fmt.Sprintf("%.2f s", ns/1e9)
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	}
	return fmt.Sprintf("%.0f ns", ns)
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// report rewrites the part of BENCHMARKS.md below the marker with the
// latest run: the machine, the command, the API figures as printed (with
// their ratios), the end-to-end agent path as printed (when e2ePath is
// given) and the Go benchmarks with ratios to their baselines.
func report(apiPath, goPath, e2ePath, pgPath, outPath string) error {
	api, err := os.ReadFile(apiPath)
	if err != nil {
		return err
	}
	goOut, err := os.ReadFile(goPath)
	if err != nil {
		return err
	}
	var e2e []byte
	if e2ePath != "" {
		if e2e, err = os.ReadFile(e2ePath); err != nil {
			return err
		}
	}
	var pg []byte
	if pgPath != "" {
		if pg, err = os.ReadFile(pgPath); err != nil {
			return err
		}
	}
	doc, err := os.ReadFile(outPath)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	head := string(doc)
	if i := strings.Index(head, marker); i >= 0 {
		head = head[:i]
	} else if head != "" {
		head += "\n"
	}
	var b strings.Builder
	b.WriteString(head)
	b.WriteString(marker + "\n\n## Latest `make bench` run\n\n")
	fmt.Fprintf(&b, "- when: %s\n- machine: %s/%s, %d CPUs (%s)\n- Go: %s\n- command: `make bench`\n\n",
		time.Now().UTC().Format(time.RFC3339), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpuModel(), runtime.Version())
	b.WriteString("API and probe figures (`cmd/tether-bench`; ratios to the bare echo baseline and to direct go-sdk):\n\n```\n")
	b.Write(bytes.TrimSpace(api))
	b.WriteString("\n```\n\n")
	if len(e2e) > 0 {
		b.WriteString("The agent path end to end (`tether-bench e2e`: the real binary, the client, tether and the upstreams " +
			"as separate processes; ratios to the direct calls of the same run; tether's CPU from /proc over the measured window):\n\n```\n")
		b.Write(bytes.TrimSpace(e2e))
		b.WriteString("\n```\n\n")
	}
	if len(pg) > 0 {
		b.WriteString("PostgreSQL (`tether-bench postgres`: tether on PostgreSQL vs on SQLite, and one replica vs three " +
			"behind a round-robin proxy, all on this machine; same-run ratios):\n\n```\n")
		b.Write(bytes.TrimSpace(pg))
		b.WriteString("\n```\n\n")
	}
	b.WriteString("Go benchmarks (in-process: `gateway`'s Call and ToolsList run the handler, registry and pool in the " +
		"test process, without the binary's authentication, logging and HTTP server; ratios to each family's " +
		"`direct`/`bare`/`baseline` run):\n\n")
	b.WriteString(goTable(parseGoBench(goOut)))
	return os.WriteFile(outPath, []byte(b.String()), 0o644)
}
