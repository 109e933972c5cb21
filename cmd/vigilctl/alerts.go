package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigilhq/vigil/api"
)

// alertCommands are rules, alerts, silences and notifications.
func (c *cli) alertCommands() []*cobra.Command {
	return []*cobra.Command{c.rulesCommand(), c.alertsCommand(), c.silencesCommand(), c.notificationsCommand()}
}

func (c *cli) rulesCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "rules", Short: "Manage alert rules"}
	ls := &cobra.Command{
		Use: "ls", Aliases: []string{"list"}, Short: "List alert rules", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			rs, err := cl.ListRules(cmd.Context())
			if err != nil {
				return err
			}
			return c.print(rs, []string{"ID", "KIND", "THRESHOLD", "FOR", "SCOPE", "MATCH", "NAME"}, func() [][]string {
				var rows [][]string
				for _, r := range rs {
					th := "-"
					if r.Threshold != 0 {
						th = strconv.FormatFloat(r.Threshold, 'g', -1, 64)
					}
					rows = append(rows, []string{r.ID, r.Kind, th, time.Duration(r.For).String(), scope(r.HostID, r.Group, ""), orDash(r.Match), r.Name})
				}
				return rows
			})
		},
	}
	var r api.Rule
	var forDur time.Duration
	create := &cobra.Command{
		Use:   "create --kind KIND [--threshold N] [--for D] [--group G | --host ID] [--match NAME]",
		Short: "Create an alert rule (kinds: silence, cpu, memory, disk, load, process, unit, check, anomaly)",
		Long: "Create an alert rule. Kinds: silence (host stopped reporting), cpu (busy % above threshold),\n" +
			"memory (available % below threshold), disk (used % above threshold; --match a mount path),\n" +
			"load (1-minute load per core above threshold), process (watched process gone or restarting;\n" +
			"--match its name), unit (systemd unit failed; --match its name), check (a health check of the\n" +
			"agent's agent.yaml failed; --match its name; resolves when it passes), anomaly (the agent flags a\n" +
			"metric as unusual for the host at this hour; --match cpu.busy_pct, memory.used_pct or load.per_core).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			r.For = api.Duration(forDur)
			if r.HostID != "" {
				if r.HostID, err = c.resolveHost(cmd.Context(), cl, r.HostID); err != nil {
					return err
				}
			}
			out, err := cl.CreateRule(cmd.Context(), r)
			if err != nil {
				return err
			}
			if c.output == "json" {
				return c.print(out, nil, nil)
			}
			fmt.Fprintf(c.stdout, "%s\n", out.ID)
			fmt.Fprintf(c.stderr, "Created rule %q.\n", out.Name)
			return nil
		},
	}
	f := create.Flags()
	f.StringVar(&r.Kind, "kind", "", "silence, cpu, memory, disk, load, process, unit, check or anomaly")
	f.StringVar(&r.Name, "name", "", "name shown in alerts and emails (default: made from the rule)")
	f.Float64Var(&r.Threshold, "threshold", 0, "limit: percent for cpu, memory and disk; load per core for load")
	f.DurationVar(&forDur, "for", 0, "how long the condition must hold before the alert fires")
	f.StringVar(&r.Group, "group", "", "only hosts of this group")
	f.StringVar(&r.HostID, "host", "", "only this host (ID, unique ID prefix or hostname)")
	f.StringVar(&r.Match, "match", "", "only this mount path (disk), process, unit, check name or metric (anomaly)")
	_ = create.MarkFlagRequired("kind")
	rm := &cobra.Command{
		Use: "rm RULE_ID", Aliases: []string{"delete"}, Short: "Delete an alert rule (its open alerts resolve)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			return cl.DeleteRule(cmd.Context(), args[0])
		},
	}
	cmd.AddCommand(ls, create, rm)
	return cmd
}

func scope(host, group, rule string) string {
	var parts []string
	if host != "" {
		parts = append(parts, "host "+host)
	}
	if group != "" {
		parts = append(parts, "group "+group)
	}
	if rule != "" {
		parts = append(parts, "rule "+rule)
	}
	if len(parts) == 0 {
		return "all hosts"
	}
	return strings.Join(parts, ", ")
}

