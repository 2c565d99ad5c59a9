//! Low-level tar output: ustar headers, PAX extended headers, data padding.
//!
//! Names and link targets longer than the 100-byte ustar fields, ids and
//! sizes too large for octal fields, and xattrs go into a PAX `x` header
//! before the entry, as Go's `archive/tar` (and so Docker) write them.

use std::ffi::CString;
use std::io::{self, BufWriter, Write};

use tar::{EntryType, Header};

use crate::meta::PAX_XATTR_PREFIX;

/// Largest value of an 8-byte octal field (uid, gid).
const MAX_OCTAL_ID: u64 = 0o7_777_777;
/// Largest value of the 12-byte octal size field.
const MAX_OCTAL_SIZE: u64 = 0o77_777_777_777;
/// Output buffer: headers are 512-byte writes, so batch them.
const OUT_BUF: usize = 256 * 1024;
const BLOCK: usize = 512;

/// Everything one tar header says.
#[derive(Debug, Clone)]
pub(crate) struct EntryHeader<'a> {
    pub(crate) kind: EntryType,
    /// Relative name; directories end in `/`.
    pub(crate) name: &'a [u8],
    pub(crate) link: Option<&'a [u8]>,
    pub(crate) mode: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) mtime: u64,
    pub(crate) size: u64,
    pub(crate) dev: Option<(u32, u32)>,
    pub(crate) xattrs: &'a [(CString, Vec<u8>)],
}

/// A tar stream being written.
pub(crate) struct TarOut<W: Write> {
    w: BufWriter<W>,
}

impl<W: Write> TarOut<W> {
    pub(crate) fn new(w: W) -> Self {
        TarOut { w: BufWriter::with_capacity(OUT_BUF, w) }
    }

    /// Writes the header (and PAX header if needed) of an entry; its
    /// `size` bytes of data must follow through [`TarOut::data`], then
    /// [`TarOut::pad`].
    pub(crate) fn header(&mut self, e: &EntryHeader<'_>) -> io::Result<()> {
        let mut pax: Vec<(Vec<u8>, &[u8])> = Vec::new();
        let mut h = Header::new_ustar();
        {
            let old = h.as_old_mut();
            fill_field(&mut old.name, e.name, b"path", &mut pax);
            if let Some(link) = e.link {
                fill_field(&mut old.linkname, link, b"linkpath", &mut pax);
            }
        }
        h.set_mode(e.mode);
        h.set_uid(u64::from(e.uid));
        h.set_gid(u64::from(e.gid));
        h.set_mtime(e.mtime);
        h.set_size(e.size);
        h.set_entry_type(e.kind);
        if let (Some((major, minor)), Some(ustar)) = (e.dev, h.as_ustar_mut()) {
            ustar.set_device_major(major);
            ustar.set_device_minor(minor);
        }
        let (uid, gid, size) = (e.uid.to_string(), e.gid.to_string(), e.size.to_string());
        if u64::from(e.uid) > MAX_OCTAL_ID {
            pax.push((b"uid".to_vec(), uid.as_bytes()));
        }
        if u64::from(e.gid) > MAX_OCTAL_ID {
            pax.push((b"gid".to_vec(), gid.as_bytes()));
        }
        if e.size > MAX_OCTAL_SIZE {
            pax.push((b"size".to_vec(), size.as_bytes()));
        }
        for (name, value) in e.xattrs {
            pax.push(([PAX_XATTR_PREFIX, name.to_bytes()].concat(), value));
        }
        if !pax.is_empty() {
            self.pax(&pax)?;
        }
        h.set_cksum();
        self.w.write_all(h.as_bytes())
    }

    /// Writes entry data.
    pub(crate) fn data(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.w.write_all(bytes)
    }

    /// Pads the data of an entry of `size` bytes to a block boundary.
    pub(crate) fn pad(&mut self, size: u64) -> io::Result<()> {
        let rem = (size % BLOCK as u64) as usize;
        if rem != 0 {
            self.w.write_all(&[0u8; BLOCK][rem..])?;
        }
        Ok(())
    }

    /// Writes the end-of-archive blocks and flushes.
    pub(crate) fn finish(mut self) -> io::Result<()> {
        self.w.write_all(&[0u8; 2 * BLOCK])?;
        self.w.flush()
    }

    /// Writes a PAX `x` header holding `records`.
    fn pax(&mut self, records: &[(Vec<u8>, &[u8])]) -> io::Result<()> {
        let mut body = Vec::new();
        for (key, value) in records {
            pax_record(&mut body, key, value);
        }
        let mut h = Header::new_ustar();
        h.as_old_mut().name[..14].copy_from_slice(b"././@PaxHeader");
        h.set_mode(0o644);
        h.set_size(body.len() as u64);
        h.set_entry_type(EntryType::XHeader);
        h.set_cksum();
        self.w.write_all(h.as_bytes())?;
        self.w.write_all(&body)?;
        self.pad(body.len() as u64)
    }
}

/// Copies `value` into a fixed header field, or, when it does not fit, a
/// truncated copy there and the whole value into PAX record `key`.
fn fill_field<'v>(field: &mut [u8; 100], value: &'v [u8], key: &[u8], pax: &mut Vec<(Vec<u8>, &'v [u8])>) {
    let n = value.len().min(field.len());
    field[..n].copy_from_slice(&value[..n]);
    if value.len() > field.len() {
        pax.push((key.to_vec(), value));
    }
}

/// Appends one `"<len> <key>=<value>\n"` record; `<len>` counts itself.
fn pax_record(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    let rest = 1 + key.len() + 1 + value.len() + 1; // ' ' key '=' value '\n'
    let mut len = rest + 1;
    while len != rest + len.to_string().len() {
        len = rest + len.to_string().len();
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_length_counts_itself() {
        let mut out = Vec::new();
        pax_record(&mut out, b"path", b"abc");
        assert_eq!(out, b"12 path=abc\n");
        let mut out = Vec::new();
        let v = vec![b'x'; 95];
        pax_record(&mut out, b"path", &v);
        // 95 + "path" 4 + ' ' '=' '\n' 3 = 102, plus 3 digits = 105
        assert!(out.starts_with(b"105 path="));
        assert_eq!(out.len(), 105);
    }
}
