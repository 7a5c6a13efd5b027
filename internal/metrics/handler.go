package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"
)

// Scrape limits: /metrics is cheap, so a few scrapes at once is plenty;
// a stuck one (a /proc read can wait on the kernel's mm lock) gets 503
// after scrapeTimeout and keeps its slot until it returns, so stuck
// scrapes never pile up past maxScrapesInFlight goroutines.
const (
	maxScrapesInFlight = 4
	scrapeTimeout      = 10 * time.Second
)

// renderFunc returns the text exposition, or an error once ctx has ended
// (the scrape timed out, its client went away or the server is closing).
type renderFunc func(context.Context) ([]byte, error)

// rendered is what a render goroutine hands back to its request.
type rendered struct {
	body []byte
	err  error
}

// serveHTTP answers a request: 404 for any path but /metrics, 405 for
// any method but GET and HEAD, else a scrape. net/http leaves out the
// body for HEAD.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path != "/metrics":
		http.Error(w, "metrics: not found; try /metrics", http.StatusNotFound)
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "metrics: only GET and HEAD", http.StatusMethodNotAllowed)
	default:
		s.scrape(w, r)
	}
}

// scrape renders the exposition in a goroutine of its own holding one of
// the lim.scrapes slots, and waits for it at most lim.scrapeTimeout, or
// until the client goes away or the server gives up on its scrapes. No
// free slot is 503 at once rather than a queue behind a stuck render.
//
// A render that outlives its timeout keeps its slot until it returns, so
// however slow /proc gets, no more than lim.scrapes of them ever run; the
// scraper is answered 503 at the timeout all the same. The render
// goroutine belongs to the Server, whose Close waits for it.
func (s *Server) scrape(w http.ResponseWriter, r *http.Request) {
	select {
	case s.slots <- struct{}{}:
	default:
		http.Error(w, "metrics: too many scrapes in flight", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.lim.scrapeTimeout)
	done := make(chan rendered, 1)
	// Added while this request's connection is counted in connWG, which
	// shutdown waits for before renders: no Add can race that Wait.
	s.renders.Add(1)
	go func() {
		defer s.renders.Done()
		defer func() { <-s.slots }()
		defer cancel()
		body, err := s.render(ctx)
		done <- rendered{body, err}
	}()
	var res rendered
	select {
	case res = <-done:
	case <-ctx.Done():
		// The render cancels ctx itself once it has sent its result.
		select {
		case res = <-done:
		default:
			http.Error(w, "metrics: scrape timed out", http.StatusServiceUnavailable)
			return
		}
	}
	if res.err != nil {
		http.Error(w, "metrics: scrape abandoned", http.StatusServiceUnavailable)
		return
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(res.body)))
	w.WriteHeader(http.StatusOK)
	w.Write(res.body) // a HEAD's body is dropped by net/http; a write error is the client's
}
