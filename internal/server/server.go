package server

import (
	"context"
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
}

// Run serves every listener until ctx is cancelled or one fails, then shuts
// all of them down, waiting up to ShutdownTimeout for in-flight requests.
// ready, when not nil, is called with the bound addresses once all listen.
func Run(ctx context.Context, log *slog.Logger, ready func(addrs []net.Addr), listeners ...Listener) error {
	var (
		servers []*http.Server
		lns     []net.Listener
	)
	for _, l := range listeners {
		ln, err := net.Listen("tcp", l.Addr)
		if err != nil {
			for _, o := range lns {
				_ = o.Close()
			}
			return fmt.Errorf("listen %s on %s: %w", l.Name, l.Addr, err)
		}
		lns = append(lns, ln)
		servers = append(servers, &http.Server{
			Handler:           l.Handler,
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
		log.Info("listening", "listener", listeners[i].Name, "addr", lns[i].Addr().String())
		go func() { errc <- srv.Serve(lns[i]) }()
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
