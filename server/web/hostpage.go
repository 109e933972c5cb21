package web

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/rollout"
	"github.com/vigilhq/vigil/wire"
)

// hostChart is one rendered chart of the host page.
type hostChart struct {
	ID, Title string
	// Legend names the lines when there are several.
	Legend []chartSeries
	SVG    template.HTML
}

// rangeLink is one choice of the range selector.
type rangeLink struct {
	Name    string
	Current bool
}

// hostWave is the host's place in its group's active rollout.
type hostWave struct {
	Rollout rollout.Rollout
	// Admitted: the rollout answers this host with the new pin; InStage: it is one of the
	// current stage's hosts (whose health decides the stage).
	Admitted, InStage bool
}

// StageName is "canaries" for stage 0, else "wave N".
func (w hostWave) StageName() string {
	if w.Rollout.Stage == 0 {
		return "canaries"
	}
	return "wave " + itoa(w.Rollout.Stage)
}

// hostDetails gathers what the host page shows beyond the host itself: charts over the chosen
// range, outages in that range and the host's rollout wave.
func (h *Handler) hostDetails(r *http.Request, p server.Principal, host server.Host) (map[string]any, error) {
	ctx := r.Context()
	cr, err := server.ChartRangeByName(r.URL.Query().Get("range"))
	if err != nil {
		return nil, err
	}
	ps, res, err := h.cfg.Service.HostMetrics(ctx, p, host.ID, cr)
	if err != nil {
		return nil, err
	}
	to := h.cfg.Now()
	from := to.Add(-cr.Span)
	step := res
	if step == 0 {
		step = time.Duration(max(host.IntervalSeconds, 1)) * time.Second
	}
	charts := make([]hostChart, 0, len(hostCharts))
	for _, spec := range hostCharts {
		c := hostChart{ID: spec.ID, Title: spec.Title, SVG: renderChart(spec, ps, from, to, step)}
		if len(spec.Series) > 1 {
			c.Legend = spec.Series
		}
		charts = append(charts, c)
	}
	ranges := make([]rangeLink, 0, len(server.ChartRanges))
	for _, c := range server.ChartRanges {
		ranges = append(ranges, rangeLink{Name: c.Name, Current: c.Name == cr.Name})
	}
	outages, err := h.cfg.Service.ListOutages(ctx, p, host.ID, from)
	if err != nil {
		return nil, err
	}
	d := map[string]any{"Charts": charts, "Ranges": ranges, "Range": cr.Name, "Resolution": resolutionText(res),
		"Points": len(ps), "Outages": outages}
	if w, err := h.hostWave(ctx, p, host); err != nil {
		return nil, err
	} else if w != nil {
		d["Wave"] = w
	}
	return d, nil
}

func resolutionText(res time.Duration) string {
	switch res {
	case server.RollupMinute:
		return "one-minute averages"
	case server.RollupHour:
		return "one-hour averages"
	}
	return "every report"
}

// hostWave returns the host's place in its group's active rollout, or nil without one.
func (h *Handler) hostWave(ctx context.Context, p server.Principal, host server.Host) (*hostWave, error) {
	if h.cfg.Rollouts == nil {
		return nil, nil
	}
	rs, err := h.cfg.Rollouts.List(ctx, p, rollout.Filter{Group: host.Group, ActiveOnly: true, Limit: 1})
	if err != nil || len(rs) == 0 {
		return nil, err
	}
	r := rs[0]
	return &hostWave{Rollout: r, Admitted: r.Admits(host.ID), InStage: r.InStage(host.ID)}, nil
}

// outageSpan is how long an outage lasted, for the outage table.
func outageSpan(o wire.Outage) string {
	d := o.End.Sub(o.Start).Round(time.Second)
	if d < 0 {
		return "—"
	}
	return d.String()
}

// isBadRange reports whether err is a refused range parameter.
func isBadRange(err error) bool { return errors.Is(err, server.ErrInvalid) }
