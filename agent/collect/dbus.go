package collect

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// This file is a minimal, read-only D-Bus client: EXTERNAL authentication, Hello, and method calls
// with string arguments whose reply is a single variant holding a string or a uint32. That is all
// the units collector needs (org.freedesktop.DBus.Properties.Get on the configured units).
//
// The agent does not link github.com/godbus/dbus/v5: it imports os/exec (to autolaunch a session
// bus) and os/user, and the agent binary must not link a way to run programs (cmd/vigil-agent
// TestDeps). Everything read from the bus is bounded (maxBusMessage).

const (
	maxBusMessage = 64 << 10 // largest header or body accepted from the bus
	maxSkipped    = 64       // unrelated messages (signals) skipped while waiting for a reply
)

// D-Bus message types and header field codes.
const (
	msgMethodCall   = 1
	msgMethodReturn = 2
	msgError        = 3

	fieldPath        = 1
	fieldInterface   = 2
	fieldMember      = 3
	fieldErrorName   = 4
	fieldReplySerial = 5
	fieldDestination = 6
	fieldSignature   = 8
)

// busError is an error reply from the bus or the peer, as opposed to a transport failure.
type busError struct{ name, msg string }

func (e *busError) Error() string { return e.name + ": " + e.msg }

// busValue is the content of a variant: its signature and a string or uint32 value.
type busValue struct {
	sig string
	s   string
	u   uint32
}

// busConn is one connection to a message bus. It is NOT safe for concurrent use.
type busConn struct {
	conn    net.Conn
	r       *bufio.Reader
	serial  uint32
	timeout time.Duration
	wbuf    []byte
}

// busSocket returns the socket path of the first unix: address in a D-Bus address list.
func busSocket(addr string) (string, error) {
	for a := range strings.SplitSeq(addr, ";") {
		rest, ok := strings.CutPrefix(a, "unix:")
		if !ok {
			continue
		}
		for kv := range strings.SplitSeq(rest, ",") {
			if p, ok := strings.CutPrefix(kv, "path="); ok {
				return p, nil
			}
			if p, ok := strings.CutPrefix(kv, "abstract="); ok {
				return "@" + p, nil
			}
		}
	}
	return "", fmt.Errorf("no unix socket in bus address %q", addr)
}

func dialBus(addr string, timeout time.Duration) (*busConn, error) {
	path, err := busSocket(addr)
	if err != nil {
		return nil, err
	}
	conn, err := net.DialTimeout("unix", path, timeout)
	if err != nil {
		return nil, err
	}
	b := &busConn{conn: conn, r: bufio.NewReaderSize(conn, 4096), timeout: timeout}
	if err := b.auth(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("authenticate to system bus: %w", err)
	}
	if _, err := b.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "Hello"); err != nil {
		conn.Close()
		return nil, fmt.Errorf("hello to system bus: %w", err)
	}
	return b, nil
}

func (b *busConn) Close() error { return b.conn.Close() }

func (b *busConn) auth() error {
	b.conn.SetDeadline(time.Now().Add(b.timeout))
	uid := strconv.Itoa(os.Getuid())
	if _, err := fmt.Fprintf(b.conn, "\x00AUTH EXTERNAL %x\r\n", uid); err != nil {
		return err
	}
	line, err := b.readLine()
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "OK ") {
		return fmt.Errorf("server answered %q", line)
	}
	_, err = io.WriteString(b.conn, "BEGIN\r\n")
	return err
}

func (b *busConn) readLine() (string, error) {
	var sb strings.Builder
	for sb.Len() < 512 {
		c, err := b.r.ReadByte()
		if err != nil {
			return "", err
		}
		if c == '\n' {
			return strings.TrimSuffix(sb.String(), "\r"), nil
		}
		sb.WriteByte(c)
	}
	return "", errors.New("auth line too long")
}

// call makes a method call with string arguments and returns the reply's single variant, if the
// reply body is one ("v"); other reply bodies are ignored.
func (b *busConn) call(dest, path, iface, member string, args ...string) (busValue, error) {
	b.serial++
	serial := b.serial
	var body encoder
	for _, a := range args {
		body.str(a)
	}
	fields := []headerField{
		{code: fieldPath, sig: 'o', s: path},
		{code: fieldInterface, sig: 's', s: iface},
		{code: fieldMember, sig: 's', s: member},
		{code: fieldDestination, sig: 's', s: dest},
	}
	if len(args) > 0 {
		fields = append(fields, headerField{code: fieldSignature, sig: 'g', s: strings.Repeat("s", len(args))})
	}
	b.wbuf = encodeMessage(b.wbuf[:0], msgMethodCall, serial, fields, body.b)
	b.conn.SetDeadline(time.Now().Add(b.timeout))
	if _, err := b.conn.Write(b.wbuf); err != nil {
		return busValue{}, err
	}
	for range maxSkipped {
		m, err := readMessage(b.r)
		if err != nil {
			return busValue{}, err
		}
		if (m.typ != msgMethodReturn && m.typ != msgError) || m.replySerial != serial {
			continue // a signal such as NameAcquired, or a late reply
		}
		d := decoder{b: m.body, order: m.order}
		if m.typ == msgError {
			e := &busError{name: m.errorName}
			if strings.HasPrefix(m.signature, "s") {
				e.msg = d.str()
			}
			return busValue{}, e
		}
		if m.signature != "v" {
			return busValue{}, nil
		}
		var v busValue
		v.sig = d.sig()
		switch v.sig {
		case "s", "o":
			v.s = d.str()
		case "u":
			v.u = d.u32()
		}
		if d.err != nil {
			return busValue{}, d.err
		}
		return v, nil
	}
	return busValue{}, errors.New("no reply among the messages received")
}

