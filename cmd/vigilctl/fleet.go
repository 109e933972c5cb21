package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/apiclient"
	"github.com/vigilhq/vigil/wire"
)

func (c *cli) enrollCommand() *cobra.Command {
	cmd := parentCommand("enroll", "Manage enrollment tokens")
	var group string
	var ttl time.Duration
	var maxUses int
	create := &cobra.Command{
		Use:   "create-token",
		Short: "Create an enrollment token for hosts to join a group",
		Long: "Create an enrollment token for hosts to join a group. The token goes to stdout; stderr also gets\n" +
			"the one-line install for a host (docs/install.md), which pins the server's key and CA, the TUF root\n" +
			"verified from your trusted root file and the signed vigil-updater builds. Without a trusted root,\n" +
			"or without a signed vigil-updater build for the group, it says why and prints no line.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			resp, err := cl.CreateEnrollmentToken(cmd.Context(), api.CreateEnrollmentTokenRequest{
				Group: group, TTL: ttl.String(), MaxUses: maxUses})
			if err != nil {
				return err
			}
			if c.output == "json" {
				return c.print(resp, nil, nil)
			}
			fmt.Fprintf(c.stdout, "%s\n", resp.Token)
			fmt.Fprintf(c.stderr, "Enrollment token %s for group %s, %s, expires %s. It is shown only once.\n",
				shortID(resp.ID), resp.Group, plural(resp.MaxUses, "use", "uses"), fmtTime(resp.ExpiresAt))
			// The one-line install, on stderr so that stdout stays the token for scripts.
			line, err := c.installLine(cmd.Context(), cl, resp.Group, resp.Token)
			if err != nil {
				fmt.Fprintf(c.stderr, "No install line (the token works with packages, docs/install.md): %v\n", err)
				return nil
			}
			fmt.Fprintf(c.stderr, "Install a host into group %s: run this on it (docs/install.md explains each pin):\n%s\n", resp.Group, line)
			return nil
		},
	}
	create.Flags().StringVar(&group, "group", api.DefaultGroup, "group the hosts join")
	create.Flags().DurationVar(&ttl, "ttl", 24*time.Hour, "how long the token is valid")
	create.Flags().IntVar(&maxUses, "max-uses", 1, "how many hosts may enroll with it")
	ls := &cobra.Command{
		Use: "ls", Aliases: []string{"list"}, Short: "List enrollment tokens (never their secrets)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			ts, err := cl.ListEnrollmentTokens(cmd.Context())
			if err != nil {
				return err
			}
			now := time.Now()
			return c.print(ts, []string{"ID", "GROUP", "STATE", "USES", "EXPIRES", "CREATED", "BY"}, func() [][]string {
				rows := make([][]string, 0, len(ts))
				for _, t := range ts {
					rows = append(rows, []string{t.ID, t.Group, enrollmentTokenState(t, now), fmt.Sprintf("%d/%d", t.Uses, t.MaxUses),
						fmtTime(t.ExpiresAt), fmtTime(t.CreatedAt), orDash(t.CreatedBy)})
				}
				return rows
			})
		},
	}
	revoke := &cobra.Command{
		Use: "revoke TOKEN_ID", Aliases: []string{"rm"}, Args: cobra.ExactArgs(1),
		Short: "Revoke an enrollment token (by its ID or a unique ID prefix); hosts it enrolled stay",
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			id, err := c.resolveEnrollmentToken(cmd.Context(), cl, args[0])
			if err != nil {
				return err
			}
			if err := cl.RevokeEnrollmentToken(cmd.Context(), id); err != nil {
				return err
			}
			fmt.Fprintf(c.stderr, "Enrollment token %s revoked: no more hosts can enroll with it.\n", id)
			return nil
		},
	}
	cmd.AddCommand(create, ls, revoke)
	return cmd
}

// enrollmentTokenState is "active", "revoked", "expired" or "used up".
func enrollmentTokenState(t api.EnrollmentToken, now time.Time) string {
	switch {
	case t.Revoked:
		return "revoked"
	case !now.Before(t.ExpiresAt):
		return "expired"
	case t.Uses >= t.MaxUses:
		return "used up"
	}
	return "active"
}

