package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The agent's configuration file is YAML, read by the small parser in this file rather than
// gopkg.in/yaml.v3, which adds about 300 KB to the stripped binary (the agent must stay under
// 6 MB). It reads the subset of YAML a hand-written configuration uses and refuses the rest with
// the line number, so nothing is ever silently misread:
//
//   - block mappings and block sequences (indented with spaces; "- " items may sit at the
//     indentation of their key, and "- key: value" starts a mapping inside an item);
//   - flow mappings and sequences on one line: {disks: false}, [ssh.service, {name: nginx}];
//   - plain, 'single-quoted' and "double-quoted" scalars; # comments; a leading "---".
//
// Refused: anchors, aliases, tags, block scalars (| and >), multi-line plain or flow values,
// several documents, tabs in indentation and duplicate keys. The tests check, by fuzzing, that
// whatever this parser accepts yaml.v3 reads to the same configuration.

// maxYAMLDepth bounds the nesting of the configuration document.
const maxYAMLDepth = 32

// ynode is a parsed YAML value: a scalar, a mapping (ordered keys) or a sequence.
type ynode struct {
	kind   ykind
	line   int
	str    string // scalar text, unescaped
	quoted bool   // the scalar was quoted (never null, never a bool keyword)
	keys   []string
	vals   []*ynode // mapping values, parallel to keys; sequence items
}

type ykind int

const (
	yScalar ykind = iota
	yMap
	ySeq
)

// isNull reports a null value: nothing, ~ or null.
func (n *ynode) isNull() bool {
	if n == nil {
		return true
	}
	if n.kind != yScalar || n.quoted {
		return false
	}
	switch n.str {
	case "", "~", "null", "Null", "NULL":
		return true
	}
	return false
}

type yline struct {
	num    int
	indent int
	text   string // without indentation and comment
}

type yparser struct {
	lines []yline
	pos   int
	depth int
}

type yamlError struct {
	line int
	msg  string
}

func (e *yamlError) Error() string {
	if e.line == 0 {
		return "yaml: " + e.msg
	}
	return fmt.Sprintf("yaml: line %d: %s", e.line, e.msg)
}

func yerr(line int, format string, args ...any) error {
	return &yamlError{line, fmt.Sprintf(format, args...)}
}

// parseYAML parses one document; an empty document is a nil node.
func parseYAML(src []byte) (*ynode, error) {
	if !utf8.Valid(src) {
		return nil, yerr(0, "not UTF-8")
	}
	p := &yparser{}
	text := strings.TrimPrefix(string(src), "\ufeff")
	for _, r := range text {
		if !yamlPrintable(r) {
			return nil, yerr(0, "control or non-printable character %U", r)
		}
	}
	for i, raw := range strings.Split(text, "\n") {
		num := i + 1
		raw = strings.TrimSuffix(raw, "\r")
		body := strings.TrimLeft(raw, " ")
		if strings.HasPrefix(body, "\t") {
			return nil, yerr(num, "tab in indentation")
		}
		body, err := stripComment(body, num)
		if err != nil {
			return nil, err
		}
		body = strings.TrimRight(body, " \t")
		if body == "" {
			continue
		}
		indent := len(raw) - len(strings.TrimLeft(raw, " "))
		if indent == 0 && (body == "---" || body == "...") {
			if body == "..." || len(p.lines) > 0 {
				return nil, yerr(num, "only one YAML document is supported")
			}
			continue
		}
		if indent == 0 && strings.HasPrefix(body, "%") {
			return nil, yerr(num, "YAML directives are not supported")
		}
		p.lines = append(p.lines, yline{num: num, indent: indent, text: body})
	}
	if len(p.lines) == 0 {
		return nil, nil
	}
	n, err := p.block(p.lines[0].indent)
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.lines) {
		return nil, yerr(p.lines[p.pos].num, "unexpected indentation")
	}
	return n, nil
}

// yamlPrintable reports the characters YAML allows in a stream (YAML 1.2 §5.1, as yaml.v3 checks).
func yamlPrintable(r rune) bool {
	switch {
	case r == '\t' || r == '\n' || r == '\r' || r == 0x85:
		return true
	case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
		return false
	case r == 0xfeff || r == 0xfffe || r == 0xffff:
		return false
	}
	return true
}

// stripComment removes a # comment (at the start or after white space, outside quotes).
func stripComment(s string, num int) (string, error) {
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == '"' && c == '\\':
			i++
		case quote != 0:
			if c == quote {
				if quote == '\'' && i+1 < len(s) && s[i+1] == '\'' {
					i++ // '' inside single quotes
				} else {
					quote = 0
				}
			}
		case c == '"' || c == '\'':
			// A quote opens a quoted scalar only where one can start.
			if i == 0 || strings.IndexByte(" [{,:-", s[i-1]) >= 0 {
				quote = c
			}
		case c == '#' && (i == 0 || s[i-1] == ' ' || s[i-1] == '\t'):
			return s[:i], nil
		}
	}
	if quote != 0 {
		return "", yerr(num, "unterminated quoted string (multi-line strings are not supported)")
	}
	return s, nil
}

