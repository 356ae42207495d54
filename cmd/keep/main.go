// Command keep is a secure backend in one binary. The subcommands parse
// flags and call into internal/app; behaviour lives there.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/keep-dev/keep/internal/app"
	"github.com/keep-dev/keep/internal/audit"
	"github.com/keep-dev/keep/internal/config"
	"github.com/keep-dev/keep/internal/hashworker"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `keep — a secure backend in one binary

Usage:
  keep serve [flags]                                  run the server
  keep superuser create --email E --password-stdin    create a superuser
  keep keys rotate-signing [--data D | --db URL]      make a new token signing key
                                                      current and print its kid
  keep keys rotate [--no-wait]                        make a new field-encryption key
                                                      current and re-encrypt older values
  keep keys rotate-master --new-master-key-file F     re-wrap every stored key under a
                                                      new root key
  keep audit verify                                   check the audit log; non-zero
                                                      exit names the first bad entry
  keep audit export [--since T]                       audit entries as JSON lines
  keep audit checkpoint                               write a signed audit checkpoint
  keep version                                        print the version
  keep help                                           show this help

Run "keep <command> -h" (e.g. "keep serve -h", "keep keys rotate -h") for the
flags; every flag has a KEEP_* environment variable (see README.md).

keys rotate-signing is safe while servers run on the same data: they sign with
the new key within 30 seconds, and tokens signed by the old key keep working
until they expire.
`

func main() {
	// Before anything else: this binary is also the password hash worker
	// that `keep serve --hash-priority idle` starts at idle CPU priority.
	hashworker.Main()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "keep:", err)
		}
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stderr, getenv)
	case "superuser":
		if len(args) < 2 || args[1] != "create" {
			return errors.New(`usage: keep superuser create --email E --password-stdin`)
		}
		return superuserCreate(ctx, args[2:], stdin, stdout, stderr, getenv)
	case "keys":
		if len(args) < 2 {
			return errors.New(`usage: keep keys rotate-signing|rotate|rotate-master [flags]`)
		}
		switch args[1] {
		case "rotate-signing":
			return keysRotateSigning(ctx, args[2:], stdout, stderr, getenv)
		case "rotate":
			return keysRotate(ctx, args[2:], stdout, stderr, getenv)
		case "rotate-master":
			return keysRotateMaster(ctx, args[2:], stdout, stderr, getenv)
		}
		return fmt.Errorf("unknown command \"keys %s\"; usage: keep keys rotate-signing|rotate|rotate-master [flags]", args[1])
	case "audit":
		if len(args) < 2 {
			return errors.New(`usage: keep audit verify|export|checkpoint [flags]`)
		}
		return auditCommand(ctx, args[1], args[2:], stdout, stderr, getenv)
	case "version", "--version":
		fmt.Fprintln(stdout, "keep", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

func serve(ctx context.Context, args []string, stderr io.Writer, getenv func(string) string) error {
	cfg, err := config.Load("serve", args, getenv, true, nil, stderr)
	if err != nil {
		return err
	}
	log := app.NewLogger(stderr, cfg)
	k, err := app.New(ctx, cfg, log, true)
	if err != nil {
		return err
	}
	defer k.Close()
	return k.Serve(ctx, nil)
}

func superuserCreate(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	var email string
	var fromStdin bool
	cfg, err := config.Load("superuser create", args, getenv, false, func(fs *flag.FlagSet) {
		fs.StringVar(&email, "email", "", "the superuser's email")
		fs.BoolVar(&fromStdin, "password-stdin", false, "read the password from standard input (required: never pass it as an argument)")
	}, stderr)
	if err != nil {
		return err
	}
	if email == "" || !fromStdin {
		return errors.New("--email and --password-stdin are required")
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read password: %w", err)
	}
	password := strings.TrimRight(line, "\r\n")
	log := app.NewLogger(stderr, cfg)
	k, err := app.New(ctx, cfg, log, false)
	if err != nil {
		return err
	}
	defer k.Close()
	rec, err := k.Accounts.CreateSuperuser(audit.WithRequest(ctx, &audit.Request{Actor: "cli"}), email, password)
	if err != nil {
		return app.Describe(err)
	}
	fmt.Fprintf(stdout, "superuser %s created (id %s)\n", email, rec.ID())
	return nil
}

// keysRotateSigning prints only the new key's id: it is public (it is in
// every token header and in the JWKS), and a script can capture it.
func keysRotateSigning(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	cfg, err := config.Load("keys rotate-signing", args, getenv, false, nil, stderr)
	if err != nil {
		return err
	}
	kid, err := app.RotateSigningKey(ctx, cfg, app.NewLogger(stderr, cfg))
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, kid)
	return nil
}
