package updater

import "os"

// Log attribute keys.
const (
	keyError    = "error"
	keyVersion  = "version"
	keyPrevious = "previous"
	keyTarget   = "target"
	keyReason   = "reason"
	keyStep     = "step"
	keyPID      = "pid"
	keyBinary   = "binary"
	keyDelay    = "delay"

	keyStatus        = "status"
	keyCode          = "code"
	keyServerMessage = "server_message"
	keyPhase         = "phase"
	keyResult        = "result"
)

// syncFile fsyncs a file by name.
func syncFile(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