func (c *cli) hostsCommand() *cobra.Command {
	cmd := parentCommand("hosts", "List, inspect, revoke and remove hosts")
	cmd.Long = "List, inspect, revoke and remove hosts. Wherever a HOST is asked for, give its ID, a prefix of\n" +
		"its ID that no other host's ID starts with, or its hostname when no other host has that name."
	var group string
	ls := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List hosts with their status (up, late, silent, unreachable)",
		Long: "List hosts. STATUS is up (reported within two intervals), late (missed a report), silent (no\n" +
			"report for more than interval + grace: its silence alert fires) or unreachable (enrolled, but no\n" +
			"report ever arrived by then); docs/operating.md has the details.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			hs, err := cl.ListHosts(cmd.Context(), group)
			if err != nil {
				return err
			}
			return c.print(hs, []string{"ID", "HOSTNAME", "STATUS", "GROUP", "AGENT", "LAST SEEN", "CPU%", "MEM%"}, func() [][]string {
				rows := make([][]string, 0, len(hs))
				for _, h := range hs {
					cpu, mem := "-", "-"
					if h.Latest != nil && h.Latest.CPU != nil {
						cpu = strconv.FormatFloat(h.Latest.CPU.BusyPct, 'f', 1, 64)
					}
					if h.Latest != nil && h.Latest.Memory != nil {
						mem = strconv.FormatFloat(h.Latest.Memory.UsedPct, 'f', 1, 64)
					}
					name := h.Hostname
					if h.Revoked {
						name += " (revoked)"
					}
					rows = append(rows, []string{h.ID, name, orDash(h.Status), h.Group, orDash(h.AgentVersion), fmtTime(h.LastSeen), cpu, mem})
				}
				return rows
			})
		},
	}
	ls.Flags().StringVar(&group, "group", "", "only hosts of this group")
	show := &cobra.Command{
		Use:   "show HOST",
		Short: "Show one host with its latest metrics",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			id, err := c.resolveHost(cmd.Context(), cl, args[0])
			if err != nil {
				return err
			}
			h, err := cl.GetHost(cmd.Context(), id)
			if err != nil {
				return err
			}
			return c.print(h, []string{"FIELD", "VALUE"}, func() [][]string { return hostRows(h) })
		},
	}
	var watch agentSettingsFlags
	setSettings := &cobra.Command{
		Use:   "set-settings HOST [--watch-process NAME…] [--watch-exe PATH…] [--watch-unit UNIT…] [--interval D] [--clear-agent-settings]",
		Short: "Set a host's own agent settings, added to its group's",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !watch.changed(cmd) {
				return usageError{fmt.Errorf("nothing to set: give --watch-process, --watch-exe, --watch-unit, --interval or --clear-agent-settings")}
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			if args[0], err = c.resolveHost(cmd.Context(), cl, args[0]); err != nil {
				return err
			}
			var got api.HostAgentSettings
			if watch.clear && !cmd.Flags().Changed("watch-process") && !cmd.Flags().Changed("watch-exe") &&
				!cmd.Flags().Changed("watch-unit") && !cmd.Flags().Changed("interval") {
				got, err = cl.ClearHostAgentSettings(cmd.Context(), args[0])
			} else {
				cur, err2 := cl.HostAgentSettings(cmd.Context(), args[0])
				if err2 != nil {
					return err2
				}
				got, err = cl.SetHostAgentSettings(cmd.Context(), args[0], watch.apply(cmd, cur.Host))
			}
			if err != nil {
				return err
			}
			return c.print(got, []string{"FIELD", "VALUE"}, func() [][]string {
				return slices.Concat(agentSettingsRows("group ", got.Group), agentSettingsRows("host ", got.Host), agentSettingsRows("effective ", got.Effective))
			})
		},
	}
	watch.register(setSettings)
	clearQ := &cobra.Command{
		Use:   "clear-quarantine HOST",
		Short: "Let a host's updater try again the versions it quarantined",
		Long: "Let a host's updater try again the versions it quarantined. The updater forgets its quarantine list\n" +
			"(and its count of interrupted trials) at its next poll, so a pinned version that failed there is\n" +
			"downloaded and tried again, health gate and rollback included. Audited.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			id, err := c.resolveHost(cmd.Context(), cl, args[0])
			if err != nil {
				return err
			}
			got, err := cl.ClearQuarantine(cmd.Context(), id)
			if err != nil {
				return err
			}
			return c.print(got, []string{"FIELD", "VALUE"}, func() [][]string {
				return [][]string{{"host", got.HostID}, {"quarantine generation", strconv.FormatUint(got.QuarantineGeneration, 10)}}
			})
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke HOST",
		Short: "Revoke a host's credential: its agent and updater are refused from their next request",
		Long: "Revoke a host's credential: its agent and updater are refused (401) from their next request. The\n" +
			"host stays listed, marked revoked, with its history; to let it back, enroll it again (as a new\n" +
			"host). hosts rm also deletes its stored reports.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			id, err := c.resolveHost(cmd.Context(), cl, args[0])
			if err != nil {
				return err
			}
			if err := cl.RevokeHost(cmd.Context(), id); err != nil {
				return err
			}
			fmt.Fprintf(c.stderr, "Host %s revoked: its next report is refused.\n", id)
			return nil
		},
	}
	rm := &cobra.Command{
		Use:     "rm HOST",
		Aliases: []string{"delete"},
		Short:   "Remove a host: revoke its credential and delete its stored reports",
		Long: "Remove a host from the fleet: its credential stops working at once, and its stored reports,\n" +
			"outages and update events are deleted. Its alerts (with their history) and the audit log keep\n" +
			"what they recorded. An agent still running there is refused and must enroll again, as a new host.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			id, err := c.resolveHost(cmd.Context(), cl, args[0])
			if err != nil {
				return err
			}
			h, err := cl.GetHost(cmd.Context(), id)
			if err != nil {
				return err
			}
			if err := cl.DeleteHost(cmd.Context(), id); err != nil {
				return err
			}
			fmt.Fprintf(c.stderr, "Host %s removed, with its stored reports.\n", hostLabel(h.Hostname, h.ID))
			return nil
		},
	}
	cmd.AddCommand(ls, show, setSettings, revoke, rm, clearQ)
	return cmd
}

