package web

import (
	"cmp"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/vigilhq/vigil/server"
)

// fleetRefreshSeconds is how often the fleet page's script reloads the table (refresh.js).
const fleetRefreshSeconds = 15

// maxSearchLen bounds the search box; longer is refused.
const maxSearchLen = 200

// fleetStatuses are the statuses the overview counts and filters by, in display order.
var fleetStatuses = []string{server.StatusUp, server.StatusLate, server.StatusSilent, server.StatusUnreachable, "revoked"}

// fleetColumns are the sortable columns and their default direction (problems and big numbers
// first for the figures, A to Z for names).
var fleetColumns = map[string]bool{ // column → descending by default
	"status": false, "host": false, "group": false, "seen": true, "cpu": true, "memory": true,
	"disk": true, "load": true, "version": false,
}

// errFleetQuery is a fleet filter, sort or search the page cannot apply.
var errFleetQuery = errors.New("fleet query")

// fleetQuery is the fleet page's state, all in the URL's query so it works without a script and
// can be bookmarked: ?status=&group=&version=&q=&sort=&dir=.
type fleetQuery struct {
	Status, Group, Version, Q, Sort string
	Desc                            bool
}

func parseFleetQuery(v url.Values) (fleetQuery, error) {
	q := fleetQuery{Status: v.Get("status"), Group: v.Get("group"), Version: v.Get("version"),
		Q: strings.TrimSpace(v.Get("q")), Sort: v.Get("sort")}
	if q.Status != "" && !slices.Contains(fleetStatuses, q.Status) {
		return q, fmt.Errorf("%w: unknown status %q: choose up, late, silent, unreachable or revoked", errFleetQuery, q.Status)
	}
	if len(q.Q) > maxSearchLen {
		return q, fmt.Errorf("%w: the search is longer than %d characters", errFleetQuery, maxSearchLen)
	}
	if q.Sort == "" {
		q.Sort = "status"
	}
	desc, ok := fleetColumns[q.Sort]
	if !ok {
		return q, fmt.Errorf("%w: cannot sort by %q: choose status, host, group, seen, cpu, memory, disk, load or version", errFleetQuery, q.Sort)
	}
	switch v.Get("dir") {
	case "":
		q.Desc = desc
	case "asc":
	case "desc":
		q.Desc = true
	default:
		return q, fmt.Errorf("%w: dir must be asc or desc", errFleetQuery)
	}
	return q, nil
}

// values encodes q, with the sort and direction given.
func (q fleetQuery) values(sort string, desc bool) url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"status": q.Status, "group": q.Group, "version": q.Version, "q": q.Q} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if sort != "status" || desc {
		v.Set("sort", sort)
		v.Set("dir", map[bool]string{true: "desc", false: "asc"}[desc])
	}
	return v
}

// Query is q as a query string (with "?"), for the fragment URL and links.
func (q fleetQuery) Query() string {
	if e := q.values(q.Sort, q.Desc).Encode(); e != "" {
		return "?" + e
	}
	return ""
}

// fleetRow is a host in the fleet table.
type fleetRow struct {
	server.Host
	Status string
	// CPU, Memory, Disk (fullest mount) and Load from the latest report; Has* false when absent.
	CPU, Memory, Disk, Load          float64
	HasCPU, HasMem, HasDisk, HasLoad bool
}

func newFleetRow(h server.Host, status string) fleetRow {
	r := fleetRow{Host: h, Status: status}
	if l := h.Latest; l != nil {
		if l.CPU != nil {
			r.CPU, r.HasCPU = l.CPU.BusyPct, true
		}
		if l.Memory != nil {
			r.Memory, r.HasMem = l.Memory.UsedPct, true
		}
		if l.Load != nil {
			r.Load, r.HasLoad = l.Load.Load1, true
		}
		for i, m := range l.Mounts {
			if i == 0 || m.UsedPct > r.Disk {
				r.Disk = m.UsedPct
			}
			r.HasDisk = true
		}
	}
	return r
}

// matches reports whether the row passes the search: a case-insensitive hostname prefix or an
// ID prefix.
func (r fleetRow) matches(search string) bool {
	if search == "" {
		return true
	}
	s := strings.ToLower(search)
	return strings.HasPrefix(strings.ToLower(r.Hostname), s) || strings.HasPrefix(strings.ToLower(r.ID), s)
}