// block parses the mapping or sequence whose lines start at column indent.
func (p *yparser) block(indent int) (*ynode, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxYAMLDepth {
		return nil, yerr(p.lines[p.pos].num, "nested too deeply")
	}
	if isSeqItem(p.lines[p.pos].text) {
		return p.sequence(indent)
	}
	return p.mapping(indent)
}

func isSeqItem(text string) bool { return text == "-" || strings.HasPrefix(text, "- ") }

func (p *yparser) mapping(indent int) (*ynode, error) {
	n := &ynode{kind: yMap, line: p.lines[p.pos].num}
	for p.pos < len(p.lines) {
		l := p.lines[p.pos]
		if l.indent < indent {
			break
		}
		if l.indent > indent {
			return nil, yerr(l.num, "unexpected indentation")
		}
		if isSeqItem(l.text) {
			return nil, yerr(l.num, "sequence item where a mapping key was expected")
		}
		key, rest, err := splitKey(l.text, l.num)
		if err != nil {
			return nil, err
		}
		for _, k := range n.keys {
			if k == key {
				return nil, yerr(l.num, "key %q defined twice", key)
			}
		}
		p.pos++
		var v *ynode
		if rest != "" {
			v, err = inline(rest, l.num)
		} else {
			v, err = p.nested(indent, l.num)
		}
		if err != nil {
			return nil, err
		}
		n.keys = append(n.keys, key)
		n.vals = append(n.vals, v)
	}
	return n, nil
}

// nested parses the block value of a key or item with nothing after it on its line: more
// indented lines, a sequence at the same indentation (after a key), or null.
func (p *yparser) nested(indent, num int) (*ynode, error) {
	if p.pos < len(p.lines) {
		next := p.lines[p.pos]
		if next.indent > indent || (next.indent == indent && isSeqItem(next.text) && !p.inSeqAt(indent)) {
			return p.block(next.indent)
		}
	}
	return &ynode{kind: yScalar, line: num}, nil // null
}

// inSeqAt reports whether the line before the current one is a sequence item at indent, that is,
// whether a "- " line at indent continues that sequence rather than starting a value.
func (p *yparser) inSeqAt(indent int) bool {
	prev := p.lines[p.pos-1]
	return prev.indent == indent && isSeqItem(prev.text)
}

func (p *yparser) sequence(indent int) (*ynode, error) {
	n := &ynode{kind: ySeq, line: p.lines[p.pos].num}
	for p.pos < len(p.lines) {
		l := p.lines[p.pos]
		if l.indent < indent || (l.indent == indent && !isSeqItem(l.text)) {
			break
		}
		if l.indent > indent {
			return nil, yerr(l.num, "unexpected indentation")
		}
		content := strings.TrimLeft(strings.TrimPrefix(l.text, "-"), " ")
		var v *ynode
		var err error
		switch {
		case content == "":
			p.pos++
			v, err = p.nested(indent, l.num)
		case isSeqItem(content) || looksLikeKey(content):
			// "- key: value" or "- - x": the item is a block starting at the content's column.
			col := l.indent + len(l.text) - len(content)
			p.lines[p.pos] = yline{num: l.num, indent: col, text: content}
			v, err = p.block(col)
		default:
			p.pos++
			v, err = inline(content, l.num)
		}
		if err != nil {
			return nil, err
		}
		n.vals = append(n.vals, v)
	}
	return n, nil
}

// looksLikeKey reports whether a line is a block mapping entry ("key: value" or "key:").
func looksLikeKey(text string) bool {
	if text == "" || strings.IndexByte("[{\"'", text[0]) >= 0 {
		return false
	}
	i := keyColon(text)
	return i > 0
}

// keyColon returns the index of the ':' ending a plain key, or -1.
func keyColon(text string) int {
	for i := 0; i < len(text); i++ {
		if text[i] == ':' && (i+1 == len(text) || text[i+1] == ' ') {
			return i
		}
	}
	return -1
}