// agentSettingsFlags are the flags that change agent settings. A list given replaces that list
// (--watch-process and --watch-exe together replace the processes); --clear-agent-settings starts
// from nothing.
type agentSettingsFlags struct {
	procs, exes, units []string
	interval           time.Duration
	clear              bool
}

func (f *agentSettingsFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&f.procs, "watch-process", nil, "watch a process by name (repeatable; replaces the watched processes; '' for none)")
	cmd.Flags().StringArrayVar(&f.exes, "watch-exe", nil, "watch a process by absolute executable path (repeatable)")
	cmd.Flags().StringArrayVar(&f.units, "watch-unit", nil, "watch a systemd unit such as nginx.service (repeatable; replaces the watched units; '' for none)")
	cmd.Flags().DurationVar(&f.interval, "interval", 0, "agents' report interval (0 = the agent's own)")
	cmd.Flags().BoolVar(&f.clear, "clear-agent-settings", false, "remove all agent settings (then apply the other flags)")
}

func (f *agentSettingsFlags) changed(cmd *cobra.Command) bool {
	for _, n := range []string{"watch-process", "watch-exe", "watch-unit", "interval", "clear-agent-settings"} {
		if cmd.Flags().Changed(n) {
			return true
		}
	}
	return false
}

// apply returns cur changed by the flags given.
func (f *agentSettingsFlags) apply(cmd *cobra.Command, cur api.AgentSettings) api.AgentSettings {
	if f.clear {
		cur = api.AgentSettings{}
	}
	if cmd.Flags().Changed("watch-process") || cmd.Flags().Changed("watch-exe") {
		cur.WatchProcesses = nil
		for _, n := range f.procs {
			if n != "" {
				cur.WatchProcesses = append(cur.WatchProcesses, wire.ProcessWatch{Name: n})
			}
		}
		for _, e := range f.exes {
			if e != "" {
				cur.WatchProcesses = append(cur.WatchProcesses, wire.ProcessWatch{Exe: e})
			}
		}
	}
	if cmd.Flags().Changed("watch-unit") {
		cur.WatchUnits = slices.DeleteFunc(slices.Clone(f.units), func(u string) bool { return u == "" })
	}
	if cmd.Flags().Changed("interval") {
		cur.Interval = api.Duration(f.interval)
	}
	return cur
}

