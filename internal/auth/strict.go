package auth

// StrictModes is the permission rule sshd calls StrictModes, applied to an
// authorized_keys file before a single key of it is trusted: the file and
// every directory above it, up to the account's home, must be owned by the
// account or by root and must not be writable by group or others. Whoever
// could write any of them could plant a key (docs/SECURITY.md,
// "Revocation and StrictModes").
//
// The walk starts at the file (symbolic links resolved, so the real
// directories are the ones checked) and goes up one directory at a time.
// It ends after Home, or at a directory owned by root with the sticky bit
// set (such as /tmp, where nobody may replace another's entries), which is
// not itself checked for write bits, or at "/". The zero value checks for
// the effective user with no home directory: up to a sticky directory or
// "/". Where Unix permissions do not exist (Windows) nothing is checked.
type StrictModes struct {
	// UID is the account the file belongs to; it and root may own the file
	// and the directories checked. Negative means the effective uid.
	UID int
	// Home is the account's home directory, where the walk ends; empty
	// means none.
	Home string
}

// Check applies the rule to the file at path. It returns nil for a missing
// file (a missing authorized_keys authorizes nobody), an error wrapping
// ErrKeyPermissions that names the offending file or directory, or the
// error met while looking.
func (m StrictModes) Check(path string) error {
	return m.check(path)
}