func (c *cli) alertsCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "alerts", Short: "List alerts and their history"}
	var open, history bool
	var host string
	var limit int
	ls := &cobra.Command{
		Use: "ls", Aliases: []string{"list"}, Short: "List alerts, newest first", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			if host != "" {
				if host, err = c.resolveHost(cmd.Context(), cl, host); err != nil {
					return err
				}
			}
			as, err := cl.ListAlerts(cmd.Context(), open, host, limit)
			if err != nil {
				return err
			}
			if history {
				for i := range as {
					full, err := cl.GetAlert(cmd.Context(), as[i].ID)
					if err != nil {
						return err
					}
					as[i].History = full.History
				}
			}
			return c.print(as, []string{"ID", "STATE", "STARTED", "HOST", "GROUP", "RULE", "SUMMARY"}, func() [][]string {
				var rows [][]string
				for _, a := range as {
					rows = append(rows, []string{strconv.FormatInt(a.ID, 10), alertState(a), fmtTime(a.StartedAt), hostLabel(a.Hostname, a.HostID), a.Group, orDash(a.RuleName), a.Summary})
					for _, ev := range a.History {
						rows = append(rows, []string{"", "  " + ev.State, fmtTime(ev.Time), "", "", "", ev.Message})
					}
				}
				return rows
			})
		},
	}
	ls.Flags().BoolVar(&open, "open", false, "only pending and firing alerts")
	ls.Flags().BoolVar(&history, "history", false, "show each alert's history")
	ls.Flags().StringVar(&host, "host", "", "only alerts of this host (ID, unique ID prefix or hostname)")
	ls.Flags().IntVar(&limit, "limit", 50, "at most this many alerts")
	show := &cobra.Command{
		Use: "show ALERT_ID", Short: "Show one alert with its history", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return usageError{fmt.Errorf("alert ID %q is not a number", args[0])}
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			a, err := cl.GetAlert(cmd.Context(), id)
			if err != nil {
				return err
			}
			return c.print(a, []string{"TIME", "STATE", "EVENT"}, func() [][]string { return alertShowRows(a) })
		},
	}
	ack := &cobra.Command{
		Use: "ack ALERT_ID", Short: "Acknowledge an open alert: it sends no more reminders (its RESOLVED email still goes)",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return usageError{fmt.Errorf("alert ID %q is not a number", args[0])}
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			a, err := cl.AckAlert(cmd.Context(), id)
			if err != nil {
				return err
			}
			if c.output == "json" {
				return c.print(a, nil, nil)
			}
			fmt.Fprintf(c.stdout, "Alert %d (%s on %s) acknowledged by %s at %s: no more reminders.\n", a.ID, a.RuleName,
				hostLabel(a.Hostname, a.HostID), a.AckedBy, fmtTime(a.AckedAt))
			return nil
		},
	}
	cmd.AddCommand(ls, show, ack)
	return cmd
}

// alertShowRows are the rows of `alerts show`: when the alert started (labelled "started", whatever
// its state now), each change in its history, and its state now.
func alertShowRows(a api.Alert) [][]string {
	rows := [][]string{{fmtTime(a.StartedAt), "started", fmt.Sprintf("%s on %s: %s", a.RuleName, hostLabel(a.Hostname, a.HostID), a.Summary)}}
	for _, ev := range a.History {
		rows = append(rows, []string{fmtTime(ev.Time), ev.State, ev.Message})
	}
	now := a.UpdatedAt
	if a.State == api.StateResolved && !a.ResolvedAt.IsZero() {
		now = a.ResolvedAt
	}
	return append(rows, []string{fmtTime(now), "now " + alertState(a), ""})
}

func alertState(a api.Alert) string {
	s := alertStateOnly(a)
	if !a.AckedAt.IsZero() && a.State != api.StateResolved {
		s += ", acked"
	}
	return s
}

func alertStateOnly(a api.Alert) string {
	switch {
	case a.State == api.StateFiring && !a.RecoveringSince.IsZero():
		return "firing (recovering)"
	case a.State == api.StateFiring && a.Suppressed:
		return "firing (maintenance)"
	case a.State == api.StatePending && a.Kind == api.KindSilence:
		return "pending (late)"
	}
	return a.State
}

