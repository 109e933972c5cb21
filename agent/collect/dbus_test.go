package collect

import (
	"bufio"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilhq/vigil/wire"
)

// fakeSystemd is a tiny system bus with a systemd manager behind it: it speaks the server side of
// EXTERNAL authentication and answers Hello and Properties.Get from a table. It records every
// method called so tests can check the agent never lists units.
type fakeSystemd struct {
	props map[string]any // "<object path> <interface>.<property>" → string or uint32
	calls chan string
}

func startFakeSystemd(t *testing.T, props map[string]any) (addr string, calls <-chan string) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "bus")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	f := &fakeSystemd{props: props, calls: make(chan string, 100)}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(conn)
		}
	}()
	return "unix:path=" + sock, f.calls
}

func (f *fakeSystemd) serve(conn net.Conn) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	if b, err := r.ReadByte(); err != nil || b != 0 {
		return
	}
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "AUTH EXTERNAL ") {
		return
	}
	conn.Write([]byte("OK 0123456789abcdef0123456789abcdef\r\n"))
	if line, err := r.ReadString('\n'); err != nil || line != "BEGIN\r\n" {
		return
	}
	var serial uint32 = 1000
	for {
		m, err := readMessage(r)
		if err != nil {
			return
		}
		f.calls <- m.iface + "." + m.member
		serial++
		reply := []headerField{{code: fieldReplySerial, sig: 'u', u: m.serial}}
		var body encoder
		switch m.member {
		case "Hello":
			// Signals may arrive before the reply; the client must skip them.
			sig := encodeMessage(nil, 4, serial, []headerField{{code: fieldMember, sig: 's', s: "NameAcquired"}, {code: fieldSignature, sig: 'g', s: "s"}}, strBody(":1.5"))
			conn.Write(sig)
			body.str(":1.5")
			reply = append(reply, headerField{code: fieldSignature, sig: 'g', s: "s"})
		case "Get":
			d := decoder{b: m.body, order: m.order}
			iface, prop := d.str(), d.str()
			v, ok := f.props[m.path+" "+iface+"."+prop]
			if !ok {
				body.str("Unknown property")
				conn.Write(encodeMessage(nil, msgError, serial, append(reply,
					headerField{code: fieldErrorName, sig: 's', s: "org.freedesktop.DBus.Error.UnknownProperty"},
					headerField{code: fieldSignature, sig: 'g', s: "s"}), body.b))
				continue
			}
			switch v := v.(type) {
			case string:
				body.sig("s")
				body.str(v)
			case uint32:
				body.sig("u")
				body.u32(v)
			}
			reply = append(reply, headerField{code: fieldSignature, sig: 'g', s: "v"})
		default:
			return
		}
		conn.Write(encodeMessage(nil, msgMethodReturn, serial, reply, body.b))
	}
}

func strBody(s string) []byte {
	var e encoder
	e.str(s)
	return e.b
}

func TestUnitsOverFakeBus(t *testing.T) {
	const ssh = "/org/freedesktop/systemd1/unit/ssh_2eservice"
	const tmr = "/org/freedesktop/systemd1/unit/backup_2etimer"
	addr, calls := startFakeSystemd(t, map[string]any{
		ssh + " org.freedesktop.systemd1.Unit.ActiveState":  "active",
		ssh + " org.freedesktop.systemd1.Unit.SubState":     "running",
		ssh + " org.freedesktop.systemd1.Service.Result":    "success",
		ssh + " org.freedesktop.systemd1.Service.NRestarts": uint32(3),
		tmr + " org.freedesktop.systemd1.Unit.ActiveState":  "active",
		tmr + " org.freedesktop.systemd1.Unit.SubState":     "waiting",
	})
	c, err := New(Config{Disabled: others(NameUnits), WatchUnits: []string{"ssh.service", "backup.timer", "gone.service"}, SystemBus: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for cycle := range 2 { // the second cycle reuses the connection
		var r wire.Report
		c.Collect(t0, &r)
		want := []wire.Unit{
			{Name: "ssh.service", ActiveState: "active", SubState: "running", Result: "success", NRestarts: 3},
			{Name: "backup.timer", ActiveState: "active", SubState: "waiting"},
		}
		if len(r.Units) != len(want) {
			t.Fatalf("cycle %d: units = %+v, want %+v", cycle, r.Units, want)
		}
		for i := range want {
			if r.Units[i] != want[i] {
				t.Errorf("cycle %d: unit %d = %+v, want %+v", cycle, i, r.Units[i], want[i])
			}
		}
		if len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Message, "gone.service") {
			t.Errorf("cycle %d: want one error for the unknown unit, got %+v", cycle, r.Errors)
		}
	}
	close := len(calls)
	hello := 0
	for range close {
		switch m := <-calls; m {
		case "org.freedesktop.DBus.Hello":
			hello++
		case "org.freedesktop.DBus.Properties.Get":
		default:
			t.Errorf("unexpected call %s: the agent only reads properties of configured units", m)
		}
	}
	if hello != 1 {
		t.Errorf("Hello called %d times, want 1 (connection kept across cycles)", hello)
	}
}

func TestBusSocket(t *testing.T) {
	tests := []struct{ in, want string }{
		{"unix:path=/run/dbus/system_bus_socket", "/run/dbus/system_bus_socket"},
		{"tcp:host=x;unix:abstract=foo,guid=1", "@foo"},
		{"tcp:host=x", ""},
	}
	for _, tt := range tests {
		got, err := busSocket(tt.in)
		if got != tt.want || (err != nil) != (tt.want == "") {
			t.Errorf("busSocket(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func FuzzReadMessage(f *testing.F) {
	f.Add(encodeMessage(nil, msgMethodReturn, 7, []headerField{{code: fieldReplySerial, sig: 'u', u: 1}, {code: fieldSignature, sig: 'g', s: "v"}}, []byte{1, 's', 0, 0, 2, 0, 0, 0, 'o', 'k', 0}))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := readMessage(strings.NewReader(string(data)))
		if err != nil {
			return
		}
		d := decoder{b: m.body, order: m.order}
		d.sig()
		d.str()
		d.u32()
	})
}
