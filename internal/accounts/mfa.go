package accounts

// STUB — owned by the MFA work (issue 3). Replace wholesale.

import (
	"context"

	"github.com/keep-dev/keep/internal/records"
)

// TOTPEnrollment is what a user scans into an authenticator app.
type TOTPEnrollment struct {
	Secret     string `json:"secret"`
	OTPAuthURI string `json:"otpauth_uri"`
}

// mfaChallenge answers whether userID must pass a second factor, and the
// challenge token for it.
func (s *Service) mfaChallenge(ctx context.Context, userID string) (token string, required bool, err error) {
	return "", false, nil
}

// EnrollTOTP starts a TOTP enrolment for the caller.
func (s *Service) EnrollTOTP(ctx context.Context, c records.Caller) (TOTPEnrollment, error) {
	return TOTPEnrollment{}, ErrNotImplemented
}

// ConfirmTOTP completes enrolment with a first code and returns the
// recovery codes.
func (s *Service) ConfirmTOTP(ctx context.Context, c records.Caller, code string) ([]string, error) {
	return nil, ErrNotImplemented
}

// DisableTOTP turns TOTP off after re-authentication.
func (s *Service) DisableTOTP(ctx context.Context, c records.Caller, password string) error {
	return ErrNotImplemented
}

// VerifyMFA completes a login with a TOTP code or a recovery code.
func (s *Service) VerifyMFA(ctx context.Context, mfaToken, code, recoveryCode string, client ClientInfo) (LoginResult, error) {
	return LoginResult{}, ErrNotImplemented
}
