package common

import (
	"fmt"
	"io"
	"os"
	"sync"
)

// The process logger writes one line per event to stdout for journald, each
// with a stable prefix ([SYS], [INFO], [WARN], [ERR]) so operators can grep.
// Lines carry no timestamp of their own: journald (and docker logs
// --timestamps) stamp every line, and the spec's lines must match exactly,
// e.g. "[SYS] SQLite PRAGMA: journal_mode = WAL".
// It is a process singleton by nature (there is one stdout); tests swap the
// writer with SetLogOutput.
var (
	logMu  sync.Mutex
	logOut io.Writer = os.Stdout
)

// SetLogOutput redirects the process log and returns a function restoring it.
func SetLogOutput(w io.Writer) (restore func()) {
	logMu.Lock()
	prev := logOut
	logOut = w
	logMu.Unlock()
	return func() {
		logMu.Lock()
		logOut = prev
		logMu.Unlock()
	}
}

func logLine(prefix, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	logMu.Lock()
	fmt.Fprintf(logOut, "%s %s\n", prefix, msg)
	logMu.Unlock()
}

// SysLog logs a start-up, shutdown or configuration fact.
func SysLog(format string, args ...any) { logLine("[SYS]", format, args...) }

// Info logs a routine event.
func Info(format string, args ...any) { logLine("[INFO]", format, args...) }

// Warn logs something an operator should look at.
func Warn(format string, args ...any) { logLine("[WARN]", format, args...) }

// Error logs a failure.
func Error(format string, args ...any) { logLine("[ERR]", format, args...) }

// LogRaw writes a preformatted line (the access log) under the log lock.
func LogRaw(line string) {
	logMu.Lock()
	io.WriteString(logOut, line)
	logMu.Unlock()
}

// LogRawBytes is LogRaw for a line built in a reusable buffer: one write,
// no copy into a string. The writer must not keep line (os.File does not).
func LogRawBytes(line []byte) {
	logMu.Lock()
	logOut.Write(line)
	logMu.Unlock()
}
