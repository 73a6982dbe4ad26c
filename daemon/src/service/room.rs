//! The free-space reserve: below it, pushes are refused before the disk fills, so the database
//! and every acknowledged blob stay whole, while pulls, deletions and garbage collection (which
//! frees space) go on. Each check reads the volume afresh (statvfs reads counters the kernel
//! keeps). Uploads streaming at once claim the room they are about to fill, a few MiB at a
//! time, so together they cannot run past the reserve between two readings.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::storage::BlobStore;

/// What a streaming upload claims before writing, and writes before claiming again.
pub const CLAIM_BYTES: u64 = 4 << 20;

#[derive(Clone)]
pub struct Room {
    store: Arc<dyn BlobStore>,
    reserve: u64,
    /// Bytes claimed by uploads and not yet written.
    claimed: Arc<AtomicU64>,
}

/// Room an upload may fill; given back when dropped (by then it is written, and the volume's
/// free space shows it).
pub struct Claim {
    claimed: Arc<AtomicU64>,
    bytes: u64,
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.claimed.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

impl Room {
    /// `reserve` bytes kept free (0: no check).
    pub fn new(store: Arc<dyn BlobStore>, reserve: u64) -> Room {
        Room {
            store,
            reserve,
            claimed: Arc::new(AtomicU64::new(0)),
        }
    }

    /// `Err(why)` when the volume's free space, less what uploads have claimed, is below the
    /// reserve. Blocking (statvfs).
    pub fn check(&self) -> Result<(), String> {
        self.room_left()
    }

    /// Claims [`CLAIM_BYTES`] for an upload's next writes, or says why not. Blocking.
    pub fn claim(&self) -> Result<Claim, String> {
        if self.reserve == 0 {
            return Ok(Claim {
                claimed: self.claimed.clone(),
                bytes: 0,
            });
        }
        let claim = Claim {
            claimed: self.claimed.clone(),
            bytes: CLAIM_BYTES,
        };
        // Counted first, so two uploads claiming at once each see the other's claim.
        self.claimed.fetch_add(CLAIM_BYTES, Ordering::AcqRel);
        self.room_left()?;
        Ok(claim)
    }

    fn room_left(&self) -> Result<(), String> {
        if self.reserve == 0 {
            return Ok(());
        }
        // A volume that cannot be read is not a reason to refuse pushes.
        let Ok((_, free)) = self.store.volume() else {
            return Ok(());
        };
        let claimed = self.claimed.load(Ordering::Acquire);
        if free >= self.reserve.saturating_add(claimed) {
            return Ok(());
        }
        Err(format!(
            "the registry's disk is nearly full ({} MiB free, below the reserve of {} MiB): \
             pushes are refused until an administrator frees space (delete artifacts, then run \
             garbage collection); pulls go on",
            free >> 20,
            self.reserve >> 20
        ))
    }
}