// splitKey splits a block mapping line into its key and the rest of the line.
func splitKey(text string, num int) (key, rest string, err error) {
	if text[0] == '"' || text[0] == '\'' {
		k, n, err := quoted(text, num)
		if err != nil {
			return "", "", err
		}
		after := text[n:]
		if after != ":" && !strings.HasPrefix(after, ": ") {
			return "", "", yerr(num, "expected ':' after the key")
		}
		return k, strings.TrimSpace(after[1:]), nil
	}
	i := keyColon(text)
	if i <= 0 {
		return "", "", yerr(num, "expected 'key: value'")
	}
	key = strings.TrimRight(text[:i], " ")
	if strings.IndexByte("[]{},&*!|>%@`?#", key[0]) >= 0 {
		return "", "", yerr(num, "unsupported key %q", key)
	}
	return key, strings.TrimSpace(text[i+1:]), nil
}

// inline parses a value that sits on its key's or item's line.
func inline(s string, num int) (*ynode, error) {
	switch s[0] {
	case '{', '[':
		f := flow{s: s, num: num}
		n, err := f.value(0)
		if err != nil {
			return nil, err
		}
		f.space()
		if f.i != len(s) {
			return nil, yerr(num, "unexpected %q after a flow value", s[f.i:])
		}
		return n, nil
	case '"', '\'':
		v, n, err := quoted(s, num)
		if err != nil {
			return nil, err
		}
		if n != len(s) {
			return nil, yerr(num, "unexpected %q after a quoted string", s[n:])
		}
		return &ynode{kind: yScalar, line: num, str: v, quoted: true}, nil
	}
	if err := checkPlain(s, num); err != nil {
		return nil, err
	}
	if keyColon(s) >= 0 {
		return nil, yerr(num, "a mapping cannot start on the line of its key")
	}
	return &ynode{kind: yScalar, line: num, str: s}, nil
}

// checkPlain refuses plain scalars that mean something else in full YAML.
func checkPlain(s string, num int) error {
	switch s[0] {
	case '&', '*':
		return yerr(num, "anchors and aliases are not supported")
	case '!':
		return yerr(num, "tags are not supported")
	case '|', '>':
		return yerr(num, "block scalars are not supported")
	case '@', '`', '%', ']', '}', ',', '#':
		return yerr(num, "a plain value cannot start with %q", s[0])
	case '-', '?', ':':
		if len(s) == 1 || s[1] == ' ' {
			return yerr(num, "unexpected %q", s[:1])
		}
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return yerr(num, "control character in a value")
		}
	}
	return nil
}

// quoted reads a quoted scalar at the start of s and returns it and the bytes it used.
func quoted(s string, num int) (string, int, error) {
	q := s[0]
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == q && q == '\'' && i+1 < len(s) && s[i+1] == '\'':
			b.WriteByte('\'')
			i++
		case c == q:
			return b.String(), i + 1, nil
		case c == '\\' && q == '"':
			i++
			if i == len(s) {
				return "", 0, yerr(num, "unterminated quoted string")
			}
			switch e := s[i]; e {
			case '\\', '"', '/':
				b.WriteByte(e)
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case ' ':
				b.WriteByte(' ')
			case 'u':
				if i+4 >= len(s) {
					return "", 0, yerr(num, "bad \\u escape")
				}
				r, err := strconv.ParseUint(s[i+1:i+5], 16, 32)
				if err != nil || !utf8.ValidRune(rune(r)) {
					return "", 0, yerr(num, "bad \\u escape")
				}
				b.WriteRune(rune(r))
				i += 4
			default:
				return "", 0, yerr(num, "unsupported escape \\%c", e)
			}
		case c < ' ' && c != '\t' || c == 0x7f:
			return "", 0, yerr(num, "control character in a quoted string")
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, yerr(num, "unterminated quoted string")
}

// flow parses flow collections on one line.
type flow struct {
	s   string
	i   int
	num int
}

func (f *flow) space() {
	for f.i < len(f.s) && (f.s[f.i] == ' ' || f.s[f.i] == '\t') {
		f.i++
	}
}

func (f *flow) value(depth int) (*ynode, error) {
	if depth > maxYAMLDepth {
		return nil, yerr(f.num, "nested too deeply")
	}
	f.space()
	if f.i == len(f.s) {
		return nil, yerr(f.num, "unterminated flow collection (multi-line flow values are not supported)")
	}
	switch c := f.s[f.i]; c {
	case '{':
		return f.collection(depth, '}')
	case '[':
		return f.collection(depth, ']')
	case '"', '\'':
		v, n, err := quoted(f.s[f.i:], f.num)
		if err != nil {
			return nil, err
		}
		f.i += n
		return &ynode{kind: yScalar, line: f.num, str: v, quoted: true}, nil
	}
	start := f.i
	for f.i < len(f.s) {
		c := f.s[f.i]
		if strings.IndexByte(",[]{}", c) >= 0 || c == ':' && (f.i+1 == len(f.s) || strings.IndexByte(" ,]}", f.s[f.i+1]) >= 0) ||
			c == '#' && f.s[f.i-1] == ' ' {
			break
		}
		f.i++
	}
	v := strings.TrimRight(f.s[start:f.i], " \t")
	if v == "" {
		return nil, yerr(f.num, "missing value in a flow collection")
	}
	if err := checkPlain(v, f.num); err != nil {
		return nil, err
	}
	return &ynode{kind: yScalar, line: f.num, str: v}, nil
}

