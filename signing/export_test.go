package signing

import (
	"crypto/x509"
	"encoding/pem"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
)

func init() {
	// Key file tests check the format, not the cost: use the cheapest
	// scrypt parameters go-securesystemslib has (N=2^15).
	kdfStrength = encrypted.Legacy
}

func x509MarshalPKCS8(k *Key) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.priv)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
