package ratelimit

import (
	"container/list"
	"net/netip"
	"sync"
	"time"
)

// Limit is the allowance of one key in a class: Burst requests at once, then
// one every Every. The zero Limit allows everything (the class is not
// limited).
type Limit struct {
	Every time.Duration // interval between requests at the sustained rate
	Burst int           // requests allowed at once; at least 1 when Every > 0
}

// PerMinute is the Limit of n requests a minute with the given burst.
func PerMinute(n, burst int) Limit { return Limit{Every: time.Minute / time.Duration(n), Burst: burst} }

// DefaultLimits are the per-IP limits of the auth endpoints. They are meant to
// stop a single address from guessing or spamming while staying out of the
// way of many people behind one NAT; the per-identifier login lockout of
// package accounts does the rest.
func DefaultLimits() map[string]Limit {
	return map[string]Limit{
		"login":    PerMinute(10, 20), // password guessing
		"signup":   PerMinute(2, 10),  // account creation, and probing for taken emails
		"refresh":  PerMinute(60, 60), // each client refreshes every few minutes at most
		"password": PerMinute(5, 10),  // password change needs the current password
		"verify":   PerMinute(5, 10),  // sends mail / checks tokens
		"reset":    PerMinute(5, 10),  // sends mail / checks tokens
		"mfa":      PerMinute(10, 20), // TOTP and recovery code guessing
	}
}

// DefaultMaxKeys is the number of (class, key) entries tracked when Options
// does not say: about 100 bytes each, so a few MiB at most.
const DefaultMaxKeys = 100_000

// Options configure a Limiter; the zero value takes the defaults noted.
type Options struct {
	// Limits per class; nil means DefaultLimits. A class not listed gets
	// Fallback.
	Limits map[string]Limit
	// Fallback is the limit of classes missing from Limits; the zero value
	// means the "login" limit of DefaultLimits, so that a misspelt class
	// is limited rather than open.
	Fallback Limit
	// MaxKeys caps the tracked entries; default DefaultMaxKeys. At the cap
	// the least recently used entry is forgotten (and so starts afresh).
	MaxKeys int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

type entryKey struct{ class, key string }

type entry struct {
	k   entryKey
	tat time.Time // theoretical arrival time: the key is fully recovered at tat
}

// Limiter is safe for concurrent use. Build it with New; the zero value is
// not usable.
type Limiter struct {
	limits   map[string]Limit
	fallback Limit
	maxKeys  int
	now      func() time.Time

	mu      sync.Mutex
	entries map[entryKey]*list.Element // of *entry
	lru     list.List                  // front: most recently used
}

// New returns a Limiter.
func New(o Options) *Limiter {
	if o.Limits == nil {
		o.Limits = DefaultLimits()
	}
	if o.Fallback == (Limit{}) {
		o.Fallback = DefaultLimits()["login"]
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = DefaultMaxKeys
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	limits := make(map[string]Limit, len(o.Limits))
	for c, l := range o.Limits {
		limits[c] = l.normal()
	}
	return &Limiter{limits: limits, fallback: o.Fallback.normal(), maxKeys: o.MaxKeys, now: o.Now,
		entries: map[entryKey]*list.Element{}}
}

func (l Limit) normal() Limit {
	if l.Every < 0 {
		l.Every = 0
	}
	if l.Every > 0 && l.Burst < 1 {
		l.Burst = 1
	}
	return l
}

func (l *Limiter) limit(class string) Limit {
	if lim, ok := l.limits[class]; ok {
		return lim
	}
	return l.fallback
}

// Allow spends one request of key in class. When the key is over its limit
// it answers false and how long until one request is allowed again; a refused
// request spends nothing.
func (l *Limiter) Allow(class, key string) (ok bool, retryAfter time.Duration) {
	lim := l.limit(class)
	if lim.Every == 0 {
		return true, 0
	}
	now := l.now()
	k := entryKey{class, key}

	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	var e *entry
	if el, found := l.entries[k]; found {
		e = el.Value.(*entry)
		l.lru.MoveToFront(el)
	} else {
		for len(l.entries) >= l.maxKeys {
			l.remove(l.lru.Back())
		}
		e = &entry{k: k, tat: now}
		l.entries[k] = l.lru.PushFront(e)
	}
	tat := e.tat
	if tat.Before(now) {
		tat = now
	}
	// The key may run ahead of now by at most Burst-1 intervals.
	if over := tat.Sub(now) - time.Duration(lim.Burst-1)*lim.Every; over > 0 {
		return false, over
	}
	e.tat = tat.Add(lim.Every)
	return true, 0
}

// sweep forgets the least recently used entries that have fully recovered;
// they would behave exactly like new ones. Entries behind the first one still
// recovering stay until later: each entry is looked at once per removal, so
// the cost is amortised over the Allow calls that made them. l.mu is held.
func (l *Limiter) sweep(now time.Time) {
	for el := l.lru.Back(); el != nil; el = l.lru.Back() {
		if el.Value.(*entry).tat.After(now) {
			return
		}
		l.remove(el)
	}
}

func (l *Limiter) remove(el *list.Element) {
	delete(l.entries, el.Value.(*entry).k)
	l.lru.Remove(el)
}

// Len reports how many entries are tracked.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

// KeyForIP is the key a client address is limited by: an IPv4 address as it
// is, an IPv6 address by its /64, since a single host commonly holds a whole
// /64 and could otherwise pick a fresh address per request. Anything that is
// not an IP address (such as a Unix socket's empty address) is used as given.
func KeyForIP(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		if p, err := addr.Prefix(64); err == nil {
			return p.String()
		}
	}
	return addr.String()
}