func (c *cli) silencesCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "silences", Short: "Manage maintenance silences (no alert emails while they last)"}
	var all bool
	ls := &cobra.Command{
		Use: "ls", Aliases: []string{"list"}, Short: "List maintenance silences", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			ss, err := cl.ListSilences(cmd.Context(), all)
			if err != nil {
				return err
			}
			return c.print(ss, []string{"ID", "SCOPE", "STARTS", "ENDS", "BY", "COMMENT"}, func() [][]string {
				var rows [][]string
				for _, s := range ss {
					rows = append(rows, []string{s.ID, scope(s.HostID, s.Group, s.RuleID), fmtTime(s.StartsAt), fmtTime(s.EndsAt), orDash(s.CreatedBy), orDash(s.Comment)})
				}
				return rows
			})
		},
	}
	ls.Flags().BoolVar(&all, "all", false, "include silences that are over")
	var req api.CreateSilenceRequest
	var start, end string
	var dur time.Duration
	create := &cobra.Command{
		Use:   "create (--host ID | --group G | --rule ID) (--duration D | --end TIME) [--start TIME] [--comment TEXT]",
		Short: "Silence alert emails for a host, a group or a rule for a while",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if req.StartsAt, err = parseFlagTime("--start", start); err != nil {
				return err
			}
			if req.EndsAt, err = parseFlagTime("--end", end); err != nil {
				return err
			}
			if dur != 0 {
				req.Duration = dur.String()
			}
			if (dur == 0) == (end == "") {
				return usageError{fmt.Errorf("give either --duration or --end")}
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			if req.HostID != "" {
				if req.HostID, err = c.resolveHost(cmd.Context(), cl, req.HostID); err != nil {
					return err
				}
			}
			s, err := cl.CreateSilence(cmd.Context(), req)
			if err != nil {
				return err
			}
			if c.output == "json" {
				return c.print(s, nil, nil)
			}
			fmt.Fprintf(c.stdout, "%s\n", s.ID)
			fmt.Fprintf(c.stderr, "Silenced %s from %s to %s.\n", scope(s.HostID, s.Group, s.RuleID), fmtTime(s.StartsAt), fmtTime(s.EndsAt))
			return nil
		},
	}
	f := create.Flags()
	f.StringVar(&req.HostID, "host", "", "host (ID, unique ID prefix or hostname)")
	f.StringVar(&req.Group, "group", "", "group name")
	f.StringVar(&req.RuleID, "rule", "", "rule ID")
	f.StringVar(&start, "start", "", "start time, RFC 3339 such as 2026-11-21T22:00:00Z or 2026-11-21T23:00:00+01:00 (default now)")
	f.StringVar(&end, "end", "", "end time, RFC 3339 such as 2026-11-21T23:00:00Z")
	f.DurationVar(&dur, "duration", 0, "how long, from the start")
	f.StringVar(&req.Comment, "comment", "", "why (shown in listings)")
	rm := &cobra.Command{
		Use: "rm SILENCE_ID", Aliases: []string{"delete"}, Short: "Delete (end) a maintenance silence", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			return cl.DeleteSilence(cmd.Context(), args[0])
		},
	}
	cmd.AddCommand(ls, create, rm)
	return cmd
}

// parseFlagTime parses the RFC 3339 time given to flag; "" is the zero time. The error says what
// is accepted in words and examples, never with Go's reference layout.
func parseFlagTime(flag, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, usageError{fmt.Errorf("%s %q is not a time vigilctl reads: give an RFC 3339 time, the date, a T, "+
			"the time and the zone as Z (UTC) or an offset, such as 2026-11-21T22:00:00Z or 2026-11-21T23:00:00+01:00", flag, v)}
	}
	return t, nil
}

func (c *cli) notificationsCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "notifications", Short: "List alert emails: queued, sent, retrying, skipped"}
	var limit int
	ls := &cobra.Command{
		Use: "ls", Aliases: []string{"list"}, Short: "List alert emails, newest first", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			ns, err := cl.ListNotifications(cmd.Context(), limit)
			if err != nil {
				return err
			}
			return c.print(ns, []string{"ID", "STATUS", "QUEUED", "SENT", "ATTEMPTS", "TO", "SUBJECT"}, func() [][]string {
				var rows [][]string
				for _, n := range ns {
					rows = append(rows, []string{strconv.FormatInt(n.ID, 10), n.Status, fmtTime(n.CreatedAt), fmtTime(n.SentAt),
						strconv.Itoa(n.Attempts), orDash(strings.Join(n.To, ",")), n.Subject})
				}
				return rows
			})
		},
	}
	ls.Flags().IntVar(&limit, "limit", 50, "at most this many")
	cmd.AddCommand(ls)
	return cmd
}
