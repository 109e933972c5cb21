package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"

	"github.com/vigilhq/vigil/wire"
	"testing"
	"time"
)

// BenchmarkEncode is the simulator's cost of building one report's gzip-compressed batch body
// (the steady state: one report per request).
func BenchmarkEncode(b *testing.B) {
	s, err := newSim(Config{Server: "https://127.0.0.1:1", Hosts: 1, Duration: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	h := s.newHost(1, hostState{Credential: "x"})
	now := time.Now()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.pending = append(h.pending[:0], pendingReport{seq: uint64(i + 1), t: now})
		_, buf, _, _ := s.encode(h)
		s.bufPool.Put(buf)
	}
}

func BenchmarkJSONOnly(b *testing.B) {
	sh := newShape(1)
	var r wire.Report
	now := time.Now()
	var buf bytes.Buffer
	for i := 0; b.Loop(); i++ {
		sh.fill(&r, uint64(i+1), now, now, 10*time.Second, "1", nil)
		buf.Reset()
		json.NewEncoder(&buf).Encode(&r)
	}
}

func BenchmarkGzipOnly(b *testing.B) {
	sh := newShape(1)
	var r wire.Report
	now := time.Now()
	sh.fill(&r, 1, now, now, 10*time.Second, "1", nil)
	raw, _ := json.Marshal(&r)
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	for b.Loop() {
		buf.Reset()
		zw.Reset(&buf)
		zw.Write(raw)
		zw.Close()
	}
}
