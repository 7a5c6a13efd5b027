package metrics

import (
	"context"
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
// (the scrape timed out or the server is going away).
type renderFunc func(context.Context) ([]byte, error)

// rendered is what a render goroutine hands back to its connection.
type rendered struct {
	body []byte
	err  error
}

// respond answers a parsed request: 404 for any path but /metrics, 405
// for any method but GET and HEAD, else a scrape. The caller leaves out
// the body for HEAD.
func (s *Server) respond(req requestHead) response {
	switch {
	case req.path != "/metrics":
		return textResponse(404, "metrics: not found; try /metrics")
	case req.method != "GET" && req.method != "HEAD":
		r := textResponse(405, "metrics: only GET and HEAD")
		r.allow = true
		return r
	}
	return s.scrape()
}

// scrape renders the exposition in a goroutine of its own holding one of
// the lim.scrapes slots, and waits for it at most lim.scrapeTimeout. No
// free slot is 503 at once rather than a queue behind a stuck render.
//
// A render that outlives its timeout keeps its slot until it returns, so
// however slow /proc gets, no more than lim.scrapes of them ever run; the
// scraper is answered 503 at the timeout all the same. The render
// goroutine belongs to the Server, whose Close waits for it.
func (s *Server) scrape() response {
	select {
	case s.slots <- struct{}{}:
	default:
		return textResponse(503, "metrics: too many scrapes in flight")
	}
	ctx, cancel := context.WithTimeout(s.renderCtx, s.lim.scrapeTimeout)
	done := make(chan rendered, 1)
	s.wg.Add(1) // the caller's own goroutine is counted, so wg is not at zero
	go func() {
		defer s.wg.Done()
		defer func() { <-s.slots }()
		defer cancel()
		body, err := s.render(ctx)
		done <- rendered{body, err}
	}()
	select {
	case r := <-done:
		return r.response()
	case <-ctx.Done():
		// The render cancels ctx itself once it has sent its result.
		select {
		case r := <-done:
			return r.response()
		default:
			return textResponse(503, "metrics: scrape timed out")
		}
	}
}

// response is the answer to a scrape whose render has returned.
func (r rendered) response() response {
	if r.err != nil {
		return textResponse(503, "metrics: scrape abandoned")
	}
	return response{status: 200, ctype: contentType, body: r.body}
}
