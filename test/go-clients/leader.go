package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Leader election on a Lease, as every Go controller with --leader-elect runs it.

// timings are a controller's: kube-controller-manager's defaults are 15 s / 10 s / 2 s.
type timings struct{ lease, renew, retry time.Duration }

var controllerTimings = timings{15 * time.Second, 10 * time.Second, 2 * time.Second}

// countingLock is the LeaseLock, counting the leader's successful writes of the Lease (its renewals).
type countingLock struct {
	resourcelock.Interface
	mu        sync.Mutex
	renewals  []time.Time
	failures  []string
	onRenewal func(at time.Time)
}

func (l *countingLock) Update(ctx context.Context, record resourcelock.LeaderElectionRecord) error {
	err := l.Interface.Update(ctx, record)
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if err != nil {
		l.failures = append(l.failures, err.Error())
		return err
	}
	l.renewals = append(l.renewals, now)
	if l.onRenewal != nil {
		l.onRenewal(now)
	}
	return nil
}

func (l *countingLock) stats() (int, time.Duration, []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var gap time.Duration
	for i := 1; i < len(l.renewals); i++ {
		if d := l.renewals[i].Sub(l.renewals[i-1]); d > gap {
			gap = d
		}
	}
	return len(l.renewals), gap, append([]string(nil), l.failures...)
}

type candidate struct {
	lock    *countingLock
	leading chan struct{}
	mu      sync.Mutex
	led     bool
	stopped bool
	done    chan struct{}
}

func (c *clients) lock(namespace, lease, identity string) *countingLock {
	return &countingLock{Interface: &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: namespace, Name: lease},
		Client:     c.typed.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: identity},
	}}
}

// elect runs one candidate until ctx ends; OnStoppedLeading is recorded, whenever it comes.
func (c *clients) elect(ctx context.Context, lock *countingLock, t timings) *candidate {
	cand := &candidate{lock: lock, leading: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(cand.done)
		leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
			Lock:            lock,
			LeaseDuration:   t.lease,
			RenewDeadline:   t.renew,
			RetryPeriod:     t.retry,
			ReleaseOnCancel: true,
			Name:            lock.Identity(),
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(context.Context) {
					cand.mu.Lock()
					cand.led = true
					cand.mu.Unlock()
					close(cand.leading)
				},
				OnStoppedLeading: func() {
					cand.mu.Lock()
					cand.stopped = ctx.Err() == nil // only a stop before we asked for it is a loss
					cand.mu.Unlock()
				},
			},
		})
	}()
	return cand
}

func (cand *candidate) state() (led, lost bool) {
	cand.mu.Lock()
	defer cand.mu.Unlock()
	return cand.led, cand.stopped
}

// The suite's short election: acquire, renew for a few seconds, release.
func (s *suite) leaderShort(ctx context.Context) (string, error) {
	t := timings{6 * time.Second, 4 * time.Second, 500 * time.Millisecond}
	runCtx, cancel := context.WithCancel(ctx)
	lock := s.lock(s.namespace, "gc-leader", "gc-suite")
	cand := s.elect(runCtx, lock, t)
	select {
	case <-cand.leading:
	case <-time.After(15 * time.Second):
		cancel()
		<-cand.done
		n, _, failures := lock.stats()
		return "", fmt.Errorf("never led; %d renewals, failures %v", n, failures)
	}
	time.Sleep(3 * time.Second)
	_, lost := cand.state()
	n, gap, failures := lock.stats()
	cancel()
	<-cand.done
	// Leading means renewing within the renew deadline, the bound client-go itself holds a leader to (as
	// runLeader checks): a hand-off in these 3 s holds a renewal, and a 409 on an RV read before it costs a
	// retry period, so the count of renewals is not the measure.
	if lost || n < 2 || gap >= t.renew {
		return "", fmt.Errorf("lost %v, %d renewals in 3 s (longest gap %s, renew deadline %s), failures %v", lost, n, gap, t.renew, failures)
	}
	return fmt.Sprintf("%d renewals in 3 s, longest gap %s (renew deadline %s), failed writes %v", n, gap, t.renew, failures), nil
}

// runLeader: a leader and a contender on one Lease until stdin closes. Prints an event line per
// renewal of the leader, then result lines: acquired, never lost, renewals without a gap that would
// let the lease lapse, and the contender never leading. A failed write is not itself a loss: the
// optimistic renewal with an RV read before a hand-off may get 409, and client-go re-reads the Lease.
func runLeader(c *clients, namespace, lease string) {
	ctx, cancel := context.WithCancel(context.Background())
	out := json.NewEncoder(os.Stdout)
	var outMu sync.Mutex
	event := func(fields map[string]any) {
		outMu.Lock()
		defer outMu.Unlock()
		_ = out.Encode(fields)
	}
	leaderLock := c.lock(namespace, lease, "leader")
	leaderLock.onRenewal = func(at time.Time) { event(map[string]any{"event": "renewed", "at": at.UnixMilli()}) }
	leader := c.elect(ctx, leaderLock, controllerTimings)
	acquired := false
	select {
	case <-leader.leading:
		acquired = true
	case <-time.After(30 * time.Second):
	}
	event(map[string]any{"event": "leading", "ok": acquired})
	contenderLock := c.lock(namespace, lease, "contender")
	contender := c.elect(ctx, contenderLock, controllerTimings)

	_, _ = bufio.NewReader(os.Stdin).ReadString(0) // until stdin closes
	_, lost := leader.state()
	contenderLed, _ := contender.state()
	n, gap, failures := leaderLock.stats()
	cancel()
	<-leader.done
	<-contender.done
	emit(result{Name: "leader/acquired", OK: acquired, Detail: "the first candidate leads"})
	emit(result{Name: "leader/never-lost", OK: acquired && !lost, Detail: fmt.Sprintf("OnStoppedLeading before the end: %v", lost)})
	emit(result{
		Name:   "leader/renewed-throughout",
		OK:     acquired && n > 0 && gap < controllerTimings.renew,
		Detail: fmt.Sprintf("%d renewals, longest gap %s (renew deadline %s), failed writes %v", n, gap, controllerTimings.renew, failures),
	})
	emit(result{Name: "leader/contender-never-led", OK: !contenderLed, Detail: "a second candidate waits on the same Lease"})
}
