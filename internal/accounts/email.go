package accounts

// STUB — owned by the email flows work (issue 3). Replace wholesale.

import "context"

// RequestVerification mails a verification link if the account exists.
func (s *Service) RequestVerification(ctx context.Context, email string) error {
	return ErrNotImplemented
}

// ConfirmVerification marks the account of a verification token verified.
func (s *Service) ConfirmVerification(ctx context.Context, token string) error {
	return ErrNotImplemented
}

// RequestReset mails a password reset link if the account exists.
func (s *Service) RequestReset(ctx context.Context, email string) error { return ErrNotImplemented }

// ConfirmReset sets a new password with a reset token.
func (s *Service) ConfirmReset(ctx context.Context, token, newPassword string) error {
	return ErrNotImplemented
}
