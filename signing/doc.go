// Package signing generates, stores and loads the keys that sign Vigil's
// release repository, and turns them into TUF keys and go-tuf signers.
//
// # Trust model
//
// The release repository is a TUF repository (see package release) with four
// top-level roles:
//
//	root keys      (offline, release engineers) -(sign)-> root.json: every key and threshold
//	targets keys   (offline, release engineers) -(sign)-> targets.json: which builds exist, channels, floors
//	snapshot key   (online, vigil-server)       -(sign)-> snapshot.json: which targets.json is current
//	timestamp key  (online, vigil-server)       -(sign)-> timestamp.json: freshness
//
// Root and targets keys never touch the server: release engineers hold them in
// encrypted key files or in a KMS, and sign with vigilctl on their own
// machines. The server holds only the snapshot and timestamp keys, so a
// compromised server can at worst freeze clients on old metadata (until the
// timestamp expires) or withhold updates; it cannot make a client accept a
// build, a channel move or a downgrade that the targets threshold did not sign.
//
// # Keys
//
// Three key types are supported: ed25519 (the default), ECDSA P-256 and
// RSA-PSS 3072 (SHA-256, salt length = hash length; verifiers accept any salt
// length). Signing goes through sigstore/sigstore signature.SignerVerifier; the
// TUF form of a key and its key ID come from go-tuf (metadata.KeyFromPublicKey,
// Key.ID: SHA-256 over the canonical JSON of the key, as the TUF specification
// says), so the key IDs in signatures made by go-tuf's Metadata.Sign always
// match the key IDs written into root.json.
//
// # Key files
//
// A private key is stored as PEM block "ENCRYPTED SIGSTORE PRIVATE KEY" (the
// format of sigstore's cryptoutils and cosign): the PKCS#8 DER of the key
// encrypted with go-securesystemslib's "encrypted" package, which derives a
// key from the passphrase with scrypt (N=2^17, r=8, p=1, the OWASP level, with
// a random salt) and seals with NaCl secretbox (XSalsa20-Poly1305). The
// parameters are stored in the file. The file is written with mode
// 0600 and never over an existing file; the public key is written beside it as
// a PKIX "PUBLIC KEY" PEM file named <file>.pub. Passphrases come from a
// PassphraseFunc the caller supplies (a terminal prompt, a file or the
// VIGIL_KEY_PASSPHRASE environment variable; never a command-line flag). An
// empty passphrase is refused, and so is loading an unencrypted private key
// unless the caller asks for it with LoadOptions.InsecureAllowUnencrypted. A
// wrong passphrase is reported as ErrBadPassphrase.
//
// # KMS keys
//
// A key reference containing "://" is a KMS URI and is resolved with sigstore's
// kms.Get, so the private key never leaves the KMS. This package links no
// cloud provider: a provider (aws, gcpkms, azurekms, hashivault) pulls in its
// cloud SDK, tens of modules, into vigilctl. Providers are reached instead in
// one of two ways, both through the same kms.SignerVerifier interface:
//
//   - sigstore's KMS plugin protocol, built into kms.Get: a reference
//     "<name>://<key>" with no linked provider runs the program
//     "sigstore-kms-<name>" from PATH (see sigstore's kms/cliplugin);
//   - a binary that wants a provider linked in imports it (a file behind a
//     build tag in cmd/vigilctl is enough: the provider registers itself with
//     kms.AddProvider in its init function).
//
// RSA keys in a KMS must be configured for RSA-PSS with SHA-256: TUF's
// rsassa-pss-sha256 scheme has no PKCS#1 v1.5 form.
//
// # Concurrency
//
// A Key is safe for concurrent use, except that file and KMS backed keys
// inherit whatever guarantees the underlying sigstore signer gives.
package signing
