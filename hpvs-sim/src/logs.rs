//! Following a server's log: what it already holds, then each new piece as the workload
//! writes it, until the server is deleted (or the client hangs up, which drops the stream).

use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;
use std::time::Duration;

use futures_util::Stream;

use crate::appliance::Appliance;
use crate::error::Result;
use crate::runtime::ServerName;

/// How often a followed log is looked at for new output.
const POLL: Duration = Duration::from_millis(250);

/// The most bytes sent in one piece.
const PIECE: u64 = 64 << 10;

impl Appliance {
    /// The length of the server's log now (where following starts).
    pub(crate) fn log_len(&self, name: &str) -> Result<u64> {
        self.store.server(name)?;
        let id: ServerName = name.parse()?;
        Ok(std::fs::metadata(self.runtime.log_path(&id)).map_or(0, |m| m.len()))
    }

    /// Up to [`PIECE`] bytes of the log from `offset`; `None` once the server is gone.
    fn log_piece(&self, name: &str, offset: u64) -> Option<Vec<u8>> {
        self.store.server(name).ok()?;
        let id: ServerName = name.parse().ok()?;
        let mut piece = Vec::new();
        if let Ok(mut file) = std::fs::File::open(self.runtime.log_path(&id))
            && file.seek(SeekFrom::Start(offset)).is_ok()
        {
            let _ = file.take(PIECE).read_to_end(&mut piece);
        }
        Some(piece)
    }
}

/// `first` (the tail asked for), then the log's growth from `offset`.
pub(crate) fn follow(
    appliance: Arc<Appliance>,
    name: String,
    first: String,
    offset: u64,
) -> impl Stream<Item = std::io::Result<Vec<u8>>> + Send {
    let start = (appliance, name, offset, Some(first.into_bytes()));
    futures_util::stream::unfold(start, |(appliance, name, offset, first)| async move {
        if let Some(first) = first {
            return Some((Ok(first), (appliance, name, offset, None)));
        }
        loop {
            let piece = appliance.log_piece(&name, offset)?;
            if !piece.is_empty() {
                let next = offset + piece.len() as u64;
                return Some((Ok(piece), (appliance, name, next, None)));
            }
            tokio::time::sleep(POLL).await;
        }
    })
}
