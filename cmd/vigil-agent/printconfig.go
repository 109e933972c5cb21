package main

import (
	"fmt"
	"io"

	"go.yaml.in/yaml/v3"

	"github.com/vigilhq/vigil/agent"
	"github.com/vigilhq/vigil/agent/anomaly"
	"github.com/vigilhq/vigil/agent/collect"
)

// printConfig writes the effective configuration as a YAML configuration file: what flags, the
// environment, the --config file and the defaults add up to, with every health check's defaults
// filled in. It parses back as a configuration file. The enrollment token is never printed.
func printConfig(w io.Writer, o *options, cfg *agent.Config) error {
	var file fileConfig
	if o.config != "" {
		f, err := loadFile(o.config)
		if err != nil {
			return err
		}
		file = *f
	}
	pick := func(flagVal, fileVal string) string {
		if flagVal != "" {
			return flagVal
		}
		return fileVal
	}
	orDefault := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	eff := fileConfig{
		Server:        cfg.Server,
		CA:            pick(o.ca, file.CA),
		CAFingerprint: pick(o.caFingerprint, file.CAFingerprint),
		StateDir:      orDefault(cfg.StateDir, agent.DefaultStateDir),
		Procfs:        orDefault(cfg.Collect.ProcRoot, "/proc"),
		Sysfs:         orDefault(cfg.Collect.SysRoot, "/sys"),
		SpoolBytes:    cfg.SpoolBytes,
		Collectors:    map[string]bool{},
	}
	if eff.SpoolBytes == 0 {
		eff.SpoolBytes = agent.DefaultSpoolBytes
	}
	if cfg.Interval != 0 {
		eff.Interval = cfg.Interval.String()
	}
	for _, n := range collect.Names {
		eff.Collectors[n] = true
	}
	for _, n := range cfg.Collect.Disabled {
		eff.Collectors[n] = false
	}
	eff.Watch.Processes, eff.Watch.Units = cfg.Collect.WatchProcesses, cfg.Collect.WatchUnits
	if cfg.Anomaly != nil {
		eff.Anomaly = anomalyConfig{Enabled: true, Threshold: cfg.Anomaly.Threshold}
		if eff.Anomaly.Threshold == 0 {
			eff.Anomaly.Threshold = anomaly.DefaultThreshold
		}
	}
	for _, c := range cfg.Checks {
		eff.Checks = append(eff.Checks, c.WithDefaults())
	}
	out, err := yaml.Marshal(&eff)
	if err != nil {
		return fmt.Errorf("print configuration: %w", err)
	}
	fmt.Fprintf(w, "# vigil-agent %s: effective configuration (flags, environment, file, defaults).\n", version)
	if eff.Interval == "" {
		fmt.Fprintf(w, "# No local interval: the server's agent settings choose it, else %s.\n", agent.DefaultInterval)
	}
	if o.enrollToken != "" {
		fmt.Fprintln(w, "# An enrollment token is given (not shown).")
	}
	fmt.Fprintf(w, "# %d health checks.\n", len(eff.Checks))
	_, err = w.Write(out)
	return err
}
