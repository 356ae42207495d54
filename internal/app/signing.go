package app

// STUB — owned by the signing-key rotation work (issue 3). Replace wholesale.

import (
	"context"

	"github.com/keep-dev/keep/internal/accounts"
)

// rotateSigningKey makes a new signing key current.
func (k *Keep) rotateSigningKey(ctx context.Context) error { return accounts.ErrNotImplemented }
