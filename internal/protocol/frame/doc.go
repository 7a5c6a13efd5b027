// Package frame implements rexec's wire framing and nothing else:
//
//	uint32 big-endian header length | header: that many bytes of UTF-8 JSON | body: header.size bytes
//
// It enforces the limits of docs/PROTOCOL.md §2 before allocating anything,
// and decodes the header strictly (§3): exactly one JSON object, valid
// UTF-8, no duplicate keys at any depth, nothing after the closing brace, and
// a "size" that is an integer in [0, MaxBodySize]. What the header's other
// fields mean is the business of package protocol, which sits directly above;
// this package imports nothing internal.
package frame