func (f *flow) collection(depth int, end byte) (*ynode, error) {
	n := &ynode{kind: ySeq, line: f.num}
	if end == '}' {
		n.kind = yMap
	}
	f.i++ // the opening bracket
	for first := true; ; first = false {
		f.space()
		if f.i < len(f.s) && f.s[f.i] == end {
			f.i++
			return n, nil
		}
		if !first {
			if f.i == len(f.s) || f.s[f.i] != ',' {
				return nil, yerr(f.num, "expected ',' or %q in a flow collection", end)
			}
			f.i++
			f.space()
			if f.i < len(f.s) && f.s[f.i] == end {
				f.i++ // a trailing comma
				return n, nil
			}
		}
		if n.kind == ySeq {
			v, err := f.value(depth + 1)
			if err != nil {
				return nil, err
			}
			if v.kind == yScalar && !v.quoted && f.i < len(f.s) && f.s[f.i] == ':' {
				return nil, yerr(f.num, "mappings inside flow sequences need braces")
			}
			n.vals = append(n.vals, v)
			continue
		}
		k, err := f.value(depth + 1)
		if err != nil {
			return nil, err
		}
		if k.kind != yScalar {
			return nil, yerr(f.num, "a mapping key must be a string")
		}
		f.space()
		if f.i == len(f.s) || f.s[f.i] != ':' {
			return nil, yerr(f.num, "expected ':' after %q", k.str)
		}
		f.i++
		for _, have := range n.keys {
			if have == k.str {
				return nil, yerr(f.num, "key %q defined twice", k.str)
			}
		}
		f.space()
		var v *ynode
		if f.i < len(f.s) && (f.s[f.i] == ',' || f.s[f.i] == end) {
			v = &ynode{kind: yScalar, line: f.num} // null
		} else if v, err = f.value(depth + 1); err != nil {
			return nil, err
		}
		n.keys = append(n.keys, k.str)
		n.vals = append(n.vals, v)
	}
}

// Decoding into Go values: the strict counterparts of yaml.v3's rules.

func yString(n *ynode, what string) (string, error) {
	if n.isNull() {
		return "", nil
	}
	if n.kind != yScalar {
		return "", yerr(n.line, "%s must be a string", what)
	}
	return n.str, nil
}

func yBool(n *ynode, what string) (bool, error) {
	if n.kind == yScalar {
		switch n.str {
		case "y", "Y", "yes", "Yes", "YES", "on", "On", "ON":
			return true, nil
		case "n", "N", "no", "No", "NO", "off", "Off", "OFF":
			return false, nil
		}
		if !n.quoted {
			switch n.str {
			case "true", "True", "TRUE":
				return true, nil
			case "false", "False", "FALSE":
				return false, nil
			}
		}
	}
	return false, yerr(n.line, "%s must be true or false", what)
}

func yInt(n *ynode, what string) (int64, error) {
	if n.isNull() {
		return 0, nil
	}
	s := strings.TrimPrefix(n.str, "-")
	if n.kind != yScalar || n.quoted || s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, yerr(n.line, "%s must be a whole number", what)
	}
	v, err := strconv.ParseInt(n.str, 10, 64)
	if err != nil {
		return 0, yerr(n.line, "%s: %v", what, errors.Unwrap(err))
	}
	return v, nil
}

// yMapping calls fn for each key of a mapping (null is an empty mapping).
func yMapping(n *ynode, what string, fn func(key string, v *ynode) error) error {
	if n.isNull() {
		return nil
	}
	if n.kind != yMap {
		return yerr(n.line, "%s must be a mapping", what)
	}
	for i, k := range n.keys {
		if err := fn(k, n.vals[i]); err != nil {
			return err
		}
	}
	return nil
}

// ySequence calls fn for each item of a sequence (null is an empty sequence). Null items are
// refused (yaml.v3 drops some and keeps others).
func ySequence(n *ynode, what string, fn func(v *ynode) error) error {
	if n.isNull() {
		return nil
	}
	if n.kind != ySeq {
		return yerr(n.line, "%s must be a list", what)
	}
	for _, v := range n.vals {
		if v.isNull() {
			return yerr(v.line, "empty item in %s", what)
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	return nil
}

func unknownField(n *ynode, key, in string) error {
	return yerr(n.line, "field %s not found in %s", key, in)
}
