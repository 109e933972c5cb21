package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/apiclient"
)

// errRolloutStopped is returned by `rollouts show --watch` when the rollout halted or was
// aborted, so scripts can tell it from a completed one (exit status 1).
var errRolloutStopped = errors.New("the rollout did not complete")

func (c *cli) rolloutsCommand() *cobra.Command {
	cmd := parentCommand("rollouts", "Follow and steer staged rollouts (a group's pin change reaches canaries, then waves)")
	var group string
	var active bool
	var limit int
	ls := &cobra.Command{
		Use: "ls [--group G] [--active] [--limit N]", Aliases: []string{"list"}, Short: "List rollouts, newest first", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			rs, err := cl.ListRollouts(cmd.Context(), apiclient.RolloutFilter{Group: group, ActiveOnly: active, Limit: limit})
			if err != nil {
				return err
			}
			return c.print(rs, []string{"ID", "GROUP", "STATE", "FROM", "TO", "STAGE", "ADMITTED", "STARTED"}, func() [][]string {
				rows := make([][]string, 0, len(rs))
				for _, r := range rs {
					rows = append(rows, []string{r.ID, r.Group, r.State, pinString(r.From), toString(r), stageString(r),
						fmt.Sprintf("%d/%d", r.Progress.Admitted, r.Progress.GroupHosts), fmtTime(r.CreatedAt)})
				}
				return rows
			})
		},
	}
	ls.Flags().StringVar(&group, "group", "", "only rollouts of this group")
	ls.Flags().BoolVar(&active, "active", false, "only running, paused and halted rollouts")
	ls.Flags().IntVar(&limit, "limit", 20, "at most this many (1..500)")

	var watch bool
	var every time.Duration
	show := &cobra.Command{
		Use:   "show ROLLOUT [--watch [--every D]]",
		Short: "Show a rollout's progress; --watch redraws it until it completes, halts or is aborted",
		Long: "Show a rollout's progress. With --watch the view is redrawn every --every (default 2s) until the rollout\n" +
			"is no longer running or paused; the exit status is then 0 if it completed and 1 if it halted or was aborted.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if every < 100*time.Millisecond {
				return usageError{fmt.Errorf("--every %s: at least 100ms", every)}
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			redraw := c.stdoutTerminal() && c.output != "json"
			var last int64 = -1
			for {
				r, err := cl.GetRollout(ctx, args[0])
				if err != nil {
					return err
				}
				if r.Version != last {
					if redraw && last >= 0 {
						fmt.Fprint(c.stdout, "\x1b[H\x1b[2J")
					} else if last >= 0 && c.output != "json" {
						fmt.Fprintln(c.stdout)
					}
					if err := c.printRollout(r); err != nil {
						return err
					}
					last = r.Version
				}
				done := r.State != api.RolloutRunning && r.State != api.RolloutPaused
				if !watch {
					return nil
				}
				if done {
					if r.State == api.RolloutCompleted {
						return nil
					}
					return fmt.Errorf("%w: %s: %s", errRolloutStopped, r.State, r.Reason)
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(every):
				}
			}
		},
	}
	show.Flags().BoolVarP(&watch, "watch", "w", false, "redraw until the rollout completes, halts or is aborted")
	show.Flags().DurationVar(&every, "every", 2*time.Second, "how often --watch asks the server")

	act := func(name, short string, do func(cl *apiclient.Client, cmd *cobra.Command, id string) (api.Rollout, error)) *cobra.Command {
		return &cobra.Command{
			Use: name + " ROLLOUT", Short: short, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				cl, err := c.client()
				if err != nil {
					return err
				}
				r, err := do(cl, cmd, args[0])
				if err != nil {
					return err
				}
				if c.output == "json" {
					return c.print(r, nil, nil)
				}
				fmt.Fprintf(c.stdout, "Rollout %s of group %s is %s.\n", r.ID, r.Group, r.State)
				if r.State == api.RolloutAborted {
					fmt.Fprintf(c.stdout, "Group %s is pinned to %s again.\n", r.Group, pinString(r.From))
				}
				return nil
			},
		}
	}
	pause := act("pause", "Stop a running rollout from admitting more hosts", func(cl *apiclient.Client, cmd *cobra.Command, id string) (api.Rollout, error) {
		return cl.PauseRollout(cmd.Context(), id)
	})
	resume := act("resume", "Resume a paused rollout (its soak starts again)", func(cl *apiclient.Client, cmd *cobra.Command, id string) (api.Rollout, error) {
		return cl.ResumeRollout(cmd.Context(), id)
	})
	abort := act("abort", "End a rollout and pin its group back to the previous version", func(cl *apiclient.Client, cmd *cobra.Command, id string) (api.Rollout, error) {
		return cl.AbortRollout(cmd.Context(), id)
	})
	cmd.AddCommand(ls, show, pause, resume, abort)
	return cmd
}

