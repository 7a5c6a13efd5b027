package metrics

import (
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// contentType is what /metrics answers with: the Prometheus text
// exposition format, version 0.0.4, the one every Prometheus-compatible
// scraper reads.
const contentType = "text/plain; version=0.0.4; charset=utf-8"

// maxLabels is the most labels a family of this package has
// (rexec_sessions_total: kind, outcome). A fixed-size array of label
// values is a map key that costs no allocation on the update path.
const maxLabels = 2

// metricType is what a family's # TYPE line says.
type metricType string

const (
	counter metricType = "counter"
	gauge   metricType = "gauge"
	// summary: quantile samples, labelled quantile="q", then the
	// samples with the suffixes _sum and _count, which carry no labels
	// (the package's one summary, go_gc_duration_seconds, has no label
	// but quantile).
	summary metricType = "summary"
)

// desc describes a metric family: its name, its # HELP text, its type and
// the names of its labels (none, or up to maxLabels).
type desc struct {
	name   string
	help   string
	typ    metricType
	labels []string
}

// labelKey holds the label values of one series, in the order of its
// desc's labels; unused entries are "".
type labelKey [maxLabels]string

// sample is the value of one series at scrape time.
type sample struct {
	suffix string // after the family's name: "" but for a summary's _sum and _count
	values labelKey
	value  float64
}

// family is a desc with its samples at scrape time.
type family struct {
	*desc
	samples []sample
}

// collector is anything that adds its families to a scrape.
type collector interface {
	collect(fams []family) []family
}

// scalar is a family of one unlabelled series. Every update rexec makes is
// a whole number (connections, bytes, sources), so the value is an int64:
// exact where a float64 would round past 2^53, and one atomic add.
type scalar struct {
	desc
	v atomic.Int64
}

func newScalar(name, help string, typ metricType) *scalar {
	return &scalar{desc: desc{name: name, help: help, typ: typ}}
}

func (s *scalar) collect(fams []family) []family {
	return append(fams, family{&s.desc, []sample{{value: float64(s.v.Load())}}})
}

// vec is a family of series keyed by label values. The map is copied on
// write: an update of an existing series is one atomic load, a map lookup
// and an atomic add, and a scrape reads a snapshot, so neither ever waits
// for the other. Adding a series copies the map, which is cheap because
// the label values are the server's constants: a few dozen series at most.
type vec struct {
	desc
	mu     sync.Mutex                           // serialises the copy-and-store of series; readers never take it
	series atomic.Pointer[map[labelKey]*series] // never nil after newVec
}

// series is one labelled series of a vec.
type series struct {
	values labelKey
	v      atomic.Int64
}

func newVec(name, help string, typ metricType, labels ...string) *vec {
	if len(labels) == 0 || len(labels) > maxLabels {
		panic("bug: metrics: vec " + name + " with " + strconv.Itoa(len(labels)) + " labels")
	}
	v := &vec{desc: desc{name: name, help: help, typ: typ, labels: labels}}
	v.series.Store(&map[labelKey]*series{})
	return v
}

// with returns the value of the series with the given label values,
// creating it at 0 if it is new. Label values that are not UTF-8, which
// the text format forbids, have the bad bytes replaced by U+FFFD.
func (v *vec) with(values ...string) *atomic.Int64 {
	if len(values) != len(v.labels) {
		panic("bug: metrics: " + v.name + " takes " + strconv.Itoa(len(v.labels)) + " label values")
	}
	var k labelKey
	for i, s := range values {
		if !utf8.ValidString(s) {
			s = strings.ToValidUTF8(s, "\uFFFD")
		}
		k[i] = s
	}
	if s := (*v.series.Load())[k]; s != nil {
		return &s.v
	}
	return &v.insert(k).v
}

// insert adds the series k unless another goroutine did first.
func (v *vec) insert(k labelKey) *series {
	v.mu.Lock()
	defer v.mu.Unlock()
	old := *v.series.Load()
	if s := old[k]; s != nil {
		return s
	}
	m := make(map[labelKey]*series, len(old)+1)
	maps.Copy(m, old)
	s := &series{values: k}
	m[k] = s
	v.series.Store(&m)
	return s
}

// collect adds the family with its series sorted by label values, so that
// two scrapes of the same state are byte for byte the same.
func (v *vec) collect(fams []family) []family {
	m := *v.series.Load()
	samples := make([]sample, 0, len(m))
	for _, s := range m {
		samples = append(samples, sample{values: s.values, value: float64(s.v.Load())})
	}
	slices.SortFunc(samples, func(a, b sample) int { return slices.Compare(a.values[:], b.values[:]) })
	return append(fams, family{&v.desc, samples})
}

// single is a family of one unlabelled sample, for the values read at
// scrape time (Go runtime, process).
func single(d *desc, v float64) family {
	return family{d, []sample{{value: v}}}
}

// appendExposition writes fams in the text format, families sorted by
// name. A family without samples is left out, as a series that does not
// exist yet (no session has ended) is absent rather than 0.
func appendExposition(b []byte, fams []family) []byte {
	slices.SortFunc(fams, func(x, y family) int { return strings.Compare(x.name, y.name) })
	for _, f := range fams {
		if len(f.samples) > 0 {
			b = appendFamily(b, f)
		}
	}
	return b
}

// appendFamily writes one family: its # HELP and # TYPE lines, then one
// line per sample, `name{label="value",...} value`.
func appendFamily(b []byte, f family) []byte {
	b = append(b, "# HELP "...)
	b = append(b, f.name...)
	b = append(b, ' ')
	b = appendEscaped(b, f.help, false)
	b = append(b, "\n# TYPE "...)
	b = append(b, f.name...)
	b = append(b, ' ')
	b = append(b, f.typ...)
	b = append(b, '\n')
	for _, s := range f.samples {
		b = append(b, f.name...)
		b = append(b, s.suffix...)
		if len(f.labels) > 0 && s.suffix == "" {
			b = append(b, '{')
			for i, l := range f.labels {
				if i > 0 {
					b = append(b, ',')
				}
				b = append(b, l...)
				b = append(b, `="`...)
				b = appendEscaped(b, s.values[i], true)
				b = append(b, '"')
			}
			b = append(b, '}')
		}
		b = append(b, ' ')
		b = appendFloat(b, s.value)
		b = append(b, '\n')
	}
	return b
}

// appendEscaped writes s escaped as the text format wants it: backslash
// and newline always, the double quote too inside a label value (quoted).
func appendEscaped(b []byte, s string, quoted bool) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, `\\`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '"' && quoted:
			b = append(b, `\"`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendFloat writes v as Prometheus's own encoder does: the shortest
// representation that reads back the same ('g', so 1048576 is
// 1.048576e+06), and NaN, +Inf, -Inf for the special values.
func appendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, +1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}
