package metrics

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// blockingRender wraps m.render so that each scrape reports on entered and
// then waits for release to be closed.
func blockingRender(m *Metrics, entered chan<- struct{}, release <-chan struct{}) func(context.Context) ([]byte, error) {
	return func(ctx context.Context) ([]byte, error) {
		entered <- struct{}{}
		<-release
		return m.render(ctx)
	}
}

func doRequest(t *testing.T, method, url string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestScrapeLimit: with maxScrapesInFlight scrapes stuck, one more is
// answered 503 at once; once they finish, scraping works again.
func TestScrapeLimit(t *testing.T) {
	m := New()
	entered, release := make(chan struct{}, maxScrapesInFlight+1), make(chan struct{})
	srv := httptest.NewServer(newHandler(blockingRender(m, entered, release), maxScrapesInFlight, scrapeTimeout))
	defer srv.Close()
	var wg sync.WaitGroup
	codes := make(chan int, maxScrapesInFlight)
	for range maxScrapesInFlight {
		wg.Go(func() {
			code, _, _ := doRequest(t, "GET", srv.URL)
			codes <- code
		})
	}
	for range maxScrapesInFlight {
		<-entered
	}
	start := time.Now()
	if code, _, body := doRequest(t, "GET", srv.URL); code != http.StatusServiceUnavailable {
		t.Errorf("scrape %d in flight = %d %q, want 503", maxScrapesInFlight+1, code, body)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the refused scrape took %v, want an answer at once", d)
	}
	close(release)
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != http.StatusOK {
			t.Errorf("a scrape within the limit = %d, want 200", code)
		}
	}
	if code, _, _ := doRequest(t, "GET", srv.URL); code != http.StatusOK {
		t.Errorf("scrape after the others finished = %d, want 200", code)
	}
}

// TestScrapeTimeout: a scrape stuck past the timeout is answered 503; it
// keeps its slot until it returns, then the next one is served.
func TestScrapeTimeout(t *testing.T) {
	m := New()
	entered, release := make(chan struct{}, 2), make(chan struct{})
	srv := httptest.NewServer(newHandler(blockingRender(m, entered, release), 1, 100*time.Millisecond))
	defer srv.Close()
	start := time.Now()
	if code, _, body := doRequest(t, "GET", srv.URL); code != http.StatusServiceUnavailable || !strings.Contains(body, "timed out") {
		t.Errorf("stuck scrape = %d %q, want 503 timed out", code, body)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stuck scrape answered after %v", d)
	}
	<-entered
	if code, _, _ := doRequest(t, "GET", srv.URL); code != http.StatusServiceUnavailable {
		t.Errorf("scrape while the stuck one holds the only slot = %d, want 503", code)
	}
	close(release)
	for deadline := time.Now().Add(5 * time.Second); ; {
		code, _, _ := doRequest(t, "GET", srv.URL)
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("scrape after the stuck one returned = %d, want 200", code)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMethods: GET and HEAD are served, with the text format's content
// type; every other method is 405 naming the allowed ones.
func TestMethods(t *testing.T) {
	srv := httptest.NewServer(New().Handler())
	defer srv.Close()
	cases := []struct {
		method   string
		code     int
		bodyWant bool
	}{
		{"GET", http.StatusOK, true},
		{"HEAD", http.StatusOK, false},
		{"POST", http.StatusMethodNotAllowed, false},
		{"PUT", http.StatusMethodNotAllowed, false},
		{"DELETE", http.StatusMethodNotAllowed, false},
		{"PATCH", http.StatusMethodNotAllowed, false},
		{"OPTIONS", http.StatusMethodNotAllowed, false},
	}
	for _, c := range cases {
		code, h, body := doRequest(t, c.method, srv.URL)
		if code != c.code {
			t.Errorf("%s = %d, want %d", c.method, code, c.code)
		}
		switch {
		case code == http.StatusOK && h.Get("Content-Type") != contentType:
			t.Errorf("%s: Content-Type %q, want %q", c.method, h.Get("Content-Type"), contentType)
		case code == http.StatusMethodNotAllowed && h.Get("Allow") != "GET, HEAD":
			t.Errorf("%s: Allow %q, want GET, HEAD", c.method, h.Get("Allow"))
		case c.bodyWant != strings.Contains(body, "# TYPE rexec_connections gauge\n"):
			t.Errorf("%s: body %.80q, exposition wanted: %v", c.method, body, c.bodyWant)
		}
	}
}
