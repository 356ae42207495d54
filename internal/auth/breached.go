package auth

import (
	_ "embed"
	"errors"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// ErrPasswordCommon is the reason for a [PasswordError] when the password is
// on the bundled list of commonly breached passwords. Those are the first
// guesses of any online or offline attack, so ASVS 5.0 (6.2.4) and NIST
// SP 800-63B require refusing them whatever their length.
var ErrPasswordCommon = errors.New("password is too common")

// commonPasswordsText is the bundled list, one password per line in order of
// frequency, most common first. internal/auth/data/README.md records where it
// comes from, its licence and how to check it against its source.
//
// It is embedded as plain text (about 77 KB of the binary) rather than
// compressed: compression would save about 38 KB but make the file opaque to
// review and to the checksum in the README.
//
//go:embed data/common-passwords.txt
var commonPasswordsText string

// commonPasswords returns the bundled list folded with [foldPassword], sorted
// and without duplicates, building it on first use. Building it costs about
// 2 ms and 165 KB of heap, once per process: the slice headers take 160 KB,
// and since all but about a hundred entries are already lower case they stay
// substrings of the embedded text instead of being copied. The result is shared and must not be modified.
// Safe for concurrent use.
//
// It is a package variable only because the embedded data is: it is derived
// from a constant and never changes once built.
var commonPasswords = sync.OnceValue(func() []string {
	return parseCommonPasswords(commonPasswordsText)
})

// parseCommonPasswords turns one-per-line text into a sorted, duplicate-free
// slice of folded passwords. A line that could never be a valid password —
// empty, not UTF-8, or longer than [MaxPasswordLen] characters — is skipped
// rather than trusted; a trailing CR is dropped so CRLF files work too.
func parseCommonPasswords(text string) []string {
	list := make([]string, 0, strings.Count(text, "\n")+1)
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" || !utf8.ValidString(line) || utf8.RuneCountInString(line) > MaxPasswordLen {
			continue
		}
		list = append(list, foldPassword(line))
	}
	slices.Sort(list)
	return slices.Clip(slices.Compact(list))
}

// isCommonPassword reports whether pw, ignoring case, is on the bundled list.
// It takes about 14 string comparisons (a binary search) and allocates only
// when pw has upper-case letters.
//
// The lookup is not constant time. What it could leak through timing is
// whether a password someone is choosing is on a public list — and such a
// password is refused anyway, so it never becomes a credential.
func isCommonPassword(pw string) bool {
	_, found := slices.BinarySearch(commonPasswords(), foldPassword(pw))
	return found
}

// foldPassword maps a password to the form compared with the list.
//
// The comparison ignores case because the list's own entries show that case
// changes are among the first variations tried: "Password" and "password",
// "QWERTY" and "qwerty" are both common, and an attacker's rules try every
// capitalisation of a list word. Folding therefore refuses "PASSWORD" and
// "PaSsWoRd" as well as "password", at the cost of refusing a few
// capitalisations no list names. strings.ToLower is enough: the list is
// ASCII, and a non-ASCII password can only match through a letter that lower-
// cases to ASCII (the Kelvin sign to "k"), which errs on refusing. No Unicode
// normalisation is applied; passwords are hashed exactly as given.
func foldPassword(pw string) string { return strings.ToLower(pw) }
