package collect

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/vigilhq/vigil/wire"
)

const (
	systemdDest     = "org.freedesktop.systemd1"
	systemdUnitPath = "/org/freedesktop/systemd1/unit/"
	ifaceUnit       = "org.freedesktop.systemd1.Unit"
	ifaceService    = "org.freedesktop.systemd1.Service"
	ifaceProps      = "org.freedesktop.DBus.Properties"
)

// unitState holds the system bus connection, kept open across cycles.
type unitState struct {
	bus *busConn
}

func (s *unitState) close() {
	if s.bus != nil {
		s.bus.Close()
		s.bus = nil
	}
}

// collectUnits reads ActiveState and SubState, and for services Result and NRestarts, of each
// configured unit with org.freedesktop.DBus.Properties.Get on the unit's object path. Only the
// configured units are asked about; the agent never lists units. A host without a system bus
// (a container, a non-systemd system) reports no units and no error.
func (c *Collector) collectUnits(_ time.Time, r *wire.Report) error {
	if len(c.cfg.WatchUnits) == 0 {
		c.units.close()
		return nil
	}
	if c.units.bus == nil {
		bus, err := dialBus(c.cfg.SystemBus, c.cfg.BusTimeout)
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil
		}
		if err != nil {
			return err
		}
		c.units.bus = bus
	}
	var errs []error
	for _, name := range c.cfg.WatchUnits {
		if len(r.Units) >= wire.MaxUnits {
			break
		}
		u, err := c.unit(name)
		var be *busError
		if errors.As(err, &be) {
			errs = append(errs, fmt.Errorf("unit %s: %w", name, err))
			continue
		}
		if err != nil {
			c.units.close() // the connection is in an unknown state: redial next cycle
			return fmt.Errorf("unit %s: %w", name, err)
		}
		r.Units = append(r.Units, u)
	}
	return errors.Join(errs...)
}

func (c *Collector) unit(name string) (wire.Unit, error) {
	bus := c.units.bus
	path := systemdUnitPath + escapeBusLabel(name)
	get := func(iface, prop string) (busValue, error) {
		return bus.call(systemdDest, path, ifaceProps, "Get", iface, prop)
	}
	u := wire.Unit{Name: name}
	v, err := get(ifaceUnit, "ActiveState")
	if err != nil {
		return u, err
	}
	u.ActiveState = v.s
	if v, err = get(ifaceUnit, "SubState"); err != nil {
		return u, err
	}
	u.SubState = v.s
	if strings.HasSuffix(name, ".service") {
		if v, err = get(ifaceService, "Result"); err == nil {
			u.Result = v.s
		}
		if v, err = get(ifaceService, "NRestarts"); err == nil {
			u.NRestarts = v.u
		}
		var be *busError
		if err != nil && !errors.As(err, &be) {
			return u, err // transport failure; a missing property on an old systemd is fine
		}
	}
	return u, nil
}

// escapeBusLabel escapes a unit name into an object path element the way systemd does
// (bus_label_escape): every byte but ASCII letters, and digits after the first byte, becomes _xx.
func escapeBusLabel(s string) string {
	if s == "" {
		return "_"
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || (i > 0 && ch >= '0' && ch <= '9') {
			b.WriteByte(ch)
			continue
		}
		fmt.Fprintf(&b, "_%02x", ch)
	}
	return b.String()
}
