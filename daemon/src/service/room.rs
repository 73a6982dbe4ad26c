//! The free-space reserve: below it, pushes are refused before the disk fills, so the database
//! and every acknowledged blob stay whole, while pulls, deletions and garbage collection (which
//! frees space) go on. Each check reads the volume afresh: statvfs reads counters the kernel
//! keeps, and a cached reading let quick pushes run past the reserve.

use std::sync::Arc;

use crate::storage::BlobStore;

/// While an upload streams, the volume is read again after this many bytes; uploads running
/// at once can together pass the reserve by at most this much each.
pub const RECHECK_BYTES: u64 = 16 << 20;

#[derive(Clone)]
pub struct Room {
    store: Arc<dyn BlobStore>,
    reserve: u64,
}

impl Room {
    /// `reserve` bytes kept free (0: no check).
    pub fn new(store: Arc<dyn BlobStore>, reserve: u64) -> Room {
        Room { store, reserve }
    }

    /// `Err(why)` when the volume's free space is below the reserve. Blocking (statvfs).
    pub fn check(&self) -> Result<(), String> {
        if self.reserve == 0 {
            return Ok(());
        }
        // A volume that cannot be read is not a reason to refuse pushes.
        let Ok((_, free)) = self.store.volume() else {
            return Ok(());
        };
        if free >= self.reserve {
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
