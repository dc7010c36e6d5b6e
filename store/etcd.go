package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Etcd is a Store kept in etcd under a key prefix, so that several proxyplus
// replicas can share one state and see each other's writes.
//
// Layout under the prefix P ("/" + prefix + "/"):
//
//	P meta/schema              "1"
//	P meta/revision            store revision, decimal
//	P meta/deployed_revision   revision of the last write that changed Deployed()
//	P apis/<id>                codec envelopes (codec.go)
//	P deployments/<api id>\x00<id>
//	P stages/<api id>\x00<name>
//
// Every write is one etcd transaction that also increments meta/revision,
// guarded by a compare on that key's etcd ModRevision. Since every proxyplus
// write touches it, an unchanged ModRevision proves that nothing the write
// read has changed, so the guard serialises writers across replicas
// exactly like bbolt's single writer does within one process.
type Etcd struct {
	kvStore
	cli    *clientv3.Client
	prefix string // P, with leading and trailing "/"
	log    *slog.Logger

	// writeSem serialises this replica's own writers, so they do not make
	// each other retry; only writes from other replicas cause retries. A
	// channel rather than a mutex so waiting honours ctx.
	writeSem chan struct{}
	watchers *watchers
	closed   atomic.Bool
	cancel   context.CancelFunc // stops the etcd watch
	wg       sync.WaitGroup     // the etcd watch goroutine
}

var _ Store = (*Etcd)(nil)

// EtcdOption configures OpenEtcd.
type EtcdOption func(*etcdOptions)

type etcdOptions struct {
	dialTimeout time.Duration
	log         *slog.Logger
	maxAttempts int
}

// WithEtcdDialTimeout bounds connecting to etcd (default 5s).
func WithEtcdDialTimeout(d time.Duration) EtcdOption {
	return func(o *etcdOptions) { o.dialTimeout = d }
}

// WithEtcdLogger sets the logger for background errors (the watch). Default
// slog.Default().
func WithEtcdLogger(l *slog.Logger) EtcdOption {
	return func(o *etcdOptions) { o.log = l }
}

// maxWriteAttempts bounds how often one write is retried because other
// replicas committed first. Each retry means another writer made progress,
// so running out means sustained contention, not a stuck store.
const maxWriteAttempts = 100

// OpenEtcd connects to the etcd cluster at endpoints ("host:port" or URLs)
// and opens the store under prefix (leading and trailing slashes are
// ignored: "proxyplus" and "/proxyplus/" are the same store). Stores whose
// prefixes nest ("a" and "a/b") must not be used together. The schema is
// written on first use and checked afterwards. ctx bounds the connection
// and the initialisation only.
func OpenEtcd(ctx context.Context, endpoints []string, prefix string, opts ...EtcdOption) (*Etcd, error) {
	o := etcdOptions{dialTimeout: 5 * time.Second, log: slog.Default(), maxAttempts: maxWriteAttempts}
	for _, opt := range opts {
		opt(&o)
	}
	if len(endpoints) == 0 {
		return nil, errors.New("etcd store: no endpoints")
	}
	p := strings.Trim(prefix, "/")
	if p == "" {
		return nil, fmt.Errorf("etcd store: prefix %q: must not be empty: %w", prefix, ErrInvalidArgument)
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: o.dialTimeout,
		// The client's own zap logging is noise next to our errors, which
		// carry the context.
		Logger: zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd store: connect %v: %w", endpoints, err)
	}
	s := &Etcd{cli: cli, prefix: "/" + p + "/", log: o.log, writeSem: make(chan struct{}, 1), watchers: newWatchers()}
	s.kvStore = kvStore{b: &etcdBackend{s: s, maxAttempts: o.maxAttempts}, now: time.Now}

	// Initialise or check the schema; the transaction's revision is where
	// the watch starts, so no write committed after OpenEtcd returns is
	// missed by Watch.
	ictx, cancel := context.WithTimeout(ctx, o.dialTimeout)
	defer cancel()
	schemaKey := s.prefix + "meta/schema"
	resp, err := cli.Txn(ictx).
		If(clientv3.Compare(clientv3.CreateRevision(schemaKey), "=", 0)).
		Then(clientv3.OpPut(schemaKey, strconv.Itoa(schemaVersion))).
		Else(clientv3.OpGet(schemaKey)).
		Commit()
	if err != nil {
		_ = cli.Close()
		return nil, fmt.Errorf("etcd store: init %s on %v: %w", s.prefix, endpoints, err)
	}
	if !resp.Succeeded {
		kvs := resp.Responses[0].GetResponseRange().GetKvs()
		if len(kvs) != 1 || string(kvs[0].Value) != strconv.Itoa(schemaVersion) {
			_ = cli.Close()
			var v string
			if len(kvs) == 1 {
				v = string(kvs[0].Value)
			}
			return nil, fmt.Errorf("etcd store: %s: unsupported schema version %q", s.prefix, v)
		}
	}
	wctx, wcancel := context.WithCancel(context.Background())
	s.cancel = wcancel
	s.wg.Go(func() { s.watch(wctx, resp.Header.Revision+1) })
	return s, nil
}

