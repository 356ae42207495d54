package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestShutdownDrainsInFlight cancels the server while a request is running:
// the request still completes, new connections are refused, Run returns nil.
func TestShutdownDrainsInFlight(t *testing.T) {
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		time.Sleep(300 * time.Millisecond)
		if r.Context().Err() != nil {
			t.Error("request context cancelled by shutdown")
		}
		_, _ = io.WriteString(w, "done")
	})
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- Run(ctx, slog.New(slog.DiscardHandler), func(a []net.Addr) { addrc <- a[0].String() },
			Listener{Name: "http", Addr: "127.0.0.1:0", Handler: h})
	}()
	addr := <-addrc
	type result struct {
		body string
		err  error
	}
	resc := make(chan result, 1)
	go func() {
		res, err := http.Get("http://" + addr + "/")
		if err != nil {
			resc <- result{err: err}
			return
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		resc <- result{string(b), err}
	}()
	<-started
	cancel()
	r := <-resc
	if r.err != nil || r.body != "done" {
		t.Fatalf("in-flight request: %q, %v", r.body, r.err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("listener still accepts after shutdown")
	}
}

func TestListenFailureStopsEverything(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = Run(context.Background(), slog.New(slog.DiscardHandler), nil,
		Listener{Name: "a", Addr: "127.0.0.1:0", Handler: http.NotFoundHandler()},
		Listener{Name: "b", Addr: ln.Addr().String(), Handler: http.NotFoundHandler()})
	if err == nil {
		t.Fatal("want a listen error")
	}
}
