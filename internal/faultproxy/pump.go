package faultproxy

import "time"

// pumpState is one direction's faults and progress. Only that direction's
// pump goroutine touches it.
type pumpState struct {
	dir Direction
	in  int64 // bytes read from the sender
	out int64 // bytes written to the receiver

	flips []Fault

	delay      time.Duration // summed Delay waits
	delayFault Fault
	delayed    bool // delayFault has been reported

	limit      int64 // Cut or Truncate offset; -1 for none
	limitFault Fault
	truncated  bool // Truncate reached: discard from now on

	reorder *Fault // nil when none, or once done
	a, b    []byte // Reorder's held first segment and the second so far
	scratch []byte
}

func newPumpState(d Direction, p Plan) *pumpState {
	st := &pumpState{dir: d, limit: -1}
	for _, f := range p.Faults {
		if f.Dir != d {
			continue
		}
		switch f.Kind {
		case Delay:
			st.delay += f.Wait
			st.delayFault = f
		case Truncate, Cut:
			if st.limit < 0 || f.At < st.limit {
				st.limit, st.limitFault = f.At, f
			}
		case Flip:
			st.flips = append(st.flips, f)
		case Reorder:
			r := f
			st.reorder = &r
		}
	}
	return st
}

// holding reports whether Reorder holds bytes back, waiting for its
// second segment.
func (st *pumpState) holding() bool { return st.reorder != nil && len(st.a) > 0 }

func (st *pumpState) reorderWait() time.Duration {
	if st.reorder.Wait > 0 {
		return st.reorder.Wait
	}
	return DefaultReorderWait
}

// transform applies flips and the reorder to chunk c (in place where it
// can) and returns what is to be forwarded now.
func (st *pumpState) transform(c []byte, fire func(Fault)) []byte {
	base := st.in
	st.in += int64(len(c))
	for _, f := range st.flips {
		if f.At >= base && f.At < st.in {
			c[f.At-base] ^= 1 << f.Bit
			fire(f)
		}
	}
	r := st.reorder
	if r == nil || st.in <= r.At {
		return c
	}
	aStart, bStart, bEnd := r.At, r.At+r.Len, r.At+2*r.Len
	out := st.scratch[:0]
	for i, x := range c {
		switch off := base + int64(i); {
		case off < aStart || off >= bEnd:
			out = append(out, x)
		case off < bStart:
			st.a = append(st.a, x)
		default:
			st.b = append(st.b, x)
			if off == bEnd-1 {
				out = append(append(out, st.b...), st.a...)
				st.reorder, st.a, st.b = nil, nil, nil
				fire(*r)
			}
		}
	}
	st.scratch = out
	return out
}

// flush gives up waiting for Reorder's second segment: what arrived of it
// goes first, then the held segment.
func (st *pumpState) flush(fire func(Fault)) []byte {
	if st.reorder == nil || len(st.a) == 0 {
		return nil
	}
	out := append(append([]byte(nil), st.b...), st.a...)
	if len(st.b) > 0 {
		fire(*st.reorder)
	}
	st.reorder, st.a, st.b = nil, nil, nil
	return out
}