// Close stops the watch, closes every Watch channel and the etcd client.
// Later calls return ErrClosed; Close may be called more than once.
func (s *Etcd) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.cancel()
	s.wg.Wait()
	s.watchers.close()
	if err := s.cli.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("etcd store: close: %w", err)
	}
	return nil
}

// Watch implements Store. It reports writes made through any Etcd on the
// same etcd cluster and prefix, not only through s. A write made through s
// is reported before the call that made it returns.
func (s *Etcd) Watch(ctx context.Context) <-chan Revision { return s.watchers.add(ctx) }

func (s *Etcd) revisionKey() string { return s.prefix + "meta/revision" }

func (s *Etcd) metaKey(k metaKey) string {
	if k == metaDeployedRevision {
		return s.prefix + "meta/deployed_revision"
	}
	return s.revisionKey()
}

var etcdTables = map[table]string{tableAPIs: "apis/", tableDeployments: "deployments/", tableStages: "stages/",
	tableAPIKeys: "apikeys/", tableUsagePlans: "usageplans/"}

func (s *Etcd) tableKey(t table, key []byte) string { return s.prefix + etcdTables[t] + string(key) }

func parseRev(key string, v []byte) (Revision, error) {
	if len(v) == 0 {
		return 0, nil
	}
	n, err := strconv.ParseUint(string(v), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("etcd store: %s: bad revision %q: %w", key, v, err)
	}
	return Revision(n), nil
}

// watch follows meta/revision from etcd revision from on, notifying
// watchers, until ctx ends. Every committed write puts that key exactly
// once, with the new store revision as its value.
func (s *Etcd) watch(ctx context.Context, from int64) {
	key := s.revisionKey()
	for ctx.Err() == nil {
		if from == 0 {
			// Resynchronise: events were lost (compaction) or the watch
			// failed. Report the current revision, then follow from there.
			resp, err := s.cli.Get(ctx, key)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Error("etcd store: watch resync", "prefix", s.prefix, "error", err)
					waitOrDone(ctx, time.Second)
				}
				continue
			}
			if len(resp.Kvs) == 1 {
				if rev, err := parseRev(key, resp.Kvs[0].Value); err == nil {
					s.watchers.notify(rev)
				}
			}
			from = resp.Header.Revision + 1
		}
		for wresp := range s.cli.Watch(ctx, key, clientv3.WithRev(from)) {
			if err := wresp.Err(); err != nil {
				if !errors.Is(err, context.Canceled) {
					s.log.Warn("etcd store: watch interrupted, resynchronising", "prefix", s.prefix, "error", err)
				}
				from = 0
				break
			}
			for _, ev := range wresp.Events {
				if ev.Type != clientv3.EventTypePut {
					continue
				}
				rev, err := parseRev(key, ev.Kv.Value)
				if err != nil {
					s.log.Error("etcd store: watch", "error", err)
					continue
				}
				s.watchers.notify(rev)
				from = ev.Kv.ModRevision + 1
			}
		}
		if from != 0 && ctx.Err() == nil {
			// The channel closed without an error response (e.g. the
			// client lost its connection for good): resynchronise.
			from = 0
		}
	}
}

