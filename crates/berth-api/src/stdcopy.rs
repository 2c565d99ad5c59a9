//! Docker's multiplexed stream framing: an 8-byte header `[stream, 0, 0, 0, size u32 BE]`
//! before each chunk, used for attach, exec and logs when there is no tty.

/// Which stream a frame belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdStream {
    Stdin = 0,
    Stdout = 1,
    Stderr = 2,
    /// Errors of the daemon itself, shown by clients as such.
    System = 3,
}

/// Frames `data` for `stream`.
pub fn frame(stream: StdStream, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 8);
    out.extend_from_slice(&[stream as u8, 0, 0, 0]);
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    out
}

/// Incremental demultiplexer.
#[derive(Default)]
pub struct Demux {
    buf: Vec<u8>,
}

impl Demux {
    /// Feeds bytes; returns every complete frame.
    pub fn push(&mut self, data: &[u8]) -> Vec<(u8, Vec<u8>)> {
        self.buf.extend_from_slice(data);
        let mut out = Vec::new();
        while self.buf.len() >= 8 {
            let len = u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]) as usize;
            if self.buf.len() < 8 + len {
                break;
            }
            let stream = self.buf[0];
            out.push((stream, self.buf[8..8 + len].to_vec()));
            self.buf.drain(..8 + len);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_across_chunk_boundaries() {
        let mut bytes = frame(StdStream::Stdout, b"hello");
        bytes.extend(frame(StdStream::Stderr, b"err"));
        let mut d = Demux::default();
        let mut got = d.push(&bytes[..6]);
        assert!(got.is_empty());
        got.extend(d.push(&bytes[6..]));
        assert_eq!(got, vec![(1, b"hello".to_vec()), (2, b"err".to_vec())]);
    }
}
