// Command floor is the machine's floor for bench/run: a bare net/http server
// answering every request with the same small JSON body as Keep's /healthz.
// Keep's figures are printed as a ratio to this one, measured in the same run.
package main

import (
	"flag"
	"log"
	"net/http"
)

func main() {
	addr := flag.String("http", "127.0.0.1:8090", "listen address (loopback)")
	flag.Parse()
	body := []byte(`{"status":"ok"}` + "\n")
	log.Fatal(http.ListenAndServe(*addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})))
}
