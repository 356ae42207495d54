package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Limits and timeouts of every listener. WriteTimeout bounds a whole
// response, so it also bounds a slow reader; no Keep handler streams yet.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 30 * time.Second
	WriteTimeout      = 60 * time.Second
	IdleTimeout       = 120 * time.Second
	MaxHeaderBytes    = 64 << 10
	ShutdownTimeout   = 20 * time.Second
)

// Listener is one address and what it serves.
type Listener struct {
	Name    string // for logs: "http", "metrics"
	Addr    string
	Handler http.Handler
	// TLS, when not nil, makes the listener serve HTTPS (HTTP/2 and
	// HTTP/1.1) with this configuration; see TLSConfig.
	TLS *tls.Config
	// RedirectTo, when set, names another listener of the same Run that
	// serves TLS: this one then answers every request with RedirectHandler
	// to that listener's bound port, and Handler is ignored.
	RedirectTo string
}

// Run serves every listener until ctx is cancelled or one fails, then shuts
// all of them down, waiting up to ShutdownTimeout for in-flight requests.
// ready, when not nil, is called with the bound addresses once all listen.
func Run(ctx context.Context, log *slog.Logger, ready func(addrs []net.Addr), listeners ...Listener) error {
	var (
		servers []*http.Server
		lns     []net.Listener
	)
	closeAll := func() {
		for _, o := range lns {
			_ = o.Close()
		}
	}
	for _, l := range listeners {
		ln, err := net.Listen("tcp", l.Addr)
		if err != nil {
			closeAll()
			return fmt.Errorf("listen %s on %s: %w", l.Name, l.Addr, err)
		}
		lns = append(lns, ln)
	}
	for _, l := range listeners {
		h := l.Handler
		if l.RedirectTo != "" {
			port, err := redirectPort(l.RedirectTo, listeners, lns)
			if err != nil {
				closeAll()
				return fmt.Errorf("listener %s: %w", l.Name, err)
			}
			h = RedirectHandler(port)
		}
		servers = append(servers, &http.Server{
			Handler:           h,
			TLSConfig:         l.TLS,
			ReadHeaderTimeout: ReadHeaderTimeout,
			ReadTimeout:       ReadTimeout,
			WriteTimeout:      WriteTimeout,
			IdleTimeout:       IdleTimeout,
			MaxHeaderBytes:    MaxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
			BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		})
	}
	errc := make(chan error, len(servers))
	for i, srv := range servers {
		log.Info("listening", "listener", listeners[i].Name, "addr", lns[i].Addr().String(), "tls", srv.TLSConfig != nil)
		if srv.TLSConfig != nil {
			// The certificate is in TLSConfig: no files to name here.
			go func() { errc <- srv.ServeTLS(lns[i], "", "") }()
		} else {
			go func() { errc <- srv.Serve(lns[i]) }()
		}
	}
	if ready != nil {
		addrs := make([]net.Addr, len(lns))
		for i, ln := range lns {
			addrs[i] = ln.Addr()
		}
		ready(addrs)
	}

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			runErr = err
		}
	}
	log.Info("shutting down", "timeout", ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	for _, srv := range servers {
		if err := srv.Shutdown(sctx); err != nil && runErr == nil {
			runErr = fmt.Errorf("shutdown: %w", err)
		}
	}
	return runErr
}

// redirectPort is the bound port of the TLS listener called name.
func redirectPort(name string, listeners []Listener, lns []net.Listener) (string, error) {
	for i, l := range listeners {
		if l.Name != name {
			continue
		}
		if l.TLS == nil {
			return "", fmt.Errorf("redirect target %q does not serve TLS", name)
		}
		_, port, err := net.SplitHostPort(lns[i].Addr().String())
		return port, err
	}
	return "", fmt.Errorf("no listener %q to redirect to", name)
}
