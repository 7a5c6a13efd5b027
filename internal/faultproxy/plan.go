package faultproxy

import (
	"fmt"
	"time"
)

// Direction is one half of a proxied connection.
type Direction int

// The two directions of a link. Up is what the client sends, Down what the
// target answers.
const (
	Up   Direction = iota // client to target
	Down                  // target to client
)

func (d Direction) String() string {
	switch d {
	case Up:
		return "up"
	case Down:
		return "down"
	}
	return fmt.Sprintf("Direction(%d)", int(d))
}

// Kind is what a Fault does to its direction.
type Kind int

// Fault kinds. Offsets (Fault.At) count the bytes read from the sending
// side in that direction, from 0.
const (
	// Delay sleeps Fault.Wait before forwarding each chunk, as latency.
	Delay Kind = iota + 1
	// Truncate forwards the first At bytes, then discards the rest while
	// both connections stay open: the receiver waits for data that never
	// comes, as behind a black hole. The sender's end of stream is not
	// passed on either.
	Truncate
	// Cut forwards the first At bytes, then closes both connections (At 0:
	// as soon as the link is up).
	Cut
	// Flip inverts bit Fault.Bit of the byte at offset At.
	Flip
	// Reorder swaps the Len bytes at At with the Len bytes after them. If
	// the sender stops (ends, or is silent for Fault.Wait, default
	// DefaultReorderWait) before the second segment is complete, what
	// arrived of it is sent first, then the held segment: a stream that
	// waits for a reply is delayed, never stalled for good.
	Reorder
)

func (k Kind) String() string {
	switch k {
	case Delay:
		return "delay"
	case Truncate:
		return "truncate"
	case Cut:
		return "cut"
	case Flip:
		return "flip"
	case Reorder:
		return "reorder"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// DefaultReorderWait is how long Reorder waits for the segment it swaps
// with when Fault.Wait is zero: long against loopback latency, short
// against test timeouts.
const DefaultReorderWait = 200 * time.Millisecond

// Fault is one damage done to one direction of a link.
type Fault struct {
	Kind Kind
	Dir  Direction
	// At is the byte offset where Truncate, Cut, Flip and Reorder apply.
	At int64
	// Bit is the bit Flip inverts, 0 (least significant) to 7.
	Bit uint8
	// Len is the length of each segment Reorder swaps; it must be > 0.
	Len int64
	// Wait is Delay's latency per chunk, or how long Reorder waits for its
	// second segment (zero: DefaultReorderWait).
	Wait time.Duration
}

func (f Fault) String() string {
	switch f.Kind {
	case Delay:
		return fmt.Sprintf("%s %s %v", f.Kind, f.Dir, f.Wait)
	case Flip:
		return fmt.Sprintf("%s %s @%d bit %d", f.Kind, f.Dir, f.At, f.Bit)
	case Reorder:
		return fmt.Sprintf("%s %s @%d len %d", f.Kind, f.Dir, f.At, f.Len)
	}
	return fmt.Sprintf("%s %s @%d", f.Kind, f.Dir, f.At)
}

// Plan is what the proxy does to one connection. The zero Plan forwards
// faithfully.
type Plan struct {
	// Drop closes the client's connection as soon as it is accepted,
	// without connecting to the target.
	Drop bool
	// Faults apply in any combination, except that a direction takes at
	// most one Reorder; with several Cut or Truncate the smallest At wins.
	Faults []Fault
	// Record keeps a copy of what each direction's sender sent, before
	// any fault, and of what its receiver was sent, after them, up to
	// MaxRecord bytes each (Link.Recorded, Link.Forwarded).
	Record bool
}

// MaxRecord bounds what Plan.Record keeps per direction.
const MaxRecord = 1 << 20

// validate reports a plan the pumps could not apply.
func (p Plan) validate() error {
	var reorders [2]int
	for _, f := range p.Faults {
		if f.Dir != Up && f.Dir != Down {
			return fmt.Errorf("faultproxy: fault %v: bad direction", f)
		}
		switch f.Kind {
		case Delay:
			if f.Wait < 0 {
				return fmt.Errorf("faultproxy: fault %v: negative wait", f)
			}
		case Truncate, Cut:
		case Flip:
			if f.Bit > 7 {
				return fmt.Errorf("faultproxy: fault %v: bit must be 0 to 7", f)
			}
		case Reorder:
			if f.Len <= 0 {
				return fmt.Errorf("faultproxy: fault %v: Len must be > 0", f)
			}
			if reorders[f.Dir]++; reorders[f.Dir] > 1 {
				return fmt.Errorf("faultproxy: more than one reorder %s", f.Dir)
			}
		default:
			return fmt.Errorf("faultproxy: fault %v: unknown kind", f)
		}
		if f.At < 0 {
			return fmt.Errorf("faultproxy: fault %v: negative offset", f)
		}
	}
	return nil
}