// waitOrDone waits d or until ctx ends: a backoff between retries of the
// background watch, never used to synchronise with writes.
func waitOrDone(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// etcdBackend is the kvBackend of an Etcd.
type etcdBackend struct {
	s           *Etcd
	maxAttempts int
}

// wrap adds context to an etcd error and maps failures after Close to
// ErrClosed.
func (b *etcdBackend) wrap(op string, err error) error {
	if b.s.closed.Load() {
		return fmt.Errorf("etcd store: %s: %w: %w", op, ErrClosed, err)
	}
	return fmt.Errorf("etcd store: %s: %w", op, err)
}

func (b *etcdBackend) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.s.closed.Load() {
		return fmt.Errorf("etcd store %s: %w", b.s.prefix, ErrClosed)
	}
	return nil
}

func (b *etcdBackend) view(ctx context.Context, fn func(tx kvTx) error) error {
	for {
		if err := b.check(ctx); err != nil {
			return err
		}
		err := fn(&etcdTx{ctx: ctx, b: b})
		// Reads after the first are pinned to its etcd revision; if that
		// was compacted away meanwhile, read again at a newer one.
		if errors.Is(err, rpctypes.ErrCompacted) {
			continue
		}
		return err
	}
}

func (b *etcdBackend) update(ctx context.Context, fn func(tx kvTx, rev Revision) (bool, error)) error {
	if err := b.check(ctx); err != nil {
		return err
	}
	select {
	case b.s.writeSem <- struct{}{}:
		defer func() { <-b.s.writeSem }()
	case <-ctx.Done():
		return ctx.Err()
	}
	key := b.s.revisionKey()
	for attempt := 1; ; attempt++ {
		if err := b.check(ctx); err != nil {
			return err
		}
		resp, err := b.s.cli.Get(ctx, key)
		if err != nil {
			return b.wrap("read revision", err)
		}
		var cur Revision
		var modRev int64 // 0 while the key does not exist, which Compare matches
		if len(resp.Kvs) == 1 {
			if cur, err = parseRev(key, resp.Kvs[0].Value); err != nil {
				return err
			}
			modRev = resp.Kvs[0].ModRevision
		}
		rev := cur + 1
		tx := &etcdTx{ctx: ctx, b: b, rev: resp.Header.Revision}
		served, err := fn(tx, rev)
		if errors.Is(err, rpctypes.ErrCompacted) {
			continue
		}
		if err != nil {
			return err
		}
		v := strconv.FormatUint(uint64(rev), 10)
		ops := append(tx.ops, clientv3.OpPut(key, v))
		if served {
			ops = append(ops, clientv3.OpPut(b.s.metaKey(metaDeployedRevision), v))
		}
		tresp, err := b.s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", modRev)).
			Then(ops...).
			Commit()
		if err != nil {
			// The outcome is unknown (e.g. a timeout after the cluster
			// applied it); the caller sees the error and the watch reports
			// the revision if it did commit.
			return b.wrap(fmt.Sprintf("commit revision %d", rev), err)
		}
		if tresp.Succeeded {
			b.s.watchers.notify(rev)
			return nil
		}
		// Another replica committed since our read: fn's checks (expected
		// revisions, existence, derived ids) must be redone on the new
		// state, so run it again rather than retrying the transaction.
		if attempt == b.maxAttempts {
			return fmt.Errorf("etcd store: revision %d: gave up after %d attempts, other replicas kept committing first", rev, attempt)
		}
	}
}

// etcdTx reads at one etcd revision and buffers writes for the commit.
// rev is 0 until the first read of a view, which then pins it.
type etcdTx struct {
	ctx context.Context
	b   *etcdBackend
	rev int64
	ops []clientv3.Op
}

