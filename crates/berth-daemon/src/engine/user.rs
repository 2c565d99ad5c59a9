//! Resolving `-u user[:group]` against the container's own `/etc/passwd` and `/etc/group`,
//! read through in-root resolution so a symlinked passwd file cannot make us read the host's.

use std::io::Read;
use std::path::Path;

use berth_runtime::spec::ProcessUser;

use crate::error::EngineError;

fn read_in_root(root: &Path, path: &str) -> String {
    let mut s = String::new();
    if let Ok(f) = berth_archive::inroot::open_in_root(root, path) {
        let _ = f.take(4 << 20).read_to_string(&mut s);
    }
    s
}

/// (name, uid, gid, home) rows of passwd.
fn passwd(root: &Path) -> Vec<(String, u32, u32, String)> {
    read_in_root(root, "/etc/passwd")
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some((f.first()?.to_string(), f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?, f.get(5).unwrap_or(&"/").to_string()))
        })
        .collect()
}

/// (name, gid, members) rows of group.
fn groups(root: &Path) -> Vec<(String, u32, Vec<String>)> {
    read_in_root(root, "/etc/group")
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            let members = f.get(3).map(|m| m.split(',').filter(|s| !s.is_empty()).map(String::from).collect()).unwrap_or_default();
            Some((f.first()?.to_string(), f.get(2)?.parse().ok()?, members))
        })
        .collect()
}

/// Resolves `spec` (`""`, `name`, `uid`, `name:group`, `uid:gid`, ...) plus `--group-add`
/// entries; returns the ids and the user's home for `HOME`.
pub fn resolve(root: &Path, spec: &str, group_add: &[String]) -> Result<(ProcessUser, String), EngineError> {
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let users = passwd(root);
    let (uid, mut gid, home, name) = if user_part.is_empty() {
        let root_entry = users.iter().find(|u| u.1 == 0);
        (0, 0, root_entry.map(|u| u.3.clone()).unwrap_or_else(|| "/root".into()), "root".to_string())
    } else if let Ok(uid) = user_part.parse::<u32>() {
        match users.iter().find(|u| u.1 == uid) {
            Some(u) => (uid, u.2, u.3.clone(), u.0.clone()),
            None => (uid, 0, "/".into(), String::new()),
        }
    } else {
        let u = users
            .iter()
            .find(|u| u.0 == user_part)
            .ok_or_else(|| EngineError::StartFailed(format!("unable to find user {user_part}: no matching entries in passwd file")))?;
        (u.1, u.2, u.3.clone(), u.0.clone())
    };
    let all_groups = groups(root);
    if let Some(g) = group_part {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => all_groups
                .iter()
                .find(|x| x.0 == g)
                .map(|x| x.1)
                .ok_or_else(|| EngineError::StartFailed(format!("unable to find group {g}: no matching entries in group file")))?,
        };
    }
    let mut additional: Vec<u32> =
        if group_part.is_none() && !name.is_empty() { all_groups.iter().filter(|g| g.2.contains(&name)).map(|g| g.1).collect() } else { Vec::new() };
    for g in group_add {
        let id = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => all_groups
                .iter()
                .find(|x| x.0 == *g)
                .map(|x| x.1)
                .ok_or_else(|| EngineError::StartFailed(format!("unable to find group {g}: no matching entries in group file")))?,
        };
        additional.push(id);
    }
    additional.sort_unstable();
    additional.dedup();
    Ok((ProcessUser { uid, gid, additional_gids: additional }, home))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_ids_and_groups() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33::/var/www:/bin/sh\n").unwrap();
        std::fs::write(dir.path().join("etc/group"), "root:x:0:\nwww:x:33:\nextra:x:50:www\n").unwrap();
        let (u, home) = resolve(dir.path(), "www", &[]).unwrap();
        assert_eq!((u.uid, u.gid, u.additional_gids.clone(), home.as_str()), (33, 33, vec![50], "/var/www"));
        let (u, _) = resolve(dir.path(), "1000:50", &[]).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 50));
        let (u, home) = resolve(dir.path(), "", &["extra".into()]).unwrap();
        assert_eq!((u.uid, u.additional_gids.clone(), home.as_str()), (0, vec![50], "/root"));
        assert!(resolve(dir.path(), "nobody", &[]).is_err());
    }

    #[test]
    fn symlinked_passwd_stays_inside() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        // Points at the host's passwd if followed naively; inside the root it does not exist.
        std::os::unix::fs::symlink("/../../../../etc/passwd", dir.path().join("etc/passwd")).unwrap();
        assert!(resolve(dir.path(), "root", &[]).is_err());
    }
}