// agentSettingsRows are the table rows of agent settings, each field name prefixed.
func agentSettingsRows(prefix string, s api.AgentSettings) [][]string {
	interval := "agent's own"
	if s.Interval != 0 {
		interval = s.Interval.String()
	}
	procs := make([]string, len(s.WatchProcesses))
	for i, w := range s.WatchProcesses {
		procs[i] = w.Name
		if w.Exe != "" {
			procs[i] = w.Exe
		}
	}
	return [][]string{
		{prefix + "agent interval", interval},
		{prefix + "watched processes", orDash(strings.Join(procs, ", "))},
		{prefix + "watched units", orDash(strings.Join(s.WatchUnits, ", "))},
	}
}

func hostRows(h api.Host) [][]string {
	rows := [][]string{
		{"id", h.ID}, {"hostname", h.Hostname}, {"status", orDash(h.Status)}, {"group", h.Group},
		{"os/arch", h.OS + "/" + h.Arch}, {"agent", orDash(h.AgentVersion)}, {"updater", orDash(h.UpdaterVersion)},
		{"enrolled", fmtTime(h.EnrolledAt)}, {"last seen", fmtTime(h.LastSeen)},
		{"interval", fmt.Sprintf("%ds", h.IntervalSeconds)}, {"acked seq", strconv.FormatUint(h.AckedSeq, 10)},
		{"boot time", fmtTime(h.BootTime)}, {"revoked", strconv.FormatBool(h.Revoked)},
	}
	if d := h.ReportsDropped; d != nil {
		// What the agent dropped from its full spool: reports the server will never have.
		text := "none since " + fmtTime(d.Since)
		if d.Count > 0 {
			text = fmt.Sprintf("%d since %s (spool full), the last in a report of %s", d.Count, fmtTime(d.Since), fmtTime(d.Last))
		}
		rows = append(rows, []string{"reports dropped", text})
	}
	if r := h.Latest; r != nil {
		if r.CPU != nil {
			rows = append(rows, []string{"cpu busy/iowait/steal", fmt.Sprintf("%.1f%% / %.1f%% / %.1f%%", r.CPU.BusyPct, r.CPU.IOWaitPct, r.CPU.StealPct)})
		}
		if r.Load != nil {
			rows = append(rows, []string{"load", fmt.Sprintf("%.2f %.2f %.2f", r.Load.Load1, r.Load.Load5, r.Load.Load15)})
		}
		if r.Memory != nil {
			rows = append(rows, []string{"memory used", fmt.Sprintf("%.1f%% of %d MiB", r.Memory.UsedPct, r.Memory.TotalBytes>>20)})
		}
		for _, m := range r.Mounts {
			rows = append(rows, []string{"disk " + m.Path, fmt.Sprintf("%.1f%% used, inodes %.1f%%", m.UsedPct, m.InodesPct)})
		}
		for _, u := range r.Units {
			rows = append(rows, []string{"unit " + u.Name, u.ActiveState + "/" + u.SubState})
		}
		for _, p := range r.Processes {
			rows = append(rows, []string{"process " + p.Name, fmt.Sprintf("%d running", p.Running)})
		}
		for _, c := range r.Checks {
			rows = append(rows, []string{"check " + c.Name, checkText(c)})
		}
		for _, h := range r.Hints {
			rows = append(rows, []string{"unusual " + h.Metric, fmt.Sprintf("%g, score %.1f (usual at %02d:00: %g ± %g)", h.Value, h.Score, h.Hour, h.Mean, h.StdDev)})
		}
		for _, e := range r.Errors {
			rows = append(rows, []string{"collector error " + e.Collector, e.Message})
		}
	}
	if u := h.LastUpdate; u != nil {
		rows = append(rows, []string{"last update", fmt.Sprintf("%s %s→%s %s %s", u.Phase, u.FromVersion, u.ToVersion, u.Result, u.Reason)})
	}
	return rows
}

