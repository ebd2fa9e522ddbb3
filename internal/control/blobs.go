package control

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/mtlslb/mtlslb/internal/configstore"
)

// CollectBlobs runs one pass of blob garbage collection over the store at the Service's clock, with its grace
// period: CA bundles and CRLs that no trust store has named for that long are deleted (configstore's
// CollectBlobs, whose gc.go explains why no blob a stored trust store names can be lost).
func (s *Service) CollectBlobs(ctx context.Context) (configstore.BlobCollection, error) {
	return s.opts.Store.CollectBlobs(ctx, s.opts.Now(), s.opts.BlobGrace)
}

// RunBlobCollection calls CollectBlobs at once and then every interval (DefaultBlobCollectionInterval when
// every is not positive) until ctx is done or the store is closed. Replacing a bundle or rotating a CRL
// leaves the old blob unreferenced; without this the data file would grow by every upload. A pass that
// reclaims something logs how many blobs and bytes; a failed pass is logged and retried at the next tick,
// and deletes nothing (the store's transaction rolls back).
//
// observe, when not nil, gets the outcome of every pass that ran (for metrics).
//
// Periodic rather than after each write: a blob is kept for the grace period after it stops being named
// anyway, so a pass right after a write could not delete it, and one loop needs no coordination with the
// writers.
func (s *Service) RunBlobCollection(ctx context.Context, every time.Duration, log *slog.Logger, observe func(configstore.BlobCollection, error)) {
	if every <= 0 {
		every = DefaultBlobCollectionInterval
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		res, err := s.CollectBlobs(ctx)
		if ctx.Err() != nil || errors.Is(err, configstore.ErrClosed) {
			return // stopping: the store closes before the context is cancelled
		}
		if observe != nil {
			observe(res, err)
		}
		switch {
		case err != nil:
			log.Warn("blob collection failed; unreferenced blobs stay until a later pass succeeds", "err", err)
		case res.Reclaimed > 0:
			log.Info("reclaimed unreferenced blobs", "blobs", res.Reclaimed, "bytes", res.ReclaimedBytes,
				"referenced", res.Referenced, "waiting", res.Waiting)
		default:
			log.Debug("blob collection: nothing to reclaim", "referenced", res.Referenced, "waiting", res.Waiting)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
