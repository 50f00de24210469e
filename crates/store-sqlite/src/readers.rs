//! A pool of read-only connections. WAL mode lets any number of them read while the one
//! writer commits, so reads never queue behind writes or behind each other.

use std::path::PathBuf;
use std::sync::Mutex;

use rusqlite::Connection;
use store::StoreError;

use crate::connection::{lock, open_reader};

/// Idle connections kept for reuse (each keeps its prepared statements). Reads run on the
/// calling thread, so more than the runtime's worker threads are rarely busy at once; a
/// burst beyond this opens extra connections that close when done.
const KEEP_IDLE: usize = 8;

pub(crate) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    pub(crate) fn new(path: PathBuf) -> Self {
        Readers {
            path,
            idle: Mutex::new(Vec::with_capacity(KEEP_IDLE)),
        }
    }

    /// Runs `read` on an idle connection, or on a new one when all are busy.
    pub(crate) fn with<T>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let idle = lock(&self.idle).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => open_reader(&self.path)?,
        };
        let result = read(&conn);
        let mut idle = lock(&self.idle);
        if idle.len() < KEEP_IDLE {
            idle.push(conn);
        }
        result
    }
}
