//! Small build contexts for unit tests: a tar of directories, files, symlinks and hardlinks.

/// One entry: path, kind, contents (the target for a link), mode.
pub type Entry<'a> = (&'a str, tar::EntryType, &'a str, u32);

/// A tar of `entries`, every entry owned by `owner:owner` with a fixed mtime.
pub fn context_tar(entries: &[Entry<'_>], owner: u64) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind, data, mode) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(*kind);
        h.set_mode(*mode);
        h.set_mtime(1_700_000_000);
        h.set_uid(owner);
        h.set_gid(owner);
        if *kind == tar::EntryType::Symlink || *kind == tar::EntryType::Link {
            h.set_size(0);
            b.append_link(&mut h, name, data).unwrap_or_default();
        } else {
            h.set_size(data.len() as u64);
            b.append_data(&mut h, name, data.as_bytes()).unwrap_or_default();
        }
    }
    b.into_inner().unwrap_or_default()
}
