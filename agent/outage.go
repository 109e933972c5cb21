package agent

import (
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"time"

	"github.com/vigilhq/vigil/atomicfile"
	"github.com/vigilhq/vigil/wire"
)

// outageLog records connectivity outages: the open one, from the first failed delivery, and the
// ended ones waiting to ride along with the next report. Both are persisted (temp+fsync+rename) on
// every change, which happens only when connectivity changes, so a restart during an outage keeps
// its true start.
type outageLog struct {
	path string
	Open *wire.Outage  // open since the first failed delivery
	done []wire.Outage // ended, not yet in a spooled report
}

type outageFile struct {
	Open *wire.Outage  `json:"open,omitempty"`
	Done []wire.Outage `json:"done,omitempty"`
}

func (o *outageLog) load(log *slog.Logger) {
	data, err := os.ReadFile(o.path)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	var f outageFile
	if err == nil {
		err = json.Unmarshal(data, &f)
	}
	if err != nil {
		log.Warn("Ignoring unreadable pending outages.", keyError, err)
		return
	}
	o.Open, o.done = f.Open, f.Done
	if len(o.done) > wire.MaxOutages {
		o.done = o.done[len(o.done)-wire.MaxOutages:]
	}
}

func (o *outageLog) save(log *slog.Logger) {
	if o.Open == nil && len(o.done) == 0 {
		if err := os.Remove(o.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			log.Warn("Could not clear pending outages.", keyError, err)
		}
		return
	}
	data, _ := json.Marshal(outageFile{Open: o.Open, Done: o.done})
	if err := atomicfile.Write(o.path, data, 0o600); err != nil {
		log.Warn("Could not persist pending outages.", keyError, err)
	}
}

// fail notes a failed delivery; the first one opens an outage.
func (o *outageLog) fail(now time.Time, se *sendError, log *slog.Logger) {
	if o.Open != nil {
		return
	}
	o.Open = &wire.Outage{Start: now.UTC().Truncate(time.Millisecond), Class: se.class, Detail: se.detail}
	o.save(log)
}

// end closes the open outage, if any, and reports whether there was one.
func (o *outageLog) end(now time.Time, log *slog.Logger) bool {
	if o.Open == nil {
		return false
	}
	out := *o.Open
	out.End = now.UTC().Truncate(time.Millisecond)
	if out.End.Before(out.Start) {
		out.End = out.Start // the clock stepped back
	}
	o.Open = nil
	if len(o.done) >= wire.MaxOutages {
		o.done = o.done[1:]
	}
	o.done = append(o.done, out)
	o.save(log)
	return true
}

// attached forgets the ended outages once a spooled report carries them.
func (o *outageLog) attached(log *slog.Logger) {
	o.done = nil
	o.save(log)
}
