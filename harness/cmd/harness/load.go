package main

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgetrace/edgetrace/harness/load"
)

func init() {
	var cfg load.Config
	cmd := &cobra.Command{
		Use:   "load",
		Short: "drive a running tracker open-loop (vegeta) and print QPS and latency P50/P99/P999",
		Long: `load drives a running tracker at a fixed rate (--rate N, open loop: requests leave
on schedule whatever the server does) or flat out (--rate 0, --workers in flight), and
prints throughput and latency percentiles.

Scenarios: location (GET /epcs/{epc}/location for EPCs of the preloaded flows),
capture (POST /capture, --events-per-doc per document), event (POST /events).
A capture run with --seed S --events N preloads the flows that a location run with
the same --seed and --preload N looks up.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := load.Run(cmd.Context(), cfg)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			fmt.Println(res)
			if res.Success < 0.999 {
				return &exitError{code: 1, err: fmt.Errorf("%.2f%% of requests failed", (1-res.Success)*100)}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.BaseURL, "url", "http://127.0.0.1:8080", "tracker base URL")
	f.StringVar(&cfg.Scenario, "scenario", "location", "location, capture or event")
	f.IntVar(&cfg.Rate, "rate", 0, "requests per second; 0 = flat out")
	f.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long to run (capture/event: 0 with --events runs until sent)")
	f.IntVar(&cfg.Workers, "workers", 32, "requests in flight when flat out")
	f.IntVar(&cfg.Events, "events", 0, "capture/event: stop after this many events")
	f.IntVar(&cfg.EventsPerDoc, "events-per-doc", 100, "capture: events per document")
	f.Uint64Var(&cfg.Seed, "seed", 1, "flow generator seed")
	f.IntVar(&cfg.PreloadEvents, "preload", 1_000_000, "location: events of --seed's flows already stored")
	f.Uint64Var(&cfg.EPCSeed, "pick-seed", 1, "location: seed of the random EPC choice")
	f.IntVar(&cfg.FirstFlow, "first-flow", 0, "capture/event: number the flows as if this many came before, e.g. past the preload's (a flow has at least 10 events) so they add new items instead of moving its items; eventIDs follow --seed only, so use a seed of its own")
	f.IntVar(&cfg.ServerPID, "server-pid", 0, "the server's process ID, to print the CPU time per request it and this generator spent (on one machine they share the cores)")
	f.BoolVar(&cfg.NoEventIDs, "no-event-ids", false, "capture/event: send events without eventID, so the tracker assigns them (random keys, unlike the generator's sequential IDs)")

	var bin, baseBin, db string
	var runs int
	cold := &cobra.Command{
		Use:   "cold-start",
		Short: "median time from exec of `tracker serve` to the first /readyz 200, beside a bare net/http server's",
		Long: `cold-start starts the tracker --runs times and prints the median, minimum and
maximum time from exec to its first /readyz 200. With --baseline-bin (the
baseline-server binary: net/http and nothing else), it starts that in turn with
the tracker and prints its figures too, and what the tracker adds.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmds := [][]string{{bin, "serve", "--db", db}}
			if baseBin != "" {
				cmds = append(cmds, []string{baseBin})
			}
			ds, err := load.ColdStart(cmd.Context(), runs, cmds...)
			if err != nil {
				return err
			}
			fmt.Printf("cold-start db=%s runs=%d %s", db, runs, spread(ds[0]))
			if baseBin != "" {
				fmt.Printf("; bare net/http server %s; the tracker adds %s",
					spread(ds[1]), (load.Median(ds[0]) - load.Median(ds[1])).Round(10*time.Microsecond))
			}
			fmt.Println()
			return nil
		},
	}
	cold.Flags().StringVar(&bin, "bin", "tracker", "tracker binary")
	cold.Flags().StringVar(&baseBin, "baseline-bin", "", "baseline-server binary to start in turn with the tracker (optional)")
	cold.Flags().StringVar(&db, "db", "tracker.db", "database file")
	cold.Flags().IntVar(&runs, "runs", 21, "starts to measure")

	var n int
	var out string
	paths := &cobra.Command{
		Use:   "paths",
		Short: "write random /epcs/{epc}/location paths of --seed's preloaded flows, one a line (for wrk)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ps := load.LocationPaths(cfg.Seed, cfg.PreloadEvents, n, cfg.EPCSeed+1)
			fh, err := os.Create(out)
			if err != nil {
				return err
			}
			w := bufio.NewWriter(fh)
			for _, p := range ps {
				fmt.Fprintln(w, p)
			}
			if err := w.Flush(); err != nil {
				fh.Close()
				return err
			}
			return fh.Close()
		},
	}
	paths.Flags().IntVar(&n, "n", 100_000, "paths to write")
	paths.Flags().StringVar(&out, "out", "paths.txt", "output file")
	paths.Flags().Uint64Var(&cfg.Seed, "seed", 1, "flow generator seed")
	paths.Flags().IntVar(&cfg.PreloadEvents, "preload", 1_000_000, "events of --seed's flows already stored")
	paths.Flags().Uint64Var(&cfg.EPCSeed, "pick-seed", 1, "seed of the random EPC choice")

	cmd.AddCommand(cold, paths)
	rootCmd.AddCommand(cmd)
}

// spread formats the median, minimum and maximum of ds.
func spread(ds []time.Duration) string {
	r := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
	return fmt.Sprintf("median=%s min=%s max=%s", r(load.Median(ds)), r(slices.Min(ds)), r(slices.Max(ds)))
}