func (t *etcdTx) read(key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	if t.rev != 0 {
		opts = append(opts, clientv3.WithRev(t.rev))
	}
	resp, err := t.b.s.cli.Get(t.ctx, key, opts...)
	if err != nil {
		if errors.Is(err, rpctypes.ErrCompacted) {
			return nil, err // view and update retry on it
		}
		return nil, t.b.wrap("get "+strconv.Quote(key), err)
	}
	if t.rev == 0 {
		t.rev = resp.Header.Revision
	}
	return resp, nil
}

func (t *etcdTx) get(tb table, key []byte) ([]byte, error) {
	resp, err := t.read(t.b.s.tableKey(tb, key))
	if err != nil || len(resp.Kvs) == 0 {
		return nil, err
	}
	return resp.Kvs[0].Value, nil
}

func (t *etcdTx) scan(tb table, prefix, after []byte, limit int) ([]kvPair, error) {
	base := t.b.s.prefix + etcdTables[tb]
	start := base + string(prefix)
	if after != nil {
		// The smallest key strictly greater than after.
		start = base + string(after) + "\x00"
	}
	end := clientv3.GetPrefixRangeEnd(base + string(prefix))
	if start >= end {
		return nil, nil
	}
	// Ranges come back in ascending key order.
	resp, err := t.read(start, clientv3.WithRange(end), clientv3.WithLimit(int64(limit)))
	if err != nil {
		return nil, err
	}
	out := make([]kvPair, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out = append(out, kvPair{key: kv.Key[len(base):], val: kv.Value})
	}
	return out, nil
}

func (t *etcdTx) meta(k metaKey) (Revision, error) {
	key := t.b.s.metaKey(k)
	resp, err := t.read(key)
	if err != nil || len(resp.Kvs) == 0 {
		return 0, err
	}
	return parseRev(key, resp.Kvs[0].Value)
}

func (t *etcdTx) put(tb table, key, val []byte) error {
	t.ops = append(t.ops, clientv3.OpPut(t.b.s.tableKey(tb, key), string(val)))
	return nil
}

func (t *etcdTx) del(tb table, key []byte) error {
	t.ops = append(t.ops, clientv3.OpDelete(t.b.s.tableKey(tb, key)))
	return nil
}

func (t *etcdTx) deletePrefix(tb table, prefix []byte) (int, error) {
	key := t.b.s.tableKey(tb, prefix)
	resp, err := t.read(key, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, err
	}
	if resp.Count > 0 {
		t.ops = append(t.ops, clientv3.OpDelete(key, clientv3.WithPrefix()))
	}
	return int(resp.Count), nil
}

// ParseEtcdURL parses the --store flag form
// "etcd://host:port[,host2:port2...]/prefix" into client endpoints
// ("host:port") and the key prefix.
func ParseEtcdURL(raw string) (endpoints []string, prefix string, err error) {
	const scheme = "etcd://"
	if !strings.HasPrefix(raw, scheme) {
		return nil, "", fmt.Errorf("etcd url %q: scheme must be etcd://", raw)
	}
	rest := raw[len(scheme):]
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		return nil, "", fmt.Errorf("etcd url %q: query and fragment %q are not supported", raw, rest[i:])
	}
	hosts, path, ok := strings.Cut(rest, "/")
	if !ok || strings.Trim(path, "/") == "" {
		return nil, "", fmt.Errorf("etcd url %q: missing key prefix (etcd://host:port/prefix)", raw)
	}
	if strings.Contains(hosts, "@") {
		return nil, "", fmt.Errorf("etcd url %q: credentials in the url are not supported", raw)
	}
	if hosts == "" {
		return nil, "", fmt.Errorf("etcd url %q: missing host:port", raw)
	}
	for h := range strings.SplitSeq(hosts, ",") {
		host, port, err := net.SplitHostPort(h)
		if err != nil {
			return nil, "", fmt.Errorf("etcd url %q: endpoint %q: want host:port", raw, h)
		}
		if host == "" {
			return nil, "", fmt.Errorf("etcd url %q: endpoint %q: empty host", raw, h)
		}
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			return nil, "", fmt.Errorf("etcd url %q: endpoint %q: port %q must be 1-65535", raw, h, port)
		}
		endpoints = append(endpoints, h)
	}
	return endpoints, strings.Trim(path, "/"), nil
}
