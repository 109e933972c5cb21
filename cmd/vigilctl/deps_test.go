package main

import (
	"testing"

	"github.com/vigilhq/vigil/depstest"
)

// TestDeps fails if vigilctl links a package it must never link. Run with -count=1: the test cache
// can hide a newly added import.
func TestDeps(t *testing.T) {
	depstest.Forbid(t, "vigilctl", map[string]string{
		"database/sql":                             "vigilctl talks to the API, never to a database",
		"modernc.org/sqlite":                       "vigilctl talks to the API, never to a database",
		"github.com/jackc/pgx/v5":                  "vigilctl talks to the API, never to a database",
		"github.com/vigilhq/vigil/server":          "vigilctl speaks the operator API through api and apiclient, never links the server",
		"github.com/wneessen/go-mail":              "the server's SMTP sender has no place in a client",
		"github.com/gorilla/mux":                   "the server's router has no place in a client",
		"github.com/prometheus/client_golang":      "the server's metrics have no place in a client",
		"github.com/vigilhq/vigil/agent":           "vigilctl is not an agent",
		"github.com/vigilhq/vigil/updater":         "vigilctl is not an updater",
		"github.com/hashicorp/vault/api":           "KMS providers stay out of vigilctl's default build (see signing/doc.go)",
		"cloud.google.com/go/kms":                  "KMS providers stay out of vigilctl's default build (see signing/doc.go)",
		"github.com/aws/aws-sdk-go-v2/service/kms": "KMS providers stay out of vigilctl's default build (see signing/doc.go)",
	})
}
