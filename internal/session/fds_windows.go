package session

// CloseInheritedOnExec does nothing on Windows: os/exec starts a child
// with an explicit list of the handles it inherits (its stdio), so
// nothing else the daemon holds can reach a session.
func CloseInheritedOnExec() error { return nil }
