//! The free-space reserve: below it, pushes are refused before the disk fills, so the database
//! and every acknowledged blob stay whole, while pulls, deletions and garbage collection (which
//! frees space) go on. Readings of the volume are kept for a second: a statvfs per request
//! would be cheap, but not free, and a second is far shorter than it takes to fill a reserve.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::storage::BlobStore;

/// How old a reading may be.
const FRESH: Duration = Duration::from_secs(1);
/// While an upload streams, the volume is read again after this many bytes.
pub const RECHECK_BYTES: u64 = 16 << 20;

#[derive(Clone)]
pub struct Room {
    store: Arc<dyn BlobStore>,
    reserve: u64,
    last: Arc<Mutex<Option<(Instant, u64)>>>,
}

impl Room {
    /// `reserve` bytes kept free (0: no check).
    pub fn new(store: Arc<dyn BlobStore>, reserve: u64) -> Room {
        Room {
            store,
            reserve,
            last: Arc::new(Mutex::new(None)),
        }
    }

    /// `Err(why)` when the volume's free space is below the reserve. Blocking (statvfs), at
    /// most once a second per daemon unless `fresh`.
    pub fn check(&self, fresh: bool) -> Result<(), String> {
        if self.reserve == 0 {
            return Ok(());
        }
        let free = {
            let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            match *last {
                Some((at, free)) if !fresh && at.elapsed() < FRESH => free,
                _ => {
                    // A volume that cannot be read is not a reason to refuse pushes.
                    let Ok((_, free)) = self.store.volume() else {
                        return Ok(());
                    };
                    *last = Some((Instant::now(), free));
                    free
                }
            }
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
