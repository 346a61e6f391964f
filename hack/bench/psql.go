package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// dialer opens a new connection to one of the benchmark's databases.
type dialer func(ctx context.Context, db string) (*pgx.Conn, error)

// pair opens new connections to the source and the sink database at once, as the two psql
// processes of a `psql … COPY … | psql …` pipe do (and the runner does): each a server
// backend of its own, started for this run. done closes both.
func (d dialer) pair(ctx context.Context) (src, dst *pgx.Conn, done func(), err error) {
	type dialed struct {
		conn *pgx.Conn
		err  error
	}
	dstc := make(chan dialed, 1)
	go func() {
		c, err := d(ctx, "bench_dst")
		dstc <- dialed{c, err}
	}()
	src, srcErr := d(ctx, "bench_src")
	r := <-dstc
	if srcErr != nil || r.err != nil {
		for _, c := range []*pgx.Conn{src, r.conn} {
			if c != nil {
				_ = c.Close(context.WithoutCancel(ctx))
			}
		}
		return nil, nil, nil, fmt.Errorf("connect to bench_src and bench_dst: %w", errors.Join(srcErr, r.err))
	}
	dst = r.conn
	return src, dst, func() {
		_ = src.Close(context.WithoutCancel(ctx))
		_ = dst.Close(context.WithoutCancel(ctx))
	}, nil
}

// timedAsPsql runs reads on new connections (pair) and returns the wall time from before
// connecting to after closing: what the same reads cost a psql user, who, like the runner,
// connects for every run. A new server backend pays what a long-lived one paid once: its
// start, its catalog caches, and the first touch of every shared buffer it reads through
// (on this machine an index-ordered read of a table larger than shared_buffers takes twice
// as long in a new backend as in a warm one).
func timedAsPsql(ctx context.Context, d dialer, reads func(src, dst *pgx.Conn) error) (time.Duration, error) {
	start := time.Now()
	src, dst, done, err := d.pair(ctx)
	if err != nil {
		return 0, err
	}
	err = reads(src, dst)
	done()
	return time.Since(start), err
}

// timedWarm runs reads on the benchmark's own long-lived connections and returns its wall
// time: the baseline without the cost of connecting, shown beside the judged one.
func timedWarm(src, dst *pgx.Conn, reads func(src, dst *pgx.Conn) error) (time.Duration, error) {
	start := time.Now()
	err := reads(src, dst)
	return time.Since(start), err
}
