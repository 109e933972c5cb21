package updater

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/vigilhq/vigil/wire"
)

const (
	// eventsPath is where update events are posted.
	eventsPath = "/api/v1/updates/events"
	// maxRefusalLog bounds how much of the server's error message a log line repeats.
	maxRefusalLog = 256
	// causeClockAhead is the refusal cause of an event stamped by a clock too far ahead.
	causeClockAhead = "clock ahead"
)

// postEvent posts one event of the outbox. An event the server refuses (a 4xx other than 401
// and 429) counts as delivered, since posting it again cannot change the answer, and the updater
// says so at WARN once per cause, with the server's message and what to do, until an event goes
// through as it was.
//
// One refusal is repaired instead: an event stamped more than wire.MaxClockAhead after the
// server's clock (its Date header) is refused whatever it says, and the outcome it carries (a
// check that failed on metadata that looks expired to this host) is what the operator needs to
// see. It is posted once more, under the same ID, with the server's time and the skew noted in
// its reason, which passes today's validation: no contract changes and the server stores no
// future time. A kill between the two posts posts both again; the ID makes the server record it
// once.
func (u *Updater) postEvent(ctx context.Context, e wire.UpdateEvent) error {
	err := u.api.do(ctx, http.MethodPost, eventsPath, e, nil, 0)
	ae, refused := refusal(err)
	if !refused {
		if err == nil {
			u.eventRefusal = ""
		}
		return err
	}
	skew, ahead := clockAhead(e.Time, ae.Date)
	if !ahead {
		u.warnRefused(ctx, fmt.Sprint(ae.Status, ae.Code, ae.Message), e, ae,
			"The server refused an update event; it is dropped, since sending it again cannot help.")
		return nil
	}
	u.warnRefused(ctx, causeClockAhead, e, ae, fmt.Sprintf(
		"The server refused an update event: this host's clock is %s ahead of the server's. Fix the host's clock (NTP): "+
			"it cannot update until then. Events are sent again with the server's time and the skew noted.", skew))
	err = u.api.do(ctx, http.MethodPost, eventsPath, clamped(e, ae.Date, skew), nil, 0)
	if ae, refused := refusal(err); refused {
		u.warnRefused(ctx, fmt.Sprint(ae.Status, ae.Code, ae.Message), e, ae,
			"The server refused an update event sent again with its time; it is dropped.")
		return nil
	}
	return err
}

// refusal returns the server's answer when err is a refusal a retry cannot change: a 4xx other
// than 401 (the agent may enroll again) and 429 (rate limited). 5xx and 429 are statusErrors.
func refusal(err error) (*apiError, bool) {
	var ae *apiError
	if !errors.As(err, &ae) || ae.Status == http.StatusUnauthorized || ae.Status == http.StatusTooManyRequests || ae.Status >= 500 {
		return nil, false
	}
	return ae, true
}

// clockAhead returns how far t is ahead of the server's clock when that is more than the server
// accepts (wire.MaxClockAhead). Unknown (no Date) is not ahead.
func clockAhead(t, server time.Time) (time.Duration, bool) {
	if server.IsZero() {
		return 0, false
	}
	skew := t.Sub(server)
	return skew.Round(time.Second), skew > wire.MaxClockAhead
}

// clamped returns e stamped with the server's time and the skew noted at the end of its reason,
// shortened to fit wire.MaxMessageLen.
func clamped(e wire.UpdateEvent, server time.Time, skew time.Duration) wire.UpdateEvent {
	note := fmt.Sprintf("[host clock %s ahead of the server; time set to the server's]", skew)
	reason := e.Reason
	if room := wire.MaxMessageLen - len(note) - 1; len(reason) > room {
		reason = strings.ToValidUTF8(reason[:room], "")
	}
	if reason != "" {
		reason += " "
	}
	e.Reason = reason + note
	e.Time = server.UTC()
	return e
}

// warnRefused logs a refused event at WARN when its cause differs from the last one logged, at
// DEBUG otherwise.
func (u *Updater) warnRefused(ctx context.Context, cause string, e wire.UpdateEvent, ae *apiError, msg string) {
	level := slog.LevelWarn
	if cause == u.eventRefusal {
		level = slog.LevelDebug
	}
	u.eventRefusal = cause
	m := ae.Message
	if len(m) > maxRefusalLog {
		m = strings.ToValidUTF8(m[:maxRefusalLog], "") + "…"
	}
	u.log.Log(ctx, level, msg, keyStatus, ae.Status, keyCode, ae.Code, keyServerMessage, m,
		keyPhase, e.Phase, keyResult, e.Result, keyVersion, e.ToVersion)
}
