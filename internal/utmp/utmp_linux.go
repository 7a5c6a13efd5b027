//go:build linux

package utmp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"
)

// Record types of struct utmp.
const (
	userProcess = 7
	deadProcess = 8
)

// recordSize is sizeof(struct utmp) with glibc on Linux.
const recordSize = 384

// maxSlots bounds the utmp slots scanned for a session's own: far more
// terminals than a host has.
const maxSlots = 1 << 16

// Login records the start of a session: its utmp slot (that of its
// terminal line, or a new one) and a wtmp record.
func (f Files) Login(e Entry) error {
	rec := encode(userProcess, e)
	return errors.Join(f.writeSlot(e.Line, rec), appendRecord(f.wtmp(), rec))
}

// Logout records the end of the session on line: its utmp slot becomes a
// dead process and wtmp gets a logout record (user empty), as login does.
func (f Files) Logout(line string, pid int, at time.Time) error {
	rec := encode(deadProcess, Entry{Line: line, PID: pid, Time: at})
	return errors.Join(f.writeSlot(line, rec), appendRecord(f.wtmp(), rec))
}

// encode lays out struct utmp.
func encode(typ int16, e Entry) []byte {
	b := make([]byte, recordSize)
	le := binary.LittleEndian
	le.PutUint16(b[0:], uint16(typ))
	le.PutUint32(b[4:], uint32(e.PID))
	copy(b[8:40], e.Line)
	copy(b[40:44], lineID(e.Line))
	copy(b[44:76], e.User)
	copy(b[76:332], e.Host)
	le.PutUint32(b[340:], uint32(e.Time.Unix()))
	le.PutUint32(b[344:], uint32(e.Time.Nanosecond()/1000))
	if e.Addr.IsValid() {
		a := e.Addr.Unmap()
		if a.Is4() {
			v4 := a.As4()
			copy(b[348:352], v4[:])
		} else {
			v6 := a.As16()
			copy(b[348:364], v6[:])
		}
	}
	return b
}

// lineID is ut_id: the line's last four characters, as login and sshd
// abbreviate it ("pts/3" gives "ts/3").
func lineID(line string) string {
	if len(line) > 4 {
		return line[len(line)-4:]
	}
	return line
}

// writeSlot writes rec over the slot of line in the utmp file (the first
// with the same ut_id), or appends it, under the file's lock.
func (f Files) writeSlot(line string, rec []byte) error {
	fh, err := openLocked(f.utmp())
	if err != nil {
		return err
	}
	defer fh.Close()
	id := []byte(lineID(line))
	buf := make([]byte, recordSize)
	off := int64(0)
	for range maxSlots {
		n, err := fh.ReadAt(buf, off)
		if n < recordSize || errors.Is(err, io.EOF) {
			break
		}
		if bytes.Equal(bytes.TrimRight(buf[40:44], "\x00"), id) {
			break
		}
		off += recordSize
	}
	_, err = fh.WriteAt(rec, off)
	return err
}

// appendRecord appends rec to a wtmp file under its lock.
func appendRecord(path string, rec []byte) error {
	fh, err := openLocked(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	end, err := fh.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	end -= end % recordSize // never write across a torn record
	_, err = fh.WriteAt(rec, end)
	return err
}

// openLocked opens (creating it 0664 if missing, as login does) a record
// file and takes glibc's write lock on it.
func openLocked(path string) (*os.File, error) {
	fh, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o664)
	if err != nil {
		return nil, fmt.Errorf("utmp: %w", err)
	}
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: io.SeekStart}
	if err := syscall.FcntlFlock(fh.Fd(), syscall.F_SETLKW, &lk); err != nil {
		fh.Close()
		return nil, fmt.Errorf("utmp: locking %s: %w", path, err)
	}
	return fh, nil
}
