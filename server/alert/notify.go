package alert

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	htmltemplate "html/template"
	"net/url"
	"slices"
	"strings"
	"text/template"
	"time"
)

// Notification events.
const (
	EventFiring        = "firing"
	EventReminder      = "reminder"
	EventResolved      = "resolved"
	EventGroupFiring   = "group_firing"
	EventGroupResolved = "group_resolved"
)

// email is what a notification says, rendered to text and HTML.
type email struct {
	Title string
	Lines []string
	// Links are host pages: a host email has one, a group email one per host.
	Links []link
	Key   string
}

type link struct {
	Name, URL string
}

var textTmpl = template.Must(template.New("text").Parse(`{{.Title}}
{{range .Lines}}
{{.}}{{end}}
{{range .Links}}
{{.Name}}: {{.URL}}{{end}}

-- 
Vigil alert {{.Key}}
`))

var htmlTmpl = htmltemplate.Must(htmltemplate.New("html").Parse(`<!DOCTYPE html>
<html><body style="font-family: sans-serif">
<h2>{{.Title}}</h2>
{{range .Lines}}<p>{{.}}</p>
{{end}}{{if .Links}}<ul>
{{range .Links}}<li><a href="{{.URL}}">{{.Name}}</a></li>
{{end}}</ul>{{end}}
<p style="color: #888; font-size: small">Vigil alert {{.Key}}</p>
</body></html>
`))

// hostLink is the dashboard page of a host.
// hostLink links to a host's dashboard page. Its text is the host's name (and what follows it in
// name) with the host's short ID, so hosts that share a hostname can be told apart.
func (e *Engine) hostLink(id, name string) link {
	base := strings.TrimRight(e.cfg.PublicURL, "/")
	hostname, rest, _ := strings.Cut(name, " ")
	if rest != "" {
		rest = " " + rest
	}
	return link{Name: hostname + " [" + shortHostID(id) + "]" + rest, URL: base + "/hosts/" + url.PathEscape(id)}
}

// shortHostIDLen is how many characters of a host ID emails and lists show.
const shortHostIDLen = 8

func shortHostID(id string) string { return id[:min(len(id), shortHostIDLen)] }

// hostLabel is how subjects and titles name a host: its hostname, with its short ID when another
// host has the same hostname ("web-1 [3f2a9c01]").
func (e *Engine) hostLabel(hostname, id string) string {
	if e.hostnames[hostname] > 1 && id != "" {
		return hostname + " [" + shortHostID(id) + "]"
	}
	return hostname
}