type headerField struct {
	code byte
	sig  byte // 's', 'o', 'g' or 'u'
	s    string
	u    uint32
}

// encoder appends little-endian D-Bus values. Offsets are relative to the start of b, which must
// be 8-aligned in the message (the start of the message or of the body).
type encoder struct{ b []byte }

func (e *encoder) pad(n int) {
	for len(e.b)%n != 0 {
		e.b = append(e.b, 0)
	}
}
func (e *encoder) u32(v uint32) { e.pad(4); e.b = binary.LittleEndian.AppendUint32(e.b, v) }
func (e *encoder) str(s string) { e.u32(uint32(len(s))); e.b = append(append(e.b, s...), 0) }
func (e *encoder) sig(s string) { e.b = append(append(append(e.b, byte(len(s))), s...), 0) }

func encodeMessage(dst []byte, typ byte, serial uint32, fields []headerField, body []byte) []byte {
	e := encoder{b: dst}
	e.b = append(e.b, 'l', typ, 0, 1)
	e.u32(uint32(len(body)))
	e.u32(serial)
	lenAt := len(e.b)
	e.u32(0)
	e.pad(8)
	start := len(e.b)
	for _, f := range fields {
		e.pad(8)
		e.b = append(e.b, f.code)
		e.sig(string(f.sig))
		switch f.sig {
		case 'g':
			e.sig(f.s)
		case 'u':
			e.u32(f.u)
		default:
			e.str(f.s)
		}
	}
	binary.LittleEndian.PutUint32(e.b[lenAt:], uint32(len(e.b)-start))
	e.pad(8)
	return append(e.b, body...)
}

// busMessage is a decoded message: the header fields the client uses and the raw body.
type busMessage struct {
	order                     binary.ByteOrder
	typ                       byte
	serial, replySerial       uint32
	path, iface, member, dest string
	errorName, signature      string
	body                      []byte
}

func readMessage(r io.Reader) (*busMessage, error) {
	var fixed [16]byte
	if _, err := io.ReadFull(r, fixed[:]); err != nil {
		return nil, err
	}
	m := &busMessage{typ: fixed[1]}
	switch fixed[0] {
	case 'l':
		m.order = binary.LittleEndian
	case 'B':
		m.order = binary.BigEndian
	default:
		return nil, fmt.Errorf("bad endianness byte %q", fixed[0])
	}
	bodyLen := m.order.Uint32(fixed[4:])
	m.serial = m.order.Uint32(fixed[8:])
	fieldsLen := m.order.Uint32(fixed[12:])
	if bodyLen > maxBusMessage || fieldsLen > maxBusMessage {
		return nil, errors.New("message from bus too large")
	}
	hdrEnd := (16 + int(fieldsLen) + 7) &^ 7
	msg := make([]byte, hdrEnd+int(bodyLen))
	copy(msg, fixed[:])
	if _, err := io.ReadFull(r, msg[16:]); err != nil {
		return nil, err
	}
	d := decoder{b: msg[:16+fieldsLen], pos: 16, order: m.order}
	for d.err == nil && d.pos < len(d.b) {
		d.align(8)
		code := d.byte()
		sig := d.sig()
		var s string
		var u uint32
		switch sig {
		case "s", "o":
			s = d.str()
		case "g":
			s = d.sig()
		case "u":
			u = d.u32()
		default:
			return nil, fmt.Errorf("unsupported header field type %q", sig)
		}
		switch code {
		case fieldPath:
			m.path = s
		case fieldInterface:
			m.iface = s
		case fieldMember:
			m.member = s
		case fieldErrorName:
			m.errorName = s
		case fieldReplySerial:
			m.replySerial = u
		case fieldDestination:
			m.dest = s
		case fieldSignature:
			m.signature = s
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	m.body = msg[hdrEnd:]
	return m, nil
}

// decoder reads D-Bus values from b; positions are relative to an 8-aligned start. The first
// out-of-range read sets err and every later read returns zero values.
type decoder struct {
	b     []byte
	pos   int
	order binary.ByteOrder
	err   error
}

func (d *decoder) need(n int) bool {
	if d.err == nil && (n < 0 || d.pos+n > len(d.b)) {
		d.err = errors.New("truncated D-Bus message")
	}
	return d.err == nil
}

func (d *decoder) align(n int) {
	p := (d.pos + n - 1) &^ (n - 1)
	if d.need(p - d.pos) {
		d.pos = p
	}
}

func (d *decoder) byte() byte {
	if !d.need(1) {
		return 0
	}
	d.pos++
	return d.b[d.pos-1]
}

func (d *decoder) u32() uint32 {
	d.align(4)
	if !d.need(4) {
		return 0
	}
	d.pos += 4
	return d.order.Uint32(d.b[d.pos-4:])
}

func (d *decoder) str() string {
	n := d.u32()
	if n > maxBusMessage || !d.need(int(n)+1) {
		d.need(-1)
		return ""
	}
	s := string(d.b[d.pos : d.pos+int(n)])
	d.pos += int(n) + 1
	return s
}

func (d *decoder) sig() string {
	n := int(d.byte())
	if !d.need(n + 1) {
		return ""
	}
	s := string(d.b[d.pos : d.pos+n])
	d.pos += n + 1
	return s
}
