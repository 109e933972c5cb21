package app

import (
	"crypto/tls"
	"net/http"
)

// hstsMaxAge is how long browsers keep to HTTPS for this server once they have seen it (one
// year). Subdomains are not included: the server does not own its parent domain.
const hstsMaxAge = "max-age=31536000"

// securityHeaders sets headers every response carries. Handlers may override them (the
// dashboard sets its own Referrer-Policy and a Content-Security-Policy).
//   - Strict-Transport-Security on TLS connections, so a browser never falls back to plain HTTP;
//   - X-Frame-Options DENY: no page of the server is ever framed (clickjacking);
//   - X-Content-Type-Options nosniff: a response is only ever what its Content-Type says;
//   - Referrer-Policy no-referrer: URLs of this server do not leak into other sites' logs.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", hstsMaxAge)
		}
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// tls12CipherSuites are the TLS 1.2 suites the server accepts: forward-secret (ECDHE) and
// authenticated encryption (AES-GCM, ChaCha20-Poly1305) only, no CBC or SHA-1 MACs. TLS 1.3
// suites are not configurable and are all AEAD.
var tls12CipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}