// stdoutTerminal reports whether stdout is a terminal (--watch redraws in place only there).
func (c *cli) stdoutTerminal() bool {
	f, ok := c.stdout.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// fromString renders a rollout's previous pin; none means hosts not yet admitted stay put.
func fromString(p api.Pin) string {
	if p == (api.Pin{}) {
		return "no pin (hosts not yet admitted stay on what they run)"
	}
	return pinString(p)
}

func toString(r api.Rollout) string {
	s := pinString(r.To)
	if r.To.Channel != "" {
		s += " (" + r.ToVersion + ")"
	}
	return s
}

func stageString(r api.Rollout) string {
	if r.Stage == 0 {
		return "canaries"
	}
	s := "wave " + strconv.Itoa(r.Stage)
	if r.All {
		s += " (last)"
	}
	return s
}

// progressBar draws n of total as a bar of width cells.
func progressBar(n, total, width int) string {
	if total <= 0 {
		return "[" + strings.Repeat(" ", width) + "]"
	}
	full := n * width / total
	return "[" + strings.Repeat("#", full) + strings.Repeat(".", width-full) + "]"
}

func (c *cli) printRollout(r api.Rollout) error {
	if c.output == "json" {
		return c.print(r, nil, nil)
	}
	p := r.Progress
	pol := r.Policy
	rows := [][]string{
		{"rollout", r.ID},
		{"group", r.Group},
		{"state", r.State},
		{"from", fromString(r.From)},
		{"to", toString(r)},
		{"stage", stageString(r) + ", since " + fmtTime(r.StageStarted)},
		{"admitted", fmt.Sprintf("%s %d of %d hosts", progressBar(p.Admitted, p.GroupHosts, 30), p.Admitted, p.GroupHosts)},
		{"this stage", fmt.Sprintf("%s: %d healthy, %d updating, %d failed, %d offline", plural(p.StageHosts, "host", "hosts"), p.Healthy, p.Pending, p.Failed, p.Offline)},
	}
	if !r.Settled.IsZero() && r.State == api.RolloutRunning {
		rows = append(rows, []string{"soak", fmt.Sprintf("since %s (%s)", fmtTime(r.Settled), pol.Soak)})
	}
	rows = append(rows,
		[]string{"policy", fmt.Sprintf("%s, waves of %d%%, soak %s, halt above %d%% failed, health deadline %s",
			plural(pol.Canaries, "canary", "canaries"), pol.WavePercent, pol.Soak, pol.FailureThreshold, pol.HealthDeadline)},
		[]string{"started", fmtTime(r.CreatedAt) + " by " + r.CreatedBy})
	if !r.FinishedAt.IsZero() {
		rows = append(rows, []string{"finished", fmtTime(r.FinishedAt)})
	}
	if r.Reason != "" {
		rows = append(rows, []string{"reason", r.Reason})
	}
	for _, f := range r.Failures {
		rows = append(rows, []string{"failed", fmt.Sprintf("%s (%s): %s", f.Hostname, f.HostID, f.Reason)})
		for _, l := range f.Log {
			rows = append(rows, []string{"", "  " + l})
		}
	}
	if r.State == api.RolloutHalted {
		rows = append(rows, []string{"next", "vigilctl rollouts abort " + r.ID + "  (pins the group back to " + pinString(r.From) + ")"})
	}
	return c.print(r, []string{"FIELD", "VALUE"}, func() [][]string { return rows })
}
