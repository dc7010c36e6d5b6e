package admin

import (
	"context"
	"log/slog"
	"math"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Failed authentications are limited per peer (remote IP) with a token bucket: a peer may fail AuthFailureBurst
// times in a row, then one more time every AuthFailureRefill (10 a minute). A peer out of tokens gets
// RESOURCE_EXHAUSTED without its credentials being looked at, until the bucket refills; successful calls cost
// nothing. Guessing a token from one address is thus slowed to 10 attempts a minute, and a client behind the same
// address as an attacker is locked out only while the attack lasts.
const (
	AuthFailureBurst  = 10
	AuthFailureRefill = 6 * time.Second
	// AuthFailureLogInterval: failures are logged per peer at most once per interval, with their count. The first
	// failure of a peer is logged at once.
	AuthFailureLogInterval = time.Minute
	// authFailurePeers bounds the per-peer table (about 200 bytes an entry). Peers beyond it share one bucket and
	// one log line, "peer=other": many addresses failing at once are limited together.
	authFailurePeers = 4096
)

// overflowPeer names the shared entry of the peers the table has no room for.
const overflowPeer = "other"

// authLimiter counts failed authentications per peer, refuses peers that failed too often and logs the failures
// in aggregate.
type authLimiter struct {
	log       *slog.Logger
	now       func() time.Time
	afterFunc func(time.Duration, func())
	burst     float64
	refill    time.Duration
	logEvery  time.Duration
	maxPeers  int

	mu       sync.Mutex
	peers    map[string]*peerFailures
	overflow *peerFailures
	// flushArmed says a flush is scheduled: failures counted but not logged yet are written by it.
	flushArmed bool
	// pruned is when a full table was last pruned: at most once per refill period, so that a table full of
	// active peers does not cost a scan per failure.
	pruned time.Time
}

// peerFailures is one peer's bucket and the failures not logged yet.
type peerFailures struct {
	tokens  float64
	updated time.Time
	// Since the last log line: failed authentications, calls refused while limited, the last failure.
	failures, refused int
	method, reason    string
	logged            time.Time
}

func newAuthLimiter(log *slog.Logger, now func() time.Time, afterFunc func(time.Duration, func())) *authLimiter {
	return &authLimiter{log: log, now: now, afterFunc: afterFunc, burst: AuthFailureBurst, refill: AuthFailureRefill,
		logEvery: AuthFailureLogInterval, maxPeers: authFailurePeers, peers: map[string]*peerFailures{},
		overflow: &peerFailures{tokens: AuthFailureBurst}}
}

// peerKey is the remote IP of the call ("" when unknown: such calls are not limited).
func peerKey(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return ""
	}
	if tcp, ok := p.Addr.(*net.TCPAddr); ok {
		return tcp.IP.String()
	}
	if host, _, err := net.SplitHostPort(p.Addr.String()); err == nil {
		return host
	}
	return p.Addr.String()
}

// refillLocked brings p's bucket up to now.
func (l *authLimiter) refillLocked(p *peerFailures, now time.Time) {
	if p.tokens < l.burst {
		p.tokens = math.Min(l.burst, p.tokens+float64(now.Sub(p.updated))/float64(l.refill))
	}
	p.updated = now
}

// allow refuses a peer that has no failure left, with RESOURCE_EXHAUSTED, before its credentials are checked.
func (l *authLimiter) allow(ctx context.Context, fullMethod string) error {
	key := peerKey(ctx)
	if key == "" {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	name, p := key, l.peers[key]
	if p == nil {
		if len(l.peers) < l.maxPeers {
			return nil // never failed (or forgotten once idle)
		}
		name, p = overflowPeer, l.overflow
	}
	now := l.now()
	l.refillLocked(p, now)
	if p.tokens >= 1 {
		return nil
	}
	p.refused++
	p.method = shortMethod(fullMethod)
	l.logLocked(name, p, now)
	wait := time.Duration((1 - p.tokens) * float64(l.refill)).Round(time.Second)
	return status.Errorf(codes.ResourceExhausted,
		"too many failed authentications from %s: calls are refused without checking credentials; retry in %s", key, max(wait, time.Second))
}

// failed records a failed authentication of the call's peer.
func (l *authLimiter) failed(ctx context.Context, fullMethod string, err error) {
	key := peerKey(ctx)
	if key == "" {
		key = overflowPeer
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	name, p := key, l.peers[key]
	if p == nil && key != overflowPeer {
		if len(l.peers) >= l.maxPeers && now.Sub(l.pruned) >= l.refill {
			l.pruneLocked(now)
			l.pruned = now
		}
		if len(l.peers) < l.maxPeers {
			p = &peerFailures{tokens: l.burst, updated: now}
			l.peers[key] = p
		}
	}
	if p == nil {
		name, p = overflowPeer, l.overflow
	}
	l.refillLocked(p, now)
	p.tokens = math.Max(0, p.tokens-1)
	p.failures++
	p.method, p.reason = shortMethod(fullMethod), status.Convert(err).Message()
	l.logLocked(name, p, now)
}

// logLocked writes p's line if the peer has not been logged within the interval, else leaves the counts for the
// flush.
func (l *authLimiter) logLocked(name string, p *peerFailures, now time.Time) {
	if !p.logged.IsZero() && now.Sub(p.logged) < l.logEvery {
		if !l.flushArmed {
			l.flushArmed = true
			l.afterFunc(p.logged.Add(l.logEvery).Sub(now), l.flush)
		}
		return
	}
	// refused counts the calls refused unchecked because the peer had failed too often.
	attrs := []slog.Attr{slog.String("peer", name), slog.Int("failures", p.failures), slog.Int("refused", p.refused),
		slog.String("method", p.method)}
	if p.reason != "" {
		attrs = append(attrs, slog.String("error", p.reason))
	}
	if !p.logged.IsZero() {
		attrs = append(attrs, slog.String("over", now.Sub(p.logged).Round(time.Second).String()))
	}
	l.log.LogAttrs(context.Background(), slog.LevelWarn, "admin authentication failed", attrs...)
	p.failures, p.refused, p.reason, p.logged = 0, 0, "", now
}

// flush logs the counts left by logLocked once their interval is over, forgets idle peers and schedules itself
// again while counts remain.
func (l *authLimiter) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushArmed = false
	now := l.now()
	next := time.Duration(-1)
	check := func(name string, p *peerFailures) {
		if p.failures == 0 && p.refused == 0 {
			return
		}
		if due := p.logged.Add(l.logEvery).Sub(now); due > 0 {
			if next < 0 || due < next {
				next = due
			}
			return
		}
		l.logLocked(name, p, now)
	}
	for name, p := range l.peers {
		check(name, p)
	}
	check(overflowPeer, l.overflow)
	l.pruneLocked(now)
	if next >= 0 {
		l.flushArmed = true
		l.afterFunc(next, l.flush)
	}
}

// pruneLocked forgets peers whose bucket is full again and whose failures are all logged: they are as good as
// new, so the table holds only peers that failed recently.
func (l *authLimiter) pruneLocked(now time.Time) {
	for name, p := range l.peers {
		l.refillLocked(p, now)
		if p.tokens >= l.burst && p.failures == 0 && p.refused == 0 {
			delete(l.peers, name)
		}
	}
}
