package pki

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
)

// Files names the certificate and key files written by WriteFiles.
type Files struct {
	Cert string // dir/<name>.pem
	Key  string // dir/<name>-key.pem, mode 0600
}

// WriteFiles writes the CA certificate followed by Chain to dir/<name>.pem
// and its key to dir/<name>-key.pem: the form LoadAuthority reads back.
func (a *Authority) WriteFiles(dir, name string) (Files, error) {
	certs := append([]*x509.Certificate{a.Cert}, a.Chain...)
	return writePair(dir, name, EncodeCertsPEM(certs...), a.Key)
}

// WriteFiles writes ChainPEM to dir/<name>.pem and the key to
// dir/<name>-key.pem: the certificate and private_key files of a listener or
// a client.
func (l *Leaf) WriteFiles(dir, name string) (Files, error) {
	return writePair(dir, name, l.ChainPEM(), l.Key)
}

func writePair(dir, name string, certPEM []byte, key crypto.Signer) (Files, error) {
	keyPEM, err := EncodeKeyPEM(key)
	if err != nil {
		return Files{}, fmt.Errorf("writing %s: %w", name, err)
	}
	f := Files{Cert: filepath.Join(dir, name+".pem"), Key: filepath.Join(dir, name+"-key.pem")}
	if err := writeFileAtomic(f.Key, keyPEM, 0o600); err != nil {
		return Files{}, err
	}
	if err := writeFileAtomic(f.Cert, certPEM, 0o644); err != nil {
		return Files{}, err
	}
	return f, nil
}

// writeFileAtomic writes data to a temporary file in the same directory and
// renames it over path, so that a process watching path (mtlslb serve
// reloads certificates on change) never reads a half-written file.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename this fails harmlessly
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
