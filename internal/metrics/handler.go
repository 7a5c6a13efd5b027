package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"
)

// newHandler serves what render returns as the text exposition, to GET
// and HEAD only, with at most inFlight renders at once and each response
// within timeout.
//
// A render that outlives its timeout keeps its slot until it returns, so
// however slow /proc gets, no more than inFlight of them ever run; the
// scraper is answered 503 at the timeout all the same.
func newHandler(render func(context.Context) ([]byte, error), inFlight int, timeout time.Duration) http.Handler {
	slots := make(chan struct{}, inFlight)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "metrics: only GET and HEAD", http.StatusMethodNotAllowed)
			return
		}
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
		default:
			http.Error(w, "metrics: too many scrapes in flight", http.StatusServiceUnavailable)
			return
		}
		body, err := render(r.Context())
		if err != nil {
			http.Error(w, "metrics: scrape abandoned", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	})
	return http.TimeoutHandler(h, timeout, "metrics: scrape timed out\n")
}