func (c *cli) groupsCommand() *cobra.Command {
	cmd := parentCommand("groups", "Manage groups, their alert settings and version pins")
	printGroups := func(gs []api.Group) error {
		return c.print(gs, []string{"NAME", "HOSTS", "PIN", "GRACE", "ALERT EMAILS"}, func() [][]string {
			rows := make([][]string, 0, len(gs))
			for _, g := range gs {
				grace := "default"
				if g.Grace != 0 {
					grace = g.Grace.String()
				}
				rows = append(rows, []string{g.Name, strconv.Itoa(g.Hosts), pinString(g.Pin), grace, orDash(strings.Join(g.AlertEmails, ","))})
			}
			return rows
		})
	}
	ls := &cobra.Command{
		Use: "ls", Aliases: []string{"list"}, Short: "List groups", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			gs, err := cl.ListGroups(cmd.Context())
			if err != nil {
				return err
			}
			return printGroups(gs)
		},
	}
	var grace time.Duration
	var emails []string
	create := &cobra.Command{
		Use: "create GROUP", Short: "Create a group", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			req := api.CreateGroupRequest{Name: args[0], AlertEmails: emails}
			if grace != 0 {
				req.Grace = grace.String()
			}
			g, err := cl.CreateGroup(cmd.Context(), req)
			if err != nil {
				return err
			}
			return printGroups([]api.Group{g})
		},
	}
	create.Flags().DurationVar(&grace, "grace", 0, "silence grace (default: three report intervals)")
	create.Flags().StringArrayVar(&emails, "alert-email", nil, "extra alert recipient (repeatable)")
	var setGrace time.Duration
	var setEmails []string
	var watch agentSettingsFlags
	var policy rolloutPolicyFlags
	set := &cobra.Command{
		Use:   "set GROUP [--grace D] [--alert-email ADDR…] [--watch-process NAME…] [--watch-exe PATH…] [--watch-unit UNIT…] [--interval D] [--clear-agent-settings] [--canaries N] [--wave-percent P] [--soak D] [--failure-threshold P] [--health-deadline D]",
		Short: "Change a group's settings", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if policy.changed(cmd) {
				if watch.changed(cmd) || cmd.Flags().Changed("grace") || cmd.Flags().Changed("alert-email") {
					return usageError{fmt.Errorf("set the rollout policy in a command of its own")}
				}
				cl, err := c.client()
				if err != nil {
					return err
				}
				cur, err := cl.RolloutPolicy(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				got, err := cl.SetRolloutPolicy(cmd.Context(), args[0], policy.apply(cmd, cur))
				if err != nil {
					return err
				}
				return c.print(got, []string{"FIELD", "VALUE"}, func() [][]string { return policyRows(got) })
			}
			if watch.changed(cmd) {
				if cmd.Flags().Changed("grace") || cmd.Flags().Changed("alert-email") {
					return usageError{fmt.Errorf("set agent settings and alert settings in separate commands")}
				}
				cl, err := c.client()
				if err != nil {
					return err
				}
				cur, err := cl.GroupAgentSettings(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				got, err := cl.SetGroupAgentSettings(cmd.Context(), args[0], watch.apply(cmd, cur))
				if err != nil {
					return err
				}
				return c.print(got, []string{"FIELD", "VALUE"}, func() [][]string { return agentSettingsRows("", got) })
			}
			var req api.GroupSettings
			if cmd.Flags().Changed("grace") {
				s := setGrace.String()
				req.Grace = &s
			}
			if cmd.Flags().Changed("alert-email") {
				e := setEmails
				if len(e) == 1 && e[0] == "" {
					e = []string{}
				}
				req.AlertEmails = &e
			}
			if req.Grace == nil && req.AlertEmails == nil {
				return usageError{fmt.Errorf("nothing to set: give --grace or --alert-email")}
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			g, err := cl.UpdateGroup(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			return printGroups([]api.Group{g})
		},
	}
	set.Flags().DurationVar(&setGrace, "grace", 0, "silence grace (0 = default)")
	set.Flags().StringArrayVar(&setEmails, "alert-email", nil, "alert recipients, replacing the current ones (repeatable; --alert-email '' clears)")
	watch.register(set)
	policy.register(set)
	show := &cobra.Command{
		Use: "show GROUP", Short: "Show a group with its pin, alert and agent settings", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			g, err := cl.GetGroup(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			var extra [][]string
			if c.output != "json" {
				// The rollout policy and the active rollout, when the server keeps rollouts.
				if pol, err := cl.RolloutPolicy(cmd.Context(), args[0]); err == nil {
					for _, r := range policyRows(pol) {
						extra = append(extra, []string{"rollout " + r[0], r[1]})
					}
				}
				if rs, err := cl.ListRollouts(cmd.Context(), apiclient.RolloutFilter{Group: args[0], ActiveOnly: true, Limit: 1}); err == nil && len(rs) == 1 {
					r := rs[0]
					extra = append(extra, []string{"rollout", fmt.Sprintf("%s %s to %s, %s, %d of %d hosts admitted", r.ID, r.State, r.ToVersion,
						stageString(r), r.Progress.Admitted, r.Progress.GroupHosts)})
				}
			}
			return c.print(g, []string{"FIELD", "VALUE"}, func() [][]string {
				grace := "default"
				if g.Grace != 0 {
					grace = g.Grace.String()
				}
				rows := [][]string{{"name", g.Name}, {"hosts", strconv.Itoa(g.Hosts)}, {"pin", pinString(g.Pin)},
					{"grace", grace}, {"alert emails", orDash(strings.Join(g.AlertEmails, ","))}}
				rows = append(rows, agentSettingsRows("", g.AgentSettings)...)
				return append(rows, extra...)
			})
		},
	}
	var channel string
	var unpin, force bool
	pin := &cobra.Command{
		Use: "pin GROUP (VERSION [--force] | --channel C | --none)", Short: "Pin a group to an agent version or a release channel",
		Long: "Pin a group to an agent version or a release channel. The server checks the pin against the\n" +
			"release repository: a version it has not published, or a channel no published release is on, is\n" +
			"refused as a likely typo. --force pins a version that is not published yet (staged, or to come):\n" +
			"the group's hosts stay where they are until it is published.",
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var p api.Pin
			switch {
			case unpin && (len(args) == 2 || channel != ""):
				return usageError{fmt.Errorf("--none takes no version or channel")}
			case len(args) == 2 && channel != "":
				return usageError{fmt.Errorf("give a version or --channel, not both")}
			case force && len(args) != 2:
				return usageError{fmt.Errorf("--force applies to a VERSION only")}
			case len(args) == 2:
				p.Version, p.Force = strings.TrimPrefix(args[1], "v"), force
			case channel != "":
				p.Channel = channel
			case !unpin:
				return usageError{fmt.Errorf("give a VERSION, --channel C or --none")}
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			if unpin {
				if err := cl.Unpin(cmd.Context(), args[0]); err != nil {
					return err
				}
				fmt.Fprintf(c.stderr, "Group %s unpinned: hosts stay on their versions.\n", args[0])
				return nil
			}
			got, err := cl.SetPin(cmd.Context(), args[0], p)
			if err != nil {
				return err
			}
			if c.output == "json" {
				return c.print(got, nil, nil)
			}
			fmt.Fprintf(c.stdout, "Group %s pinned to %s.\n", args[0], pinString(got))
			return nil
		},
	}
	pin.Flags().StringVar(&channel, "channel", "", "follow a release channel (e.g. stable)")
	pin.Flags().BoolVar(&unpin, "none", false, "remove the pin")
	pin.Flags().BoolVar(&force, "force", false, "pin a VERSION the repository has not published (yet)")
	rm := &cobra.Command{
		Use: "rm GROUP", Aliases: []string{"delete"}, Short: "Delete an empty group", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			if err := cl.DeleteGroup(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(c.stderr, "Group %s deleted.\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(ls, show, create, set, pin, rm)
	return cmd
}

// rolloutPolicyFlags are the rollout policy flags of `groups set`.
type rolloutPolicyFlags struct {
	canaries, wavePercent, failureThreshold int
	soak, healthDeadline                    time.Duration
}

var rolloutPolicyFlagNames = []string{"canaries", "wave-percent", "soak", "failure-threshold", "health-deadline"}

func (f *rolloutPolicyFlags) register(cmd *cobra.Command) {
	cmd.Flags().IntVar(&f.canaries, "canaries", 0, "rollout policy: hosts that take a new version first (0 = default, 1)")
	cmd.Flags().IntVar(&f.wavePercent, "wave-percent", 0, "rollout policy: share of the group each wave adds, 1..100 (0 = default, 25)")
	cmd.Flags().DurationVar(&f.soak, "soak", 0, "rollout policy: how long a stage stays healthy before the next (0 = default, 10m)")
	cmd.Flags().IntVar(&f.failureThreshold, "failure-threshold", 0, "rollout policy: failed % of a stage above which the rollout halts (0 = default, 10)")
	cmd.Flags().DurationVar(&f.healthDeadline, "health-deadline", 0, "rollout policy: time from switch to commit before a host counts as failed (0 = default, 15m)")
}

func (f *rolloutPolicyFlags) changed(cmd *cobra.Command) bool {
	for _, n := range rolloutPolicyFlagNames {
		if cmd.Flags().Changed(n) {
			return true
		}
	}
	return false
}

// apply sets the given flags on cur, keeping the others.
func (f *rolloutPolicyFlags) apply(cmd *cobra.Command, cur api.RolloutPolicy) api.RolloutPolicy {
	fl := cmd.Flags()
	if fl.Changed("canaries") {
		cur.Canaries = f.canaries
	}
	if fl.Changed("wave-percent") {
		cur.WavePercent = f.wavePercent
	}
	if fl.Changed("soak") {
		cur.Soak = api.Duration(f.soak)
	}
	if fl.Changed("failure-threshold") {
		cur.FailureThreshold = f.failureThreshold
	}
	if fl.Changed("health-deadline") {
		cur.HealthDeadline = api.Duration(f.healthDeadline)
	}
	return cur
}

func policyRows(p api.RolloutPolicy) [][]string {
	orDefault := func(set bool, v, def string) string {
		if set {
			return v
		}
		return def + " (default)"
	}
	return [][]string{
		{"canaries", orDefault(p.Canaries != 0, strconv.Itoa(p.Canaries), "1")},
		{"wave percent", orDefault(p.WavePercent != 0, strconv.Itoa(p.WavePercent)+"%", "25%")},
		{"soak", orDefault(p.Soak != 0, p.Soak.String(), "10m0s")},
		{"failure threshold", orDefault(p.FailureThreshold != 0, strconv.Itoa(p.FailureThreshold)+"%", "10%")},
		{"health deadline", orDefault(p.HealthDeadline != 0, p.HealthDeadline.String(), "15m0s")},
	}
}

func pinString(p api.Pin) string {
	switch {
	case p.Version != "":
		return "version " + p.Version
	case p.Channel != "":
		return "channel " + p.Channel
	}
	return "-"
}

// checkText describes a health check result on one line: "FAIL http 12.3 ms: status 503, want 200
// (checked 2026-12-02 13:40:00)".
func checkText(c wire.CheckResult) string {
	state := "ok"
	if !c.OK {
		state = "FAIL"
	}
	s := state + " " + c.Kind
	if c.Unit != "" {
		s += " " + strconv.FormatFloat(c.Value, 'f', -1, 64) + " " + c.Unit
	}
	if c.Message != "" {
		s += ": " + c.Message
	}
	return s + " (checked " + fmtTime(c.CheckedAt) + ")"
}
