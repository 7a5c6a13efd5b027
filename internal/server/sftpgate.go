package server

import (
	"encoding/binary"
	"io"
	"sync"
	"time"
)

// pkg/sftp's Server.Serve, when its input ends, shuts its reply sender
// down while replies may still be queued for it (its controller chooses
// between a queued reply and the shutdown at random), so a client that
// sends its last requests and closes its end at once (`printf ... |
// sftp-server`, a batch that ends with EOF) can lose the replies. The
// gate below holds the end of the input until every request read has had
// its reply written: SFTP answers each request with exactly one packet
// (SSH_FXP_INIT with SSH_FXP_VERSION, every other with a status or data
// packet, draft-ietf-secsh-filexfer-02 §3 and §7), so counting the
// length-prefixed packets each way is enough.

// sftpDrainWait bounds how long the end of the input is held for replies:
// a request the server never answers (an unknown extension, which
// pkg/sftp drops) must not keep the session forever, and any request it
// does answer takes far less.
const sftpDrainWait = 5 * time.Second

// packetCounter counts the complete packets of an SFTP stream (uint32
// big-endian length, then that many bytes) as its bytes go by, in pieces
// of any size.
type packetCounter struct {
	hdr  [4]byte
	nhdr int    // bytes of the length prefix seen
	left uint32 // bytes of the current packet's body still to come
	n    int64  // complete packets
}

// add takes the next bytes of the stream.
func (c *packetCounter) add(b []byte) {
	for len(b) > 0 {
		if c.nhdr < 4 {
			k := copy(c.hdr[c.nhdr:], b)
			c.nhdr += k
			b = b[k:]
			if c.nhdr < 4 {
				return
			}
			c.left = binary.BigEndian.Uint32(c.hdr[:])
			if c.left == 0 {
				c.n++
				c.nhdr = 0
			}
			continue
		}
		k := uint32(min(len(b), int(min(c.left, 1<<30))))
		c.left -= k
		b = b[k:]
		if c.left == 0 {
			c.n++
			c.nhdr = 0
		}
	}
}

// sftpStdio is the subsystem's standard input and output as the one
// stream sftp.NewServer takes, with the reply gate: Read returns the end
// of the input only once as many packets were written as were read, or
// after sftpDrainWait.
type sftpStdio struct {
	r io.Reader
	w io.WriteCloser

	mu      sync.Mutex
	cond    *sync.Cond
	in, out packetCounter
	late    bool // sftpDrainWait passed: the end of the input goes through
}

func newSFTPStdio(r io.Reader, w io.WriteCloser) *sftpStdio {
	s := &sftpStdio{r: r, w: w}
	s.cond = sync.NewCond(&s.mu)
	return s
}

func (s *sftpStdio) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.mu.Lock()
	s.in.add(p[:n])
	s.mu.Unlock()
	if err == io.EOF && n == 0 {
		s.drain(sftpDrainWait)
	}
	return n, err
}

// drain waits until every complete request read has its reply, or d.
func (s *sftpStdio) drain(d time.Duration) {
	stop := time.AfterFunc(d, func() {
		s.mu.Lock()
		s.late = true
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	defer stop.Stop()
	s.mu.Lock()
	for s.out.n < s.in.n && !s.late {
		s.cond.Wait()
	}
	s.mu.Unlock()
}

func (s *sftpStdio) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	s.mu.Lock()
	s.out.add(p[:n])
	s.cond.Broadcast()
	s.mu.Unlock()
	return n, err
}

func (s *sftpStdio) Close() error { return s.w.Close() }
