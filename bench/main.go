// Command bench runs Arkiv's benchmark scenarios against the dev stack (make bench), prints a
// table and writes bench/results.json. Figures are medians or percentiles measured in one run;
// ratios compare two variants measured side by side.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"runtime/pprof"
	"text/tabwriter"
	"time"
)

// Result is one measured figure of a scenario.
type Result struct {
	Scenario string  `json:"scenario"`
	Metric   string  `json:"metric"`
	Value    float64 `json:"value"`
	Unit     string  `json:"unit"`
	Target   string  `json:"target,omitempty"`
	Met      *bool   `json:"met,omitempty"`
}

// Scenario is one benchmark; Run returns its figures.
type Scenario struct {
	Name  string
	Issue int
	Run   func(ctx context.Context, env *Env) ([]Result, error)
}

// Met builds the Met field of a Result.
func Met(ok bool) *bool { return &ok }

// allScenarios lists every scenario, in the order they run.
func allScenarios() []Scenario {
	var s []Scenario
	s = append(s, esdbScenarios()...)
	s = append(s, psubScenarios()...)
	s = append(s, keyringScenarios()...)
	s = append(s, projectionsScenarios()...)
	s = append(s, authScenarios()...)
	s = append(s, commandsScenarios()...)
	s = append(s, readmodelsScenarios()...)
	s = append(s, ragScenarios()...)
	s = append(s, graphqlScenarios()...)
	s = append(s, ledgerScenarios()...)
	s = append(s, backupScenarios()...)
	s = append(s, auditExportScenarios()...)
	s = append(s, historyScenarios()...)
	s = append(s, evidenceScenarios()...)
	s = append(s, consoleScenarios()...)
	s = append(s, replicationScenarios()...)
	s = append(s, auditStreamScenarios()...)
	s = append(s, portabilityScenarios()...)
	return s
}

func main() {
	run := flag.String("run", "", "regular expression selecting scenarios by name")
	quick := flag.Bool("quick", false, "smaller sizes, for a smoke run")
	out := flag.String("out", "bench/results.json", "where to write the results")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	memprofile := flag.String("memprofile", "", "write an allocation profile of the whole run to this file")
	flag.Parse()
	sel, err := regexp.Compile(*run)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: -run:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	env, err := newEnv(*quick)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: -cpuprofile:", err)
			os.Exit(2)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "bench: -cpuprofile:", err)
			os.Exit(2)
		}
		defer pprof.StopCPUProfile()
	}
	if *memprofile != "" {
		defer func() {
			f, err := os.Create(*memprofile)
			if err == nil {
				err = pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "bench: -memprofile:", err)
			}
		}()
	}
	var results []Result
	failed := false
	for _, s := range allScenarios() {
		if !sel.MatchString(s.Name) {
			continue
		}
		fmt.Fprintf(os.Stderr, "bench: %s …\n", s.Name)
		start := time.Now()
		rs, err := s.Run(ctx, env)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: %s failed: %v\n", s.Name, err)
			failed = true
			continue
		}
		for i := range rs {
			rs[i].Scenario = s.Name
		}
		results = append(results, rs...)
		fmt.Fprintf(os.Stderr, "bench: %s done in %s\n", s.Name, time.Since(start).Round(time.Millisecond))
	}
	printTable(results)
	doc := map[string]any{
		"generated": time.Now().UTC().Format(time.RFC3339),
		"quick":     *quick,
		"results":   results,
	}
	b, _ := json.MarshalIndent(doc, "", "  ")
	if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "bench: write results:", err)
		os.Exit(1)
	}
	if failed {
		os.Exit(1)
	}
}

func printTable(rs []Result) {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "SCENARIO\tMETRIC\tVALUE\tUNIT\tTARGET\tMET")
	for _, r := range rs {
		met := ""
		if r.Met != nil {
			met = "no"
			if *r.Met {
				met = "yes"
			}
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Scenario, r.Metric, fmtValue(r.Value), r.Unit, r.Target, met)
	}
	w.Flush()
}

func fmtValue(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}