// statusRank orders problems first.
var statusRank = map[string]int{server.StatusSilent: 0, server.StatusUnreachable: 1, server.StatusLate: 2, server.StatusUp: 3, "revoked": 4}

// compareRows orders rows by column; ties go by hostname then ID, so the order is stable across
// refreshes. Rows lacking a figure go last whatever the direction.
func compareRows(col string, desc bool) func(a, b fleetRow) int {
	fig := func(a, b float64, ha, hb bool) (int, bool) {
		switch {
		case ha && hb:
			return cmp.Compare(a, b), false
		case ha != hb:
			if ha {
				return -1, true
			}
			return 1, true
		}
		return 0, false
	}
	return func(a, b fleetRow) int {
		var c int
		absolute := false // a missing figure: not flipped by the direction
		switch col {
		case "status":
			c = cmp.Compare(statusRank[a.Status], statusRank[b.Status])
		case "host":
			c = strings.Compare(strings.ToLower(a.Hostname), strings.ToLower(b.Hostname))
		case "group":
			c = strings.Compare(a.Group, b.Group)
		case "seen":
			c = a.LastSeen.Compare(b.LastSeen)
		case "cpu":
			c, absolute = fig(a.CPU, b.CPU, a.HasCPU, b.HasCPU)
		case "memory":
			c, absolute = fig(a.Memory, b.Memory, a.HasMem, b.HasMem)
		case "disk":
			c, absolute = fig(a.Disk, b.Disk, a.HasDisk, b.HasDisk)
		case "load":
			c, absolute = fig(a.Load, b.Load, a.HasLoad, b.HasLoad)
		case "version":
			c = compareVersions(a.AgentVersion, b.AgentVersion)
		}
		if desc && !absolute {
			c = -c
		}
		if c != 0 {
			return c
		}
		return cmp.Or(strings.Compare(a.Hostname, b.Hostname), strings.Compare(a.ID, b.ID))
	}
}

// compareVersions orders dotted versions numerically where both parts are numbers (1.10 after
// 1.9), else as text.
func compareVersions(a, b string) int {
	pa, pb := strings.Split(strings.TrimPrefix(a, "v"), "."), strings.Split(strings.TrimPrefix(b, "v"), ".")
	for i := range min(len(pa), len(pb)) {
		na, ea := strconv.Atoi(pa[i])
		nb, eb := strconv.Atoi(pb[i])
		if ea == nil && eb == nil {
			if c := cmp.Compare(na, nb); c != 0 {
				return c
			}
			continue
		}
		if c := strings.Compare(pa[i], pb[i]); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(pa), len(pb))
}

// fleetHeader is a sortable column header: its link flips the direction when it is the current
// sort, else sorts by it in its default direction.
type fleetHeader struct {
	Label, Href, Sort string // Sort: aria-sort value, "" when not sorted by it
}

