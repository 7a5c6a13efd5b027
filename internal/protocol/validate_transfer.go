package protocol

import (
	"fmt"
)

// validateTransfer checks the field ranges of the file transfer messages
// (PROTOCOL.md §8.7). The syntax of entry names (no "..", no absolute
// path, ...) is the receiver's to check before it touches the file system
// (package transfer); here they are only bounded and NUL-free.
func validateTransfer(m Message) error {
	switch m := m.(type) {
	case *Stat:
		return checkPath("stat: path", m.Path, false)
	case *StatResult:
		return validateStatResult(m)
	case *Put:
		if err := checkPath("put: path", m.Path, false); err != nil {
			return err
		}
		if m.Resume && m.Kind != KindFile {
			return fmt.Errorf("put: resume is only for files")
		}
		return validateEntry("put", m.AsEntry())
	case *Entry:
		return validateEntry("entry", *m)
	case *FileHave:
		if m.Length < 0 || m.Length > MaxHave {
			return fmt.Errorf("file_have: length %d outside [0, %d]", m.Length, int64(MaxHave))
		}
		if m.Hash != HashBLAKE3 {
			return fmt.Errorf("file_have: hash %q is not %q", truncate(m.Hash), HashBLAKE3)
		}
	case *FileOffset:
		if m.Offset < 0 || m.Offset > MaxLength {
			return fmt.Errorf("file_offset: offset %d out of range", m.Offset)
		}
	case *FileEnd:
		return validateFileEnd(m)
	case *Get:
		if err := checkPath("get: path", m.Path, false); err != nil {
			return err
		}
		if (m.Select || m.Count) && !m.Recursive {
			return fmt.Errorf("get: select and count are only for a tree")
		}
	}
	return validateTree(m)
}

func validateEntry(what string, e Entry) error {
	if err := checkPath(what+": name", e.Name, true); err != nil {
		return err
	}
	switch {
	case e.Kind != KindFile && e.Kind != KindDir && e.Kind != KindSymlink:
		return fmt.Errorf("%s: kind %q is not file, dir or symlink", what, truncate(e.Kind))
	case e.Length < 0 || e.Length > MaxLength:
		return fmt.Errorf("%s: length %d out of range", what, e.Length)
	case e.Length != 0 && e.Kind != KindFile:
		return fmt.Errorf("%s: only a file has a length", what)
	case e.Mode < 0 || e.Mode > MaxMode:
		return fmt.Errorf("%s: mode %#o outside [0, %#o]", what, e.Mode, MaxMode)
	case (e.Kind == KindSymlink) != (e.Target != ""):
		return fmt.Errorf("%s: a symlink, and only a symlink, has a target", what)
	case e.Digest != "" && (e.Kind != KindFile || !isHexDigest(e.Digest)):
		return fmt.Errorf("%s: a digest is 64 lower-case hex digits, of a file", what)
	}
	return checkPath(what+": target", e.Target, false)
}

func validateStatResult(m *StatResult) error {
	switch {
	case m.Kind != KindFile && m.Kind != KindDir && m.Kind != KindSymlink && m.Kind != KindOther:
		return fmt.Errorf("stat_result: kind %q unknown", truncate(m.Kind))
	case m.Length < 0 || m.Length > MaxLength:
		return fmt.Errorf("stat_result: length %d out of range", m.Length)
	case m.Mode < 0 || m.Mode > MaxMode:
		return fmt.Errorf("stat_result: mode %#o out of range", m.Mode)
	case m.Digest != "" && (m.Kind != KindFile || !isHexDigest(m.Digest)):
		return fmt.Errorf("stat_result: a digest is 64 lower-case hex digits, of a file")
	}
	return checkPath("stat_result: name", m.Name, false)
}

func validateFileEnd(m *FileEnd) error {
	switch {
	case (m.Digest == "") == (m.Error == ""):
		return fmt.Errorf("file_end: exactly one of digest and error is required")
	case (m.Digest == "") != (m.Hash == ""):
		return fmt.Errorf("file_end: hash goes with digest")
	case m.Hash != "" && m.Hash != HashBLAKE3:
		return fmt.Errorf("file_end: hash %q is not %q", truncate(m.Hash), HashBLAKE3)
	case m.Digest != "" && !isHexDigest(m.Digest):
		return fmt.Errorf("file_end: digest must be 64 lower-case hex digits")
	case m.Message != "" && m.Error == "":
		return fmt.Errorf("file_end: a message goes with an error")
	}
	return nil
}

// checkPath bounds a path-like string and refuses NUL (no file system
// accepts it). required refuses the empty string.
func checkPath(what, s string, required bool) error {
	switch {
	case required && s == "":
		return fmt.Errorf("%s is required", what)
	case len(s) > MaxPath:
		return fmt.Errorf("%s longer than %d bytes", what, MaxPath)
	case hasNUL(s):
		return fmt.Errorf("%s contains NUL", what)
	}
	return nil
}

func isHexDigest(s string) bool {
	if len(s) != 2*SumSize {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