// recipients are the server's default recipients plus the group's.
func (e *Engine) recipients(group string) []string {
	out := slices.Clone(e.cfg.Recipients)
	if g, ok := e.groups[group]; ok {
		for _, a := range g.AlertEmails {
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}

// MessageID derives an email's Message-ID (without angle brackets) from its idempotency key,
// so every attempt to send one notification carries the same Message-ID.
func MessageID(key, publicURL string) string {
	domain := "vigil.invalid"
	if u, err := url.Parse(publicURL); err == nil && u.Hostname() != "" {
		domain = u.Hostname()
	}
	sum := sha256.Sum256([]byte(key))
	return "vigil." + hex.EncodeToString(sum[:16]) + "@" + domain
}

// queue makes the notification for an event of a. A maintenance silence covering a holds back
// firing and reminder emails (queue marks a Suppressed and returns nil), but never a recovery
// email: callers queue one only when the firing email went out, and an operator who was told
// that a host went down must learn that it came back, even if maintenance began in between.
// Firing and reminder events stamp a.NotifiedAt.
func (e *Engine) queue(a *Alert, now time.Time, event, subject string, m email) []Notification {
	resolved := event == EventResolved || event == EventGroupResolved
	if !resolved && e.suppressed(a, now) {
		a.Suppressed = true
		return nil
	}
	a.Suppressed = false
	if !resolved {
		a.NotifiedAt = now
	}
	key := fmt.Sprintf("%s/%d/%s", a.Key, a.StartedAt.UnixMicro(), event)
	if event == EventReminder {
		key += fmt.Sprintf("/%d", a.Reminders)
	}
	m.Key = key
	var text, html bytes.Buffer
	if err := textTmpl.Execute(&text, m); err != nil {
		panic(fmt.Sprintf("alert: text template: %v", err)) // the template and data are ours
	}
	if err := htmlTmpl.Execute(&html, m); err != nil {
		panic(fmt.Sprintf("alert: HTML template: %v", err))
	}
	return []Notification{{
		Key: key, AlertKey: a.Key, HostID: a.HostID, Group: a.Group, Event: event,
		To: e.recipients(a.Group), Subject: "[vigil] " + subject, Text: text.String(), HTML: html.String(),
		MessageID: MessageID(key, e.cfg.PublicURL), CreatedAt: now, NextAttempt: now,
	}}
}

func (e *Engine) notifyFiring(a *Alert, now time.Time) []Notification {
	if a.HostID == "" {
		return e.queue(a, now, EventGroupFiring, "FIRING: "+a.Summary, email{
			Title: a.Summary, Lines: []string{"Silent since " + fmtClock(a.StartedAt) + "."}})
	}
	title := fmt.Sprintf("%s: %s", e.hostLabel(a.Hostname, a.HostID), a.RuleName)
	lines := []string{a.Summary + ".", fmt.Sprintf("Group %s, since %s.", a.Group, fmtClock(a.StartedAt))}
	if a.Kind == KindSilence {
		title = fmt.Sprintf("%s is silent", e.hostLabel(a.Hostname, a.HostID))
		lines = []string{a.Summary + ".", "Group " + a.Group + ". A recovery email follows when it reports again."}
	}
	return e.queue(a, now, EventFiring, "FIRING: "+title, email{Title: title, Lines: lines, Links: []link{e.hostLink(a.HostID, a.Hostname)}})
}

func (e *Engine) notifyReminder(a *Alert, now time.Time) []Notification {
	title := fmt.Sprintf("%s: %s", e.hostLabel(a.Hostname, a.HostID), a.RuleName)
	if a.HostID == "" {
		title = a.Summary
	}
	lines := []string{a.Summary + ".", fmt.Sprintf("Still firing, %s after it fired.", fmtDur(now.Sub(a.FiredAt)))}
	var links []link
	if a.HostID != "" {
		links = []link{e.hostLink(a.HostID, a.Hostname)}
	}
	return e.queue(a, now, EventReminder, "STILL FIRING: "+title, email{Title: title, Lines: lines, Links: links})
}

func (e *Engine) notifyResolved(a *Alert, now time.Time) []Notification {
	var title string
	var lines []string
	if a.Kind == KindSilence {
		d := a.BackAt.Sub(a.LastSeen)
		title = fmt.Sprintf("%s is reporting again after %s silent", e.hostLabel(a.Hostname, a.HostID), fmtDur(d))
		lines = []string{
			fmt.Sprintf("%s was silent for %s, from %s to %s.", a.Hostname, fmtDur(d), fmtClock(a.LastSeen), fmtClock(a.BackAt)),
			"Why: " + reasonText(a) + ".",
		}
	} else {
		title = fmt.Sprintf("%s: %s resolved", e.hostLabel(a.Hostname, a.HostID), a.RuleName)
		lines = []string{fmt.Sprintf("Cleared after firing for %s; last seen: %s.", fmtDur(a.RecoveringSince.Sub(a.FiredAt)), a.Summary)}
	}
	return e.queue(a, now, EventResolved, "RESOLVED: "+title, email{Title: title, Lines: lines, Links: []link{e.hostLink(a.HostID, a.Hostname)}})
}

// reasonText is the recovery reason of a silence alert for people.
func reasonText(a *Alert) string {
	switch a.Reason {
	case ReasonNetwork:
		return "network outage: the host was up but could not reach the server"
	case ReasonReboot:
		return "the host rebooted"
	}
	return "unknown (no connectivity outage reported, no reboot)"
}

func (e *Engine) notifyGroupFiring(ga *Alert, hosts []silentHost, others []*Alert, late, total int, now time.Time) []Notification {
	var links []link
	for _, s := range hosts {
		links = append(links, e.hostLink(s.st.ID, fmt.Sprintf("%s (silent, last report %s)", s.st.Hostname, fmtClock(s.st.LastSeen))))
	}
	for _, a := range others {
		links = append(links, e.hostLink(a.HostID, fmt.Sprintf("%s (late, last report %s)", a.Hostname, fmtClock(a.LastSeen))))
	}
	lines := []string{
		fmt.Sprintf("%d of the group's %d hosts are late or silent; %d of them are past their deadline.", late, total, len(hosts)),
		"This one email stands for them: hosts that go silent while it fires are added without further emails, and one recovery email follows when all report again.",
	}
	return e.queue(ga, now, EventGroupFiring, "FIRING: "+ga.Summary, email{Title: ga.Summary, Lines: lines, Links: links})
}

func (e *Engine) notifyGroupResolved(ga *Alert, now time.Time) []Notification {
	title := fmt.Sprintf("all %d silent hosts of group %s report again", len(ga.Hosts), ga.Group)
	lines := append([]string{fmt.Sprintf("The group alert fired at %s and lasted %s.", fmtClock(ga.FiredAt), fmtDur(now.Sub(ga.FiredAt)))}, ga.Details...)
	return e.queue(ga, now, EventGroupResolved, "RESOLVED: "+title, email{Title: title, Lines: lines})
}