// fleetData builds the fleet page's data for q.
func (h *Handler) fleetData(r *http.Request, p server.Principal, q fleetQuery) (map[string]any, error) {
	hosts, err := h.cfg.Service.ListHosts(r.Context(), p, q.Group)
	if err != nil {
		return nil, err
	}
	groups, err := h.cfg.Service.ListGroups(r.Context(), p)
	if err != nil {
		return nil, err
	}
	counts := map[string]int{}
	versions := map[string]bool{}
	rows := make([]fleetRow, 0, len(hosts))
	total := 0
	for _, host := range hosts {
		row := newFleetRow(host, h.status(host))
		if host.AgentVersion != "" {
			versions[host.AgentVersion] = true
		}
		if (q.Version != "" && host.AgentVersion != q.Version) || !row.matches(q.Q) {
			continue
		}
		// The counts cover every filter but the status, so each is a link to its share.
		counts[row.Status]++
		total++
		if q.Status != "" && row.Status != q.Status {
			continue
		}
		rows = append(rows, row)
	}
	slices.SortStableFunc(rows, compareRows(q.Sort, q.Desc))
	vs := make([]string, 0, len(versions))
	for v := range versions {
		vs = append(vs, v)
	}
	slices.SortFunc(vs, func(a, b string) int { return -compareVersions(a, b) })

	var headers []fleetHeader
	for _, c := range []struct{ label, col string }{{"Status", "status"}, {"Host", "host"}, {"Group", "group"},
		{"Last seen", "seen"}, {"CPU", "cpu"}, {"Memory", "memory"}, {"Disk", "disk"}, {"Load", "load"}, {"Agent", "version"}} {
		desc := fleetColumns[c.col]
		hd := fleetHeader{Label: c.label}
		if c.col == q.Sort {
			desc = !q.Desc
			hd.Sort = map[bool]string{true: "descending", false: "ascending"}[q.Desc]
		}
		hd.Href = "?" + q.values(c.col, desc).Encode()
		headers = append(headers, hd)
	}
	statusLinks := map[string]string{}
	for _, st := range fleetStatuses {
		sq := q
		sq.Status = st
		statusLinks[st] = "?" + sq.values(q.Sort, q.Desc).Encode()
	}
	return map[string]any{
		"Rows": rows, "Counts": counts, "Total": total, "Shown": len(rows), "Query": q, "Groups": groups,
		"Versions": vs, "Statuses": fleetStatuses, "Headers": headers, "StatusLinks": statusLinks,
		"Refresh": fleetRefreshSeconds, "Filtered": q.Status != "" || q.Group != "" || q.Version != "" || q.Q != "",
	}, nil
}

func (h *Handler) fleet(w http.ResponseWriter, r *http.Request, p server.Principal) {
	q, err := parseFleetQuery(r.URL.Query())
	if err != nil {
		h.render(w, r, http.StatusBadRequest, "error", page{Title: "Error", Principal: p, Error: strings.TrimPrefix(err.Error(), "fleet query: ") + "."})
		return
	}
	d, err := h.fleetData(r, p, q)
	if err != nil {
		h.fail(w, r, p, err)
		return
	}
	h.render(w, r, http.StatusOK, "fleet", page{Title: "Fleet", Principal: p, Data: d})
}

// fleetRows serves the fleet table's summary and body alone (GET /fleet/rows with the page's
// query), for refresh.js to swap in without reloading the page.
func (h *Handler) fleetRows(w http.ResponseWriter, r *http.Request, p server.Principal) {
	q, err := parseFleetQuery(r.URL.Query())
	if err != nil {
		http.Error(w, strings.TrimPrefix(err.Error(), "fleet query: "), http.StatusBadRequest)
		return
	}
	d, err := h.fleetData(r, p, q)
	if err != nil {
		if errors.Is(err, server.ErrForbidden) {
			http.Error(w, "Your role may not do this.", http.StatusForbidden)
			return
		}
		h.cfg.Logger.ErrorContext(r.Context(), "Dashboard request failed.", "path", r.URL.Path, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h.renderFragment(w, r, "fleet", "fleet-fragment", page{Principal: p, Data: d})
}

// renderFragment executes one named template of a page, without the layout.
func (h *Handler) renderFragment(w http.ResponseWriter, r *http.Request, pageName, name string, p page) {
	p.Version = h.cfg.Version
	p.CSRF = sessionOf(r).csrf // forms in the fragment (the groups' rollout actions)
	p.Now = h.cfg.Now()
	var buf strings.Builder
	if err := h.tmpl[pageName].ExecuteTemplate(&buf, name, p); err != nil {
		h.cfg.Logger.ErrorContext(r.Context(), "Rendering a fragment failed.", "fragment", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write([]byte(buf.String()))
}

// meter draws a 0–100 % figure as a small inline SVG bar (no inline style, so the CSP holds).
func meter(v float64) template.HTML {
	w := min(max(v, 0), 100)
	class := "fill"
	if v >= 90 {
		class = "fill hot"
	}
	return template.HTML(`<svg class="meter" viewBox="0 0 100 8" aria-hidden="true"><rect class="track" width="100" height="8" rx="3"/><rect class="` +
		class + `" width="` + strconv.FormatFloat(w, 'f', 1, 64) + `" height="8" rx="3"/></svg>`)
}
